//! Response encoding: complete SOAP 1.1 envelopes for every operation's answer, in the element
//! order of each version's schema, with the real SMEV's prefix choices (basic as the default
//! namespace, types as `ns2`, faults as `ns3`, declared on the body element).
//!
//! No `SMEVSignature` is written: the core signs the element carrying the `Id` attribute given
//! here (`MessageMetadata`, `Request`, `Response`, `AsyncProcessingStatusData`) with the
//! signature library, which appends the `SMEVSignature` wrapper as the last child of that
//! element's parent. Everything written here therefore stops exactly where `SMEVSignature`
//! would start.

use opensmev_types::{InteractionStatus, MessageKind, Mnemonic, SchemaVersion};
use time::OffsetDateTime;

use crate::fault::{Fault, extension_type, write_fault_content_as};
use crate::lexical::{escape_attr, escape_text, format_date_time, truncate_chars};
use crate::ns::{SOAP_ENV_NS, XSI_NS};

/// `basic:InteractionTypeType` (written in 1.1 `MessageMetadata/SupplementaryData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InteractionType {
    /// `PGU2OIV`: portal → authority.
    Pgu2Oiv,
    /// `OIV2OIV`: authority → authority (the default).
    #[default]
    Oiv2Oiv,
    /// `OIV2sameOIV`.
    Oiv2SameOiv,
    /// `Charger2PaymentGate`.
    Charger2PaymentGate,
    /// `PaymentGate2Treasury`.
    PaymentGate2Treasury,
    /// `OIV2Treasury`.
    Oiv2Treasury,
    /// `other`.
    Other,
    /// `NotDetected`.
    NotDetected,
}

impl InteractionType {
    /// The schema value.
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionType::Pgu2Oiv => "PGU2OIV",
            InteractionType::Oiv2Oiv => "OIV2OIV",
            InteractionType::Oiv2SameOiv => "OIV2sameOIV",
            InteractionType::Charger2PaymentGate => "Charger2PaymentGate",
            InteractionType::PaymentGate2Treasury => "PaymentGate2Treasury",
            InteractionType::Oiv2Treasury => "OIV2Treasury",
            InteractionType::Other => "other",
            InteractionType::NotDetected => "NotDetected",
        }
    }
}

/// A participant as shown in `MessageMetadata/Sender` and `Recipient`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// `Mnemonic`.
    pub mnemonic: Mnemonic,
    /// `HumanReadableName` (1.1 and 1.3; at most 500 characters are written).
    pub name: String,
}

/// `MessageMetadata`, the routing information SMEV fills in. Each version writes the elements
/// its schema has:
///
/// | field | 1.1 | 1.2 | 1.3 |
/// |---|---|---|---|
/// | `message_id` → `MessageId` | ✓ | ✓ | ✓ |
/// | `kind` → `MessageType` | ✓ | ✓ | ✓ |
/// | `sender` → `Sender` | `Mnemonic`, `HumanReadableName` | `Mnemonic` | `Mnemonic`, `HumanReadableName` |
/// | `sending_timestamp` | ✓ | ✓ | ✓ |
/// | `message_broker` → `MessageBroker` | ✓ | – | – |
/// | `destination_name` → `DestinationName` | ✓ (required) | – | – |
/// | `recipient` → `Recipient` (absent for broadcast) | `Mnemonic`, `HumanReadableName` | `Mnemonic` | `Mnemonic`, `HumanReadableName` |
/// | `detected_content_type_name`, `interaction_type` → `SupplementaryData` | ✓ (required) | – | – |
/// | `delivery_timestamp` → `DeliveryTimestamp` | ✓ | ✓ | ✓ |
/// | `status` → `Status` (as [`InteractionStatus::as_str`]) | ✓ | ✓ | ✓ |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMetadata {
    /// `MessageId`: the message's ID (the sender's `MessageID`).
    pub message_id: String,
    /// `MessageType`.
    pub kind: MessageKind,
    /// `Sender`.
    pub sender: Participant,
    /// `SendingTimestamp`: when the bus accepted the message.
    pub sending_timestamp: OffsetDateTime,
    /// `Recipient` (`None` for a broadcast).
    pub recipient: Option<Participant>,
    /// `DeliveryTimestamp`.
    pub delivery_timestamp: Option<OffsetDateTime>,
    /// `Status`.
    pub status: Option<InteractionStatus>,
    /// 1.1 `MessageBroker`.
    pub message_broker: Option<String>,
    /// 1.1 `DestinationName` (required there): the recipient's queue name; empty = the
    /// recipient's mnemonic (`unknown` without a recipient).
    pub destination_name: String,
    /// 1.1 `SupplementaryData/DetectedContentTypeName` (the message type's readable name; omit
    /// for responses).
    pub detected_content_type_name: Option<String>,
    /// 1.1 `SupplementaryData/InteractionType`.
    pub interaction_type: InteractionType,
}

