//! The HTTP body of an answer that delivers attachments, as a list of [`Segment`]s: the signed
//! SOAP XML around the attachments' bytes, which the caller streams in (from memory or from a
//! file) without ever building the whole body.
//!
//! The encoders write every `AttachmentContent/Content` of a delivered message empty; the core
//! signs the answer (`AttachmentContentList` is outside every SMEV-signed element, so the bytes
//! may go in afterwards); [`frame_answer`] then places each attachment either as base64 text
//! inside `Content` (plain SOAP) or, for MTOM, as a binary MIME part referenced by an
//! `xop:Include` in `Content`.

use opensmev_xmldsig::xml::{Document, Element, Limits};

use crate::error::WireError;
use crate::lexical::{escape_attr, is_smev_mime_type};
use crate::ns::XOP_NS;
use crate::transport::{MTOM_ROOT_CONTENT_ID, TEXT_XML_UTF8};

/// An attachment to place: its `AttachmentContent/Id`, MIME type and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerAttachment {
    /// `AttachmentContent/Id`.
    pub id: String,
    /// `AttachmentHeader/MimeType` (anything that is not a SMEV MIME type is sent as
    /// `application/octet-stream`).
    pub mime_type: String,
    /// The number of bytes.
    pub len: u64,
}

/// One piece of an answer body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes of XML or of MIME framing.
    Text(String),
    /// The bytes of attachment `index` (of the list given to [`frame_answer`]), as they are
    /// (`base64: false`, an MTOM part) or base64-encoded without line breaks.
    Attachment {
        /// Index into the attachment list.
        index: usize,
        /// Base64 text instead of the raw bytes.
        base64: bool,
    },
}

/// An answer body in [`Segment`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramedAnswer {
    /// The HTTP `Content-Type`.
    pub content_type: String,
    /// The body, in order.
    pub segments: Vec<Segment>,
    /// The body's total size in bytes (the HTTP `Content-Length`).
    pub len: u64,
}

/// The size of `len` bytes in base64 (padded, no line breaks).
pub fn base64_len(len: u64) -> u64 {
    len.div_ceil(3) * 4
}

impl FramedAnswer {
    /// The whole body in memory, the attachments' bytes taken from `data` (by index): for small
    /// answers and tests. Panics if `data` does not match the attachment list.
    pub fn to_bytes(&self, data: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.extend_from_slice(text.as_bytes()),
                Segment::Attachment {
                    index,
                    base64: false,
                } => out.extend_from_slice(data[*index]),
                Segment::Attachment {
                    index,
                    base64: true,
                } => out.extend_from_slice(crate::lexical::encode_base64(data[*index]).as_bytes()),
            }
        }
        out
    }
}

