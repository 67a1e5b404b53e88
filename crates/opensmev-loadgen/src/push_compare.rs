//! `opensmev-load push-compare`: push delivery to a loopback receiver against polling, in one
//! process, back to back, the same messages, one fresh in-process server per mode.
//!
//! In every mode MFC01 sends `messages` requests of the signed bench kind to PFR01 through the
//! integration API (`POST /api/v1/requests`, `concurrency` sends in flight, the bus signing with
//! the key it holds), and PFR01 takes them **while they are being sent**:
//! * **poll**: `channels` pollers as PFR01, each `POST /api/v1/inbox/requests/next?wait=1`, then
//!   `POST /api/v1/messages/{id}/ack` of what it got;
//! * **push (REST)** and **push (SOAP)**: PFR01's delivery set to push
//!   (`PUT /api/v1/registry/systems/PFR01/delivery` with the demo admin token, `channels`
//!   concurrent pushes, `format` `rest` or `soap`) to an axum receiver in this process on a
//!   loopback port, which answers 200 at once.
//!
//! Fair by construction: in every mode the takers (the pollers, or the receiver and the bus's
//! dispatcher) are running and warmed up — one message sent, taken and acknowledged before — when
//! the first measured send starts; the sends are made by the same code with the same concurrency;
//! and the clock runs from the first send to the moment the last message is acknowledged in the
//! store: for polling the 204 of the last acknowledgement, for push the answer of the first look
//! at the store (`GET /api/v1/messages?recipient=PFR01&state=queued`, then `leased`, made once the
//! receiver has every message) that finds none left. Latency runs from a send's 201 to the
//! message's arrival (a poll's 200 read in full, or the receiver's handler with the body read).
//! The pollers and the receiver do the same little work with a message: read it, note its
//! `MessageID`. Afterwards the acknowledged messages are counted in the store (every one sent,
//! plus the warm-up), and every message must have arrived exactly once.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opensmev_client::new_message_id;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::baseline::{Latency, round3};
use crate::compare::{MachineLoad, QUIET_CORES, Window};
use crate::envelope::clip;
use crate::rest::{RestClient, api_base};
use crate::spawn::SpawnedServer;
use crate::stats::{histogram, micros};
use crate::sysinfo::{self, MachineInfo};
use crate::workload::{BENCH_SIGNED_KIND, Scenario, Workload};

/// Messages per mode by default.
pub const DEFAULT_MESSAGES: usize = 2000;
/// Sends in flight by default.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Push channels = pollers by default.
pub const DEFAULT_CHANNELS: usize = 4;

/// The sending system.
const CONSUMER: &str = "MFC01";
/// The receiving system.
const PROVIDER: &str = "PFR01";
/// The `NodeID` of the sends.
const NODE_ID: &str = "opensmev-load-push";
/// `?wait=` of every poll, seconds (the long-poll wait of `rest-compare`).
const POLL_WAIT_S: u64 = 1;
/// How often the store is looked at once the receiver has every message.
const STORE_LOOK_EVERY: Duration = Duration::from_millis(2);
/// At most this many errors are kept as samples per mode.
const ERROR_SAMPLES: usize = 5;
/// The header that names a pushed message (`opensmev_delivery::MESSAGE_ID_HEADER`).
const MESSAGE_ID_HEADER: &str = "x-opensmev-message-id";

/// A comparison.
#[derive(Debug, Clone)]
pub struct PushCompareConfig {
    /// Requests sent per mode (N).
    pub messages: usize,
    /// Sends in flight (C).
    pub concurrency: usize,
    /// Push channels, and pollers in the poll mode (K).
    pub channels: usize,
    /// Also the SOAP push format (a third mode).
    pub soap: bool,
    /// Padding of the business content, bytes.
    pub payload_bytes: usize,
    /// Worker threads of the in-process server.
    pub server_threads: usize,
    /// The longest one mode's sending and delivery may take.
    pub timeout: Duration,
    /// Timeout of each HTTP call.
    pub http_timeout: Duration,
    /// Progress lines on stderr.
    pub progress: bool,
    /// The command line, for the report.
    pub command_line: String,
}

impl PushCompareConfig {
    /// N = [`DEFAULT_MESSAGES`], C = [`DEFAULT_CONCURRENCY`], K = [`DEFAULT_CHANNELS`], the SOAP
    /// push included, no padding, as many server threads as CPUs, 300 s per mode at most.
    pub fn new() -> PushCompareConfig {
        PushCompareConfig {
            messages: DEFAULT_MESSAGES,
            concurrency: DEFAULT_CONCURRENCY,
            channels: DEFAULT_CHANNELS,
            soap: true,
            payload_bytes: 0,
            server_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            timeout: Duration::from_secs(300),
            http_timeout: Duration::from_secs(30),
            progress: false,
            command_line: String::new(),
        }
    }

