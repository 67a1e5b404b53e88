//! Sending on an information system's behalf (the integration API, the cabinet): the bus
//! composes exactly the `SendRequest` / `SendResponse` an SMEV client would send, signs it as
//! that IS with the key it holds for it (ЭП-ОВ; an IS with an optional signature policy and no
//! held key sends unsigned), reads it back through the wire decoder and hands it to
//! [`Bus::send_request`] / [`Bus::send_response`] — the same rules, checks and stored form as a
//! SOAP call, so a SOAP recipient receives a message no different from a SOAP sender's.

use std::collections::HashMap;

use opensmev_store::Blob;
use opensmev_types::{MessageId, SchemaVersion};
use opensmev_wire::{
    AttachmentData, ComposedAttachment, ComposedRequest, ComposedResponse, ComposedResponseContent,
    FoundPart, PartLookup, Request, ResponseContent,
};
use opensmev_xmldsig::dsig::{self, Placement, SignOptions};
use opensmev_xmldsig::xml::{Document, Limits};
use time::OffsetDateTime;

use crate::bus::{
    Accepted, AttachmentsInput, Caller, ResponseBody, SendRequestInput, SendResponseInput, Signed,
};
use crate::error::{BusError, ContentIssue, IssueText};
use crate::registry::SignaturePolicy;
use crate::{Bus, ReplyToken};

/// An attachment to send.
#[derive(Debug, Clone)]
pub struct OutgoingAttachment {
    /// Its id (`AttachmentHeader/contentId`).
    pub id: String,
    /// Its MIME type.
    pub mime_type: String,
    /// Its bytes (a file is taken over by the store).
    pub data: Blob,
}

/// Business content to send.
#[derive(Debug, Clone, Default)]
pub struct OutgoingContent {
    /// The business XML: one element, as a standalone document.
    pub business_xml: String,
    /// An ЭП-СП `ds:Signature` over the content, if any (placed in `PersonalSignature`).
    pub personal_signature_xml: Option<String>,
    /// Attachments.
    pub attachments: Vec<OutgoingAttachment>,
}

/// A request to send as an information system.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    /// The schema version to compose (what a SOAP recipient of another version gets is
    /// rewritten as for any message).
    pub version: SchemaVersion,
    /// `MessageID`; `None`: the bus makes one.
    pub message_id: Option<String>,
    /// The sender's own id (unique per sender).
    pub client_id: Option<String>,
    /// `ReferenceMessageID`.
    pub reference_message_id: Option<String>,
    /// `TransactionCode`.
    pub transaction_code: Option<String>,
    /// `NodeID`.
    pub node_id: Option<String>,
    /// `EOL`.
    pub eol: Option<OffsetDateTime>,
    /// `TestMessage`.
    pub test_message: bool,
    /// The message's own priority (0–9), over its grant's and its kind's.
    pub priority: Option<u8>,
    /// The content.
    pub content: OutgoingContent,
}

/// What a response carries.
#[derive(Debug, Clone)]
pub enum OutgoingAnswer {
    /// A business answer.
    Business(OutgoingContent),
    /// `RequestRejected`: (code, description) pairs.
    Rejected(Vec<(opensmev_wire::RejectCode, String)>),
    /// `RequestStatus`: an intermediate status.
    Status {
        /// The status code.
        code: i32,
        /// Its description.
        description: String,
        /// Parameters (key, value).
        parameters: Vec<(String, String)>,
    },
}

/// A response to send as an information system, to a request it received.
#[derive(Debug, Clone)]
pub struct OutgoingResponse {
    /// The schema version to compose.
    pub version: SchemaVersion,
    /// `MessageID`; `None`: the bus makes one.
    pub message_id: Option<String>,
    /// The sender's own id (unique per sender).
    pub client_id: Option<String>,
    /// The request answered.
    pub request: MessageId,
    /// The answer.
    pub answer: OutgoingAnswer,
}

/// The part lookup of a composed call: every attachment is a part the bus keeps.
struct Parts(HashMap<String, u64>);

impl PartLookup for Parts {
    fn lookup(&self, content_id: &str) -> Option<FoundPart> {
        self.0.get(content_id).map(|len| FoundPart {
            content_id: content_id.to_owned(),
            content_type: "application/octet-stream".to_owned(),
            data: AttachmentData::Part { len: *len },
        })
    }
}

fn part_cid(index: usize) -> String {
    format!("attachment-{index}@opensmev.local")
}

