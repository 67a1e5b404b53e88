//! The conformance suite on PostgreSQL, and behaviours only a shared database has: two store
//! handles ("nodes") on one database leasing concurrently, signals across nodes, concurrent
//! migrations and an older schema's migration, large attachments through the chunk table and
//! the cache.
//!
//! Every store gets a database of its own (`osmv_t_<pid>_<n>`), created through the admin
//! connection string in `OSMV_TEST_POSTGRES` (default: the local server's socket as
//! `postgres`) and dropped at the end, also when a test fails. A server that cannot be reached
//! fails the tests, naming the variable: CI starts PostgreSQL, nothing is skipped silently.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opensmev_store::conformance::{self, NODE, at, mid, mn, poll, request};
use opensmev_store::{
    Attachment, Blob, DeadLetterQuery, Enqueued, LeaseOutcome, LeaseRequest, QueueSignal, Store,
    StoreError, StoredMessage,
};
use opensmev_store_postgres::{PgOptions, PostgresStore, SCHEMA_VERSION};
use opensmev_types::{DeliveryMode, InteractionStatus, MessageKind};
use tokio_postgres::NoTls;

const ENV: &str = "OSMV_TEST_POSTGRES";
const DEFAULT_ADMIN: &str = "host=/var/run/postgresql user=postgres dbname=postgres";
const PREFIX: &str = "osmv_t_";

/// The test server: creates databases, and drops them when dropped.
struct Server {
    admin: String,
    created: Mutex<Vec<String>>,
    cache: tempfile::TempDir,
}

/// Numbers the databases of this process (tests run in parallel).
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// Runs a statement on the admin database.
async fn admin_execute(admin: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(admin, NoTls).await?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(sql).await;
    drop(client);
    let _ = driver.await;
    result
}

