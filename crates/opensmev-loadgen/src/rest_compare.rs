//! `opensmev-load rest-compare`: REST round trips with server-held keys against signed SOAP
//! round trips, in one process, back to back, with the same clients, window, duration, payload,
//! schema version and machine state.
//!
//! Both runs use the signed bench kind between the demo systems MFC01 → PFR01 on a spawned
//! server (demo mode + the bench registry, a fresh data directory each run): the SOAP clients
//! sign with the demo keys of MFC01 and PFR01; over REST the bus signs with the same keys, which
//! demo mode holds in its key directory (`FileKeyStore`, encrypted PKCS#8), and the clients use
//! the demo API tokens of the two systems. Same systems, certificates, signature policy, XSD and
//! message sizes: only the edge, and who signs, differ.
//!
//! With `rounds` > 1 the order alternates (SOAP, REST, REST, SOAP, …) so that a drift of the
//! machine during the comparison weighs on both alike.
//!
//! What each side computes per round trip is derived from the code paths ([`WORK`]; the SOAP
//! rows are those of [`crate::baseline::crypto`]); the report adds the empty polls the runs
//! made, the costs of a held-key load, a GOST sign and a GOST verify measured in this process
//! after the runs, and from them the crypto CPU each side spends per round trip.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opensmev_crypto::{CryptoProvider, FileKeyStore, KeyStore, OpenSslProvider};
use opensmev_types::SchemaVersion;
use serde_json::{Value, json};

use crate::baseline::round3;
use crate::compare::{MachineLoad, QUIET_CORES, Window};
use crate::report::Report;
use crate::sysinfo::{self, MachineInfo};
use crate::{Api, LoadConfig, Stop, Target};

/// A comparison.
#[derive(Debug, Clone)]
pub struct RestCompareConfig {
    /// Duration of each run.
    pub duration: Duration,
    /// Consumer clients of each run.
    pub consumers: usize,
    /// Provider clients of each run.
    pub providers: usize,
    /// Round trips in flight per consumer.
    pub window: usize,
    /// Schema version of the SOAP run (the API composes 1.3).
    pub version: SchemaVersion,
    /// Padding of the business content, bytes.
    pub payload_bytes: usize,
    /// Worker threads of the in-process server.
    pub server_threads: usize,
    /// Pairs of runs (SOAP + REST), alternating the order.
    pub rounds: usize,
    /// Calls of each measured crypto cost (0: not measured).
    pub cost_samples: usize,
    /// Progress lines on stderr.
    pub progress: bool,
    /// The command line, for the report.
    pub command_line: String,
}

impl RestCompareConfig {
    /// 10 s per run, the `compare` clients ([`crate::compare::COMPARE_CLIENTS`] + as many,
    /// window [`crate::compare::COMPARE_WINDOW`]), schema 1.3, no padding, as many server threads
    /// as CPUs, one round, 200 samples of each crypto cost.
    pub fn new() -> RestCompareConfig {
        RestCompareConfig {
            duration: Duration::from_secs(10),
            consumers: crate::compare::COMPARE_CLIENTS,
            providers: crate::compare::COMPARE_CLIENTS,
            window: crate::compare::COMPARE_WINDOW,
            version: SchemaVersion::V1_3,
            payload_bytes: 0,
            server_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            rounds: 1,
            cost_samples: 200,
            progress: false,
            command_line: String::new(),
        }
    }

    /// The load run of `api`.
    fn load_config(&self, api: Api, round: usize) -> LoadConfig {
        let mut load = LoadConfig::new(Target::Spawn {
            data_dir: None,
            server_threads: self.server_threads,
        });
        load.api = api;
        load.consumers = self.consumers;
        load.providers = self.providers;
        load.window = self.window;
        load.version = self.version;
        load.payload_bytes = self.payload_bytes;
        load.stop = Stop::Duration(self.duration);
        load.progress = self.progress;
        load.command_line = format!(
            "{} [{}, round {}]",
            self.command_line,
            api_label(api),
            round + 1
        );
        load
    }
}

impl Default for RestCompareConfig {
    fn default() -> Self {
        RestCompareConfig::new()
    }
}

