//! One negative test per SMEV fault that applies to the operations, and hostile input: each gets
//! the right fault (validated against the official XSD) and the server stays up.

use opensmev_testkit as common;

use common::{SmevClient, TestBus, new_message_id};
use opensmev_types::{MessageId, SchemaVersion};

const VS_PFR: &str = "VS00001v001-PFR001";
const NS_PFR: &str = "urn://opensmev/demo/pfr-account/1.0.0";
const VS_EGRUL: &str = "VS00002v001-FNS001";

fn v12(bus: &TestBus, who: &str) -> SmevClient {
    bus.client(who, SchemaVersion::V1_2)
}

fn assert_fault(answer: &common::Answer, expected: &str) {
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert_eq!(answer.fault().as_deref(), Some(expected), "{}", answer.text);
    let faultstring = answer.find("faultstring").unwrap_or_default();
    assert!(
        faultstring
            .chars()
            .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap_or(c))),
        "faultstring must be Russian: {faultstring}"
    );
    assert!(!faultstring.contains("panicked") && !faultstring.contains("rusqlite"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_and_signature_faults() {
    let bus = TestBus::start().await;
    let consumer = v12(&bus, "MFC01");
    // The MR example is signed by a certificate nobody registered.
    let mr = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../opensmev-xmldsig/tests/data/samples/mr-example-1.1/SendRequestRequestNoAttach.xml"
    ))
    .unwrap();
    let v11 = bus.client("MFC01", SchemaVersion::V1_1);
    let answer = v11.post("SendRequest", mr).await;
    assert_fault(&answer, "SenderIsNotRegistered");
    // A valid registered signature over content changed afterwards.
    let body = format!(
        "<ns2:GetRequestRequest xmlns:ns2=\"{}\"><MessageTypeSelector xmlns=\"{}\" Id=\"SIGNED_BY_CALLER\"><Timestamp>{}</Timestamp></MessageTypeSelector></ns2:GetRequestRequest>",
        consumer.types(),
        consumer.basic(),
        common::now_text()
    );
    let signed = consumer.sign(&consumer.envelope(&body), "SIGNED_BY_CALLER");
    let tampered = signed.replacen("<Timestamp>2", "<Timestamp>1", 1);
    let answer = consumer.post("GetRequest", tampered).await;
    assert_fault(&answer, "SignatureVerificationFault");
    assert_eq!(
        answer
            .find("SignatureVerificationFault")
            .as_deref()
            .map(|s| s.contains("SignatureIsInvalid")),
        Some(true),
        "{}",
        answer.text
    );
    // Unsigned.
    let answer = consumer.post("GetRequest", consumer.envelope(&body)).await;
    assert_fault(&answer, "SignatureVerificationFault");
    assert!(answer.text.contains("NoSignatureFound"), "{}", answer.text);
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_request_faults() {
    let bus = TestBus::start().await;
    let consumer = v12(&bus, "MFC01");
    let request = bus.example(VS_PFR, "request.xml");
    // InvalidContent: the business content breaks its XSD (bad SNILS).
    let bad = request.replace("112-233-445 95", "11223344595");
    let answer = consumer.send_request(&new_message_id(), &bad, "").await;
    assert_fault(&answer, "InvalidContent");
    assert!(answer.has("ValidationError"), "{}", answer.text);
    // BusinessDataTypeIsNotSupported.
    let answer = consumer
        .send_request(
            &new_message_id(),
            "<x:Unknown xmlns:x=\"urn:nobody\">1</x:Unknown>",
            "",
        )
        .await;
    assert_fault(&answer, "BusinessDataTypeIsNotSupported");
    assert_eq!(
        answer.find("RootElementLocalName").as_deref(),
        Some("Unknown")
    );
    // AccessDenied: PFR01 holds no grant for the EGRUL extract.
    let pfr = v12(&bus, "PFR01");
    let answer = pfr
        .send_request(&new_message_id(), &bus.example(VS_EGRUL, "request.xml"), "")
        .await;
    assert_fault(&answer, "AccessDenied");
    // InvalidMessageIdFormat: version 4, upper case.
    for id in [
        "7b0c1a3e-5f4d-4c2b-9a1e-0d2f3c4b5a69",
        "DB0486D0-3C08-11E5-95E2-D4C9EFF07B77",
    ] {
        let answer = consumer.send_request(id, &request, "").await;
        assert_eq!(answer.status, 500, "{id}");
        // An upper-case id is already refused by the schema's UUID pattern.
        let fault = answer.fault().unwrap();
        assert!(
            fault == "InvalidMessageIdFormat" || fault == "InvalidContent",
            "{id}: {fault}"
        );
    }
    // StaleMessageId: three days old.
    let old = MessageId::from_parts(
        time::OffsetDateTime::now_utc() - time::Duration::days(3),
        7,
        [1, 2, 3, 4, 5, 6],
    );
    let answer = consumer.send_request(old.as_str(), &request, "").await;
    assert_fault(&answer, "StaleMessageId");
    // EndOfLifeReached.
    let answer = consumer
        .send_request(
            &new_message_id(),
            &request,
            "<ns2:EOL>2020-01-01T00:00:00+03:00</ns2:EOL>",
        )
        .await;
    assert_fault(&answer, "EndOfLifeReached");
    // MessageIsAlreadySent: the same id twice (a client retry) never makes a second message.
    let id = new_message_id();
    assert_eq!(consumer.send_request(&id, &request, "").await.status, 200);
    assert_fault(
        &consumer.send_request(&id, &request, "").await,
        "MessageIsAlreadySent",
    );
    let provider = v12(&bus, "PFR01");
    assert!(provider.get_request(None).await.has("RequestMessage"));
    provider.ack(&id, true).await;
    assert!(
        !provider.get_request(None).await.has("RequestMessage"),
        "a duplicate was queued"
    );
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_ack_and_response_faults() {
    let bus = TestBus::start().await;
    let consumer = v12(&bus, "MFC01");
    let provider = v12(&bus, "PFR01");
    // UnknownMessageType: a type the caller does not provide / consume.
    assert_fault(
        &consumer
            .get_request(Some((NS_PFR, "PersonalAccountRequest")))
            .await,
        "UnknownMessageType",
    );
    assert_fault(
        &provider.get_response(Some(("urn:nobody", "Nothing"))).await,
        "UnknownMessageType",
    );
    // TargetMessageIsNotFound: unknown id, and an id acknowledged twice.
    assert_fault(
        &provider.ack(&new_message_id(), true).await,
        "TargetMessageIsNotFound",
    );
    let id = new_message_id();
    consumer
        .send_request(&id, &bus.example(VS_PFR, "request.xml"), "")
        .await;
    let got = provider.get_request(None).await;
    let reply_to = got.find("ReplyTo").unwrap();
    assert_eq!(provider.ack(&id, true).await.status, 200);
    assert_fault(&provider.ack(&id, true).await, "TargetMessageIsNotFound");
    // RecipientIsNotFound: a To that no request issued.
    assert_fault(
        &provider
            .send_response(
                &new_message_id(),
                "bm90IGEgdG9rZW4=",
                &bus.example(VS_PFR, "response.xml"),
            )
            .await,
        "RecipientIsNotFound",
    );
    // Another provider cannot answer this request.
    let fns = v12(&bus, "FNS01");
    assert_fault(
        &fns.send_response(
            &new_message_id(),
            &reply_to,
            &bus.example(VS_PFR, "response.xml"),
        )
        .await,
        "RecipientIsNotFound",
    );
    // IncorrectResponseContentType: the request type sent as a response.
    assert_fault(
        &provider
            .send_response(
                &new_message_id(),
                &reply_to,
                &bus.example(VS_PFR, "request.xml"),
            )
            .await,
        "IncorrectResponseContentType",
    );
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_faults_and_the_server_stays_up() {
    let bus = TestBus::start().await;
    let consumer = v12(&bus, "MFC01");
    let mut laughs = String::from("<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY l0 \"ha\">");
    for i in 1..10 {
        laughs.push_str(&format!(
            "<!ENTITY l{i} \"{}\">",
            format!("&l{};", i - 1).repeat(10)
        ));
    }
    laughs.push_str("]><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>&l9;</soap:Body></soap:Envelope>");
    let cases: Vec<(&str, String)> = vec![
        ("not XML", "this is not xml".to_owned()),
        (
            "truncated",
            consumer.envelope("<ns2:GetRequestRequest xmlns:ns2=\"x\">")[..80].to_owned(),
        ),
        ("billion laughs", laughs),
        (
            "external entity",
            "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>".to_owned(),
        ),
        (
            "deep nesting",
            format!("{}{}", "<a>".repeat(50_000), "</a>".repeat(50_000)),
        ),
        (
            "huge attribute",
            format!(
                "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" a=\"{}\"/>",
                "x".repeat(4 * 1024 * 1024)
            ),
        ),
        ("wrong root", "<a/>".to_owned()),
    ];
    for (name, body) in cases {
        let answer = consumer.post("GetRequest", body).await;
        assert_eq!(answer.status, 500, "{name}: {}", answer.text);
        assert_eq!(
            answer.fault().as_deref(),
            Some("InvalidContent"),
            "{name}: {}",
            answer.text
        );
    }
    // Over the plain-XML body limit (16 MiB): refused with 413 (and a fault), before any byte
    // is read since the length is declared.
    let big = consumer.envelope(&format!("<x>{}</x>", "y".repeat(17 * 1024 * 1024)));
    let answer = consumer.try_post("GetRequest", big).await.unwrap();
    assert_eq!(answer.status, 413);
    assert_eq!(answer.fault().as_deref(), Some("InvalidContent"));
    // An MTOM body over the MTOM limit (100 MiB): refused with 413 (and a fault) at once (its
    // declared length), without being kept. (`tests/hostile.rs` sends one without a length.)
    let mut body = b"--b\r\nContent-Type: application/xop+xml; type=\"text/xml\"\r\n\r\n<a/>\r\n--b\r\nContent-ID: <p>\r\n\r\n".to_vec();
    body.resize(101 * 1024 * 1024, b'x');
    let response = consumer
        .http
        .post(&consumer.url)
        .header(
            "Content-Type",
            "multipart/related; type=\"application/xop+xml\"; boundary=b",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(
        std::fs::read_dir(bus.data_dir.join("spool"))
            .unwrap()
            .next()
            .is_none(),
        "nothing of it is left in the spool"
    );
    // Still serving.
    let answer = consumer.get_response(None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    bus.stop().await;
}