impl MessageMetadata {
    /// Metadata with the required fields; the optional ones empty, `InteractionType` `OIV2OIV`,
    /// `DestinationName` empty (see the field).
    pub fn new(
        message_id: impl Into<String>,
        kind: MessageKind,
        sender: Participant,
        sending_timestamp: OffsetDateTime,
    ) -> MessageMetadata {
        MessageMetadata {
            message_id: message_id.into(),
            kind,
            sender,
            sending_timestamp,
            recipient: None,
            delivery_timestamp: None,
            status: None,
            message_broker: None,
            destination_name: String::new(),
            detected_content_type_name: None,
            interaction_type: InteractionType::default(),
        }
    }
}

/// A file-store attachment as delivered (`basic:FSAttachmentsList/FSAttachment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsAttachment {
    /// `uuid`.
    pub uuid: String,
    /// `UserName`.
    pub user_name: String,
    /// `Password`.
    pub password: String,
    /// `FileName`.
    pub file_name: String,
}

/// A request as delivered by `GetRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredRequest {
    /// `Request/@Id` (SMEV uses `SIGNED_BY_SMEV`): the element the core signs.
    pub request_id_attr: String,
    /// A standalone `SenderProvidedRequestData` element in the recipient's version namespaces
    /// ([`crate::standalone`] or [`crate::rewrite_sender_data`]), inserted verbatim.
    pub sender_data_xml: String,
    /// `Request/MessageMetadata`.
    pub metadata: MessageMetadata,
    /// `Request/FSAttachmentsList`.
    pub fs_attachments: Vec<FsAttachment>,
    /// `Request/ReplyTo` (always written; required in 1.1).
    pub reply_to: String,
    /// A standalone `ds:Signature`, inserted verbatim in `SenderInformationSystemSignature`.
    pub sender_signature_xml: Option<String>,
    /// `RequestMessage/AttachmentContentList`: the `Id`s. Each `Content` is written empty;
    /// [`crate::frame_answer`] puts the bytes in (base64 or an MTOM part) after signing.
    pub attachments: Vec<String>,
}

/// A response as delivered by `GetResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredResponse {
    /// `Response/@Id` (SMEV uses `SIGNED_BY_SMEV`): the element the core signs.
    pub response_id_attr: String,
    /// `OriginalMessageId`: the request's ID.
    pub original_message_id: Option<String>,
    /// `OriginalTransactionCode`: the request's `TransactionCode`.
    pub original_transaction_code: Option<String>,
    /// `ReferenceMessageID`.
    pub reference_message_id: Option<String>,
    /// A standalone `SenderProvidedResponseData` in the recipient's version namespaces, inserted
    /// verbatim.
    pub sender_data_xml: String,
    /// `Response/MessageMetadata`.
    pub metadata: MessageMetadata,
    /// `Response/FSAttachmentsList`.
    pub fs_attachments: Vec<FsAttachment>,
    /// A standalone `ds:Signature`, inserted verbatim in `SenderInformationSystemSignature`.
    pub sender_signature_xml: Option<String>,
    /// `ResponseMessage/AttachmentContentList`: the `Id`s (see
    /// [`DeliveredRequest::attachments`]).
    pub attachments: Vec<String>,
}

