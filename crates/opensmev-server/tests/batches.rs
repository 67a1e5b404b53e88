//! Batches through the API: 1 000 requests in one submission, some of them invalid; each item
//! its own SMEV request with its own outcome and state, one summary; a batch sent again sends
//! nothing twice.

use opensmev_testkit::TestBus;
use serde_json::{Value, json};

fn item(n: usize) -> Value {
    if n % 100 == 7 {
        // Invalid against the kind's XSD: no SNILS.
        return json!({"business_xml": "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><FamilyName>Без СНИЛС</FamilyName></PersonalAccountRequest>"});
    }
    json!({"business_xml": format!(
        "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><FamilyName>Пакетов{n}</FamilyName><FirstName>Иван</FirstName><BirthDate>1980-05-17</BirthDate></PersonalAccountRequest>"),
        "client_id": format!("batch-item-{n}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_a_thousand_is_tracked_item_by_item() {
    let bus = TestBus::start().await;
    let (status, _) = bus
        .call(
            reqwest::Method::PUT,
            "/api/v1/registry/systems/PFR01/quota",
            bus.token("admin"),
            Some(json!({"queue_quota": 100_000})),
        )
        .await;
    assert_eq!(status, 200);
    let items: Vec<Value> = (0..1000).map(item).collect();
    let body = json!({"batch_id": "batch-2026-12-07.1", "items": items});
    let (status, sent) = bus
        .call(
            reqwest::Method::POST,
            "/api/v1/batches",
            bus.token("MFC01"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["batch_id"], "batch-2026-12-07.1");
    assert_eq!(
        (sent["accepted"].as_u64(), sent["refused"].as_u64()),
        (Some(990), Some(10))
    );
    let outcomes = sent["items"].as_array().unwrap();
    assert_eq!(outcomes.len(), 1000);
    let bad = &outcomes[7];
    assert_eq!(bad["accepted"], false);
    assert!(
        bad["problem"]["code"]
            .as_str()
            .unwrap()
            .starts_with("SMEV-"),
        "{bad}"
    );
    assert!(
        bad["problem"]["detail"].as_str().unwrap().contains("Snils"),
        "{bad}"
    );
    assert_eq!(outcomes[0]["status"], "requestIsQueued");
    // Each accepted item is an ordinary request: its own MessageID, the batch id as its
    // TransactionCode, found by its client id.
    let first = outcomes[0]["message_id"].as_str().unwrap();
    let (status, shown) = bus
        .call(
            reqwest::Method::GET,
            "/api/v1/messages/by-client-id/MFC01/batch-item-0",
            bus.token("MFC01"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["message_id"], first);

    // The provider answers the first ten.
    for _ in 0..10 {
        let (status, got) = bus
            .call(
                reqwest::Method::POST,
                "/api/v1/inbox/requests/next",
                bus.token("PFR01"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{got}");
        let id = got["message_id"].as_str().unwrap().to_owned();
        let answer = json!({"business_xml": "<PersonalAccountResponse xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><PensionPoints>3</PensionPoints><FormedAt>2026-12-07T10:00:00+03:00</FormedAt></PersonalAccountResponse>"});
        let (status, done) = bus
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/requests/{id}/response"),
                bus.token("PFR01"),
                Some(answer),
            )
            .await;
        assert_eq!(status, 201, "{done}");
    }
    let (status, state) = bus
        .call(
            reqwest::Method::GET,
            "/api/v1/batches/batch-2026-12-07.1",
            bus.token("MFC01"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["total"], 1000);
    assert_eq!(state["summary"]["notAccepted"], 10, "{}", state["summary"]);
    assert_eq!(
        state["summary"]["responseIsQueued"], 10,
        "{}",
        state["summary"]
    );
    assert_eq!(
        state["summary"]["requestIsQueued"], 980,
        "{}",
        state["summary"]
    );
    assert_eq!(state["items"][7].get("status"), None);
    assert_eq!(state["items"][0]["message_id"], first);

    // Sent again (a lost answer): nothing is sent twice.
    let (status, again) = bus
        .call(
            reqwest::Method::POST,
            "/api/v1/batches",
            bus.token("MFC01"),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["accepted"], 0);
    let codes: Vec<&str> = again["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["problem"]["code"].as_str().unwrap_or_default())
        .collect();
    assert!(
        codes.iter().filter(|c| **c == "SMEV-111").count() >= 990,
        "{:?}",
        &codes[..20]
    );
    // Another number of items under the same id is a conflict; others' batches are not found.
    let (status, _) = bus
        .call(
            reqwest::Method::POST,
            "/api/v1/batches",
            bus.token("MFC01"),
            Some(json!({"batch_id": "batch-2026-12-07.1", "items": [item(1)]})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = bus
        .call(
            reqwest::Method::GET,
            "/api/v1/batches/batch-2026-12-07.1",
            bus.token("FNS01"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, problem) = bus
        .call(
            reqwest::Method::POST,
            "/api/v1/batches",
            bus.token("MFC01"),
            Some(json!({"items": []})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    bus.stop().await;
}
