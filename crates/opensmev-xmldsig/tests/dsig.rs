//! XMLDSig in the SMEV profile: real signatures from the samples, sign → verify round trips for
//! every algorithm, and every way of breaking a signature, each with its SMEV category.

use base64::Engine as _;
use opensmev_crypto::{
    CryptoProvider, OpenSslProvider, SignatureAlgorithm, Signer, TestIdentityParams,
    generate_test_identity,
};
use opensmev_xmldsig::dsig::{
    FaultCategory, Placement, SignOptions, SignatureReport, VerifyOptions, sign_document,
    verify_all, verify_signature, verify_wrapped,
};
use opensmev_xmldsig::transform::Flavor;
use opensmev_xmldsig::xml::{Document, Limits};
use time::macros::datetime;

const TYPES_12: &str = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2";

fn data(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn at(options: VerifyOptions, t: time::OffsetDateTime) -> VerifyOptions {
    VerifyOptions { at: t, ..options }
}

fn verify_bytes(bytes: &[u8], options: &VerifyOptions) -> Vec<SignatureReport> {
    let doc = Document::parse(bytes, Limits::default()).unwrap();
    verify_all(&doc, &OpenSslProvider::new(), options)
}

fn one(bytes: &[u8], options: &VerifyOptions) -> SignatureReport {
    let mut reports = verify_bytes(bytes, options);
    assert_eq!(reports.len(), 1, "expected one signature");
    reports.remove(0)
}

fn category(report: &SignatureReport) -> Option<FaultCategory> {
    report.failure.as_ref().map(|f| f.category)
}

#[test]
fn mr_example_gost2001_signature_is_valid() {
    let bytes = data("samples/mr-example-1.1/SendRequestRequestNoAttach.xml");
    let report = one(
        &bytes,
        &at(VerifyOptions::now(), datetime!(2016-01-01 0:00 UTC)),
    );
    assert_eq!(report.algorithm, Some(SignatureAlgorithm::Gost2001));
    assert_eq!(report.digests_ok(), Some(true), "{report:?}");
    assert_eq!(report.signature_ok, Some(true), "{report:?}");
    assert!(report.is_valid(), "{:?}", report.failure);
    // The MR digest value, as the vector's source also asserts.
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .encode(report.references[0].computed_digest.as_ref().unwrap()),
        "/jXl70XwnttJB5sSokwh8SaVHwo2gjgILSu0qBaLUAo="
    );
    // Today the 2015 certificate has expired: the digest and signature still check out, the
    // category says why the signature is not acceptable now.
    let today = one(&bytes, &VerifyOptions::now());
    assert_eq!(today.signature_ok, Some(true));
    assert_eq!(category(&today), Some(FaultCategory::CertificateIsExpired));
}

#[test]
fn test_smev_gost2012_digest_matches_and_signature_needs_restored_signedinfo() {
    let options = at(VerifyOptions::now(), datetime!(2021-03-23 4:03 UTC));
    // As stored: pretty-printed after capture, so SignedInfo no longer has its signed bytes.
    let stored = one(
        &data("samples/smev3sharp-1.2/SendRequestResponce.xml"),
        &options,
    );
    assert_eq!(stored.algorithm, Some(SignatureAlgorithm::Gost2012_256));
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .encode(stored.references[0].computed_digest.as_ref().unwrap()),
        "f4DoL3jU/jXkk8hjAgbvDQD7dHsTrp9c2YcTulP0cNM="
    );
    assert_eq!(stored.digests_ok(), Some(true));
    assert_eq!(stored.signature_ok, Some(false));
    assert_eq!(category(&stored), Some(FaultCategory::SignatureIsInvalid));
    // Restored by tests/data/restore-signedinfo.py: valid.
    let restored = one(
        &data("fixtures/SendRequestResponce.restored-signedinfo.xml"),
        &options,
    );
    assert!(restored.is_valid(), "{:?}", restored.failure);
    let cert = restored.certificate.unwrap();
    assert!(
        cert.subject()
            .common_name()
            .unwrap()
            .starts_with("Министерство цифрового развития")
    );
}

