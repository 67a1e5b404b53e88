//! The run: clients, the consumers' senders and response pollers, the providers, the open- and
//! closed-loop schedules, the drain at the end, and the resource samples around it.
//!
//! Round trips in flight live in one map keyed by request id (`Pending`). A consumer inserts its
//! request before posting it (a fast provider may see it before the `SendRequest` answer
//! arrives); the provider looks the id up to know what content to expect; the consumer's poller
//! removes it when the response is acknowledged. A step that fails removes it too and counts the
//! round trip as failed, so every started round trip ends exactly once: completed, failed, or
//! (still in the map after the grace period) timed out.
//!
//! The clients are SOAP or the integration API (`Client`): the engine makes the same six calls
//! through either, and each checks its own answers (`envelope` for SOAP, `rest` for REST).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use opensmev_client::{Answer, SmevClient, new_message_id};
use opensmev_types::SchemaVersion;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::envelope::{self, Delivered, Failure, Signed};
use crate::report::{self, Report, RunFacts};
use crate::rest::{self, Inbox, RestClient};
use crate::spawn::SpawnedServer;
use crate::stats::{Operation, Recorder};
use crate::sysinfo;
use crate::workload::Scenario;
use crate::{Api, LoadConfig, LoadError, Stop, Target};

/// A round trip in flight.
#[derive(Debug)]
struct Pending {
    consumer: usize,
    seq: u64,
    /// The scheduled start (open loop) or the actual start (closed loop).
    intended: Instant,
    /// The response id the provider chose, once it did.
    response_id: Option<String>,
    /// The consumer's window slot, freed when the round trip ends.
    _permit: OwnedSemaphorePermit,
}

#[derive(Debug)]
struct Consumer {
    client: Client,
    node_id: String,
}

/// An information system's client: SOAP (signed by the client, or unsigned test systems) or the
/// integration API (`--rest`: the bus signs with the keys it holds). The engine drives both
/// through the same four calls; each checks its answers its own way (see `envelope`, `rest`).
#[derive(Debug)]
pub(crate) enum Client {
    /// SMEV 3 SOAP.
    Soap(SmevClient),
    /// REST `/api/v1` with a token of role `is`.
    Rest(RestClient),
}

impl Client {
    /// The consumer's request `id` from `node_id`, accepted and checked: when it was posted
    /// (after it was built and signed) and the call's latency.
    async fn send_request(
        &self,
        id: &str,
        node_id: &str,
        business: &str,
        attachment: Option<&(String, Vec<u8>)>,
    ) -> Result<(Instant, Duration), Failure> {
        let client = match self {
            Client::Soap(client) => client,
            Client::Rest(rest) => {
                return rest.send_request(id, node_id, business, attachment).await;
            }
        };
        let xml = envelope::send_request_xml(client, id, node_id, business, attachment);
        let posted = Instant::now();
        call(
            client,
            "SendRequest",
            xml,
            "SendRequestResponse",
            Signed::Always,
        )
        .await
        .and_then(|(answer, latency)| match envelope::accepted_id(&answer) {
            Some(got) if got == id => Ok((posted, latency)),
            got => Err(Failure::new(
                "mismatch",
                format!("SendRequestResponse names message {got:?}, the request was {id}"),
            )),
        })
    }

    /// The provider's answer `response_id` to the delivered `request`.
    async fn send_response(
        &self,
        response_id: &str,
        request: &Delivered,
        business: &str,
        attachment: Option<&(String, Vec<u8>)>,
    ) -> Result<Duration, Failure> {
        let client = match self {
            Client::Soap(client) => client,
            Client::Rest(rest) => {
                return rest
                    .send_response(response_id, &request.message_id, business, attachment)
                    .await;
            }
        };
        let to = request.reply_to.as_deref().unwrap_or_default();
        let xml = envelope::send_response_xml(client, response_id, to, business, attachment);
        call(
            client,
            "SendResponse",
            xml,
            "SendResponseResponse",
            Signed::Always,
        )
        .await
        .and_then(|(answer, latency)| match envelope::accepted_id(&answer) {
            Some(got) if got == response_id => Ok(latency),
            got => Err(Failure::new(
                "mismatch",
                format!(
                    "SendResponseResponse names message {got:?}, the response was {response_id}"
                ),
            )),
        })
    }

