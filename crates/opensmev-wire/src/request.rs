//! What [`crate::decode_request`] returns: one type per operation, with the decoded values as
//! owned data and the [`ElementId`]s of the elements the core verifies signatures on.

use opensmev_types::{InteractionStatus, QName, SchemaVersion};
use opensmev_xmldsig::xml::ElementId;
use time::OffsetDateTime;

use crate::operation::Operation;

/// A decoded SMEV request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `SendRequestRequest` (boxed: it is by far the largest).
    SendRequest(Box<SendRequestReq>),
    /// `SendResponseRequest` (boxed).
    SendResponse(Box<SendResponseReq>),
    /// `GetRequestRequest`.
    GetRequest(GetMessageReq),
    /// `GetResponseRequest`.
    GetResponse(GetMessageReq),
    /// `AckRequest`.
    Ack(AckReq),
    /// `GetStatusRequest`.
    GetStatus(TimestampedReq),
    /// `GetIncomingQueueStatisticsRequest` (1.1).
    GetIncomingQueueStatistics(TimestampedReq),
}

impl Request {
    /// The operation.
    pub fn operation(&self) -> Operation {
        match self {
            Request::SendRequest(_) => Operation::SendRequest,
            Request::SendResponse(_) => Operation::SendResponse,
            Request::GetRequest(_) => Operation::GetRequest,
            Request::GetResponse(_) => Operation::GetResponse,
            Request::Ack(_) => Operation::Ack,
            Request::GetStatus(_) => Operation::GetStatus,
            Request::GetIncomingQueueStatistics(_) => Operation::GetIncomingQueueStatistics,
        }
    }

    /// The schema version of the message.
    pub fn version(&self) -> SchemaVersion {
        match self {
            Request::SendRequest(r) => r.version,
            Request::SendResponse(r) => r.version,
            Request::GetRequest(r) | Request::GetResponse(r) => r.version,
            Request::Ack(r) => r.version,
            Request::GetStatus(r) | Request::GetIncomingQueueStatistics(r) => r.version,
        }
    }

    /// The body element (`SendRequestRequest`, …).
    pub fn body_element(&self) -> ElementId {
        match self {
            Request::SendRequest(r) => r.body,
            Request::SendResponse(r) => r.body,
            Request::GetRequest(r) | Request::GetResponse(r) => r.body,
            Request::Ack(r) => r.body,
            Request::GetStatus(r) | Request::GetIncomingQueueStatistics(r) => r.body,
        }
    }

    /// The element the caller's signature (ЭП-ОВ) must cover: `SenderProvidedRequestData`,
    /// `SenderProvidedResponseData`, `MessageTypeSelector`, `AckTargetMessage` or `Timestamp`.
    pub fn signed_element(&self) -> ElementId {
        match self {
            Request::SendRequest(r) => r.sender_data.element,
            Request::SendResponse(r) => r.sender_data.element,
            Request::GetRequest(r) | Request::GetResponse(r) => r.selector.element,
            Request::Ack(r) => r.target.element,
            Request::GetStatus(r) | Request::GetIncomingQueueStatistics(r) => r.timestamp.element,
        }
    }

    /// The `CallerInformationSystemSignature` wrapper, if present (always present in a decoded
    /// `GetStatus`, where the schema requires it).
    pub fn caller_signature(&self) -> Option<ElementId> {
        match self {
            Request::SendRequest(r) => r.caller_signature,
            Request::SendResponse(r) => r.caller_signature,
            Request::GetRequest(r) | Request::GetResponse(r) => r.caller_signature,
            Request::Ack(r) => r.caller_signature,
            Request::GetStatus(r) | Request::GetIncomingQueueStatistics(r) => r.caller_signature,
        }
    }
}

/// `SendRequestRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequestReq {
    /// Schema version.
    pub version: SchemaVersion,
    /// The `SendRequestRequest` element.
    pub body: ElementId,
    /// `SenderProvidedRequestData` (the signed element).
    pub sender_data: SenderRequestData,
    /// `AttachmentContentList`, resolved to bytes (empty when absent).
    pub attachments: Vec<AttachmentContent>,
    /// `CallerInformationSystemSignature` wrapper.
    pub caller_signature: Option<ElementId>,
    /// 1.3 `rout:Routing`.
    pub routing: Option<Routing>,
}

