//! `opensmev-load hostile`: the bus must stay healthy while it is attacked. Against a running
//! server (loopback only), one attack is held for a bounded time while a normal client does full
//! signed round trips one after another (`SendRequest` → `GetRequest` → `Ack` → `SendResponse` →
//! `GetResponse` → `Ack`, the demo kind VS00001 between MFC01 and PFR01, every answer checked as
//! in every other run of the load tool), and the server's resident memory is sampled from
//! `/proc/<pid>/status` every 50 ms.
//!
//! The attacks ([`Attack`]):
//! * `slow-uploads`: N connections each send the headers of a `SendRequest` declaring a 16 MiB
//!   body, one byte of it, and then nothing; plus one connection declaring a body of 10¹² bytes,
//!   whose answer (if any) is recorded.
//! * `large-certs`: N signed-shape `SendRequest`s whose `CallerInformationSystemSignature`
//!   carries a distinct self-signed P-256 certificate with a large (4 MiB by default) private
//!   non-critical extension; each certificate is made just before it is sent (at most
//!   `concurrency` exist at a time). The signature cannot verify: the bus must refuse each message;
//!   the point is what parsing (and caching) such certificates costs it.
//! * `header-dribble`: N connections each send a request line and one header, then one more byte
//!   of a header every second, never ending the headers; plus idle connections that send
//!   nothing. Whether and when the server closes them is recorded.
//!
//! The result ([`HostileReport`]) holds the round trips' count, median and maximum latency and
//! failures, the server's RSS before and at its peak, the attack's own counters, and whether the
//! targets ([`Targets`]: peak RSS, slowest round trip, no failure) were met. As a safety net the
//! attack stops early when the server's RSS passes an abort level (2 GiB by default), so that a
//! leaking server cannot take the machine down.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use opensmev_client::{Answer, SOAP_NS, SmevClient};
use opensmev_types::SchemaVersion;
use opensmev_xmldsig::xml::{Document, Limits};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};

use crate::LoadError;
use crate::engine::Backoff;
use crate::envelope::{self, Failure, Signed};
use crate::sysinfo;
use crate::workload::{Scenario, Workload};

/// How often the server's memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// The longest a connection attempt may take before it counts as refused.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Connection attempts in flight at a time.
const CONNECTS_IN_FLIGHT: usize = 100;
/// The longest one round trip of the normal client may take before it counts as failed.
const ROUND_TRIP_DEADLINE: Duration = Duration::from_secs(30);
/// The `NodeID` of the normal client (its responses are polled on it).
const NODE_ID: &str = "opensmev-hostile";
/// The body a slow upload declares.
const SLOW_UPLOAD_LENGTH: u64 = 16 * 1024 * 1024;
/// The body the oversized probe declares.
const OVERSIZED_LENGTH: u64 = 1_000_000_000_000;
/// The private OID of the large extension (non-critical, unknown to everyone).
pub const LARGE_EXTENSION_OID: &str = "1.3.6.1.4.1.55555.1";
/// The header of the Markdown table whose row is [`HostileReport::to_markdown`].
pub const MARKDOWN_HEADER: &str = "| attack | RSS before | peak RSS | max round trip | p50 round trip | round trips | failures | attack counters | targets |\n|---|---|---|---|---|---|---|---|---|\n";

/// Which attack to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Connections that declare a large body and send one byte of it.
    SlowUploads,
    /// Requests signed with distinct certificates carrying a large extension.
    LargeCerts,
    /// Connections that never finish their headers, one byte a second, and idle connections.
    HeaderDribble,
}

impl Attack {
    /// All attacks, in the order `scripts/hostile.sh` runs them.
    pub const ALL: [Attack; 3] = [
        Attack::SlowUploads,
        Attack::LargeCerts,
        Attack::HeaderDribble,
    ];

    /// The name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Attack::SlowUploads => "slow-uploads",
            Attack::LargeCerts => "large-certs",
            Attack::HeaderDribble => "header-dribble",
        }
    }

    /// Connections (or certificates) by default.
    pub fn default_count(self) -> usize {
        match self {
            Attack::SlowUploads => 64,
            Attack::LargeCerts => 1000,
            Attack::HeaderDribble => 1000,
        }
    }

    /// How long the attack is held by default. For `large-certs` this is a bound: the attack
    /// ends when every certificate was sent or when it is over.
    pub fn default_hold(self) -> Duration {
        match self {
            Attack::SlowUploads | Attack::HeaderDribble => Duration::from_secs(30),
            Attack::LargeCerts => Duration::from_secs(600),
        }
    }
}

/// What the bus must keep up while attacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    /// Highest acceptable server RSS, KiB.
    pub max_rss_kib: u64,
    /// Slowest acceptable round trip.
    pub max_round_trip: Duration,
}

