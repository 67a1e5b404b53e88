//! The official SMEV 3 schemas, embedded byte for byte (`smev/<version>/`, provenance in
//! `smev/README.md`), and validation of message-exchange elements against them.
//!
//! Who imports whom (`schemaLocation` as written in the files):
//! * 1.1: `types` → `basic`; `faults` → `basic`; the WSDL → `types`, `faults` (all relative names).
//! * 1.2: the same graph, but every location is an absolute URL of the test SMEV,
//!   `http://smev3-n0.test.gosuslugi.ru:7500/smev/v1.2/ws?xsd=<file>` (the files were saved by a
//!   .NET client from that server). The embedded set maps those URLs to its own files with
//!   aliases; nothing is fetched.
//! * 1.3: `types` → `basic`, `routing`, `directive`; `faults`, `routing`, `directive` → `basic`;
//!   the WSDL → `types`, `faults`.
//! * `common` (business-process metadata 1.0) imports nothing; `adapter`: `types` → `faults`.
//!
//! No message-exchange schema imports `common` or `adapter`, and the `xs:any` wildcards for
//! business content are `processContents="skip"` in 1.1/1.2 and `"lax"` in 1.3, so validation
//! against these sets does not need the business schemas.

use std::sync::OnceLock;

use crate::error::{SchemaError, ValidationIssue};
use crate::set::SchemaSet;

macro_rules! embed {
    ($dir:literal: $($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("../smev/", $dir, "/", $name)))),+]
    };
}

static V1_1: &[(&str, &str)] = embed!("1.1":
    "smev-message-exchange-basic-1.1.xsd",
    "smev-message-exchange-faults-1.1.xsd",
    "smev-message-exchange-service-1.1.wsdl",
    "smev-message-exchange-types-1.1.xsd",
);

static V1_2: &[(&str, &str)] = embed!("1.2":
    "smev-message-exchange-basic-1.2.xsd",
    "smev-message-exchange-faults-1.2.xsd",
    "smev-message-exchange-service-1.2.wsdl",
    "smev-message-exchange-types-1.2.xsd",
);

static V1_3: &[(&str, &str)] = embed!("1.3":
    "smev-message-exchange-basic-1.3.xsd",
    "smev-message-exchange-directive-1.3.xsd",
    "smev-message-exchange-faults-1.3.xsd",
    "smev-message-exchange-routing-1.3.xsd",
    "smev-message-exchange-service-1.3.wsdl",
    "smev-message-exchange-types-1.3.xsd",
);

static COMMON: &[(&str, &str)] = embed!("common": "smev-business-process-metadata-1.0.xsd");

static ADAPTER: &[(&str, &str)] = embed!("adapter":
    "smev-service-adapter-faults.xsd",
    "smev-service-adapter-types.xsd",
);

/// The message-exchange schema versions with embedded schemas.
pub const OFFICIAL_VERSIONS: [&str; 3] = ["1.1", "1.2", "1.3"];

/// Prefix of the absolute `schemaLocation`s in the 1.2 files.
const TEST_SMEV_1_2: &str = "http://smev3-n0.test.gosuslugi.ru:7500/smev/v1.2/ws?xsd=";

/// Name of the generated entry point of the official sets.
const ENTRY: &str = "opensmev-official-entry.xsd";

/// The embedded files of a folder (name, content), sorted by name: `"1.1"`, `"1.2"`, `"1.3"`
/// (the `*.xsd` and the service `*.wsdl`), `"common"` (business-process metadata 1.0) or
/// `"adapter"` (SMEV adapter types and faults). Empty for anything else.
pub fn official_files(version: &str) -> &'static [(&'static str, &'static str)] {
    match version {
        "1.1" => V1_1,
        "1.2" => V1_2,
        "1.3" => V1_3,
        "common" => COMMON,
        "adapter" => ADAPTER,
        _ => &[],
    }
}