fn api_label(api: Api) -> &'static str {
    match api {
        Api::Soap => "SOAP, client-signed",
        Api::Rest => "REST, server-held keys",
    }
}

/// The work one side does per round trip (empty polls not included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideWork {
    /// The edge.
    pub api: Api,
    /// `client` (the load tool: the information systems) or `bus`.
    pub side: &'static str,
    /// GOST R 34.10-2012 signatures made (each with the Streebog digest of its element).
    pub gost_signs: u64,
    /// GOST signatures verified.
    pub gost_verifies: u64,
    /// Business-content XSD validations.
    pub business_xsd: u64,
    /// Official SMEV XSD validations.
    pub official_xsd: u64,
    /// Keys read from the key directory and decrypted (`FileKeyStore::signer`).
    pub held_key_loads: u64,
    /// API tokens looked up in the store.
    pub token_lookups: u64,
    /// Per empty poll: GOST signs and verifies added.
    pub per_empty_poll: (u64, u64),
}

/// Per round trip, from the code paths:
///
/// * SOAP client (`SmevClient`): signs each of the six calls (ЭП-ОВ over
///   `SenderProvided…Data`, `MessageTypeSelector`, `AckTargetMessage`), validates each answer
///   against the official XSD and verifies the bus's ЭП-СМЭВ of the two acceptances and the two
///   deliveries; an empty poll is one more sign.
/// * SOAP bus: verifies the caller's signature of each call (`Bus::authenticate`), validates the
///   request's and the response's content against the kind's XSD, signs (ЭП-СМЭВ) the two
///   acceptances and the two deliveries; an empty poll is one more verify.
/// * REST client: no signature, no XSD (JSON over HTTP with a bearer token).
/// * REST bus, per send (`Bus::send_request_as` / `send_response_as`): validates the business
///   XML as given (so errors name the caller's lines), loads the system's key from the key
///   directory (`KeyStore::signer`: the encrypted PKCS#8 file read and decrypted on every send),
///   signs the composed call (ЭП-ОВ), then accepts it as a SOAP call — `Bus::authenticate`
///   verifies that signature and the content is validated again; per delivery
///   (`Bus::open_delivered`): verifies the stored ЭП-ОВ for the `signatures` report. No ЭП-СМЭВ
///   is made (the API does not sign what it answers), acknowledgements cost no crypto, and every
///   one of the six calls looks its token up in the store.
pub const WORK: [SideWork; 4] = [
    SideWork {
        api: Api::Soap,
        side: "client",
        gost_signs: 6,
        gost_verifies: 4,
        business_xsd: 0,
        official_xsd: 6,
        held_key_loads: 0,
        token_lookups: 0,
        per_empty_poll: (1, 0),
    },
    SideWork {
        api: Api::Soap,
        side: "bus",
        gost_signs: 4,
        gost_verifies: 6,
        business_xsd: 2,
        official_xsd: 0,
        held_key_loads: 0,
        token_lookups: 0,
        per_empty_poll: (0, 1),
    },
    SideWork {
        api: Api::Rest,
        side: "client",
        gost_signs: 0,
        gost_verifies: 0,
        business_xsd: 0,
        official_xsd: 0,
        held_key_loads: 0,
        token_lookups: 0,
        per_empty_poll: (0, 0),
    },
    SideWork {
        api: Api::Rest,
        side: "bus",
        gost_signs: 2,
        gost_verifies: 4,
        business_xsd: 4,
        official_xsd: 0,
        held_key_loads: 2,
        token_lookups: 6,
        per_empty_poll: (0, 0),
    },
];

/// Crypto costs measured in this process (median of the samples), microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CryptoCosts {
    /// Samples of each.
    pub samples: usize,
    /// `FileKeyStore::signer` of a demo system: read the encrypted key and its certificate,
    /// decrypt, load the signer.
    pub held_key_load_us: f64,
    /// Of it, loading the signer from the decrypted PEM (`CryptoProvider::load_signer`); the
    /// rest is reading the two files and decrypting the PKCS#8 key.
    pub signer_from_pem_us: f64,
    /// A raw GOST R 34.10-2012 (256) sign of 64 bytes (hash included).
    pub gost_sign_us: f64,
    /// A raw GOST verify of it.
    pub gost_verify_us: f64,
}