/// `SenderProvidedRequestData`.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderRequestData {
    /// The element.
    pub element: ElementId,
    /// Its `Id` attribute (the signature reference target).
    pub id_attr: Option<String>,
    /// `MessageID`, raw text (the core checks the version-1 UUID rule).
    pub message_id: String,
    /// `ReferenceMessageID` (checked against `basic:UUID`).
    pub reference_message_id: Option<String>,
    /// `TransactionCode`.
    pub transaction_code: Option<String>,
    /// `NodeID`.
    pub node_id: Option<String>,
    /// `EOL`.
    pub eol: Option<OffsetDateTime>,
    /// `MessagePrimaryContent` and the business document inside.
    pub content: PrimaryContent,
    /// `PersonalSignature` wrapper (ЭП-СП over the business root).
    pub personal_signature: Option<ElementId>,
    /// `AttachmentHeaderList/AttachmentHeader`.
    pub attachment_headers: Vec<AttachmentHeader>,
    /// `RefAttachmentHeaderList/RefAttachmentHeader`.
    pub ref_attachment_headers: Vec<RefAttachmentHeader>,
    /// `BusinessProcessMetadata`, if present.
    pub business_process_metadata: Option<ElementId>,
    /// Whether `TestMessage` is present.
    pub test_message: bool,
}

/// `MessagePrimaryContent` with its single business element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryContent {
    /// The `MessagePrimaryContent` element.
    pub element: ElementId,
    /// The business root element (its only child) — what `PersonalSignature` signs.
    pub root: ElementId,
    /// The root's qualified name: the message type.
    pub root_name: QName,
    /// The root's `Id` attribute, if any (the personal signature's reference target).
    pub root_id_attr: Option<String>,
}

/// `basic:AttachmentHeader`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentHeader {
    /// The element.
    pub element: ElementId,
    /// `contentId` (equals an `AttachmentContent/Id`).
    pub content_id: String,
    /// 1.3 `NamespaceUri`.
    pub namespace_uri: Option<String>,
    /// `MimeType`.
    pub mime_type: String,
    /// `SignaturePKCS7` (detached CMS), decoded.
    pub signature_pkcs7: Option<Vec<u8>>,
    /// 1.3 `Archive/File`.
    pub archive: Vec<ArchiveFile>,
}

/// `basic:RefAttachmentHeader` (a file in the SMEV file store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefAttachmentHeader {
    /// The element.
    pub element: ElementId,
    /// `uuid`.
    pub uuid: String,
    /// 1.3 `FileName`.
    pub file_name: Option<String>,
    /// 1.3 `NamespaceUri`.
    pub namespace_uri: Option<String>,
    /// `Hash`.
    pub hash: String,
    /// `MimeType`.
    pub mime_type: String,
    /// `SignaturePKCS7`, decoded.
    pub signature_pkcs7: Option<Vec<u8>>,
    /// 1.3 `Archive/File`.
    pub archive: Vec<ArchiveFile>,
}

/// 1.3 `basic:FileType` (an entry of an `Archive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    /// `Name`.
    pub name: String,
    /// `NamespaceUri`.
    pub namespace_uri: String,
}

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentData {
    /// In memory: decoded from base64 text, or copied from an in-memory MIME part.
    Bytes(Vec<u8>),
    /// In the MIME part named by [`AttachmentContent::mtom_content_id`], which the caller keeps
    /// (a large part spooled to a file); its size.
    Part {
        /// The part's size in bytes.
        len: u64,
    },
}

impl AttachmentData {
    /// The bytes, when they are in memory.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            AttachmentData::Bytes(bytes) => Some(bytes),
            AttachmentData::Part { .. } => None,
        }
    }
}

