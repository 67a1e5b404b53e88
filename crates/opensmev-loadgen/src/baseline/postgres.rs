//! The PostgreSQL baseline (`opensmev-load baseline postgres`): a raw `SKIP LOCKED` queue in one
//! PostgreSQL table doing the hops of a bus round trip, with the same payloads, the same closed
//! loop and the same HDR latency machinery as the RabbitMQ baseline, through `tokio-postgres` on
//! the tool's tokio runtime.
//!
//! A round trip here is what a bus round trip is, hop for hop:
//! * **request hop**: a producer (the bus run's consumer IS) `INSERT`s the request into the
//!   provider's queue in a transaction of its own, committed with `synchronous_commit` on (the
//!   bus answers `SendRequest` only after a durable commit), before the request counts as
//!   accepted; a handler (the bus run's provider IS) takes it with
//!   `DELETE … WHERE id = (SELECT id … WHERE queue = $1 ORDER BY id FOR UPDATE SKIP LOCKED
//!   LIMIT 1) RETURNING …` — receive and acknowledge in one committed transaction;
//! * **response hop**: the handler `INSERT`s the response into the producer's own reply queue
//!   (the bus run's `NodeID` queue), committed, and the producer takes it the same way. The round
//!   trip ends there.
//!
//! So one round trip = 2 durable hops = 4 durable commits (2 inserts, 2 deleting takes). The
//! handler takes (and so acks) the request before inserting the response, as the bus's provider
//! does (`GetRequest` → `Ack` → `SendResponse`).
//!
//! **Waking: polling with backoff**, the bus run's own policy (its pollers' `Backoff`): a worker
//! takes again at once after a message; after an empty take it sleeps 1 ms, doubling after each
//! further empty take up to `max_backoff` (20 ms, the bus run's default). `LISTEN`/`NOTIFY` was
//! measured too and is slower on this workload, so it is not used: on the 2-core machine of
//! BENCHMARKS.md (PostgreSQL 15, runs of 8–20 s, default flags) polling did 2,100–2,250 round
//! trips/s against 1,800–1,970 with a `pg_notify` pipelined right behind each insert's commit,
//! and 1,560 with the `pg_notify` inside the insert's transaction. Each notification is a
//! transaction of its own (an XID and a commit record), PostgreSQL signals every listening
//! backend of the database for it, and both handlers wake for each request, one of them to find
//! the queue empty (0.94 empty takes per round trip against 0.34 when polling); inside the
//! insert's transaction it also serializes the inserting commits on the global `NOTIFY` commit
//! lock, so their WAL flushes are no longer grouped. In a saturated closed loop the queues are
//! seldom empty, so polling costs little; its price, up to `max_backoff` of added latency on an
//! idle queue, is the one the bus's pollers pay.
//!
//! What bounds it (same loop, same 2 handlers): a handler waits for two commits per request (its
//! take, then the response's insert, ~0.4 ms each here), where a RabbitMQ handler waits for one
//! publisher confirm (its ack gets no answer); so the server is mostly waiting on WAL flushes,
//! not busy (about 0.75 cores of 2).
//!
//! The loop is the bus run's closed loop: each producer keeps at most `window` round trips in
//! flight and starts the next one as soon as an insert is committed and a slot is free; each
//! handler works one message at a time (take → insert response), as a bus provider polls one
//! message at a time. Every producer and handler has connections of its own (as every bus client
//! has its own HTTP client): a handler one, a producer two (inserting requests; taking responses),
//! like its two AMQP channels in the RabbitMQ baseline. Statements are prepared once per
//! connection. Payloads are the bench workload's business content (`Scenario`, padded by
//! `--payload-bytes`), and each side checks that it got exactly what was sent.
//!
//! The table (`opensmev_baseline_<pid>_<time>`: `id bigserial`, `queue`, `correlation`,
//! `reply_to`, `payload bytea`, `enqueued_at`, index on `(queue, id)`) is created at the start and
//! dropped at the end. A server that cannot be reached is a setup error (the command exits 2).
//! The server's CPU is the `postgres` processes' (postmaster, backends, background workers, and
//! the children they reaped, such as autovacuum workers), read from `/proc`.

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls, Statement};

