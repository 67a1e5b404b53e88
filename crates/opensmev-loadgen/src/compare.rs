//! `opensmev-load compare`: the bus and its baselines back to back on the same machine, with the
//! same duration and payload, and one table of the ratios the performance targets name:
//!
//! 1. the bus in this process (`--spawn`, bench workload), signed: every call GOST-signed, every
//!    answer checked (official XSD, bus signature);
//! 2. the same, unsigned (the test systems LOADC01/LOADP01);
//! 3. the crypto-and-validation bound ([`crate::baseline::crypto`]) on the same number of threads
//!    as the machine has CPUs;
//! 4. RabbitMQ durable hops ([`crate::baseline::rabbitmq`]) with as many producers as the bus run
//!    has consumers, as many consumers as it has providers, and the same window;
//! 5. a raw PostgreSQL `SKIP LOCKED` queue ([`crate::baseline::postgres`]) with the same
//!    producers, consumers and window as RabbitMQ.
//!
//! Targets: signed, validated round trips ≥ [`SIGNED_TARGET`] × the crypto bound; unsigned
//! message hops (2 per bus round trip) ≥ [`HOPS_TARGET`] × RabbitMQ durable hops. Unsigned hops ÷
//! PostgreSQL `SKIP LOCKED` hops is reported as information (the issue sets no target for it).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use opensmev_types::SchemaVersion;
use serde_json::{Value, json};

use crate::baseline::crypto::{self, CryptoConfig, CryptoReport, OpCounts};
use crate::baseline::postgres::{self, PostgresConfig, PostgresReport};
use crate::baseline::rabbitmq::{self, QueueType, RabbitConfig, RabbitReport};
use crate::baseline::{HopReport, round3};
use crate::report::Report;
use crate::sysinfo::{self, MachineInfo};
use crate::{LoadConfig, Stop, Target};

/// Signed round trips must reach this share of the crypto-and-validation bound.
pub const SIGNED_TARGET: f64 = 0.5;
/// Unsigned hops must reach this multiple of RabbitMQ's durable hops.
pub const HOPS_TARGET: f64 = 1.5;

/// A compare run.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// Duration of each of the five runs.
    pub duration: Duration,
    /// Payload padding of every run.
    pub payload_bytes: usize,
    /// Schema version of the bus runs and the crypto baseline.
    pub version: SchemaVersion,
    /// Bus consumers = RabbitMQ producers.
    pub consumers: usize,
    /// Bus providers = RabbitMQ consumers.
    pub providers: usize,
    /// Round trips in flight per consumer / producer.
    pub window: usize,
    /// Worker threads of the in-process server.
    pub server_threads: usize,
    /// Threads of the crypto baseline.
    pub crypto_threads: usize,
    /// The RabbitMQ broker.
    pub rabbitmq_url: String,
    /// RabbitMQ queue type.
    pub queue_type: QueueType,
    /// The PostgreSQL server of the `SKIP LOCKED` queue baseline.
    pub postgres_url: String,
    /// Progress lines on stderr.
    pub progress: bool,
    /// The command line, for the report.
    pub command_line: String,
}

impl CompareConfig {
    /// 10 s each, no padding, schema 1.2, [`COMPARE_CLIENTS`] consumers and as many providers,
    /// window [`COMPARE_WINDOW`], as many server and crypto threads as CPUs, the local broker and
    /// PostgreSQL server.
    pub fn new() -> CompareConfig {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        CompareConfig {
            duration: Duration::from_secs(10),
            payload_bytes: 0,
            version: SchemaVersion::V1_2,
            consumers: COMPARE_CLIENTS,
            providers: COMPARE_CLIENTS,
            window: COMPARE_WINDOW,
            server_threads: cpus,
            crypto_threads: cpus,
            rabbitmq_url: rabbitmq::DEFAULT_URL.to_owned(),
            queue_type: QueueType::Classic,
            postgres_url: postgres::DEFAULT_URL.to_owned(),
            progress: false,
            command_line: String::new(),
        }
    }
}

