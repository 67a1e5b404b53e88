//! Composition of the two client calls that carry content, `SendRequest` and `SendResponse`,
//! exactly as an SMEV client sends them — for an edge (the REST integration API) that signs on
//! an information system's behalf and then runs the call through [`crate::decode_request`] and
//! the bus core like any other.
//!
//! The composers write the whole SOAP 1.1 envelope, unsigned: the element the caller signs
//! (`SenderProvidedRequestData` / `SenderProvidedResponseData`) carries
//! `Id="`[`CALLER_SIGNED_ID`]`"`, and
//! `opensmev_xmldsig::dsig::sign_document(.., CALLER_SIGNED_ID, .., Placement::Smev, ..)` then
//! appends `CallerInformationSystemSignature` as the last child of the operation element, which
//! is its place in the schema. Prefixes are the real SMEV's and the official client's: the basic
//! namespace is the default one, the types namespace is `ns2`, both declared on the operation
//! element.
//!
//! Element order (identical in 1.1, 1.2 and 1.3 for everything written here; what differs
//! between the versions is optional and never composed: 1.3 `AttachmentHeader/NamespaceUri`
//! and `Archive`, 1.3 `rout:Routing`; neither are `RefAttachmentHeaderList`,
//! `BusinessProcessMetadata` and `SignaturePKCS7`):
//!
//! * `SendRequestRequest` → `SenderProvidedRequestData` (`MessageID`, `ReferenceMessageID?`,
//!   `TransactionCode?`, `NodeID?`, `EOL?`, `MessagePrimaryContent`, `PersonalSignature?`,
//!   `AttachmentHeaderList?`, `TestMessage?`), `AttachmentContentList?`;
//! * `SendResponseRequest` → `SenderProvidedResponseData` (`MessageID`, `To`, then one of
//!   `MessagePrimaryContent`, `PersonalSignature?`, `AttachmentHeaderList?` — or
//!   `RequestRejected+` — or `RequestStatus` (`StatusCode`, `StatusParameter*`,
//!   `StatusDescription`)), `AttachmentContentList?`.
//!
//! Inputs are checked as the decoder would check them, so that a composed call fails here with
//! the input named ([`WireError::Compose`]) rather than later inside an envelope nobody wrote by
//! hand: lengths (`maxLength` counts characters), `basic:UUID`, `xs:ID`, MIME types, characters
//! XML 1.0 forbids (refused, never replaced: the caller signs what it asked for). `MessageID` is
//! written as given: the core checks it (`InvalidMessageIdFormat`, `StaleMessageId`) as for any
//! client. XML inputs (the business document, the personal signature) are read with the
//! hardened reader (`opensmev_xmldsig::xml`) as standalone documents — exactly one element,
//! every namespace it uses declared in it, no DTD — and inserted without their XML declaration
//! (through [`opensmev_xmldsig::xml::Element::standalone`], which adds `xmlns=""` where needed
//! so that unqualified names stay unqualified under the envelope's default namespace).

use opensmev_types::SchemaVersion;
use opensmev_xmldsig::xml::{Document, Element, Limits};
use time::OffsetDateTime;

use crate::encode::{Writer, envelope, smev_declarations};
use crate::error::{ComposeProblem, Expected, Problem, WireError};
use crate::lexical::{
    char_len, format_date_time, is_ncname, is_smev_mime_type, is_smev_uuid, parse_date_time,
};
use crate::ns::{DSIG_NS, XOP_NS};
use crate::request::RejectCode;

/// The `Id` the composed call gives the element the caller signs (`SenderProvidedRequestData` /
/// `SenderProvidedResponseData`).
pub const CALLER_SIGNED_ID: &str = "SIGNED_BY_CALLER";

/// How many elements of the envelope enclose the business root element and the personal
/// signature (`Envelope`, `Body`, the operation, the sender's data, `MessagePrimaryContent` or
/// `PersonalSignature`): the depth the inputs may use is the reader's default less these.
const ENCLOSING_DEPTH: usize = 5;

/// An attachment of a composed call. Its bytes travel as an MTOM part the caller keeps: the
/// envelope refers to them with `xop:Include href="cid:<part_cid>"` (which
/// [`crate::decode_request`] resolves through [`crate::PartLookup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComposedAttachment<'a> {
    /// `AttachmentHeader/contentId` and `AttachmentContent/Id` (an `xs:ID`: an NCName, unique
    /// in the call).
    pub id: &'a str,
    /// `AttachmentHeader/MimeType` (`(text|image|audio|video|application)/[a-zA-Z0-9\-+.]*`).
    pub mime_type: &'a str,
    /// The Content-ID of the MIME part holding the bytes, without `<>` (printable ASCII, no
    /// space, no `<` or `>`).
    pub part_cid: &'a str,
}