use super::{
    AFTER_ERROR, HopBackend, HopOperation, HopReport, HopRun, SEND_REQUEST, SEND_RESPONSE,
};
use crate::LoadError;
use crate::engine::Backoff;
use crate::sysinfo;

/// The default server (trust authentication on the loopback).
pub const DEFAULT_URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// The longest sleep of a worker after empty takes, by default (the bus run's `--max-backoff-ms`).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_millis(20);

/// How a PostgreSQL baseline report names itself and the server.
pub const BACKEND: HopBackend = HopBackend {
    name: "postgres",
    title: "PostgreSQL SKIP LOCKED queue baseline",
    server_cpu_key: "server_cpu_seconds",
    server_cpu_label: "PostgreSQL server",
    operations: [
        "insert request (committed)",
        "request hop (insert → take)",
        "insert response (committed)",
        "response hop (insert → take)",
        "round trip",
    ],
};

/// The report of a PostgreSQL baseline run.
pub type PostgresReport = HopReport;

/// One measured operation of a PostgreSQL baseline run.
pub type PostgresOperation = HopOperation;

/// A PostgreSQL baseline run.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// The server, as a libpq connection string (`host=… port=… user=… dbname=…`) or a
    /// `postgresql://user:password@host:port/dbname` URL.
    pub url: String,
    /// Round-trip originators (the bus run's consumers).
    pub producers: usize,
    /// Request handlers (the bus run's providers).
    pub consumers: usize,
    /// Round trips in flight per producer.
    pub window: usize,
    /// How long round trips are started.
    pub duration: Duration,
    /// Padding of the business content, bytes.
    pub payload_bytes: usize,
    /// The longest sleep of a worker after empty takes (1 ms after the first, doubling).
    pub max_backoff: Duration,
    /// After the last start, how long unfinished round trips may take.
    pub grace: Duration,
    /// A progress line on stderr every second.
    pub progress: bool,
    /// The command line, for the report.
    pub command_line: String,
}

impl PostgresConfig {
    /// 2 producers, 2 consumers, window 4, 10 s, no padding, backoff up to 20 ms: the bus run's
    /// defaults.
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            producers: 2,
            consumers: 2,
            window: 4,
            duration: Duration::from_secs(10),
            payload_bytes: 0,
            max_backoff: DEFAULT_MAX_BACKOFF,
            grace: Duration::from_secs(10),
            progress: false,
            command_line: String::new(),
        }
    }
}

/// Whether a PostgreSQL server answers at `addr` (`host:port`): an `SSLRequest` is sent and
/// the server's one-byte answer (`S` or `N`) must come back within `timeout`.
pub fn postgres_answers(addr: &str, timeout: Duration) -> bool {
    // Length 8, request code 80877103 (1234 << 16 | 5679).
    super::answers(
        addr,
        timeout,
        &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f],
        |answer| matches!(answer, b'S' | b'N'),
    )
}

/// The connection string with the password hidden (key-value form and URL form).
pub fn masked(url: &str) -> String {
    if let Some(scheme) = url.find("://") {
        let authority_end = url[scheme + 3..]
            .find(['/', '?'])
            .map_or(url.len(), |i| scheme + 3 + i);
        return match url[..authority_end].rfind('@') {
            Some(at) if at > scheme => {
                let creds = &url[scheme + 3..at];
                match creds.split_once(':') {
                    Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                    None => url.to_owned(),
                }
            }
            _ => url.to_owned(),
        };
    }
    let mut out = Vec::new();
    let mut hide = false;
    for word in url.split_whitespace() {
        if hide {
            // `password = secret` (spaces around '='): the value is the next word.
            if word != "=" {
                out.push("***".to_owned());
                hide = false;
            } else {
                out.push(word.to_owned());
            }
            continue;
        }
        match word.split_once('=') {
            Some((key, value)) if key.trim() == "password" => {
                if value.is_empty() {
                    out.push(format!("{key}="));
                    hide = true;
                } else {
                    out.push(format!("{key}=***"));
                }
            }
            None if word == "password" => {
                out.push(word.to_owned());
                hide = true;
            }
            _ => out.push(word.to_owned()),
        }
    }
    out.join(" ")
}

