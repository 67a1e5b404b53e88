//! What the integration API delivers with `smev_xml=true`: the signed SMEV answer (ЭП-СМЭВ), the
//! SOAP envelope a SOAP client would receive, its signature made with the bus's certificate and reported.

use opensmev_testkit::TestBus;
use opensmev_xmldsig::dsig::{self, VerifyOptions};
use opensmev_xmldsig::xml::{Document, Limits};
use serde_json::Value;

async fn call(bus: &TestBus, holder: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(bus.url(path))
        .header("Authorization", format!("Bearer {}", bus.token(holder)));
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/xml")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_smev_answer_comes_on_request_and_verifies() {
    let bus = TestBus::start().await;
    let request = bus.example("VS00001v001-PFR001", "request.xml");
    let (status, sent) = call(&bus, "MFC01", "/api/v1/requests", Some(&request)).await;
    assert_eq!(status, 201, "{sent}");
    let id = sent["message_id"].as_str().unwrap();

    let (status, delivered) = call(
        &bus,
        "PFR01",
        "/api/v1/inbox/requests/next?wait=2&smev_xml=true",
        None,
    )
    .await;
    assert_eq!(status, 200, "{delivered}");
    assert_eq!(delivered["message_id"], id);
    let roles: Vec<&str> = delivered["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["ЭП-ОВ", "ЭП-СМЭВ"], "{delivered}");
    for s in delivered["signatures"].as_array().unwrap() {
        assert_eq!(s["valid"], true, "{s}");
    }
    let smev = &delivered["signatures"][1];
    assert_eq!(
        smev["certificate_thumbprint"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        bus.smev_cert.thumbprint_sha1().to_lowercase()
    );

    // The XML itself: the envelope of a GetRequestResponse of schema 1.3 carrying the message, whose
    // SMEVSignature verifies with the bus's certificate, and the sender's signature inside it.
    let xml = delivered["smev_xml"].as_str().unwrap();
    let doc = Document::parse_str(xml, Limits::default()).unwrap();
    assert_eq!(doc.root().local_name(), "Envelope");
    assert!(
        doc.elements()
            .any(|e| e.local_name() == "GetRequestResponse")
    );
    assert!(xml.contains(id));
    let provider = opensmev_crypto::OpenSslProvider::new();
    let wrapper = doc
        .elements()
        .find(|e| e.local_name() == "SMEVSignature")
        .expect("SMEVSignature");
    let report = dsig::verify_wrapped(Some(&wrapper), &provider, &VerifyOptions::now());
    assert!(report.is_valid(), "{:?}", report.failure);
    assert_eq!(
        report.certificate.unwrap().thumbprint_sha1(),
        bus.smev_cert.thumbprint_sha1()
    );

    // Without the parameter, no XML and no ЭП-СМЭВ entry.
    let (_, again) = call(&bus, "MFC01", "/api/v1/requests", Some(&request)).await;
    let (status, plain) = call(&bus, "PFR01", "/api/v1/inbox/requests/next?wait=2", None).await;
    assert_eq!(status, 200);
    assert_eq!(plain["message_id"], again["message_id"]);
    assert!(plain.get("smev_xml").is_none());
    assert_eq!(plain["signatures"].as_array().unwrap().len(), 1);
}

/// The detached CMS signature of an attachment (`SignaturePKCS7`, an ЭП-СП), as an IS sends it
/// over SOAP, is verified and reported by the API's delivery: valid over the right bytes,
/// invalid over others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_signatures_are_verified_and_reported() {
    use base64::Engine as _;
    use opensmev_crypto::{CryptoProvider as _, SignatureAlgorithm, TestIdentityParams};
    let bus = TestBus::start().await;
    let person = opensmev_crypto::generate_test_identity(&TestIdentityParams::new(
        SignatureAlgorithm::EcdsaP256Sha256,
        "CN=Иванов Иван (ЭП-СП), O=Тест",
    ))
    .unwrap();
    let provider = opensmev_crypto::OpenSslProvider::new();
    let signer = provider
        .load_signer(person.key_pem.as_bytes(), person.certificate.clone())
        .unwrap();
    let (scan, photo) = (b"%PDF-1.4 scan".to_vec(), b"JFIF photo".to_vec());
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let good = b64(&signer.sign_cms_detached(&scan).unwrap());
    // Signed over other bytes than the attachment carries.
    let bad = b64(&signer.sign_cms_detached(b"something else").unwrap());
    let headers = format!(
        "<AttachmentHeaderList>\
         <AttachmentHeader><contentId>scan</contentId><MimeType>application/pdf</MimeType><SignaturePKCS7>{good}</SignaturePKCS7></AttachmentHeader>\
         <AttachmentHeader><contentId>photo</contentId><MimeType>image/jpeg</MimeType><SignaturePKCS7>{bad}</SignaturePKCS7></AttachmentHeader>\
         </AttachmentHeaderList>"
    );
    let contents = format!(
        "<AttachmentContentList>\
         <AttachmentContent><Id>scan</Id><Content>{}</Content></AttachmentContent>\
         <AttachmentContent><Id>photo</Id><Content>{}</Content></AttachmentContent>\
         </AttachmentContentList>",
        b64(&scan),
        b64(&photo)
    );
    let consumer = bus.client("MFC01", opensmev_types::SchemaVersion::V1_3);
    let id = opensmev_testkit::new_message_id();
    let answer = consumer
        .send_request_with(
            &id,
            &bus.example("VS00001v001-PFR001", "request.xml"),
            opensmev_testkit::RequestParts {
                after_content: &headers,
                after_data: &contents,
                ..Default::default()
            },
        )
        .await;
    consumer.check(&answer);

    let (status, delivered) = call(&bus, "PFR01", "/api/v1/inbox/requests/next?wait=2", None).await;
    assert_eq!(status, 200, "{delivered}");
    assert_eq!(delivered["message_id"], id.as_str());
    let signatures = delivered["signatures"].as_array().unwrap();
    let of = |attachment: &str| {
        signatures
            .iter()
            .find(|s| s["attachment"] == attachment)
            .unwrap_or_else(|| panic!("no check of {attachment}: {delivered}"))
            .clone()
    };
    let scan_check = of("scan");
    assert_eq!(scan_check["role"], "ЭП-СП");
    assert_eq!(scan_check["valid"], true, "{scan_check}");
    assert_eq!(
        scan_check["certificate_thumbprint"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        person.certificate.thumbprint_sha1().to_lowercase()
    );
    let photo_check = of("photo");
    assert_eq!(photo_check["valid"], false, "{photo_check}");
    assert!(
        photo_check["failure"].as_str().unwrap().contains("photo"),
        "{photo_check}"
    );
    // The sender's ЭП-ОВ is still reported first.
    assert_eq!(signatures[0]["role"], "ЭП-ОВ");
    assert_eq!(signatures[0]["valid"], true);
}
