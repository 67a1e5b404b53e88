//! The report of a run and its three renderings: JSON (`--json`, for machines and for comparing
//! runs), a Markdown table (stdout), and an SVG chart of round-trip latency over time (`--svg`,
//! drawn by hand: two polylines with axes, ticks and a legend, no plotting library).
//!
//! The JSON is built field by field with `serde_json::json!` rather than derived, so its shape is
//! written down here in one place and the run's internal types stay free of serialization.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::stats::{ErrorSample, Operation, Stats};
use crate::sysinfo::{MachineInfo, ProcSample};
use crate::{LoadConfig, Stop, Target};

/// One operation's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationReport {
    /// `SendRequest`, `GetRequest`, `Ack`, `SendResponse`, `GetResponse`, `Ack-response`,
    /// `RoundTrip`.
    pub name: &'static str,
    /// Calls made (round trips ended, for `RoundTrip`): `ok + errors`.
    pub calls: u64,
    /// Calls that passed every check (empty polls included).
    pub ok: u64,
    /// Polls that found the queue empty.
    pub empty: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Errors by kind.
    pub errors_by_kind: Vec<(String, u64)>,
    /// Successful calls per second of the run.
    pub per_second: f64,
    /// Latency percentiles of successful calls, milliseconds.
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

/// Server resource use over the run.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerUsage {
    /// What was measured (`in-process`, `pid N`, `not measured`).
    pub source: String,
    /// CPU seconds of the server (its threads, in-process).
    pub cpu_seconds: Option<f64>,
    /// CPU seconds of the whole process sampled (in-process: load generator included).
    pub process_cpu_seconds: Option<f64>,
    /// Average cores busy with the server.
    pub cpu_cores: Option<f64>,
    /// Peak RSS (VmHWM) of the sampled process at the end, KiB.
    pub peak_rss_kib: Option<u64>,
    /// RSS at the start, KiB.
    pub rss_start_kib: Option<u64>,
    /// RSS at the end, KiB.
    pub rss_end_kib: Option<u64>,
    /// How to read these figures.
    pub note: String,
}

/// Round trips that finished within one second.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelinePoint {
    /// The second (0 = the first second of the run).
    pub second: u64,
    /// Round trips completed.
    pub round_trips: u64,
    /// Round trips failed.
    pub errors: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

/// The report of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The command line.
    pub command: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// The machine.
    pub machine: MachineInfo,
    /// The settings, as `(name, value)` in a fixed order.
    pub settings: Vec<(&'static str, String)>,
    /// Seconds from the first start to the end of the last round trip (or the grace period).
    pub elapsed_s: f64,
    /// Round trips started.
    pub started: u64,
    /// Old messages taken out of the queues before the run.
    pub drained: u64,
    /// Per operation, in round-trip order, `RoundTrip` last.
    pub operations: Vec<OperationReport>,
    /// The first errors.
    pub first_errors: Vec<ErrorSample>,
    /// Server CPU and memory.
    pub server: ServerUsage,
    /// Round trips per second of the run.
    pub timeline: Vec<TimelinePoint>,
    /// Whether round trips started on a schedule (`--rate`).
    pub open_loop: bool,
}