impl CryptoCosts {
    /// The crypto CPU of `work` per round trip with `empty_polls` per round trip, µs.
    pub fn per_round_trip_us(&self, work: &SideWork, empty_polls: f64) -> f64 {
        let signs = work.gost_signs as f64 + empty_polls * work.per_empty_poll.0 as f64;
        let verifies = work.gost_verifies as f64 + empty_polls * work.per_empty_poll.1 as f64;
        signs * self.gost_sign_us
            + verifies * self.gost_verify_us
            + work.held_key_loads as f64 * self.held_key_load_us
    }

    fn to_json(self) -> Value {
        json!({
            "samples": self.samples,
            "held_key_load_us": round3(self.held_key_load_us),
            "signer_from_pem_us": round3(self.signer_from_pem_us),
            "gost_sign_us": round3(self.gost_sign_us),
            "gost_verify_us": round3(self.gost_verify_us),
        })
    }
}

fn median_us(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// Measures [`CryptoCosts`] with the demo keys in a key directory of their own (as demo mode
/// holds them).
pub fn measure_costs(samples: usize) -> Result<CryptoCosts, String> {
    let dir = tempfile::Builder::new()
        .prefix("opensmev-keys-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let demo = opensmev_server::demo::prepare(dir.path()).map_err(|e| e.to_string())?;
    let provider: Arc<dyn CryptoProvider> = Arc::new(OpenSslProvider::new());
    let keys = FileKeyStore::open(
        dir.path().join("keys"),
        opensmev_server::demo::DEMO_KEYS_PASSPHRASE.as_bytes(),
        Arc::clone(&provider),
    )
    .map_err(|e| e.to_string())?;
    opensmev_server::demo::hold_keys(&demo, &keys).map_err(|e| e.to_string())?;
    let load = || {
        keys.signer("MFC01")
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no key held for MFC01".to_owned())
    };
    let signer = load()?;
    let plain = std::fs::read(demo.dir.join("MFC01").join("key.pem")).map_err(|e| e.to_string())?;
    let data = [0x5au8; 64];
    let signature = signer.sign(&data).map_err(|e| e.to_string())?;
    let (mut loads, mut from_pem, mut signs, mut verifies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        std::hint::black_box(load()?);
        loads.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(
            provider
                .load_signer(&plain, signer.certificate().clone())
                .map_err(|e| e.to_string())?,
        );
        from_pem.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(signer.sign(&data).map_err(|e| e.to_string())?);
        signs.push(t.elapsed());
        let t = Instant::now();
        provider
            .verify(signer.certificate(), signer.algorithm(), &data, &signature)
            .map_err(|e| e.to_string())?;
        verifies.push(t.elapsed());
    }
    Ok(CryptoCosts {
        samples: samples.max(1),
        held_key_load_us: median_us(loads),
        signer_from_pem_us: median_us(from_pem),
        gost_sign_us: median_us(signs),
        gost_verify_us: median_us(verifies),
    })
}

/// One run of the comparison.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The edge.
    pub api: Api,
    /// The round (0-based).
    pub round: usize,
    /// The load report (or why the run could not be done).
    pub report: Result<Report, String>,
    /// The machine's CPU during the run.
    pub load: Option<MachineLoad>,
}

/// Figures of one run (or all runs of one edge) derived from the reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Round trips completed.
    pub round_trips: u64,
    /// Seconds.
    pub elapsed_s: f64,
    /// Errors (calls and round trips).
    pub errors: u64,
    /// Server CPU seconds.
    pub server_cpu_s: f64,
    /// Process CPU seconds (server + load tool).
    pub process_cpu_s: f64,
    /// Empty polls (`GetRequest` + `GetResponse`).
    pub empty_polls: u64,
}

impl Figures {
    fn of(report: &Report) -> Figures {
        Figures {
            round_trips: report.round_trips(),
            elapsed_s: report.elapsed_s,
            errors: report.call_errors() + report.failed_round_trips(),
            server_cpu_s: report.server.cpu_seconds.unwrap_or(0.0),
            process_cpu_s: report.server.process_cpu_seconds.unwrap_or(0.0),
            empty_polls: ["GetRequest", "GetResponse"]
                .iter()
                .filter_map(|n| report.operation(n))
                .map(|o| o.empty)
                .sum(),
        }
    }