/// A `SendRequest` call to compose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComposedRequest<'a> {
    /// The schema version (namespaces of the call).
    pub version: SchemaVersion,
    /// `MessageID` (written as given; the core checks the version-1 UUID rule).
    pub message_id: &'a str,
    /// `ReferenceMessageID` (a `basic:UUID`).
    pub reference_message_id: Option<&'a str>,
    /// `TransactionCode` (at most 1500 characters).
    pub transaction_code: Option<&'a str>,
    /// `NodeID` (at most 50 characters).
    pub node_id: Option<&'a str>,
    /// `EOL` (written with millisecond precision and the value's own offset).
    pub eol: Option<OffsetDateTime>,
    /// `TestMessage`.
    pub test_message: bool,
    /// The business content: one XML element, as a standalone document (an XML declaration
    /// and surrounding white space, comments and processing instructions allowed; every
    /// namespace it uses declared in it; the element in a namespace other than basic's).
    pub business_xml: &'a str,
    /// An ЭП-СП `ds:Signature` element to place in `PersonalSignature`, if any (standalone XML).
    pub personal_signature_xml: Option<&'a str>,
    /// The attachments (`AttachmentHeaderList` and `AttachmentContentList`).
    pub attachments: &'a [ComposedAttachment<'a>],
}

/// What a composed `SendResponse` carries (the choice inside `SenderProvidedResponseData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposedResponseContent<'a> {
    /// A business answer: `MessagePrimaryContent`, `PersonalSignature?`, `AttachmentHeaderList?`
    /// (and `AttachmentContentList` after the sender's data).
    Business {
        /// The business content, as for [`ComposedRequest::business_xml`].
        business_xml: &'a str,
        /// An ЭП-СП `ds:Signature` for `PersonalSignature`, if any (standalone XML).
        personal_signature_xml: Option<&'a str>,
        /// The attachments.
        attachments: &'a [ComposedAttachment<'a>],
    },
    /// `RequestRejected+`: (`RejectionReasonCode`, `RejectionReasonDescription`) pairs, at
    /// least one; descriptions of at most 4000 characters.
    Rejected(&'a [(RejectCode, &'a str)]),
    /// `RequestStatus`: an intermediate business status.
    Status {
        /// `StatusCode` (`xs:int`).
        code: i32,
        /// `StatusDescription` (at most 4000 characters).
        description: &'a str,
        /// `StatusParameter` (`Key`, `Value`) pairs, in order.
        parameters: &'a [(&'a str, &'a str)],
    },
}

/// A `SendResponse` call to compose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComposedResponse<'a> {
    /// The schema version (namespaces of the call).
    pub version: SchemaVersion,
    /// `MessageID` (written as given; the core checks it).
    pub message_id: &'a str,
    /// `To`: the request's `ReplyTo` (at most 4000 characters).
    pub to: &'a str,
    /// What the response carries.
    pub content: ComposedResponseContent<'a>,
}

/// The whole SOAP 1.1 envelope of `SendRequest`, unsigned: the caller then signs
/// [`CALLER_SIGNED_ID`] with `opensmev_xmldsig::dsig::sign_document(.., Placement::Smev, ..)`,
/// which puts the signature into `CallerInformationSystemSignature`.
///
/// Errors: [`WireError::Compose`] naming the input that cannot go into the call.
pub fn send_request_call(request: &ComposedRequest<'_>) -> Result<String, WireError> {
    let message_id = text("message_id", request.message_id, None)?;
    if let Some(reference) = request.reference_message_id
        && !is_smev_uuid(reference)
    {
        return Err(invalid(
            "reference_message_id",
            Problem::InvalidValue {
                value: cut(reference),
                expected: "basic:UUID (lower-case 8-4-4-4-12 hexadecimal)".to_owned(),
            },
        ));
    }
    let transaction_code = request
        .transaction_code
        .map(|code| text("transaction_code", code, Some(1500)))
        .transpose()?;
    let node_id = request
        .node_id
        .map(|node| text("node_id", node, Some(50)))
        .transpose()?;
    let eol = request
        .eol
        .map(|at| {
            let written = format_date_time(at);
            match parse_date_time(&written) {
                Ok(_) => Ok(written),
                Err(_) => Err(invalid(
                    "eol",
                    Problem::InvalidValue {
                        value: written.clone(),
                        expected: "xs:dateTime (year 0001 or later)".to_owned(),
                    },
                )),
            }
        })
        .transpose()?;
    let content = BusinessContent::read(
        request.business_xml,
        request.personal_signature_xml,
        request.attachments,
        request.version,
    )?;

    let version = request.version;
    let mut w = Writer::new();
    w.open("ns2:SendRequestRequest", &smev_declarations(version));
    w.open("ns2:SenderProvidedRequestData", &[("Id", CALLER_SIGNED_ID)]);
    w.leaf("ns2:MessageID", message_id);
    if let Some(reference) = request.reference_message_id {
        w.leaf("ns2:ReferenceMessageID", reference);
    }
    if let Some(code) = transaction_code {
        w.leaf("ns2:TransactionCode", code);
    }
    if let Some(node) = node_id {
        w.leaf("ns2:NodeID", node);
    }
    if let Some(eol) = &eol {
        w.leaf("ns2:EOL", eol);
    }
    content.write_headers(&mut w);
    if request.test_message {
        w.open("ns2:TestMessage", &[]);
        w.close("ns2:TestMessage");
    }
    w.close("ns2:SenderProvidedRequestData");
    content.write_contents(&mut w);
    w.close("ns2:SendRequestRequest");
    Ok(envelope(&w.out))
}