/// Frames a signed answer whose `AttachmentContent/Content` elements are empty: as plain SOAP
/// (`mtom: false`, base64 in `Content`) or as an MTOM/XOP package (`mtom: true`; an answer
/// without attachments is then a one-part package, as the SMEV test environment answers MTOM
/// clients). Every `Content` of the answer's own `AttachmentContentList` (a child of
/// `RequestMessage` / `ResponseMessage`, never a look-alike inside business content) must be
/// empty and have its `Id` in `attachments`.
///
/// The MIME boundary is derived from the root XML, which holds the bus's fresh signature: a
/// sender cannot know it when it chooses its attachment's bytes, and the root is checked not to
/// contain it.
pub fn frame_answer(
    xml: &str,
    attachments: &[AnswerAttachment],
    mtom: bool,
) -> Result<FramedAnswer, WireError> {
    // Our own output: no size limit beyond what the caller built.
    let limits = Limits {
        max_document_bytes: usize::MAX,
        max_attribute_bytes: usize::MAX,
        ..Limits::default()
    };
    let doc = Document::parse_str(xml, limits)?;
    // (range of the Content element, its qualified name, attachment index), in document order.
    let mut places = Vec::new();
    for content in doc.elements().filter(is_answer_content) {
        let ns = content.namespace().unwrap_or("");
        let (Some(id_el), Some(data_el)) = (content.child(ns, "Id"), content.child(ns, "Content"))
        else {
            continue;
        };
        let id = crate::lexical::collapse(&id_el.text_content()).to_owned();
        if data_el.children().next().is_some() || !data_el.text_content().is_empty() {
            return Err(WireError::invalid(
                format!("{}: the content of {id} is already there", data_el.path()),
                Some(data_el.range().start),
            ));
        }
        let index = attachments.iter().position(|a| a.id == id).ok_or_else(|| {
            WireError::invalid(
                format!("{}: no bytes for attachment {id}", data_el.path()),
                Some(data_el.range().start),
            )
        })?;
        places.push((data_el.range(), data_el.qname().to_owned(), index));
    }

    let mut segments = Vec::new();
    let mut text = String::new();
    let mut last = 0;
    let mut parts = Vec::new();
    for (range, qname, index) in &places {
        text.push_str(&xml[last..range.start]);
        last = range.end;
        if mtom {
            let cid = content_id(parts.len() + 1, &attachments[*index].id);
            text.push_str(&format!(
                "<{qname}><xop:Include xmlns:xop=\"{XOP_NS}\" href=\"cid:{}\"/></{qname}>",
                escape_attr(&cid)
            ));
            parts.push((cid, *index));
        } else {
            text.push_str(&format!("<{qname}>"));
            segments.push(Segment::Text(std::mem::take(&mut text)));
            segments.push(Segment::Attachment {
                index: *index,
                base64: true,
            });
            text.push_str(&format!("</{qname}>"));
        }
    }
    text.push_str(&xml[last..]);

    if !mtom {
        segments.push(Segment::Text(text));
        return Ok(finish(TEXT_XML_UTF8.to_owned(), segments, attachments));
    }
    let root = text;
    let boundary = choose_boundary(&root);
    segments.push(Segment::Text(format!(
        "--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\n\
         Content-Transfer-Encoding: binary\r\nContent-ID: <{MTOM_ROOT_CONTENT_ID}>\r\n\r\n{root}\r\n"
    )));
    for (cid, index) in parts {
        let mime = &attachments[index].mime_type;
        let mime = if is_smev_mime_type(mime) {
            mime.as_str()
        } else {
            "application/octet-stream"
        };
        segments.push(Segment::Text(format!(
            "--{boundary}\r\nContent-Type: {mime}\r\nContent-Transfer-Encoding: binary\r\n\
             Content-ID: <{cid}>\r\n\r\n"
        )));
        segments.push(Segment::Attachment {
            index,
            base64: false,
        });
        segments.push(Segment::Text("\r\n".to_owned()));
    }
    segments.push(Segment::Text(format!("--{boundary}--\r\n")));
    let content_type = format!(
        "multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; \
         start=\"<{MTOM_ROOT_CONTENT_ID}>\"; start-info=\"text/xml\""
    );
    Ok(finish(content_type, segments, attachments))
}

fn finish(
    content_type: String,
    segments: Vec<Segment>,
    attachments: &[AnswerAttachment],
) -> FramedAnswer {
    let len = segments
        .iter()
        .map(|s| match s {
            Segment::Text(text) => text.len() as u64,
            Segment::Attachment { index, base64 } => {
                let len = attachments[*index].len;
                if *base64 { base64_len(len) } else { len }
            }
        })
        .sum();
    FramedAnswer {
        content_type,
        segments,
        len,
    }
}

/// Only the answer's own `AttachmentContent`s (children of the `AttachmentContentList` of
/// `RequestMessage` / `ResponseMessage`).
fn is_answer_content(e: &Element<'_, '_>) -> bool {
    let Some(version) = e
        .namespace()
        .and_then(opensmev_types::SchemaVersion::of_namespace)
    else {
        return false;
    };
    let list = e.parent();
    let message = list.and_then(|l| l.parent());
    e.is(version.basic_ns(), "AttachmentContent")
        && list.is_some_and(|l| l.is(version.basic_ns(), "AttachmentContentList"))
        && message.is_some_and(|m| {
            m.is(version.types_ns(), "RequestMessage")
                || m.is(version.types_ns(), "ResponseMessage")
        })
}

/// The Content-ID of the `n`-th part: a counter and the attachment's id, sanitised.
fn content_id(n: usize, id: &str) -> String {
    let sanitized: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    format!("{n}.{sanitized}@opensmev")
}

fn choose_boundary(root: &str) -> String {
    // FNV-1a over the whole root: deterministic for one answer, unpredictable before the bus
    // signed it.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in root.as_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut counter: u64 = 0;
    loop {
        let candidate = format!("uuid:opensmev-{hash:016x}-{counter}");
        if !root.contains(&format!("--{candidate}")) {
            return candidate;
        }
        counter += 1;
    }
}
