//! Request decoding: the SOAP 1.1 envelope, the operation element and everything below it down
//! to the business content, checked against the version's schema as it is read.
//!
//! The decoder does not rely on an earlier XSD validation. For every SMEV element it checks the
//! child sequence (presence, order, cardinality, namespace), that no character data sits between
//! elements, the attributes (only the declared ones; `xsi:schemaLocation` and
//! `xsi:noNamespaceSchemaLocation` are tolerated everywhere), and the simple values it reads
//! (UUID pattern, dateTime, boolean, int, NCName, MIME pattern, base64, length limits,
//! enumerations). What it does not check: the business content below `MessagePrimaryContent`
//! and `BusinessProcessMetadata` (the core validates it against the registered XSD), the inside
//! of signatures (the signature library does), the content of an `AsyncProcessingStatus/SmevFault`
//! that carries an `xsi:type`, and `MessageID` (kept raw: the core raises
//! `InvalidMessageIdFormat` itself).

use std::cell::RefCell;
use std::collections::HashMap;

use opensmev_types::{InteractionStatus, QName, SchemaVersion};
use opensmev_xmldsig::xml::{Document, Element, ElementId};

use crate::error::{Expected, Problem, WireError};
use crate::lexical::{
    char_len, collapse, decode_base64, is_ncname, is_smev_mime_type, is_smev_uuid, is_xml_space,
    parse_boolean, parse_date_time, parse_int,
};
use crate::ns::{DSIG_NS, ROUTING_NS_1_3, SOAP_ENV_NS, SOAP12_ENV_NS, XOP_NS, XSI_NS};
use crate::operation::Operation;
use crate::request::*;
use crate::transport::Part;

/// Most repetitions of the 1.3 routing elements (`maxOccurs="1000"`).
const MAX_ROUTING_ITEMS: usize = 1000;

/// Decodes a SOAP request: checks `soap:Envelope`/`soap:Body` (SOAP 1.1; an absent or empty
/// `soap:Header` is fine, header entries are ignored unless `soap:mustUnderstand="1"`), takes the
/// single body element, determines the schema version from its namespace and the operation from
/// its local name, and decodes it. `parts` are the MTOM parts (for `xop:Include`).
pub fn decode_request(doc: &Document<'_>, parts: &dyn PartLookup) -> Result<Request, WireError> {
    let root = doc.root();
    if root.is(SOAP12_ENV_NS, "Envelope") {
        return Err(err_at(&root, Problem::Soap12Envelope));
    }
    if !root.is(SOAP_ENV_NS, "Envelope") {
        return Err(err_at(&root, Problem::NotAnEnvelope { root: clark(&root) }));
    }
    check_no_text(&root)?;
    let mut kids = root.children();
    let mut next = kids.next();
    if let Some(header) = next.filter(|e| e.is(SOAP_ENV_NS, "Header")) {
        check_header(&header)?;
        next = kids.next();
    }
    let body = match next {
        Some(b) if b.is(SOAP_ENV_NS, "Body") => b,
        Some(other) => {
            return Err(err_at(
                &other,
                Problem::UnexpectedElement {
                    found: clark(&other),
                    expected: Expected {
                        names: vec!["soap:Body".to_owned()],
                        end_of: None,
                    },
                },
            ));
        }
        None => return Err(err_at(&root, Problem::MissingBody)),
    };
    if let Some(extra) = kids.find(|e| e.namespace() == Some(SOAP_ENV_NS)) {
        return Err(err_at(
            &extra,
            Problem::AfterBody {
                found: clark(&extra),
            },
        ));
    }
    check_no_text(&body)?;
    let mut entries = body.children();
    let Some(op_el) = entries.next() else {
        return Err(err_at(&body, Problem::EmptyBody));
    };
    if let Some(second) = entries.next() {
        return Err(err_at(
            &second,
            Problem::SecondBodyElement {
                found: clark(&second),
            },
        ));
    }
    let ns = op_el.namespace().unwrap_or("");
    let unknown = || WireError::UnknownOperation {
        namespace: ns.to_owned(),
        local: op_el.local_name().to_owned(),
    };
    let version = SchemaVersion::ALL
        .into_iter()
        .find(|v| v.types_ns() == ns)
        .ok_or_else(unknown)?;
    let operation = Operation::from_request_element(op_el.local_name())
        .filter(|op| op.is_available_in(version))
        .ok_or_else(unknown)?;
    let cx = Cx {
        v: version,
        parts,
        ids: RefCell::new(HashMap::new()),
    };
    Ok(match operation {
        Operation::SendRequest => Request::SendRequest(Box::new(cx.send_request(op_el)?)),
        Operation::SendResponse => Request::SendResponse(Box::new(cx.send_response(op_el)?)),
        Operation::GetRequest => Request::GetRequest(cx.get_message(op_el)?),
        Operation::GetResponse => Request::GetResponse(cx.get_message(op_el)?),
        Operation::Ack => Request::Ack(cx.ack(op_el)?),
        Operation::GetStatus => Request::GetStatus(cx.get_status(op_el)?),
        Operation::GetIncomingQueueStatistics => {
            Request::GetIncomingQueueStatistics(cx.queue_statistics(op_el)?)
        }
    })
}