/// Clients on each side of a comparison by default: enough that every contender runs at its
/// throughput limit on a small machine (with 2 + 2 and window 4 the bus is latency-bound — a
/// provider's three calls per message are sequential — while the CPU is not saturated), as in
/// the published tables.
pub const COMPARE_CLIENTS: usize = 16;

/// Round trips in flight per consumer (producer) by default.
pub const COMPARE_WINDOW: usize = 8;

impl Default for CompareConfig {
    fn default() -> Self {
        CompareConfig::new()
    }
}

/// Above this many cores of other load during a run, the report says the machine was not quiet.
pub const QUIET_CORES: f64 = 0.2;

/// The CPU the whole machine spent during one run, and how much of it was not the run's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineLoad {
    /// Wall seconds of the run (setup and teardown included).
    pub wall_s: f64,
    /// Busy CPU seconds of all CPUs, all processes (`/proc/stat`).
    pub machine_cpu_s: f64,
    /// CPU seconds of this process (load tool, in-process server, crypto threads).
    pub own_cpu_s: f64,
    /// CPU seconds of the baselines' server processes: the RabbitMQ broker (`beam.smp`) and the
    /// PostgreSQL server (`postgres`).
    pub broker_cpu_s: f64,
}

impl MachineLoad {
    /// Cores busy with anything else (other processes, other tenants of the machine).
    pub fn other_cores(&self) -> f64 {
        ((self.machine_cpu_s - self.own_cpu_s - self.broker_cpu_s) / self.wall_s.max(1e-9)).max(0.0)
    }

    pub(crate) fn to_json(self) -> Value {
        json!({
            "wall_s": round3(self.wall_s),
            "machine_cpu_s": round3(self.machine_cpu_s),
            "own_cpu_s": round3(self.own_cpu_s),
            "broker_cpu_s": round3(self.broker_cpu_s),
            "other_cores": round3(self.other_cores()),
        })
    }
}

/// Samples taken at the start of a run.
#[derive(Debug)]
pub(crate) struct Window {
    start: Instant,
    machine: f64,
    own: f64,
    broker_pids: Vec<u32>,
    broker: f64,
    postgres: f64,
}

impl Window {
    pub(crate) fn open() -> Option<Window> {
        let broker_pids = rabbitmq::broker_pids();
        Some(Window {
            start: Instant::now(),
            machine: sysinfo::machine_busy_seconds()?,
            own: sysinfo::sample(None)?.cpu_s,
            broker: rabbitmq::cpu_of(&broker_pids).unwrap_or(0.0),
            broker_pids,
            postgres: postgres::server_cpu_seconds().unwrap_or(0.0),
        })
    }

    pub(crate) fn close(self) -> Option<MachineLoad> {
        Some(MachineLoad {
            wall_s: self.start.elapsed().as_secs_f64(),
            machine_cpu_s: sysinfo::machine_busy_seconds()? - self.machine,
            own_cpu_s: sysinfo::sample(None)?.cpu_s - self.own,
            broker_cpu_s: rabbitmq::cpu_of(&self.broker_pids).unwrap_or(0.0) - self.broker
                + (postgres::server_cpu_seconds().unwrap_or(0.0) - self.postgres),
        })
    }
}

/// The five runs and the ratios.
#[derive(Debug, Clone)]
pub struct CompareReport {
    /// The command line.
    pub command: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The machine.
    pub machine: MachineInfo,
    /// The settings.
    pub config: CompareConfig,
    /// The signed bus run (or why it could not run).
    pub signed: Result<Report, String>,
    /// The unsigned bus run.
    pub unsigned: Result<Report, String>,
    /// The crypto-and-validation bound.
    pub crypto: Result<CryptoReport, String>,
    /// The RabbitMQ baseline.
    pub rabbitmq: Result<RabbitReport, String>,
    /// The PostgreSQL `SKIP LOCKED` queue baseline.
    pub postgres: Result<PostgresReport, String>,
    /// The machine's CPU during each run: signed, unsigned, crypto, RabbitMQ, PostgreSQL.
    pub loads: [Option<MachineLoad>; 5],
}