/// One embedded file, byte for byte as published, e.g.
/// `official_file("1.2", "smev-message-exchange-types-1.2.xsd")`.
pub fn official_file(version: &str, name: &str) -> Option<&'static str> {
    official_files(version)
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// An embedded file prepared for serving from an endpoint of this bus: every `schemaLocation` that
/// names a file of the same version (relative, or the test SMEV's `…?xsd=NAME` URL) becomes
/// `{endpoint}?xsd=NAME`, and a WSDL's `soap:address` becomes `endpoint`. Without this, the 1.2
/// files send clients to the test SMEV, and the relative locations of 1.1/1.3 resolve against the
/// endpoint's path rather than its `?xsd=` query.
pub fn official_file_for_endpoint(version: &str, name: &str, endpoint: &str) -> Option<String> {
    let text = official_file(version, name)?;
    // Written into attribute values: escaped, whatever the caller passed.
    let endpoint = &escape_attribute(endpoint);
    let names = official_files(version);
    let text = rewrite_attribute_values(text, "schemaLocation=", |value| {
        let file = value
            .rsplit_once("?xsd=")
            .map_or_else(|| value.rsplit('/').next().unwrap_or(value), |(_, f)| f);
        names
            .iter()
            .any(|(n, _)| *n == file)
            .then(|| format!("{endpoint}?xsd={file}"))
    });
    Some(rewrite_soap_address(&text, endpoint))
}

/// `text` escaped for an XML attribute value in either kind of quotes.
fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn rewrite_attribute_values(
    text: &str,
    attribute: &str,
    mut replace: impl FnMut(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut rest = text;
    while let Some(at) = rest.find(attribute) {
        let after = &rest[at + attribute.len()..];
        let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            out.push_str(&rest[..at + attribute.len()]);
            rest = after;
            continue;
        };
        let Some(len) = after[1..].find(quote) else {
            break;
        };
        let value = &after[1..1 + len];
        out.push_str(&rest[..at + attribute.len() + 1]);
        out.push_str(&replace(value).unwrap_or_else(|| value.to_owned()));
        rest = &after[1 + len..];
    }
    out.push_str(rest);
    out
}

fn rewrite_soap_address(text: &str, endpoint: &str) -> String {
    let Some(start) = text.find("<soap:address") else {
        return text.to_owned();
    };
    let Some(end) = text[start..].find('>').map(|e| start + e) else {
        return text.to_owned();
    };
    let tag = rewrite_attribute_values(&text[start..end], "location=", |_| {
        Some(endpoint.to_owned())
    });
    format!("{}{}{}", &text[..start], tag, &text[end..])
}

/// The embedded schemas of one version as a [`SchemaSet`]: `basic`, `types`, `faults` (and for
/// 1.3 `routing` and `directive`) plus a generated entry schema that imports them all, so that any
/// global element of these namespaces can be validated (including `xsi:type` references from
/// `types` to `faults`). Built once per process on first use (each thread then compiles it once,
/// see [`SchemaSet`]).
///
/// # Errors
/// [`SchemaError::InvalidSet`] for an unknown version; otherwise only an environment failure of
/// libxml2 (the embedded schemas are known to compile), which is not cached.
pub fn official_schema_set(version: &str) -> Result<&'static SchemaSet, SchemaError> {
    static SETS: [OnceLock<SchemaSet>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = OFFICIAL_VERSIONS
        .iter()
        .position(|v| *v == version)
        .ok_or_else(|| {
            SchemaError::InvalidSet(format!(
                "unknown SMEV schema version '{version}' (known: 1.1, 1.2, 1.3)"
            ))
        })?;
    if let Some(set) = SETS[slot].get() {
        return Ok(set);
    }
    // Two threads may build it at once; one result is kept (both have the same content hash, so
    // the other thread's compilation stays useful in its cache).
    let set = build_official_set(version)?;
    Ok(SETS[slot].get_or_init(|| set))
}

