//! The push delivery engine: for every information system whose registry entry pushes
//! (`[systems.delivery]`, see [`opensmev_core::push::DeliverySettings`]), a dispatcher leases
//! its push-mode messages ([`opensmev_core::Bus::lease_for_push`]) and POSTs each to the IS's
//! endpoint, in the SMEV SOAP shape or the integration API's JSON shape, on up to `channels`
//! concurrent connections, at most `rate_per_s` starts a second, behind a circuit breaker.
//!
//! Guarantee: at least once on the wire, exactly once in the receiver's view when the receiver
//! drops a `MessageID` it has already taken (every push carries it in `X-OpenSMEV-Message-Id`
//! as well as in the message). A message is leased before it is sent and acknowledged (or
//! retried, or dead-lettered) only after the endpoint answered, in one store transaction, so a
//! node that dies mid-push loses nothing: the lease runs out and the message is pushed again;
//! a message acknowledged is never pushed again. Every attempt is a journal event (time, node,
//! endpoint, outcome, latency).
//!
//! Several nodes may run the engine on one store: leases keep them from pushing one message
//! twice at once; breakers, channels and rate limits are each node's own.

pub mod breaker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use opensmev_core::push::{DeliverySettings, PushFormat, PushResult, shown};
use opensmev_core::{Bus, HandOutError};
use opensmev_store::StoredMessage;
use opensmev_types::{MessageKind, Mnemonic};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::breaker::{Admission, Breaker, RateLimit};

/// The header that carries the pushed message's `MessageID`.
pub const MESSAGE_ID_HEADER: &str = "X-OpenSMEV-Message-Id";
/// The header that carries the attempt number (from 1).
pub const ATTEMPT_HEADER: &str = "X-OpenSMEV-Attempt";
/// The header that says `request` or `response`.
pub const KIND_HEADER: &str = "X-OpenSMEV-Message-Kind";

/// How often an idle dispatcher looks at its queues without a signal (retries whose back-off
/// ended, messages bound to a node) and the supervisor at the registry.
const TICK: Duration = Duration::from_millis(500);
/// At most this much of an endpoint's error answer is kept in the journal.
const ANSWER_CHARS: usize = 200;
/// At most this much of an endpoint's error answer is read.
const ANSWER_BYTES: usize = 4096;

/// One HTTP body to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Its `Content-Type`.
    pub content_type: String,
    /// Its bytes.
    pub body: Vec<u8>,
    /// The `SOAPAction` header, for SOAP.
    pub soap_action: Option<String>,
}

/// Makes the body that pushes a leased message (the same errors as a poll's hand-out: the
/// message's fault is [`HandOutError::Undeliverable`]).
pub type Encoder = Arc<
    dyn Fn(&Bus, &DeliverySettings, &StoredMessage) -> Result<Payload, HandOutError> + Send + Sync,
>;

/// The REST format: the integration API's delivery JSON (`application/json`), made by
/// `json` (the API crate's `push_json`).
pub fn rest_encoder(json: fn(&Bus, &StoredMessage) -> Result<Vec<u8>, HandOutError>) -> Encoder {
    Arc::new(
        move |bus: &Bus, _: &DeliverySettings, stored: &StoredMessage| {
            Ok(Payload {
                content_type: "application/json".to_owned(),
                body: json(bus, stored)?,
                soap_action: None,
            })
        },
    )
}

/// The encoders of the two push formats.
#[derive(Clone)]
pub struct Encoders {
    /// `format = "soap"`.
    pub soap: Encoder,
    /// `format = "rest"`.
    pub rest: Encoder,
}

impl std::fmt::Debug for Encoders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encoders")
    }
}