/// The attachments as the composed call names them (`cids[i]` is the part of `given[i]`).
fn composed_attachments<'a>(
    given: &'a [OutgoingAttachment],
    cids: &'a [String],
) -> Vec<ComposedAttachment<'a>> {
    given
        .iter()
        .zip(cids)
        .map(|(a, cid)| ComposedAttachment {
            id: &a.id,
            mime_type: &a.mime_type,
            part_cid: cid,
        })
        .collect()
}

fn parts_of(given: &[OutgoingAttachment], cids: &[String]) -> Parts {
    Parts(
        cids.iter()
            .cloned()
            .zip(given.iter().map(|a| a.data.len()))
            .collect(),
    )
}

/// Reads a composed (and signed) call back through the wire decoder, as any call.
fn decode_composed<'x>(xml: &'x str, parts: &Parts) -> Result<(Document<'x>, Request), BusError> {
    let doc = Document::parse_str(xml, Limits::default())
        .map_err(|e| BusError::Composition(opensmev_wire::WireError::Xml(e)))?;
    let decoded = opensmev_wire::decode_request(&doc, parts).map_err(BusError::Composition)?;
    Ok((doc, decoded))
}

/// Which root a business XML is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

/// The business XML must be one well-formed element, and — when its root is a registered kind's
/// request (or response) root — valid against the kind's XSD, checked on the text as given so
/// that every error's line and column are the caller's own (the bus checks the composed message
/// again, as any).
fn check_business_xml(
    registry: &crate::registry::Registry,
    text: &str,
    side: Side,
) -> Result<(), BusError> {
    let doc = Document::parse_str(text, Limits::default()).map_err(|e| {
        let (line, column) = e.line_column(text);
        BusError::InvalidContent(vec![ContentIssue {
            text: IssueText::NotWellFormed {
                message: e.kind.to_string(),
                line: line as i64,
                column: column as i64,
            },
            position: Some(line as i64),
        }])
    })?;
    let root = doc.root();
    let root = opensmev_types::QName::new(root.namespace().unwrap_or(""), root.local_name());
    let kind = match side {
        Side::Request => registry.kind_by_request_root(&root),
        Side::Response => registry.kind_by_response_root(&root),
    };
    let Some(schema) = kind.and_then(|k| k.schema.as_ref()) else {
        return Ok(());
    };
    crate::bus::validate_business(schema, text)
}

impl Bus {
    /// A fresh `MessageID` (version-1 UUID of the bus's clock).
    pub fn new_message_id(&self) -> Result<MessageId, BusError> {
        let random = opensmev_crypto::random_bytes(8)
            .map_err(|e| BusError::Internal(format!("random bytes: {e}")))?;
        let mut node = [0u8; 6];
        node.copy_from_slice(&random[..6]);
        // The multicast bit marks a random node id (RFC 4122 §4.5).
        node[0] |= 0x01;
        let seq = u16::from_be_bytes([random[6], random[7]]);
        Ok(MessageId::from_parts(self.now(), seq, node))
    }

    /// Signs a composed call as `caller` (its ЭП-ОВ, with the key the bus holds for it); an IS
    /// with an optional signature policy and no held key stays unsigned.
    fn sign_as(&self, caller: &Caller, xml: String) -> Result<(String, bool), BusError> {
        let mnemonic = caller.system.mnemonic.as_str();
        let signer = match self.keys() {
            Some(keys) => keys
                .signer(mnemonic)
                .map_err(|e| BusError::Internal(format!("the held key of {mnemonic}: {e}")))?,
            None => None,
        };
        let Some(signer) = signer else {
            if caller.system.signature == SignaturePolicy::Optional {
                return Ok((xml, false));
            }
            return Err(BusError::NoSigningKey {
                system: mnemonic.to_owned(),
            });
        };
        let signed = dsig::sign_document(
            xml.as_bytes(),
            opensmev_wire::CALLER_SIGNED_ID,
            signer.as_ref(),
            self.crypto(),
            Placement::Smev,
            &SignOptions::default(),
        )
        .map_err(|e| BusError::Internal(format!("signing as {mnemonic}: {e}")))?;
        let signed = String::from_utf8(signed)
            .map_err(|e| BusError::Internal(format!("signing as {mnemonic}: {e}")))?;
        Ok((signed, true))
    }

