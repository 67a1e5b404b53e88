//! SMEV faults: [`Fault`], [`FaultKind`] (one variant per fault element of the faults schemas)
//! and their SOAP 1.1 encoding.
//!
//! Shape, as the real SMEV answers (see `SoapFaultResponse_SignatureVerificationFault.xml`):
//! `soap:Fault` with `faultcode` `soap:Server` (for every fault: the real SMEV uses it also for
//! faults caused by the client), `faultstring` (text in the bus's fault language, no `xml:lang`;
//! `SMEV-nnn: ` first when the fault element has no `Code`), and `detail`
//! holding the version's fault element with the basic namespace as default namespace, types as
//! `ns2`, faults as `ns3`. Faults whose type extends `basic:SmevFault` in that version carry
//! `Code` and `Description` (basic namespace) before their own elements (faults namespace).

use opensmev_types::SchemaVersion;

use crate::encode::{Writer, envelope, smev_declarations};
use crate::lexical::truncate_chars;
use opensmev_xmldsig::xml::cut_chars as bounded;

/// The HTTP status of a SOAP 1.1 fault response.
pub const FAULT_HTTP_STATUS: u16 = 500;

/// The values of the `SignatureVerificationFault` enumeration.
pub const SIGNATURE_FAULT_VALUES: [&str; 6] = [
    "PoorSOAPEnvelopeFormat",
    "NoSignatureFound",
    "IncorrectSignatureTarget",
    "SignatureIsInvalid",
    "CertificateIsNotFound",
    "CertificateIsExpired",
];

/// One `InvalidContent/ValidationError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrorItem {
    /// The error text.
    pub text: String,
    /// `@errorPosition` (required by the schema; `None` is written as `-1`, as the real SMEV
    /// does when it has no position).
    pub position: Option<i32>,
}

/// Which fault, with its detail data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// `SMEVFailure` (Void): the bus failed; the client retries.
    SmevFailure,
    /// `InvalidContent` (SmevFault + `ValidationError+`). An empty list is written as one
    /// `ValidationError` with the fault's description.
    InvalidContent(Vec<ValidationErrorItem>),
    /// `SignatureVerificationFault` (SmevFault + the enumeration value, one of
    /// [`SIGNATURE_FAULT_VALUES`]; any other value is written as `SignatureIsInvalid`).
    SignatureVerificationFault(String),
    /// `SenderIsNotRegistered` (Void).
    SenderIsNotRegistered,
    /// `UnknownMessageType` (Void).
    UnknownMessageType,
    /// `BusinessDataTypeIsNotSupported` (SmevFault + root local name and namespace).
    BusinessDataTypeIsNotSupported {
        /// `RootElementLocalName`.
        local: String,
        /// `RootElementNamespaceURI`.
        ns: String,
    },
    /// `AccessDenied` (Void).
    AccessDenied,
    /// `PersonalAccessDenied` (SmevFault; 1.3 only — written as `AccessDenied` in 1.1/1.2).
    PersonalAccessDenied,
    /// `RecipientIsNotFound` (Void).
    RecipientIsNotFound,
    /// `IncorrectResponseContentType` (Void).
    IncorrectResponseContentType,
    /// `AttachmentSizeLimitExceeded` (SmevFault + sizes in bytes).
    AttachmentSizeLimitExceeded {
        /// `PermittedTotalAttachmentSize`.
        permitted: u64,
        /// `RealTotalAttachmentSize`.
        real: u64,
    },
    /// `QuoteLimitExceeded` (SmevFault + sizes in bytes).
    QuoteLimitExceeded {
        /// `RemainedTotalQuoteSize`.
        remained: u64,
        /// `RealTotalAttachmentSize`.
        real: u64,
    },
    /// `AttachmentContentMiscoordination` (Void).
    AttachmentContentMiscoordination,
    /// `DestinationOverflow` (SmevFault + broker address and queue name).
    DestinationOverflow {
        /// `MessageBrokerAddress`.
        broker: String,
        /// `DestinationName`.
        destination: String,
    },
    /// `MessageIsAlreadySent` (Void).
    MessageIsAlreadySent,
    /// `InvalidMessageIdFormat` (Void).
    InvalidMessageIdFormat,
    /// `StaleMessageId` (Void).
    StaleMessageId,
    /// `TransactionCodeInvalid` (SmevFault).
    TransactionCodeInvalid,
    /// `EndOfLifeReached` (Void in 1.1/1.2, SmevFault in 1.3).
    EndOfLifeReached,
    /// `TargetMessageIsNotFound` (Void).
    TargetMessageIsNotFound,
    /// `RequestIsNotFound` (Void).
    RequestIsNotFound,
}

