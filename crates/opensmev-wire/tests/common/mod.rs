//! Helpers shared by the integration tests: fixture paths, envelope handling, XSD validation.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use opensmev_types::SchemaVersion;
use opensmev_wire::ns::SOAP_ENV_NS;
use opensmev_xmldsig::xml::{Document, Limits};

/// This crate's fixtures.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The copies of the public SMEV samples kept by the signature crate.
pub fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../opensmev-xmldsig/tests/data/samples")
        .join(name)
}

pub fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse(bytes: &[u8]) -> Document<'_> {
    Document::parse(bytes, Limits::default()).expect("well-formed")
}

/// The element inside `soap:Body` (or inside `soap:Fault/detail` for faults) as a standalone
/// document.
pub fn body_element(envelope: &str) -> String {
    let doc = Document::parse_str(envelope, Limits::default()).expect("well-formed");
    let body = doc.root().child(SOAP_ENV_NS, "Body").expect("soap:Body");
    let child = body.children().next().expect("body element");
    let child = if child.is(SOAP_ENV_NS, "Fault") {
        child
            .child("", "detail")
            .and_then(|d| d.children().next())
            .expect("fault detail element")
    } else {
        child
    };
    opensmev_wire::standalone(&child)
}

/// Validates a standalone SMEV element against the official schemas of its version.
pub fn validate(version: SchemaVersion, element_xml: &str) {
    if let Err(issues) = opensmev_schema::validate_official(version.as_str(), element_xml) {
        let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
        panic!(
            "not valid against the {} schemas:\n{}\n--- document ---\n{element_xml}",
            version.as_str(),
            list.join("\n")
        );
    }
}

/// Validates the body element (or fault detail element) of a complete envelope.
pub fn validate_envelope(version: SchemaVersion, envelope: &str) {
    assert!(
        envelope.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{envelope}"
    );
    validate(version, &body_element(envelope));
}