impl Default for Targets {
    /// 256 MiB and 2 s.
    fn default() -> Targets {
        Targets {
            max_rss_kib: 256 * 1024,
            max_round_trip: Duration::from_secs(2),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct HostileConfig {
    /// The server, `http://127.0.0.1:PORT` (a path, e.g. `/smev`, is taken as the endpoint
    /// prefix; without one it is `/smev`).
    pub base: String,
    /// `<data_dir>/demo` of that server (IS keys, bus certificate).
    pub demo_dir: PathBuf,
    /// The server's PID (its VmRSS is sampled from `/proc`).
    pub server_pid: u32,
    /// The attack.
    pub attack: Attack,
    /// Connections (`slow-uploads`, `header-dribble`) or certificates (`large-certs`).
    pub count: usize,
    /// How long the attack is held (`large-certs`: the longest it may take).
    pub hold: Duration,
    /// `large-certs`: bytes of random content in each certificate's extension.
    pub cert_bytes: usize,
    /// `large-certs`: requests in flight at a time.
    pub concurrency: usize,
    /// `header-dribble`: extra connections that send nothing.
    pub idle_connections: usize,
    /// Schema version of the normal client's calls and of the attacked endpoint.
    pub version: SchemaVersion,
    /// The attack stops when the server's RSS passes this many KiB (0: never).
    pub abort_rss_kib: u64,
    /// Timeout of each HTTP call.
    pub http_timeout: Duration,
    /// What the report is judged by.
    pub targets: Targets,
}

impl HostileConfig {
    /// The defaults of `attack` against the server at `base`.
    pub fn new(base: &str, demo_dir: &Path, server_pid: u32, attack: Attack) -> HostileConfig {
        HostileConfig {
            base: base.to_owned(),
            demo_dir: demo_dir.to_owned(),
            server_pid,
            attack,
            count: attack.default_count(),
            hold: attack.default_hold(),
            cert_bytes: 4 * 1024 * 1024,
            concurrency: 4,
            idle_connections: 20,
            version: SchemaVersion::V1_2,
            abort_rss_kib: 2 * 1024 * 1024,
            http_timeout: Duration::from_secs(30),
            targets: Targets::default(),
        }
    }
}

/// The normal client's round trips during the attack.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoundTrips {
    /// Completed, every answer checked.
    pub completed: u64,
    /// Failed (a call failed, an answer was wrong, or the round trip took over 30 s).
    pub failed: u64,
    /// Latency of each completed round trip, ms, sorted.
    pub latencies_ms: Vec<f64>,
    /// The first failures (step, kind and text).
    pub first_failures: Vec<String>,
}

impl RoundTrips {
    /// The slowest completed round trip, ms.
    pub fn max_ms(&self) -> Option<f64> {
        self.latencies_ms.last().copied()
    }

    /// The median completed round trip, ms.
    pub fn p50_ms(&self) -> Option<f64> {
        percentile(&self.latencies_ms, 0.5)
    }
}

/// Connections of one kind opened by an attack.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Connections {
    /// Attempted.
    pub attempted: u64,
    /// Established.
    pub opened: u64,
    /// Not established (refused, or no answer to the connection attempt within 3 s).
    pub refused: u64,
    /// Closed by the server before the attack ended (end of stream, reset, or a write that
    /// failed).
    pub closed_by_server: u64,
    /// For each of those, milliseconds from the connection's opening to its close, sorted.
    pub closed_after_ms: Vec<u64>,
    /// The status lines the server answered with, counted.
    pub answers: BTreeMap<String, u64>,
}

impl Connections {
    /// Established and still open when the attack ended.
    pub fn open_at_end(&self) -> u64 {
        self.opened - self.closed_by_server
    }

    fn add(&mut self, outcome: &ConnOutcome) {
        self.attempted += 1;
        if !outcome.opened {
            self.refused += 1;
            return;
        }
        self.opened += 1;
        if let Some(after) = outcome.closed_after {
            self.closed_by_server += 1;
            self.closed_after_ms.push(after.as_millis() as u64);
        }
        if let Some(line) = &outcome.status_line {
            *self.answers.entry(line.clone()).or_default() += 1;
        }
    }

    fn finish(&mut self) {
        self.closed_after_ms.sort_unstable();
    }

    fn to_json(&self) -> Value {
        let ms = &self.closed_after_ms;
        json!({
            "attempted": self.attempted,
            "opened": self.opened,
            "refused": self.refused,
            "closed_by_server": self.closed_by_server,
            "open_at_end": self.open_at_end(),
            "closed_after_ms": if ms.is_empty() {
                Value::Null
            } else {
                json!({
                    "min": ms.first(),
                    "p50": ms.get(ms.len() / 2),
                    "max": ms.last(),
                })
            },
            "answers": self.answers,
        })
    }

    fn summary(&self, what: &str) -> String {
        let mut out = format!(
            "{what}: opened {}, refused {}, closed by server {}",
            self.opened, self.refused, self.closed_by_server
        );
        let ms = &self.closed_after_ms;
        if let (Some(min), Some(max)) = (ms.first(), ms.last()) {
            let p50 = ms[ms.len() / 2];
            out.push_str(&format!(
                " after {:.1}/{:.1}/{:.1} s (min/p50/max)",
                *min as f64 / 1000.0,
                p50 as f64 / 1000.0,
                *max as f64 / 1000.0
            ));
        }
        if !self.answers.is_empty() {
            let answers: Vec<String> = self
                .answers
                .iter()
                .map(|(line, n)| format!("{n}× {line}"))
                .collect();
            out.push_str(&format!(", answers: {}", answers.join(", ")));
        }
        out
    }
}

/// The one connection of `slow-uploads` that declares a body of 10¹² bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OversizedProbe {
    /// The connection was established.
    pub opened: bool,
    /// The status line the server answered with, if it did.
    pub status_line: Option<String>,
    /// Milliseconds from the end of the headers to the status line.
    pub answered_after_ms: Option<u64>,
    /// Milliseconds from the end of the headers to the server's close, if it closed.
    pub closed_after_ms: Option<u64>,
}

/// What `large-certs` sent and got back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Certificates {
    /// Certificates made (each sent once, or tried to).
    pub made: u64,
    /// Size of the first certificate, DER bytes.
    pub certificate_der_bytes: u64,
    /// Size of the first request body, bytes.
    pub request_bytes: u64,
    /// Answers by HTTP status and fault (`HTTP 500 fault:SignatureVerificationFault`), or
    /// transport errors (`error: …`), counted.
    pub answers: BTreeMap<String, u64>,
    /// Answers that accepted the message (`SendRequestResponse`): the bus must refuse them all.
    pub accepted: u64,
}

impl Certificates {
    fn to_json(&self) -> Value {
        json!({
            "made": self.made,
            "certificate_der_bytes": self.certificate_der_bytes,
            "request_bytes": self.request_bytes,
            "answers": self.answers,
            "accepted": self.accepted,
        })
    }
}

