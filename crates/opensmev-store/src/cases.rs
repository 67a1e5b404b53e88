//! The provider's work in the cabinet: versioned settings documents (a system's departments,
//! assignment rules, deadlines and calendar), and cases — one per incoming request an
//! information system handles in the cabinet, with its department, deadline, outcome and the
//! history of what people did with it.

use opensmev_types::{MessageId, Mnemonic};
use time::OffsetDateTime;

/// A versioned settings document (e.g. `cabinet/PFR01`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Its name.
    pub name: String,
    /// Its version: 1 for the first save, then one more per save.
    pub version: u64,
    /// The document.
    pub text: String,
    /// When this version was saved.
    pub saved_at: OffsetDateTime,
}

/// A case: an incoming request being handled in the cabinet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The request.
    pub request: MessageId,
    /// The request's `seq` (the order of cases).
    pub request_seq: i64,
    /// The system that received it.
    pub system: Mnemonic,
    /// Who sent it.
    pub sender: Mnemonic,
    /// Its kind of information.
    pub vs_id: String,
    /// When the bus accepted it.
    pub received_at: OffsetDateTime,
    /// The department it is assigned to (`None`: not assigned).
    pub department: Option<String>,
    /// When it must be answered by (`None`: no deadline).
    pub due_at: Option<OffsetDateTime>,
    /// When it was closed (answered or rejected).
    pub closed_at: Option<OffsetDateTime>,
    /// How it was closed (`answered`, `rejected`).
    pub outcome: Option<String>,
}

/// Something that happened to a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseEvent {
    /// When.
    pub at: OffsetDateTime,
    /// Who (an account's login; `system` for the bus's own assignment).
    pub actor: String,
    /// What (`assigned`, `reassigned`, `answered`, `rejected`, `status`).
    pub action: String,
    /// Details (the department, the reason, the status text).
    pub detail: Option<String>,
}

/// A change of a case, recorded with its [`CaseEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseChange {
    /// A new department (`Some(None)`: unassigned).
    pub department: Option<Option<String>>,
    /// Closes the case with this outcome, at the event's time (a closed case is not closed again).
    pub close: Option<String>,
}

/// Which cases to list, newest request first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseQuery {
    /// The receiving system.
    pub system: Mnemonic,
    /// Only this department's.
    pub department: Option<String>,
    /// Only open (`Some(true)`) or only closed (`Some(false)`) ones.
    pub open: Option<bool>,
    /// Only open ones due before this time (overdue, or due soon).
    pub due_before: Option<OffsetDateTime>,
    /// Only this kind of information's.
    pub vs_id: Option<String>,
    /// Paging: only requests with a `seq` below this.
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
}