/// What the engine hands over.
#[derive(Debug)]
pub(crate) struct RunFacts<'a> {
    pub(crate) config: &'a LoadConfig,
    pub(crate) base: &'a str,
    pub(crate) started_at: time::OffsetDateTime,
    pub(crate) elapsed: Duration,
    pub(crate) started: u64,
    pub(crate) drained: u64,
    pub(crate) stats: Stats,
    pub(crate) before: Option<ProcSample>,
    pub(crate) after: Option<ProcSample>,
    pub(crate) in_process: bool,
    pub(crate) pid: Option<u32>,
    pub(crate) machine: MachineInfo,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn settings(config: &LoadConfig, base: &str) -> Vec<(&'static str, String)> {
    let target = match &config.target {
        Target::Spawn { server_threads, .. } => {
            format!("in-process server (--spawn, {server_threads} server threads) at {base}")
        }
        Target::Url { .. } => base.to_owned(),
    };
    let mode = match config.rate {
        Some(rate) => format!("open loop, {rate} round trips/s (latency from the scheduled start)"),
        None => format!("closed loop, window {} per consumer", config.window),
    };
    let stop = match config.stop {
        Stop::Duration(d) => format!("{} s", d.as_secs_f64()),
        Stop::RoundTrips(n) => format!("{n} round trips"),
    };
    let payload = match config.workload {
        crate::Workload::Bench => format!("{} B (request and response)", config.payload_bytes),
        crate::Workload::Demo => format!(
            "{} B (response only: the demo request XSD has no free-text field)",
            config.payload_bytes
        ),
    };
    let (api, schema, signatures) = match config.api {
        crate::Api::Soap => (
            "SOAP (SMEV 3)".to_owned(),
            config.version.as_str().to_owned(),
            if config.unsigned {
                "none (test IS, X-OpenSMEV-Mnemonic)".to_owned()
            } else {
                "GOST R 34.10-2012 (256) ЭП-ОВ".to_owned()
            },
        ),
        crate::Api::Rest => (
            "REST /api/v1 (JSON, API tokens of role is; SendRequest = POST /requests, GetRequest = POST /inbox/requests/next, Ack = POST /messages/{id}/ack, SendResponse = POST /requests/{id}/response, GetResponse = POST /inbox/responses/next)".to_owned(),
            "as the API composes (1.3 by default)".to_owned(),
            "GOST R 34.10-2012 (256) ЭП-ОВ made by the bus with the keys it holds for the systems (server-held keys); the client signs nothing and checks each delivery's signatures report".to_owned(),
        ),
    };
    vec![
        ("target", target),
        ("api", api),
        ("workload", config.workload.as_str().to_owned()),
        ("schema", schema),
        ("signatures", signatures),
        ("consumers", config.consumers.to_string()),
        ("providers", config.providers.to_string()),
        ("mode", mode),
        ("stop", stop),
        ("payload", payload),
        (
            "attachment",
            format!("{} B inline", config.attachment_bytes),
        ),
        ("grace", format!("{} s", config.grace.as_secs_f64())),
        ("idle pollers", config.idle_pollers.to_string()),
        (
            "server long-poll wait",
            match &config.target {
                Target::Spawn { .. } => format!("{} ms", config.server_poll_wait.as_millis()),
                Target::Url { .. } => "as configured on the server (poll_wait_ms)".to_owned(),
            },
        ),
    ]
}

fn server_usage(facts: &RunFacts<'_>) -> ServerUsage {
    let secs = facts.elapsed.as_secs_f64().max(1e-9);
    let (Some(before), Some(after)) = (&facts.before, &facts.after) else {
        return ServerUsage {
            source: "not measured".to_owned(),
            cpu_seconds: None,
            process_cpu_seconds: None,
            cpu_cores: None,
            peak_rss_kib: None,
            rss_start_kib: None,
            rss_end_kib: None,
            note: "give --server-pid PID of the server process (or use --spawn) to measure CPU and memory".to_owned(),
        };
    };
    let process = after.cpu_s - before.cpu_s;
    let (source, cpu, note) = if facts.in_process {
        let server = match (&before.server_threads, &after.server_threads) {
            (Some(b), Some(a)) => Some(crate::sysinfo::threads_delta(b, a)),
            _ => None,
        };
        (
            "in-process".to_owned(),
            server,
            match facts.config.api {
                crate::Api::Soap => "server CPU = its threads (smev-srv*, opensmev-sqlite*); process CPU and peak RSS include the load generator (which signs and verifies as much as the server does)",
                crate::Api::Rest => "server CPU = its threads (smev-srv*, opensmev-sqlite*); process CPU and peak RSS include the load generator (over REST it signs and verifies nothing)",
            }
            .to_owned(),
        )
    } else {
        (
            format!("pid {}", facts.pid.unwrap_or(0)),
            Some(process),
            "peak RSS (VmHWM) is over the server's whole life, not only this run".to_owned(),
        )
    };
    ServerUsage {
        source,
        cpu_seconds: cpu,
        process_cpu_seconds: Some(process),
        cpu_cores: cpu.map(|c| c / secs),
        peak_rss_kib: after.hwm_kib,
        rss_start_kib: before.rss_kib,
        rss_end_kib: after.rss_kib,
        note,
    }
}

