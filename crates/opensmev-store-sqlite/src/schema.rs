//! Connection settings and the schema, created and migrated at open.
//!
//! The schema version is `PRAGMA user_version` (0 = empty file; migration N brings it to N), and
//! `PRAGMA application_id` marks the file as OpenSMEV's. A file with a newer version than this
//! build knows is refused as [`StoreError::Corrupt`], never modified.
//!
//! Migration 1 creates the tables; migration 2 adds `deliveries_leases`; migration 3 the
//! attachment files; migration 4 client ids, the journal's node, actor and attempt, the search
//! indexes, and the tables of the integration API and the cabinet (`tokens`, `accounts`,
//! `audit`); migration 5 the claims on background jobs (`jobs`):
//! * `messages` — one row per message, every small [`opensmev_store::NewMessage`] field as a
//!   column, plus the current interaction `status`. `seq` (AUTOINCREMENT, never reused) is the
//!   arrival order. Migration 4 adds `client_id`, unique per sender through the partial index
//!   `messages_client_id` (client_id, sender) over rows that have one (client id first, so that
//!   a search by client id alone uses it too), and the indexes `search_messages` reads in `seq`
//!   order or by range: `messages_sender` (sender, seq), `messages_recipient` (recipient, seq),
//!   `messages_vs_id` (vs_id, seq), `messages_sent_at` (sent_at) and the partial
//!   `messages_original` (original_message_id) over responses. Other search conditions (status,
//!   state, kind, text) filter the rows these give, or walk `seq` backwards: search is an
//!   operator's tool, and every index costs each enqueue.
//! * `message_bodies` — `sender_data` and `sender_signature`, written once. Kept apart because
//!   SQLite rewrites a whole row on every UPDATE: a status change must not copy a 1 MiB body.
//! * `attachments` — (`message_seq`, `ord`) with the bytes as a BLOB, or (migration 3) for an
//!   attachment given as a file, the file's name in the store's `attachments` directory and its
//!   size (`file`, `file_len`; `data` empty).
//! * `deliveries` — one row per (message, recipient): the queue. It copies the routing fields the
//!   poll filters on (kind, type, priority, target node, EOL) so that `lease_next` reads this
//!   table only. Indexes: `deliveries_queue` (recipient, kind, state, priority DESC, seq) for
//!   untyped polls and `deliveries_typed` (… type …) for `MessageTypeSelector` polls, both read
//!   in order so the first match wins without sorting; the partial `deliveries_leases`
//!   (recipient, kind, lease_until) over leased rows, so finding run-out leases does not walk
//!   every message in flight; the partial `deliveries_eol` over pending rows with an EOL for the
//!   expiry sweep.
//! * `pending` — the number of queued or leased deliveries per (recipient, kind, type), kept in
//!   the same transactions as the deliveries: `queue_depths` and the quota check read it instead
//!   of counting the queue.
//! * `journal` — (`seq`, `message_seq`, `at`, `kind`, `detail`, and from migration 4 `node`,
//!   `actor`, `attempt`); order of recording = `seq`. Rows written before migration 4 have no
//!   node, actor or attempt.
//! * `status_notices` — pending notices, deleted when taken.
//! * `registry_versions` — every saved registry document.
//! * `tokens` (migration 4) — API tokens: the public `id` and the SHA-256 `secret_hash` both
//!   unique; `seq` is the order of creation.
//! * `accounts` (migration 4) — one row per login.
//! * `audit` (migration 4) — the audit log; `seq` (AUTOINCREMENT) is the order of recording;
//!   `audit_actor` (actor, seq) for the listing of one actor.
//! * `jobs` (migration 5) — one row per background job: who holds its claim (`holder`), the
//!   fencing token (`fence`, only grows), when the claim runs out (`until`), and the time of the
//!   job's previous sweep (`last_sweep`).

use std::time::Duration;

use opensmev_store::StoreError;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::codec::Context;

/// `PRAGMA application_id` of an OpenSMEV database ("OSMV").
const APPLICATION_ID: i64 = 0x4F53_4D56;