    /// The modes to run, in order.
    pub fn modes(&self) -> Vec<Mode> {
        let mut modes = vec![Mode::Poll, Mode::PushRest];
        if self.soap {
            modes.push(Mode::PushSoap);
        }
        modes
    }

    fn check(&self) -> Result<(), String> {
        if self.messages == 0 {
            return Err("--messages must be at least 1".into());
        }
        if self.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        if !(1..=64).contains(&self.channels) {
            return Err("--channels must be 1–64 (the push setting's range)".into());
        }
        Ok(())
    }
}

impl Default for PushCompareConfig {
    fn default() -> Self {
        PushCompareConfig::new()
    }
}

/// How PFR01 takes its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pollers over the integration API.
    Poll,
    /// Push, `format = "rest"` (the API's delivery JSON).
    PushRest,
    /// Push, `format = "soap"` (the signed `GetRequestResponse` of schema 1.3).
    PushSoap,
}

impl Mode {
    /// The row's name.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Poll => "poll (REST API)",
            Mode::PushRest => "push (REST JSON)",
            Mode::PushSoap => "push (SOAP 1.3)",
        }
    }

    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            Mode::Poll => "poll",
            Mode::PushRest => "push_rest",
            Mode::PushSoap => "push_soap",
        }
    }

    /// The push `format`, `None` for polling.
    fn format(self) -> Option<&'static str> {
        match self {
            Mode::Poll => None,
            Mode::PushRest => Some("rest"),
            Mode::PushSoap => Some("soap"),
        }
    }
}

/// The figures of one mode.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeFigures {
    /// Messages sent (201) and so to be delivered.
    pub messages: u64,
    /// Seconds from the first send to the last message acknowledged in the store.
    pub elapsed_s: f64,
    /// Seconds from the first send to the last send's answer.
    pub sending_s: f64,
    /// Seconds from the first send to the last arrival.
    pub last_arrival_s: f64,
    /// Send's 201 → arrival.
    pub latency: Latency,
    /// Messages that arrived before their send's answer did (counted as 0 ms).
    pub before_answer: u64,
    /// Messages that arrived before the last send was answered: how much delivery overlapped
    /// sending.
    pub during_sending: u64,
    /// Per 100 ms from the first send: sends answered, messages arrived.
    pub timeline: Vec<(u64, u64)>,
    /// Errors: failed calls, messages that never arrived, a wrong count in the store.
    pub errors: u64,
    /// The first errors.
    pub error_samples: Vec<String>,
    /// Arrivals of a message that had arrived already.
    pub duplicates: u64,
    /// Polls that found nothing (poll mode).
    pub empty_polls: u64,
    /// Messages of PFR01 acknowledged in the store at the end (the warm-up's included).
    pub acked_in_store: u64,
    /// CPU seconds of the server's threads during the measurement.
    pub server_cpu_s: Option<f64>,
    /// CPU seconds of the whole process during the measurement.
    pub process_cpu_s: Option<f64>,
    /// The machine's CPU during the mode (setup included).
    pub load: Option<MachineLoad>,
}

impl ModeFigures {
    /// Messages delivered and acknowledged per second.
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed_s.max(1e-9)
    }

    /// Messages sent per second (first send to last answer).
    pub fn send_rate(&self) -> f64 {
        self.messages as f64 / self.sending_s.max(1e-9)
    }

    /// Server CPU per message, ms.
    pub fn server_ms(&self) -> Option<f64> {
        self.server_cpu_s
            .map(|s| 1000.0 * s / self.messages.max(1) as f64)
    }

    /// Load-tool CPU per message (process − server), ms.
    pub fn client_ms(&self) -> Option<f64> {
        match (self.process_cpu_s, self.server_cpu_s) {
            (Some(p), Some(s)) => Some(1000.0 * (p - s).max(0.0) / self.messages.max(1) as f64),
            _ => None,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "messages": self.messages,
            "elapsed_s": round3(self.elapsed_s),
            "messages_per_second": round3(self.rate()),
            "sending_s": round3(self.sending_s),
            "sends_per_second": round3(self.send_rate()),
            "last_arrival_s": round3(self.last_arrival_s),
            "latency_ms": self.latency.to_json(),
            "arrived_before_send_answer": self.before_answer,
            "arrived_while_sending": self.during_sending,
            "timeline_100ms": self.timeline.iter().enumerate().map(|(i, (sent, arrived))| json!({
                "to_s": round3((i + 1) as f64 / 10.0),
                "sent": sent,
                "arrived": arrived,
            })).collect::<Vec<_>>(),
            "errors": self.errors,
            "error_samples": self.error_samples,
            "duplicates": self.duplicates,
            "empty_polls": self.empty_polls,
            "acked_in_store": self.acked_in_store,
            "server_cpu_s": self.server_cpu_s.map(round3),
            "process_cpu_s": self.process_cpu_s.map(round3),
            "server_cpu_ms_per_message": self.server_ms().map(round3),
            "load_tool_cpu_ms_per_message": self.client_ms().map(round3),
            "machine_load": self.load.map(MachineLoad::to_json),
        })
    }
}