/// `basic:AttachmentContent`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentContent {
    /// The element.
    pub element: ElementId,
    /// `Id`.
    pub id: String,
    /// The bytes (from base64 text or from the MTOM part), or where the caller keeps them.
    pub data: AttachmentData,
    /// The MTOM part's Content-ID when `Content` was an `xop:Include`.
    pub mtom_content_id: Option<String>,
    /// The MTOM part's `Content-Type`, when it came from a part.
    pub part_content_type: Option<String>,
}

/// `SendResponseRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct SendResponseReq {
    /// Schema version.
    pub version: SchemaVersion,
    /// The `SendResponseRequest` element.
    pub body: ElementId,
    /// `SenderProvidedResponseData` (the signed element).
    pub sender_data: SenderResponseData,
    /// `AttachmentContentList`, resolved (empty when absent).
    pub attachments: Vec<AttachmentContent>,
    /// `CallerInformationSystemSignature` wrapper.
    pub caller_signature: Option<ElementId>,
}

/// `SenderProvidedResponseData`.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderResponseData {
    /// The element.
    pub element: ElementId,
    /// Its `Id` attribute.
    pub id_attr: Option<String>,
    /// `MessageID`, raw text.
    pub message_id: String,
    /// `To` (the request's `ReplyTo`).
    pub to: String,
    /// What the response carries.
    pub content: ResponseContent,
}

/// The choice inside `SenderProvidedResponseData`.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseContent {
    /// A business answer.
    Primary {
        /// `MessagePrimaryContent`.
        content: PrimaryContent,
        /// `PersonalSignature` wrapper.
        personal_signature: Option<ElementId>,
        /// `AttachmentHeaderList`.
        attachment_headers: Vec<AttachmentHeader>,
        /// `RefAttachmentHeaderList`.
        ref_attachment_headers: Vec<RefAttachmentHeader>,
    },
    /// `RequestRejected+`.
    Rejected(Vec<Rejection>),
    /// `RequestStatus`: an intermediate business status.
    Status(RequestStatus),
    /// `AsyncProcessingStatus` (normally produced by SMEV itself).
    AsyncProcessingStatus(AsyncStatus),
}

/// `RejectCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectCode {
    /// `ACCESS_DENIED`
    AccessDenied,
    /// `NO_DATA`
    NoData,
    /// `UNKNOWN_REQUEST_DESCRIPTION`
    UnknownRequestDescription,
    /// `FAILURE`
    Failure,
}

impl RejectCode {
    /// The schema value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::AccessDenied => "ACCESS_DENIED",
            RejectCode::NoData => "NO_DATA",
            RejectCode::UnknownRequestDescription => "UNKNOWN_REQUEST_DESCRIPTION",
            RejectCode::Failure => "FAILURE",
        }
    }

    /// Parses the schema value (exact, as `xs:string` keeps white space).
    pub fn parse(text: &str) -> Option<RejectCode> {
        [
            RejectCode::AccessDenied,
            RejectCode::NoData,
            RejectCode::UnknownRequestDescription,
            RejectCode::Failure,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
    }
}

/// `RequestRejected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `RejectionReasonCode`.
    pub code: RejectCode,
    /// `RejectionReasonDescription`.
    pub description: String,
}

/// `RequestStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestStatus {
    /// `StatusCode`.
    pub code: i32,
    /// `StatusParameter` (`Key`, `Value`) pairs.
    pub parameters: Vec<(String, String)>,
    /// `StatusDescription`.
    pub description: String,
}

/// `AsyncProcessingStatus` as found in a `SenderProvidedResponseData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncStatus {
    /// The element.
    pub element: ElementId,
    /// `OriginalMessageId`.
    pub original_message_id: String,
    /// `StatusCategory` as written (a value of the version's `InteractionStatusType`).
    pub status_category: String,
    /// The same, as the domain enum.
    pub status: Option<InteractionStatus>,
    /// `StatusDetails`.
    pub details: Option<String>,
    /// 1.3 `rout:RoutingStatus`.
    pub routing_status: Option<ElementId>,
    /// `SmevFault` (its content is checked only when it has no `xsi:type`).
    pub smev_fault: Option<ElementId>,
}