/// The attack's own counters.
#[derive(Debug, Clone, PartialEq)]
pub enum AttackCounts {
    /// `slow-uploads`.
    SlowUploads {
        /// The slow uploads.
        uploads: Connections,
        /// The 10¹²-byte declaration.
        oversized: OversizedProbe,
    },
    /// `large-certs`.
    LargeCerts(Certificates),
    /// `header-dribble`.
    HeaderDribble {
        /// The connections dribbling header bytes.
        dribblers: Connections,
        /// The connections that sent nothing.
        idle: Connections,
    },
}

impl AttackCounts {
    fn to_json(&self) -> Value {
        match self {
            AttackCounts::SlowUploads { uploads, oversized } => json!({
                "uploads": uploads.to_json(),
                "oversized_probe": {
                    "declared_bytes": OVERSIZED_LENGTH,
                    "opened": oversized.opened,
                    "status_line": oversized.status_line,
                    "answered_after_ms": oversized.answered_after_ms,
                    "closed_after_ms": oversized.closed_after_ms,
                },
            }),
            AttackCounts::LargeCerts(c) => json!({ "certificates": c.to_json() }),
            AttackCounts::HeaderDribble { dribblers, idle } => json!({
                "dribblers": dribblers.to_json(),
                "idle": idle.to_json(),
            }),
        }
    }

    fn summary(&self) -> String {
        match self {
            AttackCounts::SlowUploads { uploads, oversized } => {
                let probe = match (&oversized.status_line, oversized.answered_after_ms) {
                    _ if !oversized.opened => "not connected".to_owned(),
                    (Some(line), Some(ms)) => format!("{line} after {ms} ms"),
                    (Some(line), None) => line.clone(),
                    (None, _) => match oversized.closed_after_ms {
                        Some(ms) => format!("closed without an answer after {ms} ms"),
                        None => "no answer".to_owned(),
                    },
                };
                format!(
                    "{}; Content-Length 10^12: {probe}",
                    uploads.summary("uploads")
                )
            }
            AttackCounts::LargeCerts(c) => {
                let answers: Vec<String> =
                    c.answers.iter().map(|(k, n)| format!("{n}× {k}")).collect();
                format!(
                    "certificates sent {} ({:.1} MiB DER each), answers: {}{}",
                    c.made,
                    c.certificate_der_bytes as f64 / (1024.0 * 1024.0),
                    if answers.is_empty() {
                        "none".to_owned()
                    } else {
                        answers.join(", ")
                    },
                    if c.accepted > 0 {
                        format!(", **{} accepted**", c.accepted)
                    } else {
                        String::new()
                    }
                )
            }
            AttackCounts::HeaderDribble { dribblers, idle } => format!(
                "{}; {}",
                dribblers.summary("dribblers"),
                idle.summary("idle")
            ),
        }
    }
}

/// The result of one attack.
#[derive(Debug, Clone, PartialEq)]
pub struct HostileReport {
    /// The attack.
    pub attack: Attack,
    /// Its count.
    pub count: usize,
    /// How long it was to be held (`large-certs`: the bound).
    pub hold: Duration,
    /// How long it was held.
    pub elapsed: Duration,
    /// The server's PID.
    pub server_pid: u32,
    /// VmRSS of the server before the attack (after a warm-up round trip), KiB.
    pub rss_before_kib: u64,
    /// Highest VmRSS of the server during the attack, KiB.
    pub rss_peak_kib: u64,
    /// VmRSS of the server after the attack (its connections closed), KiB.
    pub rss_after_kib: Option<u64>,
    /// The normal client's round trips.
    pub round_trips: RoundTrips,
    /// The attack's counters.
    pub counts: AttackCounts,
    /// Why the attack was stopped early, if it was.
    pub aborted: Option<String>,
    /// What the report is judged by.
    pub targets: Targets,
}

impl HostileReport {
    /// The targets missed (empty: all met).
    pub fn missed(&self) -> Vec<String> {
        let t = &self.targets;
        let mut missed = Vec::new();
        if self.rss_peak_kib > t.max_rss_kib {
            missed.push(format!(
                "peak RSS {:.1} MiB > {:.0} MiB",
                mib(self.rss_peak_kib),
                mib(t.max_rss_kib)
            ));
        }
        let limit_ms = t.max_round_trip.as_secs_f64() * 1000.0;
        if let Some(max) = self.round_trips.max_ms()
            && max > limit_ms
        {
            missed.push(format!("round trip {max:.0} ms > {limit_ms:.0} ms"));
        }
        if self.round_trips.failed > 0 {
            missed.push(format!("{} round trips failed", self.round_trips.failed));
        }
        if self.round_trips.completed == 0 {
            missed.push("no round trip completed".to_owned());
        }
        if let Some(reason) = &self.aborted {
            missed.push(format!("aborted: {reason}"));
        }
        if let AttackCounts::LargeCerts(c) = &self.counts
            && c.accepted > 0
        {
            missed.push(format!(
                "{} messages with a foreign certificate accepted",
                c.accepted
            ));
        }
        missed
    }

    /// Every target met.
    pub fn targets_met(&self) -> bool {
        self.missed().is_empty()
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let rt = &self.round_trips;
        json!({
            "attack": self.attack.as_str(),
            "count": self.count,
            "hold_seconds": self.hold.as_secs_f64(),
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "server": {
                "pid": self.server_pid,
                "rss_before_kib": self.rss_before_kib,
                "rss_peak_kib": self.rss_peak_kib,
                "rss_after_kib": self.rss_after_kib,
            },
            "round_trips": {
                "completed": rt.completed,
                "failed": rt.failed,
                "latency_ms": {
                    "p50": rt.p50_ms(),
                    "p99": percentile(&rt.latencies_ms, 0.99),
                    "max": rt.max_ms(),
                },
                "first_failures": rt.first_failures,
            },
            "attack_counts": self.counts.to_json(),
            "aborted": self.aborted,
            "targets": {
                "max_rss_kib": self.targets.max_rss_kib,
                "max_round_trip_ms": self.targets.max_round_trip.as_millis() as u64,
                "met": self.targets_met(),
                "missed": self.missed(),
            },
        })
    }