/// The whole SOAP 1.1 envelope of `SendResponse`, unsigned (sign [`CALLER_SIGNED_ID`] as for
/// [`send_request_call`]).
///
/// Errors: [`WireError::Compose`] naming the input that cannot go into the call.
pub fn send_response_call(response: &ComposedResponse<'_>) -> Result<String, WireError> {
    let version = response.version;
    let message_id = text("message_id", response.message_id, None)?;
    let to = text("to", response.to, Some(4000))?;
    // The choice inside the sender's data; the attachment contents follow the sender's data.
    let mut body = Writer::new();
    let content = match response.content {
        ComposedResponseContent::Business {
            business_xml,
            personal_signature_xml,
            attachments,
        } => {
            let content =
                BusinessContent::read(business_xml, personal_signature_xml, attachments, version)?;
            content.write_headers(&mut body);
            Some(content)
        }
        ComposedResponseContent::Rejected(rejections) => {
            if rejections.is_empty() {
                return Err(invalid(
                    "rejected",
                    "at least one rejection (RequestRejected) is required",
                ));
            }
            for (i, (code, description)) in rejections.iter().enumerate() {
                let description = text(
                    &format!("rejected[{i}].description"),
                    description,
                    Some(4000),
                )?;
                body.open("ns2:RequestRejected", &[]);
                body.leaf("ns2:RejectionReasonCode", code.as_str());
                body.leaf("ns2:RejectionReasonDescription", description);
                body.close("ns2:RequestRejected");
            }
            None
        }
        ComposedResponseContent::Status {
            code,
            description,
            parameters,
        } => {
            let description = text("status.description", description, Some(4000))?;
            body.open("ns2:RequestStatus", &[]);
            body.leaf("ns2:StatusCode", &code.to_string());
            for (i, (key, value)) in parameters.iter().enumerate() {
                let key = text(&format!("status.parameters[{i}].key"), key, None)?;
                let value = text(&format!("status.parameters[{i}].value"), value, None)?;
                body.open("ns2:StatusParameter", &[]);
                body.leaf("ns2:Key", key);
                body.leaf("ns2:Value", value);
                body.close("ns2:StatusParameter");
            }
            body.leaf("ns2:StatusDescription", description);
            body.close("ns2:RequestStatus");
            None
        }
    };

    let mut w = Writer::new();
    w.open("ns2:SendResponseRequest", &smev_declarations(version));
    w.open(
        "ns2:SenderProvidedResponseData",
        &[("Id", CALLER_SIGNED_ID)],
    );
    w.leaf("ns2:MessageID", message_id);
    w.leaf("ns2:To", to);
    w.raw(&body.out);
    w.close("ns2:SenderProvidedResponseData");
    if let Some(content) = &content {
        content.write_contents(&mut w);
    }
    w.close("ns2:SendResponseRequest");
    Ok(envelope(&w.out))
}

/// The checked business part shared by both calls: the business element and the personal
/// signature as standalone fragments, and the attachments.
struct BusinessContent<'a> {
    business: String,
    personal_signature: Option<String>,
    attachments: &'a [ComposedAttachment<'a>],
}