/// `GetRequestRequest` / `GetResponseRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct GetMessageReq {
    /// Schema version.
    pub version: SchemaVersion,
    /// The body element.
    pub body: ElementId,
    /// `MessageTypeSelector` (the signed element).
    pub selector: MessageTypeSelector,
    /// `CallerInformationSystemSignature` wrapper.
    pub caller_signature: Option<ElementId>,
}

/// `basic:MessageTypeSelector`.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageTypeSelector {
    /// The element.
    pub element: ElementId,
    /// Its `Id` attribute.
    pub id_attr: Option<String>,
    /// `NamespaceURI` (present together with `RootElementLocalName`).
    pub namespace_uri: Option<String>,
    /// `RootElementLocalName`.
    pub root_element_local_name: Option<String>,
    /// `Timestamp`.
    pub timestamp: OffsetDateTime,
    /// `NodeID`.
    pub node_id: Option<String>,
}

impl MessageTypeSelector {
    /// The selected message type, or `None` for "any type".
    pub fn qname(&self) -> Option<QName> {
        match (&self.namespace_uri, &self.root_element_local_name) {
            (Some(ns), Some(local)) => Some(QName::new(ns.clone(), local.clone())),
            _ => None,
        }
    }
}

/// `AckRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckReq {
    /// Schema version.
    pub version: SchemaVersion,
    /// The body element.
    pub body: ElementId,
    /// `AckTargetMessage` (the signed element).
    pub target: AckTarget,
    /// `CallerInformationSystemSignature` wrapper.
    pub caller_signature: Option<ElementId>,
}

/// `basic:AckTargetMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckTarget {
    /// The element.
    pub element: ElementId,
    /// `@Id` (required in every version).
    pub id_attr: String,
    /// The acknowledged message ID (checked against `basic:UUID`).
    pub message_id: String,
    /// `@accepted` (required in 1.1, optional in 1.2/1.3).
    pub accepted: Option<bool>,
}

/// `GetStatusRequest` / `GetIncomingQueueStatisticsRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimestampedReq {
    /// Schema version.
    pub version: SchemaVersion,
    /// The body element.
    pub body: ElementId,
    /// `basic:Timestamp` (the signed element).
    pub timestamp: Timestamp,
    /// `NodeID` (only `GetIncomingQueueStatisticsRequest` has it).
    pub node_id: Option<String>,
    /// `CallerInformationSystemSignature` wrapper.
    pub caller_signature: Option<ElementId>,
}

/// `basic:Timestamp`.
#[derive(Debug, Clone, PartialEq)]
pub struct Timestamp {
    /// The element.
    pub element: ElementId,
    /// Its `Id` attribute.
    pub id_attr: Option<String>,
    /// The time.
    pub value: OffsetDateTime,
}

/// 1.3 `rout:Routing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// The `Routing` element.
    pub element: ElementId,
    /// `RoutingInformation` (signed by `RoutingSignature`).
    pub information: ElementId,
    /// Its `Id` attribute.
    pub information_id_attr: Option<String>,
    /// `RoutingInformation/MessageID`.
    pub message_id: String,
    /// `DynamicRouting/DynamicValue`.
    pub dynamic_values: Vec<String>,
    /// `IdentifierRouting/IdentifierValue`.
    pub identifier_values: Vec<String>,
    /// `RegistryRouting/RegistryRecordRouting`.
    pub registry_records: Vec<RegistryRecordRouting>,
    /// The `RoutingSignature` wrapper.
    pub signature: ElementId,
}

/// 1.3 `rout:RegistryRecordRouting`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRecordRouting {
    /// `RecordId`.
    pub record_id: i32,
    /// `UseGeneralRouting`.
    pub use_general_routing: bool,
    /// `DynamicRouting/DynamicValue`.
    pub dynamic_values: Vec<String>,
    /// `IdentifierRouting/IdentifierValue`.
    pub identifier_values: Vec<String>,
}
