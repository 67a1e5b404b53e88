//! Priorities and fair share in a provider's queue, through the integration API: a
//! high-priority request overtakes a backlog of 10 000 low-priority ones while the low ones
//! still progress; two consumers flooding one provider get shares within 10 % of their weights.

use futures_util::future::join_all;
use opensmev_store::{Enqueued, StoredMessage};
use opensmev_testkit::{TestBus, new_message_id};
use opensmev_types::{InteractionStatus, MessageId, Priority};
use serde_json::json;

fn pfr_request(n: usize) -> String {
    format!(
        "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><FamilyName>Иванов{n}</FamilyName><FirstName>Иван</FirstName><BirthDate>1980-05-17</BirthDate></PersonalAccountRequest>"
    )
}

/// Sends a PFR request as `consumer` with `priority` (absent: the grant's or kind's).
async fn send(bus: &TestBus, consumer: &str, n: usize, priority: Option<u8>) -> String {
    let mut body = json!({"business_xml": pfr_request(n)});
    if let Some(p) = priority {
        body["priority"] = json!(p);
    }
    let sent = bus
        .ok(
            reqwest::Method::POST,
            "/api/v1/requests",
            bus.token(consumer),
            Some(body),
        )
        .await;
    sent["message_id"].as_str().unwrap().to_owned()
}

/// PFR01 takes the next request and acknowledges it: its (MessageID, sender).
async fn take(bus: &TestBus) -> (String, String) {
    let got = bus.receive("PFR01", "requests").await.expect("a request");
    (
        got["message_id"].as_str().unwrap().to_owned(),
        got["sender"].as_str().unwrap().to_owned(),
    )
}

async fn set_quota(bus: &TestBus) {
    bus.ok(
        reqwest::Method::PUT,
        "/api/v1/registry/systems/PFR01/quota",
        bus.token("admin"),
        Some(json!({"queue_quota": 1_000_000})),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_priority_request_overtakes_a_backlog_of_ten_thousand() {
    let bus = TestBus::start().await;
    set_quota(&bus).await;
    // One real low-priority request, then 10 000 copies of it planted in the store.
    let first = send(&bus, "MFC01", 0, None).await;
    let template: StoredMessage = bus
        .store
        .message(&MessageId::parse(&first).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(template.message.priority, Priority(0));
    for chunk in 0..20 {
        let planted = (0..500).map(|_| {
            let mut m = template.message.clone();
            m.id = MessageId::parse(&new_message_id()).unwrap();
            m.client_id = None;
            m.sent_at = time::OffsetDateTime::now_utc();
            let store = bus.store.clone();
            async move {
                store
                    .enqueue(m, InteractionStatus::RequestIsQueued, 1_000_000)
                    .await
                    .unwrap()
            }
        });
        for done in join_all(planted).await {
            assert!(
                matches!(done, Enqueued::Accepted { .. }),
                "chunk {chunk}: {done:?}"
            );
        }
    }
    let urgent = send(&bus, "MFC01", 1, Some(9)).await;
    let (got, _) = take(&bus).await;
    assert_eq!(got, urgent, "the urgent request first, over 10 001 waiting");

    // A stream of urgent requests: each is taken before the backlog, yet the backlog moves
    // (one take in ten goes to the first in fair order, the oldest low one).
    let mut urgent_taken = 0;
    let mut backlog_taken = Vec::new();
    for n in 0..40 {
        let urgent = send(&bus, "MFC01", 100 + n, Some(9)).await;
        let (got, _) = take(&bus).await;
        if got == urgent {
            urgent_taken += 1;
        } else {
            backlog_taken.push(got);
            // The urgent one is next.
            assert_eq!(take(&bus).await.0, urgent);
            urgent_taken += 1;
        }
    }
    assert_eq!(urgent_taken, 40);
    assert!(
        (3..=5).contains(&backlog_taken.len()),
        "the backlog progresses about one take in ten: {}",
        backlog_taken.len()
    );
    assert_eq!(backlog_taken[0], first, "the oldest low request first");
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_share_one_provider_by_their_weights() {
    let bus = TestBus::start().await;
    set_quota(&bus).await;
    // FNS01 is granted the PFR kind too; PFR01 weighs MFC01 3 : FNS01 1.
    let pfr_kind = bus.kind_of("PFR01").await;
    bus.ok(
        reqwest::Method::POST,
        "/api/v1/registry/grants",
        bus.token("admin"),
        Some(json!({"consumer": "FNS01", "kind": pfr_kind, "basis": "Тест справедливой доли"})),
    )
    .await;
    bus.ok(
        reqwest::Method::PUT,
        "/api/v1/registry/systems/PFR01/delivery",
        bus.token("admin"),
        Some(json!({"shares": {"MFC01": 3, "FNS01": 1}})),
    )
    .await;
    // Both flood the provider (interleaved, each from its own tasks).
    let flood = |consumer: &'static str| {
        let bus = &bus;
        async move {
            for n in 0..120 {
                send(bus, consumer, n, None).await;
            }
        }
    };
    tokio::join!(flood("MFC01"), flood("FNS01"));
    let mut mfc = 0;
    for _ in 0..120 {
        if take(&bus).await.1 == "MFC01" {
            mfc += 1;
        }
    }
    let share = f64::from(mfc) / 120.0;
    assert!(
        (share - 0.75).abs() <= 0.075,
        "MFC01 got {mfc} of 120 ({share:.3}); its weight is 3 of 4"
    );
    let fns = 120 - mfc;
    assert!(
        (f64::from(fns) / 120.0 - 0.25).abs() <= 0.025,
        "FNS01 got {fns} of 120; its weight is 1 of 4"
    );
    eprintln!("fair share: MFC01 {mfc}, FNS01 {fns} of 120 (weights 3 : 1)");
    // A grant's priority is the ceiling of what its consumer may ask for.
    let grants = bus
        .ok(
            reqwest::Method::GET,
            "/api/v1/registry/grants",
            bus.token("admin"),
            None,
        )
        .await;
    let grant = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["consumer"] == "FNS01" && g["kind"] == pfr_kind.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    bus.ok(
        reqwest::Method::DELETE,
        &format!("/api/v1/registry/grants/{grant}"),
        bus.token("admin"),
        None,
    )
    .await;
    bus.ok(
        reqwest::Method::POST,
        "/api/v1/registry/grants",
        bus.token("admin"),
        Some(json!({"consumer": "FNS01", "kind": pfr_kind, "basis": "Тест", "priority": 2})),
    )
    .await;
    let asked = send(&bus, "FNS01", 999, Some(9)).await;
    let stored = bus
        .store
        .message(&MessageId::parse(&asked).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.message.priority, Priority(2));
    bus.stop().await;
}