/// A driver error with its cause (tokio-postgres's own text is only the kind).
fn pg_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.to_string().replace('\n', " "),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

fn pg(what: &str) -> impl Fn(tokio_postgres::Error) -> String + '_ {
    move |e| format!("{what}: {}", pg_text(&e))
}

/// One client connection with its prepared statements and the task that drives it.
struct Session {
    client: Client,
    insert: Statement,
    take: Statement,
    driver: JoinHandle<()>,
    /// The longest sleep of [`Session::next`] after empty takes.
    max_backoff: Duration,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// A taken message.
#[derive(Debug)]
struct Taken {
    correlation: String,
    reply_to: Option<String>,
    payload: Vec<u8>,
}

impl Session {
    /// Connects and prepares the statements on `table`; takes back off up to `max_backoff`.
    async fn open(url: &str, table: &str, max_backoff: Duration) -> Result<Session, String> {
        let (client, connection) = connect(url).await?;
        let driver = tokio::spawn(drive(connection));
        let prepared = async {
            let insert = client
                .prepare(&format!(
                    "INSERT INTO {table} (queue, correlation, reply_to, payload) VALUES ($1, $2, $3, $4)"
                ))
                .await
                .map_err(pg("preparing the insert"))?;
            let take = client
                .prepare(&format!(
                    "DELETE FROM {table} WHERE id = (SELECT id FROM {table} WHERE queue = $1 ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING correlation, reply_to, payload"
                ))
                .await
                .map_err(pg("preparing the take"))?;
            Ok::<_, String>((insert, take))
        }
        .await;
        match prepared {
            Ok((insert, take)) => Ok(Session {
                client,
                insert,
                take,
                driver,
                max_backoff,
            }),
            Err(e) => {
                driver.abort();
                Err(e)
            }
        }
    }

    /// Inserts a message into `queue`, committed (durable) when this returns; an error as
    /// `(kind, text)`.
    async fn send(
        &self,
        queue: &str,
        correlation: &str,
        reply_to: Option<&str>,
        payload: &[u8],
    ) -> Result<(), (String, String)> {
        let failed = |text: String| {
            Err((
                "postgres".to_owned(),
                format!("insert into {queue}: {text}"),
            ))
        };
        match self
            .client
            .execute(&self.insert, &[&queue, &correlation, &reply_to, &payload])
            .await
        {
            Ok(1) => Ok(()),
            Ok(n) => failed(format!("{n} rows")),
            Err(e) => failed(pg_text(&e)),
        }
    }

    /// Takes (deletes, committed) the oldest unlocked message of `queue`.
    async fn take(&self, queue: &str) -> Result<Option<Taken>, String> {
        let row = self
            .client
            .query_opt(&self.take, &[&queue])
            .await
            .map_err(|e| format!("take from {queue}: {}", pg_text(&e)))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let read = |e: tokio_postgres::Error| format!("take from {queue}: {}", pg_text(&e));
        Ok(Some(Taken {
            correlation: row.try_get(0).map_err(read)?,
            reply_to: row.try_get(1).map_err(read)?,
            payload: row.try_get(2).map_err(read)?,
        }))
    }

    /// The next message of `queue`: taken at once if there is one, else polled for with
    /// backoff; a failed take is counted as an error and tried again after a pause, at once
    /// after it. `None` when halted.
    async fn next(
        &self,
        shared: &HopRun,
        queue: &str,
        halt: &mut watch::Receiver<bool>,
    ) -> Option<Taken> {
        let mut backoff = Backoff::new(self.max_backoff);
        loop {
            if *halt.borrow() {
                return None;
            }
            match self.take(queue).await {
                Ok(Some(taken)) => return Some(taken),
                Ok(None) => {
                    shared.empty_takes.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    shared.error("postgres", e);
                    tokio::time::sleep(AFTER_ERROR).await;
                    backoff.reset();
                    continue;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.step()) => {}
                _ = halt.changed() => return None,
            }
        }
    }

