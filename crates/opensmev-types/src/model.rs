//! The small value types of the SMEV 3 message model.

/// An information system's mnemonic (e.g. `FNS01`), the routing identity of a participant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mnemonic(String);

/// Why a string is not a mnemonic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a mnemonic is 1 to 50 characters without spaces: {0:?}")]
pub struct MnemonicError(pub String);

impl Mnemonic {
    /// Validates: 1–50 characters (SMEV `string-50`), no whitespace or control characters.
    pub fn parse(text: &str) -> Result<Mnemonic, MnemonicError> {
        let ok = !text.is_empty()
            && text.chars().count() <= 50
            && !text.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Mnemonic(text.to_owned()))
        } else {
            Err(MnemonicError(text.to_owned()))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Mnemonic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A namespace-qualified XML name (the identity of a message type).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QName {
    /// Namespace URI (`""` for none).
    pub ns: String,
    /// Local name.
    pub local: String,
}

impl QName {
    /// Builds a QName.
    pub fn new(ns: impl Into<String>, local: impl Into<String>) -> QName {
        QName {
            ns: ns.into(),
            local: local.into(),
        }
    }
}

impl std::fmt::Display for QName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{}}}{}", self.ns, self.local)
    }
}

/// A version of the SMEV 3 message-exchange schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaVersion {
    /// 1.1
    V1_1,
    /// 1.2
    V1_2,
    /// 1.3
    V1_3,
}

impl SchemaVersion {
    /// All versions.
    pub const ALL: [SchemaVersion; 3] = [
        SchemaVersion::V1_1,
        SchemaVersion::V1_2,
        SchemaVersion::V1_3,
    ];

    /// `"1.1"`, `"1.2"`, `"1.3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaVersion::V1_1 => "1.1",
            SchemaVersion::V1_2 => "1.2",
            SchemaVersion::V1_3 => "1.3",
        }
    }

    /// Parses `"1.1"` etc.
    pub fn parse(text: &str) -> Option<SchemaVersion> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// The `types` namespace.
    pub fn types_ns(self) -> &'static str {
        match self {
            SchemaVersion::V1_1 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1"
            }
            SchemaVersion::V1_2 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2"
            }
            SchemaVersion::V1_3 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.3"
            }
        }
    }

    /// The `basic` namespace.
    pub fn basic_ns(self) -> &'static str {
        match self {
            SchemaVersion::V1_1 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.1"
            }
            SchemaVersion::V1_2 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.2"
            }
            SchemaVersion::V1_3 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.3"
            }
        }
    }

    /// The `faults` namespace.
    pub fn faults_ns(self) -> &'static str {
        match self {
            SchemaVersion::V1_1 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/faults/1.1"
            }
            SchemaVersion::V1_2 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/faults/1.2"
            }
            SchemaVersion::V1_3 => {
                "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/faults/1.3"
            }
        }
    }

    /// The WSDL target namespace.
    pub fn service_ns(self) -> &'static str {
        match self {
            SchemaVersion::V1_1 => "urn://x-artefacts-smev-gov-ru/services/message-exchange/1.1",
            SchemaVersion::V1_2 => "urn://x-artefacts-smev-gov-ru/services/message-exchange/1.2",
            SchemaVersion::V1_3 => "urn://x-artefacts-smev-gov-ru/services/message-exchange/1.3",
        }
    }

    /// The version whose `types` or `basic` namespace this is.
    pub fn of_namespace(ns: &str) -> Option<SchemaVersion> {
        Self::ALL
            .into_iter()
            .find(|v| v.types_ns() == ns || v.basic_ns() == ns || v.faults_ns() == ns)
    }
}

/// Whether a message is a request or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A consumer's request, queued for the provider.
    Request,
    /// A provider's response, queued for the consumer.
    Response,
}

impl MessageKind {
    /// `REQUEST` / `RESPONSE` as in `MessageMetadata/MessageType`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Request => "REQUEST",
            MessageKind::Response => "RESPONSE",
        }
    }
}

/// Delivery priority: higher is delivered first among messages waiting in one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Priority(pub u8);

/// How a message reaches its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeliveryMode {
    /// The recipient polls (`GetRequest` / `GetResponse`) — SMEV's own model.
    #[default]
    Poll,
    /// The bus pushes to the recipient's endpoint (with retries).
    Push,
}

/// `basic:InteractionStatusType`, the union of all versions' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InteractionStatus {
    /// `doesNotExist`
    DoesNotExist,
    /// `requestIsQueued`
    RequestIsQueued,
    /// `requestIsAcceptedBySmev`
    RequestIsAcceptedBySmev,
    /// `requestIsRejectedBySmev`
    RequestIsRejectedBySmev,
    /// `underProcessing`
    UnderProcessing,
    /// `responseIsAcceptedBySmev`
    ResponseIsAcceptedBySmev,
    /// `responseIsRejectedBySmev` (1.2+)
    ResponseIsRejectedBySmev,
    /// `cancelled`
    Cancelled,
    /// `messageIsArchived` (1.2+)
    MessageIsArchived,
    /// `messageIsDelivered` (1.2+; 1.1 says `responseIsDelivered`)
    MessageIsDelivered,
    /// `requestIsProcessed` (1.3)
    RequestIsProcessed,
    /// `responseIsQueued` (1.3)
    ResponseIsQueued,
    /// `responseIsProcessed` (1.3)
    ResponseIsProcessed,
}