fn check_header(header: &Element<'_, '_>) -> Result<(), WireError> {
    check_no_text(header)?;
    for entry in header.children() {
        let must = entry
            .attribute(Some(SOAP_ENV_NS), "mustUnderstand")
            .is_some_and(|v| parse_boolean(&v) == Some(true));
        if must {
            return Err(err_at(
                &entry,
                Problem::MustUnderstand {
                    entry: clark(&entry),
                },
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generic checks

fn err_at(el: &Element<'_, '_>, problem: impl Into<Problem>) -> WireError {
    WireError::invalid_at(el.path(), problem, Some(el.range().start))
}

/// `{namespace}local` (or just `local` for no namespace).
fn clark(el: &Element<'_, '_>) -> String {
    match el.namespace() {
        Some(ns) => format!("{{{ns}}}{}", el.local_name()),
        None => el.local_name().to_owned(),
    }
}

/// Index of the `>` that ends the start tag in an element's source.
fn start_tag_end(source: &str) -> usize {
    let mut quote = None;
    for (i, c) in source.bytes().enumerate().skip(1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'>' => return i,
                _ => {}
            },
        }
    }
    source.len().saturating_sub(1)
}

/// Checks that an element with element-only (or empty) content has no character data other
/// than white space between its children (comments and processing instructions are fine).
fn check_no_text(el: &Element<'_, '_>) -> Result<(), WireError> {
    let source = el.source();
    let base = el.range().start;
    let tag_end = start_tag_end(source);
    if tag_end == 0 || source.as_bytes()[tag_end - 1] == b'/' {
        return Ok(());
    }
    let content_end = source.rfind("</").unwrap_or(source.len());
    let mut pos = tag_end + 1;
    for child in el.children() {
        let r = child.range();
        check_gap(&source[pos..r.start - base], base + pos, el)?;
        pos = r.end - base;
    }
    check_gap(&source[pos..content_end.max(pos)], base + pos, el)
}

fn check_gap(gap: &str, offset: usize, el: &Element<'_, '_>) -> Result<(), WireError> {
    let text_error = |rest: &str| {
        let at = offset + (gap.len() - rest.len());
        let snippet: String = rest.chars().take(40).collect();
        WireError::invalid_at(el.path(), Problem::CharacterData { snippet }, Some(at))
    };
    let mut rest = gap;
    loop {
        rest = rest.trim_start_matches(is_xml_space);
        if rest.is_empty() {
            return Ok(());
        }
        let skip_to =
            |r: &'_ str, end: &str| -> usize { r.find(end).map_or(r.len(), |i| i + end.len()) };
        if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[skip_to(r, "-->")..];
        } else if let Some(r) = rest.strip_prefix("<?") {
            rest = &r[skip_to(r, "?>")..];
        } else if let Some(r) = rest.strip_prefix("<![CDATA[") {
            let end = r.find("]]>").unwrap_or(r.len());
            if !r[..end].chars().all(is_xml_space) {
                return Err(text_error(rest));
            }
            rest = &r[(end + 3).min(r.len())..];
        } else if let Some(r) = rest.strip_prefix("&#") {
            let end = r.find(';').ok_or_else(|| text_error(rest))?;
            let code = match r[..end].strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => r[..end].parse().ok(),
            };
            if !code.and_then(char::from_u32).is_some_and(is_xml_space) {
                return Err(text_error(rest));
            }
            rest = &r[end + 1..];
        } else {
            return Err(text_error(rest));
        }
    }
}

/// Reads the attributes of an SMEV element: only `allowed` unqualified ones (plus
/// `xsi:type` when `allow_xsi_type`, and the schema-location hints); returns the allowed ones
/// that are present, and whether `xsi:type` was.
fn attributes(
    el: &Element<'_, '_>,
    allowed: &[&str],
    allow_xsi_type: bool,
) -> Result<(Vec<(String, String)>, bool), WireError> {
    let mut found = Vec::new();
    let mut xsi_type = false;
    for attr in el.start_tag().attrs {
        match attr.ns.as_deref() {
            None if allowed.contains(&attr.local) => {
                found.push((attr.local.to_owned(), attr.value.into_owned()));
            }
            Some(XSI_NS)
                if matches!(attr.local, "schemaLocation" | "noNamespaceSchemaLocation") => {}
            Some(XSI_NS) if attr.local == "type" && allow_xsi_type => xsi_type = true,
            _ => {
                let name = if attr.prefix.is_empty() {
                    attr.local.to_owned()
                } else {
                    format!("{}:{}", attr.prefix, attr.local)
                };
                return Err(err_at(el, Problem::AttributeNotAllowed { name }));
            }
        }
    }
    Ok((found, xsi_type))
}

fn no_attributes(el: &Element<'_, '_>) -> Result<(), WireError> {
    attributes(el, &[], false).map(|_| ())
}

/// The child sequence of an element, consumed in schema order.
struct Seq<'d, 'a> {
    parent: Element<'d, 'a>,
    kids: Vec<Element<'d, 'a>>,
    next: usize,
    /// What could have come at the current position (namespace, local name).
    expected: Vec<(String, String)>,
    /// Whether the end of the parent could have come at the current position.
    end_allowed: bool,
}

impl<'d, 'a> Seq<'d, 'a> {
    fn new(parent: Element<'d, 'a>) -> Result<Self, WireError> {
        check_no_text(&parent)?;
        Ok(Seq {
            parent,
            kids: parent.children().collect(),
            next: 0,
            expected: Vec::new(),
            end_allowed: false,
        })
    }

    fn peek(&self) -> Option<Element<'d, 'a>> {
        self.kids.get(self.next).copied()
    }

    fn take(&mut self) -> Option<Element<'d, 'a>> {
        let e = self.peek()?;
        self.next += 1;
        self.expected.clear();
        self.end_allowed = false;
        Some(e)
    }

    fn opt(&mut self, ns: &str, local: &str) -> Option<Element<'d, 'a>> {
        match self.peek() {
            Some(e) if e.is(ns, local) => self.take(),
            _ => {
                self.expected.push((ns.to_owned(), local.to_owned()));
                None
            }
        }
    }

    fn req(&mut self, ns: &str, local: &str) -> Result<Element<'d, 'a>, WireError> {
        self.opt(ns, local).ok_or_else(|| self.unexpected())
    }

    fn many(&mut self, ns: &str, local: &str) -> Vec<Element<'d, 'a>> {
        let mut out = Vec::new();
        while let Some(e) = self.opt(ns, local) {
            out.push(e);
        }
        out
    }

    /// One or more, at most `max`.
    fn some(
        &mut self,
        ns: &str,
        local: &str,
        max: usize,
    ) -> Result<Vec<Element<'d, 'a>>, WireError> {
        let all = self.many(ns, local);
        if all.is_empty() {
            return Err(self.unexpected());
        }
        if all.len() > max {
            return Err(err_at(
                &all[max],
                Problem::TooMany {
                    name: local.to_owned(),
                    max,
                },
            ));
        }
        Ok(all)
    }

    fn unexpected(&self) -> WireError {
        let names: Vec<String> = self.expected.iter().map(|(_, l)| l.clone()).collect();
        let expected = Expected {
            end_of: (self.end_allowed || names.is_empty())
                .then(|| self.parent.local_name().to_owned()),
            names,
        };
        match self.peek() {
            Some(found) => {
                if let Some((ns, _)) = self.expected.iter().find(|(ns, l)| {
                    l == found.local_name() && Some(ns.as_str()) != found.namespace()
                }) {
                    return err_at(
                        &found,
                        Problem::WrongNamespace {
                            found: clark(&found),
                            expected: format!("{{{ns}}}{}", found.local_name()),
                        },
                    );
                }
                err_at(
                    &found,
                    Problem::UnexpectedElement {
                        found: clark(&found),
                        expected,
                    },
                )
            }
            None => err_at(&self.parent, Problem::MissingElement { expected }),
        }
    }

    fn end(mut self) -> Result<(), WireError> {
        if self.peek().is_none() {
            return Ok(());
        }
        self.end_allowed = true;
        Err(self.unexpected())
    }
}

/// The text of a simple-content element (no child elements allowed).
fn leaf_text(el: Element<'_, '_>) -> Result<String, WireError> {
    if let Some(child) = el.children().next() {
        return Err(err_at(
            &child,
            Problem::ElementInSimpleContent {
                parent: el.local_name().to_owned(),
                found: clark(&child),
            },
        ));
    }
    Ok(el.text_content())
}

/// A simple-content element without attributes.
fn leaf(el: Element<'_, '_>) -> Result<String, WireError> {
    no_attributes(&el)?;
    leaf_text(el)
}

fn string_max(el: Element<'_, '_>, max: usize) -> Result<String, WireError> {
    let text = leaf(el)?;
    if char_len(&text) > max {
        return Err(err_at(
            &el,
            Problem::TooLong {
                max,
                length: char_len(&text),
            },
        ));
    }
    Ok(text)
}

fn uuid(el: Element<'_, '_>) -> Result<String, WireError> {
    let text = leaf(el)?;
    check_uuid(&el, &text)?;
    Ok(text)
}

fn check_uuid(el: &Element<'_, '_>, text: &str) -> Result<(), WireError> {
    if !is_smev_uuid(text) {
        return Err(err_at(
            el,
            Problem::InvalidValue {
                value: text.to_owned(),
                expected: "basic:UUID (lower-case 8-4-4-4-12 hexadecimal)".to_owned(),
            },
        ));
    }
    Ok(())
}

fn date_time(el: Element<'_, '_>) -> Result<time::OffsetDateTime, WireError> {
    let text = leaf(el)?;
    date_time_value(&el, &text)
}

fn date_time_value(el: &Element<'_, '_>, text: &str) -> Result<time::OffsetDateTime, WireError> {
    parse_date_time(text).map_err(|e| err_at(el, e))
}

fn int(el: Element<'_, '_>) -> Result<i32, WireError> {
    let text = leaf(el)?;
    parse_int(&text).ok_or_else(|| {
        err_at(
            &el,
            Problem::InvalidValue {
                value: text.clone(),
                expected: "xs:int".to_owned(),
            },
        )
    })
}

fn boolean(el: Element<'_, '_>) -> Result<bool, WireError> {
    let text = leaf(el)?;
    parse_boolean(&text).ok_or_else(|| {
        err_at(
            &el,
            Problem::InvalidValue {
                value: text.clone(),
                expected: "xs:boolean (true, false, 1 or 0)".to_owned(),
            },
        )
    })
}

fn mime_type(el: Element<'_, '_>) -> Result<String, WireError> {
    let text = leaf(el)?;
    if !is_smev_mime_type(&text) {
        return Err(err_at(
            &el,
            Problem::InvalidValue {
                value: text.clone(),
                expected: "MIME type ((text|image|audio|video|application)/[a-zA-Z0-9\\-+.]*)"
                    .to_owned(),
            },
        ));
    }
    Ok(text)
}

/// `basic:Void`: no attributes, no content.
fn void(el: Element<'_, '_>) -> Result<(), WireError> {
    no_attributes(&el)?;
    Seq::new(el)?.end()
}

/// `basic:XMLDSigSignatureType`: exactly one element of the XML Signature namespace.
fn dsig_wrapper(el: Element<'_, '_>) -> Result<ElementId, WireError> {
    no_attributes(&el)?;
    let mut seq = Seq::new(el)?;
    match seq.peek() {
        Some(sig) if sig.namespace() == Some(DSIG_NS) => {
            seq.take();
        }
        Some(other) => {
            return Err(err_at(
                &other,
                format!(
                    "unexpected element {}; {} must contain one element of {DSIG_NS} (ds:Signature)",
                    clark(&other),
                    el.local_name()
                ),
            ));
        }
        None => {
            return Err(err_at(
                &el,
                format!(
                    "{} is empty: it must contain a ds:Signature",
                    el.local_name()
                ),
            ));
        }
    }
    seq.end()?;
    Ok(el.index())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------------------------------------
// The SMEV structures

struct Cx<'p> {
    v: SchemaVersion,
    parts: &'p dyn PartLookup,
    /// `xs:ID` values seen so far (they must be unique in the message).
    ids: RefCell<HashMap<String, usize>>,
}

/// A decoded base64Binary value and where it came from.
struct Binary {
    data: AttachmentData,
    content_id: Option<String>,
    content_type: Option<String>,
}

impl Binary {
    /// The bytes, for values that must be in memory (`SignaturePKCS7`).
    fn into_bytes(self, el: &Element<'_, '_>) -> Result<Vec<u8>, WireError> {
        match self.data {
            AttachmentData::Bytes(bytes) => Ok(bytes),
            AttachmentData::Part { .. } => Err(err_at(
                el,
                "this value cannot be an xop:Include of a large MIME part",
            )),
        }
    }
}

/// A MIME part as [`PartLookup::lookup`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPart {
    /// Its Content-ID, as the part names it (without `<>`).
    pub content_id: String,
    /// Its `Content-Type`.
    pub content_type: String,
    /// Its bytes, or where the caller keeps them.
    pub data: AttachmentData,
}

