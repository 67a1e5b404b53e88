//! Two bus nodes (two `Application`s, as two processes would be) on one PostgreSQL database:
//! a long poll on one node is woken by a message sent through the other; a message leased
//! through one node is acknowledged through the other; the sweep runs on one node at a time and
//! moves to the other when the first stops; the journal names the node of each event.
//!
//! Needs PostgreSQL: `OSMV_TEST_POSTGRES` (what `scripts/postgres-setup.sh` prints; unset,
//! the local socket as `postgres`) names a role that may create databases; each test makes a
//! database of its own and drops it. The SIGKILL and failover runs of real processes are
//! `scripts/multinode-test.sh` and `scripts/failover-test.sh`.

use std::path::Path;
use std::time::{Duration, Instant};

use opensmev_testkit::postgres::{admin, database};
use opensmev_testkit::{Answer, TestBus, new_message_id};
use opensmev_types::SchemaVersion;
use tokio_postgres::NoTls;

const VS_PFR: &str = "VS00001v001-PFR001";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Node A, then node B on the same database with A's demo keys (the registry in the database
/// names A's demo certificates).
async fn two_nodes(db: &str, dir: &Path, poll_wait_ms: u64) -> (TestBus, TestBus) {
    let url = database(db).await;
    let config = |name: &'static str, url: String| {
        move |c: &mut opensmev_server::config::Config| {
            c.store = Some(url);
            c.node_name = Some(name.to_owned());
            c.poll_wait_ms = poll_wait_ms;
            c.sweep_interval_ms = 200;
        }
    };
    let a = TestBus::start_in(dir.join("a"), config("node-a", url.clone())).await;
    copy_dir(&dir.join("a").join("demo"), &dir.join("b").join("demo"));
    copy_dir(&dir.join("a").join("keys"), &dir.join("b").join("keys"));
    let b = TestBus::start_in(dir.join("b"), config("node-b", url)).await;
    (a, b)
}

fn assert_accepted(answer: &Answer, id: &str) {
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.find("MessageId").as_deref(),
        Some(id),
        "{}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_on_one_node_wakes_for_a_message_sent_through_another() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("osmv_nodes_wake_{}", std::process::id());
    let (a, b) = two_nodes(&db, dir.path(), 8000).await;
    let consumer = a.client("MFC01", SchemaVersion::V1_2);
    let provider = b.client("PFR01", SchemaVersion::V1_2);
    let request = a.example(VS_PFR, "request.xml");

    // The provider polls node B; the consumer sends through node A while the poll waits.
    let id = new_message_id();
    let started = Instant::now();
    let (got, ()) = tokio::join!(provider.get_request(None), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_accepted(&consumer.send_request(&id, &request, "").await, &id);
    });
    let waited = started.elapsed();
    assert_eq!(
        got.find("MessageID").as_deref(),
        Some(id.as_str()),
        "{}",
        got.text
    );
    assert!(
        waited < Duration::from_millis(7000),
        "woken by the other node's NOTIFY, not by the end of the 8 s wait: {waited:?}"
    );

    // Leased through B, acknowledged through A.
    let ack = a.client("PFR01", SchemaVersion::V1_2).ack(&id, true).await;
    assert_eq!(ack.status, 200, "{}", ack.text);
    // Acknowledged once: a second ack (through B) finds no delivered message.
    let again = provider.ack(&id, true).await;
    assert_eq!(again.status, 500, "{}", again.text);

    // The journal names the node of each event.
    let parsed = opensmev_types::MessageId::parse(&id).unwrap();
    let journal = a.store.journal(&parsed).await.unwrap();
    let nodes: Vec<(String, Option<String>)> = journal
        .iter()
        .map(|e| (e.kind.code().to_owned(), e.node.clone()))
        .collect();
    assert_eq!(
        nodes,
        vec![
            ("accepted".to_owned(), Some("node-a".to_owned())),
            ("delivered".to_owned(), Some("node-b".to_owned())),
            ("acked".to_owned(), Some("node-a".to_owned())),
        ]
    );
    a.stop().await;
    b.stop().await;
    admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
}

/// The sweep job's holder and fence, read from the database (`jobs`).
async fn sweep_holder(url: &str) -> Option<(String, i64)> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    let driver = tokio::spawn(connection);
    let row = client
        .query_opt(
            "SELECT holder, fence FROM jobs WHERE name = 'sweep' AND until > now()",
            &[],
        )
        .await
        .expect("jobs");
    drop(client);
    let _ = driver.await;
    row.map(|r| (r.get(0), r.get(1)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_runs_on_one_node_and_moves_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("osmv_nodes_sweep_{}", std::process::id());
    let (a, b) = two_nodes(&db, dir.path(), 0).await;
    let url = opensmev_testkit::postgres::url(&db);
    // Within a few intervals (200 ms) one of the two nodes holds the sweep.
    let mut first = None;
    for _ in 0..50 {
        first = sweep_holder(&url).await;
        if first.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (holder, fence) = first.expect("a node holds the sweep");
    // It stays with that node while it runs.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sweep_holder(&url).await, Some((holder.clone(), fence)));
    // The holder stops: it gives the claim up, and the other node takes the job over at its
    // next interval (not after the claim's 5 s), with a higher fence.
    let (stopping, staying, other) = if holder == "node-a" {
        (a, b, "node-b")
    } else {
        (b, a, "node-a")
    };
    let stopped = Instant::now();
    stopping.stop().await;
    let mut next = None;
    for _ in 0..40 {
        next = sweep_holder(&url).await.filter(|(h, _)| h == other);
        if next.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, next_fence) = next.unwrap_or_else(|| panic!("{other} did not take the sweep over"));
    assert!(next_fence > fence, "fence {next_fence} after {fence}");
    assert!(
        stopped.elapsed() < Duration::from_millis(4500),
        "{:?}",
        stopped.elapsed()
    );
    staying.stop().await;
    admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
}
