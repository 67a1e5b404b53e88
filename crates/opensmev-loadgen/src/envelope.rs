//! The SOAP calls of a round trip and the checks on their answers.
//!
//! Calls are built with [`SmevClient`]'s builders (plus a `NodeID` per consumer and inline
//! attachments) and signed, posted and checked through it: `SmevClient::check` validates the answer against the official
//! XSD of its version and verifies every SMEV signature against the bus certificate (through
//! `SmevClient::try_check`, which returns the failure as a value). On top of it this module checks what the XSD cannot: the answer is the element the operation
//! must return, a delivered message or an acceptance carries an `SMEVSignature` at all (the XSD
//! makes it optional, so an unsigned answer would otherwise pass), and the ids and content are the
//! ones sent.

use base64::Engine as _;
use opensmev_client::{Answer, RequestParts, SOAP_NS, SmevClient};
use opensmev_xmldsig::xml::{Document, Element, Limits, escape_text};

use crate::workload::Expected;

/// Why an answer does not count as a success: a short category and the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// `http`, `http-status`, `fault:<Name>`, `not-xml`, `check`, `unexpected-answer`,
    /// `unsigned`, `mismatch`, `foreign`, `timeout`.
    pub(crate) kind: String,
    /// What happened.
    pub(crate) text: String,
}

impl Failure {
    pub(crate) fn new(kind: impl Into<String>, text: impl Into<String>) -> Failure {
        Failure {
            kind: kind.into(),
            text: text.into(),
        }
    }
}

/// Shortens a text for the report.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// `SmevClient::try_check`: XSD of the version, every SMEV signature, and signature presence.
pub(crate) fn client_check(client: &SmevClient, answer: &Answer) -> Result<(), Failure> {
    client
        .try_check(answer)
        .map_err(|text| Failure::new("check", clip(&text, 600)))
}

/// The whole answer check of one call: transport, fault, `SmevClient::check`, the expected
/// element, and (as `signed` says) an `SMEVSignature` in it. The operation-specific checks (ids,
/// content) come after, on the extracted [`Delivered`] or [`accepted_id`].
pub(crate) fn check(
    client: &SmevClient,
    answer: &Answer,
    expected: &str,
    signed: Signed,
) -> Result<(), Failure> {
    if answer.status != 200 && answer.status != 500 {
        return Err(Failure::new(
            "http-status",
            format!("HTTP {}: {}", answer.status, clip(&answer.text, 300)),
        ));
    }
    let doc = Document::parse(answer.text.as_bytes(), Limits::default())
        .map_err(|e| Failure::new("not-xml", format!("{e}: {}", clip(&answer.text, 300))))?;
    let body = doc
        .root()
        .child(SOAP_NS, "Body")
        .ok_or_else(|| Failure::new("unexpected-answer", "no soap:Body"))?;
    let child = body
        .children()
        .next()
        .ok_or_else(|| Failure::new("unexpected-answer", "empty soap:Body"))?;
    if child.is(SOAP_NS, "Fault") {
        let name = child
            .children()
            .find(|c| c.local_name() == "detail")
            .and_then(|d| d.children().next().map(|f| f.local_name().to_owned()))
            .unwrap_or_else(|| {
                child
                    .children()
                    .find(|c| c.local_name() == "faultcode")
                    .map(|c| c.text_content())
                    .unwrap_or_else(|| "Fault".to_owned())
            });
        let text = child
            .children()
            .find(|c| c.local_name() == "faultstring")
            .map(|c| c.text_content())
            .unwrap_or_default();
        // A fault is an error whatever it says; a fault that breaks the schema says so too.
        let invalid = client_check(client, answer)
            .err()
            .map(|f| format!(" (and the fault itself is invalid: {})", f.text))
            .unwrap_or_default();
        return Err(Failure::new(
            format!("fault:{name}"),
            clip(&format!("{text}{invalid}"), 600),
        ));
    }
    if answer.status != 200 {
        return Err(Failure::new(
            "http-status",
            format!(
                "HTTP {} without a fault: {}",
                answer.status,
                clip(&answer.text, 300)
            ),
        ));
    }
    if !child.is(client.types(), expected) {
        return Err(Failure::new(
            "unexpected-answer",
            format!(
                "expected {expected} of {}, got {{{}}}{}",
                client.types(),
                child.namespace().unwrap_or(""),
                child.local_name()
            ),
        ));
    }
    client_check(client, answer)?;
    let must_sign = match signed {
        Signed::Always => true,
        Signed::IfMessage(wrapper) => child.children().any(|c| c.local_name() == wrapper),
        Signed::Never => false,
    };
    if must_sign
        && !child
            .descendants()
            .any(|e| e.local_name() == "SMEVSignature" && e.children().next().is_some())
    {
        return Err(Failure::new(
            "unsigned",
            format!("{expected} carries no SMEVSignature (ЭП-СМЭВ)"),
        ));
    }
    Ok(())
}

