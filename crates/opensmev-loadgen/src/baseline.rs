//! Baselines that put the bus's figures in proportion, measured by the same tool in the same run:
//!
//! * [`crypto`] — the crypto-and-validation bound: the GOST signs, verifies and XSD validations
//!   that one signed, validated round trip costs (client side and bus side together), done
//!   in-process without the bus on the same cores. No bus can do signed round trips faster than
//!   this; the ratio says how much of the machine the bus's own machinery (HTTP, XML, store,
//!   polling) takes on top.
//! * [`rabbitmq`] — a durable message broker doing the same hops: publish (persistent, publisher
//!   confirm awaited) → consume → ack, twice per round trip.
//! * [`postgres`] — a raw PostgreSQL `SKIP LOCKED` queue doing the same hops: a committed
//!   `INSERT` → a committed `DELETE … (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING`
//!   (receive and ack in one), twice per round trip, the takers polling with the bus run's
//!   backoff.
//!
//! Latency figures use the same HDR histograms as the bus run (1 µs .. 1 h, 3 significant
//! digits, see `stats`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use opensmev_client::new_message_id;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::LoadError;
use crate::stats::{histogram, micros};
use crate::sysinfo::{self, MachineInfo};
use crate::workload::{Scenario, Workload};
use crypto::machine_json;

pub mod crypto;
pub mod postgres;
pub mod rabbitmq;

/// Latency percentiles of one measured operation, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Latency {
    /// The summary of a histogram of microseconds.
    pub(crate) fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency {
                count: 0,
                p50_ms: 0.0,
                p90_ms: 0.0,
                p99_ms: 0.0,
                max_ms: 0.0,
                mean_ms: 0.0,
            };
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }

    /// `{"count", "p50", "p90", "p99", "max", "mean"}` (milliseconds).
    pub fn to_json(&self) -> Value {
        json!({
            "count": self.count,
            "p50": self.p50_ms,
            "p90": self.p90_ms,
            "p99": self.p99_ms,
            "max": self.max_ms,
            "mean": round3(self.mean_ms),
        })
    }
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The command line as one shell-quoted string (for reports).
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Now as RFC 3339 (UTC).
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What the reports of the two durable-queue baselines ([`rabbitmq`], [`postgres`]) say
/// differently; the rest of a [`HopReport`] is the same for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopBackend {
    /// The subcommand, `opensmev-load baseline <name>` (the JSON `tool`, the progress lines).
    pub name: &'static str,
    /// The Markdown title.
    pub title: &'static str,
    /// The JSON key of the server's CPU seconds.
    pub server_cpu_key: &'static str,
    /// The server in the Markdown CPU line.
    pub server_cpu_label: &'static str,
    /// The measured operations' names, in the order [`SEND_REQUEST`], [`REQUEST_HOP`],
    /// [`SEND_RESPONSE`], [`RESPONSE_HOP`], [`ROUND_TRIP`].
    pub operations: [&'static str; OPERATIONS],
}

/// How many operations a durable-queue baseline measures.
pub const OPERATIONS: usize = 5;
/// The index of sending a request (durable when done) among a durable-queue baseline's
/// operations.
pub const SEND_REQUEST: usize = 0;
/// The index of the request hop (sent → taken and acked).
pub const REQUEST_HOP: usize = 1;
/// The index of sending a response (durable when done).
pub const SEND_RESPONSE: usize = 2;
/// The index of the response hop (sent → taken and acked).
pub const RESPONSE_HOP: usize = 3;
/// The index of the round trip (request sent → response taken).
pub const ROUND_TRIP: usize = 4;

/// One measured operation of a durable-queue baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct HopOperation {
    /// What it is.
    pub name: &'static str,
    /// Latency (count = successful operations).
    pub latency: Latency,
}