/// One mode's outcome.
#[derive(Debug, Clone)]
pub struct ModeRun {
    /// The mode.
    pub mode: Mode,
    /// Its figures, or why it could not be measured.
    pub result: Result<ModeFigures, String>,
}

/// The comparison's report.
#[derive(Debug, Clone)]
pub struct PushCompareReport {
    /// The command line.
    pub command: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The machine.
    pub machine: MachineInfo,
    /// The settings.
    pub config: PushCompareConfig,
    /// The modes, in the order run.
    pub runs: Vec<ModeRun>,
}

impl PushCompareReport {
    /// The figures of `mode`, if it was measured.
    pub fn figures(&self, mode: Mode) -> Option<&ModeFigures> {
        self.runs
            .iter()
            .find(|r| r.mode == mode)
            .and_then(|r| r.result.as_ref().ok())
    }

    /// Whether every mode could be measured.
    pub fn complete(&self) -> bool {
        self.runs.iter().all(|r| r.result.is_ok())
    }

    /// Whether a mode recorded errors or duplicates.
    pub fn had_errors(&self) -> bool {
        self.runs.iter().any(|r| {
            r.result
                .as_ref()
                .is_ok_and(|f| f.errors > 0 || f.duplicates > 0)
        })
    }

    /// Push (REST) messages per second ÷ polling's.
    pub fn push_over_poll(&self) -> Option<f64> {
        let (push, poll) = (self.figures(Mode::PushRest)?, self.figures(Mode::Poll)?);
        (poll.messages > 0).then(|| push.rate() / poll.rate())
    }

    /// The JSON document.
    pub fn to_json(&self) -> Value {
        let c = &self.config;
        let m = &self.machine;
        json!({
            "tool": "opensmev-load push-compare",
            "version": env!("CARGO_PKG_VERSION"),
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
            "command": self.command,
            "started_at": self.started_at,
            "machine": {
                "nproc": m.nproc,
                "cpus_online": m.cpus_online,
                "cpu_model": m.cpu_model,
                "kernel": m.kernel,
                "mem_total_kib": m.mem_total_kib,
            },
            "settings": {
                "messages": c.messages,
                "concurrency": c.concurrency,
                "channels": c.channels,
                "pollers": c.channels,
                "poll_wait_s": POLL_WAIT_S,
                "payload_bytes": c.payload_bytes,
                "server_threads": c.server_threads,
                "kind": BENCH_SIGNED_KIND,
                "sender": CONSUMER,
                "recipient": PROVIDER,
            },
            "push_rest_over_poll": self.push_over_poll().map(round3),
            "runs": self.runs.iter().map(|r| json!({
                "mode": r.mode.key(),
                "label": r.mode.label(),
                "result": match &r.result {
                    Ok(f) => f.to_json(),
                    Err(e) => json!({ "error": e }),
                },
            })).collect::<Vec<_>>(),
        })
    }