/// A status notice delivered by `GetStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusItem {
    /// `AsyncProcessingStatusData/@Id`: the element the core signs.
    pub id_attr: String,
    /// `OriginalMessageId`: the message the status is about.
    pub original_message_id: String,
    /// `StatusCategory`.
    pub status: InteractionStatus,
    /// `StatusDetails` (at most 500 characters are written).
    pub details: Option<String>,
    /// `SmevFault`: `Code`, `Description` and, for a fault whose type extends `SmevFault`
    /// (`InvalidContent`, `SignatureVerificationFault`, …), an `xsi:type` naming it and its
    /// elements — as the real SMEV writes rejections.
    pub fault: Option<Fault>,
}

/// The `SenderProvidedResponseData` SMEV itself sends through `GetResponse` when it rejects a
/// request asynchronously (1.2 traffic: `Id="SIGNED_ASYNC_BY_SMEV"`, sender mnemonic `smev`,
/// `requestIsRejectedBySmev` with an `xsi:type="ns3:InvalidContent"` fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncStatusResponse {
    /// `@Id` (SMEV: `SIGNED_ASYNC_BY_SMEV`).
    pub id_attr: String,
    /// `MessageID` of this response.
    pub message_id: String,
    /// `To`: the request's `ReplyTo`.
    pub to: String,
    /// `AsyncProcessingStatus/OriginalMessageId`: the request.
    pub original_message_id: String,
    /// `StatusCategory`.
    pub status: InteractionStatus,
    /// `StatusDetails`.
    pub details: Option<String>,
    /// `SmevFault`.
    pub fault: Option<Fault>,
}

