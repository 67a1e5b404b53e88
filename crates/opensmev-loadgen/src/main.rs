//! `opensmev-load`: the command line of the load generator. It only parses flags, runs
//! [`opensmev_loadgen::run`] on a runtime of its own and writes the report (Markdown on stdout,
//! `--json`, `--svg`). Exit code 0 when every call and round trip succeeded, 1 when the server
//! under load made errors, 2 when the run could not be set up.
//!
//! Subcommands: `baseline crypto` (the crypto-and-validation bound), `baseline rabbitmq`
//! (RabbitMQ durable hops; exit 2 when no broker answers), `baseline postgres` (a raw PostgreSQL
//! `SKIP LOCKED` queue; exit 2 when no server answers) and `compare` (the bus signed and unsigned
//! and the three baselines back to back, with the target ratios; exit 2 when a run could not be
//! done, 1 when one recorded errors — a MISS of a target is reported, not an exit code).
//! `rest-compare` runs REST round trips with server-held keys and signed SOAP round trips back
//! to back (exit 2 when a run could not be done, 1 when one recorded errors).
//! `push-compare` measures push delivery to a loopback receiver against polling, the same
//! messages on a fresh in-process server each (exit 2 when a mode could not be measured, 1 when
//! one recorded errors or duplicates).
//! `hostile` holds one attack against a running server while a normal client does round trips
//! (exit 1 when a target is missed: peak RSS, slowest round trip, a failed round trip).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use opensmev_loadgen::baseline::HopReport;
use opensmev_loadgen::baseline::crypto::CryptoConfig;
use opensmev_loadgen::baseline::postgres::PostgresConfig;
use opensmev_loadgen::baseline::rabbitmq::{DEFAULT_URL, QueueType, RabbitConfig};
use opensmev_loadgen::compare::CompareConfig;
use opensmev_loadgen::{Api, LoadConfig, RestTokens, Stop, Target, Workload};
use opensmev_types::SchemaVersion;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WorkloadArg {
    /// Demo kind VS00001 (PFR account) of `opensmev serve --demo`.
    Demo,
    /// Benchmark kinds (registry written by --spawn or --write-registry).
    Bench,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AttackArg {
    /// Connections that declare a 16 MiB body and send one byte of it (plus one declaring
    /// 10^12 bytes).
    SlowUploads,
    /// SendRequests signed with distinct certificates carrying a large private extension.
    LargeCerts,
    /// Connections that send one header byte a second and never end the headers (plus idle
    /// connections).
    HeaderDribble,
}

impl AttackArg {
    fn get(self) -> opensmev_loadgen::hostile::Attack {
        use opensmev_loadgen::hostile::Attack;
        match self {
            AttackArg::SlowUploads => Attack::SlowUploads,
            AttackArg::LargeCerts => Attack::LargeCerts,
            AttackArg::HeaderDribble => Attack::HeaderDribble,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum QueueTypeArg {
    /// Classic durable queues.
    Classic,
    /// Quorum queues.
    Quorum,
}

impl QueueTypeArg {
    fn get(self) -> QueueType {
        match self {
            QueueTypeArg::Classic => QueueType::Classic,
            QueueTypeArg::Quorum => QueueType::Quorum,
        }
    }
}

/// Load generator for OpenSMEV: full SMEV 3 round trips against the real SOAP endpoints, every
/// answer checked (XSD, SMEV signature, ids, content).
#[derive(Debug, Parser)]
#[command(name = "opensmev-load", disable_version_flag = true)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(group(ArgGroup::new("target").args(["url", "spawn", "write_registry"]).required(true)))]
#[command(group(ArgGroup::new("until").args(["duration", "round_trips"])))]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// A running server's endpoint prefix, e.g. http://127.0.0.1:7500/smev (needs --demo-dir);
    /// several nodes of one store comma-separated (client i talks to the i-th, modulo).
    #[arg(long, requires = "demo_dir")]
    url: Option<String>,
    /// <data_dir>/demo of that server (IS keys, bus certificate).
    #[arg(long)]
    demo_dir: Option<PathBuf>,
    /// PID of that server, to report its CPU time and peak RSS from /proc.
    #[arg(long, requires = "url")]
    server_pid: Option<u32>,
    /// Start the server in this process (demo keys + benchmark registry in a temporary directory).
    #[arg(long)]
    spawn: bool,
    /// With --spawn: use (and keep) this data directory. With --write-registry: where the demo
    /// keys are (created if missing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// With --spawn: worker threads of the server (default: number of CPUs).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Write <data-dir>/demo/bench-registry.toml (the benchmark registry for the demo keys there)
    /// and exit; then: opensmev serve --demo --data-dir DIR --registry DIR/demo/bench-registry.toml
    #[arg(long, requires = "data_dir")]
    write_registry: bool,

    /// Consumer clients (each polls its responses on a NodeID of its own).
    #[arg(long, default_value_t = 2)]
    consumers: usize,
    /// Provider clients (all poll the provider IS's queue).
    #[arg(long, default_value_t = 2)]
    providers: usize,
    /// Schema version: 1.1, 1.2 or 1.3.
    #[arg(long, default_value = "1.2", value_parser = parse_version)]
    version: SchemaVersion,
    /// Business content (default: bench with --spawn, demo with --url).
    #[arg(long, value_enum)]
    workload: Option<WorkloadArg>,
    /// Unsigned calls from the test IS LOADC01/LOADP01 (signature = "optional", named by the
    /// X-OpenSMEV-Mnemonic header). Bench workload only.
    #[arg(long, conflicts_with = "rest")]
    unsigned: bool,
    /// Round trips over the integration API (REST /api/v1) instead of SOAP: API tokens of role
    /// is, and the bus signs every message (ЭП-ОВ) with the key it holds for the system. With
    /// --spawn the demo tokens of MFC01/PFR01 are used; with --url give --consumer-token and
    /// --provider-token.
    #[arg(long)]
    rest: bool,
    /// With --rest --url: the consumer system's API token (osmv_…; opensmev serve --demo prints
    /// the demo ones).
    #[arg(long, requires_all = ["rest", "url", "provider_token"])]
    consumer_token: Option<String>,
    /// With --rest --url: the provider system's API token.
    #[arg(long, requires_all = ["rest", "url", "consumer_token"])]
    provider_token: Option<String>,
    /// Padding of the business content in bytes (bench: request and response; demo: response).
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// One inline (base64) attachment of this many bytes on every request and response.
    #[arg(long, default_value_t = 0)]
    attachments_bytes: usize,
    /// Start round trips for this many seconds (default 10).
    #[arg(long)]
    duration: Option<f64>,
    /// Start this many round trips.
    #[arg(long)]
    round_trips: Option<u64>,
    /// Open loop: start this many round trips per second (all consumers together); latency is
    /// measured from the scheduled start. Without it: closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Closed loop: round trips in flight per consumer (the next starts when the previous
    /// SendRequest is accepted and a slot is free).
    #[arg(long, default_value_t = 4)]
    window: usize,
    /// Open loop: round trips in flight at most.
    #[arg(long, default_value_t = 10_000)]
    max_in_flight: usize,
    /// Seconds unfinished round trips may take after the last start.
    #[arg(long, default_value_t = 10.0)]
    grace: f64,
    /// Longest pause of a poller after an empty poll, in milliseconds.
    #[arg(long, default_value_t = 20)]
    max_backoff_ms: u64,
    /// Extra clients polling empty queues all the time (GetResponse of the unsigned test
    /// consumer LOADC01, each on a node of its own), reported as "idle GetResponse".
    #[arg(long, default_value_t = 0)]
    idle_pollers: usize,
    /// With --spawn: the server's long-poll wait in milliseconds (poll_wait_ms; 0 = polls of an
    /// empty queue are answered at once). With --rest: also every receive's ?wait= (rounded up
    /// to seconds).
    #[arg(long, default_value_t = opensmev_loadgen::DEFAULT_SERVER_POLL_WAIT_MS)]
    poll_wait_ms: u64,
    /// Timeout of each HTTP call, in seconds.
    #[arg(long, default_value_t = 30.0)]
    http_timeout: f64,
    /// Worker threads of the load generator (default: number of CPUs).
    #[arg(long)]
    threads: Option<usize>,

    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the latency-over-time chart (SVG) to this file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Baselines measured without the bus.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// The bus (spawned; signed, then unsigned), the crypto bound, RabbitMQ and a PostgreSQL
    /// SKIP LOCKED queue back to back with the same duration and payload, and the ratios of the
    /// performance targets.
    Compare(CompareArgs),
    /// Fill a data directory's store with queued messages for the backlog test system LOADB01
    /// (the "throughput at depth" run); then run the load with --spawn --data-dir DIR.
    Backlog(BacklogArgs),
    /// One signed round trip carrying one large MTOM attachment (1 GiB by default) against a
    /// running server, sampling the server's resident memory (the "RSS growth" scale run). The
    /// server needs the benchmark registry and body limits above the size:
    /// OPENSMEV_MAX_MTOM_BODY_BYTES and OPENSMEV_MAX_ATTACHMENTS_BYTES.
    Attachment(AttachmentArgs),
    /// REST round trips with server-held keys (the bus signs ЭП-ОВ) against signed SOAP round
    /// trips (the clients sign), in this process, back to back, same clients, window, duration
    /// and machine state; the systems MFC01 → PFR01 with the signed bench kind on a spawned
    /// server. Reports round trips/s, latency per operation, server and load-tool CPU per round
    /// trip and the crypto each side does.
    RestCompare(RestCompareArgs),
    /// Push delivery against polling, in this process, on a fresh in-process server each: MFC01
    /// sends N requests to PFR01 over the REST API (C in flight) while PFR01 takes them — K
    /// pollers taking and acknowledging over the API, or push to a loopback receiver on K
    /// channels (REST JSON, then SOAP). Reports messages/s until the last is acknowledged in the
    /// store and the latency from a send's answer to the message's arrival (p50, p99).
    PushCompare(PushCompareArgs),
    /// Holds one attack (loopback only, bounded in time) against a running server while a
    /// normal client does signed round trips one after another, sampling the server's RSS every
    /// 50 ms. Prints one row of a Markdown table (columns: attack, RSS before, peak RSS, max
    /// round trip, p50 round trip, round trips, failures, attack counters, targets).
    Hostile(HostileArgs),
    /// A load run over the integration API spread over several nodes of one bus (consumer i
    /// sends to node i % n, provider j polls node j % n), a disruption command in the middle
    /// (--at, --run), exact bookkeeping of every message and a verdict: every accepted message
    /// delivered and acknowledged, none acknowledged twice, nothing delivered that was not
    /// sent, the clients of a dead node moved. Exit 1 when a check fails.
    Failover(FailoverArgs),
}

#[derive(Debug, clap::Args)]
struct FailoverArgs {
    /// A node, e.g. http://127.0.0.1:7501 (repeat: at least two). The first is the one the
    /// disruption is taken to kill (--lost-deliveries).
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    /// The consumer system's API token (role is; opensmev serve --demo prints MFC01's).
    #[arg(long)]
    consumer_token: String,
    /// The provider system's API token (role is; PFR01's in the demo).
    #[arg(long)]
    provider_token: String,
    /// Consumer clients (one message in flight each).
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    /// Provider clients.
    #[arg(long, default_value_t = 4)]
    providers: usize,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds after the start to run the disruption (with --run).
    #[arg(long, requires = "run")]
    at: Option<f64>,
    /// The disruption: a shell command (sh -c), e.g. "kill -9 1234".
    #[arg(long, requires = "at")]
    run: Option<String>,
    /// From 1 s before the disruption, the next N deliveries taken from the first --node are
    /// lost with it: never acknowledged anywhere (their providers then go on as before). Each
    /// must be delivered again through another node no sooner than the lease, and acknowledged
    /// once. Needs --at and --run.
    #[arg(long, default_value_t = 0)]
    lost_deliveries: usize,
    /// The servers' lease_seconds (bounds the drain: redeliveries come after it).
    #[arg(long, default_value_t = 300)]
    lease_seconds: u64,
    /// Long-poll wait of each receive (?wait=), seconds.
    #[arg(long, default_value_t = 5)]
    wait: u64,
    /// Seconds the providers may take after sending stopped (default: lease + 60).
    #[arg(long)]
    drain_timeout: Option<f64>,
    /// Seconds one message is sent again while its answers stay uncertain.
    #[arg(long, default_value_t = 60.0)]
    send_retry_timeout: f64,
    /// Timeout of each call, in seconds (a receive gets its wait on top).
    #[arg(long, default_value_t = 30.0)]
    http_timeout: f64,
    /// Worker threads of the load generator (default: number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Write the report (with every accepted id) as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

fn failover_config(a: &FailoverArgs) -> Result<opensmev_loadgen::failover::FailoverConfig, String> {
    use opensmev_loadgen::failover::{Disruption, FailoverConfig};
    let mut c = FailoverConfig::new(
        a.nodes.clone(),
        a.consumer_token.clone(),
        a.provider_token.clone(),
    );
    c.consumers = a.consumers;
    c.providers = a.providers;
    c.duration = seconds(a.duration, "--duration")?;
    if let (Some(at), Some(command)) = (a.at, &a.run) {
        c.disruption = Some(Disruption {
            at: seconds(at, "--at")?,
            command: command.clone(),
        });
    }
    c.lost_deliveries = a.lost_deliveries;
    c.lease = Duration::from_secs(a.lease_seconds);
    c.wait_s = a.wait;
    c.drain_timeout = match a.drain_timeout {
        Some(d) => seconds(d, "--drain-timeout")?,
        None => c.lease + Duration::from_secs(60),
    };
    c.send_retry_timeout = seconds(a.send_retry_timeout, "--send-retry-timeout")?;
    c.http_timeout = seconds(a.http_timeout, "--http-timeout")?;
    c.progress = !a.quiet;
    c.command_line = opensmev_loadgen::baseline::command_line();
    Ok(c)
}

#[derive(Debug, clap::Args)]
struct RestCompareArgs {
    /// Seconds of each run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Consumer clients of each run.
    #[arg(long, default_value_t = opensmev_loadgen::compare::COMPARE_CLIENTS)]
    consumers: usize,
    /// Provider clients of each run.
    #[arg(long, default_value_t = opensmev_loadgen::compare::COMPARE_CLIENTS)]
    providers: usize,
    /// Round trips in flight per consumer (closed loop).
    #[arg(long, default_value_t = opensmev_loadgen::compare::COMPARE_WINDOW)]
    window: usize,
    /// Schema version of the SOAP runs (the API composes 1.3).
    #[arg(long, default_value = "1.3", value_parser = parse_version)]
    version: SchemaVersion,
    /// Padding of the business content in bytes (request and response).
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Pairs of runs, the order alternating: SOAP, REST, REST, SOAP, …
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Samples of each crypto cost measured after the runs (held-key load, GOST sign and
    /// verify; 0: not measured).
    #[arg(long, default_value_t = 200)]
    cost_samples: usize,
    /// Worker threads of the in-process server (default: number of CPUs).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Worker threads of the load generator (default: number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Write the report (every run's full report included) as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct PushCompareArgs {
    /// Requests sent in each mode (N).
    #[arg(long, default_value_t = opensmev_loadgen::push_compare::DEFAULT_MESSAGES)]
    messages: usize,
    /// Sends in flight (C).
    #[arg(long, default_value_t = opensmev_loadgen::push_compare::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Push channels, and pollers in the poll mode (K, 1–64).
    #[arg(long, default_value_t = opensmev_loadgen::push_compare::DEFAULT_CHANNELS)]
    channels: usize,
    /// Leave out the SOAP push format (two modes: poll, push REST).
    #[arg(long)]
    no_soap: bool,
    /// Padding of the business content in bytes.
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// The longest one mode's sending and delivery may take, in seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
    /// Timeout of each HTTP call, in seconds.
    #[arg(long, default_value_t = 30.0)]
    http_timeout: f64,
    /// Worker threads of the in-process server (default: number of CPUs).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Worker threads of the load generator (default: number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

fn push_compare_config(
    a: &PushCompareArgs,
) -> Result<opensmev_loadgen::push_compare::PushCompareConfig, String> {
    let mut c = opensmev_loadgen::push_compare::PushCompareConfig::new();
    c.messages = a.messages;
    c.concurrency = a.concurrency;
    c.channels = a.channels;
    c.soap = !a.no_soap;
    c.payload_bytes = a.payload_bytes;
    c.timeout = seconds(a.timeout, "--timeout")?;
    c.http_timeout = seconds(a.http_timeout, "--http-timeout")?;
    c.server_threads = a.server_threads.unwrap_or_else(cpus);
    c.progress = !a.quiet;
    c.command_line = opensmev_loadgen::baseline::command_line();
    Ok(c)
}

#[derive(Debug, clap::Args)]
struct HostileArgs {
    /// The server, e.g. http://127.0.0.1:7500 (endpoints under /smev; give a path to use
    /// another prefix).
    #[arg(long)]
    base: String,
    /// <data_dir>/demo of that server (started with --demo: IS keys, bus certificate).
    #[arg(long)]
    demo_dir: PathBuf,
    /// The server's PID (its VmRSS is sampled from /proc every 50 ms).
    #[arg(long)]
    server_pid: u32,
    /// The attack.
    #[arg(long, value_enum)]
    attack: AttackArg,
    /// Connections (slow-uploads: 64, header-dribble: 1000) or certificates (large-certs: 1000).
    #[arg(long)]
    count: Option<usize>,
    /// Seconds the attack is held (default 30); large-certs: the longest it may take (default
    /// 600).
    #[arg(long)]
    seconds: Option<f64>,
    /// large-certs: random bytes in each certificate's extension.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    cert_bytes: usize,
    /// large-certs: requests in flight at a time.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// header-dribble: extra connections that send nothing.
    #[arg(long, default_value_t = 20)]
    idle_connections: usize,
    /// Schema version of the round trips and of the attacked endpoint: 1.1, 1.2 or 1.3.
    #[arg(long, default_value = "1.2", value_parser = parse_version)]
    version: SchemaVersion,
    /// Target: the server's peak RSS, MiB.
    #[arg(long, default_value_t = 256)]
    max_rss_mib: u64,
    /// Target: the slowest round trip, milliseconds.
    #[arg(long, default_value_t = 2000)]
    max_round_trip_ms: u64,
    /// Stop the attack early when the server's RSS passes this many MiB (0: never).
    #[arg(long, default_value_t = 2048)]
    abort_rss_mib: u64,
    /// Timeout of each HTTP call, in seconds.
    #[arg(long, default_value_t = 30.0)]
    http_timeout: f64,
    /// Write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct AttachmentArgs {
    /// The server's endpoint prefix, e.g. http://127.0.0.1:7611/smev.
    #[arg(long)]
    url: String,
    /// <data_dir>/demo of that server (IS keys, bus certificate).
    #[arg(long)]
    demo_dir: PathBuf,
    /// The server's PID (its VmRSS is sampled from /proc every 20 ms).
    #[arg(long)]
    server_pid: u32,
    /// The attachment's size in bytes.
    #[arg(long, default_value_t = 1 << 30)]
    bytes: u64,
    /// Schema version: 1.1, 1.2 or 1.3.
    #[arg(long, default_value = "1.2", value_parser = parse_version)]
    version: SchemaVersion,
    /// Write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct BacklogArgs {
    /// The data directory (created if missing; the store is DIR/store).
    #[arg(long)]
    data_dir: PathBuf,
    /// Messages to add.
    #[arg(long)]
    count: u64,
    /// Padding of each message's business content in bytes.
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum BaselineCommand {
    /// The crypto-and-validation bound: the GOST signs, verifies and XSD validations of one
    /// signed round trip (client and bus side), in process on N threads; reports round-trip
    /// equivalents per second.
    Crypto(CryptoArgs),
    /// RabbitMQ durable hops: persistent publish with publisher confirm → consume → ack, twice
    /// per round trip (request and response), in a closed loop.
    Rabbitmq(RabbitArgs),
    /// A raw PostgreSQL SKIP LOCKED queue: committed INSERT → committed DELETE … FOR UPDATE SKIP
    /// LOCKED … RETURNING (receive + ack), twice per round trip, takers polling with the bus
    /// run's backoff, in a closed loop.
    Postgres(PostgresArgs),
}

#[derive(Debug, clap::Args)]
struct CryptoArgs {
    /// Threads (default: number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Padding of the business content in bytes (request and response).
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Schema version: 1.1, 1.2 or 1.3.
    #[arg(long, default_value = "1.2", value_parser = parse_version)]
    version: SchemaVersion,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// What the two durable-queue baselines (RabbitMQ, PostgreSQL) share.
#[derive(Debug, clap::Args)]
struct HopArgs {
    /// Round-trip originators (send requests, receive their responses).
    #[arg(long, default_value_t = 2)]
    producers: usize,
    /// Request handlers (receive requests, send responses).
    #[arg(long, default_value_t = 2)]
    consumers: usize,
    /// Round trips in flight per producer (RabbitMQ: also the consumers' prefetch).
    #[arg(long, default_value_t = 4)]
    window: usize,
    /// Seconds to start round trips.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Padding of the business content in bytes (request and response).
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Seconds unfinished round trips may take after the last start.
    #[arg(long, default_value_t = 10.0)]
    grace: f64,
    /// Worker threads of the tool (default: number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct RabbitArgs {
    /// The broker.
    #[arg(long, default_value = DEFAULT_URL)]
    url: String,
    /// Queue type.
    #[arg(long, value_enum, default_value = "classic")]
    queue_type: QueueTypeArg,
    #[command(flatten)]
    hop: HopArgs,
}

#[derive(Debug, clap::Args)]
struct PostgresArgs {
    /// The server: a libpq connection string or a postgresql:// URL.
    #[arg(long, default_value = opensmev_loadgen::baseline::postgres::DEFAULT_URL)]
    url: String,
    /// Longest pause of a taker after an empty take, in milliseconds (1 ms, doubling; the bus
    /// run's poller backoff).
    #[arg(long, default_value_t = 20)]
    max_backoff_ms: u64,
    #[command(flatten)]
    hop: HopArgs,
}

#[derive(Debug, clap::Args)]
struct CompareArgs {
    /// Seconds of each run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Padding of the business content in bytes (every run).
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Schema version of the bus runs and the crypto bound.
    #[arg(long, default_value = "1.2", value_parser = parse_version)]
    version: SchemaVersion,
    /// Bus consumers = RabbitMQ producers.
    #[arg(long, default_value_t = opensmev_loadgen::compare::COMPARE_CLIENTS)]
    consumers: usize,
    /// Bus providers = RabbitMQ consumers.
    #[arg(long, default_value_t = opensmev_loadgen::compare::COMPARE_CLIENTS)]
    providers: usize,
    /// Round trips in flight per consumer / producer.
    #[arg(long, default_value_t = opensmev_loadgen::compare::COMPARE_WINDOW)]
    window: usize,
    /// Worker threads of the in-process server (default: number of CPUs).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Threads of the crypto bound (default: number of CPUs).
    #[arg(long)]
    crypto_threads: Option<usize>,
    /// The RabbitMQ broker.
    #[arg(long, default_value = DEFAULT_URL)]
    rabbitmq_url: String,
    /// RabbitMQ queue type.
    #[arg(long, value_enum, default_value = "classic")]
    queue_type: QueueTypeArg,
    /// The PostgreSQL server of the SKIP LOCKED queue baseline.
    #[arg(long, default_value = opensmev_loadgen::baseline::postgres::DEFAULT_URL)]
    postgres_url: String,
    /// Worker threads of the load generator (default: number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Write all five reports and the ratios as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.unwrap_or_else(cpus).max(1))
        .thread_name("smev-load")
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// Writes `--json`; false when it failed (said on stderr).
fn write_json(path: Option<&PathBuf>, value: &serde_json::Value) -> bool {
    let Some(path) = path else {
        return true;
    };
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    match std::fs::write(path, text + "\n") {
        Ok(()) => true,
        Err(e) => {
            eprintln!("opensmev-load: {}: {e}", path.display());
            false
        }
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("opensmev-load: {message}");
    ExitCode::from(2)
}

fn run_command(command: &Command) -> ExitCode {
    match command {
        Command::Failover(a) => {
            let config = match failover_config(a) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            let runtime = match runtime(a.threads) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let report = match runtime.block_on(opensmev_loadgen::failover::run(config)) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let written = write_json(a.out.as_ref(), &report.to_json());
            let _ = std::io::stdout()
                .lock()
                .write_all(report.to_text().as_bytes());
            if !written {
                ExitCode::from(2)
            } else if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Baseline(BaselineCommand::Crypto(a)) => {
            let duration = match seconds(a.duration, "--duration") {
                Ok(d) => d,
                Err(e) => return fail(e),
            };
            let config = CryptoConfig {
                threads: a.threads.unwrap_or_else(cpus),
                duration,
                payload_bytes: a.payload_bytes,
                version: a.version,
                command_line: opensmev_loadgen::baseline::command_line(),
            };
            match opensmev_loadgen::baseline::crypto::run(&config) {
                Ok(report) => {
                    let written = write_json(a.json.as_ref(), &report.to_json());
                    let _ = std::io::stdout().write_all(report.to_markdown().as_bytes());
                    if written {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(2)
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::Baseline(BaselineCommand::Rabbitmq(a)) => {
            let (duration, grace) = match duration_and_grace(a.hop.duration, a.hop.grace) {
                Ok(pair) => pair,
                Err(e) => return fail(e),
            };
            let mut config = RabbitConfig::new(a.url.clone());
            config.producers = a.hop.producers;
            config.consumers = a.hop.consumers;
            config.window = a.hop.window;
            config.duration = duration;
            config.grace = grace;
            config.payload_bytes = a.hop.payload_bytes;
            config.queue_type = a.queue_type.get();
            config.progress = !a.hop.quiet;
            config.command_line = opensmev_loadgen::baseline::command_line();
            let runtime = match runtime(a.hop.threads) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            hop_outcome(
                runtime.block_on(opensmev_loadgen::baseline::rabbitmq::run(&config)),
                a.hop.json.as_ref(),
            )
        }
        Command::Baseline(BaselineCommand::Postgres(a)) => {
            let (duration, grace) = match duration_and_grace(a.hop.duration, a.hop.grace) {
                Ok(pair) => pair,
                Err(e) => return fail(e),
            };
            let mut config = PostgresConfig::new(a.url.clone());
            config.producers = a.hop.producers;
            config.consumers = a.hop.consumers;
            config.window = a.hop.window;
            config.duration = duration;
            config.grace = grace;
            config.payload_bytes = a.hop.payload_bytes;
            config.max_backoff = Duration::from_millis(a.max_backoff_ms);
            config.progress = !a.hop.quiet;
            config.command_line = opensmev_loadgen::baseline::command_line();
            let runtime = match runtime(a.hop.threads) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            hop_outcome(
                runtime.block_on(opensmev_loadgen::baseline::postgres::run(&config)),
                a.hop.json.as_ref(),
            )
        }
        Command::Attachment(a) => {
            let config = opensmev_loadgen::attachment::AttachmentConfig {
                base: a.url.clone(),
                demo_dir: a.demo_dir.clone(),
                server_pid: a.server_pid,
                bytes: a.bytes,
                version: a.version,
            };
            let runtime = match runtime(None) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            match runtime.block_on(opensmev_loadgen::attachment::run(&config)) {
                Ok(report) => {
                    let _ = std::io::stdout().write_all(report.to_markdown().as_bytes());
                    if !write_json(a.json.as_ref(), &report.to_json()) {
                        ExitCode::from(2)
                    } else if report.content_ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::Hostile(a) => {
            let attack = a.attack.get();
            let mut config = opensmev_loadgen::hostile::HostileConfig::new(
                &a.base,
                &a.demo_dir,
                a.server_pid,
                attack,
            );
            if let Some(count) = a.count {
                config.count = count;
            }
            if let Some(s) = a.seconds {
                config.hold = match seconds(s, "--seconds") {
                    Ok(d) => d,
                    Err(e) => return fail(e),
                };
            }
            config.http_timeout = match seconds(a.http_timeout, "--http-timeout") {
                Ok(d) => d,
                Err(e) => return fail(e),
            };
            config.cert_bytes = a.cert_bytes;
            config.concurrency = a.concurrency;
            config.idle_connections = a.idle_connections;
            config.version = a.version;
            config.abort_rss_kib = a.abort_rss_mib.saturating_mul(1024);
            config.targets = opensmev_loadgen::hostile::Targets {
                max_rss_kib: a.max_rss_mib.saturating_mul(1024),
                max_round_trip: Duration::from_millis(a.max_round_trip_ms),
            };
            let runtime = match runtime(None) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            match runtime.block_on(opensmev_loadgen::hostile::run(&config)) {
                Ok(report) => {
                    let _ = std::io::stdout().write_all(report.to_markdown().as_bytes());
                    if !write_json(a.json.as_ref(), &report.to_json()) {
                        ExitCode::from(2)
                    } else if report.targets_met() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::Backlog(a) => {
            let config = opensmev_loadgen::backlog::BacklogConfig {
                data_dir: a.data_dir.clone(),
                count: a.count,
                payload_bytes: a.payload_bytes,
                progress: !a.quiet,
            };
            let runtime = match runtime(None) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            match runtime.block_on(opensmev_loadgen::backlog::fill(&config)) {
                Ok(report) => {
                    let line = format!(
                        "backlog: {} messages added in {:.1} s ({:.0}/s); {} pending for {}; database {:.1} GiB\n",
                        report.added,
                        report.elapsed.as_secs_f64(),
                        report.rate(),
                        report.pending,
                        opensmev_loadgen::workload::BACKLOG_SYSTEM,
                        report.database_bytes as f64 / (1u64 << 30) as f64
                    );
                    let _ = std::io::stdout().write_all(line.as_bytes());
                    if write_json(a.json.as_ref(), &report.to_json()) {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(2)
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::RestCompare(a) => {
            let duration = match seconds(a.duration, "--duration") {
                Ok(d) => d,
                Err(e) => return fail(e),
            };
            let mut config = opensmev_loadgen::rest_compare::RestCompareConfig::new();
            config.duration = duration;
            config.consumers = a.consumers;
            config.providers = a.providers;
            config.window = a.window;
            config.version = a.version;
            config.payload_bytes = a.payload_bytes;
            config.rounds = a.rounds.max(1);
            config.cost_samples = a.cost_samples;
            config.server_threads = a.server_threads.unwrap_or_else(cpus);
            config.progress = !a.quiet;
            config.command_line = opensmev_loadgen::baseline::command_line();
            let runtime = match runtime(a.threads) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let report = runtime.block_on(opensmev_loadgen::rest_compare::run(config));
            let written = write_json(a.json.as_ref(), &report.to_json());
            let _ = std::io::stdout().write_all(report.to_markdown().as_bytes());
            if !written || !report.complete() {
                ExitCode::from(2)
            } else if report.had_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::PushCompare(a) => {
            let config = match push_compare_config(a) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            let runtime = match runtime(a.threads) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let report = runtime.block_on(opensmev_loadgen::push_compare::run(config));
            let written = write_json(a.json.as_ref(), &report.to_json());
            let _ = std::io::stdout()
                .lock()
                .write_all(report.to_markdown().as_bytes());
            if !written || !report.complete() {
                ExitCode::from(2)
            } else if report.had_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Compare(a) => {
            let duration = match seconds(a.duration, "--duration") {
                Ok(d) => d,
                Err(e) => return fail(e),
            };
            let mut config = CompareConfig::new();
            config.duration = duration;
            config.payload_bytes = a.payload_bytes;
            config.version = a.version;
            config.consumers = a.consumers;
            config.providers = a.providers;
            config.window = a.window;
            config.server_threads = a.server_threads.unwrap_or_else(cpus);
            config.crypto_threads = a.crypto_threads.unwrap_or_else(cpus);
            config.rabbitmq_url = a.rabbitmq_url.clone();
            config.queue_type = a.queue_type.get();
            config.postgres_url = a.postgres_url.clone();
            config.progress = !a.quiet;
            config.command_line = opensmev_loadgen::baseline::command_line();
            let runtime = match runtime(a.threads) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let report = runtime.block_on(opensmev_loadgen::compare::run(config));
            let written = write_json(a.json.as_ref(), &report.to_json());
            let _ = std::io::stdout().write_all(report.to_markdown().as_bytes());
            if !written || !report.complete() {
                ExitCode::from(2)
            } else if report.had_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

fn parse_version(text: &str) -> Result<SchemaVersion, String> {
    SchemaVersion::parse(text).ok_or_else(|| format!("{text:?}: expected 1.1, 1.2 or 1.3"))
}

/// `--duration` and `--grace` of a durable-queue baseline.
fn duration_and_grace(duration: f64, grace: f64) -> Result<(Duration, Duration), String> {
    Ok((seconds(duration, "--duration")?, seconds(grace, "--grace")?))
}

/// Writes a durable-queue baseline's report (JSON to `json`, Markdown to stdout): exit 0, 1 when
/// round trips failed or calls erred, 2 when the report could not be written or the run could
/// not be set up.
fn hop_outcome(
    result: Result<HopReport, opensmev_loadgen::LoadError>,
    json: Option<&PathBuf>,
) -> ExitCode {
    match result {
        Ok(report) => {
            let written = write_json(json, &report.to_json());
            let _ = std::io::stdout().write_all(report.to_markdown().as_bytes());
            if !written {
                ExitCode::from(2)
            } else if report.errors > 0 || report.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(e),
    }
}

fn seconds(v: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v).map_err(|_| format!("{what}: {v} is not a number of seconds"))
}

fn config(args: &Args) -> Result<LoadConfig, String> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let target = if args.spawn {
        Target::Spawn {
            data_dir: args.data_dir.clone(),
            server_threads: args.server_threads.unwrap_or(cpus),
        }
    } else {
        Target::Url {
            base: args.url.clone().unwrap_or_default(),
            demo_dir: args.demo_dir.clone().unwrap_or_default(),
            server_pid: args.server_pid,
        }
    };
    let mut config = LoadConfig::new(target);
    config.consumers = args.consumers;
    config.providers = args.providers;
    config.version = args.version;
    if let Some(w) = args.workload {
        config.workload = match w {
            WorkloadArg::Demo => Workload::Demo,
            WorkloadArg::Bench => Workload::Bench,
        };
    }
    config.unsigned = args.unsigned;
    if args.rest {
        config.api = Api::Rest;
    }
    if let (Some(consumer), Some(provider)) = (&args.consumer_token, &args.provider_token) {
        config.rest_tokens = Some(RestTokens {
            consumer: consumer.clone(),
            provider: provider.clone(),
        });
    }
    config.payload_bytes = args.payload_bytes;
    config.attachment_bytes = args.attachments_bytes;
    config.stop = match (args.duration, args.round_trips) {
        (_, Some(n)) => Stop::RoundTrips(n),
        (Some(d), None) => Stop::Duration(seconds(d, "--duration")?),
        (None, None) => Stop::Duration(Duration::from_secs(10)),
    };
    config.rate = args.rate;
    config.window = args.window;
    config.max_in_flight = args.max_in_flight;
    config.grace = seconds(args.grace, "--grace")?;
    config.max_backoff = Duration::from_millis(args.max_backoff_ms);
    config.server_poll_wait = Duration::from_millis(args.poll_wait_ms);
    config.idle_pollers = args.idle_pollers;
    config.http_timeout = seconds(args.http_timeout, "--http-timeout")?;
    config.progress = !args.quiet;
    config.command_line = opensmev_loadgen::baseline::command_line();
    Ok(config)
}

/// Raises the soft limit of open files to the hard one: every client holds a connection, and
/// with --spawn and --idle-pollers 1000 the process needs two descriptors per poller, and
/// `hostile --attack header-dribble` opens over a thousand sockets.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by reference.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn main() -> ExitCode {
    raise_open_files_limit();
    let args = Args::parse();
    if let Some(command) = &args.command {
        return run_command(command);
    }
    if args.write_registry {
        let dir = args.data_dir.clone().unwrap_or_default();
        return match opensmev_loadgen::write_bench_registry(&dir) {
            Ok(path) => {
                eprintln!(
                    "wrote {}\nstart the server with: opensmev serve --demo --data-dir {} --registry {}",
                    path.display(),
                    dir.display(),
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("opensmev-load: {e}");
                ExitCode::from(2)
            }
        };
    }
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("opensmev-load: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }))
        .thread_name("smev-load")
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("opensmev-load: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime.block_on(opensmev_loadgen::run(config)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("opensmev-load: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed_output = false;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("opensmev-load: {}: {e}", path.display());
            failed_output = true;
        }
    }
    if let Some(path) = &args.svg
        && let Err(e) = std::fs::write(path, report.to_svg())
    {
        eprintln!("opensmev-load: {}: {e}", path.display());
        failed_output = true;
    }
    let _ = std::io::stdout().write_all(report.to_markdown().as_bytes());
    if failed_output {
        ExitCode::from(2)
    } else if report.call_errors() > 0 || report.failed_round_trips() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
        let args = Args::try_parse_from([
            "opensmev-load",
            "--spawn",
            "--version",
            "1.3",
            "--round-trips",
            "5",
        ])
        .unwrap();
        let config = config(&args).unwrap();
        assert_eq!(config.version, SchemaVersion::V1_3);
        assert_eq!(config.stop, Stop::RoundTrips(5));
        assert!(
            Args::try_parse_from(["opensmev-load", "--url", "http://x/smev"]).is_err(),
            "--url needs --demo-dir"
        );
        assert!(
            Args::try_parse_from([
                "opensmev-load",
                "--spawn",
                "--duration",
                "1",
                "--round-trips",
                "2"
            ])
            .is_err()
        );
        let args = Args::try_parse_from(["opensmev-load", "--spawn", "--rest"]).unwrap();
        let rest = super::config(&args).unwrap();
        assert_eq!((rest.api, rest.rest_tokens), (Api::Rest, None));
        assert!(
            Args::try_parse_from(["opensmev-load", "--spawn", "--rest", "--unsigned"]).is_err(),
            "over REST the bus signs"
        );
        assert!(
            Args::try_parse_from([
                "opensmev-load",
                "--spawn",
                "--rest",
                "--consumer-token",
                "osmv_x"
            ])
            .is_err(),
            "tokens go with --url, both of them"
        );
        let args = Args::try_parse_from([
            "opensmev-load",
            "--url",
            "http://h/smev",
            "--demo-dir",
            "d",
            "--rest",
            "--consumer-token",
            "osmv_c",
            "--provider-token",
            "osmv_p",
        ])
        .unwrap();
        let tokens = super::config(&args).unwrap().rest_tokens.unwrap();
        assert_eq!(
            (tokens.consumer.as_str(), tokens.provider.as_str()),
            ("osmv_c", "osmv_p")
        );
    }

    #[test]
    fn the_subcommands_parse() {
        let args = Args::try_parse_from([
            "opensmev-load",
            "baseline",
            "crypto",
            "--threads",
            "3",
            "--duration",
            "2",
            "--payload-bytes",
            "100",
        ])
        .unwrap();
        match args.command {
            Some(Command::Baseline(BaselineCommand::Crypto(a))) => {
                assert_eq!(
                    (a.threads, a.duration, a.payload_bytes),
                    (Some(3), 2.0, 100)
                );
            }
            other => panic!("{other:?}"),
        }
        let args = Args::try_parse_from([
            "opensmev-load",
            "baseline",
            "rabbitmq",
            "--producers",
            "3",
            "--consumers",
            "1",
        ])
        .unwrap();
        match args.command {
            Some(Command::Baseline(BaselineCommand::Rabbitmq(a))) => {
                assert_eq!(
                    (a.hop.producers, a.hop.consumers, a.url.as_str()),
                    (3, 1, DEFAULT_URL)
                );
            }
            other => panic!("{other:?}"),
        }
        let args = Args::try_parse_from([
            "opensmev-load",
            "baseline",
            "postgres",
            "--window",
            "8",
            "--duration",
            "20",
        ])
        .unwrap();
        match args.command {
            Some(Command::Baseline(BaselineCommand::Postgres(a))) => {
                assert_eq!(
                    (
                        a.hop.producers,
                        a.hop.window,
                        a.hop.duration,
                        a.max_backoff_ms
                    ),
                    (2, 8, 20.0, 20)
                );
                assert_eq!(a.url, opensmev_loadgen::baseline::postgres::DEFAULT_URL);
            }
            other => panic!("{other:?}"),
        }
        let args = Args::try_parse_from([
            "opensmev-load",
            "compare",
            "--duration",
            "20",
            "--json",
            "x.json",
        ])
        .unwrap();
        assert!(matches!(args.command, Some(Command::Compare(ref a)) if a.duration == 20.0));
        let args = Args::try_parse_from([
            "opensmev-load",
            "rest-compare",
            "--duration",
            "20",
            "--rounds",
            "2",
        ])
        .unwrap();
        match args.command {
            Some(Command::RestCompare(a)) => {
                assert_eq!(
                    (a.duration, a.rounds, a.consumers, a.window, a.version),
                    (20.0, 2, 16, 8, SchemaVersion::V1_3)
                );
            }
            other => panic!("{other:?}"),
        }
        let args = Args::try_parse_from([
            "opensmev-load",
            "hostile",
            "--base",
            "http://127.0.0.1:7620",
            "--demo-dir",
            "d/demo",
            "--server-pid",
            "42",
            "--attack",
            "header-dribble",
            "--count",
            "50",
            "--seconds",
            "3",
        ])
        .unwrap();
        match args.command {
            Some(Command::Hostile(a)) => {
                assert_eq!(
                    (a.server_pid, a.count, a.seconds, a.cert_bytes),
                    (42, Some(50), Some(3.0), 4 << 20)
                );
                assert_eq!(
                    a.attack.get(),
                    opensmev_loadgen::hostile::Attack::HeaderDribble
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            Args::try_parse_from([
                "opensmev-load",
                "hostile",
                "--base",
                "http://127.0.0.1:1",
                "--demo-dir",
                "d",
                "--server-pid",
                "1"
            ])
            .is_err(),
            "--attack is required"
        );
        assert!(
            Args::try_parse_from(["opensmev-load", "--spawn", "compare"]).is_err(),
            "run flags and subcommands do not mix"
        );
        assert!(
            Args::try_parse_from(["opensmev-load"]).is_err(),
            "a target is still required"
        );
    }

    #[test]
    fn the_push_compare_subcommand_parses() {
        let args = Args::try_parse_from(["opensmev-load", "push-compare"]).unwrap();
        let Some(Command::PushCompare(a)) = args.command else {
            panic!("not push-compare");
        };
        let c = push_compare_config(&a).unwrap();
        assert_eq!(
            (c.messages, c.concurrency, c.channels, c.soap),
            (2000, 8, 4, true)
        );
        let args = Args::try_parse_from([
            "opensmev-load",
            "push-compare",
            "--messages",
            "50",
            "--concurrency",
            "2",
            "--channels",
            "3",
            "--no-soap",
            "--json",
            "p.json",
        ])
        .unwrap();
        let Some(Command::PushCompare(a)) = args.command else {
            panic!("not push-compare");
        };
        let c = push_compare_config(&a).unwrap();
        assert_eq!(
            (c.messages, c.concurrency, c.channels, c.soap),
            (50, 2, 3, false)
        );
        assert_eq!(a.json, Some(PathBuf::from("p.json")));
    }

    #[test]
    fn the_failover_subcommand_parses() {
        let args = Args::try_parse_from([
            "opensmev-load",
            "failover",
            "--node",
            "http://127.0.0.1:7501",
            "--node",
            "http://127.0.0.1:7502",
            "--consumer-token",
            "osmv_c",
            "--provider-token",
            "osmv_p",
            "--at",
            "8",
            "--run",
            "kill -9 1",
            "--lease-seconds",
            "5",
            "--lost-deliveries",
            "4",
        ])
        .unwrap();
        let Some(Command::Failover(a)) = args.command else {
            panic!("not failover");
        };
        let c = failover_config(&a).unwrap();
        assert_eq!(c.nodes.len(), 2);
        assert_eq!((c.consumers, c.providers, c.wait_s), (4, 4, 5));
        assert_eq!(c.drain_timeout, Duration::from_secs(65));
        assert_eq!(c.lost_deliveries, 4);
        assert_eq!(c.disruption.unwrap().command, "kill -9 1");
        assert!(
            Args::try_parse_from([
                "opensmev-load",
                "failover",
                "--node",
                "http://a",
                "--consumer-token",
                "c",
                "--provider-token",
                "p",
                "--at",
                "8"
            ])
            .is_err(),
            "--at needs --run"
        );
    }
}