/// A cell of durable hops: 2 per round trip, both shown; "not run" without a run.
fn hops_cell(round_trips_per_second: Option<f64>) -> String {
    round_trips_per_second.map_or_else(
        || "not run".to_owned(),
        |r| format!("{:.1} hops/s ({r:.1} round trips/s × 2)", 2.0 * r),
    )
}

fn rate(report: &Report) -> f64 {
    report.round_trips() as f64 / report.elapsed_s.max(1e-9)
}

/// Empty polls (`GetRequest` + `GetResponse`) per completed round trip.
fn empty_polls_per_round_trip(report: &Report) -> f64 {
    let empty: u64 = ["GetRequest", "GetResponse"]
        .iter()
        .filter_map(|n| report.operation(n))
        .map(|o| o.empty)
        .sum();
    empty as f64 / report.round_trips().max(1) as f64
}

fn verdict(ratio: Option<f64>, target: f64) -> &'static str {
    match ratio {
        Some(r) if r >= target => "PASS",
        Some(_) => "MISS",
        None => "n/a",
    }
}

impl CompareReport {
    /// Signed round trips per second ÷ the crypto bound.
    pub fn signed_ratio(&self) -> Option<f64> {
        let (signed, crypto) = (self.signed.as_ref().ok()?, self.crypto.as_ref().ok()?);
        (crypto.per_second > 0.0).then(|| rate(signed) / crypto.per_second)
    }

    /// Unsigned hops per second (2 per round trip) ÷ RabbitMQ durable hops per second.
    pub fn hops_ratio(&self) -> Option<f64> {
        let (unsigned, rabbit) = (self.unsigned.as_ref().ok()?, self.rabbitmq.as_ref().ok()?);
        let hops = rabbit.hops_per_second();
        (hops > 0.0).then(|| 2.0 * rate(unsigned) / hops)
    }

    /// Unsigned hops per second (2 per round trip) ÷ PostgreSQL `SKIP LOCKED` hops per second
    /// (information: no target).
    pub fn postgres_ratio(&self) -> Option<f64> {
        let (unsigned, pg) = (self.unsigned.as_ref().ok()?, self.postgres.as_ref().ok()?);
        let hops = pg.hops_per_second();
        (hops > 0.0).then(|| 2.0 * rate(unsigned) / hops)
    }

    /// Whether every run could be done.
    pub fn complete(&self) -> bool {
        self.signed.is_ok()
            && self.unsigned.is_ok()
            && self.crypto.is_ok()
            && self.rabbitmq.is_ok()
            && self.postgres.is_ok()
    }

    /// Whether any run recorded errors.
    pub fn had_errors(&self) -> bool {
        let bus = |r: &Result<Report, String>| {
            r.as_ref()
                .is_ok_and(|r| r.call_errors() > 0 || r.failed_round_trips() > 0)
        };
        bus(&self.signed)
            || bus(&self.unsigned)
            || self
                .rabbitmq
                .as_ref()
                .is_ok_and(|r| r.errors > 0 || r.failed > 0)
            || self
                .postgres
                .as_ref()
                .is_ok_and(|r| r.errors > 0 || r.failed > 0)
    }