/// A connection string without its password (for messages).
fn redacted(conn: &str) -> String {
    if conn.contains("://") {
        // scheme://user:password@hosts/…
        match (conn.find("://"), conn.find('@')) {
            (Some(start), Some(at)) if conn[start + 3..at].contains(':') => {
                let colon = start + 3 + conn[start + 3..at].find(':').unwrap_or(0);
                format!("{}:***{}", &conn[..colon], &conn[at..])
            }
            _ => conn.to_owned(),
        }
    } else {
        conn.split_whitespace()
            .map(|pair| {
                if pair.starts_with("password=") {
                    "password=***"
                } else {
                    pair
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `admin` with another database name.
fn with_dbname(admin: &str, db: &str) -> String {
    if let Some(rest) = admin
        .strip_prefix("postgres://")
        .or_else(|| admin.strip_prefix("postgresql://"))
    {
        let scheme = &admin[..admin.len() - rest.len()];
        let (main, query) = match rest.split_once('?') {
            Some((main, query)) => (main, Some(query)),
            None => (rest, None),
        };
        let authority = main.split_once('/').map_or(main, |(a, _)| a);
        let mut url = format!("{scheme}{authority}/{db}");
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        url
    } else {
        format!("{admin} dbname={db}")
    }
}

impl Server {
    async fn new() -> Arc<Server> {
        let admin = std::env::var(ENV).unwrap_or_else(|_| DEFAULT_ADMIN.to_owned());
        let (client, connection) = match tokio_postgres::connect(&admin, NoTls).await {
            Ok(pair) => pair,
            Err(e) => panic!(
                "cannot reach the PostgreSQL test server through {ENV}={:?}: {e} \
                 ({:?}). Start PostgreSQL or set {ENV} to an admin connection string \
                 (a role that may CREATE DATABASE).",
                redacted(&admin),
                std::error::Error::source(&e)
            ),
        };
        let driver = tokio::spawn(connection);
        // Databases left by earlier runs that died (their process is gone).
        let rows = client
            .query(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
                &[&PREFIX],
            )
            .await
            .expect("listing databases");
        for row in rows {
            let name: String = row.get(0);
            let pid = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            }
        }
        drop(client);
        let _ = driver.await;
        Arc::new(Server {
            admin,
            created: Mutex::new(Vec::new()),
            cache: tempfile::tempdir().expect("a temporary directory"),
        })
    }

    /// A new empty database: its name and connection string.
    async fn database(&self) -> (String, String) {
        let n = DATABASES.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}_{n}", std::process::id());
        admin_execute(&self.admin, &format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("creating database {name}: {e:?}"));
        self.created.lock().unwrap().push(name.clone());
        let url = with_dbname(&self.admin, &name);
        (name, url)
    }

    /// A store on `url` for `node`, with a cache directory of its own.
    async fn open(&self, url: &str, db: &str, node: &str) -> PostgresStore {
        PostgresStore::connect(
            url,
            PgOptions {
                node: Some(node.to_owned()),
                pool_size: 16,
                migrate: true,
                cache_dir: self.cache_dir(db, node),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("connecting to {db}: {e}"))
    }

    fn cache_dir(&self, db: &str, node: &str) -> PathBuf {
        self.cache.path().join(db).join(node)
    }

    /// A store on a new database, opened on [`NODE`].
    async fn store(&self) -> PostgresStore {
        let (name, url) = self.database().await;
        self.open(&url, &name, NODE).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        if names.is_empty() {
            return;
        }
        let admin = self.admin.clone();
        // Dropping runs on a thread with a runtime of its own: this may run while a test panics,
        // inside the test's runtime.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                for name in names {
                    if let Err(e) = admin_execute(
                        &admin,
                        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    )
                    .await
                    {
                        eprintln!("dropping database {name}: {e:?}");
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let server = Server::new().await;
    let make = {
        let server = Arc::clone(&server);
        move || {
            let server = Arc::clone(&server);
            async move { Arc::new(server.store().await) as Arc<dyn Store> }
        }
    };
    conformance::run_all(make).await;
}

/// Collects every message a set of concurrent lease loops gets.
async fn lease_all(
    stores: &[PostgresStore],
    loops_per_store: usize,
    now: time::OffsetDateTime,
) -> Vec<StoredMessage> {
    let mut tasks = Vec::new();
    for store in stores {
        for _ in 0..loops_per_store {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(m) = store
                    .lease_next(poll("R", MessageKind::Request, now))
                    .await
                    .expect("lease_next")
                {
                    got.push(m);
                }
                got
            }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a leasing task"));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_lease_one_message_twice() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let a = server.open(&url, &db, "node-a").await;
    let b = server.open(&url, &db, "node-b").await;
    for n in 1..=200 {
        let store = if n % 2 == 0 { &a } else { &b };
        let outcome = store
            .enqueue(
                request(n, "S", "R"),
                InteractionStatus::RequestIsQueued,
                conformance::NO_QUOTA,
            )
            .await
            .expect("enqueue");
        assert!(matches!(outcome, Enqueued::Accepted { .. }), "{outcome:?}");
    }
    let leased = lease_all(&[a.clone(), b.clone()], 4, at(1)).await;
    let ids: HashSet<_> = leased.iter().map(|m| m.message.id.clone()).collect();
    assert_eq!(ids.len(), leased.len(), "a message was handed out twice");
    assert_eq!(ids, (1..=200).map(mid).collect::<HashSet<_>>());
    assert!(leased.iter().all(|m| m.delivery_count == 1));
    // Each hand-out is journaled by the node that made it.
    let journal = a.journal(&leased[0].message.id).await.expect("journal");
    assert_eq!(journal.len(), 2);
    assert!(
        matches!(journal[1].node.as_deref(), Some("node-a" | "node-b")),
        "{journal:?}"
    );
    // Both nodes see every lease: nothing is left, and once the leases run out each message is
    // handed out once more, still exactly once.
    assert_eq!(
        a.lease_next(poll("R", MessageKind::Request, at(2)))
            .await
            .expect("lease_next"),
        None
    );
    let again = lease_all(&[a.clone(), b.clone()], 1, at(1000)).await;
    assert_eq!(again.len(), 200);
    assert!(again.iter().all(|m| m.delivery_count == 2));
    let ids: HashSet<_> = again.iter().map(|m| m.message.id.clone()).collect();
    assert_eq!(ids.len(), 200);
}

/// The next signal heard (within 10 s).
async fn next(heard: &mut tokio::sync::mpsc::UnboundedReceiver<QueueSignal>) -> QueueSignal {
    tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .expect("a signal within 10 s")
        .expect("the channel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_reach_every_node() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let a = server.open(&url, &db, "node-a").await;
    let b = server.open(&url, &db, "node-b").await;
    let (sender, mut heard) = tokio::sync::mpsc::unbounded_channel();
    b.listen(Arc::new(move |signal: QueueSignal| {
        let _ = sender.send(signal);
    }));

    let mut bound = request(1, "S", "R");
    bound.target_node_id = Some("узел\t%2".to_owned());
    a.enqueue(
        bound,
        InteractionStatus::RequestIsQueued,
        conformance::NO_QUOTA,
    )
    .await
    .expect("enqueue");
    assert_eq!(
        next(&mut heard).await,
        QueueSignal {
            recipient: mn("R"),
            kind: MessageKind::Request,
            node: Some("узел\t%2".to_owned()),
        }
    );

    // A refused enqueue signals nothing; a released lease signals its queue.
    let full = a
        .enqueue(request(2, "S", "R"), InteractionStatus::RequestIsQueued, 1)
        .await
        .expect("enqueue");
    assert!(matches!(full, Enqueued::QueueFull { .. }), "{full:?}");
    a.enqueue(
        conformance::response(3, "P", "C", None),
        InteractionStatus::ResponseIsQueued,
        conformance::NO_QUOTA,
    )
    .await
    .expect("enqueue");
    assert_eq!(
        next(&mut heard).await,
        QueueSignal {
            recipient: mn("C"),
            kind: MessageKind::Response,
            node: None,
        },
        "the refused enqueue sent nothing before this one"
    );
    let leased = a
        .lease_next(poll("C", MessageKind::Response, at(1)))
        .await
        .expect("lease_next")
        .expect("leased");
    assert!(
        a.settle_lease(
            &mn("C"),
            &leased.message.id,
            1,
            opensmev_store::LeaseOutcome::Release,
            at(2)
        )
        .await
        .expect("settle_lease")
    );
    assert_eq!(next(&mut heard).await.recipient, mn("C"));

    // A node id too long for a notification wakes the whole queue.
    let mut long = request(4, "S", "R2");
    long.target_node_id = Some("n".repeat(9000));
    a.enqueue(
        long,
        InteractionStatus::RequestIsQueued,
        conformance::NO_QUOTA,
    )
    .await
    .expect("enqueue");
    let signal = next(&mut heard).await;
    assert_eq!((signal.recipient, signal.node), (mn("R2"), None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_end_at_the_current_version() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::migrate(&url).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.push(run.await.expect("a migrating task").expect("migrate"));
    }
    assert!(
        outcomes.iter().all(|&(_, after)| after == SCHEMA_VERSION),
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().any(|&(before, _)| before == 0),
        "{outcomes:?}"
    );
    assert_eq!(
        PostgresStore::migrate(&url).await.expect("migrate"),
        (SCHEMA_VERSION, SCHEMA_VERSION)
    );
    // A store opens on it without migrating; a newer schema is refused and left alone.
    let store = PostgresStore::connect(
        &url,
        PgOptions {
            migrate: false,
            cache_dir: server.cache_dir(&db, "x"),
            ..PgOptions::default()
        },
    )
    .await
    .expect("connect without migrating");
    drop(store);
    admin_execute(
        &url,
        &format!(
            "INSERT INTO opensmev_schema (version) VALUES ({})",
            SCHEMA_VERSION + 1
        ),
    )
    .await
    .expect("marking a newer schema");
    match PostgresStore::migrate(&url).await {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("a newer schema: expected Corrupt, got {other:?}"),
    }
    let opened = PostgresStore::connect(
        &url,
        PgOptions {
            migrate: false,
            cache_dir: server.cache_dir(&db, "y"),
            ..PgOptions::default()
        },
    )
    .await;
    assert!(matches!(opened, Err(StoreError::Corrupt(_))), "{opened:?}");
}

/// Turns a database of the current schema version back into one of version 3 (what migration 5
/// added: fair order among senders, and migration 4: push delivery and the dead-letter queue,
/// undone).
const UNDO_MIGRATIONS_5_AND_4: &str = "
    DROP INDEX deliveries_fair;
    DROP INDEX deliveries_queue;
    DROP INDEX deliveries_typed;
    DROP TABLE fair_tags;
    ALTER TABLE deliveries DROP COLUMN vtime;
    ALTER TABLE messages DROP COLUMN share;
    CREATE INDEX deliveries_queue ON deliveries (recipient, kind, priority DESC, message_seq)
        WHERE state = 'queued';
    CREATE INDEX deliveries_typed
        ON deliveries (recipient, kind, type_ns, type_local, priority DESC, message_seq)
        WHERE state = 'queued';
    DROP INDEX deliveries_dead;
    ALTER TABLE deliveries
        DROP COLUMN push,
        DROP COLUMN dead_at,
        DROP COLUMN dead_reason,
        DROP CONSTRAINT deliveries_state_check,
        ADD CONSTRAINT deliveries_state_check
            CHECK (state IN ('queued', 'leased', 'acked', 'expired', 'undeliverable'));
    DELETE FROM opensmev_schema WHERE version > 3;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_database_is_migrated() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let push = |n: u32| {
        let mut m = request(n, "S", "R");
        m.delivery_mode = DeliveryMode::Push;
        m
    };
    let store = server.open(&url, &db, NODE).await;
    let outcome = store
        .enqueue(
            push(1),
            InteractionStatus::RequestIsQueued,
            conformance::NO_QUOTA,
        )
        .await
        .expect("enqueue");
    assert!(matches!(outcome, Enqueued::Accepted { .. }), "{outcome:?}");
    drop(store);
    admin_execute(&url, UNDO_MIGRATIONS_5_AND_4)
        .await
        .expect("undoing migrations 5 and 4");
    assert_eq!(
        PostgresStore::migrate(&url).await.expect("migrate"),
        (3, SCHEMA_VERSION)
    );
    let store = server.open(&url, &db, NODE).await;
    let pushing = |now| LeaseRequest {
        push: true,
        ..poll("R", MessageKind::Request, now)
    };
    // A delivery queued before push delivery existed is polled, not pushed.
    let outcome = store
        .enqueue(
            push(2),
            InteractionStatus::RequestIsQueued,
            conformance::NO_QUOTA,
        )
        .await
        .expect("enqueue");
    assert!(matches!(outcome, Enqueued::Accepted { .. }), "{outcome:?}");
    let pushed = store
        .lease_next(pushing(at(1)))
        .await
        .expect("lease_next")
        .expect("the push delivery");
    assert_eq!(pushed.message.id, mid(2));
    assert_eq!(
        store.lease_next(pushing(at(1))).await.expect("lease_next"),
        None
    );
    let polled = store
        .lease_next(poll("R", MessageKind::Request, at(1)))
        .await
        .expect("lease_next")
        .expect("the older delivery");
    assert_eq!(polled.message.id, mid(1));
    assert_eq!(
        polled.message.share, 1,
        "a message of before fair order has share 1"
    );
    // The migrated table takes dead letters.
    assert!(
        store
            .settle_lease(
                &mn("R"),
                &mid(2),
                1,
                LeaseOutcome::DeadLetter {
                    detail: "connection refused".to_owned(),
                    reason: "gave up".to_owned(),
                },
                at(2),
            )
            .await
            .expect("settle")
    );
    let letters = store
        .dead_letters(DeadLetterQuery::default())
        .await
        .expect("dead_letters");
    assert_eq!(
        letters
            .iter()
            .map(|l| (l.id.clone(), l.dead_at, l.reason.as_str()))
            .collect::<Vec<_>>(),
        vec![(mid(2), at(2), "gave up")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_file_attachments_round_trip_through_chunks_and_the_cache() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let a = server.open(&url, &db, "node-a").await;
    let b = server.open(&url, &db, "node-b").await;
    let spool = tempfile::tempdir().expect("a temporary directory");
    let big: Vec<u8> = (0..3 * (1 << 20) + 12_345u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = spool.path().join("part-1");
    std::fs::write(&path, &big).expect("writing the spool file");
    let exact: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
    let mut message = request(1, "S", "R");
    message.attachments = vec![
        Attachment {
            content_id: "big".to_owned(),
            mime_type: "application/octet-stream".to_owned(),
            data: Blob::File {
                path: path.clone(),
                len: big.len() as u64,
            },
        },
        Attachment {
            content_id: "one-mib".to_owned(),
            mime_type: "application/octet-stream".to_owned(),
            data: Blob::Bytes(exact.clone()),
        },
    ];
    a.enqueue(
        message,
        InteractionStatus::RequestIsQueued,
        conformance::NO_QUOTA,
    )
    .await
    .expect("enqueue");
    assert!(path.exists(), "the store does not move the caller's file");
    std::fs::remove_file(&path).expect("the caller removes its file");

    let leased = b
        .lease_next(poll("R", MessageKind::Request, at(1)))
        .await
        .expect("lease_next")
        .expect("leased");
    let [first, second] = &leased.message.attachments[..] else {
        panic!("two attachments: {:?}", leased.message.attachments);
    };
    let Blob::File { path: cached, len } = &first.data else {
        panic!("a large attachment comes back as a file: {:?}", first.data);
    };
    assert_eq!(*len, big.len() as u64);
    assert!(
        cached.starts_with(server.cache_dir(&db, "node-b")),
        "{cached:?}"
    );
    assert!(first.data.to_vec().expect("reading the cache file") == big);
    assert_eq!(second.data, Blob::Bytes(exact), "1 MiB stays inline");

    // Read again: the cache file is reused (the same file, not written anew: same inode), and
    // touched, so its idle time for eviction starts again.
    let before = std::fs::metadata(cached).expect("cache file");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = b.message(&mid(1)).await.expect("message").expect("found");
    assert_eq!(again.message.attachments[0].data, first.data);
    let after = std::fs::metadata(cached).expect("cache file");
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&after),
        std::os::unix::fs::MetadataExt::ino(&before),
        "reused, not rewritten"
    );
    assert!(
        after.modified().expect("mtime") > before.modified().expect("mtime"),
        "touched on reuse"
    );
    // A cache file that lost its bytes is written anew.
    std::fs::write(cached, b"truncated").expect("damaging the cache file");
    let again = b.message(&mid(1)).await.expect("message").expect("found");
    assert!(again.message.attachments[0].data.to_vec().expect("reading") == big);

    // The bytes are in the database, in 1 MiB chunks: four rows.
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connecting");
    let driver = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) AS chunks, sum(length(data))::bigint AS bytes,
                 max(length(data)) AS largest FROM attachment_chunks",
            &[],
        )
        .await
        .expect("counting chunks");
    assert_eq!(row.get::<_, i64>("chunks"), 4);
    assert_eq!(row.get::<_, i64>("bytes"), big.len() as i64);
    assert_eq!(row.get::<_, i32>("largest"), 1 << 20);
    drop(client);
    let _ = driver.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable_not_a_hang() {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let opened = PostgresStore::connect(
        "host=127.0.0.1 port=1 user=nobody dbname=nothing connect_timeout=3",
        PgOptions {
            cache_dir: dir.path().to_owned(),
            ..PgOptions::default()
        },
    )
    .await;
    assert!(
        matches!(opened, Err(StoreError::Unavailable(_))),
        "{opened:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Every connection of the database is killed (as by a restart or a failover): the pools drop
/// their broken connections instead of reusing them, and the signal connection comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_are_replaced_and_signals_resume() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let a = server.open(&url, &db, "node-a").await;
    let b = server.open(&url, &db, "node-b").await;
    let (sender, mut heard) = tokio::sync::mpsc::unbounded_channel();
    b.listen(Arc::new(move |signal: QueueSignal| {
        let _ = sender.send(signal);
    }));
    // Warm both pools up.
    for store in [&a, &b] {
        store.queue_depths(&mn("R")).await.expect("queue_depths");
    }
    admin_execute(
        &url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await
    .expect("terminating the store's connections");
    // The next calls get fresh connections.
    for store in [&a, &b] {
        assert_eq!(
            store.queue_depths(&mn("R")).await.expect("queue_depths"),
            vec![]
        );
    }
    // Signals resume once the listening connection is back (it reconnects within a second).
    let mut n = 0;
    let signal = loop {
        n += 1;
        a.enqueue(
            request(n, "S", "R"),
            InteractionStatus::RequestIsQueued,
            conformance::NO_QUOTA,
        )
        .await
        .expect("enqueue after the connections were killed");
        match tokio::time::timeout(Duration::from_millis(500), heard.recv()).await {
            Ok(signal) => break signal.expect("the channel"),
            Err(_) => assert!(
                n < 20,
                "no signal within 10 s of the connections being killed"
            ),
        }
    };
    assert_eq!(signal.recipient, mn("R"));
}

/// Dropping the last handle of a store closes its connections, the signal connection included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_store_closes_its_connections() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let store = server.open(&url, &db, "node-a").await;
    let clone = store.clone();
    clone.queue_depths(&mn("R")).await.expect("queue_depths");
    let count = || async {
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("connecting");
        let driver = tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'opensmev'",
                &[],
            )
            .await
            .expect("counting connections");
        drop(client);
        let _ = driver.await;
        row.get::<_, i64>(0)
    };
    assert!(
        count().await >= 2,
        "a pooled connection and the signal connection"
    );
    drop(store);
    assert!(count().await >= 2, "a clone keeps them open");
    drop(clone);
    let mut left = count().await;
    for _ in 0..50 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = count().await;
    }
    assert_eq!(left, 0, "connections left open after the store was dropped");
}

#[test]
fn test_databases_are_named_in_both_forms_of_connection_string() {
    assert_eq!(
        with_dbname(
            "host=127.0.0.1 port=5432 user=u password=p dbname=postgres",
            "x"
        ),
        "host=127.0.0.1 port=5432 user=u password=p dbname=postgres dbname=x"
    );
    assert_eq!(
        with_dbname(
            "postgres://u:p@h1:5432,h2/postgres?target_session_attrs=read-write",
            "x"
        ),
        "postgres://u:p@h1:5432,h2/x?target_session_attrs=read-write"
    );
    assert_eq!(with_dbname("postgresql://h", "x"), "postgresql://h/x");
    assert_eq!(
        redacted("host=h user=u password=secret dbname=d"),
        "host=h user=u password=*** dbname=d"
    );
    assert_eq!(redacted("postgres://u:secret@h/d"), "postgres://u:***@h/d");
    assert_eq!(redacted("postgres://u@h/d"), "postgres://u@h/d");
    let parsed: tokio_postgres::Config =
        with_dbname("host=h dbname=postgres", "x").parse().unwrap();
    assert_eq!(parsed.get_dbname(), Some("x"), "the last dbname wins");
}

// ------------------------------------------------------------------------------------------------
// Races between nodes and failures half-way through a poll. A test trigger that sleeps holds a
// store's transaction at a known point while another session acts.

/// Makes every insert into `table` of the database at `url` sleep `secs` seconds.
async fn slow_down(url: &str, table: &str, secs: f64) {
    admin_execute(
        url,
        &format!(
            "CREATE OR REPLACE FUNCTION osmv_test_slow() RETURNS trigger LANGUAGE plpgsql
                 AS $$ BEGIN PERFORM pg_sleep({secs}); RETURN NULL; END $$;
             CREATE TRIGGER osmv_test_slow AFTER INSERT ON {table}
                 FOR EACH ROW EXECUTE FUNCTION osmv_test_slow()"
        ),
    )
    .await
    .expect("creating the slow trigger");
}

/// Undoes [`slow_down`].
async fn speed_up(url: &str, table: &str) {
    admin_execute(url, &format!("DROP TRIGGER osmv_test_slow ON {table}"))
        .await
        .expect("dropping the slow trigger");
}

/// Waits until a session of the database at `url` sleeps in the test trigger.
async fn until_a_session_sleeps(url: &str) {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connecting");
    let driver = tokio::spawn(connection);
    for _ in 0..500 {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event = 'PgSleep'",
                &[],
            )
            .await
            .expect("reading pg_stat_activity");
        if row.get::<_, i64>(0) > 0 {
            drop(client);
            let _ = driver.await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no session slept in the test trigger within 10 s");
}

/// A delivery whose EOL passed, hidden from a poll's expiry by another session's lock (another
/// node's poll holding it, a release in progress) and let go before the poll picks its message,
/// is not handed out: it is expired, never delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_past_its_eol_is_not_leased_when_a_lock_hid_it_from_the_expiry() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let store = server.open(&url, &db, "node-a").await;
    for n in [1, 2] {
        let mut message = request(n, "S", "R");
        message.eol = Some(at(10));
        store
            .enqueue(
                message,
                InteractionStatus::RequestIsQueued,
                conformance::NO_QUOTA,
            )
            .await
            .expect("enqueue");
    }
    // Another session holds message 1's delivery.
    let (holder, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connecting");
    let driver = tokio::spawn(connection);
    holder.batch_execute("BEGIN").await.expect("BEGIN");
    holder
        .query(
            "SELECT 1 FROM deliveries d JOIN messages m ON m.seq = d.message_seq
             WHERE m.id = $1 FOR UPDATE OF d",
            &[&mid(1).as_str()],
        )
        .await
        .expect("locking message 1's delivery");
    // The poll expires message 2 (slowly: its sender's notice waits in the trigger) and skips
    // message 1; message 1 is let go while the poll is still expiring.
    slow_down(&url, "status_notices", 2.0).await;
    let poller = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .lease_next(poll("R", MessageKind::Request, at(20)))
                .await
        })
    };
    until_a_session_sleeps(&url).await;
    holder.batch_execute("COMMIT").await.expect("COMMIT");
    let leased = poller.await.expect("the poll").expect("lease_next");
    assert_eq!(
        leased.map(|m| (m.message.id, m.message.eol)),
        None,
        "a message whose EOL had passed was handed out at {}",
        at(20)
    );
    speed_up(&url, "status_notices").await;
    assert_eq!(
        store
            .lease_next(poll("R", MessageKind::Request, at(21)))
            .await
            .expect("lease_next"),
        None
    );
    let first = store
        .message(&mid(1))
        .await
        .expect("message")
        .expect("found");
    assert_eq!(first.state, opensmev_store::DeliveryState::Expired);
    assert_eq!(first.delivery_count, 0);
    drop(holder);
    let _ = driver.await;
}

/// A poll that locked a message it did not take (it took a better one) signals the queue when
/// it ends, so a poller that found the queue empty meanwhile — it skipped both locked messages —
/// does not sleep until its deadline while a message waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_that_held_a_message_it_did_not_take_signals_its_queue() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let a = server.open(&url, &db, "node-a").await;
    let b = server.open(&url, &db, "node-b").await;
    let (sender, mut heard) = tokio::sync::mpsc::unbounded_channel();
    b.listen(Arc::new(move |signal: QueueSignal| {
        let _ = sender.send(signal);
    }));
    let put = |n| {
        a.enqueue(
            request(n, "S", "R"),
            InteractionStatus::RequestIsQueued,
            conformance::NO_QUOTA,
        )
    };
    put(1).await.expect("enqueue");
    let first = a
        .lease_next(poll("R", MessageKind::Request, at(1)))
        .await
        .expect("lease_next")
        .expect("leased");
    assert_eq!(first.message.id, mid(1));
    put(2).await.expect("enqueue");
    for _ in 0..2 {
        assert_eq!(next(&mut heard).await.recipient, mn("R"));
    }

    // Node a's poll (message 1's lease ran out) takes message 1, the older, and holds message 2
    // until it ends (slowly: its journal event waits in the trigger).
    slow_down(&url, "journal", 3.0).await;
    let poller = {
        let a = a.clone();
        tokio::spawn(async move { a.lease_next(poll("R", MessageKind::Request, at(100))).await })
    };
    until_a_session_sleeps(&url).await;
    assert_eq!(
        b.lease_next(poll("R", MessageKind::Request, at(100)))
            .await
            .expect("lease_next"),
        None,
        "node b skips both held messages"
    );
    let taken = poller
        .await
        .expect("the poll")
        .expect("lease_next")
        .expect("leased");
    assert_eq!(taken.message.id, mid(1));
    speed_up(&url, "journal").await;
    assert_eq!(
        next(&mut heard).await,
        QueueSignal {
            recipient: mn("R"),
            kind: MessageKind::Request,
            node: None,
        },
        "message 2 is available again"
    );
    let second = b
        .lease_next(poll("R", MessageKind::Request, at(100)))
        .await
        .expect("lease_next")
        .expect("message 2");
    assert_eq!(second.message.id, mid(2));
}

/// The cache of large attachments may be deleted while the node runs (docs/postgres.md): it is
/// made again. A poll whose attachment cannot be read back at all fails without leasing: the
/// message is not left leased to no one until its lease runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_that_cannot_read_its_attachment_leaves_the_message_queued() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let store = server.open(&url, &db, "node-a").await;
    let cache = server.cache_dir(&db, "node-a");
    let big = vec![7u8; 3 << 20];
    let mut message = request(1, "S", "R");
    message.attachments = vec![Attachment {
        content_id: "big".to_owned(),
        mime_type: "application/octet-stream".to_owned(),
        data: Blob::Bytes(big.clone()),
    }];
    store
        .enqueue(
            message,
            InteractionStatus::RequestIsQueued,
            conformance::NO_QUOTA,
        )
        .await
        .expect("enqueue");

    // A file where the cache directory should be: the attachment cannot be spooled.
    std::fs::remove_dir_all(&cache).expect("deleting the cache");
    std::fs::write(&cache, b"not a directory").expect("blocking the cache");
    let failed = store
        .lease_next(poll("R", MessageKind::Request, at(1)))
        .await;
    assert!(failed.is_err(), "{failed:?}");
    let after = store.message(&mid(1)).await;
    assert!(
        after.is_err(),
        "reading it back fails the same way: {after:?}"
    );

    // The cache deleted outright (as an operator may): made again.
    std::fs::remove_file(&cache).expect("unblocking the cache");
    let leased = store
        .lease_next(poll("R", MessageKind::Request, at(2)))
        .await
        .expect("lease_next after the cache was deleted")
        .expect("the message is still queued");
    assert_eq!(leased.delivery_count, 1, "the failed poll leased nothing");
    assert!(
        leased.message.attachments[0]
            .data
            .to_vec()
            .expect("reading")
            == big
    );
    let journal = store.journal(&mid(1)).await.expect("journal");
    assert_eq!(journal.len(), 2, "accepted, delivered once: {journal:?}");
}

/// Opening a store on a cache directory another store is using (`opensmev doctor` on a running
/// node opens one on the node's own) keeps the files that store is writing; only temporary files
/// left long ago by an interrupted read are removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_store_keeps_cache_files_another_store_is_writing() {
    let server = Server::new().await;
    let (db, url) = server.database().await;
    let dir = server.cache_dir(&db, "shared");
    std::fs::create_dir_all(&dir).expect("the cache directory");
    let writing = dir.join(format!("1-{}-0.{}-0.part", mid(1), std::process::id()));
    std::fs::write(&writing, b"half of it").expect("a file being written");
    let left = dir.join(format!("2-{}-0.1-0.part", mid(2)));
    std::fs::write(&left, b"left by a crash").expect("a file left behind");
    std::fs::File::options()
        .write(true)
        .open(&left)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(24 * 3600)))
        .expect("making it old");
    let _store = server.open(&url, &db, "shared").await;
    assert!(writing.exists(), "a file being written was removed");
    assert!(!left.exists(), "a file left long ago is removed");
}
