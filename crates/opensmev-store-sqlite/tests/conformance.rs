//! The store conformance suite against `SqliteStore`, plus what only a durable embedded store
//! has to show: data survives a reopen, group commit batches, corrupt rows are reported (not
//! panicked on), and a rough throughput figure (`OPENSMEV_BENCH=1`, run with `--nocapture`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use opensmev_store::conformance::{self, at, full_request, mid, mn, poll, request};
use opensmev_store::{AckOutcome, DeliveryState, Enqueued, JournalKind, Store, StoreError};
use opensmev_store_sqlite::{DB_FILE, SqliteStore};
use opensmev_types::{InteractionStatus, MessageKind};
use time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let parent = tempfile::tempdir().unwrap();
    let counter = AtomicUsize::new(0);
    conformance::run_all(|| {
        let dir = parent
            .path()
            .join(counter.fetch_add(1, Ordering::Relaxed).to_string());
        async move {
            let store = SqliteStore::open_on_node(&dir, Some(conformance::NODE)).expect("open");
            Arc::new(store) as Arc<dyn Store>
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let original = full_request(1);
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        let outcome = store
            .enqueue(original.clone(), InteractionStatus::RequestIsQueued, 10)
            .await
            .unwrap();
        assert!(matches!(outcome, Enqueued::Accepted { .. }));
        store
            .enqueue(
                request(2, "S", "PFR01"),
                InteractionStatus::RequestIsQueued,
                10,
            )
            .await
            .unwrap();
        let mut first = poll("PFR01", MessageKind::Request, at(10));
        first.node_id = Some("node-2".into());
        assert_eq!(
            store.lease_next(first).await.unwrap().map(|m| m.message.id),
            Some(mid(1))
        );
        store
            .save_registry("[a]".into(), None, false, at(11), None)
            .await
            .unwrap();
        // Dropped here without any explicit close.
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let stored = store.message(&mid(1)).await.unwrap().expect("still there");
    assert!(stored.message == original, "every field survives");
    assert_eq!(stored.state, DeliveryState::Leased);
    assert_eq!(stored.lease_until, Some(at(70)));
    assert_eq!(store.registry().await.unwrap().map(|r| r.version), Some(1));

    let mut again = poll("PFR01", MessageKind::Request, at(30));
    again.node_id = Some("node-2".into());
    let next = store
        .lease_next(again.clone())
        .await
        .unwrap()
        .expect("the other message");
    assert_eq!(
        next.message.id,
        mid(2),
        "the leased one is still leased after the reopen"
    );
    again.now = at(71);
    let redelivered = store
        .lease_next(again)
        .await
        .unwrap()
        .expect("redelivered after its lease");
    assert_eq!(
        (&redelivered.message.id, redelivered.delivery_count),
        (&mid(1), 2)
    );
    assert!(redelivered.message == original);
    let kinds: Vec<_> = store
        .journal(&mid(1))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            JournalKind::Accepted,
            JournalKind::Delivered,
            JournalKind::Redelivered
        ]
    );
}

#[test]
fn drop_finishes_queued_work_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for n in 1..=200 {
        // Polled once: the job is queued for the writer. Then abandoned.
        let mut call = store.enqueue(
            request(n, "S", "R"),
            InteractionStatus::RequestIsQueued,
            1000,
        );
        let _ = call.as_mut().poll(&mut cx);
    }
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    let recipient = mn("R");
    let depths = wait(store.queue_depths(&recipient)).unwrap();
    assert_eq!(depths[0].pending, 200);
}

/// A dropped store is closed cleanly: its WAL is checkpointed into the database and the `-wal` and
/// `-shm` files are gone (the writer's connection closes last).
#[test]
fn drop_closes_the_store_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    for n in 1..=20 {
        wait(store.enqueue(
            request(n, "S", "R"),
            InteractionStatus::RequestIsQueued,
            1000,
        ))
        .unwrap();
    }
    // A read on a reader connection, so that every connection has touched the WAL.
    assert_eq!(wait(store.queue_depths(&mn("R"))).unwrap()[0].pending, 20);
    let wal = dir.path().join("opensmev.db-wal");
    assert!(wal.exists(), "WAL mode while open");
    drop(store);
    assert!(!wal.exists(), "the WAL is checkpointed and removed");
    assert!(!dir.path().join("opensmev.db-shm").exists());
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(wait(store.queue_depths(&mn("R"))).unwrap()[0].pending, 20);
}