#[test]
fn other_sample_signatures_have_matching_digests() {
    // (GetResponseResponse_ValidResponse.xml is not used: its business content is a hand-made
    // "FakeSmevServiceResponse" put into a captured envelope, so no digest in it can match.)
    for path in ["samples/smevka-1.1/SendRequestResponse.send.xml"] {
        for report in verify_bytes(&data(path), &VerifyOptions::now()) {
            assert_eq!(report.digests_ok(), Some(true), "{path}: {report:?}");
        }
    }
}

/// A 1.2 SendRequestRequest whose business content has text that the two transform flavors
/// write differently (`>` inside text).
fn send_request(extra_text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <tns:SendRequestRequest xmlns:tns="{TYPES_12}" xmlns:b="urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.2">
      <tns:SenderProvidedRequestData Id="SIGNED_BY_CONSUMER">
        <tns:MessageID>db0486d0-3c08-11e5-95e2-d4c9eff07b77</tns:MessageID>
        <b:MessagePrimaryContent>
          <req:Request xmlns:req="urn://example/req/1.0" Id="PERSONAL_SIGNATURE"><req:Snils>123-456-789 01</req:Snils><req:Note>{extra_text}</req:Note></req:Request>
        </b:MessagePrimaryContent>
        <tns:TestMessage/>
      </tns:SenderProvidedRequestData>
    </tns:SendRequestRequest>
  </soap:Body>
</soap:Envelope>"#
    )
}

fn signer(alg: SignatureAlgorithm, cn: &str) -> Box<dyn Signer> {
    let identity =
        generate_test_identity(&TestIdentityParams::new(alg, format!("CN={cn}, O=Тест"))).unwrap();
    OpenSslProvider::new()
        .load_signer(identity.key_pem.as_bytes(), identity.certificate)
        .unwrap()
}

