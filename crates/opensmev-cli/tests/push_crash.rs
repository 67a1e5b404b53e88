//! Crash test of push delivery: the real `opensmev serve --demo` pushes MFC01's requests to an
//! in-test loopback receiver (PFR01's endpoint) while several clients send them through the
//! integration API; the server is killed with SIGKILL in the middle of sends and pushes, then
//! restarted on the same store. Every accepted message must reach the receiver (nothing lost),
//! the receiver must see exactly the messages the store has (each taken once, duplicates dropped
//! by `MessageID`), every message must end acknowledged with one successful push in its journal,
//! and nothing acknowledged may be pushed again. Run on the embedded store, and on PostgreSQL when
//! `OSMV_TEST_POSTGRES` is set.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opensmev_testkit::new_message_id;
use serde_json::{Value, json};

const VS: &str = "VS00001v001-PFR001";
/// Concurrent pushes to PFR01.
const CHANNELS: usize = 4;
/// One push attempt's limit; the push lease is this + 30 s.
const TIMEOUT_MS: u64 = 2000;
/// Concurrent senders, and how many requests each sends at most.
const SENDERS: usize = 6;
const SENDS_EACH: usize = 1000;
/// The server is killed once the receiver has taken this many messages.
const KILL_AFTER: usize = 100;

