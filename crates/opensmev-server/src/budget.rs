//! The memory budget for request bodies: every request reserves budget for the bytes of its
//! body it holds in memory, as they arrive (never for a length it merely declares), so that
//! slow or stalled uploads hold only what they sent, and concurrent large bodies cannot exhaust
//! memory. When the budget is exhausted, the call is refused at once (HTTP 503, the client
//! retries) rather than queued: a waiting request would hold what it has while it waits, and the
//! semaphore's strict order would put every small call behind a large one.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget's unit: reservations are rounded up to it.
const UNIT: usize = 64 * 1024;

/// Total bytes of request bodies in memory at once.
pub(crate) const BODY_BUDGET_BYTES: usize = 1024 * 1024 * 1024;

/// The shared budget.
#[derive(Debug)]
pub(crate) struct BodyBudget(Arc<Semaphore>);

/// The budget is exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exhausted;

impl BodyBudget {
    /// A budget of `bytes`.
    pub(crate) fn new(bytes: usize) -> BodyBudget {
        BodyBudget(Arc::new(Semaphore::new(bytes.div_ceil(UNIT).max(1))))
    }

    /// An empty reservation of one request (released when dropped).
    pub(crate) fn reservation(&self) -> Reservation {
        Reservation {
            budget: Arc::clone(&self.0),
            held: None,
            units: 0,
        }
    }

    /// The budget not reserved now, in bytes.
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.0.available_permits() * UNIT
    }
}

/// What one request holds of the budget.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
    units: u32,
}

impl Reservation {
    /// Grows the reservation to cover `bytes`, if the budget has that much free now.
    pub(crate) fn cover(&mut self, bytes: usize) -> Result<(), Exhausted> {
        let need = u32::try_from(bytes.div_ceil(UNIT)).map_err(|_| Exhausted)?;
        if need <= self.units {
            return Ok(());
        }
        let permit = Arc::clone(&self.budget)
            .try_acquire_many_owned(need - self.units)
            .map_err(|_| Exhausted)?;
        match &mut self.held {
            Some(held) => held.merge(permit),
            None => self.held = Some(permit),
        }
        self.units = need;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_grow_with_the_bytes_and_are_released() {
        let budget = BodyBudget::new(4 * UNIT);
        let mut a = budget.reservation();
        a.cover(1).unwrap();
        assert_eq!(budget.available(), 3 * UNIT);
        a.cover(UNIT).unwrap();
        assert_eq!(budget.available(), 3 * UNIT, "same unit");
        a.cover(2 * UNIT + 1).unwrap();
        assert_eq!(budget.available(), UNIT);
        let mut b = budget.reservation();
        assert_eq!(b.cover(2 * UNIT), Err(Exhausted), "not enough left");
        assert_eq!(budget.available(), UNIT, "a refusal takes nothing");
        drop(a);
        assert_eq!(budget.available(), 4 * UNIT);
        b.cover(2 * UNIT).unwrap();
        assert_eq!(budget.available(), 2 * UNIT);
        // More than the whole budget can never be covered.
        let mut c = budget.reservation();
        assert_eq!(c.cover(5 * UNIT), Err(Exhausted));
    }
}