    /// One row of the table of [`MARKDOWN_HEADER`], with a line break.
    pub fn to_markdown(&self) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.0} ms"));
        let rt = &self.round_trips;
        let missed = self.missed();
        format!(
            "| {} ×{}, {:.0} s | {:.1} MiB | {:.1} MiB | {} | {} | {} | {} | {} | {} |\n",
            self.attack.as_str(),
            self.count,
            self.elapsed.as_secs_f64(),
            mib(self.rss_before_kib),
            mib(self.rss_peak_kib),
            ms(rt.max_ms()),
            ms(rt.p50_ms()),
            rt.completed,
            rt.failed,
            self.counts.summary().replace('|', "\\|"),
            if missed.is_empty() {
                "met".to_owned()
            } else {
                format!("**MISS**: {}", missed.join("; ")).replace('|', "\\|")
            }
        )
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The `q` quantile of sorted values (nearest rank).
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// A flag tasks can wait for.
#[derive(Debug, Clone)]
struct Flag(Arc<watch::Sender<bool>>);

impl Flag {
    fn new() -> Flag {
        Flag(Arc::new(watch::channel(false).0))
    }

    fn raise(&self) {
        self.0.send_replace(true);
    }

    fn is_raised(&self) -> bool {
        *self.0.borrow()
    }

    async fn wait(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|raised| *raised).await;
    }
}

/// Samples the server's VmRSS until stopped, keeps the highest value, and raises `abort` when
/// it passes the abort level.
#[derive(Debug)]
struct RssWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    reason: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RssWatch {
    fn start(pid: u32, abort_kib: u64, abort: Flag) -> RssWatch {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let reason = Arc::new(Mutex::new(None));
        let (p, s, r) = (Arc::clone(&peak), Arc::clone(&stop), Arc::clone(&reason));
        let task = tokio::spawn(async move {
            loop {
                if let Some(rss) = rss_kib(pid) {
                    p.fetch_max(rss, Ordering::Relaxed);
                    if abort_kib > 0 && rss > abort_kib && !abort.is_raised() {
                        if let Ok(mut reason) = r.lock() {
                            *reason = Some(format!(
                                "the server's RSS reached {:.0} MiB (abort level {:.0} MiB)",
                                mib(rss),
                                mib(abort_kib)
                            ));
                        }
                        abort.raise();
                    }
                }
                if s.load(Ordering::Relaxed) {
                    break;
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        });
        RssWatch {
            peak,
            stop,
            reason,
            task,
        }
    }

    /// The peak and the abort reason, if any.
    async fn finish(self) -> (u64, Option<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let reason = self.reason.lock().ok().and_then(|r| r.clone());
        (self.peak.load(Ordering::Relaxed), reason)
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    sysinfo::sample(Some(pid)).and_then(|s| s.rss_kib)
}

/// Where the server is: the address to connect to, the `Host` header, the endpoint path of the
/// version, and the client's base (`http://host:port/prefix`).
#[derive(Debug, Clone)]
struct Endpoint {
    addr: SocketAddr,
    authority: String,
    path: String,
    client_base: String,
}

impl Endpoint {
    async fn resolve(base: &str, version: SchemaVersion) -> Result<Endpoint, LoadError> {
        let bad = |m: String| LoadError::Setup(format!("--base {base:?}: {m}"));
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| bad("expected http://HOST:PORT".into()))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let prefix = if prefix.is_empty() { "/smev" } else { prefix };
        if authority.is_empty() {
            return Err(bad("no host".into()));
        }
        let target = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&target)
            .await
            .map_err(|e| bad(format!("cannot resolve: {e}")))?
            .collect();
        let addr = *addrs.first().ok_or_else(|| bad("no address".into()))?;
        if !addrs.iter().all(|a| a.ip().is_loopback()) {
            return Err(bad(
                "the attacks run against a loopback address only (127.0.0.1, ::1, localhost)"
                    .into(),
            ));
        }
        Ok(Endpoint {
            addr,
            authority: authority.to_owned(),
            path: format!("{prefix}/v{}/ws", version.as_str()),
            client_base: format!("http://{authority}{prefix}"),
        })
    }
}

/// Holds the attack and measures the round trips and the server's memory.
pub async fn run(config: &HostileConfig) -> Result<HostileReport, LoadError> {
    if config.count == 0 {
        return Err(LoadError::Setup("--count must be at least 1".into()));
    }
    if config.hold.is_zero() {
        return Err(LoadError::Setup("--seconds must be positive".into()));
    }
    if config.attack == Attack::LargeCerts && config.concurrency == 0 {
        return Err(LoadError::Setup("--concurrency must be at least 1".into()));
    }
    let endpoint = Endpoint::resolve(&config.base, config.version).await?;
    let scenario = Scenario::new(Workload::Demo, false, 0, 0);
    let client = |mnemonic: &str| {
        crate::engine::make_client(
            &endpoint.client_base,
            &config.demo_dir,
            mnemonic,
            config.version,
            false,
            config.http_timeout,
        )
    };
    let normal = Arc::new(Normal {
        consumer: client(scenario.consumer)?,
        provider: client(scenario.provider)?,
        scenario: scenario.clone(),
    });
    rss_kib(config.server_pid).ok_or_else(|| {
        LoadError::Setup(format!(
            "cannot read VmRSS in /proc/{}/status of the server",
            config.server_pid
        ))
    })?;

    // A warm-up round trip, so that the level before excludes what any first call allocates
    // (and so that a server that cannot do a round trip at all is a setup error, not a finding).
    normal.round_trip(0).await.map_err(|f| {
        LoadError::Setup(format!(
            "the warm-up round trip failed (is it a server started with --demo?): {f}"
        ))
    })?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before_kib = rss_kib(config.server_pid).unwrap_or(0);

    let abort = Flag::new();
    let watch = RssWatch::start(config.server_pid, config.abort_rss_kib, abort.clone());
    let stop_round_trips = Flag::new();
    let round_trips = tokio::spawn(round_trips_until(
        Arc::clone(&normal),
        stop_round_trips.clone(),
    ));
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + config.hold;
    let counts = match config.attack {
        Attack::SlowUploads => slow_uploads(config, &endpoint, deadline, &abort).await,
        Attack::LargeCerts => {
            let attacker = Arc::new(client(scenario.consumer)?);
            AttackCounts::LargeCerts(
                large_certs(config, attacker, &scenario, deadline, &abort).await,
            )
        }
        Attack::HeaderDribble => header_dribble(config, &endpoint, deadline, &abort).await,
    };
    let elapsed = started.elapsed();
    stop_round_trips.raise();
    let round_trips = round_trips
        .await
        .map_err(|e| LoadError::Setup(format!("the round-trip task: {e}")))?;
    let (rss_peak_kib, aborted) = watch.finish().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(HostileReport {
        attack: config.attack,
        count: config.count,
        hold: config.hold,
        elapsed,
        server_pid: config.server_pid,
        rss_before_kib,
        rss_peak_kib: rss_peak_kib.max(rss_before_kib),
        rss_after_kib: rss_kib(config.server_pid),
        round_trips,
        counts,
        aborted,
        targets: config.targets,
    })
}

/// The normal client: a consumer and a provider of the demo kind.
#[derive(Debug)]
struct Normal {
    consumer: SmevClient,
    provider: SmevClient,
    scenario: Scenario,
}

/// A failed round trip: the step, the failure's kind and text.
fn step_failed(step: &str, failure: Failure) -> String {
    format!("{step}: {} — {}", failure.kind, failure.text)
}

impl Normal {
    /// Posts and checks one call.
    async fn call(
        client: &SmevClient,
        action: &str,
        xml: String,
        expected: &str,
        signed: Signed,
    ) -> Result<Answer, String> {
        let answer = client.try_post(action, xml).await.map_err(|e| {
            step_failed(
                action,
                Failure::new("http", envelope::clip(&format!("{e:?}"), 300)),
            )
        })?;
        envelope::check(client, &answer, expected, signed).map_err(|f| step_failed(action, f))?;
        Ok(answer)
    }

