//! A circuit breaker per endpoint and a rate limiter per information system: pure state
//! machines over an explicit clock (`Instant`), tested without waiting.

use std::time::{Duration, Instant};

/// The circuit breaker of one endpoint: after `threshold` consecutive failures it opens for
/// `open_for` (no attempts), then lets one trial attempt through (half-open): its success closes
/// the breaker, its failure opens it again.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial: bool },
}

/// Whether an attempt may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Yes.
    Go,
    /// Yes, as the one trial of a half-open breaker.
    Trial,
    /// No: ask again after this long.
    Wait(Duration),
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            state: State::Closed { failures: 0 },
        }
    }

    /// Whether an attempt may start at `now` (a trial is let through once until it ends).
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            State::Closed { .. } => Admission::Go,
            State::Open { until } if now < until => Admission::Wait(until.duration_since(now)),
            State::Open { .. } | State::HalfOpen { trial: false } => {
                self.state = State::HalfOpen { trial: true };
                Admission::Trial
            }
            State::HalfOpen { trial: true } => Admission::Wait(Duration::from_millis(100)),
        }
    }

    /// Records the end of an attempt at `now`; `true` when this opened the breaker.
    pub fn record(&mut self, success: bool, now: Instant) -> bool {
        let open = State::Open {
            until: now.checked_add(self.open_for).unwrap_or(now),
        };
        match (self.state, success) {
            (_, true) => {
                self.state = State::Closed { failures: 0 };
                false
            }
            (State::Closed { failures }, false) => {
                let failures = failures + 1;
                if failures >= self.threshold {
                    self.state = open;
                    true
                } else {
                    self.state = State::Closed { failures };
                    false
                }
            }
            (State::HalfOpen { .. }, false) => {
                self.state = open;
                true
            }
            // Attempts that started before it opened end while it is open: it stays open.
            (State::Open { .. }, false) => false,
        }
    }

    /// A trial let through by [`Breaker::admit`] ended without an answer of the endpoint (no
    /// message to try, or it could not be sent): the next attempt is a trial again. No effect
    /// otherwise.
    pub fn cancel_trial(&mut self) {
        if self.state == (State::HalfOpen { trial: true }) {
            self.state = State::HalfOpen { trial: false };
        }
    }

    /// Whether it is open (or half-open) now.
    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed { .. })
    }
}

/// At most `per_second` attempt starts per second, spread evenly (one every
/// `1 / per_second` s; no bursts).
#[derive(Debug, Clone)]
pub struct RateLimit {
    gap: Duration,
    next: Option<Instant>,
}

impl RateLimit {
    /// A limit of `per_second` starts per second.
    pub fn new(per_second: u32) -> RateLimit {
        RateLimit {
            gap: Duration::from_secs(1) / per_second.max(1),
            next: None,
        }
    }

    /// Takes the next start slot at or after `now`: how long to wait for it.
    pub fn take(&mut self, now: Instant) -> Duration {
        let slot = self.next.map_or(now, |n| n.max(now));
        self.next = Some(slot + self.gap);
        slot - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_half_opens_after_the_pause() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert_eq!(b.admit(t0), Admission::Go);
            assert!(!b.record(false, t0));
        }
        assert!(b.record(false, t0), "the third failure opens it");
        assert_eq!(b.admit(t0), Admission::Wait(Duration::from_secs(10)));
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(later), Admission::Trial);
        assert!(
            matches!(b.admit(later), Admission::Wait(_)),
            "one trial at a time"
        );
        assert!(b.record(false, later), "a failed trial opens it again");
        let again = later + Duration::from_secs(10);
        assert_eq!(b.admit(again), Admission::Trial);
        assert!(!b.record(true, again));
        assert!(!b.is_open());
        assert_eq!(b.admit(again), Admission::Go);
    }

    #[test]
    fn a_cancelled_trial_keeps_the_breaker_half_open() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, Duration::from_secs(5));
        b.record(false, t0);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(b.admit(later), Admission::Trial);
        b.cancel_trial();
        assert!(b.is_open(), "not closed without a success");
        assert_eq!(
            b.admit(later),
            Admission::Trial,
            "the next attempt is the trial"
        );
        b.cancel_trial();
        b.cancel_trial();
        assert_eq!(b.admit(later), Admission::Trial);
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, Duration::from_secs(1));
        b.record(false, t0);
        b.record(true, t0);
        assert!(!b.record(false, t0));
        assert!(b.record(false, t0));
    }

    #[test]
    fn rate_limit_spreads_starts() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(4);
        let waits: Vec<u128> = (0..4).map(|_| r.take(t0).as_millis()).collect();
        assert_eq!(waits, [0, 250, 500, 750]);
        // After a quiet second there is no debt.
        assert_eq!(r.take(t0 + Duration::from_secs(2)), Duration::ZERO);
    }
}