    /// The Markdown report.
    pub fn to_markdown(&self) -> String {
        let c = &self.config;
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "# OpenSMEV: push delivery against polling\n");
        let _ = writeln!(out, "`{}`\n", self.command.replace('`', "'"));
        let _ = writeln!(
            out,
            "Started {}, {} build. Each mode on a fresh in-process server ({} threads, demo mode and the bench registry, embedded SQLite store in a temporary directory): {CONSUMER} sends {} requests of `{BENCH_SIGNED_KIND}` (payload {} B) to {PROVIDER} with `POST /api/v1/requests`, {} in flight, while {PROVIDER} takes them — {} pollers (`POST /api/v1/inbox/requests/next?wait={POLL_WAIT_S}` + `POST /api/v1/messages/{{id}}/ack`), or {} push channels to a loopback axum receiver answering 200 at once. Machine: {} ({} CPUs available, {} online), {}, {:.1} GiB.\n",
            self.started_at,
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            c.server_threads,
            c.messages,
            c.payload_bytes,
            c.concurrency,
            c.channels,
            c.channels,
            m.cpu_model,
            m.nproc,
            m.cpus_online,
            m.kernel,
            m.mem_total_kib.unwrap_or(0) as f64 / 1024.0 / 1024.0
        );
        let _ = writeln!(
            out,
            "| mode | N | channels / pollers | msgs/s | p50 ms | p99 ms | sends/s | arrived while sending | last ack after last send | errors | server CPU / msg | load tool CPU / msg | other load, cores |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.2} ms"));
        for r in &self.runs {
            match &r.result {
                Ok(f) => {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.1} | {} | {:.0} ms | {} | {} | {} | {} |",
                        r.mode.label(),
                        f.messages,
                        c.channels,
                        f.rate(),
                        f.latency.p50_ms,
                        f.latency.p99_ms,
                        f.send_rate(),
                        f.during_sending,
                        1000.0 * (f.elapsed_s - f.sending_s).max(0.0),
                        f.errors + f.duplicates,
                        ms(f.server_ms()),
                        ms(f.client_ms()),
                        f.load
                            .map_or("n/a".to_owned(), |l| format!("{:.2}", l.other_cores())),
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | failed: {} | | | | | | | | | |",
                        r.mode.label(),
                        c.messages,
                        c.channels,
                        e.replace('|', "/")
                    );
                }
            }
        }
        if let Some(ratio) = self.push_over_poll() {
            let _ = writeln!(
                out,
                "\nPush (REST JSON) ÷ poll, messages per second: **{ratio:.2}**."
            );
        }
        let _ = writeln!(
            out,
            "\nmsgs/s: messages sent ÷ the time from the first send to the last message acknowledged in the store (poll: the last ack's 204; push: the first look at the store, once the receiver had every message, that found none queued or leased). p50 / p99: a send's 201 → the message's arrival (a poll's 200, or the receiver's handler). sends/s: the send phase alone (first send to last 201); arrived while sending: messages that had arrived when the last send was answered. Errors include duplicates (a message that arrived twice) and messages that never arrived."
        );
        for r in &self.runs {
            if let Ok(f) = &r.result {
                if let Some(l) = f.load
                    && l.other_cores() > QUIET_CORES
                {
                    let _ = writeln!(
                        out,
                        "\n**The machine was not quiet** during {}: {:.2} cores of other load.",
                        r.mode.label(),
                        l.other_cores()
                    );
                }
                for e in &f.error_samples {
                    let _ = writeln!(out, "\n{}: {}", r.mode.label(), e.replace('\n', " "));
                }
            }
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one mode's senders and takers record.
#[derive(Debug, Default)]
struct Tally {
    /// MessageID → when its send was answered (201).
    answered: Mutex<HashMap<String, Instant>>,
    /// MessageID → when it first arrived.
    arrived: Mutex<HashMap<String, Instant>>,
    /// Distinct messages arrived.
    arrivals: AtomicU64,
    /// Arrivals of messages that had arrived already.
    duplicates: AtomicU64,
    /// Acknowledgements answered 204 (poll).
    acked: AtomicU64,
    /// When the last of them was answered.
    last_ack: Mutex<Option<Instant>>,
    /// When the last send was answered.
    last_send: Mutex<Option<Instant>>,
    /// Sends answered 201.
    sent: AtomicU64,
    /// Every send has been answered.
    sending_done: AtomicBool,
    /// Empty polls.
    empty_polls: AtomicU64,
    errors: AtomicU64,
    samples: Mutex<Vec<String>>,
    /// Woken at every arrival and acknowledgement.
    changed: Notify,
}

impl Tally {
    fn error(&self, text: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut samples = lock(&self.samples);
        if samples.len() < ERROR_SAMPLES {
            samples.push(clip(&text, 400));
        }
    }

    fn arrived(&self, id: String, at: Instant) {
        let first = {
            let mut arrived = lock(&self.arrived);
            match arrived.entry(id) {
                Entry::Vacant(place) => {
                    place.insert(at);
                    true
                }
                Entry::Occupied(_) => false,
            }
        };
        if first {
            self.arrivals.fetch_add(1, Ordering::SeqCst);
        } else {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        self.changed.notify_waiters();
    }

    fn acked(&self, at: Instant) {
        {
            let mut last = lock(&self.last_ack);
            if last.is_none_or(|l| l < at) {
                *last = Some(at);
            }
        }
        self.acked.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Forgets everything (after the warm-up).
    fn reset(&self) {
        lock(&self.answered).clear();
        lock(&self.arrived).clear();
        lock(&self.samples).clear();
        *lock(&self.last_ack) = None;
        *lock(&self.last_send) = None;
        for counter in [
            &self.arrivals,
            &self.duplicates,
            &self.acked,
            &self.sent,
            &self.empty_polls,
            &self.errors,
        ] {
            counter.store(0, Ordering::SeqCst);
        }
        self.sending_done.store(false, Ordering::SeqCst);
    }

    /// Waits until `done` holds (woken by arrivals and acknowledgements), at most until
    /// `deadline`.
    async fn wait(
        &self,
        deadline: Instant,
        what: &str,
        done: impl Fn(&Tally) -> bool,
    ) -> Result<(), String> {
        loop {
            let changed = self.changed.notified();
            if done(self) {
                return Ok(());
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Err(format!(
                    "timed out waiting for {what} ({} arrived, {} acknowledged, {} sent)",
                    self.arrivals.load(Ordering::SeqCst),
                    self.acked.load(Ordering::SeqCst),
                    self.sent.load(Ordering::SeqCst)
                ));
            };
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), changed).await;
        }
    }
}

/// Calls of the API as an administrator (settings, the store's counts) or a system.
#[derive(Debug, Clone)]
struct Api {
    http: reqwest::Client,
    /// `http://host:port/api/v1`.
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Bytes, Instant), String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let answer = request
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = answer.status().as_u16();
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        Ok((status, bytes, Instant::now()))
    }

    /// `GET /messages?…` of PFR01 in `state`, one page: the items and the next cursor.
    async fn page(
        &self,
        admin: &str,
        state: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(usize, Option<String>), String> {
        let mut path = format!("/messages?recipient={PROVIDER}&state={state}&limit={limit}");
        if let Some(cursor) = cursor {
            let _ = write!(path, "&cursor={cursor}");
        }
        let (status, body, _) = self.call(reqwest::Method::GET, &path, admin, None).await?;
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status != 200 {
            return Err(format!("GET {path}: HTTP {status}: {value}"));
        }
        let items = value["items"].as_array().map_or(0, Vec::len);
        Ok((items, value["next_cursor"].as_str().map(str::to_owned)))
    }

    /// Whether any message of PFR01 is still queued or leased.
    async fn any_left(&self, admin: &str) -> Result<bool, String> {
        for state in ["queued", "leased"] {
            if self.page(admin, state, 1, None).await?.0 > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Messages of PFR01 in `state`.
    async fn count(&self, admin: &str, state: &str) -> Result<u64, String> {
        let mut total = 0u64;
        let mut cursor: Option<String> = None;
        loop {
            let (items, next) = self.page(admin, state, 500, cursor.as_deref()).await?;
            total += items as u64;
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(total),
            }
        }
    }

    /// One poll of PFR01's requests: the `MessageID` taken and when its answer was read, or
    /// `None` when nothing came within the wait.
    async fn take(&self, token: &str, wait_s: u64) -> Result<Option<(String, Instant)>, String> {
        let path = format!("/inbox/requests/next?wait={wait_s}");
        let (status, body, at) = self.call(reqwest::Method::POST, &path, token, None).await?;
        match status {
            204 => Ok(None),
            200 => {
                let value: Value = serde_json::from_slice(&body)
                    .map_err(|e| format!("POST {path}: not JSON: {e}"))?;
                let id = value["message_id"]
                    .as_str()
                    .ok_or_else(|| format!("POST {path}: a delivery without message_id"))?;
                Ok(Some((id.to_owned(), at)))
            }
            _ => Err(format!(
                "POST {path}: HTTP {status}: {}",
                clip(&String::from_utf8_lossy(&body), 300)
            )),
        }
    }

    /// `POST /messages/{id}/ack`: when the 204 came.
    async fn ack(&self, token: &str, id: &str) -> Result<Instant, String> {
        let path = format!("/messages/{id}/ack");
        let (status, body, at) = self.call(reqwest::Method::POST, &path, token, None).await?;
        if status == 204 {
            Ok(at)
        } else {
            Err(format!(
                "POST {path}: HTTP {status}: {}",
                clip(&String::from_utf8_lossy(&body), 300)
            ))
        }
    }
}

/// The loopback receiver's handler: notes the arrival, answers 200.
async fn receive(State(tally): State<Arc<Tally>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    std::hint::black_box(body.len());
    match headers.get(MESSAGE_ID_HEADER).and_then(|v| v.to_str().ok()) {
        Some(id) => tally.arrived(id.to_owned(), at),
        None => tally.error(format!(
            "a push without {MESSAGE_ID_HEADER} ({} bytes)",
            body.len()
        )),
    }
    StatusCode::OK
}

/// The loopback receiver: its address and its task.
async fn start_receiver(
    tally: Arc<Tally>,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("the receiver cannot bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = axum::Router::new()
        .route("/in", axum::routing::post(receive))
        .with_state(tally);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("opensmev-load push-compare: the receiver stopped: {e}");
        }
    });
    Ok((addr, task))
}