    /// The JSON document.
    pub fn to_json(&self) -> Value {
        let c = &self.config;
        let signed_ratio = self.signed_ratio();
        let hops_ratio = self.hops_ratio();
        let postgres_ratio = self.postgres_ratio();
        let run = |r: Result<Value, &String>| match r {
            Ok(v) => v,
            Err(e) => json!({ "error": e }),
        };
        json!({
            "tool": "opensmev-load compare",
            "version": env!("CARGO_PKG_VERSION"),
            "command": self.command,
            "started_at": self.started_at,
            "machine": crypto::machine_json(&self.machine),
            "settings": {
                "duration_s": c.duration.as_secs_f64(),
                "payload_bytes": c.payload_bytes,
                "schema": c.version.as_str(),
                "consumers": c.consumers,
                "providers": c.providers,
                "window": c.window,
                "server_threads": c.server_threads,
                "crypto_threads": c.crypto_threads,
                "rabbitmq_queue_type": c.queue_type.as_str(),
            },
            "targets": [
                {
                    "name": "signed round trips / crypto-and-validation bound",
                    "opensmev_round_trips_per_second": self.signed.as_ref().ok().map(|r| round3(rate(r))),
                    "bound_round_trips_per_second": self.crypto.as_ref().ok().map(|r| round3(r.per_second)),
                    "ratio": signed_ratio.map(round3),
                    "target": SIGNED_TARGET,
                    "result": verdict(signed_ratio, SIGNED_TARGET),
                },
                {
                    "name": "unsigned hops / RabbitMQ durable hops",
                    "opensmev_hops_per_second": self.unsigned.as_ref().ok().map(|r| round3(2.0 * rate(r))),
                    "rabbitmq_hops_per_second": self.rabbitmq.as_ref().ok().map(|r| round3(r.hops_per_second())),
                    "ratio": hops_ratio.map(round3),
                    "target": HOPS_TARGET,
                    "result": verdict(hops_ratio, HOPS_TARGET),
                },
                {
                    "name": "unsigned hops / PostgreSQL SKIP LOCKED hops",
                    "opensmev_hops_per_second": self.unsigned.as_ref().ok().map(|r| round3(2.0 * rate(r))),
                    "postgres_hops_per_second": self.postgres.as_ref().ok().map(|r| round3(r.hops_per_second())),
                    "ratio": postgres_ratio.map(round3),
                    "target": null,
                    "result": if postgres_ratio.is_some() { "informational" } else { "n/a" },
                },
            ],
            "machine_load": {
                "bus_signed": self.loads[0].map(MachineLoad::to_json),
                "bus_unsigned": self.loads[1].map(MachineLoad::to_json),
                "crypto_bound": self.loads[2].map(MachineLoad::to_json),
                "rabbitmq": self.loads[3].map(MachineLoad::to_json),
                "postgres": self.loads[4].map(MachineLoad::to_json),
            },
            "runs": {
                "bus_signed": run(self.signed.as_ref().map(Report::to_json)),
                "bus_unsigned": run(self.unsigned.as_ref().map(Report::to_json)),
                "crypto_bound": run(self.crypto.as_ref().map(CryptoReport::to_json)),
                "rabbitmq": run(self.rabbitmq.as_ref().map(RabbitReport::to_json)),
                "postgres": run(self.postgres.as_ref().map(PostgresReport::to_json)),
            },
        })
    }