    /// One receive (`GetRequest`/`GetResponse`, or the API's inbox) with its checks: the
    /// delivered message, if any, and the call's latency. `at_once`: the API's receive does not
    /// long-poll (SOAP polls wait as the server is configured).
    async fn poll(
        &self,
        poll: Poll<'_>,
        at_once: bool,
    ) -> Result<(Option<Delivered>, Duration), Failure> {
        let (action, ns, root, node, wrapper, inbox) = match poll {
            Poll::Request { ns, root } => (
                "GetRequest",
                ns,
                root,
                None,
                "RequestMessage",
                Inbox::Requests,
            ),
            Poll::Response { ns, root, node } => (
                "GetResponse",
                ns,
                root,
                Some(node),
                "ResponseMessage",
                Inbox::Responses,
            ),
        };
        match self {
            Client::Rest(rest) => {
                rest.receive(inbox, &format!("{{{ns}}}{root}"), node, at_once)
                    .await
            }
            Client::Soap(client) => {
                let xml = envelope::poll_xml(client, action, ns, root, node);
                let expected = format!("{action}Response");
                call(client, action, xml, &expected, Signed::IfMessage(wrapper))
                    .await
                    .and_then(|(answer, latency)| {
                        Ok((envelope::delivered(&answer, wrapper)?, latency))
                    })
            }
        }
    }

    /// Acknowledges the delivered message `id`.
    async fn ack(&self, id: &str) -> Result<Duration, Failure> {
        match self {
            Client::Rest(rest) => rest.ack(id).await,
            Client::Soap(client) => call(
                client,
                "Ack",
                envelope::ack_xml(client, id),
                "AckResponse",
                Signed::Never,
            )
            .await
            .map(|(_, latency)| latency),
        }
    }

    /// What a delivered request must carry for this transport to answer it: SOAP answers to the
    /// request's `ReplyTo`; the API answers by the request's id.
    fn unanswerable(&self, request: &Delivered) -> Option<String> {
        match self {
            Client::Soap(_) if request.reply_to.as_deref().unwrap_or("").is_empty() => {
                Some(format!("request {}: no ReplyTo", request.message_id))
            }
            _ => None,
        }
    }
}

/// State shared by all tasks of a run.
#[derive(Debug)]
struct Shared {
    scenario: Scenario,
    rec: Recorder,
    pending: Mutex<HashMap<String, Pending>>,
    /// Round trips in flight per consumer.
    outstanding: Vec<AtomicUsize>,
    /// Wakes a consumer's poller when it has something to wait for.
    wake: Vec<Notify>,
    consumers: Vec<Consumer>,
    providers: Vec<Client>,
    /// Idle pollers (`--idle-pollers`, SOAP).
    idle: Vec<Client>,
    /// Round trips started.
    started: AtomicU64,
    stop: Stop,
    /// Pollers stop.
    halt: AtomicBool,
    max_backoff: Duration,
    /// Round trips start on a schedule (`--rate`).
    open_loop: bool,
}

/// Sleeps between polls: 1 ms after an empty poll, doubling up to the maximum (the bus run's
/// pollers, and the PostgreSQL baseline's takers, which poll as they do).
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(max: Duration) -> Backoff {
        Backoff {
            next: Duration::from_millis(1),
            max,
        }
    }

    /// The next sleep, and the one after it doubled (up to the maximum).
    pub(crate) fn step(&mut self) -> Duration {
        let now = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max.max(Duration::from_millis(1)));
        now
    }

    /// Sleeps [`Backoff::step`].
    async fn wait(&mut self) {
        tokio::time::sleep(self.step()).await;
    }

    /// Back to 1 ms (after a message).
    pub(crate) fn reset(&mut self) {
        self.next = Duration::from_millis(1);
    }
}