/// The report of a durable-queue baseline run ([`rabbitmq`] or [`postgres`]): round trips of two
/// durable hops each.
#[derive(Debug, Clone, PartialEq)]
pub struct HopReport {
    /// Which baseline.
    pub backend: HopBackend,
    /// The command line.
    pub command: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The machine.
    pub machine: MachineInfo,
    /// Settings, `(name, value)`.
    pub settings: Vec<(&'static str, String)>,
    /// Seconds from the first start to the end of the last round trip (or the grace period).
    pub elapsed_s: f64,
    /// Round trips started.
    pub started: u64,
    /// Round trips completed.
    pub completed: u64,
    /// Round trips failed or unfinished.
    pub failed: u64,
    /// Errors of any kind.
    pub errors: u64,
    /// Errors by kind.
    pub errors_by_kind: Vec<(String, u64)>,
    /// The first errors.
    pub first_errors: Vec<String>,
    /// Per operation, in the order of [`HopBackend::operations`].
    pub operations: Vec<HopOperation>,
    /// Takes that found their queue empty (each followed by a backoff sleep); `None` where the
    /// server pushes messages (RabbitMQ).
    pub empty_takes: Option<u64>,
    /// CPU seconds of the server's processes over the run (RabbitMQ's `beam.smp`, PostgreSQL's
    /// `postgres`).
    pub server_cpu_seconds: Option<f64>,
    /// CPU seconds of this process over the run.
    pub tool_cpu_seconds: Option<f64>,
    /// What the run created on the server (and removed after it): RabbitMQ's queues,
    /// PostgreSQL's table.
    pub created: Vec<String>,
}

impl HopReport {
    /// Durable hops completed: 2 per round trip.
    pub fn hops(&self) -> u64 {
        2 * self.completed
    }

    /// Round trips per second.
    pub fn round_trips_per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed_s.max(1e-9)
    }

    /// Durable hops per second.
    pub fn hops_per_second(&self) -> f64 {
        self.hops() as f64 / self.elapsed_s.max(1e-9)
    }

    /// The round-trip latency.
    pub fn round_trip_latency(&self) -> &Latency {
        &self.operations[ROUND_TRIP].latency
    }

    /// The JSON document.
    pub fn to_json(&self) -> Value {
        let mut totals = json!({
            "round_trips_started": self.started,
            "round_trips_completed": self.completed,
            "round_trips_failed": self.failed,
            "round_trips_per_second": round3(self.round_trips_per_second()),
            "hops": self.hops(),
            "hops_per_second": round3(self.hops_per_second()),
            "errors": self.errors,
        });
        if let Some(empty) = self.empty_takes {
            totals["empty_takes"] = json!(empty);
        }
        let mut doc = json!({
            "tool": format!("opensmev-load baseline {}", self.backend.name),
            "command": self.command,
            "started_at": self.started_at,
            "machine": machine_json(&self.machine),
            "settings": self.settings.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "elapsed_s": round3(self.elapsed_s),
            "totals": totals,
            "operations": self.operations.iter().map(|o| (o.name.to_owned(), o.latency.to_json())).collect::<serde_json::Map<_, _>>(),
            "errors_by_kind": self.errors_by_kind.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "errors": self.first_errors,
        });
        doc[self.backend.server_cpu_key] = json!(self.server_cpu_seconds.map(round3));
        doc["tool_cpu_seconds"] = json!(self.tool_cpu_seconds.map(round3));
        doc
    }

