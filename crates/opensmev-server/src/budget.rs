//! The memory budget for request bodies: every request reserves budget for the bytes of its
//! body it holds in memory, as they arrive (never for a length it merely declares), so that
//! slow or stalled uploads hold only what they sent, and concurrent large bodies cannot exhaust
//! memory. When the budget stays exhausted for a while, the call is refused (HTTP 503) rather
//! than queued for ever.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The budget's unit: reservations are rounded up to it.
const UNIT: usize = 64 * 1024;

/// Total bytes of request bodies in memory at once.
pub(crate) const BODY_BUDGET_BYTES: usize = 1024 * 1024 * 1024;

/// The shared budget.
#[derive(Debug)]
pub(crate) struct BodyBudget(Arc<Semaphore>);

/// The budget stayed exhausted.
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
    /// Grows the reservation to cover `bytes`, waiting at most `wait` for budget to free up.
    pub(crate) async fn cover(&mut self, bytes: usize, wait: Duration) -> Result<(), Exhausted> {
        let need = u32::try_from(bytes.div_ceil(UNIT)).map_err(|_| Exhausted)?;
        if need <= self.units {
            return Ok(());
        }
        let more = need - self.units;
        let permit = match Arc::clone(&self.budget).try_acquire_many_owned(more) {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) => {
                tokio::time::timeout(wait, Arc::clone(&self.budget).acquire_many_owned(more))
                    .await
                    .map_err(|_| Exhausted)?
                    .map_err(|_| Exhausted)?
            }
            Err(TryAcquireError::Closed) => return Err(Exhausted),
        };
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

    #[tokio::test]
    async fn reservations_grow_with_the_bytes_and_are_released() {
        let budget = BodyBudget::new(4 * UNIT);
        let mut a = budget.reservation();
        a.cover(1, Duration::ZERO).await.unwrap();
        assert_eq!(budget.available(), 3 * UNIT);
        a.cover(UNIT, Duration::ZERO).await.unwrap();
        assert_eq!(budget.available(), 3 * UNIT, "same unit");
        a.cover(2 * UNIT + 1, Duration::ZERO).await.unwrap();
        assert_eq!(budget.available(), UNIT);
        let mut b = budget.reservation();
        assert_eq!(
            b.cover(2 * UNIT, Duration::from_millis(20)).await,
            Err(Exhausted),
            "not enough left"
        );
        drop(a);
        assert_eq!(budget.available(), 4 * UNIT);
        b.cover(2 * UNIT, Duration::ZERO).await.unwrap();
        assert_eq!(budget.available(), 2 * UNIT);
        // More than the whole budget can never be covered.
        let mut c = budget.reservation();
        assert_eq!(
            c.cover(5 * UNIT, Duration::from_millis(10)).await,
            Err(Exhausted)
        );
    }
}