/// After a failed call, pollers and closed-loop senders pause this long (a dead server must not
/// be hammered in a tight loop).
const AFTER_ERROR: Duration = Duration::from_millis(50);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, id: &str) -> Option<Pending> {
        let p = self.lock().remove(id)?;
        self.outstanding[p.consumer].fetch_sub(1, Ordering::SeqCst);
        Some(p)
    }

    /// Ends a round trip as failed (if it is still in flight).
    fn fail(&self, id: &str, failure: Failure) {
        if self.take(id).is_some() {
            self.rec.error(Operation::RoundTrip, failure);
        }
    }

    fn in_flight(&self) -> usize {
        self.lock().len()
    }

    /// The next round-trip number, or `None` when the stop condition is reached.
    fn claim(&self) -> Option<u64> {
        if let Stop::Duration(d) = self.stop
            && self.rec.t0().elapsed() >= d
        {
            return None;
        }
        let seq = self.started.fetch_add(1, Ordering::SeqCst);
        if let Stop::RoundTrips(n) = self.stop
            && seq >= n
        {
            self.started.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(seq)
    }

    fn halted(&self) -> bool {
        self.halt.load(Ordering::SeqCst)
    }
}

/// Posts and checks one call; `Ok` holds the answer and the call's latency.
async fn call(
    client: &SmevClient,
    action: &str,
    xml: String,
    expected: &str,
    signed: Signed,
) -> Result<(Answer, Duration), Failure> {
    let start = Instant::now();
    let answer = client
        .try_post(action, xml)
        .await
        .map_err(|e| Failure::new("http", envelope::clip(&format!("{e:?}"), 400)))?;
    let latency = start.elapsed();
    envelope::check(client, &answer, expected, signed)?;
    Ok((answer, latency))
}

/// One round trip's start: the consumer's `SendRequest`.
async fn send_one(
    shared: Arc<Shared>,
    c: usize,
    intended: Instant,
    seq: u64,
    permit: OwnedSemaphorePermit,
) -> bool {
    let consumer = &shared.consumers[c];
    let id = new_message_id();
    let (business, _) = shared.scenario.request(&id, seq);
    let attachment = shared.scenario.attachment(&id);
    shared.lock().insert(
        id.clone(),
        Pending {
            consumer: c,
            seq,
            intended,
            response_id: None,
            _permit: permit,
        },
    );
    shared.outstanding[c].fetch_add(1, Ordering::SeqCst);
    let result = consumer
        .client
        .send_request(&id, &consumer.node_id, &business, attachment.as_ref())
        .await;
    match result {
        Ok((posted, latency)) => {
            // Open loop: counted from the scheduled start (a late start is the server's delay).
            let late = posted.saturating_duration_since(intended);
            let latency = if shared.open_loop {
                latency + late
            } else {
                latency
            };
            shared.rec.ok(Operation::SendRequest, latency);
            shared.wake[c].notify_one();
            true
        }
        Err(failure) => {
            shared.rec.error(Operation::SendRequest, failure);
            shared.fail(
                &id,
                Failure::new("step-failed", format!("SendRequest of {id} failed")),
            );
            false
        }
    }
}

/// Closed loop: the next round trip starts when the previous request is accepted and the
/// consumer has a free window slot.
async fn closed_sender(shared: Arc<Shared>, c: usize, window: usize) {
    let slots = Arc::new(Semaphore::new(window));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(seq) = shared.claim() else {
            return;
        };
        if !send_one(shared.clone(), c, Instant::now(), seq, permit).await {
            tokio::time::sleep(AFTER_ERROR).await;
        }
    }
}