/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Migration `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    type_ns TEXT NOT NULL,
    type_local TEXT NOT NULL,
    vs_id TEXT NOT NULL,
    version TEXT NOT NULL,
    priority INTEGER NOT NULL,
    delivery_mode TEXT NOT NULL,
    test_message INTEGER NOT NULL,
    node_id TEXT,
    target_node_id TEXT,
    eol TEXT,
    transaction_code TEXT,
    reference_message_id TEXT,
    original_message_id TEXT,
    reply_to TEXT,
    sent_at TEXT NOT NULL,
    status TEXT NOT NULL
) STRICT;

CREATE TABLE message_bodies (
    message_seq INTEGER PRIMARY KEY REFERENCES messages (seq),
    sender_data TEXT NOT NULL,
    sender_signature TEXT
) STRICT;

CREATE TABLE attachments (
    message_seq INTEGER NOT NULL REFERENCES messages (seq),
    ord INTEGER NOT NULL,
    content_id TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (message_seq, ord)
) STRICT;

CREATE TABLE deliveries (
    message_seq INTEGER NOT NULL REFERENCES messages (seq),
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    type_ns TEXT NOT NULL,
    type_local TEXT NOT NULL,
    priority INTEGER NOT NULL,
    target_node_id TEXT,
    eol TEXT,
    state TEXT NOT NULL,
    lease_until TEXT,
    delivery_count INTEGER NOT NULL,
    first_delivered_at TEXT,
    acked_at TEXT,
    accepted INTEGER,
    PRIMARY KEY (message_seq, recipient)
) STRICT, WITHOUT ROWID;

CREATE INDEX deliveries_queue ON deliveries (recipient, kind, state, priority DESC, message_seq);
CREATE INDEX deliveries_typed
    ON deliveries (recipient, kind, type_ns, type_local, state, priority DESC, message_seq);
CREATE INDEX deliveries_eol ON deliveries (recipient, kind, eol)
    WHERE eol IS NOT NULL AND state IN ('queued', 'leased');

CREATE TABLE pending (
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    type_ns TEXT NOT NULL,
    type_local TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (recipient, kind, type_ns, type_local)
) STRICT, WITHOUT ROWID;

CREATE TABLE journal (
    seq INTEGER PRIMARY KEY,
    message_seq INTEGER NOT NULL REFERENCES messages (seq),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
) STRICT;

CREATE INDEX journal_message ON journal (message_seq, seq);

CREATE TABLE status_notices (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    original_message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    details TEXT,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX status_notices_recipient ON status_notices (recipient, seq);

CREATE TABLE registry_versions (
    version INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    saved_at TEXT NOT NULL
) STRICT;
"#,
    // Migration 2: find run-out leases without walking every leased row. (`IF NOT EXISTS`: early
    // development files got it as part of migration 1.)
    r#"
CREATE INDEX IF NOT EXISTS deliveries_leases ON deliveries (recipient, kind, lease_until)
    WHERE state = 'leased';
"#,
    // Migration 3: large attachments live in files next to the database (`file`, the name in the
    // store's `attachments` directory, and its size); `data` is then empty.
    r#"
ALTER TABLE attachments ADD COLUMN file TEXT;
ALTER TABLE attachments ADD COLUMN file_len INTEGER;
CREATE INDEX attachments_files ON attachments (file) WHERE file IS NOT NULL;
"#,
    // Migration 4: client ids, who and where in the journal, message search, and the records of
    // the integration API and the cabinet.
    r#"
ALTER TABLE messages ADD COLUMN client_id TEXT;
CREATE UNIQUE INDEX messages_client_id ON messages (client_id, sender)
    WHERE client_id IS NOT NULL;
CREATE INDEX messages_sender ON messages (sender, seq);
CREATE INDEX messages_recipient ON messages (recipient, seq);
CREATE INDEX messages_vs_id ON messages (vs_id, seq);
CREATE INDEX messages_sent_at ON messages (sent_at);
CREATE INDEX messages_original ON messages (original_message_id)
    WHERE original_message_id IS NOT NULL;

ALTER TABLE journal ADD COLUMN node TEXT;
ALTER TABLE journal ADD COLUMN actor TEXT;
ALTER TABLE journal ADD COLUMN attempt INTEGER;

CREATE TABLE tokens (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    secret_hash BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    system TEXT,
    account TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
) STRICT;

CREATE TABLE accounts (
    login TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    system TEXT,
    password_hash TEXT,
    must_change_password INTEGER NOT NULL,
    disabled INTEGER NOT NULL,
    created_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;

CREATE INDEX audit_actor ON audit (actor, seq);
"#,
    // Migration 5: claims on background jobs (the sweep), with fencing tokens.
    r#"
CREATE TABLE jobs (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    fence INTEGER NOT NULL,
    until TEXT NOT NULL,
    last_sweep TEXT
) STRICT, WITHOUT ROWID;
"#,
    // Migration 6: the web cabinet's sessions, failed logins and drafts.
    r#"
CREATE TABLE web_sessions (
    id_hash BLOB PRIMARY KEY,
    login TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX web_sessions_login ON web_sessions (login);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

CREATE TABLE login_failures (
    login TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    since TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE drafts (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    vs_id TEXT NOT NULL,
    form TEXT NOT NULL,
    request_id TEXT,
    title TEXT NOT NULL,
    draft_values TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX drafts_owner ON drafts (owner, updated_at);
"#,
    // Migration 7: settings documents, and the cabinet's cases with their events.
    r#"
CREATE TABLE settings (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
) STRICT, WITHOUT ROWID;

CREATE TABLE cases (
    request TEXT PRIMARY KEY,
    request_seq INTEGER NOT NULL,
    system TEXT NOT NULL,
    sender TEXT NOT NULL,
    vs_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    department TEXT,
    due_at TEXT,
    closed_at TEXT,
    outcome TEXT
) STRICT, WITHOUT ROWID;

CREATE INDEX cases_system ON cases (system, request_seq);
CREATE INDEX cases_department ON cases (system, department, request_seq);

CREATE TABLE case_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request TEXT NOT NULL REFERENCES cases (request),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT
) STRICT;

CREATE INDEX case_events_request ON case_events (request, seq);

CREATE TABLE once_keys (
    key TEXT PRIMARY KEY,
    at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
"#,
    // 8: push delivery (issue 20): which deliveries the engine pushes, and the dead-letter queue.
    r#"
ALTER TABLE deliveries ADD COLUMN push INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN dead_at TEXT;
ALTER TABLE deliveries ADD COLUMN dead_reason TEXT;
CREATE INDEX deliveries_dead ON deliveries (message_seq) WHERE state = 'dead';
"#,
    // 9: fair order among the senders of a queue (issue 20): each delivery's start tag (0 for
    // those already there: with no sender's tag recorded yet they stay ahead, in arrival
    // order), the senders' finish tags and shares; the queue indexes order by the tag; queued
    // push deliveries have an index of their own.
    r#"
ALTER TABLE messages ADD COLUMN share INTEGER NOT NULL DEFAULT 1;
ALTER TABLE deliveries ADD COLUMN vtime INTEGER NOT NULL DEFAULT 0;
CREATE TABLE fair_tags (
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    finish INTEGER NOT NULL,
    PRIMARY KEY (recipient, kind, sender)
) STRICT, WITHOUT ROWID;
DROP INDEX deliveries_queue;
DROP INDEX deliveries_typed;
CREATE INDEX deliveries_queue ON deliveries (recipient, kind, state, priority DESC, vtime, message_seq);
CREATE INDEX deliveries_typed
    ON deliveries (recipient, kind, type_ns, type_local, state, priority DESC, vtime, message_seq);
CREATE INDEX deliveries_fair ON deliveries (recipient, kind, state, vtime, message_seq);
CREATE INDEX deliveries_push ON deliveries (recipient, kind, priority DESC, vtime, message_seq)
    WHERE state = 'queued' AND push = 1;
"#,
];

/// The schema version this build creates.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens the read-write connection: WAL, `synchronous=FULL`, foreign keys, busy timeout, and
/// the schema migrated to [`SCHEMA_VERSION`].
pub(crate) fn open_writer(path: &std::path::Path) -> Result<Connection, StoreError> {
    let context = format!("opening {}", path.display());
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).ctx(&context)?;
    conn.busy_timeout(BUSY_TIMEOUT).ctx(&context)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .ctx(&context)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "{context}: journal_mode is {mode:?}, WAL is required"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .ctx(&context)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .ctx(&context)?;
    conn.set_prepared_statement_cache_capacity(64);
    stable_plans(&conn, &context)?;
    migrate(&mut conn, &context)?;
    Ok(conn)
}

/// Opens a read-only connection (after [`open_writer`] created the file).
pub(crate) fn open_reader(path: &std::path::Path) -> Result<Connection, StoreError> {
    let context = format!("opening {} for reading", path.display());
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).ctx(&context)?;
    conn.busy_timeout(BUSY_TIMEOUT).ctx(&context)?;
    conn.set_prepared_statement_cache_capacity(32);
    stable_plans(&conn, &context)?;
    Ok(conn)
}

/// Turns on the query planner stability guarantee. Without it, SQLite (built with STAT4, as the
/// bundled one is) marks a statement for re-preparation whenever a newly bound value might change
/// its plan — every poll, because of `ORDER BY` next to `recipient = ?` — and re-parses it on the
/// next step: that cost 11 % of the bus's CPU under load. Our plans never depend on the values.
fn stable_plans(conn: &Connection, context: &str) -> Result<(), StoreError> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .ctx(context)?;
    Ok(())
}

fn migrate(conn: &mut Connection, context: &str) -> Result<(), StoreError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx(context)?;
    let app_id: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .ctx(context)?;
    if version > 0 && app_id != APPLICATION_ID {
        return Err(StoreError::Corrupt(format!(
            "{context}: not an OpenSMEV database (application_id {app_id:#x})"
        )));
    }
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(StoreError::Corrupt(format!(
            "{context}: schema version {version} is not known to this build (it knows 1 to {SCHEMA_VERSION})"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let target = index as i64 + 1;
        let step = format!("{context}: migration {target}");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&step)?;
        tx.execute_batch(sql).ctx(&step)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .ctx(&step)?;
        tx.pragma_update(None, "user_version", target).ctx(&step)?;
        tx.commit().ctx(&step)?;
    }
    Ok(())
}
