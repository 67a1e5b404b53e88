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

use hdrhistogram::Histogram;
use serde_json::{Value, json};

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
