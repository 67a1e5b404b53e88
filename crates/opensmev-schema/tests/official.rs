//! The embedded official schemas: they resolve their imports among themselves, the captured
//! sample messages validate against their version, and broken messages fail with positions.

mod common;

use common::{body_element, child_element, sample};
use opensmev_schema::{
    OFFICIAL_VERSIONS, ValidationIssue, official_file, official_files, official_schema_set,
    validate_official,
};

/// 1-based line and character column of the first occurrence of `needle`.
fn position_of(text: &str, needle: &str) -> (u32, u32) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line as u32, column as u32)
}

fn assert_valid(version: &str, what: &str, xml: &str) {
    if let Err(issues) = validate_official(version, xml) {
        panic!("{what} should be valid against {version}: {issues:#?}\n{xml}");
    }
}

/// The embedded texts are the published bytes: their git blob ids are those recorded in
/// `smev/README.md` (which come from the repositories they were copied from).
#[test]
fn embedded_files_are_byte_exact_copies() {
    use sha1::{Digest, Sha1};
    let readme = include_str!("../smev/README.md");
    let mut folder = "";
    let mut checked = 0;
    for line in readme.lines() {
        if let Some(heading) = line.strip_prefix("## `") {
            folder = heading.trim_end_matches("/`");
        } else if line.starts_with("| `") {
            let cells: Vec<&str> = line
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .collect();
            let (name, blob) = (cells[1], cells[5]);
            let text = official_file(folder, name)
                .unwrap_or_else(|| panic!("{folder}/{name} not embedded"));
            let mut hasher = Sha1::new();
            hasher.update(format!("blob {}\0", text.len()).as_bytes());
            hasher.update(text.as_bytes());
            let id: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(
                id.starts_with(blob),
                "{folder}/{name}: blob {id}, README says {blob}"
            );
            checked += 1;
        }
    }
    let embedded: usize = ["1.1", "1.2", "1.3", "common", "adapter"]
        .iter()
        .map(|f| official_files(f).len())
        .sum();
    assert_eq!((checked, embedded), (17, 17));
}

#[test]
fn every_schema_location_names_an_embedded_file_of_the_same_folder() {
    for folder in ["1.1", "1.2", "1.3", "common", "adapter"] {
        let files = official_files(folder);
        assert!(!files.is_empty());
        for (name, text) in files {
            for part in text.split("schemaLocation=\"").skip(1) {
                let location = &part[..part.find('"').unwrap()];
                let target = location
                    .strip_prefix("http://smev3-n0.test.gosuslugi.ru:7500/smev/v1.2/ws?xsd=")
                    .unwrap_or(location);
                assert!(
                    files.iter().any(|(n, _)| *n == target),
                    "{folder}/{name} refers to {location}, not embedded"
                );
            }
        }
    }
}

#[test]
fn official_sets_compile() {
    for version in OFFICIAL_VERSIONS {
        let set = official_schema_set(version).expect("known version");
        assert!(set.files().count() >= 4, "{version}");
    }
    assert!(matches!(
        official_schema_set("1.4"),
        Err(opensmev_schema::SchemaError::InvalidSet(_))
    ));
    assert!(
        official_file("1.2", "smev-message-exchange-service-1.2.wsdl")
            .unwrap()
            .contains("wsdl:definitions")
    );
}

#[test]
fn captured_1_1_messages_validate() {
    for path in [
        "mr-example-1.1/SendRequestRequestNoAttach.xml",
        "smevka-1.1/AckResponse.ack.xml",
        "smevka-1.1/GetResponseResponse.empty_response.xml",
        "smevka-1.1/SendRequestResponse.send.xml",
    ] {
        assert_valid("1.1", path, &body_element(path));
    }
}

#[test]
fn captured_1_2_messages_validate() {
    for path in [
        "smev3sharp-1.2/GetResponseResponce_EmptyQueue.xml",
        // xsi:type="ns3:InvalidContent" in types refers to the faults namespace.
        "smev3sharp-1.2/GetResponseResponce_InvalidContent.xml",
        "smev3sharp-1.2/GetResponseResponce_MultipartEmptyQueue.xml",
        "smev3sharp-1.2/GetResponseResponse_ValidResponse.xml",
        "smev3sharp-1.2/SendRequestResponce.xml",
    ] {
        assert_valid("1.2", path, &body_element(path));
    }
    // A typed fault from soap:Fault/detail.
    let path = "smev3sharp-1.2/SoapFaultResponse_SignatureVerificationFault.xml";
    let fault = child_element(&sample(path), &["Envelope", "Body", "Fault", "detail"]);
    assert!(
        fault.starts_with("<ns3:SignatureVerificationFault"),
        "{fault}"
    );
    assert_valid("1.2", path, &fault);
}