    /// The Markdown report: the targets table first, then the runs.
    pub fn to_markdown(&self) -> String {
        let c = &self.config;
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "# OpenSMEV against its baselines\n");
        let _ = writeln!(out, "`{}`\n", self.command.replace('`', "'"));
        let _ = writeln!(
            out,
            "Started {}. Each run {} s, payload {} B, schema {}. Machine: {} ({} CPUs available, {} online), {}, {:.1} GiB.\n",
            self.started_at,
            c.duration.as_secs_f64(),
            c.payload_bytes,
            c.version.as_str(),
            m.cpu_model,
            m.nproc,
            m.cpus_online,
            m.kernel,
            m.mem_total_kib.unwrap_or(0) as f64 / 1024.0 / 1024.0
        );
        let _ = writeln!(
            out,
            "| target | OpenSMEV | baseline | ratio | target | result |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|:-:|");
        let fmt_ratio = |r: Option<f64>| r.map_or("–".to_owned(), |r| format!("{r:.2}"));
        let signed_ratio = self.signed_ratio();
        let _ = writeln!(
            out,
            "| signed, validated round trips / crypto-and-validation bound | {} | {} | {} | ≥ {SIGNED_TARGET:.2} | **{}** |",
            match &self.signed {
                Ok(r) => format!("{:.1} round trips/s", rate(r)),
                Err(_) => "not run".to_owned(),
            },
            match &self.crypto {
                Ok(r) => format!("{:.1} round-trip equivalents/s", r.per_second),
                Err(_) => "not run".to_owned(),
            },
            fmt_ratio(signed_ratio),
            verdict(signed_ratio, SIGNED_TARGET)
        );
        let unsigned_hops = hops_cell(self.unsigned.as_ref().ok().map(rate));
        let hops_ratio = self.hops_ratio();
        let _ = writeln!(
            out,
            "| unsigned message hops / RabbitMQ durable hops | {} | {} | {} | ≥ {HOPS_TARGET:.2} | **{}** |",
            unsigned_hops,
            hops_cell(
                self.rabbitmq
                    .as_ref()
                    .ok()
                    .map(|r| r.round_trips_per_second())
            ),
            fmt_ratio(hops_ratio),
            verdict(hops_ratio, HOPS_TARGET)
        );
        let postgres_ratio = self.postgres_ratio();
        let _ = writeln!(
            out,
            "| unsigned message hops / PostgreSQL SKIP LOCKED hops | {} | {} | {} | none | {} |",
            unsigned_hops,
            hops_cell(
                self.postgres
                    .as_ref()
                    .ok()
                    .map(|r| r.round_trips_per_second())
            ),
            fmt_ratio(postgres_ratio),
            if postgres_ratio.is_some() {
                "informational"
            } else {
                "n/a"
            }
        );