    fn check_sender(caller: &Caller, accepted: &Accepted) -> Result<(), BusError> {
        if accepted.sender.mnemonic == caller.system.mnemonic {
            Ok(())
        } else {
            // The held key's certificate is registered for another IS; nothing may be sent
            // that way (the store has it already, so this is loud).
            Err(BusError::Internal(format!(
                "the key held for {} signs as {}",
                caller.system.mnemonic, accepted.sender.mnemonic
            )))
        }
    }

    /// Sends a request as `caller`: composed, signed with the key the bus holds for it, and
    /// accepted by [`Bus::send_request`] as any SOAP request.
    pub async fn send_request_as(
        &self,
        caller: &Caller,
        request: OutgoingRequest,
    ) -> Result<Accepted, BusError> {
        check_business_xml(
            &self.registry(),
            &request.content.business_xml,
            Side::Request,
        )?;
        let message_id = match &request.message_id {
            Some(id) => id.clone(),
            None => self.new_message_id()?.to_string(),
        };
        let cids: Vec<String> = (0..request.content.attachments.len())
            .map(part_cid)
            .collect();
        let attachments = composed_attachments(&request.content.attachments, &cids);
        let xml = opensmev_wire::send_request_call(&ComposedRequest {
            version: request.version,
            message_id: &message_id,
            reference_message_id: request.reference_message_id.as_deref(),
            transaction_code: request.transaction_code.as_deref(),
            node_id: request.node_id.as_deref(),
            eol: request.eol,
            test_message: request.test_message,
            business_xml: &request.content.business_xml,
            personal_signature_xml: request.content.personal_signature_xml.as_deref(),
            attachments: &attachments,
        })
        .map_err(BusError::Composition)?;
        let (xml, signed) = self.sign_as(caller, xml)?;
        let (doc, decoded) = decode_composed(&xml, &parts_of(&request.content.attachments, &cids))?;
        let Request::SendRequest(r) = &decoded else {
            return Err(BusError::Internal(
                "a composed SendRequest decoded as another call".into(),
            ));
        };
        let data = &r.sender_data;
        let input = SendRequestInput {
            signed: Signed {
                doc: &doc,
                target: data.element,
                wrapper: decoded.caller_signature(),
                version: request.version,
                claimed: (!signed).then_some(&caller.system.mnemonic),
            },
            message_id: data.message_id.clone(),
            reference_message_id: data.reference_message_id.clone(),
            transaction_code: data.transaction_code.clone(),
            node_id: data.node_id.clone(),
            eol: data.eol,
            test_message: data.test_message,
            content: data.content.root,
            attachments: attachments_input(&data.attachment_headers, request.content.attachments),
            client_id: request.client_id,
            priority: request.priority.map(opensmev_types::Priority),
        };
        let accepted = self.send_request(input).await?;
        Self::check_sender(caller, &accepted)?;
        Ok(accepted)
    }

    /// Sends a response (business answer, rejection or intermediate status) as `caller` to a
    /// request it received; composed and signed as by [`Bus::send_request_as`], accepted by
    /// [`Bus::send_response`].
    pub async fn send_response_as(
        &self,
        caller: &Caller,
        response: OutgoingResponse,
    ) -> Result<Accepted, BusError> {
        if let OutgoingAnswer::Business(content) = &response.answer {
            check_business_xml(&self.registry(), &content.business_xml, Side::Response)?;
        }
        let message_id = match &response.message_id {
            Some(id) => id.clone(),
            None => self.new_message_id()?.to_string(),
        };
        let to = ReplyToken(response.request.clone()).encode();
        let (attachments_given, cids) = match &response.answer {
            OutgoingAnswer::Business(content) => (
                content.attachments.clone(),
                (0..content.attachments.len()).map(part_cid).collect(),
            ),
            _ => (Vec::new(), Vec::<String>::new()),
        };
        let composed = composed_attachments(&attachments_given, &cids);
        let rejections: Vec<(opensmev_wire::RejectCode, &str)>;
        let parameters: Vec<(&str, &str)>;
        let content = match &response.answer {
            OutgoingAnswer::Business(content) => ComposedResponseContent::Business {
                business_xml: &content.business_xml,
                personal_signature_xml: content.personal_signature_xml.as_deref(),
                attachments: &composed,
            },
            OutgoingAnswer::Rejected(reasons) => {
                rejections = reasons.iter().map(|(c, d)| (*c, d.as_str())).collect();
                ComposedResponseContent::Rejected(&rejections)
            }
            OutgoingAnswer::Status {
                code,
                description,
                parameters: given,
            } => {
                parameters = given
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                ComposedResponseContent::Status {
                    code: *code,
                    description,
                    parameters: &parameters,
                }
            }
        };
        let xml = opensmev_wire::send_response_call(&ComposedResponse {
            version: response.version,
            message_id: &message_id,
            to: &to,
            content,
        })
        .map_err(BusError::Composition)?;
        let (xml, signed) = self.sign_as(caller, xml)?;
        let (doc, decoded) = decode_composed(&xml, &parts_of(&attachments_given, &cids))?;
        let Request::SendResponse(r) = &decoded else {
            return Err(BusError::Internal(
                "a composed SendResponse decoded as another call".into(),
            ));
        };
        let data = &r.sender_data;
        let (body, headers) = match &data.content {
            ResponseContent::Primary {
                content,
                attachment_headers,
                ..
            } => (
                ResponseBody::Business(content.root),
                attachment_headers.as_slice(),
            ),
            ResponseContent::Rejected(_) => (ResponseBody::Rejected, &[][..]),
            ResponseContent::Status(_) => (ResponseBody::Status, &[][..]),
            ResponseContent::AsyncProcessingStatus(_) => {
                return Err(BusError::Internal(
                    "a composed SendResponse carries AsyncProcessingStatus".into(),
                ));
            }
        };
        let input = SendResponseInput {
            signed: Signed {
                doc: &doc,
                target: data.element,
                wrapper: decoded.caller_signature(),
                version: response.version,
                claimed: (!signed).then_some(&caller.system.mnemonic),
            },
            message_id: data.message_id.clone(),
            to: data.to.clone(),
            body,
            attachments: attachments_input(headers, attachments_given),
            client_id: response.client_id,
        };
        let accepted = self.send_response(input).await?;
        Self::check_sender(caller, &accepted)?;
        Ok(accepted)
    }
}

