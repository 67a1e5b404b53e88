//! Push delivery against real loopback HTTP receivers: a receiver that fails, answers 500 or
//! 503, does not answer in time, is down and comes back. Every message ends taken exactly once
//! in the receiver's view (it drops a `MessageID` it has taken already), or in the dead-letter
//! queue with the reason of every attempt; a replay then delivers it. The settings are made and
//! the dead letters handled through the integration API, as an operator would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opensmev_store::{DeliveryState, JournalKind};
use opensmev_testkit::TestBus;
use opensmev_types::MessageId;
use serde_json::{Value, json};

/// What the receiver does with one arrival of a message (by how many times that message came).
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Answer this status.
    Status(u16),
    /// Answer 200 only after this long.
    Hang(Duration),
}

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Arrival {
    id: String,
    attempt: u32,
    kind: String,
    content_type: String,
    soap_action: Option<String>,
    body: String,
}

#[derive(Debug, Clone, Default)]
struct Log {
    arrivals: Vec<Arrival>,
    /// Messages the receiver processed (took for the first time), in order.
    processed: Vec<String>,
    /// Arrivals of messages processed already (dropped by `MessageID`).
    duplicates: u32,
}

/// A copy of what the receiver logged so far.
fn snapshot(log: &Mutex<Log>) -> Log {
    log.lock().unwrap().clone()
}

type Script = Arc<dyn Fn(usize) -> Behaviour + Send + Sync>;

#[derive(Clone)]
struct Receiver {
    log: Arc<Mutex<Log>>,
    script: Script,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let id = header("x-opensmev-message-id").unwrap_or_default();
    let arrival = Arrival {
        id: id.clone(),
        attempt: header("x-opensmev-attempt")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0),
        kind: header("x-opensmev-message-kind").unwrap_or_default(),
        content_type: header("content-type").unwrap_or_default(),
        soap_action: header("soapaction"),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let nth = {
        let mut log = r.log.lock().unwrap();
        log.arrivals.push(arrival);
        log.arrivals.iter().filter(|a| a.id == id).count()
    };
    let status = match (r.script)(nth) {
        Behaviour::Status(code) => code,
        Behaviour::Hang(time) => {
            tokio::time::sleep(time).await;
            200
        }
    };
    if (200..300).contains(&status) {
        let mut log = r.log.lock().unwrap();
        if log.processed.contains(&id) {
            log.duplicates += 1;
        } else {
            log.processed.push(id);
        }
    }
    StatusCode::from_u16(status).unwrap()
}