        let _ = writeln!(out, "\n## The runs\n");
        let _ = writeln!(
            out,
            "| run | setup | rate | round trip p50 ms | p99 ms | errors | CPU cores busy | CPU ms per round trip | other load, cores |"
        );
        let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|");
        let other = |i: usize| {
            self.loads[i].map_or("n/a".to_owned(), |l| format!("{:.2}", l.other_cores()))
        };
        for (i, (name, run)) in [
            ("bus, signed", &self.signed),
            ("bus, unsigned", &self.unsigned),
        ]
        .into_iter()
        .enumerate()
        {
            match run {
                Ok(r) => {
                    let rt = r.operation("RoundTrip");
                    let process = r.server.process_cpu_seconds;
                    let _ = writeln!(
                        out,
                        "| {name} | in-process server ({} threads), {} consumers / {} providers, window {} | {:.1} round trips/s | {:.2} | {:.2} | {} | {} (server {}) | {} | {} |",
                        c.server_threads,
                        c.consumers,
                        c.providers,
                        c.window,
                        rate(r),
                        rt.map_or(0.0, |o| o.p50_ms),
                        rt.map_or(0.0, |o| o.p99_ms),
                        r.call_errors() + r.failed_round_trips(),
                        process.map_or("n/a".to_owned(), |p| format!(
                            "{:.2}",
                            p / r.elapsed_s.max(1e-9)
                        )),
                        r.server
                            .cpu_cores
                            .map_or("n/a".to_owned(), |p| format!("{p:.2}")),
                        process.map_or("n/a".to_owned(), |p| format!(
                            "{:.2}",
                            1000.0 * p / r.round_trips().max(1) as f64
                        )),
                        other(i),
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "| {name} | failed: {} | | | | | | | |",
                        e.replace('|', "/")
                    );
                }
            }
        }
        match &self.crypto {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "| crypto-and-validation bound | {} threads, in process, no bus | {:.1} round-trip equivalents/s | {:.2} | {:.2} | 0 | {} | {} | {} |",
                    r.threads,
                    r.per_second,
                    r.latency.p50_ms,
                    r.latency.p99_ms,
                    r.cpu_seconds.map_or("n/a".to_owned(), |s| format!(
                        "{:.2}",
                        s / r.elapsed_s.max(1e-9)
                    )),
                    r.cpu_seconds.map_or("n/a".to_owned(), |s| format!(
                        "{:.2}",
                        1000.0 * s / r.round_trips.max(1) as f64
                    )),
                    other(2),
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "| crypto-and-validation bound | failed: {} | | | | | | | |",
                    e.replace('|', "/")
                );
            }
        }
        let setup = format!(
            "{} producers / {} consumers, window {}",
            c.consumers, c.providers, c.window
        );
        hop_row(
            &mut out,
            "RabbitMQ durable hops",
            &format!("{setup}, {} queues", c.queue_type.as_str()),
            "broker",
            &self.rabbitmq,
            other(3),
        );
        hop_row(
            &mut out,
            "PostgreSQL SKIP LOCKED hops",
            &format!("{setup}, one table, polling"),
            "server",
            &self.postgres,
            other(4),
        );
        let _ = writeln!(
            out,
            "\nCPU of the bus runs: the whole process (server + load generator, which signs and verifies as much as the server); of RabbitMQ: broker (`beam.smp`) + load tool; of PostgreSQL: the `postgres` processes + load tool. Other load: CPU the machine spent on anything else during the run (`/proc/stat` minus this process, the broker and PostgreSQL). One bus round trip = 2 message hops (request and response), as one RabbitMQ round trip = 2 durable hops (persistent publish with confirm → consume → ack) and one PostgreSQL round trip = 2 durable hops (committed INSERT → committed DELETE … FOR UPDATE SKIP LOCKED … RETURNING)."
        );
        let names = [
            "signed bus run",
            "unsigned bus run",
            "crypto bound",
            "RabbitMQ baseline",
            "PostgreSQL baseline",
        ];
        for (name, load) in names.iter().zip(&self.loads) {
            if let Some(l) = load
                && l.other_cores() > QUIET_CORES
            {
                let _ = writeln!(
                    out,
                    "**The machine was not quiet** during the {name}: {:.2} cores of other load; its figures are low by up to that share, rerun for clean ones.",
                    l.other_cores()
                );
            }
        }
        if let Ok(r) = &self.crypto
            && let Some(cpu) = r.cpu_seconds
        {
            let cores = cpu / r.elapsed_s.max(1e-9);
            if cores < 0.8 * r.threads as f64 {
                let _ = writeln!(
                    out,
                    "**The crypto bound got {cores:.2} cores for its {} threads**: the machine did not deliver them (other tenants of the host?), so the bound and the signed ratio are off; rerun.",
                    r.threads
                );
            }
        }
        for (name, run) in [("signed", &self.signed), ("unsigned", &self.unsigned)] {
            if let Ok(r) = run {
                let _ = writeln!(
                    out,
                    "Empty polls in the {name} bus run: {:.2} per round trip (each one more client sign, bus verify and official XSD validation when signed; not in the bound).",
                    empty_polls_per_round_trip(r)
                );
            }
        }
        let _ = writeln!(out, "\n## Crypto and validation per signed round trip\n");
        out.push_str(&crypto::counts_markdown());
        if let Ok(r) = &self.crypto {
            let per = OpCounts::per_round_trip();
            let _ = writeln!(
                out,
                "\nDone in the bound run: {} round-trip equivalents = {} GOST signs, {} GOST verifies, {} XSD validations ({} per round trip).\n",
                r.round_trips,
                r.counts.gost_signs(),
                r.counts.gost_verifies(),
                r.counts.xsd_validations(),
                per.gost_signs() + per.gost_verifies() + per.xsd_validations()
            );
            crate::baseline::crypto::write_steps(&mut out, "step of the bound", &r.steps);
        }
        for (name, run) in [
            ("signed bus run", self.signed.as_ref().err()),
            ("unsigned bus run", self.unsigned.as_ref().err()),
            ("crypto bound", self.crypto.as_ref().err()),
            ("RabbitMQ baseline", self.rabbitmq.as_ref().err()),
            ("PostgreSQL baseline", self.postgres.as_ref().err()),
        ] {
            if let Some(e) = run {
                let _ = writeln!(out, "\nThe {name} could not run: {e}");
            }
        }
        out
    }
}