/// Open loop: round trips start on a fixed schedule, spread over the consumers in turn.
async fn open_dispatcher(shared: Arc<Shared>, rate: f64, max_in_flight: usize) {
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let t0 = shared.rec.t0();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0u64.. {
        let intended = t0 + Duration::from_secs_f64(k as f64 / rate);
        match shared.stop {
            Stop::Duration(d) if intended >= t0 + d => break,
            Stop::RoundTrips(n) if k >= n => break,
            _ => {}
        }
        tokio::time::sleep_until(intended.into()).await;
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        shared.started.fetch_add(1, Ordering::SeqCst);
        let c = (k % shared.consumers.len() as u64) as usize;
        tasks.spawn(send_one(shared.clone(), c, intended, k, permit));
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

fn same_attachments(got: &[(String, Vec<u8>)], expected: Option<(String, Vec<u8>)>) -> bool {
    got == expected.as_slice()
}

/// What a poller asks for: the next request, or the next response on a node; the business
/// root of the `MessageTypeSelector`.
#[derive(Debug, Clone, Copy)]
enum Poll<'a> {
    Request {
        ns: &'a str,
        root: &'a str,
    },
    Response {
        ns: &'a str,
        root: &'a str,
        node: &'a str,
    },
}

/// One `GetRequest`/`GetResponse` with its checks, recorded under `op`: a failed call is
/// recorded and followed by a pause, an empty answer recorded and followed by the backoff's
/// sleep; a delivered message (with the call's latency) is returned for the caller to record.
async fn poll_once(
    shared: &Shared,
    client: &Client,
    poll: Poll<'_>,
    op: Operation,
    backoff: &mut Backoff,
) -> Option<(Delivered, Duration)> {
    let got = client.poll(poll, false).await;
    match got {
        Err(failure) => {
            shared.rec.error(op, failure);
            tokio::time::sleep(AFTER_ERROR).await;
            None
        }
        Ok((None, latency)) => {
            shared.rec.empty(op, latency);
            backoff.wait().await;
            None
        }
        Ok((Some(message), latency)) => {
            backoff.reset();
            Some((message, latency))
        }
    }
}

/// A provider: polls `GetRequest`, checks, acknowledges and answers.
async fn provider(shared: Arc<Shared>, p: usize) {
    let client = &shared.providers[p];
    let s = &shared.scenario;
    let mut backoff = Backoff::new(shared.max_backoff);
    while !shared.halted() {
        let poll = Poll::Request {
            ns: s.ns,
            root: s.request_root,
        };
        if let Some((message, latency)) =
            poll_once(&shared, client, poll, Operation::GetRequest, &mut backoff).await
        {
            handle_request(&shared, client, message, latency).await;
        }
    }
}

async fn ack(shared: &Shared, client: &Client, op: Operation, id: &str) -> bool {
    match client.ack(id).await {
        Ok(latency) => {
            shared.rec.ok(op, latency);
            true
        }
        Err(failure) => {
            shared.rec.error(op, failure);
            false
        }
    }
}

async fn handle_request(shared: &Shared, client: &Client, message: Delivered, latency: Duration) {
    let id = message.message_id.clone();
    let seq = shared.lock().get(&id).map(|p| p.seq);
    let Some(seq) = seq else {
        shared.rec.error(
            Operation::GetRequest,
            Failure::new(
                "foreign",
                format!("GetRequest delivered {id}, which no consumer of this run has in flight"),
            ),
        );
        ack(shared, client, Operation::AckRequest, &id).await;
        return;
    };
    let (_, expected) = shared.scenario.request(&id, seq);
    let problem = if message.content != expected {
        Some(format!(
            "request {id}: business content differs from what was sent ({{{}}}{}, {} characters of text)",
            message.content.ns,
            message.content.local,
            message.content.text.len()
        ))
    } else if !same_attachments(&message.attachments, shared.scenario.attachment(&id)) {
        Some(format!(
            "request {id}: attachments differ from what was sent"
        ))
    } else {
        client.unanswerable(&message)
    };
    if let Some(text) = problem {
        shared
            .rec
            .error(Operation::GetRequest, Failure::new("mismatch", text));
        ack(shared, client, Operation::AckRequest, &id).await;
        shared.fail(
            &id,
            Failure::new("step-failed", format!("GetRequest of {id} failed")),
        );
        return;
    }
    shared.rec.ok(Operation::GetRequest, latency);
    if !ack(shared, client, Operation::AckRequest, &id).await {
        shared.fail(
            &id,
            Failure::new("step-failed", format!("Ack of request {id} failed")),
        );
        return;
    }
    let response_id = new_message_id();
    match shared.lock().get_mut(&id) {
        Some(p) => p.response_id = Some(response_id.clone()),
        None => return, // ended meanwhile (timed out)
    }
    let (business, _) = shared.scenario.response(&id);
    let attachment = shared.scenario.attachment(&response_id);
    let result = client
        .send_response(&response_id, &message, &business, attachment.as_ref())
        .await;
    match result {
        Ok(latency) => shared.rec.ok(Operation::SendResponse, latency),
        Err(failure) => {
            shared.rec.error(Operation::SendResponse, failure);
            shared.fail(
                &id,
                Failure::new("step-failed", format!("SendResponse to {id} failed")),
            );
        }
    }
}

/// An idle poller: `GetResponse` of the unsigned test consumer on node `opensmev-idle-<i>`, which
/// nothing is ever addressed to, until the run ends. A message, a fault or a failed check is an
/// error.
async fn idle_poller(shared: Arc<Shared>, i: usize) {
    let client = &shared.idle[i];
    let node = format!("opensmev-idle-{i}");
    let mut backoff = Backoff::new(shared.max_backoff);
    while !shared.halted() {
        let poll = Poll::Response {
            ns: crate::workload::BENCH_UNSIGNED_NS,
            root: "LoadResponse",
            node: &node,
        };
        if let Some((message, _)) =
            poll_once(&shared, client, poll, Operation::IdlePoll, &mut backoff).await
        {
            shared.rec.error(
                Operation::IdlePoll,
                Failure::new(
                    "unexpected",
                    format!(
                        "node {node} got message {} though nothing was sent to it",
                        message.message_id
                    ),
                ),
            );
        }
    }
}

/// A consumer's response poller (on its own node).
async fn consumer_poller(shared: Arc<Shared>, c: usize) {
    let consumer = &shared.consumers[c];
    let s = &shared.scenario;
    let mut backoff = Backoff::new(shared.max_backoff);
    while !shared.halted() {
        if shared.outstanding[c].load(Ordering::SeqCst) == 0 {
            tokio::select! {
                () = shared.wake[c].notified() => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            continue;
        }
        let poll = Poll::Response {
            ns: s.ns,
            root: s.response_root,
            node: &consumer.node_id,
        };
        let polled = poll_once(
            &shared,
            &consumer.client,
            poll,
            Operation::GetResponse,
            &mut backoff,
        )
        .await;
        if let Some((message, latency)) = polled {
            handle_response(&shared, c, message, latency).await;
        }
    }
}

async fn handle_response(shared: &Shared, c: usize, message: Delivered, latency: Duration) {
    let client = &shared.consumers[c].client;
    let original = message.original_message_id.clone().unwrap_or_default();
    let known = shared
        .lock()
        .get(&original)
        .map(|p| (p.consumer, p.response_id.clone()));
    let problem = match &known {
        None => Some(Failure::new(
            "foreign",
            format!(
                "GetResponse delivered {} answering {original:?}, which no consumer of this run has in flight",
                message.message_id
            ),
        )),
        Some((owner, _)) if *owner != c => Some(Failure::new(
            "mismatch",
            format!(
                "the response to {original} (sent from node {owner}) was delivered to node {c}"
            ),
        )),
        Some((_, None)) => Some(Failure::new(
            "mismatch",
            format!(
                "a response {} to {original} was delivered before any provider of this run answered it",
                message.message_id
            ),
        )),
        Some((_, Some(rid))) if *rid != message.message_id => Some(Failure::new(
            "mismatch",
            format!(
                "the response to {original} has MessageID {}, the provider sent {rid}",
                message.message_id
            ),
        )),
        Some(_) if message.content != shared.scenario.response(&original).1 => Some(Failure::new(
            "mismatch",
            format!("the response to {original}: business content differs from what was sent"),
        )),
        Some(_)
            if !same_attachments(
                &message.attachments,
                shared.scenario.attachment(&message.message_id),
            ) =>
        {
            Some(Failure::new(
                "mismatch",
                format!("the response to {original}: attachments differ"),
            ))
        }
        Some(_) => None,
    };
    if let Some(failure) = problem {
        shared.rec.error(Operation::GetResponse, failure);
        ack(shared, client, Operation::AckResponse, &message.message_id).await;
        if known.is_some() {
            shared.fail(
                &original,
                Failure::new("step-failed", format!("GetResponse for {original} failed")),
            );
        }
        return;
    }
    shared.rec.ok(Operation::GetResponse, latency);
    if ack(shared, client, Operation::AckResponse, &message.message_id).await {
        if let Some(p) = shared.take(&original) {
            shared.rec.ok(Operation::RoundTrip, p.intended.elapsed());
        }
    } else {
        shared.fail(
            &original,
            Failure::new(
                "step-failed",
                format!("Ack of the response to {original} failed"),
            ),
        );
    }
}

/// Prints a progress line every second until `done`.
async fn progress(shared: Arc<Shared>, done: Arc<AtomicBool>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last = 0u64;
    while !done.load(Ordering::SeqCst) {
        ticker.tick().await;
        let completed = shared.rec.completed.load(Ordering::Relaxed);
        let t = shared.rec.t0().elapsed().as_secs_f64();
        eprintln!(
            "[{t:>6.1}s] round trips {completed} ({} /s now, {:.0} /s avg) | started {} | in flight {} | errors {}",
            completed - last,
            completed as f64 / t.max(1e-9),
            shared.started.load(Ordering::Relaxed),
            shared.in_flight(),
            shared.rec.errors.load(Ordering::Relaxed),
        );
        last = completed;
    }
}

/// A checking client of a demo IS with its own HTTP client (`timeout` per call).
pub(crate) fn make_client(
    base: &str,
    demo_dir: &Path,
    mnemonic: &str,
    version: SchemaVersion,
    unsigned: bool,
    timeout: Duration,
) -> Result<SmevClient, LoadError> {
    // The unsigned test systems have no keys; the client still needs a demo IS to be built from.
    let key_owner = if unsigned { "MFC01" } else { mnemonic };
    for file in [
        demo_dir.join("SMEV/cert.pem"),
        demo_dir.join(key_owner).join("key.pem"),
        demo_dir.join(key_owner).join("cert.pem"),
    ] {
        if !file.is_file() {
            return Err(LoadError::Setup(format!(
                "{} is missing: --demo-dir must be <data_dir>/demo of a server started with --demo",
                file.display()
            )));
        }
    }
    let mut client = SmevClient::for_demo(base, demo_dir, key_owner, version);
    client.http = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| LoadError::Setup(format!("HTTP client: {e}")))?;
    if unsigned {
        client.signer = None;
        client.mnemonic_header = Some(mnemonic.to_owned());
    }
    Ok(client)
}

/// Takes old messages of the run's types out of the queues (a server used before, or a run cut
/// short, may have left some), so that they cannot be mistaken for this run's: the provider's
/// requests, and the responses waiting for each consumer node or for no node in particular.
/// Each queue is polled until it is empty or a call fails (the failure is recorded).
async fn drain(shared: &Shared) -> u64 {
    let s = &shared.scenario;
    let mut queues = vec![(
        &shared.providers[0],
        Poll::Request {
            ns: s.ns,
            root: s.request_root,
        },
        Operation::GetRequest,
        Operation::AckRequest,
    )];
    for consumer in &shared.consumers {
        queues.push((
            &consumer.client,
            Poll::Response {
                ns: s.ns,
                root: s.response_root,
                node: &consumer.node_id,
            },
            Operation::GetResponse,
            Operation::AckResponse,
        ));
    }
    let mut drained = 0u64;
    for (client, poll, op, ack_op) in queues {
        loop {
            match client.poll(poll, true).await {
                Ok((Some(message), _)) => {
                    drained += 1;
                    if !ack(shared, client, ack_op, &message.message_id).await {
                        break;
                    }
                }
                Ok((None, _)) => break,
                Err(failure) => {
                    shared.rec.error(op, failure);
                    break;
                }
            }
        }
    }
    drained
}

/// Runs the load and returns the report.
pub async fn run(config: crate::LoadConfig) -> Result<Report, LoadError> {
    config.check()?;
    let started_at = time::OffsetDateTime::now_utc();
    let (server, base, demo_dir, pid) = match &config.target {
        Target::Spawn {
            data_dir,
            server_threads,
        } => {
            let server =
                SpawnedServer::start(data_dir.clone(), *server_threads, config.server_poll_wait)
                    .await?;
            let (base, demo) = (server.base.clone(), server.demo_dir.clone());
            (Some(server), base, demo, None)
        }
        Target::Url {
            base,
            demo_dir,
            server_pid,
        } => (None, base.clone(), demo_dir.clone(), *server_pid),
    };
    // `--rest`: the tokens of the consumer and provider systems (the spawned server's demo
    // tokens, or the ones given for a running server).
    let tokens = match (&config.api, &server) {
        (Api::Soap, _) => Ok(None),
        (Api::Rest, Some(server)) => {
            let scenario = Scenario::new(config.workload, config.unsigned, 0, 0);
            match (
                server.token_of(scenario.consumer),
                server.token_of(scenario.provider),
            ) {
                (Some(consumer), Some(provider)) => Ok(Some(crate::RestTokens {
                    consumer: consumer.to_owned(),
                    provider: provider.to_owned(),
                })),
                _ => Err(LoadError::Setup(format!(
                    "the spawned server has no demo API tokens for {} and {}",
                    scenario.consumer, scenario.provider
                ))),
            }
        }
        (Api::Rest, None) => Ok(config.rest_tokens.clone()),
    };
    let result = match tokens {
        Ok(tokens) => {
            load(
                &config,
                &base,
                &demo_dir,
                tokens.as_ref(),
                pid,
                server.is_some(),
                started_at,
            )
            .await
        }
        Err(e) => Err(e),
    };
    if let Some(server) = server {
        server.stop().await?;
    }
    result
}

/// Accepts `…/smev`, `…/smev/` and `…/smev/v1.2/ws`.
fn normalize_base(base: &str) -> String {
    let mut b = base.trim_end_matches('/');
    for v in SchemaVersion::ALL {
        if let Some(stripped) = b.strip_suffix(&format!("/v{}/ws", v.as_str())) {
            b = stripped;
        }
    }
    b.to_owned()
}

async fn load(
    config: &LoadConfig,
    base: &str,
    demo_dir: &Path,
    tokens: Option<&crate::RestTokens>,
    pid: Option<u32>,
    in_process: bool,
    started_at: time::OffsetDateTime,
) -> Result<Report, LoadError> {
    let scenario = Scenario::new(
        config.workload,
        config.unsigned,
        config.payload_bytes,
        config.attachment_bytes,
    );
    // Several servers (nodes of one store), comma-separated: client i talks to the i-th.
    let bases: Vec<String> = base.split(',').map(normalize_base).collect();
    let apis: Vec<String> = bases.iter().map(|b| rest::api_base(b)).collect();
    let api = apis.join(",");
    let wait_s = rest::wait_seconds(config.server_poll_wait);
    // Client number `n` of `mnemonic`, receiving from `peer`, with the token `token` over REST.
    let client = |n: usize,
                  mnemonic: &str,
                  peer: &str,
                  token: Option<&String>|
     -> Result<Client, LoadError> {
        let (base, api) = (&bases[n % bases.len()], &apis[n % apis.len()]);
        match (config.api, token) {
            (Api::Soap, _) => make_client(
                base,
                demo_dir,
                mnemonic,
                config.version,
                config.unsigned,
                config.http_timeout,
            )
            .map(Client::Soap),
            (Api::Rest, Some(token)) => {
                RestClient::new(api, token, peer, wait_s, config.http_timeout).map(Client::Rest)
            }
            (Api::Rest, None) => Err(LoadError::Setup(
                "--rest needs API tokens of role is for the consumer and the provider".into(),
            )),
        }
    };
    let mut consumers = Vec::new();
    for i in 0..config.consumers {
        consumers.push(Consumer {
            client: client(
                i,
                scenario.consumer,
                scenario.provider,
                tokens.map(|t| &t.consumer),
            )?,
            node_id: format!("opensmev-load-{i}"),
        });
    }
    let mut providers = Vec::new();
    for p in 0..config.providers {
        providers.push(client(
            p,
            scenario.provider,
            scenario.consumer,
            tokens.map(|t| &t.provider),
        )?);
    }
    let mut idle = Vec::new();
    for i in 0..config.idle_pollers {
        idle.push(Client::Soap(make_client(
            &bases[i % bases.len()],
            demo_dir,
            crate::workload::TEST_CONSUMER,
            config.version,
            true,
            config.http_timeout,
        )?));
    }
    let shared = Arc::new(Shared {
        scenario,
        rec: Recorder::new(Instant::now()),
        pending: Mutex::new(HashMap::new()),
        outstanding: (0..config.consumers).map(|_| AtomicUsize::new(0)).collect(),
        wake: (0..config.consumers).map(|_| Notify::new()).collect(),
        consumers,
        providers,
        idle,
        started: AtomicU64::new(0),
        stop: config.stop,
        halt: AtomicBool::new(false),
        max_backoff: config.max_backoff,
        open_loop: config.rate.is_some(),
    });
    shared.rec.set_recording(false);
    let drained = drain(&shared).await;
    shared.rec.set_recording(true);
    shared.rec.restart(Instant::now());
    let measured = in_process || pid.is_some();
    let before = measured.then(|| sysinfo::sample(pid)).flatten();
    let t0 = shared.rec.t0();
    let done = Arc::new(AtomicBool::new(false));
    let progress_task = config
        .progress
        .then(|| tokio::spawn(progress(shared.clone(), done.clone())));
    let mut pollers = tokio::task::JoinSet::new();
    for p in 0..config.providers {
        pollers.spawn(provider(shared.clone(), p));
    }
    for c in 0..config.consumers {
        pollers.spawn(consumer_poller(shared.clone(), c));
    }
    for i in 0..config.idle_pollers {
        pollers.spawn(idle_poller(shared.clone(), i));
    }
    let mut senders = tokio::task::JoinSet::new();
    match config.rate {
        Some(rate) => {
            senders.spawn(open_dispatcher(shared.clone(), rate, config.max_in_flight));
        }
        None => {
            for c in 0..config.consumers {
                senders.spawn(closed_sender(shared.clone(), c, config.window));
            }
        }
    }
    while senders.join_next().await.is_some() {}
    let sending_ended = Instant::now();
    while shared.in_flight() > 0 && sending_ended.elapsed() < config.grace {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let end = Instant::now();
    let after = measured.then(|| sysinfo::sample(pid)).flatten();
    // Pollers finish the call they are in (a round trip may still complete), then stop; what is
    // still in flight then has timed out.
    shared.halt.store(true, Ordering::SeqCst);
    for wake in &shared.wake {
        wake.notify_one();
    }
    while pollers.join_next().await.is_some() {}
    let left: Vec<String> = shared.lock().keys().cloned().collect();
    for id in left {
        shared.fail(
            &id,
            Failure::new(
                "timeout",
                format!(
                    "round trip {id} did not finish within {:?} after the last start",
                    config.grace
                ),
            ),
        );
    }
    done.store(true, Ordering::SeqCst);
    if let Some(task) = progress_task {
        task.abort();
    }
    let stats = shared.rec.finish();
    Ok(report::build(RunFacts {
        config,
        base: match config.api {
            Api::Soap => base,
            Api::Rest => &api,
        },
        started_at,
        elapsed: end - t0,
        started: shared.started.load(Ordering::SeqCst),
        drained,
        stats,
        before,
        after,
        in_process,
        pid,
        machine: sysinfo::machine(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_maximum() {
        let mut b = Backoff::new(Duration::from_millis(20));
        let steps: Vec<u128> = (0..7).map(|_| b.step().as_millis()).collect();
        assert_eq!(steps, [1, 2, 4, 8, 16, 20, 20]);
        b.reset();
        assert_eq!(b.step(), Duration::from_millis(1));
        let mut b = Backoff::new(Duration::ZERO);
        assert_eq!(b.step(), Duration::ZERO);
    }
}
