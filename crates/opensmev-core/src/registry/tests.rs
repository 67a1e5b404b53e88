//! Registry parsing, checks and lookups.

use super::*;
use opensmev_crypto::{SignatureAlgorithm, TestIdentityParams, generate_test_identity};
use time::macros::datetime;

fn cert_pem(cn: &str) -> String {
    generate_test_identity(&TestIdentityParams::new(
        SignatureAlgorithm::EcdsaP256Sha256,
        format!("CN={cn}"),
    ))
    .unwrap()
    .cert_pem
}

fn sample(cert_a: &str, cert_b: &str) -> String {
    format!(
        r#"
default_queue_quota = 500

[[participants]]
name = "ФНС"
ogrn = "1047707030513"
inn = "7707329152"

[[participants]]
name = "МФЦ"
ogrn = "1027700000001"

[[systems]]
mnemonic = "FNS01"
name = "АИС Налог"
owner = "1047707030513"
certificates = ["""{cert_a}"""]

[[systems]]
mnemonic = "MFC01"
name = "АИС МФЦ"
owner = "1027700000001"
certificates = ["""{cert_b}"""]
queue_quota = 10

[[systems]]
mnemonic = "TEST01"
name = "Тестовая ИС"
owner = "1027700000001"
signature = "optional"

[[kinds]]
id = "VS1"
title = "Выписка"
provider = "FNS01"
request = "{{urn:x}}Req"
responses = ["{{urn:x}}Resp"]
xsd = [{{ name = "x.xsd", text = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x" elementFormDefault="qualified"><xs:element name="Req" type="xs:string"/><xs:element name="Resp" type="xs:string"/></xs:schema>""" }}]

[[grants]]
consumer = "MFC01"
kind = "VS1"
basis = "210-ФЗ"
valid_from = "2024-01-01"
valid_to = "2025-12-31"
"#
    )
}

#[test]
fn a_full_registry_is_indexed() {
    let (a, b) = (cert_pem("A"), cert_pem("B"));
    let registry = Registry::from_toml(&sample(&a, &b), 3).unwrap();
    assert_eq!(registry.version(), 3);
    let mfc = Mnemonic::parse("MFC01").unwrap();
    assert_eq!(registry.system(&mfc).unwrap().queue_quota, 10);
    assert_eq!(
        registry
            .system(&Mnemonic::parse("FNS01").unwrap())
            .unwrap()
            .queue_quota,
        500
    );
    let cert = Certificate::from_pem(b.as_bytes()).unwrap();
    assert_eq!(registry.system_by_certificate(&cert).unwrap().mnemonic, mfc);
    let kind = registry
        .kind_by_request_root(&QName::new("urn:x", "Req"))
        .unwrap();
    assert_eq!(kind.entry.id, "VS1");
    assert!(
        registry
            .kind_by_response_root(&QName::new("urn:x", "Resp"))
            .is_some()
    );
    assert!(
        registry
            .grant(&mfc, "VS1", datetime!(2025-06-01 0:00 UTC))
            .is_some()
    );
    assert!(
        registry
            .grant(&mfc, "VS1", datetime!(2026-01-01 0:00 UTC))
            .is_none()
    );
    assert!(
        registry
            .grant(&mfc, "VS1", datetime!(2023-12-31 0:00 UTC))
            .is_none()
    );
    // Export and re-import give the same registry.
    let again = Registry::from_toml(&registry.to_toml(), 4).unwrap();
    assert_eq!(again.file(), registry.file());
}

#[test]
fn inconsistent_registries_are_refused_with_a_reason() {
    let (a, b) = (cert_pem("A"), cert_pem("B"));
    let good = sample(&a, &b);
    let cases = [
        (good.replace("owner = \"1047707030513\"", "owner = \"1\""), "not a participant"),
        (good.replace("provider = \"FNS01\"", "provider = \"NOPE\""), "not a registered system"),
        (good.replace("consumer = \"MFC01\"", "consumer = \"NOPE\""), "not a registered system"),
        (good.replace("request = \"{urn:x}Req\"", "request = \"Req\""), "{namespace}Name"),
        (good.replace(&b, &a), "registered for both"),
        (good.replace("valid_to = \"2025-12-31\"", "valid_to = \"31.12.2025\""), "YYYY-MM-DD"),
        (good.replace("default_queue_quota", "default_queue_qouta"), "unknown field"),
        (good.replace("<xs:element name=\"Req\" type=\"xs:string\"/>", "<xs:element name=\"Req\" type=\"nope\"/>"), "XSD"),
        (good.replace("[[systems]]\nmnemonic = \"TEST01\"\nname = \"Тестовая ИС\"\nowner = \"1027700000001\"\nsignature = \"optional\"", "[[systems]]\nmnemonic = \"TEST01\"\nname = \"Тестовая ИС\"\nowner = \"1027700000001\""), "no certificate"),
    ];
    for (text, needle) in cases {
        let err = Registry::from_toml(&text, 1).expect_err(needle).to_string();
        assert!(err.contains(needle), "{err:?} does not mention {needle:?}");
    }
}