    /// One full round trip, every answer checked; messages of earlier runs met on the way are
    /// acknowledged and skipped.
    async fn round_trip(&self, seq: u64) -> Result<(), String> {
        let s = &self.scenario;
        let deadline = Instant::now() + ROUND_TRIP_DEADLINE;
        let late = |what: &str| {
            format!(
                "{what}: not done within {} s",
                ROUND_TRIP_DEADLINE.as_secs()
            )
        };
        let id = opensmev_client::new_message_id();
        let (business, expected) = s.request(&id, seq);
        let xml = envelope::send_request_xml(&self.consumer, &id, NODE_ID, &business, None);
        Self::call(
            &self.consumer,
            "SendRequest",
            xml,
            "SendRequestResponse",
            Signed::Always,
        )
        .await?;

        let mut backoff = Backoff::new(Duration::from_millis(20));
        let reply_to = loop {
            let xml = envelope::poll_xml(&self.provider, "GetRequest", s.ns, s.request_root, None);
            let answer = Self::call(
                &self.provider,
                "GetRequest",
                xml,
                "GetRequestResponse",
                Signed::IfMessage("RequestMessage"),
            )
            .await?;
            match envelope::delivered(&answer, "RequestMessage")
                .map_err(|f| step_failed("GetRequest", f))?
            {
                None => {}
                Some(d) => {
                    self.ack(&self.provider, &d.message_id).await?;
                    if d.message_id == id {
                        if d.content != expected {
                            return Err(step_failed(
                                "GetRequest",
                                Failure::new(
                                    "mismatch",
                                    format!("delivered {:?}, sent {expected:?}", d.content),
                                ),
                            ));
                        }
                        break d.reply_to.unwrap_or_default();
                    }
                    backoff.reset();
                    continue;
                }
            }
            if Instant::now() > deadline {
                return Err(late("GetRequest"));
            }
            tokio::time::sleep(backoff.step()).await;
        };

        let response_id = opensmev_client::new_message_id();
        let (business, expected) = s.response(&id);
        let xml =
            envelope::send_response_xml(&self.provider, &response_id, &reply_to, &business, None);
        Self::call(
            &self.provider,
            "SendResponse",
            xml,
            "SendResponseResponse",
            Signed::Always,
        )
        .await?;

        backoff.reset();
        loop {
            let xml = envelope::poll_xml(
                &self.consumer,
                "GetResponse",
                s.ns,
                s.response_root,
                Some(NODE_ID),
            );
            let answer = Self::call(
                &self.consumer,
                "GetResponse",
                xml,
                "GetResponseResponse",
                Signed::IfMessage("ResponseMessage"),
            )
            .await?;
            if let Some(d) = envelope::delivered(&answer, "ResponseMessage")
                .map_err(|f| step_failed("GetResponse", f))?
            {
                self.ack(&self.consumer, &d.message_id).await?;
                if d.original_message_id.as_deref() == Some(id.as_str()) {
                    if d.content != expected {
                        return Err(step_failed(
                            "GetResponse",
                            Failure::new(
                                "mismatch",
                                format!("delivered {:?}, sent {expected:?}", d.content),
                            ),
                        ));
                    }
                    return Ok(());
                }
                backoff.reset();
                continue;
            }
            if Instant::now() > deadline {
                return Err(late("GetResponse"));
            }
            tokio::time::sleep(backoff.step()).await;
        }
    }