/// The attachments of a composed call for the bus: the headers as decoded, the bytes as given.
fn attachments_input(
    headers: &[opensmev_wire::AttachmentHeader],
    given: Vec<OutgoingAttachment>,
) -> AttachmentsInput {
    AttachmentsInput {
        headers: headers
            .iter()
            .map(|h| (h.content_id.clone(), h.mime_type.clone()))
            .collect(),
        contents: given.into_iter().map(|a| (a.id, a.data)).collect(),
        file_store_references: 0,
    }
}

/// Which signature a [`SignatureCheck`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureRole {
    /// ЭП-ОВ: the sending information system's signature over its data.
    Sender,
    /// ЭП-СП: a personal signature over the business content.
    Personal,
    /// ЭП-СМЭВ: the bus's signature over the answer that delivers the message.
    Smev,
}

impl SignatureRole {
    /// `ЭП-ОВ` / `ЭП-СП`.
    pub fn label(self) -> &'static str {
        match self {
            SignatureRole::Sender => "ЭП-ОВ",
            SignatureRole::Personal => "ЭП-СП",
            SignatureRole::Smev => "ЭП-СМЭВ",
        }
    }
}

/// The verification of one signature in a delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// Which signature.
    pub role: SignatureRole,
    /// Whether it is valid (digests, signature value, certificate validity at acceptance).
    pub valid: bool,
    /// Why not, as the SMEV category and an explanation.
    pub failure: Option<(String, String)>,
    /// The signer certificate's subject.
    pub certificate_subject: Option<String>,
    /// Its SHA-1 thumbprint.
    pub certificate_thumbprint: Option<String>,
    /// The information system the registry has the certificate for.
    pub registered_system: Option<String>,
    /// For a detached CMS signature of an attachment (`SignaturePKCS7`, an ЭП-СП): the
    /// attachment's id.
    pub attachment: Option<String>,
}

/// What a delivered message carries, read from its stored sender data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveredBody {
    /// Business content: the root element as a standalone document.
    Business(String),
    /// `RequestRejected`: (code, description) pairs.
    Rejected(Vec<(String, String)>),
    /// `RequestStatus`: code, description, parameters.
    Status {
        /// The code.
        code: String,
        /// The description.
        description: String,
        /// Parameters (key, value).
        parameters: Vec<(String, String)>,
    },
}

/// A delivered message opened for an edge that does not pass SMEV XML on (the API, the
/// cabinet): its content and the verification of every signature in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The content.
    pub body: DeliveredBody,
    /// The signature checks: the sender's ЭП-ОВ first (when the message was signed), then every
    /// ЭП-СП.
    pub signatures: Vec<SignatureCheck>,
}