/// A receiver listening on `addr` (port 0: any), until dropped.
struct Running {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_receiver(addr: SocketAddr, log: Arc<Mutex<Log>>, script: Script) -> Running {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/in", axum::routing::post(receive))
        .with_state(Receiver {
            log: Arc::clone(&log),
            script,
        });
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Running { addr, log, task }
}

/// A loopback port nothing listens on (bound, then let go).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Pushes PFR01's messages to `endpoint` with `extra` settings.
async fn push_to(bus: &TestBus, system: &str, endpoint: &str, extra: Value) {
    let mut settings = json!({"mode": "push", "endpoint": endpoint});
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    bus.ok(
        reqwest::Method::PUT,
        &format!("/api/v1/registry/systems/{system}/delivery"),
        bus.token("admin"),
        Some(settings),
    )
    .await;
}

/// MFC01 asks PFR01 for a personal account: the request's MessageID.
async fn send_request(bus: &TestBus, n: u32) -> String {
    let body = json!({"business_xml": format!(
        "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><FamilyName>Иванов{n}</FamilyName><FirstName>Иван</FirstName><BirthDate>1980-05-17</BirthDate></PersonalAccountRequest>")});
    let sent = bus
        .ok(
            reqwest::Method::POST,
            "/api/v1/requests",
            bus.token("MFC01"),
            Some(body),
        )
        .await;
    sent["message_id"].as_str().unwrap().to_owned()
}

async fn state_of(bus: &TestBus, id: &str) -> DeliveryState {
    bus.store
        .message(&MessageId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap()
        .state
}

/// Waits until every message of `ids` is in `state`.
async fn wait_all(bus: &TestBus, ids: &[String], state: DeliveryState) {
    let started = Instant::now();
    loop {
        let mut states = Vec::new();
        for id in ids {
            states.push(state_of(bus, id).await);
        }
        if states.iter().all(|s| *s == state) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not all {state:?} after 60 s: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn attempts(bus: &TestBus, id: &str) -> Vec<(Option<u32>, String)> {
    bus.store
        .journal(&MessageId::parse(id).unwrap())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == JournalKind::PushAttempt)
        .map(|e| (e.attempt, e.detail.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_survive_errors_and_timeouts_and_are_taken_once() {
    let bus = TestBus::start().await;
    let log = Arc::new(Mutex::new(Log::default()));
    // Each message: 500, then 503 with a body, then no answer in time, then taken.
    let script: Script = Arc::new(|nth| match nth {
        1 => Behaviour::Status(500),
        2 => Behaviour::Status(503),
        3 => Behaviour::Hang(Duration::from_secs(3)),
        _ => Behaviour::Status(200),
    });
    let receiver = start_receiver("127.0.0.1:0".parse().unwrap(), Arc::clone(&log), script).await;
    let endpoint = format!("http://{}/in", receiver.addr);
    push_to(
        &bus,
        "PFR01",
        &endpoint,
        json!({"timeout_ms": 700, "backoff_initial_ms": 50, "backoff_max_ms": 200,
               "breaker_failures": 1000, "channels": 3}),
    )
    .await;
    // The settings read back with their defaults.
    let settings = bus
        .ok(
            reqwest::Method::GET,
            "/api/v1/registry/systems/PFR01/delivery",
            bus.token("operator"),
            None,
        )
        .await;
    assert_eq!(settings["format"], "soap");
    assert_eq!(settings["max_attempts"], 10);

    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(send_request(&bus, n).await);
    }
    wait_all(&bus, &ids, DeliveryState::Acked).await;

    let log = snapshot(&receiver.log);
    let mut processed = log.processed.clone();
    processed.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(processed, want, "each message processed once");
    for id in &ids {
        let came: Vec<u32> = log
            .arrivals
            .iter()
            .filter(|a| &a.id == id)
            .map(|a| a.attempt)
            .collect();
        assert_eq!(came, [1, 2, 3, 4], "{id}: the attempts in order");
    }
    let first = log.arrivals.iter().find(|a| a.id == ids[0]).unwrap();
    assert_eq!(first.kind, "request");
    assert!(
        first.content_type.starts_with("text/xml"),
        "{}",
        first.content_type
    );
    assert_eq!(first.soap_action.as_deref(), Some("\"urn:GetRequest\""));
    for part in [
        "GetRequestResponse",
        "PersonalAccountRequest",
        "SIGNED_BY_SMEV",
        "SignatureValue",
        &ids[0],
    ] {
        assert!(first.body.contains(part), "{part} missing: {}", first.body);
    }

    // The journal has every attempt with its outcome.
    let got = attempts(&bus, &ids[0]).await;
    assert_eq!(got.len(), 4, "{got:#?}");
    let want = [
        "HTTP 500",
        "HTTP 503",
        "no answer within 700 ms",
        "HTTP 200 OK",
    ];
    for (n, ((attempt, detail), want)) in got.iter().zip(want).enumerate() {
        assert_eq!(*attempt, Some(n as u32 + 1));
        assert!(
            detail.contains(want) && detail.contains(&endpoint),
            "{detail}"
        );
    }
    let stored = bus
        .store
        .message(&MessageId::parse(&ids[0]).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.status.code(),
        "underProcessing",
        "acknowledged as taken"
    );
    // Nothing acknowledged comes again.
    let before = receiver.log.lock().unwrap().arrivals.len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.log.lock().unwrap().arrivals.len(), before);
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_keep_their_reasons_and_replay_delivers_them() {
    let bus = TestBus::start().await;
    let addr = free_port();
    let endpoint = format!("http://{addr}/in");
    push_to(
        &bus,
        "PFR01",
        &endpoint,
        json!({"format": "rest", "max_attempts": 3, "timeout_ms": 500,
               "backoff_initial_ms": 50, "backoff_max_ms": 100,
               "breaker_failures": 2, "breaker_open_ms": 200}),
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(send_request(&bus, n).await);
    }
    // The endpoint is down: each message makes 3 attempts and becomes a dead letter.
    wait_all(&bus, &ids, DeliveryState::DeadLetter).await;
    let listed = bus
        .ok(
            reqwest::Method::GET,
            "/api/v1/dead-letters?recipient=PFR01",
            bus.token("operator"),
            None,
        )
        .await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{listed}");
    for item in items {
        assert_eq!(item["attempts"], 3, "{item}");
        let reason = item["reason"].as_str().unwrap();
        assert!(
            reason.contains("3 of 3 attempts") && reason.contains("cannot connect"),
            "{reason}"
        );
        assert_eq!(item["sender"], "MFC01");
    }
    for (attempt, detail) in attempts(&bus, &ids[0]).await {
        assert!(attempt.is_some());
        assert!(
            detail.contains("cannot connect") && detail.contains(&endpoint),
            "{detail}"
        );
    }
    // Paging.
    let page = bus
        .ok(
            reqwest::Method::GET,
            "/api/v1/dead-letters?limit=2",
            bus.token("admin"),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = bus
        .ok(
            reqwest::Method::GET,
            &format!("/api/v1/dead-letters?limit=2&cursor={cursor}"),
            bus.token("admin"),
            None,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    // Who may: not another IS, not an auditor; the recipient itself sees its own.
    let (status, _) = bus
        .call(
            reqwest::Method::GET,
            "/api/v1/dead-letters",
            bus.token("auditor"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let own = bus
        .ok(
            reqwest::Method::GET,
            "/api/v1/dead-letters",
            bus.token("PFR01"),
            None,
        )
        .await;
    assert_eq!(own["items"].as_array().unwrap().len(), 3);
    let theirs = bus
        .ok(
            reqwest::Method::GET,
            "/api/v1/dead-letters",
            bus.token("MFC01"),
            None,
        )
        .await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
    let (status, problem) = bus
        .call(
            reqwest::Method::POST,
            "/api/v1/dead-letters/replay",
            bus.token("admin"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");

    // The receiver comes back; one message is replayed, then the rest.
    let log = Arc::new(Mutex::new(Log::default()));
    let receiver =
        start_receiver(addr, Arc::clone(&log), Arc::new(|_| Behaviour::Status(200))).await;
    let one = bus
        .ok(
            reqwest::Method::POST,
            "/api/v1/dead-letters/replay",
            bus.token("operator"),
            Some(json!({"message_id": ids[1]})),
        )
        .await;
    assert_eq!(one["replayed"], 1);
    wait_all(&bus, &ids[1..2], DeliveryState::Acked).await;
    assert_eq!(state_of(&bus, &ids[0]).await, DeliveryState::DeadLetter);
    let all = bus
        .ok(
            reqwest::Method::POST,
            "/api/v1/dead-letters/replay",
            bus.token("admin"),
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(all["replayed"], 2);
    wait_all(&bus, &ids, DeliveryState::Acked).await;

    let log = snapshot(&receiver.log);
    let mut processed = log.processed.clone();
    processed.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(processed, want);
    let arrival = log.arrivals.iter().find(|a| a.id == ids[0]).unwrap();
    assert_eq!(arrival.content_type, "application/json");
    assert_eq!(arrival.attempt, 1, "a replay starts a new round");
    let delivered: Value = serde_json::from_str(&arrival.body).unwrap();
    assert_eq!(delivered["message_id"], ids[0].as_str());
    assert_eq!(delivered["kind"], "request");
    assert_eq!(delivered["sender"], "MFC01");
    assert!(
        delivered["business_xml"]
            .as_str()
            .unwrap()
            .contains("PersonalAccountRequest"),
        "{delivered}"
    );
    let journal = bus
        .store
        .journal(&MessageId::parse(&ids[0]).unwrap())
        .await
        .unwrap();
    let replayed = journal
        .iter()
        .find(|e| e.kind == JournalKind::Replayed)
        .expect("a replay event");
    let actor = replayed.actor.as_deref().unwrap_or_default();
    assert!(actor.starts_with("token:"), "who asked: {actor}");
    assert!(
        bus.ok(
            reqwest::Method::GET,
            "/api/v1/dead-letters",
            bus.token("admin"),
            None
        )
        .await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_acks_and_pushed_responses() {
    let bus = TestBus::start().await;
    let log = Arc::new(Mutex::new(Log::default()));
    let receiver = start_receiver(
        "127.0.0.1:0".parse().unwrap(),
        Arc::clone(&log),
        Arc::new(|_| Behaviour::Status(202)),
    )
    .await;
    let endpoint = format!("http://{}/in", receiver.addr);
    // PFR01 takes requests by push and acknowledges them itself; MFC01 gets its answers pushed.
    push_to(
        &bus,
        "PFR01",
        &endpoint,
        json!({"ack": "explicit", "format": "rest"}),
    )
    .await;
    push_to(&bus, "MFC01", &endpoint, json!({"soap_version": "1.2"})).await;
    let id = send_request(&bus, 1).await;
    let started = Instant::now();
    while log.lock().unwrap().processed.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no push");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        state_of(&bus, &id).await,
        DeliveryState::Leased,
        "taken, not acknowledged"
    );
    bus.ok(
        reqwest::Method::POST,
        &format!("/api/v1/messages/{id}/ack"),
        bus.token("PFR01"),
        Some(json!({"accepted": true})),
    )
    .await;
    assert_eq!(state_of(&bus, &id).await, DeliveryState::Acked);

    // The answer is pushed to MFC01 in SOAP 1.2 and acknowledged by the 2xx.
    let answer = bus.ok(reqwest::Method::POST,
        &format!("/api/v1/requests/{id}/response"),
        bus.token("PFR01"),
        Some(json!({"business_xml": "<PersonalAccountResponse xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><PensionPoints>42.5</PensionPoints><FormedAt>2026-12-07T10:00:00+03:00</FormedAt></PersonalAccountResponse>"})),
    )
    .await;
    let answer_id = answer["message_id"].as_str().unwrap().to_owned();
    wait_all(&bus, std::slice::from_ref(&answer_id), DeliveryState::Acked).await;
    let log = snapshot(&log);
    let pushed = log.arrivals.iter().find(|a| a.id == answer_id).unwrap();
    assert_eq!(pushed.kind, "response");
    assert_eq!(pushed.soap_action.as_deref(), Some("\"urn:GetResponse\""));
    assert!(
        pushed.body.contains("GetResponseResponse"),
        "{}",
        pushed.body
    );
    assert!(
        pushed
            .body
            .contains("urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2"),
        "SOAP 1.2 namespaces: {}",
        pushed.body
    );
    assert_eq!(log.duplicates, 0);
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused_at_their_field() {
    let bus = TestBus::start().await;
    for (settings, says) in [
        (json!({"mode": "push"}), "endpoint is required"),
        (
            json!({"mode": "push", "endpoint": "ftp://x/"}),
            "not an http",
        ),
        (
            json!({"mode": "push", "endpoint": "http://x/", "channels": 0}),
            "channels",
        ),
        (
            json!({"mode": "push", "endpoint": "http://x/", "kinds": {"NOPE": "push"}}),
            "NOPE",
        ),
        (
            json!({"mode": "push", "endpoint": "http://x/", "soap_version": "2.0"}),
            "soap_version",
        ),
        (
            json!({"mode": "sometimes"}),
            "at mode: unknown variant `sometimes`",
        ),
        (
            json!({"mode": "push", "endpoint": "http://x/", "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, problem) = bus
            .call(
                reqwest::Method::PUT,
                "/api/v1/registry/systems/PFR01/delivery",
                bus.token("admin"),
                Some(settings.clone()),
            )
            .await;
        assert!((400..500).contains(&status), "{settings}: {status}");
        assert!(problem.to_string().contains(says), "{settings}: {problem}");
    }
    let (status, _) = bus
        .call(
            reqwest::Method::PUT,
            "/api/v1/registry/systems/PFR01/delivery",
            bus.token("operator"),
            Some(json!({"mode": "poll"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = bus
        .call(
            reqwest::Method::GET,
            "/api/v1/registry/systems/PFR01/delivery",
            bus.token("admin"),
            None,
        )
        .await;
    assert_eq!(status, 404, "no settings: polled");
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_eol_passes_while_the_endpoint_is_down_expires_unpolled() {
    let bus = TestBus::start().await;
    let endpoint = format!("http://{}/in", free_port());
    push_to(
        &bus,
        "PFR01",
        &endpoint,
        json!({"timeout_ms": 300, "backoff_initial_ms": 200, "backoff_max_ms": 400}),
    )
    .await;
    let eol = time::OffsetDateTime::now_utc() + Duration::from_secs(3);
    let eol = eol
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = json!({"business_xml": "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><FamilyName>Срочный</FamilyName><FirstName>Иван</FirstName><BirthDate>1980-05-17</BirthDate></PersonalAccountRequest>", "eol": eol});
    let sent = bus
        .ok(
            reqwest::Method::POST,
            "/api/v1/requests",
            bus.token("MFC01"),
            Some(body),
        )
        .await;
    let id = sent["message_id"].as_str().unwrap().to_owned();
    // Nobody polls: the bus itself takes it out of the queue once its EOL passed.
    wait_all(&bus, std::slice::from_ref(&id), DeliveryState::Expired).await;
    let stored = bus
        .store
        .message(&MessageId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status.code(), "cancelled");
    assert!(
        !attempts(&bus, &id).await.is_empty(),
        "it was tried before it expired"
    );
    let journal = bus
        .store
        .journal(&MessageId::parse(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(
        journal
            .iter()
            .filter(|e| e.kind == JournalKind::Expired)
            .count(),
        1
    );
    bus.stop().await;
}