/// The MIME parts of an MTOM message, as `xop:Include` resolves them. The parts of
/// [`crate::split_http_body`] (in memory) are one; a server that spools large parts to files
/// implements it to answer [`AttachmentData::Part`] for those.
pub trait PartLookup {
    /// The part with exactly this Content-ID, if there is one.
    fn lookup(&self, content_id: &str) -> Option<FoundPart>;
}

impl PartLookup for HashMap<String, Part<'_>> {
    fn lookup(&self, content_id: &str) -> Option<FoundPart> {
        self.get_key_value(content_id).map(|(key, part)| FoundPart {
            content_id: key.clone(),
            content_type: part.content_type.clone(),
            data: AttachmentData::Bytes(part.data.to_vec()),
        })
    }
}

impl Cx<'_> {
    fn t(&self) -> &'static str {
        self.v.types_ns()
    }

    fn b(&self) -> &'static str {
        self.v.basic_ns()
    }

    fn v13(&self) -> bool {
        self.v == SchemaVersion::V1_3
    }

    /// Checks an `xs:ID` value (NCName, unique in the message).
    fn id_value(&self, el: &Element<'_, '_>, raw: &str) -> Result<String, WireError> {
        let id = collapse(raw);
        if !is_ncname(id) {
            return Err(err_at(
                el,
                format!("Id {raw:?} is not a valid xs:ID (NCName)"),
            ));
        }
        let mut ids = self.ids.borrow_mut();
        if let Some(first) = ids.insert(id.to_owned(), el.range().start) {
            return Err(err_at(
                el,
                format!("Id {id:?} is already used by an element at byte {first}"),
            ));
        }
        Ok(id.to_owned())
    }

    /// The optional `Id` attribute (and no other attribute).
    fn id_attr(&self, el: &Element<'_, '_>) -> Result<Option<String>, WireError> {
        let (attrs, _) = attributes(el, &["Id"], false)?;
        attrs.first().map(|(_, v)| self.id_value(el, v)).transpose()
    }

    fn send_request(&self, el: Element<'_, '_>) -> Result<SendRequestReq, WireError> {
        no_attributes(&el)?;
        let mut s = Seq::new(el)?;
        let data = s.req(self.t(), "SenderProvidedRequestData")?;
        let content_list = s.opt(self.b(), "AttachmentContentList");
        let signature = s.opt(self.t(), "CallerInformationSystemSignature");
        let routing = if self.v13() {
            s.opt(ROUTING_NS_1_3, "Routing")
        } else {
            None
        };
        s.end()?;
        Ok(SendRequestReq {
            version: self.v,
            body: el.index(),
            sender_data: self.sender_request_data(data)?,
            attachments: content_list
                .map(|l| self.attachment_contents(l))
                .transpose()?
                .unwrap_or_default(),
            caller_signature: signature.map(dsig_wrapper).transpose()?,
            routing: routing.map(|r| self.routing(r)).transpose()?,
        })
    }

    fn sender_request_data(&self, el: Element<'_, '_>) -> Result<SenderRequestData, WireError> {
        let id_attr = self.id_attr(&el)?;
        let (t, b) = (self.t(), self.b());
        let mut s = Seq::new(el)?;
        let message_id = leaf(s.req(t, "MessageID")?)?;
        let reference_message_id = s.opt(t, "ReferenceMessageID").map(uuid).transpose()?;
        let transaction_code = s
            .opt(t, "TransactionCode")
            .map(|e| string_max(e, 1500))
            .transpose()?;
        let node_id = s.opt(t, "NodeID").map(|e| string_max(e, 50)).transpose()?;
        let eol = s.opt(t, "EOL").map(date_time).transpose()?;
        let content = self.primary_content(s.req(b, "MessagePrimaryContent")?)?;
        let personal_signature = s
            .opt(t, "PersonalSignature")
            .map(dsig_wrapper)
            .transpose()?;
        let attachment_headers = s
            .opt(b, "AttachmentHeaderList")
            .map(|e| self.attachment_headers(e))
            .transpose()?
            .unwrap_or_default();
        let ref_attachment_headers = s
            .opt(b, "RefAttachmentHeaderList")
            .map(|e| self.ref_attachment_headers(e))
            .transpose()?
            .unwrap_or_default();
        let business_process_metadata = s
            .opt(t, "BusinessProcessMetadata")
            .map(|e| self.business_process_metadata(e))
            .transpose()?;
        let test_message = s.opt(t, "TestMessage").map(void).transpose()?.is_some();
        s.end()?;
        Ok(SenderRequestData {
            element: el.index(),
            id_attr,
            message_id,
            reference_message_id,
            transaction_code,
            node_id,
            eol,
            content,
            personal_signature,
            attachment_headers,
            ref_attachment_headers,
            business_process_metadata,
            test_message,
        })
    }

    fn primary_content(&self, el: Element<'_, '_>) -> Result<PrimaryContent, WireError> {
        no_attributes(&el)?;
        let mut s = Seq::new(el)?;
        let Some(root) = s.take() else {
            return Err(err_at(
                &el,
                "MessagePrimaryContent is empty: it must contain the business document (one element)",
            ));
        };
        match root.namespace() {
            None => {
                return Err(err_at(
                    &root,
                    format!(
                        "the business root element {} must be in a namespace (the schema requires ##other)",
                        root.local_name()
                    ),
                ));
            }
            Some(ns) if ns == self.b() => {
                return Err(err_at(
                    &root,
                    format!(
                        "the business root element must not be in the namespace of MessagePrimaryContent ({ns})"
                    ),
                ));
            }
            Some(_) => {}
        }
        if let Some(extra) = s.peek() {
            return Err(err_at(
                &extra,
                format!(
                    "MessagePrimaryContent must contain exactly one element; found a second one: {}",
                    clark(&extra)
                ),
            ));
        }
        Ok(PrimaryContent {
            element: el.index(),
            root: root.index(),
            root_name: QName::new(root.namespace().unwrap_or(""), root.local_name()),
            root_id_attr: root.id_attr().map(str::to_owned),
        })
    }

    fn business_process_metadata(&self, el: Element<'_, '_>) -> Result<ElementId, WireError> {
        no_attributes(&el)?;
        Seq::new(el)?;
        for child in el.children() {
            match child.namespace() {
                Some(ns) if ns != self.t() => {}
                _ => {
                    return Err(err_at(
                        &child,
                        format!(
                            "element {} is not allowed in BusinessProcessMetadata (namespace ##other)",
                            clark(&child)
                        ),
                    ));
                }
            }
        }
        Ok(el.index())
    }

    /// A list element without attributes holding `1..=max` `item` children (the attachment
    /// lists, an archive's files), each without attributes and read in order by `read`.
    fn list<'d, 'a, T>(
        &self,
        el: Element<'d, 'a>,
        item: &str,
        max: usize,
        mut read: impl FnMut(Element<'d, 'a>, Seq<'d, 'a>) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        no_attributes(&el)?;
        let mut s = Seq::new(el)?;
        let items = s.some(self.b(), item, max)?;
        s.end()?;
        items
            .into_iter()
            .map(|i| {
                no_attributes(&i)?;
                read(i, Seq::new(i)?)
            })
            .collect()
    }

    /// How both kinds of attachment header end: an optional `SignaturePKCS7`, then (1.3) an
    /// optional `Archive`.
    fn signature_and_archive(
        &self,
        s: &mut Seq<'_, '_>,
    ) -> Result<(Option<Vec<u8>>, Vec<ArchiveFile>), WireError> {
        let b = self.b();
        let signature_pkcs7 = s
            .opt(b, "SignaturePKCS7")
            .map(|e| self.binary(e).and_then(|bin| bin.into_bytes(&e)))
            .transpose()?;
        let archive = if self.v13() {
            s.opt(b, "Archive")
                .map(|e| self.archive(e))
                .transpose()?
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok((signature_pkcs7, archive))
    }

    fn attachment_headers(&self, el: Element<'_, '_>) -> Result<Vec<AttachmentHeader>, WireError> {
        let b = self.b();
        self.list(el, "AttachmentHeader", usize::MAX, |h, mut s| {
            let content_id = leaf(s.req(b, "contentId")?)?;
            let namespace_uri = if self.v13() {
                s.opt(b, "NamespaceUri").map(leaf).transpose()?
            } else {
                None
            };
            let mime_type = mime_type(s.req(b, "MimeType")?)?;
            let (signature_pkcs7, archive) = self.signature_and_archive(&mut s)?;
            s.end()?;
            Ok(AttachmentHeader {
                element: h.index(),
                content_id,
                namespace_uri,
                mime_type,
                signature_pkcs7,
                archive,
            })
        })
    }

    fn ref_attachment_headers(
        &self,
        el: Element<'_, '_>,
    ) -> Result<Vec<RefAttachmentHeader>, WireError> {
        let b = self.b();
        self.list(el, "RefAttachmentHeader", usize::MAX, |h, mut s| {
            let uuid = leaf(s.req(b, "uuid")?)?;
            let (file_name, namespace_uri) = if self.v13() {
                (
                    s.opt(b, "FileName").map(leaf).transpose()?,
                    s.opt(b, "NamespaceUri").map(leaf).transpose()?,
                )
            } else {
                (None, None)
            };
            let hash = leaf(s.req(b, "Hash")?)?;
            let mime_type = mime_type(s.req(b, "MimeType")?)?;
            let (signature_pkcs7, archive) = self.signature_and_archive(&mut s)?;
            s.end()?;
            Ok(RefAttachmentHeader {
                element: h.index(),
                uuid,
                file_name,
                namespace_uri,
                hash,
                mime_type,
                signature_pkcs7,
                archive,
            })
        })
    }

    fn archive(&self, el: Element<'_, '_>) -> Result<Vec<ArchiveFile>, WireError> {
        let b = self.b();
        self.list(el, "File", 1000, |_, mut s| {
            let name = leaf(s.req(b, "Name")?)?;
            let namespace_uri = leaf(s.req(b, "NamespaceUri")?)?;
            s.end()?;
            Ok(ArchiveFile {
                name,
                namespace_uri,
            })
        })
    }

    fn attachment_contents(
        &self,
        el: Element<'_, '_>,
    ) -> Result<Vec<AttachmentContent>, WireError> {
        let b = self.b();
        self.list(el, "AttachmentContent", usize::MAX, |c, mut s| {
            let id_el = s.req(b, "Id")?;
            let id = self.id_value(&id_el, &leaf(id_el)?)?;
            let content = s.req(b, "Content")?;
            s.end()?;
            let binary = self.binary(content)?;
            Ok(AttachmentContent {
                element: c.index(),
                id,
                data: binary.data,
                mtom_content_id: binary.content_id,
                part_content_type: binary.content_type,
            })
        })
    }

    /// An `xs:base64Binary` element: base64 text, or (MTOM) one `xop:Include` of a MIME part.
    fn binary(&self, el: Element<'_, '_>) -> Result<Binary, WireError> {
        no_attributes(&el)?;
        if el.children().next().is_none() {
            let data = decode_base64(&el.text_cow()).map_err(|e| err_at(&el, e))?;
            return Ok(Binary {
                data: AttachmentData::Bytes(data),
                content_id: None,
                content_type: None,
            });
        }
        let mut s = Seq::new(el)?;
        let include = s.req(XOP_NS, "Include")?;
        s.end()?;
        if let Some(child) = include.children().next() {
            return Err(err_at(&child, "xop:Include must be empty"));
        }
        let href = include
            .attribute(None, "href")
            .ok_or_else(|| err_at(&include, "xop:Include has no href attribute"))?;
        let href = href.trim();
        let cid = href
            .get(..4)
            .filter(|scheme| scheme.eq_ignore_ascii_case("cid:"))
            .map(|_| &href[4..])
            .ok_or_else(|| {
                err_at(
                    &include,
                    format!("xop:Include href {href:?} is not a cid: URL"),
                )
            })?;
        let found = self
            .parts
            .lookup(cid)
            .or_else(|| percent_decode(cid).and_then(|d| self.parts.lookup(&d)));
        let Some(part) = found else {
            return Err(err_at(
                &include,
                format!(
                    "xop:Include refers to cid:{cid}, but the message has no MIME part with Content-ID <{cid}>"
                ),
            ));
        };
        Ok(Binary {
            data: part.data,
            content_id: Some(part.content_id),
            content_type: Some(part.content_type),
        })
    }

    fn send_response(&self, el: Element<'_, '_>) -> Result<SendResponseReq, WireError> {
        no_attributes(&el)?;
        let mut s = Seq::new(el)?;
        let data = s.req(self.t(), "SenderProvidedResponseData")?;
        let content_list = s.opt(self.b(), "AttachmentContentList");
        let signature = s.opt(self.t(), "CallerInformationSystemSignature");
        s.end()?;
        Ok(SendResponseReq {
            version: self.v,
            body: el.index(),
            sender_data: self.sender_response_data(data)?,
            attachments: content_list
                .map(|l| self.attachment_contents(l))
                .transpose()?
                .unwrap_or_default(),
            caller_signature: signature.map(dsig_wrapper).transpose()?,
        })
    }

    fn sender_response_data(&self, el: Element<'_, '_>) -> Result<SenderResponseData, WireError> {
        let id_attr = self.id_attr(&el)?;
        let (t, b) = (self.t(), self.b());
        let mut s = Seq::new(el)?;
        let message_id = leaf(s.req(t, "MessageID")?)?;
        let to = string_max(s.req(t, "To")?, 4000)?;
        let content = if let Some(primary) = s.opt(b, "MessagePrimaryContent") {
            let content = self.primary_content(primary)?;
            let personal_signature = s
                .opt(t, "PersonalSignature")
                .map(dsig_wrapper)
                .transpose()?;
            let attachment_headers = s
                .opt(b, "AttachmentHeaderList")
                .map(|e| self.attachment_headers(e))
                .transpose()?
                .unwrap_or_default();
            let ref_attachment_headers = s
                .opt(b, "RefAttachmentHeaderList")
                .map(|e| self.ref_attachment_headers(e))
                .transpose()?
                .unwrap_or_default();
            ResponseContent::Primary {
                content,
                personal_signature,
                attachment_headers,
                ref_attachment_headers,
            }
        } else if s.peek().is_some_and(|e| e.is(t, "RequestRejected")) {
            let rejections = s.many(t, "RequestRejected");
            ResponseContent::Rejected(
                rejections
                    .into_iter()
                    .map(|r| self.rejection(r))
                    .collect::<Result<_, _>>()?,
            )
        } else if let Some(status) = s.opt(t, "RequestStatus") {
            ResponseContent::Status(self.request_status(status)?)
        } else if let Some(status) = s.opt(t, "AsyncProcessingStatus") {
            ResponseContent::AsyncProcessingStatus(self.async_status(status)?)
        } else {
            s.expected
                .insert(1, (t.to_owned(), "RequestRejected".to_owned()));
            return Err(s.unexpected());
        };
        s.end()?;
        Ok(SenderResponseData {
            element: el.index(),
            id_attr,
            message_id,
            to,
            content,
        })
    }

    fn rejection(&self, el: Element<'_, '_>) -> Result<Rejection, WireError> {
        no_attributes(&el)?;
        let t = self.t();
        let mut s = Seq::new(el)?;
        let code_el = s.req(t, "RejectionReasonCode")?;
        let code_text = leaf(code_el)?;
        let code = RejectCode::parse(&code_text).ok_or_else(|| {
            err_at(
                &code_el,
                format!(
                    "{code_text:?} is not a RejectCode (ACCESS_DENIED, NO_DATA, UNKNOWN_REQUEST_DESCRIPTION, FAILURE)"
                ),
            )
        })?;
        let description = string_max(s.req(t, "RejectionReasonDescription")?, 4000)?;
        s.end()?;
        Ok(Rejection { code, description })
    }

    fn request_status(&self, el: Element<'_, '_>) -> Result<RequestStatus, WireError> {
        no_attributes(&el)?;
        let t = self.t();
        let mut s = Seq::new(el)?;
        let code = int(s.req(t, "StatusCode")?)?;
        let parameters = s
            .many(t, "StatusParameter")
            .into_iter()
            .map(|p| {
                no_attributes(&p)?;
                let mut s = Seq::new(p)?;
                let key = leaf(s.req(t, "Key")?)?;
                let value = leaf(s.req(t, "Value")?)?;
                s.end()?;
                Ok((key, value))
            })
            .collect::<Result<_, WireError>>()?;
        let description = string_max(s.req(t, "StatusDescription")?, 4000)?;
        s.end()?;
        Ok(RequestStatus {
            code,
            parameters,
            description,
        })
    }

    fn async_status(&self, el: Element<'_, '_>) -> Result<AsyncStatus, WireError> {
        no_attributes(&el)?;
        let t = self.t();
        let mut s = Seq::new(el)?;
        let original_message_id = uuid(s.req(t, "OriginalMessageId")?)?;
        let category_el = s.req(t, "StatusCategory")?;
        let status_category = leaf(category_el)?;
        if !interaction_statuses(self.v).contains(&status_category.as_str()) {
            return Err(err_at(
                &category_el,
                format!(
                    "{status_category:?} is not an InteractionStatusType value of schema {}",
                    self.v.as_str()
                ),
            ));
        }
        let details = s
            .opt(t, "StatusDetails")
            .map(|e| string_max(e, 500))
            .transpose()?;
        let routing_status = if self.v13() {
            s.opt(ROUTING_NS_1_3, "RoutingStatus")
                .map(|e| self.routing_status(e))
                .transpose()?
        } else {
            None
        };
        let smev_fault = s
            .opt(t, "SmevFault")
            .map(|e| self.smev_fault(e))
            .transpose()?;
        s.end()?;
        Ok(AsyncStatus {
            element: el.index(),
            original_message_id,
            status: InteractionStatus::from_code(&status_category),
            status_category,
            details,
            routing_status,
            smev_fault,
        })
    }

    fn smev_fault(&self, el: Element<'_, '_>) -> Result<ElementId, WireError> {
        let (_, xsi_type) = attributes(&el, &[], true)?;
        if xsi_type {
            // An extension of SmevFault (e.g. faults:InvalidContent): its content model is the
            // extension's; not checked here.
            return Ok(el.index());
        }
        let b = self.b();
        let mut s = Seq::new(el)?;
        let max = if self.v == SchemaVersion::V1_1 {
            50
        } else {
            100
        };
        s.opt(b, "Code").map(|e| string_max(e, max)).transpose()?;
        s.opt(b, "Description").map(leaf).transpose()?;
        s.end()?;
        Ok(el.index())
    }

    fn routing_status(&self, el: Element<'_, '_>) -> Result<ElementId, WireError> {
        no_attributes(&el)?;
        let r = ROUTING_NS_1_3;
        let mut s = Seq::new(el)?;
        for e in bounded(s.many(r, "DynamicRoutingStatus"))? {
            value_status(e, "DynamicValue")?;
        }
        for e in bounded(s.many(r, "IdentifierRoutingStatus"))? {
            value_status(e, "IdentifierValue")?;
        }
        for e in bounded(s.many(r, "RegistryRoutingStatus"))? {
            no_attributes(&e)?;
            let mut s = Seq::new(e)?;
            int(s.req(r, "RecordId")?)?;
            routing_status_code(s.req(r, "RoutingStatusCode")?)?;
            for d in bounded(s.many(r, "DynamicRoutingStatus"))? {
                value_status(d, "DynamicValue")?;
            }
            for d in bounded(s.many(r, "IdentifierRoutingStatus"))? {
                value_status(d, "IdentifierValue")?;
            }
            s.end()?;
        }
        s.end()?;
        Ok(el.index())
    }

    fn get_message(&self, el: Element<'_, '_>) -> Result<GetMessageReq, WireError> {
        no_attributes(&el)?;
        let mut s = Seq::new(el)?;
        let selector = s.req(self.b(), "MessageTypeSelector")?;
        let signature = s.opt(self.t(), "CallerInformationSystemSignature");
        s.end()?;
        Ok(GetMessageReq {
            version: self.v,
            body: el.index(),
            selector: self.selector(selector)?,
            caller_signature: signature.map(dsig_wrapper).transpose()?,
        })
    }

    fn selector(&self, el: Element<'_, '_>) -> Result<MessageTypeSelector, WireError> {
        let id_attr = self.id_attr(&el)?;
        let b = self.b();
        let mut s = Seq::new(el)?;
        let (namespace_uri, root_element_local_name) = match s.opt(b, "NamespaceURI") {
            Some(ns) => {
                let ns = collapse(&leaf(ns)?).to_owned();
                let local_el = s.req(b, "RootElementLocalName")?;
                let local = collapse(&leaf(local_el)?).to_owned();
                if !is_ncname(&local) {
                    return Err(err_at(
                        &local_el,
                        format!("{local:?} is not a valid xs:NCName"),
                    ));
                }
                (Some(ns), Some(local))
            }
            None => (None, None),
        };
        let timestamp = date_time(s.req(b, "Timestamp")?)?;
        let node_id = s.opt(b, "NodeID").map(|e| string_max(e, 50)).transpose()?;
        s.end()?;
        Ok(MessageTypeSelector {
            element: el.index(),
            id_attr,
            namespace_uri,
            root_element_local_name,
            timestamp,
            node_id,
        })
    }

    fn ack(&self, el: Element<'_, '_>) -> Result<AckReq, WireError> {
        no_attributes(&el)?;
        let mut s = Seq::new(el)?;
        let target = s.req(self.b(), "AckTargetMessage")?;
        let signature = s.opt(self.t(), "CallerInformationSystemSignature");
        s.end()?;
        Ok(AckReq {
            version: self.v,
            body: el.index(),
            target: self.ack_target(target)?,
            caller_signature: signature.map(dsig_wrapper).transpose()?,
        })
    }

    fn ack_target(&self, el: Element<'_, '_>) -> Result<AckTarget, WireError> {
        let (attrs, _) = attributes(&el, &["Id", "accepted"], false)?;
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let id_attr = match get("Id") {
            Some(id) => self.id_value(&el, id)?,
            None => {
                return Err(err_at(
                    &el,
                    Problem::AttributeMissing {
                        name: "Id".to_owned(),
                    },
                ));
            }
        };
        let accepted = match get("accepted") {
            Some(v) => Some(parse_boolean(v).ok_or_else(|| {
                err_at(
                    &el,
                    format!("accepted={v:?} is not a valid xs:boolean (true, false, 1 or 0)"),
                )
            })?),
            None if self.v == SchemaVersion::V1_1 => {
                return Err(err_at(
                    &el,
                    "the attribute accepted is required in schema 1.1",
                ));
            }
            None => None,
        };
        let message_id = leaf_text(el)?;
        check_uuid(&el, &message_id)?;
        Ok(AckTarget {
            element: el.index(),
            id_attr,
            message_id,
            accepted,
        })
    }

    fn timestamp(&self, el: Element<'_, '_>) -> Result<Timestamp, WireError> {
        let id_attr = self.id_attr(&el)?;
        let value = date_time_value(&el, &leaf_text(el)?)?;
        Ok(Timestamp {
            element: el.index(),
            id_attr,
            value,
        })
    }

    fn get_status(&self, el: Element<'_, '_>) -> Result<TimestampedReq, WireError> {
        no_attributes(&el)?;
        let mut s = Seq::new(el)?;
        let timestamp = s.req(self.b(), "Timestamp")?;
        let signature = s.req(self.t(), "CallerInformationSystemSignature")?;
        s.end()?;
        Ok(TimestampedReq {
            version: self.v,
            body: el.index(),
            timestamp: self.timestamp(timestamp)?,
            node_id: None,
            caller_signature: Some(dsig_wrapper(signature)?),
        })
    }

    fn queue_statistics(&self, el: Element<'_, '_>) -> Result<TimestampedReq, WireError> {
        no_attributes(&el)?;
        let mut s = Seq::new(el)?;
        let node_id = s
            .opt(self.t(), "NodeID")
            .map(|e| string_max(e, 50))
            .transpose()?;
        let timestamp = s.req(self.b(), "Timestamp")?;
        let signature = s.opt(self.t(), "CallerInformationSystemSignature");
        s.end()?;
        Ok(TimestampedReq {
            version: self.v,
            body: el.index(),
            timestamp: self.timestamp(timestamp)?,
            node_id,
            caller_signature: signature.map(dsig_wrapper).transpose()?,
        })
    }

    fn routing(&self, el: Element<'_, '_>) -> Result<Routing, WireError> {
        no_attributes(&el)?;
        let r = ROUTING_NS_1_3;
        let mut s = Seq::new(el)?;
        let info = s.req(r, "RoutingInformation")?;
        let signature = s.req(r, "RoutingSignature")?;
        s.end()?;
        let information_id_attr = self.id_attr(&info)?;
        let mut s = Seq::new(info)?;
        let message_id = uuid(s.req(r, "MessageID")?)?;
        let dynamic_values = s
            .opt(r, "DynamicRouting")
            .map(|e| routing_values(e, "DynamicValue"))
            .transpose()?
            .unwrap_or_default();
        let identifier_values = s
            .opt(r, "IdentifierRouting")
            .map(|e| routing_values(e, "IdentifierValue"))
            .transpose()?
            .unwrap_or_default();
        let registry_records = match s.opt(r, "RegistryRouting") {
            Some(registry) => {
                no_attributes(&registry)?;
                let mut rs = Seq::new(registry)?;
                let records = rs.some(r, "RegistryRecordRouting", MAX_ROUTING_ITEMS)?;
                rs.end()?;
                records
                    .into_iter()
                    .map(|rec| {
                        no_attributes(&rec)?;
                        let mut s = Seq::new(rec)?;
                        let record_id = int(s.req(r, "RecordId")?)?;
                        let use_general_routing = boolean(s.req(r, "UseGeneralRouting")?)?;
                        let dynamic_values = s
                            .opt(r, "DynamicRouting")
                            .map(|e| routing_values(e, "DynamicValue"))
                            .transpose()?
                            .unwrap_or_default();
                        let identifier_values = s
                            .opt(r, "IdentifierRouting")
                            .map(|e| routing_values(e, "IdentifierValue"))
                            .transpose()?
                            .unwrap_or_default();
                        s.end()?;
                        Ok(RegistryRecordRouting {
                            record_id,
                            use_general_routing,
                            dynamic_values,
                            identifier_values,
                        })
                    })
                    .collect::<Result<_, WireError>>()?
            }
            None => Vec::new(),
        };
        s.end()?;
        Ok(Routing {
            element: el.index(),
            information: info.index(),
            information_id_attr,
            message_id,
            dynamic_values,
            identifier_values,
            registry_records,
            signature: dsig_wrapper(signature)?,
        })
    }
}