    fn add(self, o: Figures) -> Figures {
        Figures {
            round_trips: self.round_trips + o.round_trips,
            elapsed_s: self.elapsed_s + o.elapsed_s,
            errors: self.errors + o.errors,
            server_cpu_s: self.server_cpu_s + o.server_cpu_s,
            process_cpu_s: self.process_cpu_s + o.process_cpu_s,
            empty_polls: self.empty_polls + o.empty_polls,
        }
    }

    /// Round trips per second.
    pub fn rate(&self) -> f64 {
        self.round_trips as f64 / self.elapsed_s.max(1e-9)
    }

    fn per_round_trip(&self, x: f64) -> f64 {
        x / self.round_trips.max(1) as f64
    }

    /// Server CPU per round trip, ms.
    pub fn server_ms(&self) -> f64 {
        1000.0 * self.per_round_trip(self.server_cpu_s)
    }

    /// Load-tool CPU per round trip, ms (process − server).
    pub fn client_ms(&self) -> f64 {
        1000.0 * self.per_round_trip((self.process_cpu_s - self.server_cpu_s).max(0.0))
    }

    /// Empty polls per round trip.
    pub fn empty_per_round_trip(&self) -> f64 {
        self.per_round_trip(self.empty_polls as f64)
    }

    /// Average cores busy with the server.
    pub fn server_cores(&self) -> f64 {
        self.server_cpu_s / self.elapsed_s.max(1e-9)
    }

    /// Average cores busy with the whole process.
    pub fn process_cores(&self) -> f64 {
        self.process_cpu_s / self.elapsed_s.max(1e-9)
    }

    fn to_json(self) -> Value {
        json!({
            "round_trips": self.round_trips,
            "elapsed_s": round3(self.elapsed_s),
            "round_trips_per_second": round3(self.rate()),
            "errors": self.errors,
            "server_cpu_s": round3(self.server_cpu_s),
            "process_cpu_s": round3(self.process_cpu_s),
            "server_cpu_ms_per_round_trip": round3(self.server_ms()),
            "client_cpu_ms_per_round_trip": round3(self.client_ms()),
            "server_cores": round3(self.server_cores()),
            "process_cores": round3(self.process_cores()),
            "empty_polls_per_round_trip": round3(self.empty_per_round_trip()),
        })
    }
}

/// The comparison's report.
#[derive(Debug, Clone)]
pub struct RestCompareReport {
    /// The command line.
    pub command: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The machine.
    pub machine: MachineInfo,
    /// The settings.
    pub config: RestCompareConfig,
    /// The runs, in the order made.
    pub runs: Vec<RunOutcome>,
    /// Crypto costs measured after the runs.
    pub costs: Result<CryptoCosts, String>,
}

impl RestCompareReport {
    /// All completed runs of `api` together.
    pub fn figures(&self, api: Api) -> Figures {
        self.runs
            .iter()
            .filter(|r| r.api == api)
            .filter_map(|r| r.report.as_ref().ok())
            .map(Figures::of)
            .fold(Figures::default(), Figures::add)
    }

    /// REST round trips per second ÷ SOAP round trips per second.
    pub fn ratio(&self) -> Option<f64> {
        let (rest, soap) = (self.figures(Api::Rest), self.figures(Api::Soap));
        (soap.round_trips > 0 && rest.elapsed_s > 0.0).then(|| rest.rate() / soap.rate())
    }

    /// Whether every run could be done.
    pub fn complete(&self) -> bool {
        self.runs.iter().all(|r| r.report.is_ok())
    }

    /// Whether a run recorded errors.
    pub fn had_errors(&self) -> bool {
        self.runs.iter().any(|r| {
            r.report
                .as_ref()
                .is_ok_and(|r| r.call_errors() > 0 || r.failed_round_trips() > 0)
        })
    }