/// Whether an answer must carry the bus's signature.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signed {
    /// Always (`SendRequestResponse`, `SendResponseResponse`).
    Always,
    /// When it holds this element (a delivered message).
    IfMessage(&'static str),
    /// Never (`AckResponse`).
    Never,
}

/// One inline attachment: the header inside the signed data, the content after it.
fn attachment_parts(attachment: Option<&(String, Vec<u8>)>) -> (String, String) {
    match attachment {
        None => (String::new(), String::new()),
        Some((id, data)) => (
            format!(
                "<AttachmentHeaderList><AttachmentHeader><contentId>{id}</contentId><MimeType>application/octet-stream</MimeType></AttachmentHeader></AttachmentHeaderList>"
            ),
            format!(
                "<AttachmentContentList><AttachmentContent><Id>{id}</Id><Content>{}</Content></AttachmentContent></AttachmentContentList>",
                base64::engine::general_purpose::STANDARD.encode(data)
            ),
        ),
    }
}

/// A `SendRequest` (a test message from node `node_id`), signed if the client has a key.
pub(crate) fn send_request_xml(
    client: &SmevClient,
    id: &str,
    node_id: &str,
    business: &str,
    attachment: Option<&(String, Vec<u8>)>,
) -> String {
    let (header, content) = attachment_parts(attachment);
    let node = format!("<ns2:NodeID>{}</ns2:NodeID>", escape_text(node_id));
    client.send_request_xml_with(
        id,
        business,
        RequestParts {
            before_content: &node,
            after_content: &header,
            test_message: true,
            after_data: &content,
        },
    )
}

/// A `SendResponse` with business content, signed if the client has a key.
pub(crate) fn send_response_xml(
    client: &SmevClient,
    id: &str,
    to: &str,
    business: &str,
    attachment: Option<&(String, Vec<u8>)>,
) -> String {
    let (header, content) = attachment_parts(attachment);
    let primary = format!("<MessagePrimaryContent>{business}</MessagePrimaryContent>{header}");
    client.send_response_xml(id, &escape_text(to), &primary, &content)
}

/// A `GetRequest` or `GetResponse` (`operation`) for the type `{ns}root`, on node `node_id`.
pub(crate) fn poll_xml(
    client: &SmevClient,
    operation: &str,
    ns: &str,
    root: &str,
    node_id: Option<&str>,
) -> String {
    let node = node_id.map(escape_text);
    client.poll_xml(operation, Some((ns, root)), node.as_deref())
}

/// An `Ack` of message `id`.
pub(crate) fn ack_xml(client: &SmevClient, id: &str) -> String {
    let (t, b) = (client.types(), client.basic());
    let body = format!(
        "<ns2:AckRequest xmlns:ns2=\"{t}\"><AckTargetMessage xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\" accepted=\"true\">{id}</AckTargetMessage></ns2:AckRequest>"
    );
    client.sign(&client.envelope(&body), "SIGNED_BY_CALLER")
}