/// `DynamicRouting` / `IdentifierRouting`: 1..1000 values of at most 500 characters.
fn routing_values(el: Element<'_, '_>, value: &str) -> Result<Vec<String>, WireError> {
    no_attributes(&el)?;
    let mut s = Seq::new(el)?;
    let values = s.some(ROUTING_NS_1_3, value, MAX_ROUTING_ITEMS)?;
    s.end()?;
    values.into_iter().map(|v| string_max(v, 500)).collect()
}

/// `DynamicRoutingStatus` / `IdentifierRoutingStatus`: a value and a status code.
fn value_status(el: Element<'_, '_>, value: &str) -> Result<(), WireError> {
    no_attributes(&el)?;
    let mut s = Seq::new(el)?;
    string_max(s.req(ROUTING_NS_1_3, value)?, 500)?;
    routing_status_code(s.req(ROUTING_NS_1_3, "RoutingStatusCode")?)?;
    s.end()
}

/// At most [`MAX_ROUTING_ITEMS`] elements.
fn bounded<'d, 'a>(items: Vec<Element<'d, 'a>>) -> Result<Vec<Element<'d, 'a>>, WireError> {
    if items.len() > MAX_ROUTING_ITEMS {
        return Err(err_at(
            &items[MAX_ROUTING_ITEMS],
            format!("at most {MAX_ROUTING_ITEMS} such elements are allowed"),
        ));
    }
    Ok(items)
}