    /// The Markdown report.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {}\n", self.backend.title);
        let _ = writeln!(out, "`{}`\n", self.command.replace('`', "'"));
        let _ = writeln!(
            out,
            "Started {}, {:.1} s. Machine: {} ({} CPUs).\n",
            self.started_at, self.elapsed_s, self.machine.cpu_model, self.machine.nproc
        );
        for (k, v) in &self.settings {
            let _ = writeln!(out, "- {k}: {v}");
        }
        let _ = writeln!(
            out,
            "\n| operation | count | p50 ms | p90 ms | p99 ms | max ms |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|");
        for o in &self.operations {
            let l = &o.latency;
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                o.name, l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        }
        let cores = |c: Option<f64>| {
            c.map_or("n/a".to_owned(), |c| {
                format!("{c:.2} s ({:.2} cores)", c / self.elapsed_s.max(1e-9))
            })
        };
        let empty_takes = self.empty_takes.map_or(String::new(), |empty| {
            format!(
                " Empty takes: {empty} ({:.2} per round trip).",
                empty as f64 / self.completed.max(1) as f64
            )
        });
        let _ = writeln!(
            out,
            "\nRound trips: {} started, {} completed ({:.1}/s), {} failed or unfinished. **Durable hops: {} ({:.1}/s)**, 2 per round trip.{empty_takes} Errors: {}. CPU: {} {}, load tool {}.",
            self.started,
            self.completed,
            self.round_trips_per_second(),
            self.failed,
            self.hops(),
            self.hops_per_second(),
            self.errors,
            self.backend.server_cpu_label,
            cores(self.server_cpu_seconds),
            cores(self.tool_cpu_seconds),
        );
        if !self.first_errors.is_empty() {
            let kinds: Vec<String> = self
                .errors_by_kind
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = writeln!(out, "\nErrors by kind: {}.\n", kinds.join(", "));
            for e in &self.first_errors {
                let _ = writeln!(out, "- {e}");
            }
        }
        out
    }
}

/// Whether a server answers at `addr` (`host:port`): `hello` is sent and the first byte of the
/// answer must come back within `timeout` and be `accepted`.
pub(crate) fn answers(
    addr: &str,
    timeout: Duration,
    hello: &[u8],
    accepted: impl Fn(u8) -> bool,
) -> bool {
    use std::io::{Read as _, Write as _};
    use std::net::ToSocketAddrs as _;
    let Some(socket) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return false;
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&socket, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut first = [0u8; 1];
    stream.write_all(hello).is_ok() && stream.read_exact(&mut first).is_ok() && accepted(first[0])
}

/// The checks of a durable-queue baseline's closed loop before it runs.
pub(crate) fn check_loop(
    producers: usize,
    consumers: usize,
    window: usize,
    duration: Duration,
) -> Result<(), LoadError> {
    if producers == 0 || consumers == 0 {
        return Err(LoadError::Setup(
            "at least one producer and one consumer are needed".into(),
        ));
    }
    if window == 0 {
        return Err(LoadError::Setup("--window must be at least 1".into()));
    }
    if duration.is_zero() {
        return Err(LoadError::Setup("--duration must be positive".into()));
    }
    Ok(())
}

/// Errors kept with their text.
const KEPT_ERRORS: usize = 10;

/// After a failed call, a durable-queue baseline's worker pauses this long.
pub(crate) const AFTER_ERROR: Duration = Duration::from_millis(50);

/// A round trip in flight in a durable-queue baseline.
#[derive(Debug)]
struct Pending {
    seq: u64,
    start: Instant,
    /// When the handler began to send the response.
    response_sent: Option<Instant>,
    _permit: OwnedSemaphorePermit,
}

#[derive(Debug)]
struct Rec {
    latency: Vec<Histogram<u64>>,
    errors: BTreeMap<String, u64>,
    first_errors: Vec<String>,
}

/// The state a durable-queue baseline's producers, handlers and reply takers share: the round
/// trips in flight, the counters and the latency histograms.
#[derive(Debug)]
pub(crate) struct HopRun {
    backend: HopBackend,
    scenario: Scenario,
    pub(crate) requests: String,
    pub(crate) replies: Vec<String>,
    pending: Mutex<HashMap<String, Pending>>,
    rec: Mutex<Rec>,
    started: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
    /// Takes that found their queue empty (polling backends only).
    pub(crate) empty_takes: AtomicU64,
    t0: Instant,
    send_until: Instant,
}