fn build_official_set(version: &str) -> Result<SchemaSet, SchemaError> {
    let namespace = |part: &str| {
        format!("urn://x-artefacts-smev-gov-ru/services/message-exchange/types/{part}{version}")
    };
    let mut parts = vec![("basic/", "basic"), ("", "types"), ("faults/", "faults")];
    if version == "1.3" {
        parts.extend([("routing/", "routing"), ("directive/", "directive")]);
    }
    let mut entry = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!-- Generated by opensmev-schema: imports every message-exchange schema of one version. -->\n\
         <xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n",
    );
    let mut files = Vec::new();
    for (ns_part, file_part) in parts {
        let file = format!("smev-message-exchange-{file_part}-{version}.xsd");
        let text = official_file(version, &file).expect("embedded file exists");
        entry.push_str(&format!(
            "  <xs:import namespace=\"{}\" schemaLocation=\"{file}\"/>\n",
            namespace(ns_part)
        ));
        files.push((file, text.to_owned()));
    }
    entry.push_str("</xs:schema>\n");
    let aliases = if version == "1.2" {
        files
            .iter()
            .map(|(name, _)| (format!("{TEST_SMEV_1_2}{name}"), name.clone()))
            .collect()
    } else {
        Vec::new()
    };
    files.push((ENTRY.to_owned(), entry));
    SchemaSet::with_aliases(files, ENTRY, aliases)
}

/// Validates one element of a SMEV message (for example the `SendRequestRequest` or
/// `GetResponseResponse` body element, or a fault element from `soap:Fault/detail`) given as a
/// standalone document, against the embedded schemas of `version` (`"1.1"`, `"1.2"`, `"1.3"`).
/// The element must declare the namespaces it uses (copy those in scope in the envelope).
///
/// # Errors
/// The issues found, or one issue without position for an unknown version.
pub fn validate_official(version: &str, xml: &str) -> Result<(), Vec<ValidationIssue>> {
    match official_schema_set(version) {
        Ok(set) => set.validate(xml),
        Err(SchemaError::InvalidSet(message)) => {
            Err(vec![ValidationIssue::without_position(message)])
        }
        Err(e) => Err(vec![ValidationIssue::without_position(format!(
            "SMEV {version} schemas unavailable: {e}"
        ))]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_listed_and_found() {
        assert_eq!(official_files("1.1").len(), 4);
        assert_eq!(official_files("1.2").len(), 4);
        assert_eq!(official_files("1.3").len(), 6);
        assert_eq!(official_files("common").len(), 1);
        assert_eq!(official_files("adapter").len(), 2);
        assert!(official_files("2.0").is_empty());
        assert!(
            official_file("1.3", "smev-message-exchange-routing-1.3.xsd")
                .unwrap()
                .contains("RoutingStatus")
        );
        assert!(official_file("1.3", "nope.xsd").is_none());
    }

    #[test]
    fn endpoint_rewrite() {
        let wsdl = official_file_for_endpoint(
            "1.2",
            "smev-message-exchange-service-1.2.wsdl",
            "https://bus/smev/v1.2/ws",
        )
        .unwrap();
        assert!(!wsdl.contains("smev3-n0.test.gosuslugi.ru"), "{wsdl}");
        assert!(wsdl.contains(
            "schemaLocation=\"https://bus/smev/v1.2/ws?xsd=smev-message-exchange-types-1.2.xsd\""
        ));
        assert!(wsdl.contains("<soap:address location=\"https://bus/smev/v1.2/ws\""));
        let types =
            official_file_for_endpoint("1.3", "smev-message-exchange-types-1.3.xsd", "http://h/ws")
                .unwrap();
        assert!(
            types.contains(
                "schemaLocation=\"http://h/ws?xsd=smev-message-exchange-routing-1.3.xsd\""
            )
        );
        assert_eq!(
            types.matches("schemaLocation=\"http://h/ws?xsd=").count(),
            3
        );
    }

    #[test]
    fn endpoint_is_escaped() {
        let wsdl = official_file_for_endpoint(
            "1.2",
            "smev-message-exchange-service-1.2.wsdl",
            "http://x\"/><evil xmlns=\"urn:evil\"/><a b=\"'&/ws",
        )
        .unwrap();
        assert!(!wsdl.contains("<evil"), "{wsdl}");
        assert!(wsdl.contains(
            "location=\"http://x&quot;/&gt;&lt;evil xmlns=&quot;urn:evil&quot;/&gt;&lt;a b=&quot;&apos;&amp;/ws\""
        ));
    }
}
