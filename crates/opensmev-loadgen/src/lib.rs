//! The OpenSMEV load generator: drives the real SOAP endpoints with N consumer and M provider
//! clients doing full SMEV 3 round trips (SendRequest → GetRequest → Ack → SendResponse →
//! GetResponse → Ack) and reports throughput, HDR latency percentiles per operation, and the
//! server's CPU time and peak RSS, as JSON, a Markdown table and an SVG chart.
//!
//! The key design decision: **a fast wrong server cannot score.** Every answer goes through
//! `SmevClient::check` (the official XSD of its version, every SMEV signature verified against
//! the bus certificate) plus the checks the XSD cannot make (the right answer element, a bus
//! signature present where one is due, the ids and the business content and attachments the
//! other side sent — see `envelope`). Anything else is an error, counted per operation and per
//! kind, and a round trip only counts when every step of it passed.
//!
//! The other decisions:
//! * Consumer `i` sends and polls as node `opensmev-load-<i>` (`NodeID`), so the bus must route
//!   each response to the node whose request it answers (checked). The names are the same in
//!   every run, so old responses left by a run cut short are drained before the next one starts
//!   (and two runs against one server at the same time would take each other's responses).
//! * Open loop (`rate`): round trips are started on a fixed schedule and their latency is
//!   measured from the scheduled start, so a stalled server cannot hide its stall (no coordinated
//!   omission). Closed loop (default): each consumer starts its next round trip as soon as its
//!   previous `SendRequest` is accepted, with at most `window` round trips of its own in flight.
//! * `--spawn` runs the server in this process on threads of its own (see `spawn`), so one
//!   command benchmarks end to end; the server's CPU time is then summed over its threads.
//!
//! [`run`] is the library entry point (the binary `opensmev-load` parses flags and calls it; the
//! smoke test calls it directly).
//!
//! Baselines put the figures in proportion: [`baseline::crypto`] (the crypto-and-validation bound
//! of a signed round trip, in process, without the bus), [`baseline::rabbitmq`] (durable RabbitMQ
//! hops), [`baseline::postgres`] (a raw PostgreSQL `SKIP LOCKED` queue) and [`compare`] (the bus
//! signed and unsigned and the three baselines back to back, with the ratios of the performance
//! targets).
//!
//! `--rest` ([`Api::Rest`]) makes the same round trips over the integration API (`/api/v1`,
//! module `rest`) with API tokens of role `is` and the keys held by the bus: the bus signs
//! every message (ЭП-ОВ) itself, the clients sign and verify nothing and check each delivery's
//! `signatures` report instead. [`rest_compare`] runs it and the signed SOAP run back to back.
//!
//! [`push_compare`] measures push delivery (the bus POSTs each message to a loopback receiver)
//! against polling over the integration API, the same messages on a fresh server each.
//!
//! [`hostile`] holds one attack (slow uploads, certificates with huge extensions, connections
//! that never finish their headers) against a running server while a normal client does round
//! trips, and reports the round trips' latency and the server's memory.

use std::path::PathBuf;
use std::time::Duration;

use opensmev_types::SchemaVersion;

pub mod attachment;
pub mod backlog;
pub mod baseline;
pub mod compare;
mod engine;
mod envelope;
pub mod failover;
pub mod hostile;
pub mod push_compare;
mod report;
mod rest;
pub mod rest_compare;
mod spawn;
mod stats;
mod sysinfo;
pub mod workload;

pub use engine::run;
pub use report::{OperationReport, Report, ServerUsage, TimelinePoint};
pub use spawn::write_bench_registry;
pub use stats::{ErrorSample, Operation};
pub use sysinfo::{MachineInfo, machine};
pub use workload::{Workload, bench_registry};

/// Why a run cannot be done (setup problems; errors of the server under load are not this, they
/// are counted in the report).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Files, keys, the in-process server or the configuration.
    #[error("{0}")]
    Setup(String),
}

/// The long-poll wait of a spawned server, in milliseconds (see [`LoadConfig::server_poll_wait`]).
pub const DEFAULT_SERVER_POLL_WAIT_MS: u64 = 1000;

/// Which server to load.
#[derive(Debug, Clone)]
pub enum Target {
    /// A running server (`opensmev serve --demo`).
    Url {
        /// The endpoint prefix, e.g. `http://127.0.0.1:7500/smev`.
        base: String,
        /// `<data_dir>/demo` of that server (IS keys, the bus certificate).
        demo_dir: PathBuf,
        /// The server's process id, to report its CPU time and peak RSS.
        server_pid: Option<u32>,
    },
    /// Start the server in this process (demo mode + benchmark registry).
    Spawn {
        /// The data directory (a temporary one when `None`).
        data_dir: Option<PathBuf>,
        /// Worker threads of the server's runtime.
        server_threads: usize,
    },
}

/// Which edge of the bus the clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// SMEV 3 SOAP: the clients sign their calls (or are unsigned test systems) and verify the
    /// bus's signatures.
    Soap,
    /// The integration API (REST/JSON under `/api/v1`) with tokens of role `is`: the bus signs
    /// every message with the key it holds for the system (server-held keys).
    Rest,
}

