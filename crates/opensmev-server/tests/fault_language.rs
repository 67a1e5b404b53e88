//! Fault texts in both languages (`fault_lang = "ru"` and `"en"`): each provoked fault carries
//! its `SMEV-nnn` code, and its `faultstring` and `ValidationError`s are in one language.
//!
//! The exemption rule: text inside quotes (`«…»` or `"…"`) is a quoted name or value and is
//! not checked; everything else must be in the fault language (Russian: Cyrillic present and no
//! English stop-words; English: no Cyrillic).

use std::time::Duration;

use base64::Engine as _;
use opensmev_core::registry::RegistryFile;
use opensmev_testkit as common;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{Answer, RequestParts, SmevClient, TestBus, new_message_id};
use opensmev_server::config::FaultLang;
use opensmev_types::{MessageId, SchemaVersion};

const VS_PFR: &str = "VS00001v001-PFR001";
const NS_PFR: &str = "urn://opensmev/demo/pfr-account/1.0.0";
const VS_EGRUL: &str = "VS00002v001-FNS001";
const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The text with every quoted part removed.
fn unquoted(text: &str) -> String {
    let mut out = String::new();
    let mut close = None;
    for c in text.chars() {
        match close {
            Some(end) if c == end => close = None,
            Some(_) => {}
            None if c == '«' => close = Some('»'),
            None if c == '"' => close = Some('"'),
            None => out.push(c),
        }
    }
    out
}

const STOP_WORDS: [&str; 9] = ["the", "is", "not", "of", "and", "to", "was", "no", "has"];

fn check_language(lang: FaultLang, text: &str, what: &str) {
    let plain = unquoted(text);
    let cyrillic = plain
        .chars()
        .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap_or(c)));
    match lang {
        FaultLang::Ru => {
            assert!(cyrillic, "{what} must be Russian: {text}");
            for word in plain.split(|c: char| !c.is_ascii_alphabetic()) {
                assert!(
                    !STOP_WORDS.contains(&word.to_ascii_lowercase().as_str()),
                    "{what} has the English word {word:?} outside quotes: {text}"
                );
            }
        }
        FaultLang::En => assert!(!cyrillic, "{what} must be English: {text}"),
    }
}

fn check(lang: FaultLang, answer: &Answer, element: &str, code: &str) {
    check_http(lang, answer, 500, element, code);
}

fn check_http(lang: FaultLang, answer: &Answer, status: u16, element: &str, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.fault().as_deref(), Some(element), "{}", answer.text);
    let faultstring = answer.find("faultstring").unwrap_or_default();
    let coded = faultstring.starts_with(&format!("{code}: "))
        || answer.find("Code").as_deref() == Some(code);
    assert!(
        coded,
        "{code} must be in Code or faultstring: {}",
        answer.text
    );
    check_language(lang, &faultstring, "faultstring");
    assert!(
        faultstring.contains(lang.pick("Подробности: ", "Details: ")),
        "{faultstring}"
    );
    for part in answer.text.split("ValidationError errorPosition=").skip(1) {
        let text = part.split_once('>').map(|p| p.1).unwrap_or_default();
        let text = text.split("</").next().unwrap_or_default();
        check_language(lang, text, "ValidationError");
    }
}

/// A signed poll with this Timestamp.
fn poll_at(client: &SmevClient, timestamp: &str) -> String {
    let (t, b) = (client.types(), client.basic());
    let body = format!(
        "<ns2:GetRequestRequest xmlns:ns2=\"{t}\"><MessageTypeSelector xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\"><Timestamp>{timestamp}</Timestamp></MessageTypeSelector></ns2:GetRequestRequest>"
    );
    client.sign(&client.envelope(&body), "SIGNED_BY_CALLER")
}

/// Sends `bytes` on a new connection; the HTTP answer (status and body) read until the server
/// closes or 10 s pass.
async fn raw_call(addr: &str, bytes: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut buffer = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        content_type: String::new(),
        text: body.to_owned(),
    }
}