/// What a delivered request or response carries (taken out of the answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivered {
    /// The sender's `MessageID`.
    pub(crate) message_id: String,
    /// `OriginalMessageId` (responses).
    pub(crate) original_message_id: Option<String>,
    /// `ReplyTo` (requests).
    pub(crate) reply_to: Option<String>,
    /// The business root.
    pub(crate) content: Expected,
    /// Attachments: content id (from the signed header list) and bytes (from the content list).
    pub(crate) attachments: Vec<(String, Vec<u8>)>,
}

fn first<'d, 'a>(scope: &Element<'d, 'a>, local: &str) -> Option<Element<'d, 'a>> {
    scope.descendants().find(|e| e.local_name() == local)
}

/// The message in a checked `GetRequestResponse` / `GetResponseResponse`, or `None` when the
/// queue was empty. `wrapper` is `RequestMessage` or `ResponseMessage`.
pub(crate) fn delivered(answer: &Answer, wrapper: &str) -> Result<Option<Delivered>, Failure> {
    let doc = Document::parse(answer.text.as_bytes(), Limits::default())
        .map_err(|e| Failure::new("not-xml", e.to_string()))?;
    let Some(message) = doc.elements().find(|e| e.local_name() == wrapper) else {
        return Ok(None);
    };
    let missing = |what: &str| Failure::new("mismatch", format!("{wrapper} without {what}"));
    let data_name = if wrapper == "RequestMessage" {
        "SenderProvidedRequestData"
    } else {
        "SenderProvidedResponseData"
    };
    let data = first(&message, data_name).ok_or_else(|| missing(data_name))?;
    let message_id = data
        .children()
        .find(|e| e.local_name() == "MessageID")
        .map(|e| e.text_content())
        .ok_or_else(|| missing("MessageID"))?;
    let primary = data
        .children()
        .find(|e| e.local_name() == "MessagePrimaryContent")
        .ok_or_else(|| missing("MessagePrimaryContent"))?;
    let root = primary
        .children()
        .next()
        .ok_or_else(|| missing("business content"))?;
    let content = Expected {
        ns: root.namespace().unwrap_or("").to_owned(),
        local: root.local_name().to_owned(),
        text: root.text_content(),
    };
    let header_ids: Vec<String> = data
        .children()
        .filter(|e| e.local_name() == "AttachmentHeaderList")
        .flat_map(|l| l.children().collect::<Vec<_>>())
        .filter_map(|h| h.children().find(|c| c.local_name() == "contentId"))
        .map(|c| c.text_content())
        .collect();
    let mut attachments = Vec::new();
    for content in message
        .children()
        .filter(|e| e.local_name() == "AttachmentContentList")
        .flat_map(|l| l.children().collect::<Vec<_>>())
    {
        let id = content
            .children()
            .find(|c| c.local_name() == "Id")
            .map(|c| c.text_content())
            .unwrap_or_default();
        let text: String = content
            .children()
            .find(|c| c.local_name() == "Content")
            .map(|c| c.text_content())
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| Failure::new("mismatch", format!("attachment {id}: bad base64: {e}")))?;
        if !header_ids.contains(&id) {
            return Err(Failure::new(
                "mismatch",
                format!("attachment {id} is not named in AttachmentHeaderList"),
            ));
        }
        attachments.push((id, bytes));
    }
    let text_of = |local: &str| {
        message
            .descendants()
            .find(|e| e.local_name() == local && !primary.contains(e))
            .map(|e| e.text_content())
    };
    Ok(Some(Delivered {
        message_id,
        original_message_id: text_of("OriginalMessageId"),
        reply_to: text_of("ReplyTo"),
        content,
        attachments,
    }))
}

/// The `MessageId` of the metadata in a checked `SendRequestResponse` / `SendResponseResponse`.
pub(crate) fn accepted_id(answer: &Answer) -> Option<String> {
    let doc = Document::parse(answer.text.as_bytes(), Limits::default()).ok()?;
    doc.elements()
        .find(|e| e.local_name() == "MessageMetadata")
        .and_then(|m| m.children().find(|c| c.local_name() == "MessageId"))
        .map(|e| e.text_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("абв", 3), "а…");
        assert_eq!(clip("abc", 3), "abc");
    }
}