impl FaultKind {
    /// The fault element written for a version (`PersonalAccessDenied` is `AccessDenied` before
    /// 1.3).
    pub fn element_name(&self, version: SchemaVersion) -> &'static str {
        match self {
            FaultKind::SmevFailure => "SMEVFailure",
            FaultKind::InvalidContent(_) => "InvalidContent",
            FaultKind::SignatureVerificationFault(_) => "SignatureVerificationFault",
            FaultKind::SenderIsNotRegistered => "SenderIsNotRegistered",
            FaultKind::UnknownMessageType => "UnknownMessageType",
            FaultKind::BusinessDataTypeIsNotSupported { .. } => "BusinessDataTypeIsNotSupported",
            FaultKind::AccessDenied => "AccessDenied",
            FaultKind::PersonalAccessDenied if version == SchemaVersion::V1_3 => {
                "PersonalAccessDenied"
            }
            FaultKind::PersonalAccessDenied => "AccessDenied",
            FaultKind::RecipientIsNotFound => "RecipientIsNotFound",
            FaultKind::IncorrectResponseContentType => "IncorrectResponseContentType",
            FaultKind::AttachmentSizeLimitExceeded { .. } => "AttachmentSizeLimitExceeded",
            FaultKind::QuoteLimitExceeded { .. } => "QuoteLimitExceeded",
            FaultKind::AttachmentContentMiscoordination => "AttachmentContentMiscoordination",
            FaultKind::DestinationOverflow { .. } => "DestinationOverflow",
            FaultKind::MessageIsAlreadySent => "MessageIsAlreadySent",
            FaultKind::InvalidMessageIdFormat => "InvalidMessageIdFormat",
            FaultKind::StaleMessageId => "StaleMessageId",
            FaultKind::TransactionCodeInvalid => "TransactionCodeInvalid",
            FaultKind::EndOfLifeReached => "EndOfLifeReached",
            FaultKind::TargetMessageIsNotFound => "TargetMessageIsNotFound",
            FaultKind::RequestIsNotFound => "RequestIsNotFound",
        }
    }

    /// Whether the element's type extends `basic:SmevFault` in that version (then it carries
    /// `Code` and `Description`); otherwise it is `basic:Void` (empty).
    pub fn is_smev_fault(&self, version: SchemaVersion) -> bool {
        match self {
            FaultKind::InvalidContent(_)
            | FaultKind::SignatureVerificationFault(_)
            | FaultKind::BusinessDataTypeIsNotSupported { .. }
            | FaultKind::AttachmentSizeLimitExceeded { .. }
            | FaultKind::QuoteLimitExceeded { .. }
            | FaultKind::DestinationOverflow { .. }
            | FaultKind::TransactionCodeInvalid => true,
            FaultKind::PersonalAccessDenied | FaultKind::EndOfLifeReached => {
                version == SchemaVersion::V1_3
            }
            _ => false,
        }
    }
}

/// An SMEV fault to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Which fault.
    pub kind: FaultKind,
    /// The human-readable message, in the bus's fault language (Russian by default): a short
    /// statement, then `Подробности: …` / `Details: …`. `faultstring` is this text, preceded by
    /// `SMEV-nnn: ` when the fault element has no `Code` (a `basic:Void` type).
    pub message: String,
    /// `Code` (e.g. `SMEV-101`; cut to 50 characters in 1.1, 100 in 1.2/1.3).
    pub code: String,
    /// `Description`, starting with the code like the real SMEV (`SMEV-101: …`).
    pub description: String,
    /// The language of the texts the encoder adds itself (the "more errors" marker).
    pub lang: FaultLanguage,
}

/// The language of a fault's texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaultLanguage {
    /// Russian (the default).
    #[default]
    Ru,
    /// English.
    En,
}

impl Fault {
    /// A fault whose `Description` is `"{code}: {message}"`.
    pub fn new(kind: FaultKind, code: impl Into<String>, message: impl Into<String>) -> Fault {
        let code = code.into();
        let message = message.into();
        Fault {
            description: format!("{code}: {message}"),
            kind,
            message,
            code,
            lang: FaultLanguage::Ru,
        }
    }

    /// The fault with the encoder's own texts in `lang`.
    pub fn in_language(mut self, lang: FaultLanguage) -> Fault {
        self.lang = lang;
        self
    }

    /// The `faultstring` for a version: the message, preceded by the code when the fault
    /// element carries no `Code` in that version (every fault carries its code somewhere).
    pub fn faultstring(&self, version: SchemaVersion) -> String {
        if self.kind.is_smev_fault(version) || self.message.starts_with(&self.code) {
            self.message.clone()
        } else {
            format!("{}: {}", self.code, self.message)
        }
    }
}

/// The most characters of a fault's `faultstring` and `Description` written.
pub const MAX_FAULT_TEXT_CHARS: usize = 4000;

/// The most `ValidationError`s of an `InvalidContent` written (the last says how many more
/// there were).
pub const MAX_VALIDATION_ERRORS: usize = 50;

/// The most characters of one `ValidationError` (and of other texts from the request, such as a
/// root element's name) written.
pub const MAX_ITEM_CHARS: usize = 1000;