    async fn ack(&self, client: &SmevClient, id: &str) -> Result<(), String> {
        Self::call(
            client,
            "Ack",
            envelope::ack_xml(client, id),
            "AckResponse",
            Signed::Never,
        )
        .await
        .map(|_| ())
    }
}

/// Round trips one after another until `stop` (the one in progress is finished).
async fn round_trips_until(normal: Arc<Normal>, stop: Flag) -> RoundTrips {
    let mut out = RoundTrips::default();
    let mut seq = 1;
    while !stop.is_raised() {
        let started = Instant::now();
        match normal.round_trip(seq).await {
            Ok(()) => {
                out.completed += 1;
                out.latencies_ms
                    .push(started.elapsed().as_secs_f64() * 1000.0);
            }
            Err(e) => {
                out.failed += 1;
                if out.first_failures.len() < 5 {
                    out.first_failures.push(format!(
                        "after {:.1} s: {}",
                        started.elapsed().as_secs_f64(),
                        envelope::clip(&e, 600)
                    ));
                }
                // A failing server is not hammered in a tight loop.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        seq += 1;
    }
    out.latencies_ms.sort_by(f64::total_cmp);
    out
}

/// How one attacking connection ended.
#[derive(Debug, Clone, Default)]
struct ConnOutcome {
    opened: bool,
    /// From the opening (or, for the oversized probe, the end of the headers) to the server's
    /// close.
    closed_after: Option<Duration>,
    status_line: Option<String>,
    answered_after: Option<Duration>,
}

/// What a connection does after its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Nothing: waits.
    Wait,
    /// One more byte of a header every second.
    Dribble,
}

/// Connects (at most [`CONNECTS_IN_FLIGHT`] attempts at a time), sends `first`, then holds the
/// connection until `done`, noting an answer and the server's close.
async fn attack_connection(
    addr: SocketAddr,
    first: Arc<[u8]>,
    then: Then,
    connects: Arc<Semaphore>,
    done: Flag,
) -> ConnOutcome {
    let mut outcome = ConnOutcome::default();
    let stream = {
        let _permit = connects.acquire().await;
        if done.is_raised() {
            return outcome;
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            _ => return outcome,
        }
    };
    outcome.opened = true;
    let opened = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    if !first.is_empty() && writer.write_all(&first).await.is_err() {
        outcome.closed_after = Some(opened.elapsed());
        return outcome;
    }
    // The one byte after the first ones' end: counted from there (the probe's answer time).
    let sent = Instant::now();
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let dribble = b"X-Opensmev-Dribble: ";
    let mut dribbled = 0usize;
    let mut received: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            _ = done.wait() => return outcome,
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    outcome.closed_after = Some(opened.elapsed());
                    return outcome;
                }
                Ok(n) => {
                    if outcome.status_line.is_none() && received.len() < 512 {
                        received.extend_from_slice(&buf[..n]);
                        if let Some(end) = received.windows(2).position(|w| w == b"\r\n") {
                            outcome.status_line =
                                Some(String::from_utf8_lossy(&received[..end]).into_owned());
                            outcome.answered_after = Some(sent.elapsed());
                        } else if received.len() >= 512 {
                            outcome.status_line =
                                Some(String::from_utf8_lossy(&received[..80]).into_owned());
                            outcome.answered_after = Some(sent.elapsed());
                        }
                    }
                }
            },
            _ = ticker.tick(), if then == Then::Dribble => {
                let byte = dribble.get(dribbled).copied().unwrap_or(b'a');
                dribbled += 1;
                if writer.write_all(&[byte]).await.is_err() {
                    outcome.closed_after = Some(opened.elapsed());
                    return outcome;
                }
            }
        }
    }
}

/// Raises `done` at the deadline or when the attack is aborted.
async fn hold_until(deadline: tokio::time::Instant, abort: &Flag, done: &Flag) {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => {}
        _ = abort.wait() => {}
    }
    done.raise();
}

fn request_head(endpoint: &Endpoint, content_length: Option<u64>) -> String {
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\n",
        endpoint.path, endpoint.authority
    );
    if let Some(length) = content_length {
        head.push_str(&format!(
            "Content-Type: text/xml; charset=utf-8\r\nSOAPAction: \"urn:SendRequest\"\r\nContent-Length: {length}\r\n\r\n"
        ));
    }
    head
}

async fn join_all(tasks: Vec<tokio::task::JoinHandle<ConnOutcome>>) -> Connections {
    let mut out = Connections::default();
    for task in tasks {
        out.add(&task.await.unwrap_or_default());
    }
    out.finish();
    out
}

async fn slow_uploads(
    config: &HostileConfig,
    endpoint: &Endpoint,
    deadline: tokio::time::Instant,
    abort: &Flag,
) -> AttackCounts {
    let done = Flag::new();
    let connects = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let mut upload = request_head(endpoint, Some(SLOW_UPLOAD_LENGTH)).into_bytes();
    upload.push(b'<');
    let upload: Arc<[u8]> = upload.into();
    let tasks: Vec<_> = (0..config.count)
        .map(|_| {
            tokio::spawn(attack_connection(
                endpoint.addr,
                Arc::clone(&upload),
                Then::Wait,
                Arc::clone(&connects),
                done.clone(),
            ))
        })
        .collect();
    let probe = tokio::spawn(attack_connection(
        endpoint.addr,
        request_head(endpoint, Some(OVERSIZED_LENGTH))
            .into_bytes()
            .into(),
        Then::Wait,
        Arc::clone(&connects),
        done.clone(),
    ));
    hold_until(deadline, abort, &done).await;
    let uploads = join_all(tasks).await;
    let probe = probe.await.unwrap_or_default();
    AttackCounts::SlowUploads {
        uploads,
        oversized: OversizedProbe {
            opened: probe.opened,
            status_line: probe.status_line,
            answered_after_ms: probe.answered_after.map(|d| d.as_millis() as u64),
            closed_after_ms: probe.closed_after.map(|d| d.as_millis() as u64),
        },
    }
}