/// Polls until ready (the store's threads do the work; this thread just waits).
fn wait<T>(mut future: std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + '_>>) -> T {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_concurrent_calls() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let before = store.commits();
    let tasks: Vec<_> = (1..=500)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .enqueue(
                        request(n, "S", "R"),
                        InteractionStatus::RequestIsQueued,
                        1000,
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert!(matches!(
            task.await.unwrap().unwrap(),
            Enqueued::Accepted { .. }
        ));
    }
    let commits = store.commits() - before;
    assert!(
        (1..500).contains(&commits),
        "500 enqueues took {commits} commits"
    );
    let depths = store.queue_depths(&mn("R")).await.unwrap();
    assert_eq!(depths.iter().map(|d| d.pending).sum::<u64>(), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_call_does_not_disturb_its_batch() {
    // A time the store cannot represent fails that one enqueue; the others in flight commit.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let tasks: Vec<_> = (1..=50)
        .map(|n| {
            let store = Arc::clone(&store);
            let mut message = request(n, "S", "R");
            if n % 10 == 0 {
                message.eol = Some(time::macros::datetime!(-0001-01-01 00:00 UTC));
            }
            tokio::spawn(async move {
                store
                    .enqueue(message, InteractionStatus::RequestIsQueued, 1000)
                    .await
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let n = i + 1;
        match task.await.unwrap() {
            Ok(Enqueued::Accepted { .. }) => assert!(n % 10 != 0, "{n} should have failed"),
            Err(StoreError::Backend(_)) => assert!(n % 10 == 0, "{n} should have been accepted"),
            other => panic!("{n}: {other:?}"),
        }
    }
    assert_eq!(store.queue_depths(&mn("R")).await.unwrap()[0].pending, 45);
    assert_eq!(
        store.message(&mid(10)).await.unwrap(),
        None,
        "rolled back alone"
    );
    assert!(store.message(&mid(11)).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_rows_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    for n in 1..=4 {
        store
            .enqueue(request(n, "S", "R"), InteractionStatus::RequestIsQueued, 10)
            .await
            .unwrap();
    }
    store
        .save_registry("x".into(), None, false, at(1), None)
        .await
        .unwrap();
    tamper(
        dir.path(),
        "UPDATE messages SET sender = '' WHERE id = ?1",
        &mid(1).to_string(),
    );
    tamper(
        dir.path(),
        "UPDATE messages SET status = 'bogus' WHERE id = ?1",
        &mid(2).to_string(),
    );
    tamper(
        dir.path(),
        "UPDATE deliveries SET first_delivered_at = 'yesterday' WHERE message_seq = (SELECT seq FROM messages WHERE id = ?1)",
        &mid(3).to_string(),
    );
    tamper(
        dir.path(),
        "UPDATE journal SET kind = 'zzz' WHERE message_seq = (SELECT seq FROM messages WHERE id = ?1)",
        &mid(4).to_string(),
    );
    tamper(
        dir.path(),
        "UPDATE registry_versions SET saved_at = ?1",
        "2026",
    );
    for n in 1..=3 {
        match store.message(&mid(n)).await {
            Err(StoreError::Corrupt(why)) => assert!(why.contains("messages seq"), "{why}"),
            other => panic!("message {n}: expected Corrupt, got {other:?}"),
        }
    }
    assert!(matches!(
        store.journal(&mid(4)).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.registry().await,
        Err(StoreError::Corrupt(_))
    ));
    // A corrupt message in the queue fails the lease (and changes nothing), not the store.
    let err = store
        .lease_next(poll("R", MessageKind::Request, at(1)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert_eq!(
        store
            .ack(&mn("R"), &mid(4), true, delivered, at(2))
            .await
            .unwrap(),
        AckOutcome::NotFound
    );
    assert!(
        store.message(&mid(4)).await.unwrap().is_some(),
        "the store still works"
    );
}

#[test]
fn a_newer_or_foreign_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match SqliteStore::open(dir.path()) {
        Err(StoreError::Corrupt(why)) => assert!(why.contains("schema version 99"), "{why}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }

    let other = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(other.path().join(DB_FILE)).unwrap();
    conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(other.path()),
        Err(StoreError::Corrupt(_))
    ));

    let garbage = tempfile::tempdir().unwrap();
    std::fs::write(garbage.path().join(DB_FILE), vec![0x5A; 8192]).unwrap();
    let err = SqliteStore::open(garbage.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        let message = request(1, "S", "R");
        store
            .enqueue(message, InteractionStatus::RequestIsQueued, 10)
            .await
            .unwrap();
    }
    // Make it a file as migration 1 alone left it.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(UNDO_MIGRATIONS_4_TO_9).unwrap();
    conn.execute_batch(
        "DROP INDEX deliveries_leases; DROP INDEX attachments_files;
         ALTER TABLE attachments DROP COLUMN file; ALTER TABLE attachments DROP COLUMN file_len;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(dir.path()).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let index: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'deliveries_leases'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((version, index), (opensmev_store_sqlite::SCHEMA_VERSION, 1));
    let leased = store
        .lease_next(poll("R", MessageKind::Request, at(1)))
        .await
        .unwrap();
    assert_eq!(leased.map(|m| m.message.id), Some(mid(1)));
    assert_eq!(
        store
            .lease_next(poll("R", MessageKind::Request, at(1000)))
            .await
            .unwrap()
            .map(|m| m.delivery_count),
        Some(2)
    );
}

/// Changes the database behind the store's back (a second connection; WAL allows it).
fn tamper(dir: &Path, sql: &str, arg: &str) {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let changed = conn.execute(sql, [arg]).unwrap();
    assert!(changed > 0, "{sql}");
}

/// Rough throughput: 2 KiB messages, 64 concurrent callers. Runs only with `OPENSMEV_BENCH=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_lease_ack_throughput() {
    if std::env::var("OPENSMEV_BENCH").as_deref() != Ok("1") {
        return;
    }
    const CALLERS: u32 = 64;
    const PER_CALLER: u32 = 300;
    let total = CALLERS * PER_CALLER;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let body = format!(
        "<q:Query xmlns:q=\"urn://example.test/requests/1.0\">{}</q:Query>",
        "Ж".repeat(1000)
    );
    assert!(body.len() > 2000 && body.len() < 2100);

    let started = Instant::now();
    let commits = store.commits();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|c| {
            let (store, body) = (Arc::clone(&store), body.clone());
            tokio::spawn(async move {
                for i in 0..PER_CALLER {
                    let mut message = request(1 + c * PER_CALLER + i, "S", "R");
                    message.sender_data = body.clone();
                    let outcome = store
                        .enqueue(message, InteractionStatus::RequestIsQueued, u64::MAX)
                        .await
                        .unwrap();
                    assert!(matches!(outcome, Enqueued::Accepted { .. }));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let batches = store.commits() - commits;
    eprintln!(
        "enqueue: {total} x 2 KiB, {CALLERS} callers: {secs:.2} s = {:.0} msg/s, {batches} commits ({:.1} msgs/commit)",
        f64::from(total) / secs,
        f64::from(total) / batches as f64
    );

    let started = Instant::now();
    let commits = store.commits();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut done = 0u32;
                let now = at(100);
                while let Some(m) = store
                    .lease_next(poll("R", MessageKind::Request, now))
                    .await
                    .unwrap()
                {
                    let outcome = store
                        .ack(
                            &mn("R"),
                            &m.message.id,
                            true,
                            delivered,
                            now + Duration::seconds(1),
                        )
                        .await
                        .unwrap();
                    assert_eq!(outcome, AckOutcome::Acked);
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut done = 0;
    for task in tasks {
        done += task.await.unwrap();
    }
    assert_eq!(done, total);
    let secs = started.elapsed().as_secs_f64();
    let batches = store.commits() - commits;
    eprintln!(
        "lease+ack: {total} messages, {CALLERS} callers: {secs:.2} s = {:.0} msg/s ({} calls), {batches} commits ({:.1} calls/commit)",
        f64::from(total) / secs,
        2 * total,
        f64::from(2 * total) / batches as f64
    );
    let size = std::fs::metadata(dir.path().join(DB_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!("database file: {:.1} MiB", size as f64 / (1 << 20) as f64);
}

/// The ack rule of these tests.
fn delivered(_: MessageKind, _: bool) -> (InteractionStatus, Option<&'static str>) {
    (InteractionStatus::MessageIsDelivered, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_files_are_moved_in_and_orphans_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let spool = tempfile::tempdir_in(dir.path()).unwrap();
    let source = spool.path().join("part");
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&source, &bytes).unwrap();
    let files = dir.path().join(opensmev_store_sqlite::FILES_DIR);
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(&files)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        let mut message = request(1, "S", "R");
        message.attachments = vec![opensmev_store::Attachment {
            content_id: "a".into(),
            mime_type: "application/octet-stream".into(),
            data: opensmev_store::Blob::File {
                path: source.clone(),
                len: bytes.len() as u64,
            },
        }];
        store
            .enqueue(message, InteractionStatus::RequestIsQueued, 10)
            .await
            .unwrap();
        assert!(!source.exists(), "the file was moved, not copied");
        assert_eq!(listing().len(), 1);
        // A wrong announced size is refused and leaves nothing behind.
        std::fs::write(&source, b"short").unwrap();
        let mut message = request(2, "S", "R");
        message.attachments = vec![opensmev_store::Attachment {
            content_id: "a".into(),
            mime_type: "application/octet-stream".into(),
            data: opensmev_store::Blob::File {
                path: source.clone(),
                len: 6,
            },
        }];
        assert!(
            store
                .enqueue(message, InteractionStatus::RequestIsQueued, 10)
                .await
                .is_err()
        );
        assert_eq!(listing().len(), 1);
    }
    let kept = listing();
    std::fs::write(files.join("orphan.0.1-1"), b"left by a crash").unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        listing(),
        kept,
        "the orphan is removed, the stored file kept"
    );
    let stored = store.message(&mid(1)).await.unwrap().unwrap();
    let data = &stored.message.attachments[0].data;
    assert!(matches!(data, opensmev_store::Blob::File { path, .. } if path.starts_with(&files)));
    assert_eq!(data.to_vec().unwrap(), bytes);
    // The database holds no copy of the bytes.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let stored_bytes: i64 = conn
        .query_row("SELECT sum(length(data)) FROM attachments", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored_bytes, 0);
}

/// Turns a file of the current schema version back into one of version 3 (what migrations 4 to
/// 9 added, taken away again).
const UNDO_MIGRATIONS_4_TO_9: &str = "
    DROP INDEX deliveries_push; DROP INDEX deliveries_fair; DROP INDEX deliveries_queue;
    DROP INDEX deliveries_typed;
    CREATE INDEX deliveries_queue ON deliveries (recipient, kind, state, priority DESC, message_seq);
    CREATE INDEX deliveries_typed
        ON deliveries (recipient, kind, type_ns, type_local, state, priority DESC, message_seq);
    DROP TABLE fair_tags; ALTER TABLE deliveries DROP COLUMN vtime;
    ALTER TABLE messages DROP COLUMN share;
    DROP INDEX deliveries_dead; ALTER TABLE deliveries DROP COLUMN dead_reason;
    ALTER TABLE deliveries DROP COLUMN dead_at; ALTER TABLE deliveries DROP COLUMN push;
    DROP TABLE once_keys; DROP TABLE case_events; DROP TABLE cases; DROP TABLE settings;
    DROP TABLE web_sessions; DROP TABLE login_failures; DROP TABLE drafts;
    DROP TABLE jobs;
    DROP INDEX messages_client_id; DROP INDEX messages_sender; DROP INDEX messages_recipient;
    DROP INDEX messages_vs_id; DROP INDEX messages_sent_at; DROP INDEX messages_original;
    ALTER TABLE messages DROP COLUMN client_id;
    ALTER TABLE journal DROP COLUMN node; ALTER TABLE journal DROP COLUMN actor;
    ALTER TABLE journal DROP COLUMN attempt;
    DROP TABLE tokens; DROP TABLE accounts; DROP TABLE audit;
    PRAGMA user_version = 3;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        for n in 1..=2 {
            store
                .enqueue(request(n, "S", "R"), InteractionStatus::RequestIsQueued, 10)
                .await
                .unwrap();
        }
        store
            .lease_next(poll("R", MessageKind::Request, at(10)))
            .await
            .unwrap()
            .expect("leased");
        store
            .save_registry("[v3]".into(), None, false, at(11), None)
            .await
            .unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(UNDO_MIGRATIONS_4_TO_9).unwrap();
    drop(conn);

    let store = SqliteStore::open_on_node(dir.path(), Some("n2")).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, opensmev_store_sqlite::SCHEMA_VERSION);
    drop(conn);

    // What was there reads back; events recorded before know no node, actor or attempt.
    let old = store.message(&mid(1)).await.unwrap().expect("kept");
    assert_eq!(old.message.client_id, None);
    assert_eq!(old.state, DeliveryState::Leased);
    let events = store.journal(&mid(1)).await.unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.node.is_none() && e.actor.is_none() && e.attempt.is_none()),
        "{events:?}"
    );
    assert_eq!(
        store.registry_version(1).await.unwrap().map(|r| r.text),
        Some("[v3]".to_owned())
    );
    // New events name the node.
    let again = store
        .lease_next(poll("R", MessageKind::Request, at(100)))
        .await
        .unwrap()
        .expect("redelivered");
    assert_eq!(again.delivery_count, 2);
    let last = store.journal(&mid(1)).await.unwrap().pop().unwrap();
    assert_eq!(
        (
            last.kind,
            last.node.as_deref(),
            last.actor.as_deref(),
            last.attempt
        ),
        (JournalKind::Redelivered, Some("n2"), Some("R"), Some(2))
    );
    // Client ids, search and the audit log work on the migrated file.
    let with_client_id = |n| opensmev_store::NewMessage {
        client_id: Some("c".into()),
        ..request(n, "S", "R")
    };
    let status = InteractionStatus::RequestIsQueued;
    assert!(matches!(
        store.enqueue(with_client_id(3), status, 10).await.unwrap(),
        Enqueued::Accepted { .. }
    ));
    assert!(matches!(
        store.enqueue(with_client_id(4), status, 10).await.unwrap(),
        Enqueued::Duplicate {
            by_client_id: true,
            ..
        }
    ));
    let found = store
        .search_messages(opensmev_store::MessageQuery {
            sender: Some(mn("S")),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        found.into_iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![mid(3), mid(2), mid(1)]
    );
    store.append_audit(audit_entry(at(5))).await.unwrap();
    assert_eq!(
        store
            .audit(opensmev_store::AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );
}

fn audit_entry(at: time::OffsetDateTime) -> opensmev_store::NewAuditEntry {
    opensmev_store::NewAuditEntry {
        at,
        actor: "admin".into(),
        action: "test".into(),
        target: "x".into(),
        detail: String::new(),
    }
}

/// `open` is `open_on_node` with no node: events name none (and still say who).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opened_without_a_node_journals_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.node(), None);
    store
        .enqueue(request(1, "S", "R"), InteractionStatus::RequestIsQueued, 10)
        .await
        .unwrap();
    let events = store.journal(&mid(1)).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].node.as_deref(), events[0].actor.as_deref()),
        (None, Some("S"))
    );
    drop(store);
    let store = SqliteStore::open_on_node(dir.path(), Some("другой")).unwrap();
    assert_eq!(store.node(), Some("другой"));
    store
        .set_status(&mid(1), InteractionStatus::Cancelled, None, at(1))
        .await
        .unwrap();
    let nodes: Vec<_> = store
        .journal(&mid(1))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.node)
        .collect();
    assert_eq!(nodes, vec![None, Some("другой".to_owned())]);
}

/// An audit entry the store cannot write (its time is out of range) undoes the change it
/// belongs to: they are one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_entry_that_cannot_be_written_undoes_its_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let bad = || audit_entry(time::macros::datetime!(-0001-01-01 00:00 UTC));
    let good = || audit_entry(at(1));
    assert!(
        store
            .save_registry("[a]".into(), None, false, at(1), Some(bad()))
            .await
            .is_err()
    );
    assert_eq!(store.registry().await.unwrap(), None);

    let token = opensmev_store::TokenRecord {
        id: "tok_1".into(),
        secret_hash: [7; 32],
        name: "t".into(),
        role: opensmev_types::Role::Operator,
        system: None,
        account: None,
        created_by: "admin".into(),
        created_at: at(1),
        expires_at: None,
        revoked_at: None,
    };
    assert!(store.create_token(token.clone(), bad()).await.is_err());
    assert_eq!(store.tokens().await.unwrap(), vec![]);
    store.create_token(token.clone(), good()).await.unwrap();
    assert!(store.revoke_token("tok_1", at(2), bad()).await.is_err());
    assert_eq!(
        store.token_by_secret_hash(&[7; 32]).await.unwrap(),
        Some(token)
    );

    let account = opensmev_store::Account {
        login: "ivan".into(),
        name: "Иван".into(),
        role: opensmev_types::Role::Auditor,
        system: None,
        password_hash: None,
        must_change_password: false,
        disabled: false,
        created_at: at(1),
    };
    assert!(store.create_account(account.clone(), bad()).await.is_err());
    assert_eq!(store.account("ivan").await.unwrap(), None);
    store.create_account(account.clone(), good()).await.unwrap();
    let disabled = opensmev_store::Account {
        disabled: true,
        ..account.clone()
    };
    assert!(store.update_account(disabled, bad()).await.is_err());
    assert_eq!(store.account("ivan").await.unwrap(), Some(account));
    let entries = store
        .audit(opensmev_store::AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 2, "only the two good entries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_access_rows_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let token = opensmev_store::TokenRecord {
        id: "tok_1".into(),
        secret_hash: [7; 32],
        name: "t".into(),
        role: opensmev_types::Role::Is,
        system: Some(mn("S")),
        account: None,
        created_by: "admin".into(),
        created_at: at(1),
        expires_at: None,
        revoked_at: None,
    };
    store.create_token(token, audit_entry(at(1))).await.unwrap();
    let account = opensmev_store::Account {
        login: "ivan".into(),
        name: "Иван".into(),
        role: opensmev_types::Role::Auditor,
        system: None,
        password_hash: None,
        must_change_password: false,
        disabled: false,
        created_at: at(1),
    };
    store
        .create_account(account, audit_entry(at(1)))
        .await
        .unwrap();
    tamper(
        dir.path(),
        "UPDATE tokens SET system = '' WHERE id = ?1",
        "tok_1",
    );
    tamper(
        dir.path(),
        "UPDATE accounts SET role = 'root' WHERE login = ?1",
        "ivan",
    );
    tamper(dir.path(), "UPDATE audit SET at = ?1", "yesterday");
    assert!(matches!(store.tokens().await, Err(StoreError::Corrupt(_))));
    assert!(matches!(
        store.token_by_secret_hash(&[7; 32]).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.account("ivan").await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.audit(opensmev_store::AuditQuery::default()).await,
        Err(StoreError::Corrupt(_))
    ));
    // A secret hash of the wrong length.
    tamper(
        dir.path(),
        "UPDATE tokens SET system = NULL, secret_hash = x'0102' WHERE id = ?1",
        "tok_1",
    );
    match store.tokens().await {
        Err(StoreError::Corrupt(why)) => assert!(why.contains("secret hash"), "{why}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