/// The SOAP format: the signed `GetRequestResponse` / `GetResponseResponse` of the settings'
/// `soap_version` that a poll would have returned, attachments inline as base64 (`text/xml`,
/// SOAP 1.1).
pub fn soap_encoder() -> Encoder {
    Arc::new(
        |bus: &Bus, settings: &DeliverySettings, stored: &StoredMessage| {
            let xml = bus.delivery_xml(stored, settings.schema_version())?;
            let attachments = &stored.message.attachments;
            if attachments.is_empty() {
                return Ok(Payload {
                    content_type: "text/xml; charset=utf-8".to_owned(),
                    body: xml.into_bytes(),
                    soap_action: Some(soap_action(stored.message.kind).to_owned()),
                });
            }
            let places: Vec<opensmev_wire::AnswerAttachment> = attachments
                .iter()
                .map(|a| opensmev_wire::AnswerAttachment {
                    id: a.content_id.clone(),
                    mime_type: a.mime_type.clone(),
                    len: a.data.len(),
                })
                .collect();
            let framed = opensmev_wire::frame_answer(&xml, &places, false).map_err(|e| {
                HandOutError::Undeliverable(format!("the message cannot be framed: {e}"))
            })?;
            let mut body = Vec::with_capacity(usize::try_from(framed.len).unwrap_or(0));
            for segment in &framed.segments {
                match segment {
                    opensmev_wire::Segment::Text(text) => body.extend_from_slice(text.as_bytes()),
                    opensmev_wire::Segment::Attachment { index, base64 } => {
                        let a = &attachments[*index];
                        let bytes = a.data.to_vec().map_err(|e| {
                            HandOutError::Failed(opensmev_core::BusError::Internal(format!(
                                "reading attachment {} of {}: {e}",
                                a.content_id, stored.message.id
                            )))
                        })?;
                        if *base64 {
                            body.extend_from_slice(
                                base64::engine::general_purpose::STANDARD
                                    .encode(&bytes)
                                    .as_bytes(),
                            );
                        } else {
                            body.extend_from_slice(&bytes);
                        }
                    }
                }
            }
            Ok(Payload {
                content_type: framed.content_type,
                body,
                soap_action: Some(soap_action(stored.message.kind).to_owned()),
            })
        },
    )
}

/// The `SOAPAction` of a pushed message: the operation a poll for it would have been.
fn soap_action(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Request => "urn:GetRequest",
        MessageKind::Response => "urn:GetResponse",
    }
}

/// The engine of one node.
#[derive(Debug)]
pub struct Engine {
    bus: Arc<Bus>,
    encoders: Encoders,
    client: reqwest::Client,
}

