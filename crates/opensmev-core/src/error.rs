//! The bus's error type: every reason a call is refused, with the data its fault needs.

use opensmev_store::StoreError;
use opensmev_types::QName;
use opensmev_xmldsig::dsig::FaultCategory;

/// One problem found in business content or in the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentIssue {
    /// What is wrong.
    pub text: IssueText,
    /// Where (line or byte position, as the validator reports it).
    pub position: Option<i64>,
}

/// What is wrong with the content, as data: the fault's text is rendered from it in the bus's
/// fault language.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueText {
    /// A message of the XSD validator (libxml2, English), with its place.
    Xsd {
        /// libxml2's message.
        message: String,
        /// Line in the business content.
        line: i64,
        /// Column.
        column: i64,
    },
    /// The message uses file-store attachments (`RefAttachmentHeaderList`).
    FileStoreAttachments,
    /// A `SendResponse` carries `AsyncProcessingStatus`.
    AsyncProcessingStatus,
    /// A registry import was refused (the registry's own message).
    Registry(String),
    /// Business XML given to the bus to send (integration API) is not well-formed XML.
    NotWellFormed {
        /// What is wrong.
        message: String,
        /// Line in the business XML.
        line: i64,
        /// Column.
        column: i64,
    },
}

impl std::fmt::Display for IssueText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IssueText::Xsd {
                message,
                line,
                column,
            } => write!(f, "{message} (line {line}, column {column})"),
            IssueText::FileStoreAttachments => f.write_str(
                "file-store attachments (RefAttachmentHeaderList) are not supported by this bus yet",
            ),
            IssueText::AsyncProcessingStatus => f.write_str(
                "AsyncProcessingStatus is written by SMEV itself, not by information systems",
            ),
            IssueText::Registry(message) => f.write_str(message),
            IssueText::NotWellFormed {
                message,
                line,
                column,
            } => write!(f, "{message} (line {line}, column {column})"),
        }
    }
}

/// Why a business root element is not accepted (`BusinessDataTypeIsNotSupported`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// No kind has it as its request root (`SendRequest`) or as any root (`SendResponse`).
    NotRegistered,
    /// The kind is retired.
    Retired {
        /// The kind's id.
        kind: String,
    },
    /// The kind is deprecated and its sunset day has passed.
    Sunset {
        /// The kind's id.
        kind: String,
        /// The sunset day (`YYYY-MM-DD`).
        day: String,
    },
    /// A `SendResponse` whose root is registered, but not as a response of the request's kind.
    NotAResponseOf {
        /// The request's kind.
        kind: String,
        /// Its response roots.
        expected: Vec<QName>,
    },
}

/// Why the recipient of a `SendResponse` (or `SendRequest`) cannot be found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recipient {
    /// `To` is not a `ReplyTo` issued by this bus.
    NotAReplyTo,
    /// No request with this id was addressed to the caller.
    NoRequest {
        /// The request's id.
        id: String,
        /// The caller.
        system: String,
    },
    /// The request's kind is no longer registered.
    KindGone(String),
    /// The consumer (for a response) or the provider (for a request) is no longer registered.
    SystemGone(String),
}

/// Why `AttachmentHeader`s and `AttachmentContent`s do not correspond.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Miscoordination {
    /// The two lists name different attachments.
    Mismatch {
        /// The header `contentId`s.
        headers: Vec<String>,
        /// The content `Id`s.
        contents: Vec<String>,
    },
    /// A `contentId` is used twice.
    Duplicate,
}

/// The periods of a consumer's grants for a kind, and the day they were checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantPeriods {
    /// `(valid_from, valid_to)` of every grant (`None`: open).
    pub periods: Vec<(Option<String>, Option<String>)>,
    /// The bus's date (UTC) the grants were checked against.
    pub today: String,
}

