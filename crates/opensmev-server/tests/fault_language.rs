//! Fault texts in both languages (`fault_lang = "ru"` and `"en"`): each provoked fault carries
//! its `SMEV-nnn` code, and its `faultstring` and `ValidationError`s are in one language.
//!
//! The exemption rule: text inside quotes (`«…»` or `"…"`) is a quoted name or value and is
//! not checked; everything else must be in the fault language (Russian: Cyrillic present and no
//! English stop-words; English: no Cyrillic).

use opensmev_testkit as common;

use common::{SmevClient, TestBus, new_message_id};
use opensmev_server::config::FaultLang;
use opensmev_types::{MessageId, SchemaVersion};

const VS_PFR: &str = "VS00001v001-PFR001";
const VS_EGRUL: &str = "VS00002v001-FNS001";

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

fn check(lang: FaultLang, answer: &common::Answer, element: &str, code: &str) {
    assert_eq!(answer.status, 500, "{}", answer.text);
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

async fn every_fault(lang: FaultLang) {
    let dir = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(dir.path().to_path_buf(), |c| c.fault_lang = lang).await;
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