    /// Closes the connection (drops the client, lets the driver finish).
    async fn close(self) {
        let Session { client, driver, .. } = self;
        drop(client);
        finish(driver).await;
    }
}

/// Lets a connection's driver end (its client dropped) for up to 5 s, then aborts it.
async fn finish(driver: JoinHandle<()>) {
    let abort = driver.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .is_err()
    {
        abort.abort();
    }
}

/// Drives a connection until its client is dropped or it fails (its worker finds out from its
/// next query); server notices are dropped.
async fn drive(mut connection: PgConnection) {
    while let Some(Ok(_)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {}
}

/// A producer: inserts requests in a closed loop of `window` round trips.
async fn producer(shared: Arc<HopRun>, index: usize, session: Session, window: usize) -> Session {
    let slots = Arc::new(Semaphore::new(window));
    while let Some((id, body, start)) = shared.start_round_trip(&slots).await {
        let reply_to = shared.replies[index].as_str();
        let inserted = session
            .send(&shared.requests, &id, Some(reply_to), body.as_bytes())
            .await;
        shared.sent(SEND_REQUEST, &id, start, inserted).await;
    }
    session
}

/// A handler: takes requests one at a time (take = receive + ack), inserts each response.
async fn handler(
    shared: Arc<HopRun>,
    session: Session,
    mut halt: watch::Receiver<bool>,
) -> Session {
    let requests = shared.requests.clone();
    while let Some(taken) = session.next(&shared, &requests, &mut halt).await {
        let id = taken.correlation;
        if !shared.request_taken(&id, &taken.payload, Instant::now()) {
            continue;
        }
        let Some(reply_to) = shared
            .replies
            .iter()
            .find(|q| Some(q.as_str()) == taken.reply_to.as_deref())
        else {
            shared.fail(
                &id,
                "mismatch",
                format!("request {id}: unknown reply queue {:?}", taken.reply_to),
            );
            continue;
        };
        let Some((body, begun)) = shared.response_to(&id) else {
            continue;
        };
        let inserted = session.send(reply_to, &id, None, body.as_bytes()).await;
        shared.sent(SEND_RESPONSE, &id, begun, inserted).await;
    }
    session
}

/// A producer's reply taker: takes responses, ends round trips.
async fn reply_taker(
    shared: Arc<HopRun>,
    index: usize,
    session: Session,
    mut halt: watch::Receiver<bool>,
) -> Session {
    let queue = shared.replies[index].clone();
    while let Some(taken) = session.next(&shared, &queue, &mut halt).await {
        shared.response_taken(&taken.correlation, &taken.payload, Instant::now());
    }
    session
}

/// CPU seconds of every PostgreSQL server process on this machine (`comm` = `postgres`: the
/// postmaster, its backends and background workers), with the children each has reaped
/// (`cutime` + `cstime`: backends and autovacuum workers that ended), so that the difference of
/// two readings counts the processes that started or ended in between too. `None` when there
/// is none.
pub fn server_cpu_seconds() -> Option<f64> {
    let entries = std::fs::read_dir("/proc").ok()?;
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    let mut found = false;
    let mut total = 0u64;
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(t) = postgres_ticks(&stat) {
            found = true;
            total += t;
        }
    }
    found.then(|| total as f64 / ticks)
}

/// utime + stime + cutime + cstime of a `postgres` process's `stat` line.
fn postgres_ticks(stat: &str) -> Option<u64> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    if stat.get(open + 1..close)? != "postgres" {
        return None;
    }
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After ')': state is field 3 of the line; utime, stime, cutime, cstime are 14–17.
    (11..15).map(|i| fields.get(i)?.parse::<u64>().ok()).sum()
}

type PgConnection =
    tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>;

async fn connect(url: &str) -> Result<(Client, PgConnection), String> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
        format!(
            "{}: not a PostgreSQL connection string ({}); expected e.g. {DEFAULT_URL:?}",
            masked(url),
            pg_text(&e)
        )
    })?;
    config.connect_timeout(Duration::from_secs(10));
    if config.get_application_name().is_none() {
        config.application_name("opensmev-load");
    }
    let advice = "Start it (e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) or name another server with --url.";
    match tokio::time::timeout(Duration::from_secs(15), config.connect(NoTls)).await {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(e)) if e.as_db_error().is_some() => Err(format!(
            "PostgreSQL at {} refused the connection: {}. Name a role and database it accepts with --url.",
            masked(url),
            pg_text(&e)
        )),
        Ok(Err(e)) => Err(format!(
            "PostgreSQL is not reachable at {}: {}. {advice}",
            masked(url),
            pg_text(&e)
        )),
        Err(_) => Err(format!(
            "PostgreSQL at {} did not answer within 15 s. {advice}",
            masked(url)
        )),
    }
}