fn child<'d, 'a>(
    element: &opensmev_xmldsig::xml::Element<'d, 'a>,
    local: &str,
) -> Option<opensmev_xmldsig::xml::Element<'d, 'a>> {
    element.children().find(|c| c.local_name() == local)
}

fn text_of(element: &opensmev_xmldsig::xml::Element<'_, '_>, local: &str) -> String {
    child(element, local)
        .map(|c| c.text_content())
        .unwrap_or_default()
}

impl Bus {
    fn check_of(&self, role: SignatureRole, report: &dsig::SignatureReport) -> SignatureCheck {
        let registry = self.registry();
        SignatureCheck {
            role,
            valid: report.is_valid(),
            failure: report
                .failure
                .as_ref()
                .map(|f| (f.category.as_str().to_owned(), f.message.clone())),
            certificate_subject: report.certificate.as_ref().map(|c| c.subject().to_string()),
            certificate_thumbprint: report
                .certificate
                .as_ref()
                .map(|c| c.thumbprint_sha1().to_owned()),
            registered_system: report
                .certificate
                .as_ref()
                .and_then(|c| registry.system_by_certificate(c))
                .map(|s| s.mnemonic.to_string()),
            attachment: None,
        }
    }

    /// Verifies the bus's own signature (ЭП-СМЭВ, in `SMEVSignature`) of a delivery answer made
    /// by [`Bus::delivery_xml`].
    pub fn check_smev_signature(&self, xml: &str) -> SignatureCheck {
        let report = match Document::parse_str(xml, Limits::default()) {
            Ok(doc) => {
                let wrapper = doc.elements().find(|e| e.local_name() == "SMEVSignature");
                let options = dsig::VerifyOptions {
                    at: self.now(),
                    ..dsig::VerifyOptions::now()
                };
                dsig::verify_wrapped(wrapper.as_ref(), self.crypto(), &options)
            }
            Err(e) => {
                return SignatureCheck {
                    role: SignatureRole::Smev,
                    valid: false,
                    failure: Some((
                        dsig::FaultCategory::PoorSOAPEnvelopeFormat
                            .as_str()
                            .to_owned(),
                        format!("the delivery answer cannot be read: {e}"),
                    )),
                    certificate_subject: None,
                    certificate_thumbprint: None,
                    registered_system: None,
                    attachment: None,
                };
            }
        };
        self.check_of(SignatureRole::Smev, &report)
    }

    /// Opens a stored message for delivery through the API: its content, and every signature in
    /// it verified (certificates as of the message's acceptance). `contents[i]` are the bytes of
    /// `stored.message.attachments[i]`, read once by the caller, which delivers them too. An
    /// `Err` means the stored data cannot be read (the message is then undeliverable).
    pub fn open_delivered(
        &self,
        stored: &opensmev_store::StoredMessage,
        contents: &[Vec<u8>],
    ) -> Result<Opened, String> {
        let m = &stored.message;
        let doc = Document::parse_str(&m.sender_data, Limits::default())
            .map_err(|e| format!("the stored sender data cannot be read: {e}"))?;
        let data = doc.root();
        let body = if let Some(content) = child(&data, "MessagePrimaryContent") {
            let root = content
                .children()
                .next()
                .ok_or("MessagePrimaryContent is empty")?;
            DeliveredBody::Business(root.standalone())
        } else if child(&data, "RequestRejected").is_some() {
            let reasons = data
                .children()
                .filter(|c| c.local_name() == "RequestRejected")
                .map(|r| {
                    (
                        text_of(&r, "RejectionReasonCode"),
                        text_of(&r, "RejectionReasonDescription"),
                    )
                })
                .collect();
            DeliveredBody::Rejected(reasons)
        } else if let Some(status) = child(&data, "RequestStatus") {
            DeliveredBody::Status {
                code: text_of(&status, "StatusCode"),
                description: text_of(&status, "StatusDescription"),
                parameters: status
                    .children()
                    .filter(|c| c.local_name() == "StatusParameter")
                    .map(|p| (text_of(&p, "Key"), text_of(&p, "Value")))
                    .collect(),
            }
        } else {
            return Err(format!(
                "the stored {} carries no content the API can deliver",
                data.local_name()
            ));
        };
        let mut signatures = Vec::new();
        if let Some(signature) = &m.sender_signature {
            // The signature and the data it signs, side by side in one document.
            let combined = format!(
                "<opensmev-check><opensmev-data>{}</opensmev-data><opensmev-signature>{}</opensmev-signature></opensmev-check>",
                m.sender_data, signature
            );
            match Document::parse_str(&combined, Limits::default()) {
                Ok(check) => {
                    let root = check.root();
                    let target = child(&root, "opensmev-data")
                        .and_then(|d| d.children().next())
                        .map(|e| e.index());
                    let wrapper = child(&root, "opensmev-signature");
                    let options = dsig::VerifyOptions {
                        at: m.sent_at,
                        expected_target: target,
                        ..dsig::VerifyOptions::now()
                    };
                    let report = dsig::verify_wrapped(wrapper.as_ref(), self.crypto(), &options);
                    signatures.push(self.check_of(SignatureRole::Sender, &report));
                }
                Err(e) => signatures.push(SignatureCheck {
                    role: SignatureRole::Sender,
                    valid: false,
                    failure: Some((
                        dsig::FaultCategory::PoorSOAPEnvelopeFormat
                            .as_str()
                            .to_owned(),
                        format!("the stored signature cannot be read: {e}"),
                    )),
                    certificate_subject: None,
                    certificate_thumbprint: None,
                    registered_system: None,
                    attachment: None,
                }),
            }
        }
        for personal in data
            .children()
            .filter(|c| c.local_name() == "PersonalSignature")
        {
            let options = dsig::VerifyOptions {
                at: m.sent_at,
                require_smev_profile: false,
                ..dsig::VerifyOptions::now()
            };
            let report = dsig::verify_wrapped(Some(&personal), self.crypto(), &options);
            signatures.push(self.check_of(SignatureRole::Personal, &report));
        }
        for header in data
            .descendants()
            .filter(|e| e.local_name() == "AttachmentHeader")
        {
            let Some(signature) = child(&header, "SignaturePKCS7") else {
                continue;
            };
            let id = text_of(&header, "contentId");
            signatures.push(self.check_attachment_signature(
                stored,
                contents,
                &id,
                &signature.text_content(),
            ));
        }
        Ok(Opened { body, signatures })
    }