/// A complete SOAP 1.1 fault envelope for a version. Whatever the fault holds, what is written
/// is bounded ([`MAX_FAULT_TEXT_CHARS`], [`MAX_VALIDATION_ERRORS`], [`MAX_ITEM_CHARS`]): a
/// fault never grows with a hostile request.
pub fn fault(version: SchemaVersion, fault: &Fault) -> String {
    let mut w = Writer::new();
    w.out
        .push_str("<soap:Fault><faultcode>soap:Server</faultcode>");
    let faultstring = fault.faultstring(version);
    w.leaf("faultstring", &bounded(&faultstring, MAX_FAULT_TEXT_CHARS));
    w.out.push_str("<detail>");
    let name = format!("ns3:{}", fault.kind.element_name(version));
    w.open(&name, &smev_declarations(version));
    write_fault_content(&mut w, version, fault);
    w.close(&name);
    w.out.push_str("</detail></soap:Fault>");
    envelope(&w.out)
}

/// The named type in the faults namespace that extends `basic:SmevFault` for this fault, if any
/// (what an `xsi:type` on an `AsyncProcessingStatus/SmevFault` names).
pub(crate) fn extension_type(kind: &FaultKind) -> Option<&'static str> {
    match kind {
        FaultKind::InvalidContent(_) => Some("InvalidContent"),
        FaultKind::SignatureVerificationFault(_) => Some("SignatureVerificationFault"),
        FaultKind::BusinessDataTypeIsNotSupported { .. } => Some("BusinessDataTypeIsNotSupported"),
        FaultKind::AttachmentSizeLimitExceeded { .. } => Some("AttachmentSizeLimitExceeded"),
        FaultKind::QuoteLimitExceeded { .. } => Some("QuoteLimitExceeded"),
        FaultKind::DestinationOverflow { .. } => Some("DestinationOverflow"),
        _ => None,
    }
}

/// The content of a fault element (or of a `SmevFault` with the matching `xsi:type`): `Code`
/// and `Description` when the type extends `SmevFault` (`force_smev_fault`: always), then the
/// extension's elements. The faults namespace must be bound to `ns3`, basic be the default.
pub(crate) fn write_fault_content(w: &mut Writer, version: SchemaVersion, fault: &Fault) {
    write_fault_content_as(w, version, fault, fault.kind.is_smev_fault(version));
}

pub(crate) fn write_fault_content_as(
    w: &mut Writer,
    version: SchemaVersion,
    fault: &Fault,
    smev_fault: bool,
) {
    if smev_fault {
        let max = if version == SchemaVersion::V1_1 {
            50
        } else {
            100
        };
        w.leaf("Code", truncate_chars(&fault.code, max));
        w.leaf(
            "Description",
            &bounded(&fault.description, MAX_FAULT_TEXT_CHARS),
        );
    }
    match &fault.kind {
        FaultKind::InvalidContent(items) => {
            let fallback = [ValidationErrorItem {
                text: fault.description.clone(),
                position: None,
            }];
            let items = if items.is_empty() {
                &fallback[..]
            } else {
                items
            };
            let more = items.len().saturating_sub(MAX_VALIDATION_ERRORS);
            let shown = if more > 0 {
                &items[..MAX_VALIDATION_ERRORS - 1]
            } else {
                items
            };
            let rest = (more > 0).then(|| ValidationErrorItem {
                text: match fault.lang {
                    FaultLanguage::Ru => format!("… ещё ошибок: {}", more + 1),
                    FaultLanguage::En => format!("… {} more errors", more + 1),
                },
                position: None,
            });
            for item in shown.iter().chain(rest.as_ref()) {
                let position = item.position.unwrap_or(-1).to_string();
                w.open("ns3:ValidationError", &[("errorPosition", &position)]);
                w.raw(&crate::lexical::escape_text(&bounded(
                    &item.text,
                    MAX_ITEM_CHARS,
                )));
                w.close("ns3:ValidationError");
            }
        }
        FaultKind::SignatureVerificationFault(value) => {
            let value = if SIGNATURE_FAULT_VALUES.contains(&value.as_str()) {
                value.as_str()
            } else {
                "SignatureIsInvalid"
            };
            w.leaf("ns3:SignatureVerificationFault", value);
        }
        FaultKind::BusinessDataTypeIsNotSupported { local, ns } => {
            w.leaf("ns3:RootElementLocalName", &bounded(local, MAX_ITEM_CHARS));
            w.leaf("ns3:RootElementNamespaceURI", &bounded(ns, MAX_ITEM_CHARS));
        }
        FaultKind::AttachmentSizeLimitExceeded { permitted, real } => {
            w.leaf("ns3:PermittedTotalAttachmentSize", &long(*permitted));
            w.leaf("ns3:RealTotalAttachmentSize", &long(*real));
        }
        FaultKind::QuoteLimitExceeded { remained, real } => {
            w.leaf("ns3:RemainedTotalQuoteSize", &long(*remained));
            w.leaf("ns3:RealTotalAttachmentSize", &long(*real));
        }
        FaultKind::DestinationOverflow {
            broker,
            destination,
        } => {
            w.leaf("ns3:MessageBrokerAddress", &bounded(broker, MAX_ITEM_CHARS));
            w.leaf("ns3:DestinationName", &bounded(destination, MAX_ITEM_CHARS));
        }
        _ => {}
    }
}

/// An `xs:long` from a byte count.
fn long(value: u64) -> String {
    value.min(i64::MAX as u64).to_string()
}