/// Runs the baseline.
pub async fn run(config: &PostgresConfig) -> Result<PostgresReport, LoadError> {
    super::check_loop(
        config.producers,
        config.consumers,
        config.window,
        config.duration,
    )?;
    let (admin, connection) = connect(&config.url).await.map_err(LoadError::Setup)?;
    let admin_driver = tokio::spawn(drive(connection));
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let table = format!("opensmev_baseline_{}_{stamp}", std::process::id());
    let result = async {
        let server = server_settings(&admin).await?;
        admin
            .batch_execute(&format!(
                "CREATE TABLE {table} (\
                   id bigserial PRIMARY KEY, \
                   queue text NOT NULL, \
                   correlation text NOT NULL, \
                   reply_to text, \
                   payload bytea NOT NULL, \
                   enqueued_at timestamptz NOT NULL DEFAULT now()); \
                 CREATE INDEX {table}_queue ON {table} (queue, id);"
            ))
            .await
            .map_err(pg("creating the queue table"))?;
        let outcome = load(config, &table, server).await;
        let dropped = tokio::time::timeout(
            Duration::from_secs(10),
            admin.batch_execute(&format!("DROP TABLE IF EXISTS {table}")),
        )
        .await;
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("opensmev-load: dropping table {table}: {}", pg_text(&e)),
            Err(_) => eprintln!("opensmev-load: dropping table {table}: no answer within 10 s"),
        }
        outcome
    }
    .await;
    drop(admin);
    finish(admin_driver).await;
    result.map_err(|e| LoadError::Setup(format!("postgres baseline: {e}")))
}

/// `PostgreSQL 15.2, synchronous_commit on, fsync on, wal_sync_method fdatasync, commit_delay 0`.
async fn server_settings(admin: &Client) -> Result<String, String> {
    let row = admin
        .query_one(
            "SELECT current_setting('server_version'), current_setting('synchronous_commit'), \
             current_setting('fsync'), current_setting('wal_sync_method'), \
             current_setting('commit_delay')",
            &[],
        )
        .await
        .map_err(pg("reading the server settings"))?;
    let get = |i: usize| row.try_get::<_, String>(i).unwrap_or_default();
    let synchronous_commit = get(1);
    if synchronous_commit != "on" {
        return Err(format!(
            "synchronous_commit is {synchronous_commit:?} for this role and database; the baseline needs durable commits (on)"
        ));
    }
    Ok(format!(
        "PostgreSQL {}, synchronous_commit {synchronous_commit}, fsync {}, wal_sync_method {}, commit_delay {}",
        get(0),
        get(2),
        get(3),
        get(4)
    ))
}