/// Sends `count` requests, `concurrency` in flight, each on a client of its own; returns when
/// every send is answered.
async fn send_all(
    senders: &[Arc<RestClient>],
    scenario: &Scenario,
    count: usize,
    tally: &Arc<Tally>,
) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(senders.len());
    for client in senders {
        let (client, scenario, tally, next) = (
            Arc::clone(client),
            scenario.clone(),
            Arc::clone(tally),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::SeqCst);
                if seq >= count as u64 {
                    return;
                }
                let id = new_message_id();
                let (business, _) = scenario.request(&id, seq);
                match client.send_request(&id, NODE_ID, &business, None).await {
                    Ok(_) => {
                        let at = Instant::now();
                        lock(&tally.answered).insert(id, at);
                        {
                            let mut last = lock(&tally.last_send);
                            if last.is_none_or(|l| l < at) {
                                *last = Some(at);
                            }
                        }
                        tally.sent.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(f) => tally.error(format!("POST /requests: {}: {}", f.kind, f.text)),
                }
            }
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            tally.error(format!("a sender panicked: {e}"));
        }
    }
    tally.sending_done.store(true, Ordering::SeqCst);
    tally.changed.notify_waiters();
}

/// A poller: takes and acknowledges PFR01's requests until every message sent is acknowledged.
async fn poller(api: Api, token: String, tally: Arc<Tally>) {
    loop {
        if tally.sending_done.load(Ordering::SeqCst)
            && tally.acked.load(Ordering::SeqCst) >= tally.sent.load(Ordering::SeqCst)
        {
            return;
        }
        match api.take(&token, POLL_WAIT_S).await {
            Ok(None) => {
                tally.empty_polls.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Some((id, at))) => {
                tally.arrived(id.clone(), at);
                match api.ack(&token, &id).await {
                    Ok(at) => tally.acked(at),
                    Err(e) => tally.error(e),
                }
            }
            Err(e) => {
                tally.error(e);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Sends one message and waits until it is taken and acknowledged (poll: by a poll of this
/// function's own; push: by the receiver and the bus), so that connections, the push
/// dispatcher and the caches are up before the measurement.
async fn warm_up(
    mode: Mode,
    api: &Api,
    tokens: &Tokens,
    sender: &Arc<RestClient>,
    scenario: &Scenario,
    tally: &Arc<Tally>,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout.min(Duration::from_secs(60));
    let id = new_message_id();
    let (business, _) = scenario.request(&id, 0);
    sender
        .send_request(&id, NODE_ID, &business, None)
        .await
        .map_err(|f| format!("the warm-up send: {}: {}", f.kind, f.text))?;
    if mode == Mode::Poll {
        loop {
            if Instant::now() > deadline {
                return Err("the warm-up message never came to a poll".into());
            }
            if let Some((taken, _)) = api.take(&tokens.provider, POLL_WAIT_S).await? {
                api.ack(&tokens.provider, &taken).await?;
                if taken == id {
                    return Ok(());
                }
            }
        }
    }
    tally
        .wait(deadline, "the warm-up push", |t| {
            lock(&t.arrived).contains_key(&id)
        })
        .await?;
    while api.any_left(&tokens.admin).await? {
        if Instant::now() > deadline {
            return Err("the warm-up push was never acknowledged in the store".into());
        }
        tokio::time::sleep(STORE_LOOK_EVERY).await;
    }
    Ok(())
}

/// The demo tokens a mode uses.
#[derive(Debug)]
struct Tokens {
    consumer: String,
    provider: String,
    admin: String,
}

/// One mode on a fresh server.
async fn run_mode(config: &PushCompareConfig, mode: Mode) -> Result<ModeFigures, String> {
    let server = SpawnedServer::start(
        None,
        config.server_threads,
        Duration::from_millis(crate::DEFAULT_SERVER_POLL_WAIT_MS),
    )
    .await
    .map_err(|e| e.to_string())?;
    let result = measure_mode(config, mode, &server).await;
    let stopped = server.stop().await.map_err(|e| e.to_string());
    let figures = result?;
    stopped?;
    Ok(figures)
}

async fn measure_mode(
    config: &PushCompareConfig,
    mode: Mode,
    server: &SpawnedServer,
) -> Result<ModeFigures, String> {
    let token = |holder: &str| {
        server
            .token_of(holder)
            .map(str::to_owned)
            .ok_or_else(|| format!("the spawned server has no demo token of {holder}"))
    };
    let tokens = Tokens {
        consumer: token(CONSUMER)?,
        provider: token(PROVIDER)?,
        admin: token("admin")?,
    };
    let base = api_base(&server.base);
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(config.http_timeout + Duration::from_secs(POLL_WAIT_S))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?,
        base: base.clone(),
    };
    let scenario = Scenario::new(Workload::Bench, false, config.payload_bytes, 0);
    let mut senders = Vec::with_capacity(config.concurrency);
    for _ in 0..config.concurrency {
        senders.push(Arc::new(
            RestClient::new(&base, &tokens.consumer, CONSUMER, 0, config.http_timeout)
                .map_err(|e| e.to_string())?,
        ));
    }
    let tally = Arc::new(Tally::default());
    let mut receiver = None;
    if let Some(format) = mode.format() {
        let (addr, task) = start_receiver(Arc::clone(&tally)).await?;
        receiver = Some(task);
        let settings = json!({
            "mode": "push",
            "endpoint": format!("http://{addr}/in"),
            "format": format,
            "channels": config.channels,
        });
        let path = format!("/registry/systems/{PROVIDER}/delivery");
        let (status, body, _) = api
            .call(reqwest::Method::PUT, &path, &tokens.admin, Some(&settings))
            .await?;
        if !(200..300).contains(&status) {
            return Err(format!(
                "PUT {path}: HTTP {status}: {}",
                clip(&String::from_utf8_lossy(&body), 300)
            ));
        }
    }
    let outcome = measure_taking(config, mode, &api, &tokens, &senders, &scenario, &tally).await;
    if let Some(task) = receiver {
        task.abort();
    }
    outcome
}

async fn measure_taking(
    config: &PushCompareConfig,
    mode: Mode,
    api: &Api,
    tokens: &Tokens,
    senders: &[Arc<RestClient>],
    scenario: &Scenario,
    tally: &Arc<Tally>,
) -> Result<ModeFigures, String> {
    warm_up(
        mode,
        api,
        tokens,
        &senders[0],
        scenario,
        tally,
        config.timeout,
    )
    .await?;
    tally.reset();

    let window = Window::open();
    let mut pollers = Vec::new();
    if mode == Mode::Poll {
        for _ in 0..config.channels {
            // A client (connection pool) of its own per poller, as separate systems' nodes.
            let own = Api {
                http: reqwest::Client::builder()
                    .timeout(config.http_timeout + Duration::from_secs(POLL_WAIT_S))
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))?,
                base: api.base.clone(),
            };
            pollers.push(tokio::spawn(poller(
                own,
                tokens.provider.clone(),
                Arc::clone(tally),
            )));
        }
        // The pollers are waiting in their long polls before the first send.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = sysinfo::sample(None);
    let start = Instant::now();
    let deadline = start + config.timeout;
    send_all(senders, scenario, config.messages, tally).await;
    let sent = || tally.sent.load(Ordering::SeqCst);
    let waited = match mode {
        Mode::Poll => {
            tally
                .wait(deadline, "the acknowledgements", |t| {
                    t.acked.load(Ordering::SeqCst) >= sent()
                })
                .await
        }
        Mode::PushRest | Mode::PushSoap => {
            tally
                .wait(deadline, "the pushes", |t| {
                    t.arrivals.load(Ordering::SeqCst) >= sent()
                })
                .await
        }
    };
    let end = match (mode, waited) {
        (_, Err(e)) => Err(e),
        (Mode::Poll, Ok(())) => Ok(lock(&tally.last_ack).unwrap_or_else(Instant::now)),
        (Mode::PushRest | Mode::PushSoap, Ok(())) => loop {
            let (left, answered) = match api.any_left(&tokens.admin).await {
                Ok(left) => (left, Instant::now()),
                Err(e) => break Err(e),
            };
            if !left {
                break Ok(answered);
            }
            if answered > deadline {
                break Err("timed out waiting for the store to acknowledge every push".into());
            }
            tokio::time::sleep(STORE_LOOK_EVERY).await;
        },
    };
    let after = sysinfo::sample(None);
    for p in &pollers {
        p.abort();
    }
    let load = window.and_then(Window::close);
    let end = end?;

    // The store's count: every message sent and the warm-up, acknowledged.
    let acked_in_store = api.count(&tokens.admin, "acked").await?;
    let messages = sent();
    if acked_in_store != messages + 1 {
        tally.error(format!(
            "{acked_in_store} messages of {PROVIDER} acknowledged in the store, {} expected ({messages} sent + the warm-up)",
            messages + 1
        ));
    }
    let last_send = lock(&tally.last_send).unwrap_or(start);
    let (latency, before_answer, last_arrival, during_sending, timeline) = {
        let answered = lock(&tally.answered);
        let arrived = lock(&tally.arrived);
        let mut h = histogram();
        let mut before_answer = 0u64;
        for (id, sent_at) in answered.iter() {
            match arrived.get(id) {
                Some(at) => {
                    if at < sent_at {
                        before_answer += 1;
                    }
                    h.saturating_record(micros(at.saturating_duration_since(*sent_at)));
                }
                None => tally.error(format!("{id} was sent but never arrived")),
            }
        }
        for id in arrived.keys() {
            if !answered.contains_key(id) {
                tally.error(format!("{id} arrived but was not sent in this run"));
            }
        }
        let last = arrived.values().max().copied().unwrap_or(start);
        let during = arrived.values().filter(|at| **at <= last_send).count() as u64;
        let bucket =
            |at: &Instant| (at.saturating_duration_since(start).as_millis() / 100) as usize;
        let mut timeline = vec![(0u64, 0u64); bucket(&last.max(last_send)) + 1];
        for at in answered.values() {
            timeline[bucket(at)].0 += 1;
        }
        for at in arrived.values() {
            timeline[bucket(at)].1 += 1;
        }
        (Latency::of(&h), before_answer, last, during, timeline)
    };
    let (server_cpu_s, process_cpu_s) = match (&before, &after) {
        (Some(b), Some(a)) => (
            match (&b.server_threads, &a.server_threads) {
                (Some(b), Some(a)) => Some(sysinfo::threads_delta(b, a)),
                _ => None,
            },
            Some(a.cpu_s - b.cpu_s),
        ),
        _ => (None, None),
    };
    Ok(ModeFigures {
        messages,
        elapsed_s: end.saturating_duration_since(start).as_secs_f64(),
        sending_s: last_send.saturating_duration_since(start).as_secs_f64(),
        last_arrival_s: last_arrival.saturating_duration_since(start).as_secs_f64(),
        latency,
        before_answer,
        during_sending,
        timeline,
        errors: tally.errors.load(Ordering::SeqCst),
        error_samples: lock(&tally.samples).clone(),
        duplicates: tally.duplicates.load(Ordering::SeqCst),
        empty_polls: tally.empty_polls.load(Ordering::SeqCst),
        acked_in_store,
        server_cpu_s,
        process_cpu_s,
        load,
    })
}

/// Runs the comparison: every mode of `config`, one after another.
pub async fn run(config: PushCompareConfig) -> PushCompareReport {
    let started_at = crate::baseline::now_rfc3339();
    let mut runs = Vec::new();
    let checked = config.check();
    for mode in config.modes() {
        if config.progress {
            eprintln!(
                "== push-compare: {} ({} messages, {} in flight, {} channels/pollers)",
                mode.label(),
                config.messages,
                config.concurrency,
                config.channels
            );
        }
        let result = match &checked {
            Err(e) => Err(e.clone()),
            Ok(()) => run_mode(&config, mode).await,
        };
        if config.progress {
            match &result {
                Ok(f) => eprintln!(
                    "   {:.1} msgs/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                    f.rate(),
                    f.latency.p50_ms,
                    f.latency.p99_ms,
                    f.errors + f.duplicates
                ),
                Err(e) => eprintln!("   failed: {e}"),
            }
        }
        runs.push(ModeRun { mode, result });
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    PushCompareReport {
        command: config.command_line.clone(),
        started_at,
        machine: sysinfo::machine(),
        config,
        runs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(messages: u64, elapsed_s: f64) -> ModeFigures {
        ModeFigures {
            messages,
            elapsed_s,
            sending_s: elapsed_s / 2.0,
            last_arrival_s: elapsed_s,
            latency: Latency::of(&histogram()),
            before_answer: 0,
            during_sending: messages / 2,
            timeline: vec![(messages, 0), (0, messages)],
            errors: 0,
            error_samples: Vec::new(),
            duplicates: 0,
            empty_polls: 0,
            acked_in_store: messages + 1,
            server_cpu_s: Some(1.0),
            process_cpu_s: Some(1.5),
            load: None,
        }
    }

    #[test]
    fn the_modes_and_the_ratio() {
        let mut config = PushCompareConfig::new();
        assert_eq!(config.modes(), [Mode::Poll, Mode::PushRest, Mode::PushSoap]);
        config.soap = false;
        assert_eq!(config.modes(), [Mode::Poll, Mode::PushRest]);
        config.channels = 65;
        assert!(config.check().is_err());
        let report = PushCompareReport {
            command: "push-compare".into(),
            started_at: "now".into(),
            machine: sysinfo::machine(),
            config: PushCompareConfig::new(),
            runs: vec![
                ModeRun {
                    mode: Mode::Poll,
                    result: Ok(figures(100, 2.0)),
                },
                ModeRun {
                    mode: Mode::PushRest,
                    result: Ok(figures(100, 1.0)),
                },
                ModeRun {
                    mode: Mode::PushSoap,
                    result: Err("no server".into()),
                },
            ],
        };
        assert_eq!(report.push_over_poll(), Some(2.0));
        assert!(!report.complete());
        assert!(!report.had_errors());
        let f = report.figures(Mode::Poll).unwrap();
        assert_eq!((f.rate(), f.send_rate()), (50.0, 100.0));
        assert_eq!(f.server_ms(), Some(10.0));
        assert_eq!(f.client_ms(), Some(5.0));
        let md = report.to_markdown();
        assert!(md.contains("| poll (REST API) | 100 | 4 | 50.0 |"), "{md}");
        assert!(md.contains("| 100.0 | 50 | 1000 ms |"), "{md}");
        assert!(md.contains("failed: no server"), "{md}");
        let json = report.to_json();
        assert_eq!(json["runs"][1]["mode"], "push_rest");
        assert_eq!(json["runs"][1]["result"]["messages_per_second"], 100.0);
        assert_eq!(json["runs"][2]["result"]["error"], "no server");
        assert_eq!(json["push_rest_over_poll"], 2.0);
        assert_eq!(
            json["runs"][0]["result"]["timeline_100ms"][1]["arrived"],
            100
        );
    }
}
