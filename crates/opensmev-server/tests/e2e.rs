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
        assert!(xsd.text().await.unwrap().contains("SendRequestRequest"));
    }
    bus.stop().await;
}