async fn load(
    config: &PostgresConfig,
    table: &str,
    server: String,
) -> Result<PostgresReport, String> {
    let started_at = super::now_rfc3339();
    let (halt_tx, halt_rx) = watch::channel(false);
    let requests = "requests".to_owned();
    let replies: Vec<String> = (0..config.producers)
        .map(|i| format!("replies-{i}"))
        .collect();
    // Set everything up before the clock starts.
    let opened = async {
        let mut senders = Vec::new();
        let mut takers = Vec::new();
        for _ in &replies {
            senders.push(Session::open(&config.url, table, config.max_backoff).await?);
            takers.push(Session::open(&config.url, table, config.max_backoff).await?);
        }
        let mut handlers = Vec::new();
        for _ in 0..config.consumers {
            handlers.push(Session::open(&config.url, table, config.max_backoff).await?);
        }
        Ok::<_, String>((senders, takers, handlers))
    }
    .await;
    let (senders, takers, handlers) = opened?;
    let server_before = server_cpu_seconds();
    let tool_before = sysinfo::sample(None);
    let t0 = Instant::now();
    let shared = Arc::new(HopRun::new(
        BACKEND,
        t0,
        config.duration,
        config.payload_bytes,
        requests,
        replies,
    ));
    let mut workers = tokio::task::JoinSet::new();
    for (i, session) in takers.into_iter().enumerate() {
        workers.spawn(reply_taker(shared.clone(), i, session, halt_rx.clone()));
    }
    for session in handlers {
        workers.spawn(handler(shared.clone(), session, halt_rx.clone()));
    }
    let progress_task = config
        .progress
        .then(|| tokio::spawn(shared.clone().progress(halt_rx.clone())));
    let mut sessions = Vec::new();
    let mut producers = tokio::task::JoinSet::new();
    for (i, session) in senders.into_iter().enumerate() {
        producers.spawn(producer(shared.clone(), i, session, config.window));
    }
    while let Some(done) = producers.join_next().await {
        if let Ok(session) = done {
            sessions.push(session);
        }
    }
    shared.settle(config.grace).await;
    let end = Instant::now();
    let server_after = server_cpu_seconds();
    let tool_after = sysinfo::sample(None);
    let _ = halt_tx.send(true);
    // Workers stop on the halt signal; one stuck on the server must not hang the run.
    let drained = tokio::time::timeout(config.grace + Duration::from_secs(5), async {
        while let Some(done) = workers.join_next().await {
            if let Ok(session) = done {
                sessions.push(session);
            }
        }
    })
    .await;
    if drained.is_err() {
        workers.abort_all();
        while workers.join_next().await.is_some() {}
    }
    if let Some(task) = progress_task {
        let _ = task.await;
    }
    shared.fail_unfinished(config.grace);
    for session in sessions {
        session.close().await;
    }
    Ok(HopReport {
        command: config.command_line.clone(),
        started_at,
        settings: vec![
            ("server", format!("{} ({server})", masked(&config.url))),
            (
                "queue",
                format!(
                    "one table {table}, 1 request queue + {} reply queues (column queue), index (queue, id)",
                    config.producers
                ),
            ),
            (
                "messages",
                "INSERT committed per message (durable); take = DELETE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING, committed (receive + ack)".to_owned(),
            ),
            (
                "wake",
                format!(
                    "polling: the next take at once after a message, after an empty take a sleep of 1 ms doubling up to {} ms (the bus run's poller backoff)",
                    config.max_backoff.as_millis()
                ),
            ),
        ]
        .into_iter()
        .chain(HopRun::common_settings(
            config.producers,
            config.consumers,
            format!(
                "closed loop, window {} per producer; a connection per handler, two per producer (insert; take)",
                config.window
            ),
            config.duration,
            config.payload_bytes,
        ))
        .collect(),
        empty_takes: Some(shared.empty_takes.load(Ordering::SeqCst)),
        server_cpu_seconds: server_before.zip(server_after).map(|(b, a)| a - b),
        tool_cpu_seconds: tool_before.zip(tool_after).map(|(b, a)| a.cpu_s - b.cpu_s),
        created: vec![table.to_owned()],
        ..shared.report(end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_masked() {
        assert_eq!(
            masked("postgresql://app:secret@127.0.0.1:5432/test"),
            "postgresql://app:***@127.0.0.1:5432/test"
        );
        assert_eq!(
            masked("postgres://127.0.0.1:5432/test?user=a@b"),
            "postgres://127.0.0.1:5432/test?user=a@b"
        );
        assert_eq!(
            masked("host=127.0.0.1 user=app password=secret dbname=test"),
            "host=127.0.0.1 user=app password=*** dbname=test"
        );
        assert_eq!(
            masked("host=h password = secret dbname=d"),
            "host=h password = *** dbname=d"
        );
        assert_eq!(masked(DEFAULT_URL), DEFAULT_URL);
    }

    #[test]
    fn postgres_cpu_comes_from_stat() {
        let line = "42 (postgres) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 4 0 100 0 0";
        assert_eq!(postgres_ticks(line), Some(310));
        let other = "43 (beam.smp) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 4 0 100 0 0";
        assert_eq!(postgres_ticks(other), None);
    }
}