#[test]
fn messages_are_checked_against_their_own_version() {
    let body = body_element("smevka-1.1/SendRequestResponse.send.xml");
    assert_valid("1.1", "1.1 message", &body);
    let issues = validate_official("1.2", &body).unwrap_err();
    assert!(
        issues[0].message.contains("No matching global declaration"),
        "{issues:#?}"
    );
}

#[test]
fn version_1_3_elements_validate() {
    const TYPES: &str = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.3";
    const BASIC: &str = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.3";
    assert_valid(
        "1.3",
        "AckResponse",
        &format!("<AckResponse xmlns=\"{TYPES}\"/>"),
    );
    let request = format!(
        "<t:GetRequestRequest xmlns:t=\"{TYPES}\" xmlns:b=\"{BASIC}\">\
         <b:MessageTypeSelector Id=\"SIGNED_BY_CALLER\">\
         <b:Timestamp>2024-01-01T00:00:00.000+03:00</b:Timestamp></b:MessageTypeSelector>\
         </t:GetRequestRequest>"
    );
    assert_valid("1.3", "GetRequestRequest", &request);
    let broken = request.replace("2024-01-01T00:00:00.000+03:00", "yesterday");
    let issues = validate_official("1.3", &broken).unwrap_err();
    assert!(
        issues[0]
            .message
            .contains("'yesterday' is not a valid value"),
        "{issues:#?}"
    );
}

#[test]
fn broken_message_reports_lines_columns_and_readable_messages() {
    let good = body_element("smevka-1.1/SendRequestResponse.send.xml");
    // 1. a MessageId that is not a UUID; 2. DestinationName moved before SendingTimestamp.
    let destination = "        <ns4:DestinationName>unknown</ns4:DestinationName>\n";
    let broken = good
        .replace(
            "<ns4:MessageId>87b32127-323d-11ec-b0bc-000c293433a0</ns4:MessageId>",
            "<ns4:MessageId>not-a-uuid</ns4:MessageId>",
        )
        .replacen(destination, "", 1)
        .replacen(
            "        <ns4:SendingTimestamp>",
            &format!("{destination}        <ns4:SendingTimestamp>"),
            1,
        );
    assert_ne!(broken, good);
    let issues = validate_official("1.1", &broken).unwrap_err();
    assert_eq!(issues.len(), 2, "{issues:#?}");

    let (line, column) = position_of(&broken, "<ns4:MessageId>not-a-uuid");
    assert_eq!(
        (issues[0].line, issues[0].column),
        (line, column),
        "{issues:#?}"
    );
    assert!(
        issues[0].message.contains("MessageId"),
        "{}",
        issues[0].message
    );
    assert!(
        issues[0]
            .message
            .contains("[facet 'pattern'] The value 'not-a-uuid' is not accepted"),
        "{}",
        issues[0].message
    );

    let (line, column) = position_of(&broken, "<ns4:DestinationName>");
    assert_eq!(
        (issues[1].line, issues[1].column),
        (line, column),
        "{issues:#?}"
    );
    assert!(
        issues[1]
            .message
            .contains("DestinationName': This element is not expected"),
        "{}",
        issues[1].message
    );
    assert!(
        issues[1].message.contains("SendingTimestamp"),
        "{}",
        issues[1].message
    );
    assert_eq!(
        issues[1].to_string(),
        format!("{line}:{column}: {}", issues[1].message)
    );
}

#[test]
fn not_well_formed_message_reports_where_the_parser_stopped() {
    let good = body_element("smevka-1.1/AckResponse.ack.xml");
    let broken = format!("{}\n<extra>", good);
    let issues = validate_official("1.1", &broken).unwrap_err();
    assert_eq!(issues[0].line, 2, "{issues:#?}");
    assert!(issues[0].column > 0, "{issues:#?}");
    assert!(
        issues[0]
            .message
            .contains("Extra content at the end of the document"),
        "{issues:#?}"
    );
}

#[test]
fn unknown_version_is_an_issue() {
    let issues = validate_official("9.9", "<a/>").unwrap_err();
    assert_eq!(
        issues,
        vec![ValidationIssue {
            line: 0,
            column: 0,
            message: issues[0].message.clone()
        }]
    );
    assert!(issues[0].message.contains("unknown SMEV schema version"));
}