    /// Verifies the detached CMS signature (`SignaturePKCS7`) of the attachment `id` of a stored
    /// message, its certificate as of the message's acceptance.
    fn check_attachment_signature(
        &self,
        stored: &opensmev_store::StoredMessage,
        contents: &[Vec<u8>],
        id: &str,
        base64_text: &str,
    ) -> SignatureCheck {
        use base64::Engine as _;
        let failed = |category: dsig::FaultCategory, message: String| SignatureCheck {
            role: SignatureRole::Personal,
            valid: false,
            failure: Some((category.as_str().to_owned(), message)),
            certificate_subject: None,
            certificate_thumbprint: None,
            registered_system: None,
            attachment: Some(id.to_owned()),
        };
        let compact: String = base64_text.split_whitespace().collect();
        let cms = match base64::engine::general_purpose::STANDARD.decode(compact) {
            Ok(cms) => cms,
            Err(e) => {
                return failed(
                    dsig::FaultCategory::SignatureIsInvalid,
                    format!("SignaturePKCS7 of {id} is not base64: {e}"),
                );
            }
        };
        let Some(data) = stored
            .message
            .attachments
            .iter()
            .position(|a| a.content_id == id)
            .and_then(|i| contents.get(i))
        else {
            return failed(
                dsig::FaultCategory::PoorSOAPEnvelopeFormat,
                format!("no attachment {id} to check its SignaturePKCS7 against"),
            );
        };
        match self.crypto().cms_verify_detached(&cms, data) {
            Ok(verified) => {
                let cert = &verified.signer;
                let at = stored.message.sent_at;
                let in_time = cert.not_before() <= at && at <= cert.not_after();
                SignatureCheck {
                    role: SignatureRole::Personal,
                    valid: in_time,
                    failure: (!in_time).then(|| {
                        (
                            dsig::FaultCategory::CertificateIsExpired.as_str().to_owned(),
                            format!(
                                "the signer certificate was not valid when the message was accepted ({at})"
                            ),
                        )
                    }),
                    certificate_subject: Some(cert.subject().to_string()),
                    certificate_thumbprint: Some(cert.thumbprint_sha1().to_owned()),
                    registered_system: self
                        .registry()
                        .system_by_certificate(cert)
                        .map(|s| s.mnemonic.to_string()),
                    attachment: Some(id.to_owned()),
                }
            }
            Err(e) => failed(
                dsig::FaultCategory::SignatureIsInvalid,
                format!("SignaturePKCS7 of {id} does not verify: {e}"),
            ),
        }
    }
}
