//! Crash test: the real `opensmev serve` process is killed with SIGKILL in the middle of a load of
//! signed SendRequests, then restarted on the same data directory. Every message that got a
//! SendRequestResponse must be there exactly once, and messages that were delivered but not
//! acknowledged before the crash must be delivered again.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use opensmev_testkit::{SmevClient, new_message_id};
use opensmev_types::SchemaVersion;

mod common;

const VS: &str = "VS00001v001-PFR001";

/// Starts the server on a free port; returns the process and the base URL.
fn start(data_dir: &Path) -> (Child, String) {
    let mut child = common::serve_command(
        Command::new(env!("CARGO_BIN_EXE_opensmev")),
        true,
        true,
        data_dir,
    )
    .env("OPENSMEV_LEASE_SECONDS", "2")
    .env_remove("OPENSMEV_LANG")
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn opensmev serve");
    let (line, _rest) = common::read_banner(&mut child);
    let base = common::banner_url(&line)
        .trim_end_matches("/v1.1/ws")
        .to_owned();
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_send_survives_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = start(dir.path());
    let demo = dir.path().join("demo");
    let request =
        std::fs::read_to_string(demo.join("examples").join(VS).join("request.xml")).unwrap();
    let consumer = Arc::new(SmevClient::for_demo(
        &base,
        &demo,
        "MFC01",
        SchemaVersion::V1_2,
    ));
    let provider = SmevClient::for_demo(&base, &demo, "PFR01", SchemaVersion::V1_2);

    // A few messages delivered to the provider but not acknowledged before the crash.
    let mut unacked = HashSet::new();
    for _ in 0..3 {
        let id = new_message_id();
        assert_eq!(consumer.send_request(&id, &request, "").await.status, 200);
        unacked.insert(id);
    }
    let mut delivered_before = HashSet::new();
    for _ in 0..3 {
        let got = provider.get_request(None).await;
        delivered_before.insert(got.find("MessageID").expect("a request"));
    }
    assert_eq!(delivered_before, unacked);

    // The load: signed requests from 8 concurrent clients; the server dies in the middle.
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let consumer = consumer.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for _ in 0..40 {
                let id = new_message_id();
                let xml = consumer.send_request_xml(&id, &request, "");
                match consumer.try_post("SendRequest", xml).await {
                    Ok(answer) if answer.status == 200 => {
                        consumer.check(&answer);
                        assert_eq!(
                            answer.find("MessageId").as_deref(),
                            Some(id.as_str()),
                            "worker {worker}"
                        );
                        accepted.push(id);
                    }
                    Ok(answer) => panic!("unexpected answer: {}", answer.text),
                    Err(_) => break, // the server is gone
                }
            }
            accepted
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let mut accepted: HashSet<String> = unacked.clone();
    for task in tasks {
        accepted.extend(task.await.unwrap());
    }
    assert!(
        accepted.len() > 3 + 8,
        "the load did not get going before the kill ({} accepted)",
        accepted.len()
    );
    assert!(
        accepted.len() < 3 + 8 * 40,
        "the server was killed after the load, not during it"
    );

    // Restart on the same data; wait out the lease of the unacknowledged deliveries.
    let (mut server, base) = start(dir.path());
    let provider = SmevClient::for_demo(&base, &demo, "PFR01", SchemaVersion::V1_2);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    loop {
        let got = provider.get_request(None).await;
        let Some(id) = got.find("MessageID") else {
            break;
        };
        *seen.entry(id.clone()).or_default() += 1;
        assert_eq!(provider.ack(&id, true).await.status, 200);
    }
    server.kill().unwrap();
    server.wait().unwrap();
    for id in &accepted {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "accepted message {id} delivered {:?} times after the crash",
            seen.get(id)
        );
    }
    for id in &unacked {
        assert!(
            seen.contains_key(id),
            "delivered-but-unacked {id} was not delivered again"
        );
    }
    // Messages committed while their answer was lost in the crash may be there too, once each.
    assert!(seen.values().all(|n| *n == 1));
}
