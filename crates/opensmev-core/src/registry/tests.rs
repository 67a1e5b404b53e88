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

#[test]
fn a_print_form_is_checked_and_kept() {
    let (a, b) = (cert_pem("a"), cert_pem("b"));
    let with_form = |form: &str, name: &str| {
        sample(&a, &b).replace(
            r#"xsd = [{ name = "x.xsd","#,
            &format!(
                r#"print_form = "{name}"
xsd = [{{ name = "print.xsl", text = """{form}""" }}, {{ name = "x.xsd","#
            ),
        )
    };
    let good = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:x="urn:x" exclude-result-prefixes="x"><xsl:output method="html"/><xsl:template match="/x:Resp"><p>Ответ: <xsl:value-of select="."/></p></xsl:template></xsl:stylesheet>"#;
    let text = with_form(good, "print.xsl");
    assert!(
        text.contains("print_form"),
        "the sample was changed: {text}"
    );
    let registry = Registry::from_toml(&text, 1).unwrap();
    let kind = registry.kind("VS1").unwrap();
    let form = kind.print_form.as_ref().expect("the print form");
    assert_eq!(
        form.apply("<Resp xmlns=\"urn:x\">42</Resp>")
            .unwrap()
            .trim(),
        "<p>Ответ: 42</p>"
    );
    // Written back with its key, and read again the same.
    let again = Registry::from_toml(&registry.to_toml(), 2).unwrap();
    assert!(again.kind("VS1").unwrap().print_form.is_some());

    let e = Registry::from_toml(&with_form(good, "missing.xsl"), 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("print_form 'missing.xsl' is not one of its XSD files"),
        "{e}"
    );
    let bad = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><xsl:value-of select="((("/></xsl:template></xsl:stylesheet>"#;
    let e = Registry::from_toml(&with_form(bad, "print.xsl"), 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("print_form 'print.xsl'"), "{e}");
}