/// A running `opensmev serve --demo`, killed when dropped.
struct Server {
    child: Child,
    origin: String,
    tokens: HashMap<String, String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the demo server on `data_dir` (and `store`, else the embedded one) on a free port;
/// reads its address and the demo tokens from the banner and waits until it answers.
fn start(data_dir: &Path, store: Option<&str>) -> Server {
    let mut command = common::serve_command(
        Command::new(env!("CARGO_BIN_EXE_opensmev")),
        true,
        true,
        data_dir,
    );
    command.env_remove("OPENSMEV_LANG").stderr(Stdio::null());
    match store {
        Some(url) => command.env("OPENSMEV_STORE", url),
        None => command.env_remove("OPENSMEV_STORE"),
    };
    let mut child = command.spawn().expect("spawn opensmev serve");
    let (address, tokens) = common::read_demo_banner(&mut child);
    Server {
        child,
        origin: format!("http://{address}"),
        tokens,
    }
}

async fn start_async(data_dir: PathBuf, store: Option<String>) -> Server {
    tokio::task::spawn_blocking(move || start(&data_dir, store.as_deref()))
        .await
        .unwrap()
}

/// What the receiver saw.
#[derive(Debug, Default, Clone)]
struct Log {
    /// Every arrival: the MessageID and the server's life (0 before the kill, 1 after the
    /// restart) it came in.
    arrivals: Vec<(String, u32)>,
    /// The messages taken (answered 200 for the first time).
    taken: HashSet<String>,
    /// 200 answers to messages taken already (dropped by MessageID).
    duplicates: usize,
}

#[derive(Clone)]
struct Receiver {
    log: Arc<Mutex<Log>>,
    life: Arc<AtomicU32>,
}

/// A deterministic "random" delay of 0–20 ms from the MessageID.
fn delay_of(id: &str) -> Duration {
    let hash = id
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    Duration::from_millis(hash % 21)
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap) -> StatusCode {
    let id = headers
        .get("x-opensmev-message-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    r.log
        .lock()
        .unwrap()
        .arrivals
        .push((id.clone(), r.life.load(Ordering::SeqCst)));
    tokio::time::sleep(delay_of(&id)).await;
    let mut log = r.log.lock().unwrap();
    if !log.taken.insert(id) {
        log.duplicates += 1;
    }
    StatusCode::OK
}

fn snapshot(log: &Mutex<Log>) -> Log {
    log.lock().unwrap().clone()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `GET path` with `token`: the status and the JSON answer.
async fn get(http: &reqwest::Client, server: &Server, path: &str, token: &str) -> (u16, Value) {
    let reply = http
        .get(format!("{}{path}", server.origin))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = reply.status().as_u16();
    let value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, value)
}

/// Sends one request from MFC01 with MessageID `id`: `Ok` accepted (any other answer fails the
/// test), `Err` no answer.
async fn send(
    http: &reqwest::Client,
    origin: &str,
    token: &str,
    business_xml: &str,
    id: &str,
) -> Result<(), reqwest::Error> {
    let reply = http
        .post(format!("{origin}/api/v1/requests"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(json!({"business_xml": business_xml, "message_id": id}).to_string())
        .send()
        .await?;
    let status = reply.status();
    let body = reply.bytes().await?;
    assert!(
        status.is_success(),
        "send answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["message_id"].as_str(), Some(id), "{value}");
    Ok(())
}

/// The whole scenario on one store (`None`: the embedded one), named `label` in the report.
async fn scenario(label: &str, store: Option<String>) {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let http = client();

    // The receiver, alive across the crash.
    let log = Arc::new(Mutex::new(Log::default()));
    let life = Arc::new(AtomicU32::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/in", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/in", axum::routing::post(receive))
        .with_state(Receiver {
            log: Arc::clone(&log),
            life: Arc::clone(&life),
        });
    let receiver = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });

    let mut server = start_async(dir.path().to_owned(), store.clone()).await;
    let admin = server.tokens["admin"].clone();
    let mfc = server.tokens["MFC01"].clone();
    let business_xml = std::fs::read_to_string(
        dir.path()
            .join("demo")
            .join("examples")
            .join(VS)
            .join("request.xml"),
    )
    .unwrap();

    // PFR01 pushes.
    let reply = http
        .put(format!(
            "{}/api/v1/registry/systems/PFR01/delivery",
            server.origin
        ))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(
            json!({"mode": "push", "endpoint": endpoint, "timeout_ms": TIMEOUT_MS,
                   "channels": CHANNELS})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let status = reply.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        reply.text().await.unwrap()
    );

    // A first message shows the settings in force before the load starts.
    let probe = new_message_id();
    send(&http, &server.origin, &mfc, &business_xml, &probe)
        .await
        .expect("the probe is accepted");
    let started = Instant::now();
    while !snapshot(&log).taken.contains(&probe) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the probe was not pushed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The load: concurrent senders until the server is gone.
    let mut tasks = Vec::new();
    for _ in 0..SENDERS {
        let (http, origin, mfc, business_xml) = (
            http.clone(),
            server.origin.clone(),
            mfc.clone(),
            business_xml.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            let mut unanswered = None;
            for _ in 0..SENDS_EACH {
                let id = new_message_id();
                match send(&http, &origin, &mfc, &business_xml, &id).await {
                    Ok(()) => accepted.push(id),
                    Err(_) => {
                        // The server is gone; this one may or may not have been stored.
                        unanswered = Some(id);
                        break;
                    }
                }
            }
            (accepted, unanswered)
        }));
    }
    let started = Instant::now();
    while snapshot(&log).taken.len() < KILL_AFTER {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the receiver did not take {KILL_AFTER} messages in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    let at_kill = snapshot(&log);
    drop(server);

    let mut accepted: HashSet<String> = HashSet::from([probe]);
    let mut unanswered = Vec::new();
    let mut cut_off = 0;
    for task in tasks {
        let (ok, lost) = task.await.unwrap();
        if ok.len() < SENDS_EACH {
            cut_off += 1;
        }
        accepted.extend(ok);
        unanswered.extend(lost);
    }
    assert_eq!(
        cut_off, SENDERS,
        "every sender must still be sending when the server is killed"
    );
    assert!(
        accepted.len() > at_kill.taken.len(),
        "sends must be ahead of pushes at the kill ({} accepted, {} taken)",
        accepted.len(),
        at_kill.taken.len()
    );

    // Restart on the same store: the registry with the delivery settings is in it.
    life.store(1, Ordering::SeqCst);
    let restarted = Instant::now();
    let server = start_async(dir.path().to_owned(), store).await;
    let admin = server.tokens["admin"].clone();

    // Sends whose answer was lost in the crash count if the store has them.
    let mut stored_unanswered = HashSet::new();
    for id in &unanswered {
        let (status, value) = get(&http, &server, &format!("/api/v1/messages/{id}"), &admin).await;
        match status {
            200 => {
                stored_unanswered.insert(id.clone());
            }
            404 => {}
            other => panic!("GET message {id}: {other} {value}"),
        }
    }
    let expected: HashSet<String> = accepted.union(&stored_unanswered).cloned().collect();

    // Every message ends acknowledged (a lease of the crash runs out after TIMEOUT_MS + 30 s),
    // with exactly one successful push in its journal, the last push of it.
    let mut pending: HashSet<String> = expected.clone();
    let mut states: HashMap<String, String> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !pending.is_empty() {
        let ids: Vec<String> = pending.iter().cloned().collect();
        for id in ids {
            let (status, value) =
                get(&http, &server, &format!("/api/v1/messages/{id}"), &admin).await;
            assert_eq!(status, 200, "message {id}: {value}");
            let state = value["state"].as_str().unwrap_or_default().to_owned();
            assert!(
                state == "acked" || state == "queued" || state == "leased",
                "message {id} is {state}: {value}"
            );
            if state == "acked" {
                let pushes: Vec<&str> = value["timeline"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["event"] == "push")
                    .map(|e| e["detail"].as_str().unwrap_or_default())
                    .collect();
                let successes = pushes.iter().filter(|d| d.contains("→ HTTP 2")).count();
                assert_eq!(successes, 1, "message {id}: pushes {pushes:#?}");
                assert!(
                    pushes.last().is_some_and(|d| d.contains("→ HTTP 2")),
                    "message {id} pushed after its acknowledgement: {pushes:#?}"
                );
                pending.remove(&id);
            }
            states.insert(id, state);
        }
        if pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not acknowledged after 90 s: {:?}",
            pending
                .iter()
                .map(|id| (id, states.get(id)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_acked = restarted.elapsed();

    // Nothing acknowledged comes again.
    let settled = snapshot(&log);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let last = snapshot(&log);
    assert_eq!(
        last.arrivals.len(),
        settled.arrivals.len(),
        "pushes after every message was acknowledged: {:?}",
        &last.arrivals[settled.arrivals.len()..]
    );
    receiver.abort();

    // Nothing lost, nothing unknown: the receiver took exactly the stored messages.
    let lost: Vec<&String> = expected.difference(&last.taken).collect();
    assert!(lost.is_empty(), "accepted but never taken: {lost:?}");
    let unknown: Vec<&String> = last.taken.difference(&expected).collect();
    assert!(
        unknown.is_empty(),
        "taken but not in the store: {unknown:?}"
    );

    // Pushed again after the restart: only messages in flight at the kill (a push lease each,
    // at most one per channel).
    let before: HashSet<&String> = at_kill.arrivals.iter().map(|(id, _)| id).collect();
    let again: HashSet<&String> = last
        .arrivals
        .iter()
        .filter(|(id, life)| *life == 1 && before.contains(id))
        .map(|(id, _)| id)
        .collect();
    let after_restart = last.arrivals.iter().filter(|(_, life)| *life == 1).count();
    eprintln!(
        "push crash ({}): {} accepted ({} answers lost in the crash, {} of them stored), \
         {} taken at the kill, {} arrivals ({} after the restart), {} distinct, \
         {} duplicates, {} pushed again after the restart, all acknowledged {:.1} s after \
         the restart, {:.1} s in all",
        label,
        accepted.len(),
        unanswered.len(),
        stored_unanswered.len(),
        at_kill.taken.len(),
        last.arrivals.len(),
        after_restart,
        last.taken.len(),
        last.duplicates,
        again.len(),
        all_acked.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    assert!(
        again.len() <= CHANNELS,
        "{} messages pushed again after the restart, more than the {CHANNELS} channels in \
         flight: {again:?}",
        again.len()
    );
    assert!(
        last.duplicates <= CHANNELS * 2,
        "{} duplicate pushes",
        last.duplicates
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_survive_sigkill_on_the_embedded_store() {
    scenario("embedded SQLite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_survive_sigkill_on_postgres() {
    if std::env::var_os(opensmev_testkit::postgres::ENV).is_none() {
        eprintln!(
            "push crash on PostgreSQL skipped: {} is not set",
            opensmev_testkit::postgres::ENV
        );
        return;
    }
    let name = "osmv_push_crash";
    let url = opensmev_testkit::postgres::database(name).await;
    let _drop = opensmev_testkit::postgres::Database(name.to_owned());
    scenario("PostgreSQL", Some(url)).await;
}