impl HopRun {
    /// A run of `backend` that starts at `t0` and starts round trips for `duration`, with the
    /// bench workload's content padded by `payload_bytes`; requests go to the queue `requests`,
    /// producer `i`'s responses to `replies[i]`.
    pub(crate) fn new(
        backend: HopBackend,
        t0: Instant,
        duration: Duration,
        payload_bytes: usize,
        requests: String,
        replies: Vec<String>,
    ) -> HopRun {
        HopRun {
            backend,
            scenario: Scenario::new(Workload::Bench, true, payload_bytes, 0),
            requests,
            replies,
            pending: Mutex::new(HashMap::new()),
            rec: Mutex::new(Rec {
                latency: (0..OPERATIONS).map(|_| histogram()).collect(),
                errors: BTreeMap::new(),
                first_errors: Vec::new(),
            }),
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            empty_takes: AtomicU64::new(0),
            t0,
            send_until: t0 + duration,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rec(&self) -> std::sync::MutexGuard<'_, Rec> {
        self.rec.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, op: usize, latency: Duration) {
        self.rec().latency[op].saturating_record(micros(latency));
    }

    pub(crate) fn error(&self, kind: &str, text: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut rec = self.rec();
        *rec.errors.entry(kind.to_owned()).or_insert(0) += 1;
        if rec.first_errors.len() < KEPT_ERRORS {
            let at = self.t0.elapsed().as_secs_f64();
            rec.first_errors.push(format!("{at:.3} s [{kind}] {text}"));
        }
    }

    /// Ends a round trip as failed (if it is still in flight).
    pub(crate) fn fail(&self, id: &str, kind: &str, text: String) {
        if self.lock().remove(id).is_some() {
            self.error(kind, text);
        }
    }

    /// Starts a round trip when a slot of `slots` is free and round trips are still started:
    /// its id, its request and when it started. `None` at the end of the starting time.
    pub(crate) async fn start_round_trip(
        &self,
        slots: &Arc<Semaphore>,
    ) -> Option<(String, String, Instant)> {
        let permit = slots.clone().acquire_owned().await.ok()?;
        if Instant::now() >= self.send_until {
            return None;
        }
        let seq = self.started.fetch_add(1, Ordering::SeqCst);
        let id = new_message_id();
        let (body, _) = self.scenario.request(&id, seq);
        let start = Instant::now();
        self.lock().insert(
            id.clone(),
            Pending {
                seq,
                start,
                response_sent: None,
                _permit: permit,
            },
        );
        Some((id, body, start))
    }

    /// The end of a send (operation `op`, [`SEND_REQUEST`] or [`SEND_RESPONSE`]) of round trip
    /// `id` begun at `since`: its latency, or on an error `(kind, text)` the round trip failed
    /// and a pause.
    pub(crate) async fn sent(
        &self,
        op: usize,
        id: &str,
        since: Instant,
        outcome: Result<(), (String, String)>,
    ) {
        match outcome {
            Ok(()) => self.record(op, since.elapsed()),
            Err((kind, text)) => {
                self.fail(id, &kind, text);
                tokio::time::sleep(AFTER_ERROR).await;
            }
        }
    }

    /// A handler took (and acked) request `id` with `payload` at `taken`: the request hop is
    /// recorded. Whether the request is in flight with the content sent (else the error is
    /// counted and no response is due).
    pub(crate) fn request_taken(&self, id: &str, payload: &[u8], taken: Instant) -> bool {
        let known = self.lock().get(id).map(|p| (p.seq, p.start));
        let Some((seq, start)) = known else {
            self.error("foreign", format!("request {id:?} is not in flight"));
            return false;
        };
        self.record(REQUEST_HOP, taken - start);
        if payload != self.scenario.request(id, seq).0.as_bytes() {
            self.fail(id, "mismatch", format!("request {id}: content differs"));
            return false;
        }
        true
    }

    /// A handler is about to send the response to `id`: it and when it was begun, or `None` when
    /// the round trip is no longer in flight.
    pub(crate) fn response_to(&self, id: &str) -> Option<(String, Instant)> {
        let begun = Instant::now();
        self.lock().get_mut(id)?.response_sent = Some(begun);
        let (body, _) = self.scenario.response(id);
        Some((body, begun))
    }

    /// A producer took (and acked) the response to `id` with `payload` at `done`: the round trip
    /// ends, its response hop and its own latency recorded (or the error counted).
    pub(crate) fn response_taken(&self, id: &str, payload: &[u8], done: Instant) {
        let Some(pending) = self.lock().remove(id) else {
            self.error(
                "foreign",
                format!("a response to {id:?}, which is not in flight"),
            );
            return;
        };
        if payload != self.scenario.response(id).0.as_bytes() {
            self.error("mismatch", format!("the response to {id}: content differs"));
            return;
        }
        if let Some(sent) = pending.response_sent {
            self.record(RESPONSE_HOP, done.saturating_duration_since(sent));
        }
        self.record(ROUND_TRIP, done - pending.start);
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    /// After the last start: waits until no round trip is in flight, at most `grace`.
    pub(crate) async fn settle(&self, grace: Duration) {
        let sending_ended = Instant::now();
        while !self.lock().is_empty() && sending_ended.elapsed() < grace {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Ends the round trips still in flight after the grace period as failed.
    pub(crate) fn fail_unfinished(&self, grace: Duration) {
        let left: Vec<String> = self.lock().keys().cloned().collect();
        for id in left {
            self.fail(
                &id,
                "timeout",
                format!("round trip {id} did not finish within {grace:?} after the last start"),
            );
        }
    }

    /// A progress line on stderr every second until halted.
    pub(crate) async fn progress(self: Arc<Self>, mut halt: watch::Receiver<bool>) {
        let name = self.backend.name;
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        let mut last = 0u64;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = halt.changed() => return,
            }
            let completed = self.completed.load(Ordering::Relaxed);
            let t = self.t0.elapsed().as_secs_f64();
            eprintln!(
                "[{t:>6.1}s] {name} round trips {completed} ({} /s now, {:.0} /s avg) | in flight {} | errors {}",
                completed - last,
                completed as f64 / t.max(1e-9),
                self.lock().len(),
                self.errors.load(Ordering::Relaxed),
            );
            last = completed;
        }
    }

    /// The settings rows both durable-queue baselines end with: clients, loop, stop, payload.
    pub(crate) fn common_settings(
        producers: usize,
        consumers: usize,
        mode: String,
        duration: std::time::Duration,
        payload_bytes: usize,
    ) -> [(&'static str, String); 5] {
        [
            ("producers", producers.to_string()),
            ("consumers", consumers.to_string()),
            ("mode", mode),
            ("stop", format!("{} s", duration.as_secs_f64())),
            (
                "payload",
                format!(
                    "{payload_bytes} B padding of the bench business content (request and response)"
                ),
            ),
        ]
    }

    /// The report's measured part, the run having ended at `end`; the caller adds the command,
    /// the settings, the CPU figures and what it created.
    pub(crate) fn report(&self, end: Instant) -> HopReport {
        let rec = self.rec();
        let started = self.started.load(Ordering::SeqCst);
        let completed = self.completed.load(Ordering::SeqCst);
        HopReport {
            backend: self.backend,
            command: String::new(),
            started_at: String::new(),
            machine: sysinfo::machine(),
            settings: Vec::new(),
            elapsed_s: (end - self.t0).as_secs_f64().max(1e-9),
            started,
            completed,
            failed: started.saturating_sub(completed),
            errors: self.errors.load(Ordering::SeqCst),
            errors_by_kind: rec.errors.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            first_errors: rec.first_errors.clone(),
            operations: self
                .backend
                .operations
                .iter()
                .zip(&rec.latency)
                .map(|(name, h)| HopOperation {
                    name,
                    latency: Latency::of(h),
                })
                .collect(),
            empty_takes: None,
            server_cpu_seconds: None,
            tool_cpu_seconds: None,
            created: Vec::new(),
        }
    }
}