fn bus_config(config: &CompareConfig, unsigned: bool) -> LoadConfig {
    let mut load = LoadConfig::new(Target::Spawn {
        data_dir: None,
        server_threads: config.server_threads,
    });
    load.consumers = config.consumers;
    load.providers = config.providers;
    load.window = config.window;
    load.version = config.version;
    load.unsigned = unsigned;
    load.payload_bytes = config.payload_bytes;
    load.stop = Stop::Duration(config.duration);
    load.progress = config.progress;
    load.command_line = format!(
        "{} [bus run, {}]",
        config.command_line,
        if unsigned { "unsigned" } else { "signed" }
    );
    load
}

/// A pause between runs, so that one's tail (file deletion, broker flushes) does not land in
/// the next.
const SETTLE: Duration = Duration::from_secs(1);

/// Runs the five measurements back to back.
pub async fn run(config: CompareConfig) -> CompareReport {
    let started_at = crate::baseline::now_rfc3339();
    let note = |what: &str| {
        if config.progress {
            eprintln!("== compare: {what} ({} s)", config.duration.as_secs_f64());
        }
    };
    let mut loads = [None; 5];
    note("bus, signed");
    let window = Window::open();
    let signed = crate::run(bus_config(&config, false))
        .await
        .map_err(|e| e.to_string());
    loads[0] = window.and_then(Window::close);
    tokio::time::sleep(SETTLE).await;
    note("bus, unsigned");
    let window = Window::open();
    let unsigned = crate::run(bus_config(&config, true))
        .await
        .map_err(|e| e.to_string());
    loads[1] = window.and_then(Window::close);
    tokio::time::sleep(SETTLE).await;
    note("crypto-and-validation bound");
    let crypto_config = CryptoConfig {
        threads: config.crypto_threads,
        duration: config.duration,
        payload_bytes: config.payload_bytes,
        version: config.version,
        command_line: format!("{} [crypto bound]", config.command_line),
    };
    let window = Window::open();
    let crypto = tokio::task::spawn_blocking(move || crypto::run(&crypto_config))
        .await
        .map_err(|e| format!("the crypto baseline panicked: {e}"))
        .and_then(|r| r.map_err(|e| e.to_string()));
    loads[2] = window.and_then(Window::close);
    tokio::time::sleep(SETTLE).await;
    note("RabbitMQ durable hops");
    let mut rabbit_config = RabbitConfig::new(config.rabbitmq_url.clone());
    rabbit_config.producers = config.consumers;
    rabbit_config.consumers = config.providers;
    rabbit_config.window = config.window;
    rabbit_config.duration = config.duration;
    rabbit_config.payload_bytes = config.payload_bytes;
    rabbit_config.queue_type = config.queue_type;
    rabbit_config.progress = config.progress;
    rabbit_config.command_line = format!("{} [rabbitmq]", config.command_line);
    let window = Window::open();
    let rabbitmq = rabbitmq::run(&rabbit_config)
        .await
        .map_err(|e| e.to_string());
    loads[3] = window.and_then(Window::close);
    tokio::time::sleep(SETTLE).await;
    note("PostgreSQL SKIP LOCKED queue");
    let mut pg_config = PostgresConfig::new(config.postgres_url.clone());
    pg_config.producers = config.consumers;
    pg_config.consumers = config.providers;
    pg_config.window = config.window;
    pg_config.duration = config.duration;
    pg_config.payload_bytes = config.payload_bytes;
    pg_config.progress = config.progress;
    pg_config.command_line = format!("{} [postgres]", config.command_line);
    let window = Window::open();
    let postgres = postgres::run(&pg_config).await.map_err(|e| e.to_string());
    loads[4] = window.and_then(Window::close);
    CompareReport {
        command: config.command_line.clone(),
        started_at,
        machine: sysinfo::machine(),
        config,
        signed,
        unsigned,
        crypto,
        rabbitmq,
        postgres,
        loads,
    }
}

