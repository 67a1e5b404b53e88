//! Fuzz target `request`: the HTTP body path of a SOAP call, as the server runs it before the
//! bus — `split_http_body` → `Document::parse` → `decode_request` — and the fault written for
//! what is refused.
//!
//! Input layout: byte 0 picks the `Content-Type` ([`CONTENT_TYPES`]`[byte0 % len]`: plain SOAP
//! 1.1, SOAP 1.2 media type with an action, a bad charset, MTOM with boundary `B`); the rest is
//! the body.
//!
//! Checks (a failed one panics): nothing panics; a refusal at any step becomes a fault of every
//! schema version whose size is bounded whatever the input (the texts are cut by the fault
//! writer: an attacker cannot make the bus answer with more than a few tens of KiB); a decoded
//! request's signed element ids point into the document.

#![no_main]

use libfuzzer_sys::fuzz_target;
use opensmev_types::SchemaVersion;
use opensmev_wire::{
    Fault, FaultKind, ValidationErrorItem, decode_request, fault, split_http_body,
};
use opensmev_xmldsig::xml::{Document, Limits};

const CONTENT_TYPES: [&str; 4] = [
    "text/xml; charset=utf-8",
    "application/soap+xml; charset=utf-8; action=\"urn:GetRequest\"",
    "text/xml; charset=koi8-r",
    "multipart/related; type=\"application/xop+xml\"; boundary=B; start-info=\"text/xml\"",
];

/// The largest fault written for any input: the fixed envelope plus the bounded texts (4 bytes
/// per character at most).
const MAX_FAULT_BYTES: usize = 4 * (2 * opensmev_wire::MAX_FAULT_TEXT_CHARS
    + opensmev_wire::MAX_ITEM_CHARS)
    + 4096;

fn refuse(text: String) {
    let item = ValidationErrorItem {
        text: text.clone(),
        position: None,
    };
    let f = Fault::new(FaultKind::InvalidContent(vec![item]), "SMEV-102", text);
    for version in SchemaVersion::ALL {
        let written = fault(version, &f);
        assert!(
            written.len() <= MAX_FAULT_BYTES,
            "a fault of {} bytes",
            written.len()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let payload = match split_http_body(content_type, body) {
        Ok(payload) => payload,
        Err(e) => return refuse(e.to_string()),
    };
    let limits = Limits {
        max_document_bytes: 1 << 20,
        ..Limits::default()
    };
    let doc = match Document::parse(&payload.xml, limits) {
        Ok(doc) => doc,
        Err(e) => return refuse(e.to_string()),
    };
    match decode_request(&doc, &payload.parts) {
        Err(e) => refuse(e.to_string()),
        Ok(request) => {
            let signed = doc.element(request.signed_element());
            assert!(signed.range().end <= doc.text().len());
            if let Some(wrapper) = request.caller_signature() {
                assert!(doc.element(wrapper).range().end <= doc.text().len());
            }
        }
    }
});
