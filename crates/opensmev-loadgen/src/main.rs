//! `opensmev-load`: the command line of the load generator. It only parses flags, runs
//! [`opensmev_loadgen::run`] on a runtime of its own and writes the report (Markdown on stdout,
//! `--json`, `--svg`). Exit code 0 when every call and round trip succeeded, 1 when the server
//! under load made errors, 2 when the run could not be set up.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Parser, ValueEnum};
use opensmev_loadgen::{LoadConfig, Stop, Target, Workload};
use opensmev_types::SchemaVersion;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WorkloadArg {
    /// Demo kind VS00001 (PFR account) of `opensmev serve --demo`.
    Demo,
    /// Benchmark kinds (registry written by --spawn or --write-registry).
    Bench,
}

/// Load generator for OpenSMEV: full SMEV 3 round trips against the real SOAP endpoints, every
/// answer checked (XSD, SMEV signature, ids, content).
#[derive(Debug, Parser)]
#[command(name = "opensmev-load", disable_version_flag = true)]
#[command(group(ArgGroup::new("target").args(["url", "spawn", "write_registry"]).required(true)))]
#[command(group(ArgGroup::new("until").args(["duration", "round_trips"])))]
struct Args {
    /// A running server's endpoint prefix, e.g. http://127.0.0.1:7500/smev (needs --demo-dir).
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
    #[arg(long)]
    unsigned: bool,
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

fn parse_version(text: &str) -> Result<SchemaVersion, String> {
    SchemaVersion::parse(text).ok_or_else(|| format!("{text:?}: expected 1.1, 1.2 or 1.3"))
}

fn seconds(v: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v).map_err(|_| format!("{what}: {v} is not a number of seconds"))
}

/// The command line as one shell-quoted string.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
    config.http_timeout = seconds(args.http_timeout, "--http-timeout")?;
    config.progress = !args.quiet;
    config.command_line = command_line();
    Ok(config)
}

fn main() -> ExitCode {
    let args = Args::parse();
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
    }
}