impl Engine {
    /// An engine pushing with `encoders`.
    pub fn new(bus: Arc<Bus>, encoders: Encoders) -> Result<Engine, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("OpenSMEV/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the push HTTP client cannot be made: {e}"))?;
        Ok(Engine {
            bus,
            encoders,
            client,
        })
    }

    /// Runs until aborted: keeps one dispatcher per pushing system, restarting it when its
    /// settings change and stopping it when the system stops pushing. Aborting stops the
    /// dispatchers; their attempts in flight end with the task, and their leases run out.
    pub async fn run(self) {
        let engine = Arc::new(self);
        let mut running: HashMap<Mnemonic, (Arc<DeliverySettings>, Dispatcher)> = HashMap::new();
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let targets: HashMap<Mnemonic, Arc<DeliverySettings>> =
                engine.bus.push_targets().into_iter().collect();
            running.retain(|system, (settings, dispatcher)| {
                if dispatcher.0.is_finished() {
                    tracing::error!(%system, "push delivery stopped unexpectedly; it starts again");
                    return false;
                }
                let keep = targets.get(system).is_some_and(|now| now == settings);
                if !keep {
                    tracing::info!(%system, "push delivery stops (settings changed or removed)");
                }
                keep
            });
            for (system, settings) in targets {
                if running.contains_key(&system) {
                    continue;
                }
                tracing::info!(%system, endpoint = %shown(settings.endpoint.as_deref().unwrap_or("")),
                    channels = settings.channels, "push delivery starts");
                let task = tokio::spawn(
                    Arc::clone(&engine).dispatch(system.clone(), Arc::clone(&settings)),
                );
                running.insert(system, (settings, Dispatcher(task)));
            }
        }
    }

    /// One system's dispatcher: leases and starts attempts while channels are free.
    async fn dispatch(self: Arc<Self>, system: Mnemonic, settings: Arc<DeliverySettings>) {
        let channels = Arc::new(Semaphore::new(settings.channels as usize));
        let breaker = Arc::new(Mutex::new(Breaker::new(
            settings.breaker_failures,
            Duration::from_millis(settings.breaker_open_ms),
        )));
        let mut rate = settings.rate_per_s.map(RateLimit::new);
        let signals = [
            self.bus.queue_signal(&system, MessageKind::Request),
            self.bus.queue_signal(&system, MessageKind::Response),
        ];
        let lease = settings.lease();
        let mut turn = 0usize;
        // The attempts in flight: aborted with the dispatcher (their leases run out).
        let mut attempts = JoinSet::new();
        loop {
            while let Some(done) = attempts.try_join_next() {
                if let Err(e) = done
                    && e.is_panic()
                {
                    tracing::error!(%system, "a push attempt panicked; its lease runs out");
                }
            }
            let Ok(permit) = Arc::clone(&channels).acquire_owned().await else {
                return;
            };
            let admission = lock(&breaker).admit(Instant::now());
            if let Admission::Wait(wait) = admission {
                drop(permit);
                tokio::time::sleep(wait.min(TICK * 4)).await;
                continue;
            }
            // Registered before looking, so a message queued in between is not missed.
            let mut woken = Vec::with_capacity(2);
            for signal in &signals {
                let mut notified = Box::pin(signal.notified());
                notified.as_mut().enable();
                woken.push(notified);
            }
            // Requests and responses take turns in going first.
            turn += 1;
            let order = if turn.is_multiple_of(2) {
                [MessageKind::Request, MessageKind::Response]
            } else {
                [MessageKind::Response, MessageKind::Request]
            };
            let mut found = None;
            for kind in order {
                match self.bus.lease_for_push(&system, kind, lease).await {
                    Ok(Some(stored)) => {
                        found = Some(stored);
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(%system, error = %e, "push delivery cannot lease");
                    }
                }
            }
            let Some(stored) = found else {
                if admission == Admission::Trial {
                    // The trial slot was not used: the next attempt is the trial.
                    lock(&breaker).cancel_trial();
                }
                drop(permit);
                let [a, b] = <[_; 2]>::try_from(woken).unwrap_or_else(|_| unreachable!("two"));
                tokio::select! {
                    () = a => {}
                    () = b => {}
                    () = tokio::time::sleep(TICK) => {}
                }
                continue;
            };
            if let Some(rate) = &mut rate {
                let wait = rate.take(Instant::now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            let engine = Arc::clone(&self);
            let settings = Arc::clone(&settings);
            let breaker = Arc::clone(&breaker);
            attempts.spawn(async move {
                // A trial that ends without the endpoint's answer (nothing sent, or the task
                // ends early) leaves the breaker half-open for the next attempt.
                let mut trial = TrialGuard {
                    breaker: (admission == Admission::Trial).then_some(&*breaker),
                };
                let success = engine.attempt(&stored, &settings).await;
                if let Some(success) = success {
                    trial.breaker = None;
                    if lock(&breaker).record(success, Instant::now()) {
                        tracing::warn!(system = %stored.message.recipient,
                            endpoint = %shown(settings.endpoint.as_deref().unwrap_or("")),
                            pause_ms = settings.breaker_open_ms,
                            "the endpoint keeps failing: its circuit breaker opens");
                    }
                }
                drop(trial);
                drop(permit);
            });
        }
    }

    /// One push attempt of a leased message, settled in the store. `Some(success)` for the
    /// breaker; `None` when the endpoint was not called.
    async fn attempt(&self, stored: &StoredMessage, settings: &DeliverySettings) -> Option<bool> {
        let m = &stored.message;
        let endpoint = settings.endpoint.as_deref().unwrap_or_default();
        let target = shown(endpoint);
        // Handed out too often or for too long without an outcome (leases that ran out after a
        // crash, pushes taken but never acknowledged): no more attempts.
        if let Some(limit) = settings.exhausted(
            stored.delivery_count,
            stored.first_delivered_at,
            self.bus.now(),
        ) {
            let detail = format!("not pushed to {target}: {limit}");
            self.settle(stored, settings, PushResult::Failed(limit), detail)
                .await;
            return None;
        }
        let encoder = match settings.format {
            PushFormat::Soap => &self.encoders.soap,
            PushFormat::Rest => &self.encoders.rest,
        };
        let payload = match encoder(&self.bus, settings, stored) {
            Ok(payload) => payload,
            Err(HandOutError::Undeliverable(reason)) => {
                if let Err(e) = self.bus.settle_undeliverable(stored, &reason).await {
                    tracing::error!(message_id = %m.id, error = %e, "settling an undeliverable push");
                }
                return None;
            }
            Err(HandOutError::Failed(e)) => {
                let failure = format!("the bus could not make the message: {e}");
                self.settle(
                    stored,
                    settings,
                    PushResult::Failed(failure.clone()),
                    failure,
                )
                .await;
                return None;
            }
        };
        let started = Instant::now();
        let mut request = self
            .client
            .post(endpoint)
            .timeout(Duration::from_millis(settings.timeout_ms))
            .header(reqwest::header::CONTENT_TYPE, payload.content_type)
            .header(MESSAGE_ID_HEADER, m.id.as_str())
            .header(ATTEMPT_HEADER, stored.delivery_count.to_string())
            .header(KIND_HEADER, m.kind.as_str().to_ascii_lowercase());
        if let Some(action) = payload.soap_action {
            request = request.header("SOAPAction", format!("\"{action}\""));
        }
        let result = match request.body(payload.body).send().await {
            Ok(answer) if answer.status().is_success() => Ok(answer.status()),
            Ok(mut answer) => {
                let status = answer.status();
                // The start of the answer only, however much the endpoint sends.
                let mut body = Vec::new();
                while body.len() < ANSWER_BYTES {
                    match answer.chunk().await {
                        Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                        Ok(None) | Err(_) => break,
                    }
                }
                body.truncate(ANSWER_BYTES);
                let text = String::from_utf8_lossy(&body);
                let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let text: String = text.chars().take(ANSWER_CHARS).collect();
                Err(if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {text}")
                })
            }
            Err(e) if e.is_timeout() => Err(format!("no answer within {} ms", settings.timeout_ms)),
            Err(e) if e.is_connect() => Err(format!("cannot connect: {}", root_cause(&e))),
            Err(e) => Err(root_cause(&e)),
        };
        let ms = started.elapsed().as_millis();
        let (outcome, detail) = match result {
            Ok(status) => (
                PushResult::Taken,
                format!("POST {target} → HTTP {status} in {ms} ms"),
            ),
            Err(failure) => {
                let detail = format!("POST {target} → {failure} after {ms} ms");
                (PushResult::Failed(failure), detail)
            }
        };
        let success = outcome == PushResult::Taken;
        tracing::debug!(message_id = %m.id, attempt = stored.delivery_count, %detail, "push attempt");
        self.settle(stored, settings, outcome, detail).await;
        Some(success)
    }

    async fn settle(
        &self,
        stored: &StoredMessage,
        settings: &DeliverySettings,
        outcome: PushResult,
        detail: String,
    ) {
        let jitter = jitter();
        match self
            .bus
            .settle_push(stored, settings, outcome, detail, jitter)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::info!(message_id = %stored.message.id,
                "a push attempt ended after its lease: another attempt or an ack came first"),
            Err(e) => tracing::error!(message_id = %stored.message.id, error = %e,
                "a push attempt cannot be recorded; its lease will run out and it comes again"),
        }
    }
}

/// Gives a half-open breaker's trial back when dropped while still armed.
struct TrialGuard<'a> {
    breaker: Option<&'a Mutex<Breaker>>,
}

impl Drop for TrialGuard<'_> {
    fn drop(&mut self) {
        if let Some(breaker) = self.breaker {
            lock(breaker).cancel_trial();
        }
    }
}

/// A running dispatcher; dropping it stops it.
#[derive(Debug)]
struct Dispatcher(JoinHandle<()>);

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A uniform number in [0, 1) for the back-off's jitter (randomly keyed SipHash of a counter:
/// no generator crate needed for this).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The innermost cause of an HTTP client error (what actually went wrong).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