    /// The JSON document.
    pub fn to_json(&self) -> Value {
        let c = &self.config;
        let m = &self.machine;
        let summary = |api: Api| {
            let f = self.figures(api);
            let mut v = f.to_json();
            if let Ok(costs) = &self.costs {
                for w in WORK.iter().filter(|w| w.api == api) {
                    v[format!("{}_crypto_cpu_ms_per_round_trip_estimate", w.side)] = json!(round3(
                        costs.per_round_trip_us(w, f.empty_per_round_trip()) / 1000.0
                    ));
                }
            }
            v
        };
        json!({
            "tool": "opensmev-load rest-compare",
            "version": env!("CARGO_PKG_VERSION"),
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
                "duration_s": c.duration.as_secs_f64(),
                "consumers": c.consumers,
                "providers": c.providers,
                "window": c.window,
                "soap_schema": c.version.as_str(),
                "payload_bytes": c.payload_bytes,
                "server_threads": c.server_threads,
                "rounds": c.rounds,
            },
            "summary": {
                "soap": summary(Api::Soap),
                "rest": summary(Api::Rest),
                "rest_over_soap": self.ratio().map(round3),
            },
            "work_per_round_trip": WORK.iter().map(|w| json!({
                "api": w.api.as_str(),
                "side": w.side,
                "gost_signs": w.gost_signs,
                "gost_verifies": w.gost_verifies,
                "business_xsd": w.business_xsd,
                "official_xsd": w.official_xsd,
                "held_key_loads": w.held_key_loads,
                "token_lookups": w.token_lookups,
                "per_empty_poll": {"gost_signs": w.per_empty_poll.0, "gost_verifies": w.per_empty_poll.1},
            })).collect::<Vec<_>>(),
            "crypto_costs": match &self.costs {
                Ok(c) => c.to_json(),
                Err(e) => json!({ "error": e }),
            },
            "runs": self.runs.iter().map(|r| json!({
                "api": r.api.as_str(),
                "round": r.round + 1,
                "machine_load": r.load.map(MachineLoad::to_json),
                "report": match &r.report {
                    Ok(report) => report.to_json(),
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
        let _ = writeln!(
            out,
            "# OpenSMEV: REST with server-held keys against signed SOAP\n"
        );
        let _ = writeln!(out, "`{}`\n", self.command.replace('`', "'"));
        let _ = writeln!(
            out,
            "Started {}. Each run {} s, in-process server ({} threads, fresh data directory), {} consumers / {} providers, window {} (closed loop), payload {} B, SOAP schema {} (the API composes 1.3), {} round(s). Machine: {} ({} CPUs available, {} online), {}, {:.1} GiB.\n",
            self.started_at,
            c.duration.as_secs_f64(),
            c.server_threads,
            c.consumers,
            c.providers,
            c.window,
            c.payload_bytes,
            c.version.as_str(),
            c.rounds,
            m.cpu_model,
            m.nproc,
            m.cpus_online,
            m.kernel,
            m.mem_total_kib.unwrap_or(0) as f64 / 1024.0 / 1024.0
        );
        let _ = writeln!(
            out,
            "| run | round trips/s | round trip p50 ms | p99 ms | errors | server CPU cores | process CPU cores | server CPU ms / round trip | load tool CPU ms / round trip | empty polls / round trip | other load, cores |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for r in &self.runs {
            let name = format!("{} (round {})", api_label(r.api), r.round + 1);
            let other = r
                .load
                .map_or("n/a".to_owned(), |l| format!("{:.2}", l.other_cores()));
            match &r.report {
                Ok(report) => {
                    let f = Figures::of(report);
                    let rt = report.operation("RoundTrip");
                    let _ = writeln!(
                        out,
                        "| {name} | {:.1} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {other} |",
                        f.rate(),
                        rt.map_or(0.0, |o| o.p50_ms),
                        rt.map_or(0.0, |o| o.p99_ms),
                        f.errors,
                        f.server_cores(),
                        f.process_cores(),
                        f.server_ms(),
                        f.client_ms(),
                        f.empty_per_round_trip(),
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "| {name} | failed: {} | | | | | | | | | {other} |",
                        e.replace('|', "/")
                    );
                }
            }
        }
        for api in [Api::Soap, Api::Rest] {
            let f = self.figures(api);
            let _ = writeln!(
                out,
                "| **{}, all rounds** | **{:.1}** | | | {} | {:.2} | {:.2} | **{:.2}** | **{:.2}** | {:.2} | |",
                api_label(api),
                f.rate(),
                f.errors,
                f.server_cores(),
                f.process_cores(),
                f.server_ms(),
                f.client_ms(),
                f.empty_per_round_trip(),
            );
        }
        if let Some(ratio) = self.ratio() {
            let _ = writeln!(
                out,
                "\nREST ÷ SOAP round trips per second: **{ratio:.2}**. Server CPU per round trip: SOAP {:.2} ms, REST {:.2} ms; load tool CPU per round trip: SOAP {:.2} ms, REST {:.2} ms.",
                self.figures(Api::Soap).server_ms(),
                self.figures(Api::Rest).server_ms(),
                self.figures(Api::Soap).client_ms(),
                self.figures(Api::Rest).client_ms(),
            );
        }
        for r in &self.runs {
            if let Some(l) = r.load
                && l.other_cores() > QUIET_CORES
            {
                let _ = writeln!(
                    out,
                    "**The machine was not quiet** during {} (round {}): {:.2} cores of other load.",
                    api_label(r.api),
                    r.round + 1,
                    l.other_cores()
                );
            }
        }

        let _ = writeln!(out, "\n## Latency per operation (p50 / p99 ms)\n");
        let done: Vec<(&RunOutcome, &Report)> = self
            .runs
            .iter()
            .filter_map(|r| r.report.as_ref().ok().map(|rep| (r, rep)))
            .collect();
        let _ = write!(out, "| operation |");
        for (r, _) in &done {
            let _ = write!(out, " {} {} |", r.api.as_str(), r.round + 1);
        }
        let _ = writeln!(out);
        let _ = write!(out, "|---|");
        for _ in &done {
            let _ = write!(out, "--:|");
        }
        let _ = writeln!(out);
        for op in [
            "SendRequest",
            "GetRequest",
            "Ack",
            "SendResponse",
            "GetResponse",
            "Ack-response",
            "RoundTrip",
        ] {
            let _ = write!(out, "| {op} |");
            for (_, report) in &done {
                match report.operation(op) {
                    Some(o) => {
                        let _ = write!(out, " {:.2} / {:.2} |", o.p50_ms, o.p99_ms);
                    }
                    None => {
                        let _ = write!(out, " – |");
                    }
                }
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "\nREST operations: SendRequest = `POST /api/v1/requests` (201), GetRequest = `POST /api/v1/inbox/requests/next` (200/204), Ack = `POST /api/v1/messages/{{id}}/ack` (204), SendResponse = `POST /api/v1/requests/{{id}}/response` (201), GetResponse = `POST /api/v1/inbox/responses/next`. Polls include the empty ones (long polls of up to 1 s: the server's `poll_wait_ms` for SOAP, `?wait=1` for REST)."
        );

        let _ = writeln!(out, "\n## Work per round trip, each side\n");
        let _ = writeln!(
            out,
            "| edge | side | GOST signs | GOST verifies | business XSD | official XSD | held-key loads | token look-ups | per empty poll (signs + verifies) |"
        );
        let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|");
        for w in &WORK {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} + {} |",
                w.api.as_str(),
                w.side,
                w.gost_signs,
                w.gost_verifies,
                w.business_xsd,
                w.official_xsd,
                w.held_key_loads,
                w.token_lookups,
                w.per_empty_poll.0,
                w.per_empty_poll.1
            );
        }
        match &self.costs {
            Ok(costs) => {
                let _ = writeln!(
                    out,
                    "\nMeasured in this process after the runs (median of {}): a held-key lookup (`FileKeyStore::signer` of a key already loaded: it checks that the key's files did not change) {:.1} µs (loading a signer from decrypted PEM, what a first use or a changed key file adds: {:.1} µs), a raw GOST sign {:.1} µs, a raw GOST verify {:.1} µs (digests of the signed elements not included). Crypto CPU per round trip from them, with the empty polls the runs made:\n",
                    costs.samples,
                    costs.held_key_load_us,
                    costs.signer_from_pem_us,
                    costs.gost_sign_us,
                    costs.gost_verify_us
                );
                let _ = writeln!(out, "| edge | side | crypto CPU per round trip |");
                let _ = writeln!(out, "|---|---|--:|");
                for w in &WORK {
                    let empty = self.figures(w.api).empty_per_round_trip();
                    let _ = writeln!(
                        out,
                        "| {} | {} | {:.2} ms |",
                        w.api.as_str(),
                        w.side,
                        costs.per_round_trip_us(w, empty) / 1000.0
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(out, "\nThe crypto costs could not be measured: {e}");
            }
        }
        out
    }
}

/// Runs the comparison.
pub async fn run(config: RestCompareConfig) -> RestCompareReport {
    let started_at = crate::baseline::now_rfc3339();
    let mut runs = Vec::new();
    for round in 0..config.rounds.max(1) {
        let order = if round % 2 == 0 {
            [Api::Soap, Api::Rest]
        } else {
            [Api::Rest, Api::Soap]
        };
        for api in order {
            if config.progress {
                eprintln!(
                    "== rest-compare: {}, round {} ({} s)",
                    api_label(api),
                    round + 1,
                    config.duration.as_secs_f64()
                );
            }
            let window = Window::open();
            let report = crate::run(config.load_config(api, round))
                .await
                .map_err(|e| e.to_string());
            let load = window.and_then(Window::close);
            runs.push(RunOutcome {
                api,
                round,
                report,
                load,
            });
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let samples = config.cost_samples;
    let costs = if samples == 0 {
        Err("not measured (--cost-samples 0)".to_owned())
    } else {
        tokio::task::spawn_blocking(move || measure_costs(samples))
            .await
            .map_err(|e| format!("the measurement panicked: {e}"))
            .and_then(|r| r)
    };
    RestCompareReport {
        command: config.command_line.clone(),
        started_at,
        machine: sysinfo::machine(),
        config,
        runs,
        costs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_table_matches_the_crypto_bound_for_soap() {
        let per = crate::baseline::crypto::OpCounts::per_round_trip();
        let soap_client = WORK[0];
        let soap_bus = WORK[1];
        assert_eq!(soap_client.gost_signs, per.client_signs);
        assert_eq!(soap_client.gost_verifies, per.client_verifies);
        assert_eq!(soap_client.official_xsd, per.official_xsd);
        assert_eq!(soap_bus.gost_signs, per.bus_signs);
        assert_eq!(soap_bus.gost_verifies, per.bus_verifies);
        assert_eq!(soap_bus.business_xsd, per.business_xsd);
    }

    #[test]
    fn crypto_per_round_trip() {
        let costs = CryptoCosts {
            samples: 1,
            held_key_load_us: 1000.0,
            signer_from_pem_us: 100.0,
            gost_sign_us: 10.0,
            gost_verify_us: 100.0,
        };
        // SOAP bus: 4 signs + 6 verifies + 1 verify per empty poll.
        assert_eq!(costs.per_round_trip_us(&WORK[1], 2.0), 40.0 + 800.0);
        // REST bus: 2 signs + 4 verifies + 2 key loads.
        assert_eq!(
            costs.per_round_trip_us(&WORK[3], 2.0),
            20.0 + 400.0 + 2000.0
        );
        assert_eq!(costs.per_round_trip_us(&WORK[2], 5.0), 0.0);
    }

    #[test]
    fn costs_are_measured() {
        let costs = measure_costs(3).unwrap();
        assert!(costs.held_key_load_us > 0.0 && costs.gost_sign_us > 0.0);
        assert!(costs.gost_verify_us > 0.0);
        assert!(costs.signer_from_pem_us > 0.0);
    }

    #[test]
    fn a_report_without_runs_still_renders() {
        let report = RestCompareReport {
            command: "rest-compare".into(),
            started_at: "now".into(),
            machine: sysinfo::machine(),
            config: RestCompareConfig::new(),
            runs: vec![RunOutcome {
                api: Api::Rest,
                round: 0,
                report: Err("no server".into()),
                load: None,
            }],
            costs: Err("x".into()),
        };
        assert!(!report.complete());
        assert_eq!(report.ratio(), None);
        let md = report.to_markdown();
        assert!(md.contains("failed: no server"), "{md}");
        assert_eq!(report.to_json()["runs"][0]["report"]["error"], "no server");
    }
}