impl Api {
    /// `SOAP` or `REST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Soap => "SOAP",
            Api::Rest => "REST",
        }
    }
}

/// API tokens (role `is`) for `--rest` against a running server: `opensmev serve --demo`
/// prints them for MFC01 and PFR01.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestTokens {
    /// The consumer system's token (`osmv_…`).
    pub consumer: String,
    /// The provider system's token.
    pub provider: String,
}

/// When the load stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Start round trips for this long.
    Duration(Duration),
    /// Start this many round trips.
    RoundTrips(u64),
}

/// A load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server.
    pub target: Target,
    /// Consumer clients (one `NodeID` each).
    pub consumers: usize,
    /// Provider clients (polling the same provider IS).
    pub providers: usize,
    /// Schema version of every call.
    pub version: SchemaVersion,
    /// Business content.
    pub workload: Workload,
    /// SOAP or the integration API (`--rest`).
    pub api: Api,
    /// `--rest` against a running server: the systems' API tokens (a spawned server's demo
    /// tokens are used otherwise).
    pub rest_tokens: Option<RestTokens>,
    /// Unsigned calls from the test systems (`X-OpenSMEV-Mnemonic`), bench workload only.
    pub unsigned: bool,
    /// Padding of the business content, bytes.
    pub payload_bytes: usize,
    /// One inline attachment of this many bytes per message (0: none).
    pub attachment_bytes: usize,
    /// When to stop starting round trips.
    pub stop: Stop,
    /// Open loop: round trips started per second (all consumers together).
    pub rate: Option<f64>,
    /// Closed loop: round trips in flight per consumer.
    pub window: usize,
    /// Open loop: round trips in flight at most (beyond it starts wait, their latency still
    /// counting from the schedule).
    pub max_in_flight: usize,
    /// After the last start, how long unfinished round trips may take.
    pub grace: Duration,
    /// Longest pause of a poller after an empty poll.
    pub max_backoff: Duration,
    /// Extra clients polling empty queues all the time (`GetResponse` of the unsigned test
    /// consumer, each on a node of its own that never gets a message): the load of many idle
    /// systems, measured as its own operation, while the round trips run.
    pub idle_pollers: usize,
    /// `--spawn` only: the server's long-poll wait (`poll_wait_ms`): a poll of an empty queue
    /// is held this long, or until a message comes. Zero: answered at once.
    pub server_poll_wait: Duration,
    /// Timeout of each HTTP call.
    pub http_timeout: Duration,
    /// A progress line on stderr every second.
    pub progress: bool,
    /// The command line, for the report.
    pub command_line: String,
}

impl LoadConfig {
    /// A closed-loop run of 2 consumers and 2 providers on schema 1.2 for 10 seconds, the bench
    /// workload for `--spawn` and the demo workload for a URL.
    pub fn new(target: Target) -> LoadConfig {
        let workload = match target {
            Target::Spawn { .. } => Workload::Bench,
            Target::Url { .. } => Workload::Demo,
        };
        LoadConfig {
            target,
            consumers: 2,
            providers: 2,
            version: SchemaVersion::V1_2,
            workload,
            api: Api::Soap,
            rest_tokens: None,
            unsigned: false,
            payload_bytes: 0,
            attachment_bytes: 0,
            stop: Stop::Duration(Duration::from_secs(10)),
            rate: None,
            window: 4,
            max_in_flight: 10_000,
            grace: Duration::from_secs(10),
            max_backoff: Duration::from_millis(20),
            server_poll_wait: Duration::from_millis(DEFAULT_SERVER_POLL_WAIT_MS),
            idle_pollers: 0,
            http_timeout: Duration::from_secs(30),
            progress: false,
            command_line: String::new(),
        }
    }

    fn check(&self) -> Result<(), LoadError> {
        let bad = |m: &str| Err(LoadError::Setup(m.to_owned()));
        if self.consumers == 0 || self.providers == 0 {
            return bad("at least one consumer and one provider are needed");
        }
        if self.unsigned && self.workload == Workload::Demo {
            return bad(
                "--unsigned needs the bench workload (test systems LOADC01/LOADP01 with an optional signature): use --spawn, or a server started with the registry of --write-registry and --workload bench",
            );
        }
        if self.api == Api::Rest {
            if self.unsigned {
                return bad(
                    "--rest and --unsigned do not mix: over the API the bus signs with the keys it holds",
                );
            }
            if self.idle_pollers > 0 {
                return bad("--idle-pollers are SOAP clients: not with --rest");
            }
            if matches!(self.target, Target::Url { .. }) && self.rest_tokens.is_none() {
                return bad(
                    "--rest with --url needs --consumer-token and --provider-token (API tokens of role is; opensmev serve --demo prints them)",
                );
            }
        }
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return bad("--rate must be a positive number");
        }
        if self.window == 0 || self.max_in_flight == 0 {
            return bad("--window must be at least 1");
        }
        match self.stop {
            Stop::Duration(d) if d.is_zero() => bad("--duration must be positive"),
            Stop::RoundTrips(0) => bad("--round-trips must be positive"),
            _ => Ok(()),
        }
    }
}