/// A small XML writer with the SMEV prefix conventions.
pub(crate) struct Writer {
    pub(crate) out: String,
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer {
            out: String::with_capacity(1024),
        }
    }

    /// Opens `<name attrs…>`.
    pub(crate) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (n, v) in attrs {
            self.out.push(' ');
            self.out.push_str(n);
            self.out.push_str("=\"");
            self.out.push_str(&escape_attr(v));
            self.out.push('"');
        }
        self.out.push('>');
    }

    pub(crate) fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>text</name>`.
    pub(crate) fn leaf(&mut self, name: &str, text: &str) {
        self.open(name, &[]);
        self.out.push_str(&escape_text(text));
        self.close(name);
    }

    pub(crate) fn raw(&mut self, xml: &str) {
        self.out.push_str(xml);
    }
}

/// The namespace declarations the real SMEV puts on the body element.
pub(crate) fn smev_declarations(version: SchemaVersion) -> [(&'static str, &'static str); 3] {
    [
        ("xmlns", version.basic_ns()),
        ("xmlns:ns2", version.types_ns()),
        ("xmlns:ns3", version.faults_ns()),
    ]
}

/// Wraps a body element in a complete SOAP 1.1 envelope.
pub(crate) fn envelope(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 200);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    out.push_str("<soap:Envelope xmlns:soap=\"");
    out.push_str(SOAP_ENV_NS);
    out.push_str("\"><soap:Body>");
    out.push_str(body);
    out.push_str("</soap:Body></soap:Envelope>");
    out
}

fn open_body(w: &mut Writer, version: SchemaVersion, local: &str) -> String {
    let name = format!("ns2:{local}");
    w.open(&name, &smev_declarations(version));
    name
}

fn empty_body(version: SchemaVersion, local: &str) -> String {
    let mut w = Writer::new();
    w.out.push_str("<ns2:");
    w.out.push_str(local);
    for (n, v) in smev_declarations(version) {
        w.out.push_str(&format!(" {n}=\"{}\"", escape_attr(v)));
    }
    w.out.push_str("/>");
    envelope(&w.out)
}

fn participant(
    w: &mut Writer,
    version: SchemaVersion,
    element: &str,
    p: &Participant,
    max_mnemonic: usize,
) {
    let name = format!("ns2:{element}");
    w.open(&name, &[]);
    w.leaf(
        "ns2:Mnemonic",
        truncate_chars(p.mnemonic.as_str(), max_mnemonic),
    );
    if version != SchemaVersion::V1_2 {
        w.leaf("ns2:HumanReadableName", truncate_chars(&p.name, 500));
    }
    w.close(&name);
}

/// Writes `ns2:MessageMetadata` of a version.
pub(crate) fn write_metadata(
    w: &mut Writer,
    version: SchemaVersion,
    md: &MessageMetadata,
    id_attr: Option<&str>,
) {
    let attrs: Vec<(&str, &str)> = id_attr.map(|id| ("Id", id)).into_iter().collect();
    w.open("ns2:MessageMetadata", &attrs);
    w.leaf("ns2:MessageId", &md.message_id);
    w.leaf("ns2:MessageType", md.kind.as_str());
    participant(w, version, "Sender", &md.sender, 50);
    w.leaf(
        "ns2:SendingTimestamp",
        &format_date_time(md.sending_timestamp),
    );
    if version == SchemaVersion::V1_1 {
        if let Some(broker) = &md.message_broker {
            w.leaf("ns2:MessageBroker", truncate_chars(broker, 200));
        }
        let destination = match (&md.destination_name, &md.recipient) {
            (name, _) if !name.is_empty() => name.as_str(),
            (_, Some(recipient)) => recipient.mnemonic.as_str(),
            (_, None) => "unknown",
        };
        w.leaf("ns2:DestinationName", truncate_chars(destination, 500));
    }
    if let Some(recipient) = &md.recipient {
        participant(w, version, "Recipient", recipient, 100);
    }
    if version == SchemaVersion::V1_1 {
        w.open("ns2:SupplementaryData", &[]);
        if let Some(name) = &md.detected_content_type_name {
            w.leaf("ns2:DetectedContentTypeName", truncate_chars(name, 500));
        }
        w.leaf("ns2:InteractionType", md.interaction_type.as_str());
        w.close("ns2:SupplementaryData");
    }
    if let Some(at) = md.delivery_timestamp {
        w.leaf("ns2:DeliveryTimestamp", &format_date_time(at));
    }
    if let Some(status) = md.status {
        w.leaf("ns2:Status", status.as_str(version));
    }
    w.close("ns2:MessageMetadata");
}

fn fs_attachments(w: &mut Writer, list: &[FsAttachment]) {
    if list.is_empty() {
        return;
    }
    w.open("FSAttachmentsList", &[]);
    for a in list {
        w.open("FSAttachment", &[]);
        w.leaf("uuid", &a.uuid);
        w.leaf("UserName", &a.user_name);
        w.leaf("Password", &a.password);
        w.leaf("FileName", &a.file_name);
        w.close("FSAttachment");
    }
    w.close("FSAttachmentsList");
}

fn attachment_contents(w: &mut Writer, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    w.open("AttachmentContentList", &[]);
    for id in ids {
        w.open("AttachmentContent", &[]);
        w.leaf("Id", id);
        w.open("Content", &[]);
        w.close("Content");
        w.close("AttachmentContent");
    }
    w.close("AttachmentContentList");
}

fn sender_signature(w: &mut Writer, signature: Option<&str>) {
    if let Some(sig) = signature {
        w.open("ns2:SenderInformationSystemSignature", &[]);
        w.raw(sig);
        w.close("ns2:SenderInformationSystemSignature");
    }
}

/// `SendRequestResponse`: `MessageMetadata` with `Id = id_attr` (SMEV: `SIGNED_BY_SMEV`).
pub fn send_request_response(
    version: SchemaVersion,
    metadata: &MessageMetadata,
    id_attr: &str,
) -> String {
    send_response_like(version, "SendRequestResponse", metadata, id_attr)
}

/// `SendResponseResponse`: `MessageMetadata` with `Id = id_attr`.
pub fn send_response_response(
    version: SchemaVersion,
    metadata: &MessageMetadata,
    id_attr: &str,
) -> String {
    send_response_like(version, "SendResponseResponse", metadata, id_attr)
}

fn send_response_like(
    version: SchemaVersion,
    local: &str,
    metadata: &MessageMetadata,
    id_attr: &str,
) -> String {
    let mut w = Writer::new();
    let body = open_body(&mut w, version, local);
    write_metadata(&mut w, version, metadata, Some(id_attr));
    w.close(&body);
    envelope(&w.out)
}

/// `GetRequestResponse`: empty (queue empty) or `RequestMessage` → `Request` (`@Id`,
/// `SenderProvidedRequestData`, `MessageMetadata`, `FSAttachmentsList?`, `ReplyTo`,
/// `SenderInformationSystemSignature?`), `AttachmentContentList?`.
pub fn get_request_response(
    version: SchemaVersion,
    delivered: Option<&DeliveredRequest>,
) -> String {
    let Some(d) = delivered else {
        return empty_body(version, "GetRequestResponse");
    };
    let mut w = Writer::new();
    let body = open_body(&mut w, version, "GetRequestResponse");
    w.open("ns2:RequestMessage", &[]);
    w.open("ns2:Request", &[("Id", &d.request_id_attr)]);
    w.raw(&d.sender_data_xml);
    write_metadata(&mut w, version, &d.metadata, None);
    fs_attachments(&mut w, &d.fs_attachments);
    w.leaf("ns2:ReplyTo", &d.reply_to);
    sender_signature(&mut w, d.sender_signature_xml.as_deref());
    w.close("ns2:Request");
    attachment_contents(&mut w, &d.attachments);
    w.close("ns2:RequestMessage");
    w.close(&body);
    envelope(&w.out)
}

/// `GetResponseResponse`: empty (queue empty) or `ResponseMessage` → `Response`
/// (`@Id`, `OriginalMessageId?`, `OriginalTransactionCode?`, `ReferenceMessageID?`,
/// `SenderProvidedResponseData`, `MessageMetadata`, `FSAttachmentsList?`,
/// `SenderInformationSystemSignature?`), `AttachmentContentList?`.
pub fn get_response_response(
    version: SchemaVersion,
    delivered: Option<&DeliveredResponse>,
) -> String {
    let Some(d) = delivered else {
        return empty_body(version, "GetResponseResponse");
    };
    let mut w = Writer::new();
    let body = open_body(&mut w, version, "GetResponseResponse");
    w.open("ns2:ResponseMessage", &[]);
    w.open("ns2:Response", &[("Id", &d.response_id_attr)]);
    if let Some(id) = &d.original_message_id {
        w.leaf("ns2:OriginalMessageId", id);
    }
    if let Some(code) = &d.original_transaction_code {
        w.leaf("ns2:OriginalTransactionCode", truncate_chars(code, 1500));
    }
    if let Some(id) = &d.reference_message_id {
        w.leaf("ns2:ReferenceMessageID", id);
    }
    w.raw(&d.sender_data_xml);
    write_metadata(&mut w, version, &d.metadata, None);
    fs_attachments(&mut w, &d.fs_attachments);
    sender_signature(&mut w, d.sender_signature_xml.as_deref());
    w.close("ns2:Response");
    attachment_contents(&mut w, &d.attachments);
    w.close("ns2:ResponseMessage");
    w.close(&body);
    envelope(&w.out)
}

/// `AckResponse` (empty, `basic:Void`).
pub fn ack_response(version: SchemaVersion) -> String {
    empty_body(version, "AckResponse")
}

/// Writes `ns2:AsyncProcessingStatus`.
pub(crate) fn write_async_status(
    w: &mut Writer,
    version: SchemaVersion,
    original_message_id: &str,
    status: InteractionStatus,
    details: Option<&str>,
    fault: Option<&Fault>,
) {
    w.open("ns2:AsyncProcessingStatus", &[]);
    w.leaf("ns2:OriginalMessageId", original_message_id);
    w.leaf("ns2:StatusCategory", status.as_str(version));
    if let Some(details) = details {
        w.leaf("ns2:StatusDetails", truncate_chars(details, 500));
    }
    if let Some(fault) = fault {
        match extension_type(&fault.kind) {
            Some(type_name) => {
                let qname = format!("ns3:{type_name}");
                w.open(
                    "ns2:SmevFault",
                    &[("xmlns:xsi", XSI_NS), ("xsi:type", &qname)],
                );
            }
            None => w.open("ns2:SmevFault", &[]),
        }
        write_fault_content_as(w, version, fault, true);
        w.close("ns2:SmevFault");
    }
    w.close("ns2:AsyncProcessingStatus");
}

/// `GetStatusResponse`: empty, or `SmevAsyncProcessingMessage` → `AsyncProcessingStatusData`
/// (`@Id`) → `AsyncProcessingStatus`.
pub fn get_status_response(version: SchemaVersion, item: Option<&StatusItem>) -> String {
    let Some(item) = item else {
        return empty_body(version, "GetStatusResponse");
    };
    let mut w = Writer::new();
    let body = open_body(&mut w, version, "GetStatusResponse");
    w.open("ns2:SmevAsyncProcessingMessage", &[]);
    w.open("ns2:AsyncProcessingStatusData", &[("Id", &item.id_attr)]);
    write_async_status(
        &mut w,
        version,
        &item.original_message_id,
        item.status,
        item.details.as_deref(),
        item.fault.as_ref(),
    );
    w.close("ns2:AsyncProcessingStatusData");
    w.close("ns2:SmevAsyncProcessingMessage");
    w.close(&body);
    envelope(&w.out)
}

/// A standalone `SenderProvidedResponseData` with an `AsyncProcessingStatus` (SMEV's own
/// asynchronous answer), in a version's namespaces, to deliver with [`get_response_response`]
/// (the bus signs it itself and passes that signature as `sender_signature_xml`).
pub fn async_status_sender_data(version: SchemaVersion, data: &AsyncStatusResponse) -> String {
    let mut w = Writer::new();
    let mut attrs: Vec<(&str, &str)> = smev_declarations(version).to_vec();
    attrs.push(("Id", &data.id_attr));
    w.open("ns2:SenderProvidedResponseData", &attrs);
    w.leaf("ns2:MessageID", &data.message_id);
    w.leaf("ns2:To", truncate_chars(&data.to, 4000));
    write_async_status(
        &mut w,
        version,
        &data.original_message_id,
        data.status,
        data.details.as_deref(),
        data.fault.as_ref(),
    );
    w.close("ns2:SenderProvidedResponseData");
    w.out
}

/// `GetIncomingQueueStatisticsResponse` (schema 1.1 only): one `QueueStatistics` per queue
/// (`queueName` cut to 200 characters; counts above `i64::MAX` are written as `i64::MAX`).
pub fn queue_statistics_response(queues: &[(String, u64)]) -> String {
    let version = SchemaVersion::V1_1;
    let mut w = Writer::new();
    let body = open_body(&mut w, version, "GetIncomingQueueStatisticsResponse");
    for (name, pending) in queues {
        let pending = (*pending).min(i64::MAX as u64).to_string();
        w.out.push_str(&format!(
            "<ns2:QueueStatistics queueName=\"{}\" pendingMessageNumber=\"{pending}\"/>",
            escape_attr(truncate_chars(name, 200))
        ));
    }
    w.close(&body);
    envelope(&w.out)
}