/// SMEV-110: a queue quota of 1 in the registry, then two requests.
async fn queue_full(lang: FaultLang) {
    let dir = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(dir.path().to_path_buf(), |_| {}).await;
    bus.stop().await;
    let text = std::fs::read_to_string(dir.path().join("demo/registry.toml")).unwrap();
    let mut doc = opensmev_core::registry::RegistryDocument::from_toml(&text).unwrap();
    let file: &mut RegistryFile = &mut doc.file;
    let pfr = file
        .systems
        .iter_mut()
        .find(|s| s.mnemonic == "PFR01")
        .unwrap();
    pfr.queue_quota = Some(1);
    let path = dir.path().join("quota.toml");
    std::fs::write(&path, doc.to_toml()).unwrap();
    let bus = TestBus::start_in(dir.path().to_path_buf(), |c| {
        c.fault_lang = lang;
        c.registry_file = Some(path);
    })
    .await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let request = bus.example(VS_PFR, "request.xml");
    let first = consumer.send_request(&new_message_id(), &request, "").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let answer = consumer.send_request(&new_message_id(), &request, "").await;
    check(lang, &answer, "DestinationOverflow", "SMEV-110");
    bus.stop().await;
}

async fn every_fault(lang: FaultLang) {
    let dir = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(dir.path().to_path_buf(), |c| {
        c.fault_lang = lang;
        c.max_attachments_bytes = 1000;
        c.body_idle_timeout_ms = 1000;
    })
    .await;
    let consumer: SmevClient = bus.client("MFC01", SchemaVersion::V1_2);
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let request = bus.example(VS_PFR, "request.xml");

    // SMEV-100: unsigned, and signed then changed.
    let body = format!(
        "<ns2:GetRequestRequest xmlns:ns2=\"{}\"><MessageTypeSelector xmlns=\"{}\" Id=\"SIGNED_BY_CALLER\"><Timestamp>{}</Timestamp></MessageTypeSelector></ns2:GetRequestRequest>",
        consumer.types(),
        consumer.basic(),
        common::now_text()
    );
    let answer = consumer.post("GetRequest", consumer.envelope(&body)).await;
    check(lang, &answer, "SignatureVerificationFault", "SMEV-100");
    let signed = consumer.sign(&consumer.envelope(&body), "SIGNED_BY_CALLER");
    let tampered = signed.replacen("<Timestamp>2", "<Timestamp>1", 1);
    let answer = consumer.post("GetRequest", tampered).await;
    check(lang, &answer, "SignatureVerificationFault", "SMEV-100");
    // SMEV-101: the MR example's certificate is registered nowhere.
    let mr = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../opensmev-xmldsig/tests/data/samples/mr-example-1.1/SendRequestRequestNoAttach.xml"
    ))
    .unwrap();
    let answer = bus
        .client("MFC01", SchemaVersion::V1_1)
        .post("SendRequest", mr)
        .await;
    check(lang, &answer, "SenderIsNotRegistered", "SMEV-101");
    // SMEV-102: business content against its XSD.
    let bad = request.replace("112-233-445 95", "11223344595");
    let answer = consumer.send_request(&new_message_id(), &bad, "").await;
    check(lang, &answer, "InvalidContent", "SMEV-102");
    // SMEV-103.
    let answer = consumer
        .send_request(
            &new_message_id(),
            "<x:Unknown xmlns:x=\"urn:nobody\">1</x:Unknown>",
            "",
        )
        .await;
    check(lang, &answer, "BusinessDataTypeIsNotSupported", "SMEV-103");
    // SMEV-104.
    let answer = provider
        .send_request(&new_message_id(), &bus.example(VS_EGRUL, "request.xml"), "")
        .await;
    check(lang, &answer, "AccessDenied", "SMEV-104");
    // SMEV-113.
    let old = MessageId::from_parts(
        time::OffsetDateTime::now_utc() - time::Duration::days(3),
        7,
        [1, 2, 3, 4, 5, 6],
    );
    let answer = consumer.send_request(old.as_str(), &request, "").await;
    check(lang, &answer, "StaleMessageId", "SMEV-113");
    // SMEV-114.
    let answer = consumer
        .send_request(
            &new_message_id(),
            &request,
            "<ns2:EOL>2020-01-01T00:00:00+03:00</ns2:EOL>",
        )
        .await;
    check(lang, &answer, "EndOfLifeReached", "SMEV-114");
    // SMEV-111.
    let id = new_message_id();
    assert_eq!(consumer.send_request(&id, &request, "").await.status, 200);
    let answer = consumer.send_request(&id, &request, "").await;
    check(lang, &answer, "MessageIsAlreadySent", "SMEV-111");
    // SMEV-115: acknowledging what was never delivered.
    let answer = provider.ack(&new_message_id(), true).await;
    check(lang, &answer, "TargetMessageIsNotFound", "SMEV-115");
    // SMEV-102 from the decoder: not XML at all.
    let answer = consumer.post("SendRequest", "<a><b></a>".to_owned()).await;
    check(lang, &answer, "InvalidContent", "SMEV-102");
    // SMEV-105: a To that is no ReplyTo.
    let answer = provider
        .send_response(
            &new_message_id(),
            "bm90IGEgdG9rZW4=",
            &bus.example(VS_PFR, "response.xml"),
        )
        .await;
    check(lang, &answer, "RecipientIsNotFound", "SMEV-105");
    // SMEV-106: the request type sent as a response (to the request accepted above).
    let got = provider.get_request(None).await;
    let reply_to = got.find("ReplyTo").expect("a delivered request");
    let answer = provider
        .send_response(&new_message_id(), &reply_to, &request)
        .await;
    check(lang, &answer, "IncorrectResponseContentType", "SMEV-106");
    let delivered = got.find("MessageID").unwrap();
    assert_eq!(provider.ack(&delivered, true).await.status, 200);
    // SMEV-107: a selector naming a type the caller does not provide.
    let answer = consumer
        .get_request(Some((NS_PFR, "PersonalAccountRequest")))
        .await;
    check(lang, &answer, "UnknownMessageType", "SMEV-107");
    // SMEV-108 (the limit is 1000 bytes here) and SMEV-109.
    let attachments = |sizes: &[(&'static str, usize)], contents: &[(&'static str, usize)]| {
        let mut headers = String::from("<AttachmentHeaderList>");
        for (id, _) in sizes {
            headers.push_str(&format!(
                "<AttachmentHeader><contentId>{id}</contentId><MimeType>application/octet-stream</MimeType></AttachmentHeader>"
            ));
        }
        headers.push_str("</AttachmentHeaderList>");
        let mut data = String::from("<AttachmentContentList>");
        for (id, size) in contents {
            let bytes = base64::engine::general_purpose::STANDARD.encode(vec![0xA5; *size]);
            data.push_str(&format!(
                "<AttachmentContent><Id>{id}</Id><Content>{bytes}</Content></AttachmentContent>"
            ));
        }
        data.push_str("</AttachmentContentList>");
        (headers, data)
    };
    let (headers, data) = attachments(&[("a", 0), ("b", 0)], &[("a", 600), ("b", 401)]);
    let answer = consumer
        .send_request_with(
            &new_message_id(),
            &request,
            RequestParts {
                after_content: &headers,
                after_data: &data,
                ..RequestParts::default()
            },
        )
        .await;
    check(lang, &answer, "AttachmentSizeLimitExceeded", "SMEV-108");
    let (headers, data) = attachments(&[("scan", 0)], &[("photo", 10)]);
    let answer = consumer
        .send_request_with(
            &new_message_id(),
            &request,
            RequestParts {
                after_content: &headers,
                after_data: &data,
                ..RequestParts::default()
            },
        )
        .await;
    check(
        lang,
        &answer,
        "AttachmentContentMiscoordination",
        "SMEV-109",
    );
    // SMEV-112: a version-4 UUID.
    let answer = consumer
        .send_request("7b0c1a3e-5f4d-4c2b-9a1e-0d2f3c4b5a69", &request, "")
        .await;
    check(lang, &answer, "InvalidMessageIdFormat", "SMEV-112");
    // SMEV-116: a stale signed Timestamp; SMEV-117: the same signed poll twice.
    let answer = provider
        .post("GetRequest", poll_at(&provider, "2000-01-01T00:00:00Z"))
        .await;
    check(lang, &answer, "InvalidContent", "SMEV-116");
    let captured = poll_at(&provider, &common::now_text());
    assert_eq!(
        provider.post("GetRequest", captured.clone()).await.status,
        200
    );
    let answer = provider.post("GetRequest", captured).await;
    check(lang, &answer, "InvalidContent", "SMEV-117");
    // The envelope errors of the decoder (SMEV-102): an empty soap:Body, an unknown operation,
    // a SOAP 1.2 envelope, a missing element, an invalid value.
    let envelope = |body: &str| {
        format!(
            "<soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
        )
    };
    let answer = consumer.post("GetRequest", envelope("")).await;
    check(lang, &answer, "InvalidContent", "SMEV-102");
    let answer = consumer
        .post(
            "GetRequest",
            envelope("<x:Nothing xmlns:x=\"urn:nobody\"/>"),
        )
        .await;
    check(lang, &answer, "InvalidContent", "SMEV-102");
    let soap12 = format!(
        "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body>{}</env:Body></env:Envelope>",
        body
    );
    let answer = consumer.post("GetRequest", soap12).await;
    check(lang, &answer, "InvalidContent", "SMEV-102");
    let empty_poll = format!(
        "<ns2:GetRequestRequest xmlns:ns2=\"{}\"/>",
        consumer.types()
    );
    let answer = consumer.post("GetRequest", envelope(&empty_poll)).await;
    check(lang, &answer, "InvalidContent", "SMEV-102");
    let bad_ack = format!(
        "<ns2:AckRequest xmlns:ns2=\"{}\"><AckTargetMessage xmlns=\"{}\" Id=\"SIGNED_BY_CALLER\" accepted=\"maybe\">{}</AckTargetMessage></ns2:AckRequest>",
        consumer.types(),
        consumer.basic(),
        new_message_id()
    );
    let answer = consumer.post("Ack", envelope(&bad_ack)).await;
    check(lang, &answer, "InvalidContent", "SMEV-102");
    // A message of schema 1.1 sent to the address of 1.2.
    let v11 = bus.client("MFC01", SchemaVersion::V1_1);
    let answer = consumer
        .post(
            "SendRequest",
            v11.send_request_xml(&new_message_id(), &request, ""),
        )
        .await;
    check(lang, &answer, "InvalidContent", "SMEV-102");
    // A SOAPAction naming another operation than the body's.
    let answer = consumer
        .post(
            "GetRequest",
            consumer.send_request_xml(&new_message_id(), &request, ""),
        )
        .await;
    check(lang, &answer, "InvalidContent", "SMEV-102");
    // HTTP 415: an unsupported content type.
    let raw = consumer
        .post_raw("application/json", None, b"{}".to_vec())
        .await;
    let answer = Answer {
        status: raw.status,
        content_type: raw.content_type,
        text: String::from_utf8(raw.body).unwrap(),
    };
    check_http(lang, &answer, 415, "InvalidContent", "SMEV-102");
    // HTTP 413: a declared length over the limit.
    let addr = consumer
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let head = |length: &str| {
        format!(
            "POST /smev/v1.2/ws HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"urn:SendRequest\"\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    let answer = raw_call(&addr, head("1000000000000").as_bytes()).await;
    check_http(lang, &answer, 413, "InvalidContent", "SMEV-102");
    // HTTP 408: a body that stalls (the idle limit is 1 s here).
    let answer = raw_call(&addr, format!("{}<", head("100")).as_bytes()).await;
    check_http(lang, &answer, 408, "InvalidContent", "SMEV-102");
    // SMEV-500 cannot be provoked from outside without breaking the store; HTTP 503 needs the
    // whole body budget taken (tests/hostile.rs): both are left out here.
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_russian() {
    every_fault(FaultLang::Ru).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_english() {
    every_fault(FaultLang::En).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_full_in_both_languages() {
    queue_full(FaultLang::Ru).await;
    queue_full(FaultLang::En).await;
}
