//! The bus's periodic upkeep, shared by every node on one store: each node calls
//! [`Bus::upkeep`] on a timer; the store's job claim lets one node at a time sweep (expire
//! messages whose EOL passed, wake pollers of run-out leases), and a node that dies is replaced
//! when its claim runs out.

use opensmev_store::{JobClaim, StoreError, SweepReport};
use time::Duration;

use crate::{Bus, BusError};

/// The name of the sweep job in the store.
pub const SWEEP_JOB: &str = "sweep";

/// The most messages one sweep expires (the rest wait for the next one).
pub const SWEEP_LIMIT: usize = 1000;

/// What one [`Bus::upkeep`] call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upkeep {
    /// Another node holds the job.
    Standby,
    /// This node holds the job and swept.
    Swept {
        /// The claim (its fence).
        claim: JobClaim,
        /// What the sweep did.
        report: SweepReport,
    },
    /// This node held the job, but lost it before its sweep committed (it stalled past the
    /// claim's end); the sweep changed nothing.
    Lost,
}

impl Bus {
    /// One round of upkeep as `holder` (the node's name): claims (or renews) the sweep job for
    /// `claim_ttl`, and sweeps if this node holds it. Call it every interval on every node, with
    /// a `claim_ttl` of several intervals: a node that stops calling loses the job after that.
    pub async fn upkeep(&self, holder: &str, claim_ttl: Duration) -> Result<Upkeep, BusError> {
        let store = self.store();
        let Some(claim) = store
            .claim_job(SWEEP_JOB, holder, claim_ttl, self.now())
            .await?
        else {
            return Ok(Upkeep::Standby);
        };
        match store.sweep(&claim, self.now(), SWEEP_LIMIT).await {
            Ok(report) => {
                if report.expired > 0 {
                    tracing::info!(
                        expired = report.expired,
                        fence = claim.fence,
                        "the sweep expired messages whose EOL passed"
                    );
                }
                // Expired cabinet sessions go with the sweep (idempotent: a lost claim here
                // only means another node purges them too).
                let purged = store.purge_sessions(self.now()).await?;
                if purged > 0 {
                    tracing::debug!(purged, "expired cabinet sessions removed");
                }
                Ok(Upkeep::Swept { claim, report })
            }
            Err(StoreError::LostClaim { .. }) => Ok(Upkeep::Lost),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the sweep job up if `holder` holds it (a node shutting down), so another node takes
    /// it at once.
    pub async fn release_upkeep(&self, claim: &JobClaim) -> Result<bool, BusError> {
        Ok(self.store().release_job(claim).await?)
    }
}
