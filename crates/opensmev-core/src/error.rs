//! The bus's error type: every reason a call is refused, with the data its fault needs.

use opensmev_store::StoreError;
use opensmev_types::QName;
use opensmev_xmldsig::dsig::FaultCategory;

/// One problem found in business content or in the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentIssue {
    /// What is wrong.
    pub text: String,
    /// Where (line or byte position, as the validator reports it).
    pub position: Option<i64>,
}

/// Why the bus refused a call. Each variant corresponds to one SMEV fault (see PROTOCOL.md §8),
/// except [`BusError::Store`] and [`BusError::Internal`], which are `SMEVFailure`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The message or its business content does not match its schema.
    #[error("invalid content: {}", .0.iter().map(|i| i.text.as_str()).collect::<Vec<_>>().join("; "))]
    InvalidContent(Vec<ContentIssue>),
    /// The caller's signature (ЭП-ОВ) failed.
    #[error("signature verification failed ({category}): {message}")]
    Signature {
        /// The SMEV category.
        category: FaultCategory,
        /// The explanation.
        message: String,
    },
    /// The caller's certificate is not registered for any information system.
    #[error("the sender is not registered: {0}")]
    SenderIsNotRegistered(String),
    /// The selector names a type the caller may not poll.
    #[error("unknown message type: {0}")]
    UnknownMessageType(String),
    /// The business root element is not a registered kind of information.
    #[error("business data type {0} is not supported")]
    BusinessDataTypeIsNotSupported(QName),
    /// The consumer has no grant for this kind of information.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The recipient cannot be determined (unknown or foreign `To`).
    #[error("recipient not found: {0}")]
    RecipientIsNotFound(String),
    /// A response carries a request type.
    #[error("{0} is not a response type")]
    IncorrectResponseContentType(QName),
    /// Attachments exceed the limit.
    #[error("attachments total {real} bytes, over the limit of {permitted}")]
    AttachmentSizeLimitExceeded {
        /// The limit.
        permitted: u64,
        /// The total.
        real: u64,
    },
    /// Attachment headers and contents do not correspond.
    #[error("attachment headers and contents do not match: {0}")]
    AttachmentContentMiscoordination(String),
    /// The recipient's queue is full.
    #[error("the queue {destination} is full ({depth} messages)")]
    DestinationOverflow {
        /// The queue.
        destination: String,
        /// Its depth.
        depth: u64,
    },
    /// A message with this id was accepted before.
    #[error("message {0} was already sent")]
    MessageIsAlreadySent(String),
    /// `MessageID` is not a lower-case version-1 UUID.
    #[error("invalid MessageID {id:?}: {reason}")]
    InvalidMessageIdFormat {
        /// The value.
        id: String,
        /// Why.
        reason: String,
    },
    /// `MessageID` is too old (or from the future).
    #[error("MessageID {id} is stale: made at {made}")]
    StaleMessageId {
        /// The id.
        id: String,
        /// When its UUID says it was made.
        made: String,
    },
    /// `EOL` has passed.
    #[error("EOL {0} has passed")]
    EndOfLifeReached(String),
    /// No unacknowledged delivered message with that id.
    #[error("no unacknowledged message {0}")]
    TargetMessageIsNotFound(String),
    /// The signed `Timestamp` of a poll or status call is outside the bus's window around its
    /// clock (OpenSMEV's rule: a captured call cannot be replayed later).
    #[error(
        "the signed Timestamp {at} differs from the bus's time {now} by more than {window_seconds} s"
    )]
    StaleTimestamp {
        /// The Timestamp.
        at: String,
        /// The bus's time.
        now: String,
        /// The window.
        window_seconds: i64,
    },
    /// The same signed poll or status call came a second time within the window.
    #[error("the signed call was already received (a replay)")]
    ReplayedCall,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that is the bus's fault.
    #[error("internal error: {0}")]
    Internal(String),
}