/// The row of "The runs" for a durable-queue baseline: `name`, `setup`, the rate, the round-trip
/// latency, the errors, the CPU (the server's, named `server`, and the tool's) and `other` load.
fn hop_row(
    out: &mut String,
    name: &str,
    setup: &str,
    server: &str,
    run: &Result<HopReport, String>,
    other: String,
) {
    match run {
        Ok(r) => {
            let rt = r.round_trip_latency();
            let cpu = r
                .server_cpu_seconds
                .zip(r.tool_cpu_seconds)
                .map(|(b, t)| b + t);
            let _ = writeln!(
                out,
                "| {name} | {setup} | {:.1} round trips/s | {:.2} | {:.2} | {} | {} ({server} {}) | {} | {other} |",
                r.round_trips_per_second(),
                rt.p50_ms,
                rt.p99_ms,
                r.errors + r.failed,
                cpu.map_or("n/a".to_owned(), |s| format!(
                    "{:.2}",
                    s / r.elapsed_s.max(1e-9)
                )),
                r.server_cpu_seconds.map_or("n/a".to_owned(), |s| format!(
                    "{:.2}",
                    s / r.elapsed_s.max(1e-9)
                )),
                cpu.map_or("n/a".to_owned(), |s| format!(
                    "{:.2}",
                    1000.0 * s / r.completed.max(1) as f64
                )),
            );
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "| {name} | failed: {} | | | | | | | |",
                e.replace('|', "/")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(Some(0.5), SIGNED_TARGET), "PASS");
        assert_eq!(verdict(Some(0.49), SIGNED_TARGET), "MISS");
        assert_eq!(verdict(None, HOPS_TARGET), "n/a");
    }

    #[test]
    fn a_report_without_runs_still_renders() {
        let report = CompareReport {
            command: "compare".into(),
            started_at: "now".into(),
            machine: sysinfo::machine(),
            config: CompareConfig::new(),
            signed: Err("x".into()),
            unsigned: Err("x".into()),
            crypto: Err("x".into()),
            rabbitmq: Err("RabbitMQ is not reachable".into()),
            postgres: Err("PostgreSQL is not reachable".into()),
            loads: [
                None,
                Some(MachineLoad {
                    wall_s: 10.0,
                    machine_cpu_s: 15.0,
                    own_cpu_s: 9.0,
                    broker_cpu_s: 1.0,
                }),
                None,
                None,
                None,
            ],
        };
        assert!(!report.complete());
        assert!(!report.had_errors());
        assert_eq!(report.signed_ratio(), None);
        let md = report.to_markdown();
        assert!(md.contains("| **n/a** |"), "{md}");
        assert!(md.contains("| none | n/a |"), "{md}");
        assert_eq!(report.postgres_ratio(), None);
        assert!(md.contains("RabbitMQ is not reachable"), "{md}");
        assert!(
            md.contains("The PostgreSQL baseline could not run: PostgreSQL is not reachable"),
            "{md}"
        );
        assert!(
            md.contains("not quiet** during the unsigned bus run: 0.50 cores"),
            "{md}"
        );
        let json = report.to_json();
        assert_eq!(json["targets"][0]["result"], "n/a");
        assert_eq!(
            json["runs"]["rabbitmq"]["error"],
            "RabbitMQ is not reachable"
        );
        assert_eq!(json["targets"][2]["result"], "n/a");
        assert_eq!(
            json["runs"]["postgres"]["error"],
            "PostgreSQL is not reachable"
        );
    }
}
