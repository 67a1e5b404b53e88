//! Recording while the load runs: one HDR histogram per operation (successful calls, in
//! microseconds), counters of calls, empty polls and errors by kind, the first error texts, and a
//! per-second timeline of round trips. One mutex guards it all; a record is a few hundred
//! nanoseconds against calls that take milliseconds, so it never becomes the bottleneck.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::envelope::Failure;

/// An operation of a round trip, or the round trip itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Consumer: `SendRequest`. Every call's latency runs from posting to the complete answer
    /// (building, signing and checking on the client side are not included), except
    /// `SendRequest` in the open loop, which counts from the scheduled start.
    SendRequest,
    /// Provider: `GetRequest` (every poll, empty ones included).
    GetRequest,
    /// Provider: `Ack` of the request.
    AckRequest,
    /// Provider: `SendResponse`.
    SendResponse,
    /// Consumer: `GetResponse` (every poll, empty ones included).
    GetResponse,
    /// Consumer: `Ack` of the response.
    AckResponse,
    /// Idle pollers (`--idle-pollers`): `GetResponse` of the unsigned test consumer on nodes
    /// that never get a message — the load of many systems polling empty queues.
    IdlePoll,
    /// From the (intended) start of `SendRequest` to the end of the consumer's `Ack`.
    RoundTrip,
}

impl Operation {
    /// All, in round-trip order.
    pub const ALL: [Operation; 8] = [
        Operation::SendRequest,
        Operation::GetRequest,
        Operation::AckRequest,
        Operation::SendResponse,
        Operation::GetResponse,
        Operation::AckResponse,
        Operation::IdlePoll,
        Operation::RoundTrip,
    ];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Operation::SendRequest => "SendRequest",
            Operation::GetRequest => "GetRequest",
            Operation::AckRequest => "Ack",
            Operation::SendResponse => "SendResponse",
            Operation::GetResponse => "GetResponse",
            Operation::AckResponse => "Ack-response",
            Operation::IdlePoll => "idle GetResponse",
            Operation::RoundTrip => "RoundTrip",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How many error texts are kept.
pub(crate) const KEPT_ERRORS: usize = 10;

/// One kept error.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorSample {
    /// Seconds since the start of the load.
    pub at_s: f64,
    /// The operation.
    pub operation: &'static str,
    /// The category (`fault:…`, `check`, `unsigned`, `mismatch`…).
    pub kind: String,
    /// The details.
    pub text: String,
}

pub(crate) fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Per-operation counters.
#[derive(Debug)]
pub(crate) struct OpStats {
    pub(crate) latency: Histogram<u64>,
    pub(crate) ok: u64,
    pub(crate) empty: u64,
    pub(crate) errors: BTreeMap<String, u64>,
}

impl OpStats {
    fn new() -> OpStats {
        OpStats {
            latency: histogram(),
            ok: 0,
            empty: 0,
            errors: BTreeMap::new(),
        }
    }

    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Round trips finished within one second of the run.
#[derive(Debug)]
pub(crate) struct Bucket {
    pub(crate) latency: Histogram<u64>,
    pub(crate) errors: u64,
}

/// Everything recorded.
#[derive(Debug)]
pub(crate) struct Stats {
    t0: Instant,
    pub(crate) ops: Vec<OpStats>,
    pub(crate) first_errors: Vec<ErrorSample>,
    pub(crate) timeline: Vec<Bucket>,
}

/// The shared recorder.
#[derive(Debug)]
pub(crate) struct Recorder {
    stats: Mutex<Stats>,
    /// Round trips completed (for the progress line).
    pub(crate) completed: AtomicU64,
    /// Errors of any operation (for the progress line).
    pub(crate) errors: AtomicU64,
    /// When `false`, successes are not recorded (draining old messages before the load).
    recording: std::sync::atomic::AtomicBool,
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Recorder {
    pub(crate) fn new(t0: Instant) -> Recorder {
        Recorder {
            stats: Mutex::new(Stats {
                t0,
                ops: Operation::ALL.iter().map(|_| OpStats::new()).collect(),
                first_errors: Vec::new(),
                timeline: Vec::new(),
            }),
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            recording: std::sync::atomic::AtomicBool::new(true),
        }
    }

    pub(crate) fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The start of the load.
    pub(crate) fn t0(&self) -> Instant {
        self.lock().t0
    }

    /// Starts the clock again (after draining old messages).
    pub(crate) fn restart(&self, t0: Instant) {
        self.lock().t0 = t0;
    }

    fn bucket(stats: &mut Stats, second: usize) -> &mut Bucket {
        while stats.timeline.len() <= second {
            stats.timeline.push(Bucket {
                latency: histogram(),
                errors: 0,
            });
        }
        &mut stats.timeline[second]
    }

    fn second_of(stats: &Stats) -> usize {
        usize::try_from(stats.t0.elapsed().as_secs()).unwrap_or(usize::MAX / 2)
    }

    /// A successful call (or a completed round trip) that took `latency`.
    pub(crate) fn ok(&self, op: Operation, latency: Duration) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let mut stats = self.lock();
        let second = Self::second_of(&stats);
        let s = &mut stats.ops[op.index()];
        s.ok += 1;
        s.latency.saturating_record(micros(latency));
        if op == Operation::RoundTrip {
            Self::bucket(&mut stats, second)
                .latency
                .saturating_record(micros(latency));
            self.completed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A poll that found the queue empty.
    pub(crate) fn empty(&self, op: Operation, latency: Duration) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let mut stats = self.lock();
        let s = &mut stats.ops[op.index()];
        s.ok += 1;
        s.empty += 1;
        s.latency.saturating_record(micros(latency));
    }

    /// A failed call or round trip (always recorded, draining included).
    pub(crate) fn error(&self, op: Operation, failure: Failure) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut stats = self.lock();
        let second = Self::second_of(&stats);
        let at_s = stats.t0.elapsed().as_secs_f64();
        *stats.ops[op.index()]
            .errors
            .entry(failure.kind.clone())
            .or_insert(0) += 1;
        if op == Operation::RoundTrip {
            Self::bucket(&mut stats, second).errors += 1;
        }
        if stats.first_errors.len() < KEPT_ERRORS {
            stats.first_errors.push(ErrorSample {
                at_s,
                operation: op.name(),
                kind: failure.kind,
                text: failure.text,
            });
        }
    }

    /// Takes the recorded state out (at the end of the run).
    pub(crate) fn finish(&self) -> Stats {
        let mut stats = self.lock();
        Stats {
            t0: stats.t0,
            ops: std::mem::take(&mut stats.ops),
            first_errors: std::mem::take(&mut stats.first_errors),
            timeline: std::mem::take(&mut stats.timeline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_by_operation_and_second() {
        let r = Recorder::new(Instant::now());
        r.ok(Operation::RoundTrip, Duration::from_millis(12));
        r.ok(Operation::SendRequest, Duration::from_millis(3));
        r.empty(Operation::GetRequest, Duration::from_millis(1));
        r.error(Operation::AckRequest, Failure::new("fault:X", "no"));
        r.set_recording(false);
        r.ok(Operation::SendRequest, Duration::from_millis(3));
        let s = r.finish();
        assert_eq!(s.ops[Operation::RoundTrip.index()].ok, 1);
        assert_eq!(s.ops[Operation::SendRequest.index()].ok, 1);
        assert_eq!(s.ops[Operation::GetRequest.index()].empty, 1);
        assert_eq!(s.ops[Operation::AckRequest.index()].error_count(), 1);
        assert_eq!(s.timeline.len(), 1);
        assert_eq!(s.first_errors[0].operation, "Ack");
    }
}