impl InteractionStatus {
    /// Every status.
    pub const ALL: [InteractionStatus; 13] = [
        InteractionStatus::DoesNotExist,
        InteractionStatus::RequestIsQueued,
        InteractionStatus::RequestIsAcceptedBySmev,
        InteractionStatus::RequestIsRejectedBySmev,
        InteractionStatus::UnderProcessing,
        InteractionStatus::ResponseIsAcceptedBySmev,
        InteractionStatus::ResponseIsRejectedBySmev,
        InteractionStatus::Cancelled,
        InteractionStatus::MessageIsArchived,
        InteractionStatus::MessageIsDelivered,
        InteractionStatus::RequestIsProcessed,
        InteractionStatus::ResponseIsQueued,
        InteractionStatus::ResponseIsProcessed,
    ];

    /// The value written in a message of `version` (the nearest value that version defines).
    pub fn as_str(self, version: SchemaVersion) -> &'static str {
        use InteractionStatus::*;
        let v11 = version == SchemaVersion::V1_1;
        let v13 = version == SchemaVersion::V1_3;
        match self {
            DoesNotExist => "doesNotExist",
            RequestIsQueued => "requestIsQueued",
            RequestIsAcceptedBySmev => "requestIsAcceptedBySmev",
            RequestIsRejectedBySmev => "requestIsRejectedBySmev",
            UnderProcessing => "underProcessing",
            ResponseIsAcceptedBySmev => "responseIsAcceptedBySmev",
            ResponseIsRejectedBySmev if v11 => "requestIsRejectedBySmev",
            ResponseIsRejectedBySmev => "responseIsRejectedBySmev",
            Cancelled => "cancelled",
            MessageIsArchived if v11 => "responseIsDelivered",
            MessageIsArchived => "messageIsArchived",
            MessageIsDelivered if v11 => "responseIsDelivered",
            MessageIsDelivered => "messageIsDelivered",
            RequestIsProcessed if v13 => "requestIsProcessed",
            RequestIsProcessed => "underProcessing",
            ResponseIsQueued if v13 => "responseIsQueued",
            ResponseIsQueued => "responseIsAcceptedBySmev",
            ResponseIsProcessed if v13 => "responseIsProcessed",
            ResponseIsProcessed if v11 => "responseIsDelivered",
            ResponseIsProcessed => "messageIsDelivered",
        }
    }

    /// A stable name for storage (the 1.3 spelling).
    pub fn code(self) -> &'static str {
        self.as_str(SchemaVersion::V1_3)
    }

    /// Parses [`InteractionStatus::code`] (and the 1.1-only `responseIsDelivered`).
    pub fn from_code(code: &str) -> Option<InteractionStatus> {
        if code == "responseIsDelivered" {
            return Some(InteractionStatus::MessageIsDelivered);
        }
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_value_in_every_version() {
        let v11 = [
            "doesNotExist",
            "requestIsQueued",
            "requestIsAcceptedBySmev",
            "requestIsRejectedBySmev",
            "underProcessing",
            "responseIsAcceptedBySmev",
            "cancelled",
            "responseIsDelivered",
        ];
        for code in [
            "doesNotExist",
            "requestIsQueued",
            "messageIsDelivered",
            "responseIsQueued",
            "responseIsProcessed",
        ] {
            let status = InteractionStatus::from_code(code).unwrap();
            assert!(v11.contains(&status.as_str(SchemaVersion::V1_1)), "{code}");
            assert_eq!(InteractionStatus::from_code(status.code()), Some(status));
        }
    }

    #[test]
    fn mnemonics_are_checked() {
        assert!(Mnemonic::parse("FNS01").is_ok());
        assert!(Mnemonic::parse("").is_err());
        assert!(Mnemonic::parse("A B").is_err());
        assert!(Mnemonic::parse(&"x".repeat(51)).is_err());
    }
}

/// What an account or API token may do (the integration API and the web cabinet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including registry changes, accounts and tokens.
    Admin,
    /// Every message and statistic; no registry, account or token changes.
    Operator,
    /// The journal and the audit log, read only.
    Auditor,
    /// One information system's own queues and messages only.
    Is,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Auditor, Role::Is];

    /// A stable name (`admin`, `operator`, `auditor`, `is`), for storage and the API.
    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Is => "is",
        }
    }

    /// Parses [`Role::code`].
    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }
}