async fn header_dribble(
    config: &HostileConfig,
    endpoint: &Endpoint,
    deadline: tokio::time::Instant,
    abort: &Flag,
) -> AttackCounts {
    let done = Flag::new();
    let connects = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let start: Arc<[u8]> = request_head(endpoint, None).into_bytes().into();
    let nothing: Arc<[u8]> = Vec::new().into();
    let spawn = |first: &Arc<[u8]>, then: Then| {
        tokio::spawn(attack_connection(
            endpoint.addr,
            Arc::clone(first),
            then,
            Arc::clone(&connects),
            done.clone(),
        ))
    };
    let dribblers: Vec<_> = (0..config.count)
        .map(|_| spawn(&start, Then::Dribble))
        .collect();
    let idle: Vec<_> = (0..config.idle_connections)
        .map(|_| spawn(&nothing, Then::Wait))
        .collect();
    hold_until(deadline, abort, &done).await;
    AttackCounts::HeaderDribble {
        dribblers: join_all(dribblers).await,
        idle: join_all(idle).await,
    }
}

/// DER of an OCTET STRING holding `content`.
fn der_octet_string(content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(0x04);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A self-signed P-256 certificate (DER), distinct for each (`run`, `index`) by its serial
/// number and subject, carrying `extension_bytes` random bytes in a non-critical extension of
/// the private OID [`LARGE_EXTENSION_OID`] (its value: an OCTET STRING of them).
pub fn large_certificate(
    run: u64,
    index: u64,
    extension_bytes: usize,
) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509Extension, X509NameBuilder};

    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "OpenSMEV hostile test")?;
    name.append_entry_by_text("CN", &format!("opensmev-hostile {run:016x} #{index}"))?;
    let name = name.build();
    let mut serial = [0u8; 16];
    serial[..8].copy_from_slice(&run.to_be_bytes());
    serial[8..].copy_from_slice(&index.to_be_bytes());
    serial[0] = (serial[0] & 0x7f) | 0x40;
    let serial = BigNum::from_slice(&serial)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let (not_before, not_after) = (
        Asn1Time::from_unix(now - 86_400)?,
        Asn1Time::from_unix(now + 365 * 86_400)?,
    );
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    let mut content = vec![0u8; extension_bytes];
    openssl::rand::rand_bytes(&mut content)?;
    let value = Asn1OctetString::new_from_bytes(&der_octet_string(&content))?;
    drop(content);
    let oid = Asn1Object::from_str(LARGE_EXTENSION_OID)?;
    builder.append_extension(X509Extension::new_from_der(&oid, false, &value)?)?;
    drop(value);
    builder.sign(&key, MessageDigest::sha256())?;
    builder.build().to_der()
}

/// `xml` with the text of its first `X509Certificate` element replaced by `base64`.
fn with_certificate(xml: &str, base64: &str) -> Option<String> {
    let open_end = xml.find("X509Certificate>")? + "X509Certificate>".len();
    let close = open_end + xml[open_end..].find("</")?;
    if !xml[close..].starts_with("</") || !xml[close..].contains("X509Certificate>") {
        return None;
    }
    let mut out = String::with_capacity(xml.len() - (close - open_end) + base64.len());
    out.push_str(&xml[..open_end]);
    out.push_str(base64);
    out.push_str(&xml[close..]);
    Some(out)
}

/// The `SendRequest` of certificate `index`: the normal client's request (a fresh message id),
/// signed, with the signature's certificate replaced by a large one. Returns (DER size, XML).
fn large_cert_request(
    client: &SmevClient,
    scenario: &Scenario,
    run: u64,
    index: u64,
    extension_bytes: usize,
) -> Result<(usize, String), String> {
    let der = large_certificate(run, index, extension_bytes)
        .map_err(|e| format!("making certificate {index}: {e}"))?;
    let text = base64::engine::general_purpose::STANDARD.encode(&der);
    let id = opensmev_client::new_message_id();
    let (business, _) = scenario.request(&id, index);
    let xml = envelope::send_request_xml(client, &id, NODE_ID, &business, None);
    let xml = with_certificate(&xml, &text)
        .ok_or_else(|| "the signed request has no X509Certificate".to_owned())?;
    Ok((der.len(), xml))
}

/// How an answer to a hostile request is counted: `HTTP <status>` plus the fault's name.
fn classify(status: u16, body: &str) -> String {
    let Ok(doc) = Document::parse(body.as_bytes(), Limits::default()) else {
        return format!("HTTP {status}");
    };
    let Some(child) = doc
        .root()
        .child(SOAP_NS, "Body")
        .and_then(|b| b.children().next())
    else {
        return format!("HTTP {status}");
    };
    if !child.is(SOAP_NS, "Fault") {
        return format!("HTTP {status} {}", child.local_name());
    }
    let name = child
        .children()
        .find(|c| c.local_name() == "detail")
        .and_then(|d| d.children().next().map(|f| f.local_name().to_owned()))
        .or_else(|| {
            child
                .children()
                .find(|c| c.local_name() == "faultcode")
                .map(|c| c.text_content())
        })
        .unwrap_or_else(|| "Fault".to_owned());
    format!("HTTP {status} fault:{name}")
}