/// Builds the report.
pub(crate) fn build(facts: RunFacts<'_>) -> Report {
    let secs = facts.elapsed.as_secs_f64().max(1e-9);
    let operations = Operation::ALL
        .iter()
        .zip(&facts.stats.ops)
        .map(|(op, s)| {
            let errors = s.error_count();
            let h = &s.latency;
            let q = |quantile: f64| {
                if h.is_empty() {
                    0.0
                } else {
                    ms(h.value_at_quantile(quantile))
                }
            };
            OperationReport {
                name: op.name(),
                calls: s.ok + errors,
                ok: s.ok,
                empty: s.empty,
                errors,
                errors_by_kind: s.errors.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                per_second: s.ok as f64 / secs,
                p50_ms: q(0.5),
                p90_ms: q(0.9),
                p99_ms: q(0.99),
                max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
                mean_ms: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
            }
        })
        .collect();
    let timeline = facts
        .stats
        .timeline
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let h = &b.latency;
            let q = |quantile: f64| {
                if h.is_empty() {
                    0.0
                } else {
                    ms(h.value_at_quantile(quantile))
                }
            };
            TimelinePoint {
                second: i as u64,
                round_trips: h.len(),
                errors: b.errors,
                p50_ms: q(0.5),
                p99_ms: q(0.99),
            }
        })
        .collect();
    Report {
        command: facts.config.command_line.clone(),
        started_at: facts
            .started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        machine: facts.machine.clone(),
        settings: settings(facts.config, facts.base),
        elapsed_s: secs,
        started: facts.started,
        drained: facts.drained,
        operations,
        first_errors: facts.stats.first_errors.clone(),
        server: server_usage(&facts),
        timeline,
        open_loop: facts.config.rate.is_some(),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Report {
    /// The figures of one operation by its report name (`RoundTrip`, `Ack-response`…).
    pub fn operation(&self, name: &str) -> Option<&OperationReport> {
        self.operations.iter().find(|o| o.name == name)
    }

    /// Round trips completed.
    pub fn round_trips(&self) -> u64 {
        self.operation("RoundTrip").map_or(0, |o| o.ok)
    }

    /// Errors of all calls (failed round trips not counted again).
    pub fn call_errors(&self) -> u64 {
        self.operations
            .iter()
            .filter(|o| o.name != "RoundTrip")
            .map(|o| o.errors)
            .sum()
    }

    /// Round trips that failed or did not finish.
    pub fn failed_round_trips(&self) -> u64 {
        self.operation("RoundTrip").map_or(0, |o| o.errors)
    }

    /// The JSON document (`--json`).
    pub fn to_json(&self) -> Value {
        let operations: serde_json::Map<String, Value> = self
            .operations
            .iter()
            .map(|o| {
                (
                    o.name.to_owned(),
                    json!({
                        "calls": o.calls,
                        "ok": o.ok,
                        "empty": o.empty,
                        "errors": o.errors,
                        "errors_by_kind": o.errors_by_kind.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
                        "per_second": round3(o.per_second),
                        "latency_ms": {
                            "p50": o.p50_ms, "p90": o.p90_ms, "p99": o.p99_ms,
                            "max": o.max_ms, "mean": round3(o.mean_ms),
                        },
                    }),
                )
            })
            .collect();
        let s = &self.server;
        json!({
            "tool": "opensmev-load",
            "version": env!("CARGO_PKG_VERSION"),
            "command": self.command,
            "started_at": self.started_at,
            "machine": {
                "nproc": self.machine.nproc,
                "cpus_online": self.machine.cpus_online,
                "cpu_model": self.machine.cpu_model,
                "kernel": self.machine.kernel,
                "mem_total_kib": self.machine.mem_total_kib,
            },
            "settings": self.settings.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "elapsed_s": round3(self.elapsed_s),
            "totals": {
                "round_trips_started": self.started,
                "round_trips_completed": self.round_trips(),
                "round_trips_failed": self.failed_round_trips(),
                "round_trips_per_second": round3(self.round_trips() as f64 / self.elapsed_s),
                "call_errors": self.call_errors(),
                "calls": self.operations.iter().filter(|o| o.name != "RoundTrip").map(|o| o.calls).sum::<u64>(),
                "drained_before_run": self.drained,
            },
            "operations": operations,
            "errors": self.first_errors.iter().map(|e| json!({
                "at_s": round3(e.at_s), "operation": e.operation, "kind": e.kind, "text": e.text,
            })).collect::<Vec<_>>(),
            "server": {
                "source": s.source,
                "cpu_seconds": s.cpu_seconds.map(round3),
                "process_cpu_seconds": s.process_cpu_seconds.map(round3),
                "cpu_cores_avg": s.cpu_cores.map(round3),
                "peak_rss_kib": s.peak_rss_kib,
                "rss_start_kib": s.rss_start_kib,
                "rss_end_kib": s.rss_end_kib,
                "note": s.note,
            },
            "timeline": self.timeline.iter().map(|t| json!({
                "second": t.second, "round_trips": t.round_trips, "errors": t.errors,
                "p50_ms": t.p50_ms, "p99_ms": t.p99_ms,
            })).collect::<Vec<_>>(),
        })
    }

    /// The Markdown report (stdout).
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# OpenSMEV load report\n");
        let _ = writeln!(out, "`{}`\n", self.command.replace('`', "'"));
        let _ = writeln!(
            out,
            "Started {}, {:.1} s. Machine: {} ({} CPUs available, {} online), {}.\n",
            self.started_at,
            self.elapsed_s,
            self.machine.cpu_model,
            self.machine.nproc,
            self.machine.cpus_online,
            self.machine.kernel
        );
        for (k, v) in &self.settings {
            let _ = writeln!(out, "- {k}: {v}");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| operation | calls | errors | empty polls | per s | p50 ms | p90 ms | p99 ms | max ms |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
        for o in &self.operations {
            if o.name == Operation::IdlePoll.name() && o.calls == 0 {
                continue;
            }
            let name = if o.name == "RoundTrip" {
                "**round trip**".to_owned()
            } else {
                o.name.to_owned()
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} |",
                o.calls, o.errors, o.empty, o.per_second, o.p50_ms, o.p90_ms, o.p99_ms, o.max_ms
            );
        }
        let _ = writeln!(
            out,
            "\nLatency of a call: from posting to the complete answer (client-side signing and checks excluded){}; of a round trip: from the {}start of SendRequest to the end of the consumer's Ack. Errors: calls that failed any check (SOAP: fault, HTTP, XSD, signature, ids, content; REST: status, problem, the delivery's ЭП-ОВ report, ids, content); a round trip counts only if all six calls passed.\n",
            if self.open_loop {
                ", SendRequest from its scheduled start"
            } else {
                ""
            },
            if self.open_loop { "scheduled " } else { "" },
        );
        let _ = writeln!(
            out,
            "Round trips: {} started, {} completed ({:.1}/s), {} failed or unfinished; call errors: {}.",
            self.started,
            self.round_trips(),
            self.round_trips() as f64 / self.elapsed_s,
            self.failed_round_trips(),
            self.call_errors()
        );
        if self.drained > 0 {
            let _ = writeln!(
                out,
                "Old messages drained before the run: {}.",
                self.drained
            );
        }
        let s = &self.server;
        let fmt_s = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.2} s"));
        let fmt_kib = |v: Option<u64>| {
            v.map_or("n/a".to_owned(), |v| {
                format!("{:.1} MiB", v as f64 / 1024.0)
            })
        };
        let _ = writeln!(
            out,
            "Server ({}): CPU {} ({} cores on average), process CPU {}, peak RSS {}, RSS {} → {}. {}.",
            s.source,
            fmt_s(s.cpu_seconds),
            s.cpu_cores.map_or("n/a".to_owned(), |c| format!("{c:.2}")),
            fmt_s(s.process_cpu_seconds),
            fmt_kib(s.peak_rss_kib),
            fmt_kib(s.rss_start_kib),
            fmt_kib(s.rss_end_kib),
            s.note
        );
        let kinds: Vec<String> = self
            .operations
            .iter()
            .flat_map(|o| {
                o.errors_by_kind
                    .iter()
                    .map(move |(k, v)| format!("{} {k}: {v}", o.name))
            })
            .collect();
        if !kinds.is_empty() {
            let _ = writeln!(out, "\nErrors by kind: {}.", kinds.join(", "));
            let _ = writeln!(out, "\nFirst errors:\n");
            for e in &self.first_errors {
                let _ = writeln!(
                    out,
                    "- {:.3} s {} [{}]: {}",
                    e.at_s,
                    e.operation,
                    e.kind,
                    e.text.replace('\n', " ")
                );
            }
        }
        out
    }

    /// The latency-over-time chart (`--svg`): p50 and p99 of the round trips finished in each
    /// second.
    pub fn to_svg(&self) -> String {
        let (w, h) = (900.0f64, 420.0f64);
        let (left, right, top, bottom) = (70.0, 30.0, 50.0, 60.0);
        let (pw, ph) = (w - left - right, h - top - bottom);
        let points: Vec<&TimelinePoint> =
            self.timeline.iter().filter(|t| t.round_trips > 0).collect();
        let t_max = (self.timeline.len().max(1)) as f64;
        let y_top = nice_ceiling(points.iter().map(|t| t.p99_ms).fold(0.0, f64::max).max(1.0));
        let x = |s: f64| left + pw * (s / t_max);
        let y = |v: f64| top + ph * (1.0 - v / y_top);
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">"
        );
        let _ = writeln!(svg, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Round-trip latency over time ({} completed, {:.1}/s)</text>",
            w / 2.0,
            self.round_trips(),
            self.round_trips() as f64 / self.elapsed_s
        );
        // Grid and y ticks.
        for i in 0..=5 {
            let v = y_top * f64::from(i) / 5.0;
            let yy = y(v);
            let _ = writeln!(
                svg,
                "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>",
                left + pw
            );
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                left - 6.0,
                yy + 4.0,
                tick_label(v)
            );
        }
        // x ticks.
        let step = nice_ceiling(t_max / 10.0).max(1.0);
        let mut s = 0.0;
        while s <= t_max + 1e-9 {
            let xx = x(s);
            let _ = writeln!(
                svg,
                "<line x1=\"{xx:.1}\" y1=\"{:.1}\" x2=\"{xx:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>",
                top + ph,
                top + ph + 5.0
            );
            let _ = writeln!(
                svg,
                "<text x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                top + ph + 18.0,
                tick_label(s)
            );
            s += step;
        }
        // Axes and labels.
        let _ = writeln!(
            svg,
            "<polyline points=\"{left},{top} {left},{:.1} {:.1},{:.1}\" fill=\"none\" stroke=\"#333\"/>",
            top + ph,
            left + pw,
            top + ph
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">time since start, s</text>",
            left + pw / 2.0,
            h - 15.0
        );
        let _ = writeln!(
            svg,
            "<text x=\"18\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1})\">latency, ms</text>",
            top + ph / 2.0,
            top + ph / 2.0
        );
        // The two series, each point at the middle of its second.
        for (color, label, pick) in [
            (
                "#1f77b4",
                "p50",
                (|t: &TimelinePoint| t.p50_ms) as fn(&TimelinePoint) -> f64,
            ),
            ("#d62728", "p99", |t: &TimelinePoint| t.p99_ms),
        ] {
            let coords: Vec<String> = points
                .iter()
                .map(|t| format!("{:.1},{:.1}", x(t.second as f64 + 0.5), y(pick(t))))
                .collect();
            if !coords.is_empty() {
                let _ = writeln!(
                    svg,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{label}</title></polyline>",
                    coords.join(" ")
                );
            }
        }
        // Legend.
        for (i, (color, label)) in [("#1f77b4", "p50"), ("#d62728", "p99")].iter().enumerate() {
            let lx = left + 10.0 + 70.0 * i as f64;
            let _ = writeln!(
                svg,
                "<line x1=\"{lx}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{color}\" stroke-width=\"3\"/>",
                top - 12.0,
                lx + 20.0,
                top - 12.0
            );
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\">{label}</text>",
                lx + 25.0,
                top - 8.0
            );
        }
        if points.is_empty() {
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#d62728\">no round trip completed</text>",
                left + pw / 2.0,
                top + ph / 2.0
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

fn tick_label(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(51.0), 100.0);
        assert_eq!(nice_ceiling(4.0), 5.0);
        assert_eq!(tick_label(2.0), "2");
        assert_eq!(tick_label(0.5), "0.5");
    }
}