/// Why the bus refused a call. Each variant corresponds to one SMEV fault (see PROTOCOL.md §8),
/// except [`BusError::Store`] and [`BusError::Internal`], which are `SMEVFailure`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The message or its business content does not match its schema.
    #[error("invalid content: {}", .0.iter().map(|i| i.text.to_string()).collect::<Vec<_>>().join("; "))]
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
    #[error(
        "the sender is not registered: certificate {thumbprint} ({subject}) is not registered for any information system"
    )]
    SenderIsNotRegistered {
        /// The certificate's SHA-1 thumbprint.
        thumbprint: String,
        /// Its subject.
        subject: String,
    },
    /// The selector names a type the caller may not poll.
    #[error("unknown message type: {message_type} is not a {} type of {system}", if *.request { "request" } else { "response" })]
    UnknownMessageType {
        /// The selector's type.
        message_type: QName,
        /// Whether requests (`GetRequest`) or responses (`GetResponse`) were polled.
        request: bool,
        /// The caller.
        system: String,
    },
    /// The business root element is not a registered kind of information.
    #[error("business data type {root} is not supported ({reason:?})")]
    BusinessDataTypeIsNotSupported {
        /// The root element.
        root: QName,
        /// Why.
        reason: Unsupported,
    },
    /// The consumer has no grant for this kind of information.
    #[error("access denied: {system} holds no grant in force for {kind} ({title})")]
    AccessDenied {
        /// The caller.
        system: String,
        /// The kind's id.
        kind: String,
        /// Its title.
        title: String,
        /// The caller's grants for the kind (none: never granted).
        grants: GrantPeriods,
    },
    /// The recipient cannot be determined (unknown or foreign `To`).
    #[error("recipient not found: {0:?}")]
    RecipientIsNotFound(Recipient),
    /// A response carries a request type.
    #[error("{root} is not a response type")]
    IncorrectResponseContentType {
        /// The root element.
        root: QName,
        /// The response roots of the request's kind.
        expected: Vec<QName>,
    },
    /// Attachments exceed the limit.
    #[error("attachments total {real} bytes, over the limit of {permitted}")]
    AttachmentSizeLimitExceeded {
        /// The limit.
        permitted: u64,
        /// The total.
        real: u64,
    },
    /// Attachment headers and contents do not correspond.
    #[error("attachment headers and contents do not match: {0:?}")]
    AttachmentContentMiscoordination(Miscoordination),
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
    #[error("invalid MessageID \"{id}\": {reason}")]
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
    /// The bus holds no signing key for the information system it is asked to send as
    /// (integration API), and the system's signature policy requires a signature.
    #[error("the bus holds no signing key for {system}")]
    NoSigningKey {
        /// The system.
        system: String,
    },
    /// What the bus was given to send (integration API) cannot be composed into an SMEV
    /// message (a value the SMEV schema does not allow, e.g. a too long `TransactionCode`).
    #[error("the message cannot be composed: {0}")]
    Composition(opensmev_wire::WireError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that is the bus's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl BusError {
    /// The stable OpenSMEV code of the error (`SMEV-nnn`): the SOAP fault's code, and the
    /// `code` of the integration API's problem documents (`docs/faults.md`).
    pub fn code(&self) -> &'static str {
        match self {
            BusError::Signature { .. } => "SMEV-100",
            BusError::SenderIsNotRegistered { .. } => "SMEV-101",
            BusError::InvalidContent(_) | BusError::Composition(_) => "SMEV-102",
            BusError::BusinessDataTypeIsNotSupported { .. } => "SMEV-103",
            BusError::AccessDenied { .. } => "SMEV-104",
            BusError::RecipientIsNotFound(_) => "SMEV-105",
            BusError::IncorrectResponseContentType { .. } => "SMEV-106",
            BusError::UnknownMessageType { .. } => "SMEV-107",
            BusError::AttachmentSizeLimitExceeded { .. } => "SMEV-108",
            BusError::AttachmentContentMiscoordination(_) => "SMEV-109",
            BusError::DestinationOverflow { .. } => "SMEV-110",
            BusError::MessageIsAlreadySent(_) => "SMEV-111",
            BusError::InvalidMessageIdFormat { .. } => "SMEV-112",
            BusError::StaleMessageId { .. } => "SMEV-113",
            BusError::EndOfLifeReached(_) => "SMEV-114",
            BusError::TargetMessageIsNotFound(_) => "SMEV-115",
            BusError::StaleTimestamp { .. } => "SMEV-116",
            BusError::ReplayedCall => "SMEV-117",
            BusError::NoSigningKey { .. } => "SMEV-118",
            BusError::Store(_) | BusError::Internal(_) => "SMEV-500",
        }
    }
}