impl<'a> BusinessContent<'a> {
    fn read(
        business_xml: &str,
        personal_signature_xml: Option<&str>,
        attachments: &'a [ComposedAttachment<'a>],
        version: SchemaVersion,
    ) -> Result<BusinessContent<'a>, WireError> {
        let business = standalone_element("business_xml", business_xml, |root| {
            match root.namespace() {
                None => Err(Problem::Other(format!(
                    "the business root element {} must be in a namespace (the schema requires ##other)",
                    clark(root)
                ))),
                Some(ns) if ns == version.basic_ns() => Err(Problem::Other(format!(
                    "the business root element must not be in the namespace of MessagePrimaryContent ({ns})"
                ))),
                Some(_) => Ok(()),
            }
        })?;
        let personal_signature = personal_signature_xml
            .map(|xml| {
                standalone_element("personal_signature_xml", xml, |root| {
                    if root.is(DSIG_NS, "Signature") {
                        Ok(())
                    } else {
                        Err(Problem::UnexpectedElement {
                            found: clark(root),
                            expected: Expected {
                                names: vec![format!("{{{DSIG_NS}}}Signature")],
                                end_of: None,
                            },
                        })
                    }
                })
            })
            .transpose()?;
        check_attachments(attachments)?;
        Ok(BusinessContent {
            business,
            personal_signature,
            attachments,
        })
    }

    /// `MessagePrimaryContent`, `PersonalSignature?`, `AttachmentHeaderList?`.
    fn write_headers(&self, w: &mut Writer) {
        w.open("MessagePrimaryContent", &[]);
        w.raw(&self.business);
        w.close("MessagePrimaryContent");
        if let Some(signature) = &self.personal_signature {
            w.open("ns2:PersonalSignature", &[]);
            w.raw(signature);
            w.close("ns2:PersonalSignature");
        }
        if self.attachments.is_empty() {
            return;
        }
        w.open("AttachmentHeaderList", &[]);
        for a in self.attachments {
            w.open("AttachmentHeader", &[]);
            w.leaf("contentId", a.id);
            w.leaf("MimeType", a.mime_type);
            w.close("AttachmentHeader");
        }
        w.close("AttachmentHeaderList");
    }

    /// `AttachmentContentList?`, each `Content` an `xop:Include` of the caller's part.
    fn write_contents(&self, w: &mut Writer) {
        if self.attachments.is_empty() {
            return;
        }
        w.open("AttachmentContentList", &[]);
        for a in self.attachments {
            w.open("AttachmentContent", &[]);
            w.leaf("Id", a.id);
            w.open("Content", &[]);
            let href = format!("cid:{}", a.part_cid);
            w.open("xop:Include", &[("xmlns:xop", XOP_NS), ("href", &href)]);
            w.close("xop:Include");
            w.close("Content");
            w.close("AttachmentContent");
        }
        w.close("AttachmentContentList");
    }
}

/// Reads `xml` as a standalone document with the hardened reader (a leading byte order mark
/// is skipped), checks its one element with `check_root` and that no element in it takes
/// [`CALLER_SIGNED_ID`], and returns the element as a standalone fragment (no XML declaration,
/// its namespace declarations intact).
fn standalone_element(
    input: &str,
    xml: &str,
    check_root: impl Fn(&Element<'_, '_>) -> Result<(), Problem>,
) -> Result<String, WireError> {
    let (xml, skipped) = match xml.strip_prefix('\u{FEFF}') {
        Some(rest) => (rest, '\u{FEFF}'.len_utf8()),
        None => (xml, 0),
    };
    let defaults = Limits::default();
    let limits = Limits {
        max_depth: defaults.max_depth.saturating_sub(ENCLOSING_DEPTH),
        ..defaults
    };
    let doc = Document::parse_str(xml, limits).map_err(|mut e| {
        e.offset += skipped;
        WireError::Compose {
            input: input.to_owned(),
            problem: ComposeProblem::Xml(e),
        }
    })?;
    let root = doc.root();
    check_root(&root).map_err(|problem| invalid(input, problem))?;
    if let Some(taken) = doc.find_by_id(CALLER_SIGNED_ID).first() {
        return Err(invalid(
            input,
            format!(
                "the element {} has Id=\"{CALLER_SIGNED_ID}\", which the call gives the element the caller signs",
                taken.path()
            ),
        ));
    }
    Ok(root.standalone())
}