fn sign(doc: &str, id: &str, signer: &dyn Signer) -> String {
    let out = sign_document(
        doc.as_bytes(),
        id,
        signer,
        &OpenSslProvider::new(),
        Placement::Smev,
        &SignOptions::default(),
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn sign_verify_round_trip_for_every_algorithm() {
    for alg in SignatureAlgorithm::ALL {
        let signer = signer(alg, "Потребитель");
        let signed = sign(
            &send_request("a > b"),
            "SIGNED_BY_CONSUMER",
            signer.as_ref(),
        );
        let doc = Document::parse(signed.as_bytes(), Limits::default()).unwrap();
        // Placed where SMEV expects it: CallerInformationSystemSignature after the signed data.
        let wrapper = doc
            .find(TYPES_12, "CallerInformationSystemSignature")
            .next()
            .expect("wrapper created");
        assert_eq!(wrapper.parent().unwrap().local_name(), "SendRequestRequest");
        let target = doc
            .find(TYPES_12, "SenderProvidedRequestData")
            .next()
            .unwrap();
        let options = VerifyOptions {
            expected_target: Some(target.index()),
            ..VerifyOptions::now()
        };
        let report = verify_wrapped(Some(&wrapper), &OpenSslProvider::new(), &options);
        assert!(report.is_valid(), "{alg:?}: {:?}", report.failure);
        assert_eq!(report.algorithm, Some(alg));
        assert_eq!(report.references[0].flavor, Some(Flavor::Woodstox));
    }
}

#[test]
fn personal_signature_goes_after_message_primary_content() {
    let signer = signer(SignatureAlgorithm::Gost2012_256, "Должностное лицо");
    let signed = sign(&send_request("x"), "PERSONAL_SIGNATURE", signer.as_ref());
    let doc = Document::parse(signed.as_bytes(), Limits::default()).unwrap();
    let personal = doc
        .find(TYPES_12, "PersonalSignature")
        .next()
        .expect("PersonalSignature");
    let previous: Vec<_> = personal
        .parent()
        .unwrap()
        .children()
        .map(|c| c.local_name().to_owned())
        .collect();
    assert_eq!(
        previous,
        [
            "MessageID",
            "MessagePrimaryContent",
            "PersonalSignature",
            "TestMessage"
        ]
    );
    assert!(
        verify_wrapped(
            Some(&personal),
            &OpenSslProvider::new(),
            &VerifyOptions::now()
        )
        .is_valid()
    );
    // The consumer can then sign the whole block, personal signature included.
    let consumer = self::signer(SignatureAlgorithm::Gost2012_256, "ИС");
    let both = sign(&signed, "SIGNED_BY_CONSUMER", consumer.as_ref());
    let reports = verify_bytes(both.as_bytes(), &VerifyOptions::now());
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(SignatureReport::is_valid));
}

fn signed_gost() -> String {
    let signer = signer(SignatureAlgorithm::Gost2012_256, "Потребитель");
    sign(&send_request("text"), "SIGNED_BY_CONSUMER", signer.as_ref())
}

fn expect(bytes: &str, expected: FaultCategory, needle: &str) -> SignatureReport {
    let report = one(bytes.as_bytes(), &VerifyOptions::now());
    let failure = report
        .failure
        .clone()
        .unwrap_or_else(|| panic!("expected {expected:?}, got valid"));
    assert_eq!(failure.category, expected, "{}", failure.message);
    assert!(
        failure.message.contains(needle),
        "{:?} does not mention {needle:?}",
        failure.message
    );
    report
}

#[test]
fn changed_signed_element_fails_digest() {
    let signed = signed_gost();
    let tampered = signed.replace("123-456-789 01", "123-456-789 02");
    let report = expect(
        &tampered,
        FaultCategory::SignatureIsInvalid,
        "does not match: DigestValue",
    );
    assert_eq!(report.digests_ok(), Some(false));
    // The signature over SignedInfo itself is still intact.
    assert_eq!(report.signature_ok, Some(true));
}

#[test]
fn changed_signed_info_fails_signature() {
    let signed = signed_gost();
    // Change one character in SignedInfo that does not affect the reference: the Transform URI
    // list stays valid, but the canonical SignedInfo changes.
    let tampered = signed
        .replacen("<ds:SignedInfo>", "<ds:SignedInfo >", 1)
        .replacen(
            "<ds:Reference URI=\"#SIGNED_BY_CONSUMER\">",
            "<ds:Reference URI=\"#SIGNED_BY_CONSUMER\" Type=\"\">",
            1,
        );
    let report = expect(
        &tampered,
        FaultCategory::SignatureIsInvalid,
        "SignatureValue does not verify",
    );
    assert_eq!(report.digests_ok(), Some(true));
    assert_eq!(report.signature_ok, Some(false));
}

#[test]
fn flipped_signature_value_fails() {
    let signed = signed_gost();
    let start = signed.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let mut bytes = signed.into_bytes();
    bytes[start + 3] = if bytes[start + 3] == b'A' { b'B' } else { b'A' };
    expect(
        &String::from_utf8(bytes).unwrap(),
        FaultCategory::SignatureIsInvalid,
        "SignatureValue does not verify",
    );
}

#[test]
fn changed_id_is_an_incorrect_target() {
    let signed = signed_gost();
    let tampered = signed.replace("Id=\"SIGNED_BY_CONSUMER\"", "Id=\"SOMETHING_ELSE\"");
    expect(
        &tampered,
        FaultCategory::IncorrectSignatureTarget,
        "no element has Id=\"SIGNED_BY_CONSUMER\"",
    );
}

#[test]
fn duplicated_id_is_refused() {
    let signed = signed_gost();
    let tampered = signed.replace(
        "<tns:TestMessage/>",
        "<tns:TestMessage Id=\"SIGNED_BY_CONSUMER\"/>",
    );
    expect(
        &tampered,
        FaultCategory::IncorrectSignatureTarget,
        "is not unique",
    );
}

#[test]
fn signature_over_another_element_than_expected_is_refused() {
    let signed = signed_gost();
    let doc = Document::parse(signed.as_bytes(), Limits::default()).unwrap();
    let wrong = doc.find(TYPES_12, "SendRequestRequest").next().unwrap();
    let sig = doc
        .find("http://www.w3.org/2000/09/xmldsig#", "Signature")
        .next()
        .unwrap();
    let options = VerifyOptions {
        expected_target: Some(wrong.index()),
        ..VerifyOptions::now()
    };
    let report = verify_signature(&sig, &OpenSslProvider::new(), &options);
    let failure = report.failure.unwrap();
    assert_eq!(failure.category, FaultCategory::IncorrectSignatureTarget);
    assert!(
        failure
            .message
            .contains("but must cover /Envelope/Body/SendRequestRequest"),
        "{}",
        failure.message
    );
}

#[test]
fn another_certificate_fails_signature() {
    let signed = signed_gost();
    let other = signer(SignatureAlgorithm::Gost2012_256, "Другой");
    let doc = Document::parse(signed.as_bytes(), Limits::default()).unwrap();
    let cert = doc
        .find("http://www.w3.org/2000/09/xmldsig#", "X509Certificate")
        .next()
        .unwrap();
    let swapped = signed.replace(&cert.text_content(), &other.certificate().base64());
    let report = expect(&swapped, FaultCategory::SignatureIsInvalid, "CN=Другой");
    assert_eq!(report.digests_ok(), Some(true));
}

#[test]
fn certificate_of_another_key_type_fails_signature() {
    let signed = signed_gost();
    let other = signer(SignatureAlgorithm::EcdsaP256Sha256, "ECDSA");
    let doc = Document::parse(signed.as_bytes(), Limits::default()).unwrap();
    let cert = doc
        .find("http://www.w3.org/2000/09/xmldsig#", "X509Certificate")
        .next()
        .unwrap();
    let swapped = signed.replace(&cert.text_content(), &other.certificate().base64());
    expect(
        &swapped,
        FaultCategory::SignatureIsInvalid,
        "cannot be checked",
    );
}

#[test]
fn missing_certificate_is_reported() {
    let signed = signed_gost();
    let start = signed.find("<ds:KeyInfo>").unwrap();
    let end = signed.find("</ds:KeyInfo>").unwrap() + "</ds:KeyInfo>".len();
    let without = format!("{}{}", &signed[..start], &signed[end..]);
    expect(
        &without,
        FaultCategory::CertificateIsNotFound,
        "no X509Certificate",
    );
    let garbage = signed.replacen("<ds:X509Certificate>", "<ds:X509Certificate>AAAA", 1);
    expect(
        &garbage,
        FaultCategory::CertificateIsNotFound,
        "cannot be read",
    );
}

#[test]
fn expired_and_not_yet_valid_certificates_are_reported() {
    for (from, to) in [
        (
            datetime!(2019-01-01 0:00 UTC),
            datetime!(2020-01-01 0:00 UTC),
        ),
        (
            datetime!(2090-01-01 0:00 UTC),
            datetime!(2091-01-01 0:00 UTC),
        ),
    ] {
        let params = TestIdentityParams {
            not_before: from,
            not_after: to,
            ..TestIdentityParams::new(SignatureAlgorithm::Gost2012_256, "CN=Старый")
        };
        let identity = generate_test_identity(&params).unwrap();
        let signer = OpenSslProvider::new()
            .load_signer(identity.key_pem.as_bytes(), identity.certificate)
            .unwrap();
        let signed = sign(&send_request("x"), "SIGNED_BY_CONSUMER", signer.as_ref());
        let report = expect(
            &signed,
            FaultCategory::CertificateIsExpired,
            "is valid from",
        );
        assert_eq!(report.signature_ok, Some(true));
        assert_eq!(report.certificate_time_ok, Some(false));
    }
}

#[test]
fn malformed_signature_structure_is_poor_format() {
    let signed = signed_gost();
    let start = signed.find("<ds:SignatureValue>").unwrap();
    let end = signed.find("</ds:SignatureValue>").unwrap() + "</ds:SignatureValue>".len();
    let without = format!("{}{}", &signed[..start], &signed[end..]);
    expect(
        &without,
        FaultCategory::PoorSOAPEnvelopeFormat,
        "SignatureValue",
    );
    let bad_base64 = signed.replacen("<ds:DigestValue>", "<ds:DigestValue>!!", 1);
    expect(
        &bad_base64,
        FaultCategory::PoorSOAPEnvelopeFormat,
        "not valid base64",
    );
}

#[test]
fn unknown_algorithms_and_foreign_transforms_are_invalid() {
    let signed = signed_gost();
    let alg = signed.replace(
        SignatureAlgorithm::Gost2012_256.uri(),
        "urn:example:unknown-signature",
    );
    expect(
        &alg,
        FaultCategory::SignatureIsInvalid,
        "unsupported SignatureMethod",
    );
    let transforms = signed.replace(
        "<ds:Transform Algorithm=\"urn://smev-gov-ru/xmldsig/transform\"/>",
        "",
    );
    expect(
        &transforms,
        FaultCategory::SignatureIsInvalid,
        "not the SMEV profile",
    );
}

#[test]
fn a_missing_signature_is_reported() {
    let doc_text = send_request("x");
    let doc = Document::parse(doc_text.as_bytes(), Limits::default()).unwrap();
    assert!(verify_all(&doc, &OpenSslProvider::new(), &VerifyOptions::now()).is_empty());
    let report = verify_wrapped(None, &OpenSslProvider::new(), &VerifyOptions::now());
    assert_eq!(category(&report), Some(FaultCategory::NoSignatureFound));
    let with_empty_wrapper = doc_text.replace(
        "</tns:SendRequestRequest>",
        "<tns:CallerInformationSystemSignature/></tns:SendRequestRequest>",
    );
    let doc = Document::parse(with_empty_wrapper.as_bytes(), Limits::default()).unwrap();
    let wrapper = doc
        .find(TYPES_12, "CallerInformationSystemSignature")
        .next()
        .unwrap();
    let report = verify_wrapped(
        Some(&wrapper),
        &OpenSslProvider::new(),
        &VerifyOptions::now(),
    );
    assert_eq!(category(&report), Some(FaultCategory::NoSignatureFound));
    // Signing fills the existing empty wrapper instead of adding a second one.
    let signer = signer(SignatureAlgorithm::Gost2012_256, "ИС");
    let signed = sign(&with_empty_wrapper, "SIGNED_BY_CONSUMER", signer.as_ref());
    assert_eq!(
        signed
            .matches("<tns:CallerInformationSystemSignature")
            .count(),
        1
    );
    assert!(one(signed.as_bytes(), &VerifyOptions::now()).is_valid());
}

#[test]
fn leading_enveloped_signature_transform_is_tolerated() {
    let signer = signer(SignatureAlgorithm::Gost2012_256, "Smev3Sharp-style");
    let options = SignOptions {
        enveloped_transform: true,
        ..SignOptions::default()
    };
    let out = sign_document(
        send_request("x").as_bytes(),
        "SIGNED_BY_CONSUMER",
        signer.as_ref(),
        &OpenSslProvider::new(),
        Placement::Smev,
        &options,
    )
    .unwrap();
    let report = one(&out, &VerifyOptions::now());
    assert!(report.is_valid(), "{:?}", report.failure);
    assert_eq!(report.references[0].transforms.len(), 3);
}

#[test]
fn enveloped_signature_inside_its_target_verifies() {
    // Sign with the signature placed inside the signed element (enveloped form).
    let signer = signer(SignatureAlgorithm::EcdsaP256Sha256, "Enveloped");
    let text = send_request("x");
    let options = SignOptions {
        enveloped_transform: true,
        ..SignOptions::default()
    };
    let doc = Document::parse(text.as_bytes(), Limits::default()).unwrap();
    let target = doc.find_by_id("SIGNED_BY_CONSUMER")[0];
    let signature = opensmev_xmldsig::dsig::create_signature(
        &target,
        signer.as_ref(),
        &OpenSslProvider::new(),
        &options,
    )
    .unwrap();
    let insert_at = text.find("</tns:SenderProvidedRequestData>").unwrap();
    let enveloped = format!("{}{}{}", &text[..insert_at], signature, &text[insert_at..]);
    let report = one(enveloped.as_bytes(), &VerifyOptions::now());
    assert!(report.is_valid(), "{:?}", report.failure);
}

#[test]
fn digest_of_the_other_flavor_is_accepted_and_reported() {
    let signer = signer(SignatureAlgorithm::Gost2012_256, "JDK signer");
    let options = SignOptions {
        flavor: Flavor::Jdk,
        ..SignOptions::default()
    };
    // `x > y` is written `x &gt; y` by the JDK writer and `x > y` by Woodstox.
    let out = sign_document(
        send_request("x > y").as_bytes(),
        "SIGNED_BY_CONSUMER",
        signer.as_ref(),
        &OpenSslProvider::new(),
        Placement::Smev,
        &options,
    )
    .unwrap();
    let report = one(&out, &VerifyOptions::now());
    assert!(report.is_valid(), "{:?}", report.failure);
    assert_eq!(report.references[0].flavor, Some(Flavor::Jdk));
    let strict = VerifyOptions {
        accept_other_flavor: false,
        ..VerifyOptions::now()
    };
    let report = one(&out, &strict);
    assert_eq!(category(&report), Some(FaultCategory::SignatureIsInvalid));
}

#[test]
fn captured_bytes_explain_the_digest() {
    let signed = signed_gost();
    let options = VerifyOptions {
        capture: true,
        ..VerifyOptions::now()
    };
    let report = one(signed.as_bytes(), &options);
    let transformed = String::from_utf8(report.references[0].transformed.clone().unwrap()).unwrap();
    assert!(
        transformed.starts_with("<ns1:SenderProvidedRequestData xmlns:ns1=\""),
        "{transformed}"
    );
    let digest = OpenSslProvider::new()
        .digest(
            opensmev_crypto::DigestAlgorithm::Gost3411_2012_256,
            transformed.as_bytes(),
        )
        .unwrap();
    assert_eq!(Some(digest), report.references[0].computed_digest);
    let canonical = String::from_utf8(report.canonical_signed_info.unwrap()).unwrap();
    assert!(
        canonical.starts_with("<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">")
    );
}

#[test]
fn standalone_fragments_keep_signatures_valid() {
    // The sender's signed data is stored as a standalone fragment and later embedded in another
    // envelope: the signature must still verify there.
    let signed = signed_gost();
    let doc = Document::parse(signed.as_bytes(), Limits::default()).unwrap();
    let data = doc
        .find(TYPES_12, "SenderProvidedRequestData")
        .next()
        .unwrap()
        .standalone();
    let signature = doc
        .find("http://www.w3.org/2000/09/xmldsig#", "Signature")
        .next()
        .unwrap()
        .standalone();
    assert!(
        data.starts_with("<tns:SenderProvidedRequestData xmlns:"),
        "{data}"
    );
    assert!(data.contains(
        " xmlns:tns=\"urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2\""
    ));
    let moved = format!(
        "<x:Other xmlns:x=\"urn:x\" xmlns=\"urn:default\" xmlns:tns=\"urn:confusing\"><x:Wrap>{data}</x:Wrap><x:Sig>{signature}</x:Sig></x:Other>"
    );
    let report = one(moved.as_bytes(), &VerifyOptions::now());
    assert!(report.is_valid(), "{:?}", report.failure);
}

#[test]
fn standalone_keeps_unqualified_elements_out_of_a_new_default_namespace() {
    // Business content often has unqualified local elements; embedded under an element with a
    // default namespace, they must stay in no namespace (xmlns="" is added), or the digest breaks.
    let signer = signer(SignatureAlgorithm::EcdsaP256Sha256, "Unqualified");
    let text = "<a:root xmlns:a=\"urn:a\"><a:data Id=\"D\"><child>x</child></a:data></a:root>";
    let signed = String::from_utf8(
        sign_document(
            text.as_bytes(),
            "D",
            signer.as_ref(),
            &OpenSslProvider::new(),
            Placement::AfterTarget,
            &SignOptions::default(),
        )
        .unwrap(),
    )
    .unwrap();
    let doc = Document::parse(signed.as_bytes(), Limits::default()).unwrap();
    let data = doc.find_by_id("D")[0].standalone();
    assert!(data.contains(" xmlns=\"\""), "{data}");
    let signature = doc
        .find("http://www.w3.org/2000/09/xmldsig#", "Signature")
        .next()
        .unwrap()
        .standalone();
    let moved = format!("<w xmlns=\"urn:default\"><x>{data}</x>{signature}</w>");
    let report = one(moved.as_bytes(), &VerifyOptions::now());
    assert!(report.is_valid(), "{:?}", report.failure);
}