async fn large_certs(
    config: &HostileConfig,
    attacker: Arc<SmevClient>,
    scenario: &Scenario,
    deadline: tokio::time::Instant,
    abort: &Flag,
) -> Certificates {
    let mut nonce = [0u8; 8];
    let _ = openssl::rand::rand_bytes(&mut nonce);
    let run = u64::from_be_bytes(nonce);
    let next = Arc::new(AtomicU64::new(0));
    let out = Arc::new(Mutex::new(Certificates::default()));
    let count = config.count as u64;
    let workers: Vec<_> = (0..config.concurrency.min(config.count))
        .map(|_| {
            let (attacker, scenario) = (Arc::clone(&attacker), scenario.clone());
            let (next, out, abort) = (Arc::clone(&next), Arc::clone(&out), abort.clone());
            let cert_bytes = config.cert_bytes;
            tokio::spawn(async move {
                let note = |key: String, made: Option<(usize, usize)>, accepted: bool| {
                    if let Ok(mut o) = out.lock() {
                        *o.answers.entry(key).or_default() += 1;
                        o.accepted += u64::from(accepted);
                        if let Some((der, body)) = made {
                            o.made += 1;
                            if o.certificate_der_bytes == 0 {
                                o.certificate_der_bytes = der as u64;
                                o.request_bytes = body as u64;
                            }
                        }
                    }
                };
                loop {
                    if abort.is_raised() || tokio::time::Instant::now() >= deadline {
                        return;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return;
                    }
                    let maker = Arc::clone(&attacker);
                    let scenario = scenario.clone();
                    let made = tokio::task::spawn_blocking(move || {
                        large_cert_request(&maker, &scenario, run, index, cert_bytes)
                    })
                    .await;
                    let (der, xml) = match made {
                        Ok(Ok(made)) => made,
                        Ok(Err(e)) => {
                            note(format!("error: {e}"), None, false);
                            continue;
                        }
                        Err(e) => {
                            note(format!("error: {e}"), None, false);
                            continue;
                        }
                    };
                    let body_len = xml.len();
                    let sent = attacker
                        .http
                        .post(&attacker.url)
                        .header("Content-Type", "text/xml; charset=utf-8")
                        .header("SOAPAction", "\"urn:SendRequest\"")
                        .body(xml)
                        .send()
                        .await;
                    let key = match sent {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let text = response.text().await.unwrap_or_default();
                            classify(status, &text)
                        }
                        Err(e) => format!("error: {}", transport_error(&e)),
                    };
                    let accepted = key.ends_with("SendRequestResponse");
                    note(key, Some((der, body_len)), accepted);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    out.lock().map(|o| o.clone()).unwrap_or_default()
}

/// A short, stable description of a transport error (for counting).
fn transport_error(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_request() {
        "sending the request (closed by the server?)"
    } else if e.is_decode() {
        "reading the answer"
    } else {
        "transport"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_strings_are_der() {
        assert_eq!(der_octet_string(b"ab"), vec![0x04, 0x02, b'a', b'b']);
        let long = der_octet_string(&[7u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(long.len(), 304);
        let big = der_octet_string(&vec![0u8; 4 << 20]);
        assert_eq!(&big[..5], &[0x04, 0x83, 0x40, 0x00, 0x00]);
    }

    #[test]
    fn large_certificates_are_distinct_and_carry_the_extension() {
        let a = large_certificate(1, 1, 10_000).unwrap();
        let b = large_certificate(1, 2, 10_000).unwrap();
        assert!(a.len() > 10_000 && b.len() > 10_000);
        let a = openssl::x509::X509::from_der(&a).unwrap();
        let b = openssl::x509::X509::from_der(&b).unwrap();
        assert_ne!(
            a.serial_number().to_bn().unwrap(),
            b.serial_number().to_bn().unwrap()
        );
        assert_ne!(
            format!("{:?}", a.subject_name()),
            format!("{:?}", b.subject_name())
        );
        assert!(a.verify(&a.public_key().unwrap()).unwrap());
        // Our own certificate parser reads it (as the bus will have to).
        let cert = opensmev_crypto::Certificate::from_der(&a.to_der().unwrap());
        assert!(cert.is_ok(), "{:?}", cert.err());
    }

    #[test]
    fn the_certificate_is_spliced_in() {
        let xml = "<a><ds:X509Data><ds:X509Certificate>OLD</ds:X509Certificate></ds:X509Data></a>";
        assert_eq!(
            with_certificate(xml, "NEW").unwrap(),
            "<a><ds:X509Data><ds:X509Certificate>NEW</ds:X509Certificate></ds:X509Data></a>"
        );
        assert_eq!(with_certificate("<a/>", "NEW"), None);
    }

    #[test]
    fn answers_are_classified() {
        let fault = format!(
            "<soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>x</faultstring><detail><ns2:SignatureVerificationFault xmlns:ns2=\"urn:x\"/></detail></soap:Fault></soap:Body></soap:Envelope>"
        );
        assert_eq!(
            classify(500, &fault),
            "HTTP 500 fault:SignatureVerificationFault"
        );
        assert_eq!(classify(413, "too large"), "HTTP 413");
    }

    #[test]
    fn percentiles_and_targets() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 1.0), Some(3.0));
        let mut report = HostileReport {
            attack: Attack::HeaderDribble,
            count: 3,
            hold: Duration::from_secs(1),
            elapsed: Duration::from_secs(1),
            server_pid: 1,
            rss_before_kib: 1024,
            rss_peak_kib: 2048,
            rss_after_kib: None,
            round_trips: RoundTrips {
                completed: 2,
                failed: 0,
                latencies_ms: vec![10.0, 20.0],
                first_failures: Vec::new(),
            },
            counts: AttackCounts::HeaderDribble {
                dribblers: Connections::default(),
                idle: Connections::default(),
            },
            aborted: None,
            targets: Targets::default(),
        };
        assert!(report.targets_met(), "{:?}", report.missed());
        assert!(report.to_markdown().ends_with("| met |\n"));
        report.round_trips.latencies_ms.push(2500.0);
        report.rss_peak_kib = 300 * 1024;
        assert_eq!(report.missed().len(), 2, "{:?}", report.missed());
        assert!(report.to_markdown().contains("**MISS**"));
        assert_eq!(report.to_json()["targets"]["met"], false);
    }
}
