//! End-to-end: the real server on port 0, GOST-signed calls for every schema version — a
//! consumer's request reaches the provider, the provider's response reaches the consumer, both
//! acknowledge; every answer validates against its version's official XSD and every SMEV
//! signature verifies (checked in `common::SmevClient::check`).

use opensmev_testkit as common;

use common::{TestBus, new_message_id};
use opensmev_types::SchemaVersion;

const VS: &str = "VS00001v001-PFR001";
const NS: &str = "urn://opensmev/demo/pfr-account/1.0.0";

async fn round_trip(
    bus: &TestBus,
    consumer_version: SchemaVersion,
    provider_version: SchemaVersion,
) {
    let consumer = bus.client("MFC01", consumer_version);
    let provider = bus.client("PFR01", provider_version);
    let request_id = new_message_id();
    let sent = consumer
        .send_request(&request_id, &bus.example(VS, "request.xml"), "")
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert_eq!(sent.find("MessageId").as_deref(), Some(request_id.as_str()));
    assert_eq!(sent.find("Status").as_deref(), Some("requestIsQueued"));
    assert!(sent.has("SMEVSignature"));

    // The provider polls with a selector for its type.
    let got = provider
        .get_request(Some((NS, "PersonalAccountRequest")))
        .await;
    assert!(got.has("RequestMessage"), "{}", got.text);
    assert_eq!(got.find("MessageID").as_deref(), Some(request_id.as_str()));
    assert!(got.has("TestMessage"), "TestMessage must be preserved");
    assert!(got.has("SenderInformationSystemSignature"));
    assert!(got.find("Snils").is_some());
    let reply_to = got.find("ReplyTo").expect("ReplyTo");
    let ack = provider.ack(&request_id, true).await;
    assert_eq!(ack.status, 200, "{}", ack.text);

    // Acked: the queue is empty now.
    let empty = provider.get_request(None).await;
    assert!(!empty.has("RequestMessage"), "{}", empty.text);

    let response_id = new_message_id();
    let answered = provider
        .send_response(&response_id, &reply_to, &bus.example(VS, "response.xml"))
        .await;
    assert_eq!(answered.status, 200, "{}", answered.text);
    assert_eq!(answered.find("MessageType").as_deref(), Some("RESPONSE"));

    let response = consumer.get_response(None).await;
    assert!(response.has("ResponseMessage"), "{}", response.text);
    assert_eq!(
        response.find("OriginalMessageId").as_deref(),
        Some(request_id.as_str())
    );
    assert_eq!(
        response.find("MessageID").as_deref(),
        Some(response_id.as_str())
    );
    assert!(response.find("PensionPoints").is_some());
    let ack = consumer.ack(&response_id, true).await;
    assert_eq!(ack.status, 200, "{}", ack.text);
    let empty = consumer.get_response(None).await;
    assert!(!empty.has("ResponseMessage"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_round_trips() {
    let bus = TestBus::start().await;
    for version in SchemaVersion::ALL {
        round_trip(&bus, version, version).await;
    }
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_version_exchange() {
    let bus = TestBus::start().await;
    use SchemaVersion::*;
    for (consumer, provider) in [
        (V1_1, V1_2),
        (V1_2, V1_1),
        (V1_1, V1_3),
        (V1_3, V1_1),
        (V1_2, V1_3),
        (V1_3, V1_2),
    ] {
        round_trip(&bus, consumer, provider).await;
    }
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsdl_and_xsd_are_served_with_this_address() {
    let bus = TestBus::start().await;
    for version in SchemaVersion::ALL {
        let url = format!("{}/v{}/ws", bus.base, version.as_str());
        let wsdl = reqwest::get(format!("{url}?wsdl"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            wsdl.contains(&format!("location=\"{url}\"")),
            "{version:?}: address not rewritten"
        );
        let name = format!("smev-message-exchange-types-{}.xsd", version.as_str());
        let xsd = reqwest::get(format!("{url}?xsd={name}")).await.unwrap();
        assert_eq!(xsd.status(), 200);
        let xsd = xsd.text().await.unwrap();
        assert!(xsd.contains("SendRequestRequest"));
        assert!(
            !wsdl.contains("gosuslugi.ru") && !xsd.contains("gosuslugi.ru"),
            "{version:?}: points elsewhere"
        );
        assert!(
            xsd.contains(&format!(
                "schemaLocation=\"{url}?xsd=smev-message-exchange-basic-{}.xsd\"",
                version.as_str()
            )),
            "{version:?}"
        );
    }
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_providers_never_share_a_leased_message_and_unacked_ones_come_back() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let mut sent = std::collections::HashSet::new();
    for _ in 0..20 {
        let id = new_message_id();
        assert_eq!(
            consumer
                .send_request(&id, &bus.example(VS, "request.xml"), "")
                .await
                .status,
            200
        );
        sent.insert(id);
    }
    // Two pollers of the same provider IS, concurrently, without acknowledging.
    let poll = |version| {
        let client = bus.client("PFR01", version);
        async move {
            let mut got = Vec::new();
            loop {
                let answer = client.get_request(None).await;
                match answer.find("MessageID") {
                    Some(id) => got.push(id),
                    None => break got,
                }
            }
        }
    };
    let (a, b) = tokio::join!(poll(SchemaVersion::V1_2), poll(SchemaVersion::V1_3));
    let a_set: std::collections::HashSet<_> = a.iter().cloned().collect();
    let b_set: std::collections::HashSet<_> = b.iter().cloned().collect();
    assert!(
        a_set.is_disjoint(&b_set),
        "the same message went to both pollers"
    );
    assert_eq!(a.len() + b.len(), 20);
    assert_eq!(&a_set | &b_set, sent);
    // The lease (2 s in tests) runs out: everything comes back, once.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let mut again = std::collections::HashSet::new();
    loop {
        let answer = provider.get_request(None).await;
        let Some(id) = answer.find("MessageID") else {
            break;
        };
        assert!(
            again.insert(id.clone()),
            "{id} delivered twice within one lease"
        );
        assert_eq!(provider.ack(&id, true).await.status, 200);
    }
    assert_eq!(again, sent);
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_reach_the_consumer() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let id = new_message_id();
    consumer
        .send_request(&id, &bus.example(VS, "request.xml"), "")
        .await;
    assert!(!consumer.get_status().await.has("AsyncProcessingStatus"));
    provider.get_request(None).await;
    provider.ack(&id, false).await;
    let status = consumer.get_status().await;
    assert_eq!(
        status.find("OriginalMessageId").as_deref(),
        Some(id.as_str()),
        "{}",
        status.text
    );
    assert_eq!(
        status.find("StatusCategory").as_deref(),
        Some("requestIsRejectedBySmev")
    );
    assert!(status.has("SMEVSignature"));
    assert!(
        !consumer.get_status().await.has("AsyncProcessingStatus"),
        "a notice is delivered once"
    );
    bus.stop().await;
}