/// Checks the attachments: `xs:ID`s unique in the call (and not [`CALLER_SIGNED_ID`]), MIME
/// types of the schema's pattern, usable Content-IDs.
fn check_attachments(attachments: &[ComposedAttachment<'_>]) -> Result<(), WireError> {
    for (i, a) in attachments.iter().enumerate() {
        let field = |name: &str| format!("attachments[{i}].{name}");
        if !is_ncname(a.id) {
            return Err(invalid(
                &field("id"),
                Problem::InvalidValue {
                    value: cut(a.id),
                    expected: "xs:ID (an NCName)".to_owned(),
                },
            ));
        }
        if a.id == CALLER_SIGNED_ID {
            return Err(invalid(
                &field("id"),
                format!("{CALLER_SIGNED_ID:?} is the Id of the element the caller signs"),
            ));
        }
        if let Some(first) = attachments[..i].iter().position(|b| b.id == a.id) {
            return Err(invalid(
                &field("id"),
                format!("Id {:?} is already used by attachments[{first}]", a.id),
            ));
        }
        if !is_smev_mime_type(a.mime_type) {
            return Err(invalid(
                &field("mime_type"),
                Problem::InvalidValue {
                    value: cut(a.mime_type),
                    expected: "MIME type ((text|image|audio|video|application)/[a-zA-Z0-9\\-+.]*)"
                        .to_owned(),
                },
            ));
        }
        let usable = !a.part_cid.is_empty()
            && a.part_cid
                .bytes()
                .all(|b| matches!(b, 0x21..=0x7E) && b != b'<' && b != b'>');
        if !usable {
            return Err(invalid(
                &field("part_cid"),
                Problem::InvalidValue {
                    value: cut(a.part_cid),
                    expected: "a Content-ID without <> (printable ASCII, no space)".to_owned(),
                },
            ));
        }
    }
    Ok(())
}

/// A text value: only characters XML 1.0 allows, at most `max` characters.
fn text<'v>(input: &str, value: &'v str, max: Option<usize>) -> Result<&'v str, WireError> {
    if let Some(c) = value.chars().find(|c| !is_xml_char(*c)) {
        return Err(invalid(
            input,
            format!("character U+{:04X} is not allowed in XML 1.0", u32::from(c)),
        ));
    }
    if let Some(max) = max {
        let length = char_len(value);
        if length > max {
            return Err(invalid(input, Problem::TooLong { max, length }));
        }
    }
    Ok(value)
}

/// Whether XML 1.0 allows the character.
fn is_xml_char(c: char) -> bool {
    matches!(u32::from(c), 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// A [`WireError::Compose`] with a [`ComposeProblem::Invalid`].
fn invalid(input: &str, problem: impl Into<Problem>) -> WireError {
    WireError::Compose {
        input: input.to_owned(),
        problem: ComposeProblem::Invalid(problem.into()),
    }
}

/// A value quoted in an error, bounded.
fn cut(value: &str) -> String {
    opensmev_xmldsig::xml::cut_chars(value, 100).into_owned()
}

/// `{namespace}local` (or just `local` for no namespace), bounded.
fn clark(el: &Element<'_, '_>) -> String {
    let local = opensmev_xmldsig::xml::cut_chars(el.local_name(), 64);
    match el.namespace() {
        Some(ns) => format!("{{{}}}{local}", opensmev_xmldsig::xml::cut_chars(ns, 200)),
        None => local.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(business_xml: &str) -> ComposedRequest<'_> {
        ComposedRequest {
            version: SchemaVersion::V1_2,
            message_id: "1c3b5f9a-2b7a-11ee-be56-0242ac120002",
            reference_message_id: None,
            transaction_code: None,
            node_id: None,
            eol: None,
            test_message: false,
            business_xml,
            personal_signature_xml: None,
            attachments: &[],
        }
    }

    #[test]
    fn the_business_element_goes_in_without_its_declaration() {
        let xml =
            "\u{FEFF}<?xml version=\"1.0\"?>\n<!-- c --><b:Req xmlns:b=\"urn:b\"><X/></b:Req>\n";
        let call = send_request_call(&request(xml)).unwrap();
        assert_eq!(call.matches("<?xml").count(), 1, "{call}");
        assert!(
            call.contains("<MessagePrimaryContent><b:Req xmlns=\"\" xmlns:b=\"urn:b\"><X/></b:Req></MessagePrimaryContent>"),
            "{call}"
        );
    }

    #[test]
    fn xml_errors_name_the_input_and_its_offset() {
        let err = send_request_call(&request("\u{FEFF}<ns2:Req/>")).unwrap_err();
        let WireError::Compose {
            input,
            problem: ComposeProblem::Xml(e),
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(input, "business_xml");
        assert_eq!(e.offset, 3, "{err}");
        assert!(err.to_string().starts_with("business_xml: "), "{err}");
        assert_eq!(err.position(), None);
    }
}
