//! Delegation: a kind's rules hand some of its requests (here: those with a given family name)
//! to another system instead of its provider; that system answers, and the answer reaches the
//! original consumer as any answer does. Rules are set through the API and checked.

use opensmev_testkit::TestBus;
use serde_json::{Value, json};

fn request(family: &str) -> Value {
    json!({"business_xml": format!(
        "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><FamilyName>{family}</FamilyName><FirstName>Иван</FirstName><BirthDate>1980-05-17</BirthDate></PersonalAccountRequest>")})
}

/// MFC01 asks for the personal account of `family`: the request's MessageID.
async fn send(bus: &TestBus, family: &str) -> String {
    bus.ok(
        reqwest::Method::POST,
        "/api/v1/requests",
        bus.token("MFC01"),
        Some(request(family)),
    )
    .await["message_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_requests_go_to_the_delegate_and_its_answers_back() {
    let bus = TestBus::start().await;
    let pfr_kind = bus.kind_of("PFR01").await;
    let path = format!("/api/v1/registry/kinds/{pfr_kind}");

    // Bad rules are refused, naming what is wrong.
    for (rules, says) in [
        (json!([{"to": "NOBODY"}]), "NOBODY"),
        (
            json!([{"to": "FNS01", "path": "//FamilyName"}]),
            "path and equals together",
        ),
        (
            json!([{"to": "FNS01", "path": "//@attr", "equals": "x"}]),
            "only element paths",
        ),
    ] {
        let (status, problem) = bus
            .call(
                reqwest::Method::PATCH,
                &path,
                bus.token("admin"),
                Some(json!({"delegate": rules})),
            )
            .await;
        assert_eq!(status, 422, "{rules}: {problem}");
        assert!(problem.to_string().contains(says), "{rules}: {problem}");
    }
    bus.ok(
        reqwest::Method::PATCH,
        &path,
        bus.token("admin"),
        Some(json!({"delegate": [{"to": "FNS01", "path": "//FamilyName", "equals": "Делегатов"}]})),
    )
    .await;
    let listed = bus
        .ok(
            reqwest::Method::GET,
            "/api/v1/registry/kinds",
            bus.token("operator"),
            None,
        )
        .await;
    let kind = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == pfr_kind.as_str())
        .unwrap();
    assert_eq!(kind["delegate"][0]["to"], "FNS01", "{kind}");

    let delegated = send(&bus, "Делегатов").await;
    let ordinary = send(&bus, "Иванов").await;
    // The provider gets the ordinary one only; the delegate the delegated one.
    let at_pfr = bus
        .receive("PFR01", "requests")
        .await
        .expect("the ordinary request");
    assert_eq!(at_pfr["message_id"], ordinary.as_str());
    assert!(bus.receive("PFR01", "requests").await.is_none());
    let at_fns = bus
        .receive("FNS01", "requests")
        .await
        .expect("the delegated request");
    assert_eq!(at_fns["message_id"], delegated.as_str());
    assert_eq!(at_fns["sender"], "MFC01");
    assert_eq!(at_fns["vs_id"], pfr_kind.as_str());

    // The delegate answers; the consumer receives it as the answer to its request.
    let answer = bus.ok(reqwest::Method::POST,
        &format!("/api/v1/requests/{delegated}/response"),
        bus.token("FNS01"),
        Some(json!({"business_xml": "<PersonalAccountResponse xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><PensionPoints>1.5</PensionPoints><FormedAt>2026-12-07T10:00:00+03:00</FormedAt></PersonalAccountResponse>"})),
    )
    .await;
    let got = bus.receive("MFC01", "responses").await.expect("the answer");
    assert_eq!(got["message_id"], answer["message_id"]);
    assert_eq!(got["original_message_id"], delegated.as_str());
    assert_eq!(got["sender"], "FNS01");
    // The provider cannot answer a request it never got.
    let (status, _) = bus.call(reqwest::Method::POST,
        &format!("/api/v1/requests/{delegated}/response"),
        bus.token("PFR01"),
        Some(json!({"business_xml": "<PersonalAccountResponse xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><PensionPoints>1.5</PensionPoints><FormedAt>2026-12-07T10:00:00+03:00</FormedAt></PersonalAccountResponse>"})),
    )
    .await;
    assert_eq!(status, 404);

    // The rules removed: the provider gets them all again.
    bus.ok(
        reqwest::Method::PATCH,
        &path,
        bus.token("admin"),
        Some(json!({"delegate": []})),
    )
    .await;
    let again = send(&bus, "Делегатов").await;
    assert_eq!(
        bus.receive("PFR01", "requests").await.unwrap()["message_id"],
        again.as_str()
    );
    bus.stop().await;
}