fn routing_status_code(el: Element<'_, '_>) -> Result<(), WireError> {
    const CODES: [&str; 7] = [
        "success",
        "recipientNotFound",
        "invalidRegistryRecordId",
        "certificateInvalid",
        "signatureInvalid",
        "generalRoutingNotFound",
        "personalAccessDenied",
    ];
    let text = leaf(el)?;
    if !CODES.contains(&text.as_str()) {
        return Err(err_at(
            &el,
            format!("{text:?} is not a RoutingStatusCodeType value"),
        ));
    }
    Ok(())
}

/// The values of `basic:InteractionStatusType` in a version.
pub(crate) fn interaction_statuses(version: SchemaVersion) -> &'static [&'static str] {
    match version {
        SchemaVersion::V1_1 => &[
            "doesNotExist",
            "requestIsQueued",
            "requestIsAcceptedBySmev",
            "requestIsRejectedBySmev",
            "underProcessing",
            "responseIsAcceptedBySmev",
            "cancelled",
            "responseIsDelivered",
        ],
        SchemaVersion::V1_2 => &[
            "doesNotExist",
            "requestIsQueued",
            "requestIsAcceptedBySmev",
            "requestIsRejectedBySmev",
            "underProcessing",
            "responseIsAcceptedBySmev",
            "responseIsRejectedBySmev",
            "cancelled",
            "messageIsArchived",
            "messageIsDelivered",
        ],
        SchemaVersion::V1_3 => &[
            "doesNotExist",
            "requestIsQueued",
            "requestIsAcceptedBySmev",
            "requestIsRejectedBySmev",
            "requestIsProcessed",
            "underProcessing",
            "responseIsQueued",
            "responseIsAcceptedBySmev",
            "responseIsRejectedBySmev",
            "responseIsProcessed",
            "cancelled",
            "messageIsArchived",
            "messageIsDelivered",
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opensmev_xmldsig::xml::Limits;

    #[test]
    fn text_between_elements_is_found() {
        let xml = "<a><!-- c --><?pi x?>&#32;<![CDATA[ ]]><b/> x <c/></a>";
        let doc = Document::parse_str(xml, Limits::default()).unwrap();
        let err = check_no_text(&doc.root()).unwrap_err();
        assert_eq!(err.position(), Some(xml.find(" x ").unwrap() + 1));
        let ok = "<a x='>'>\n <b/>&#x9;<c></c>\r\n</a>";
        let doc = Document::parse_str(ok, Limits::default()).unwrap();
        check_no_text(&doc.root()).unwrap();
        let doc = Document::parse_str("<a><![CDATA[y]]></a>", Limits::default()).unwrap();
        assert!(check_no_text(&doc.root()).is_err());
        let doc = Document::parse_str("<a>&amp;</a>", Limits::default()).unwrap();
        assert!(check_no_text(&doc.root()).is_err());
        let doc = Document::parse_str("<a/>", Limits::default()).unwrap();
        check_no_text(&doc.root()).unwrap();
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%2Fc").as_deref(), Some("a@b/c"));
        assert_eq!(percent_decode("a%4"), None);
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;
    use opensmev_types::InteractionStatus;

    /// The statuses the bus writes for a version are exactly that version's enumeration.
    #[test]
    fn every_written_status_is_in_the_version_enumeration_and_every_value_is_reachable() {
        for version in SchemaVersion::ALL {
            let mut written: Vec<&str> = InteractionStatus::ALL
                .iter()
                .map(|s| s.as_str(version))
                .collect();
            written.sort_unstable();
            written.dedup();
            let mut allowed: Vec<&str> = interaction_statuses(version).to_vec();
            allowed.sort_unstable();
            assert_eq!(written, allowed, "{version:?}");
        }
    }
}
