//! The embedded OpenSMEV store: [`SqliteStore`], the [`Store`] contract on one SQLite file.
//!
//! Key decision: one writer thread owns the only read-write connection and commits in groups
//! (see `worker`). SQLite allows one writer at a time anyway; with a single thread there is no
//! lock contention, no `SQLITE_BUSY` between our own writers, and read-then-write steps (duplicate
//! check, quota, picking the message to lease) are atomic without any locking. What makes it fast
//! is group commit: every job waiting while a transaction is being synced goes into the next one,
//! so one fsync serves up to [`MAX_BATCH`] calls. Reads go to two reader threads with read-only
//! connections (WAL lets them run while the writer writes).
//!
//! The library starts no async runtime: callers await `tokio::sync::oneshot` replies, which work
//! under any executor.
//!
//! Files: `<dir>/opensmev.db` plus SQLite's `-wal` and `-shm` next to it, and
//! `<dir>/attachments/` with the attachments given as files (see `files`). Settings: WAL,
//! `synchronous=FULL` (a commit is on disk when it returns; `NORMAL` is not power-loss durable),
//! `foreign_keys=ON`, a 5 s busy timeout. The schema and its versioning are in `schema`; how values
//! are stored (times as fixed-width UTC RFC 3339 text) in `codec`.
//!
//! A store is opened on a node ([`SqliteStore::open_on_node`]): every journal event it records
//! names that node.

mod cabinet;
mod cases;
mod codec;
mod copy;
mod files;

pub use files::FILES_DIR;
pub use schema::SCHEMA_VERSION;
mod ops;
mod schema;
mod upkeep;
mod worker;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use opensmev_store::{
    Account, AckOutcome, AckRule, AuditEntry, AuditQuery, Blob, Case, CaseChange, CaseEvent,
    CaseQuery, DeadLetter, DeadLetterQuery, Draft, Enqueued, JobClaim, JournalEvent, LeaseOutcome,
    LeaseRequest, LoginFailures, MessageQuery, MessageSummary, NewAuditEntry, NewMessage,
    QueueDepth, QueueSignal, Record, RegistryDocument, Section, Settings, SignalListener,
    StatusNotice, Store, StoreError, StoredMessage, SweepReport, TokenRecord, WebSession,
};
use opensmev_types::{InteractionStatus, MessageId, MessageKind, Mnemonic};
use rusqlite::Connection;
use time::{Duration, OffsetDateTime};
use tokio::sync::oneshot;

use crate::worker::{Job, ReadJob, WriteJob};

/// The database file's name inside the store directory.
pub const DB_FILE: &str = "opensmev.db";

/// The most state-changing calls committed in one transaction (group commit).
pub const MAX_BATCH: usize = 256;

/// How many reader threads (each with its own read-only connection) serve the reads.
const READERS: usize = 2;

/// The SQLite store. Cheap to share behind an `Arc`; dropping it finishes the queued work and
/// stops its threads (the drop blocks until then).
pub struct SqliteStore {
    path: PathBuf,
    /// The node name journal events record.
    node: Option<Arc<str>>,
    writer: Option<Sender<Box<dyn WriteJob>>>,
    readers: Option<Sender<ReadJob>>,
    threads: Vec<JoinHandle<()>>,
    commits: Arc<AtomicU64>,
    empty: EmptyQueues,
    files: Arc<files::Files>,
    listener: Mutex<Option<SignalListener>>,
}

/// Polled queues (recipient, kind, node) whose last poll found nothing. Only a hint of where to
/// look first: a poll of such a queue asks a reader before the writer (idle systems' polls then
/// never wait for a commit), a poll of any other goes straight to the writer (a busy queue's poll
/// would only pay for the extra look). Either way the answer is the same. Queuing a message
/// clears the entries it concerns: its node's, or the whole queue's for a message bound to no
/// node. Bounded: cleared when it holds [`EMPTY_QUEUES_MAX`] nodes.
#[derive(Debug, Default)]
struct EmptyQueues(Mutex<EmptyNodes>);

/// Per queue (recipient, kind): the nodes (`None`: polls without a node) found empty, and the
/// number of nodes over all queues.
#[derive(Debug, Default)]
struct EmptyNodes {
    queues: HashMap<(String, MessageKind), HashSet<Option<String>>>,
    nodes: usize,
}

/// The most nodes [`EmptyQueues`] holds (node ids are the clients' choice).
const EMPTY_QUEUES_MAX: usize = 100_000;

impl EmptyQueues {
    fn lock(&self) -> std::sync::MutexGuard<'_, EmptyNodes> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queue(recipient: &Mnemonic, kind: MessageKind) -> (String, MessageKind) {
        (recipient.as_str().to_owned(), kind)
    }

    fn seen_empty(&self, request: &LeaseRequest) -> bool {
        self.lock()
            .queues
            .get(&Self::queue(&request.recipient, request.kind))
            .is_some_and(|nodes| nodes.contains(&request.node_id))
    }

    fn record(&self, request: &LeaseRequest, found: bool) {
        let queue = Self::queue(&request.recipient, request.kind);
        let mut empty = self.lock();
        if found {
            let Some(nodes) = empty.queues.get_mut(&queue) else {
                return;
            };
            let removed = nodes.remove(&request.node_id);
            if nodes.is_empty() {
                empty.queues.remove(&queue);
            }
            empty.nodes -= usize::from(removed);
        } else {
            if empty.nodes >= EMPTY_QUEUES_MAX {
                *empty = EmptyNodes::default();
            }
            let added = empty
                .queues
                .entry(queue)
                .or_default()
                .insert(request.node_id.clone());
            empty.nodes += usize::from(added);
        }
    }

    /// A message for `recipient`'s `kind` queue, bound to `node` or to none, was queued.
    fn queued(&self, recipient: &Mnemonic, kind: MessageKind, node: Option<&str>) {
        let queue = Self::queue(recipient, kind);
        let mut empty = self.lock();
        let Some(nodes) = empty.queues.get_mut(&queue) else {
            return;
        };
        let removed = match node {
            Some(node) => usize::from(nodes.remove(&Some(node.to_owned()))),
            None => {
                let all = nodes.len();
                nodes.clear();
                all
            }
        };
        if nodes.is_empty() {
            empty.queues.remove(&queue);
        }
        empty.nodes -= removed;
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("node", &self.node)
            .field("commits", &self.commits())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating the directory and the database if needed, migrating the schema) the store
    /// in `dir`, and starts its writer and reader threads. Journal events it records name no
    /// node: [`SqliteStore::open_on_node`] with `None`.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_on_node(dir, None)
    }

    /// [`SqliteStore::open`] for the node `node`: every journal event this handle records names
    /// it ([`JournalEvent::node`]).
    pub fn open_on_node(dir: &Path, node: Option<&str>) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "creating the store directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(DB_FILE);
        let writer_conn = schema::open_writer(&path)?;
        let files = Arc::new(files::Files::open(dir, &writer_conn)?);
        let reader_conns = (0..READERS)
            .map(|_| schema::open_reader(&path))
            .collect::<Result<Vec<_>, _>>()?;

        let commits = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::with_capacity(1 + READERS);
        let (writer_tx, writer_rx) = mpsc::channel::<Box<dyn WriteJob>>();
        let counter = Arc::clone(&commits);
        threads.push(spawn("opensmev-sqlite-writer", move || {
            worker::writer(writer_conn, writer_rx, counter)
        })?);
        let (reader_tx, reader_rx) = mpsc::channel::<ReadJob>();
        let reader_rx = Arc::new(Mutex::new(reader_rx));
        for (i, conn) in reader_conns.into_iter().enumerate() {
            let queue = Arc::clone(&reader_rx);
            threads.push(spawn(&format!("opensmev-sqlite-reader-{i}"), move || {
                worker::reader(conn, queue)
            })?);
        }
        Ok(SqliteStore {
            path,
            node: node.map(Arc::from),
            writer: Some(writer_tx),
            readers: Some(reader_tx),
            threads,
            commits,
            empty: EmptyQueues::default(),
            files,
            listener: Mutex::new(None),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The node journal events name.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// Metric: how many write transactions were committed since open. Each holds one or more
    /// state-changing calls (group commit), so `commits()` / calls is the fsyncs per call.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// [`Store::enqueue`], and with `request_status` [`Store::enqueue_response`]: one write job;
    /// an accepted message clears the empty-queue hint of its queue.
    async fn enqueue_and_update(
        &self,
        mut message: NewMessage,
        status: InteractionStatus,
        quota: u64,
        request_status: Option<InteractionStatus>,
    ) -> Result<Enqueued, StoreError> {
        let (recipient, kind, node) = (
            message.recipient.clone(),
            message.kind,
            message.target_node_id.clone(),
        );
        let what = if request_status.is_some() {
            "enqueue_response"
        } else {
            "enqueue"
        };
        // Attachment files go into the store's directory, durably, before the commit.
        let adopted = if message
            .attachments
            .iter()
            .any(|a| matches!(a.data, opensmev_store::Blob::File { .. }))
        {
            let files = Arc::clone(&self.files);
            let (moved, adopted) = blocking(move || {
                let adopted = files.adopt(&mut message)?;
                Ok((message, adopted))
            })
            .await?;
            message = moved;
            adopted
        } else {
            Vec::new()
        };
        let store_node = self.node.clone();
        let enqueued = self
            .write(what, move |conn| {
                let node = store_node.as_deref();
                let enqueued = ops::enqueue(conn, node, &message, status, quota)?;
                if let (Enqueued::Accepted { .. }, Some(request), Some(request_status)) =
                    (&enqueued, &message.original_message_id, request_status)
                {
                    // The responder caused the request's new status.
                    let actor = Some(message.sender.as_str());
                    ops::set_status(
                        conn,
                        node,
                        actor,
                        request,
                        request_status,
                        None,
                        message.sent_at,
                    )?;
                }
                Ok(enqueued)
            })
            .await;
        if !matches!(enqueued, Ok(Enqueued::Accepted { .. })) {
            files::Files::discard(&adopted);
        }
        let enqueued = enqueued?;
        if let Enqueued::Accepted { .. } = enqueued {
            self.empty.queued(&recipient, kind, node.as_deref());
            self.signal(QueueSignal {
                recipient,
                kind,
                node,
            });
        }
        Ok(enqueued)
    }

    /// Tells the listener (if any) that a queue has a message for its pollers.
    fn signal(&self, signal: QueueSignal) {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(listener) = listener {
            listener(signal);
        }
    }

    /// Runs `f` on the writer thread inside the batch transaction; resolves after COMMIT.
    async fn write<T, F>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn WriteJob> = Box::new(Job { what, f, reply });
        let sender = self.writer.as_ref().ok_or_else(|| gone(what))?;
        sender.send(job).map_err(|_| gone(what))?;
        answer.await.map_err(|_| gone(what))?
    }

    /// Runs `f` on a reader thread inside one read transaction (one snapshot).
    async fn read<T, F>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn: &mut Connection| {
            let result = match conn.transaction() {
                Ok(tx) => f(&tx),
                Err(e) => Err(codec::db_error(e, what)),
            };
            let _ = reply.send(result);
        });
        let sender = self.readers.as_ref().ok_or_else(|| gone(what))?;
        sender.send(job).map_err(|_| gone(what))?;
        answer.await.map_err(|_| gone(what))?
    }
}

/// Runs blocking file work on a thread of its own (large attachments only, so rare) and awaits
/// it without depending on any async runtime.
async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    spawn("opensmev-sqlite-files", move || {
        let _ = reply.send(f());
    })?;
    answer.await.map_err(|_| gone("attachment files"))?
}

fn gone(what: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "{what}: the SQLite store's worker thread has stopped"
    ))
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
        .map_err(|e| StoreError::Unavailable(format!("starting thread {name}: {e}")))
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channels lets each thread finish what is queued, then exit. The readers
        // go first: the writer's connection must be the last one closed, so that SQLite
        // checkpoints the WAL into the database and removes the `-wal` and `-shm` files (a
        // read-only connection closing last cannot), leaving a cleanly closed store.
        self.readers.take();
        let mut threads: Vec<JoinHandle<()>> = self.threads.drain(..).collect();
        let writer = if threads.is_empty() {
            None
        } else {
            Some(threads.remove(0))
        };
        for thread in threads {
            let _ = thread.join();
        }
        self.writer.take();
        if let Some(thread) = writer {
            let _ = thread.join();
        }
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn enqueue(
        &self,
        message: NewMessage,
        status: InteractionStatus,
        quota: u64,
    ) -> Result<Enqueued, StoreError> {
        self.enqueue_and_update(message, status, quota, None).await
    }

    async fn enqueue_response(
        &self,
        message: NewMessage,
        status: InteractionStatus,
        quota: u64,
        request_status: InteractionStatus,
    ) -> Result<Enqueued, StoreError> {
        self.enqueue_and_update(message, status, quota, Some(request_status))
            .await
    }

    async fn lease_next(&self, request: LeaseRequest) -> Result<Option<StoredMessage>, StoreError> {
        // A poll of a queue that was empty last time is answered from a reader's snapshot when
        // it still is, without a turn of the writer (idle systems poll all the time). A message
        // committed after that snapshot is simply found by the next poll, as if this one had
        // come a moment earlier.
        if self.empty.seen_empty(&request) {
            let probe = request.clone();
            if !self
                .read("lease_next: probe", move |conn| {
                    ops::anything_to_lease(conn, &probe)
                })
                .await?
            {
                return Ok(None);
            }
        }
        let key = request.clone();
        let node = self.node.clone();
        let mut leased = self
            .write("lease_next", move |conn| {
                ops::lease_next(conn, node.as_deref(), &request)
            })
            .await?;
        self.empty.record(&key, leased.is_some());
        if let Some(stored) = &mut leased {
            self.files.resolve(stored);
        }
        Ok(leased)
    }

    async fn ack(
        &self,
        recipient: &Mnemonic,
        id: &MessageId,
        accepted: bool,
        rule: AckRule,
        now: OffsetDateTime,
    ) -> Result<AckOutcome, StoreError> {
        let (recipient, id, node) = (recipient.clone(), id.clone(), self.node.clone());
        self.write("ack", move |conn| {
            ops::ack(conn, node.as_deref(), &recipient, &id, accepted, rule, now)
        })
        .await
    }

    async fn settle_lease(
        &self,
        recipient: &Mnemonic,
        id: &MessageId,
        delivery_count: u32,
        outcome: LeaseOutcome,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (owner, id, node) = (recipient.clone(), id.clone(), self.node.clone());
        let released = matches!(outcome, LeaseOutcome::Release);
        let settled = self
            .write("settle_lease", move |conn| {
                let node = node.as_deref();
                ops::settle_lease(conn, node, &owner, &id, delivery_count, &outcome, now)
            })
            .await?;
        if released && let Some((kind, node)) = &settled {
            // The queue holds the message again: the empty-queue hint must not hide it.
            self.empty.queued(recipient, *kind, node.as_deref());
            self.signal(QueueSignal {
                recipient: recipient.clone(),
                kind: *kind,
                node: node.clone(),
            });
        }
        Ok(settled.is_some())
    }

    async fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>, StoreError> {
        let id = id.clone();
        let mut stored = self
            .read("message", move |conn| ops::load(conn, ops::By::Id(&id)))
            .await?;
        if let Some(stored) = &mut stored {
            self.files.resolve(stored);
        }
        Ok(stored)
    }

    async fn set_status(
        &self,
        id: &MessageId,
        status: InteractionStatus,
        notice: Option<String>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (id, node) = (id.clone(), self.node.clone());
        self.write("set_status", move |conn| {
            let node = node.as_deref();
            ops::set_status(conn, node, None, &id, status, notice.as_deref(), now)
        })
        .await
    }

    async fn take_status_notice(
        &self,
        recipient: &Mnemonic,
    ) -> Result<Option<StatusNotice>, StoreError> {
        let recipient = recipient.clone();
        self.write("take_status_notice", move |conn| {
            ops::take_status_notice(conn, &recipient)
        })
        .await
    }

    async fn queue_depths(&self, recipient: &Mnemonic) -> Result<Vec<QueueDepth>, StoreError> {
        let recipient = recipient.clone();
        self.read("queue_depths", move |conn| {
            ops::queue_depths(conn, &recipient)
        })
        .await
    }

    async fn journal(&self, id: &MessageId) -> Result<Vec<JournalEvent>, StoreError> {
        let id = id.clone();
        self.read("journal", move |conn| ops::journal(conn, &id))
            .await
    }

    async fn registry(&self) -> Result<Option<RegistryDocument>, StoreError> {
        self.read("registry", ops::registry).await
    }

    async fn save_registry(
        &self,
        text: String,
        expected: Option<u64>,
        force: bool,
        now: OffsetDateTime,
        audit: Option<NewAuditEntry>,
    ) -> Result<RegistryDocument, StoreError> {
        self.write("save_registry", move |conn| {
            ops::save_registry(conn, &text, expected, force, now, audit.as_ref())
        })
        .await
    }

    async fn registry_version(&self, version: u64) -> Result<Option<RegistryDocument>, StoreError> {
        self.read("registry_version", move |conn| {
            ops::registry_version(conn, version)
        })
        .await
    }

    async fn search_messages(
        &self,
        query: MessageQuery,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        self.read("search_messages", move |conn| {
            ops::search_messages(conn, &query)
        })
        .await
    }

    async fn message_by_client_id(
        &self,
        sender: &Mnemonic,
        client_id: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let (sender, client_id) = (sender.clone(), client_id.to_owned());
        let mut stored = self
            .read("message_by_client_id", move |conn| {
                ops::message_by_client_id(conn, &sender, &client_id)
            })
            .await?;
        if let Some(stored) = &mut stored {
            self.files.resolve(stored);
        }
        Ok(stored)
    }

    async fn create_token(
        &self,
        token: TokenRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        self.write("create_token", move |conn| {
            ops::create_token(conn, &token, &audit)
        })
        .await
    }

    async fn token_by_secret_hash(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<TokenRecord>, StoreError> {
        let secret_hash = *secret_hash;
        self.read("token_by_secret_hash", move |conn| {
            ops::token_by_secret_hash(conn, &secret_hash)
        })
        .await
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read("tokens", ops::tokens).await
    }

    async fn revoke_token(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write("revoke_token", move |conn| {
            ops::revoke_token(conn, &id, now, &audit)
        })
        .await
    }

    async fn create_account(
        &self,
        account: Account,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        self.write("create_account", move |conn| {
            ops::create_account(conn, &account, &audit)
        })
        .await
    }

    async fn update_account(
        &self,
        account: Account,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        self.write("update_account", move |conn| {
            ops::update_account(conn, &account, &audit)
        })
        .await
    }

    async fn account(&self, login: &str) -> Result<Option<Account>, StoreError> {
        let login = login.to_owned();
        self.read("account", move |conn| ops::account(conn, &login))
            .await
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.read("accounts", ops::accounts).await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<i64, StoreError> {
        self.write("append_audit", move |conn| ops::audit_add(conn, &entry))
            .await
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.read("audit", move |conn| ops::audit(conn, &query))
            .await
    }

    async fn create_session(&self, session: WebSession) -> Result<(), StoreError> {
        self.write("create_session", move |conn| {
            cabinet::create_session(conn, &session)
        })
        .await
    }

    async fn session(&self, id_hash: &[u8; 32]) -> Result<Option<WebSession>, StoreError> {
        let id_hash = *id_hash;
        self.read("session", move |conn| cabinet::session(conn, &id_hash))
            .await
    }

    async fn touch_session(
        &self,
        id_hash: &[u8; 32],
        last_seen: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let id_hash = *id_hash;
        self.write("touch_session", move |conn| {
            cabinet::touch_session(conn, &id_hash, last_seen, expires_at)
        })
        .await
    }

    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let id_hash = *id_hash;
        self.write("delete_session", move |conn| {
            cabinet::delete_session(conn, &id_hash)
        })
        .await
    }

    async fn delete_sessions_of(&self, login: &str) -> Result<u64, StoreError> {
        let login = login.to_owned();
        self.write("delete_sessions_of", move |conn| {
            cabinet::delete_sessions_of(conn, &login)
        })
        .await
    }

    async fn purge_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.write("purge_sessions", move |conn| {
            cabinet::purge_sessions(conn, now)
        })
        .await
    }

    async fn login_failures(&self, login: &str) -> Result<Option<LoginFailures>, StoreError> {
        let login = login.to_owned();
        self.read("login_failures", move |conn| {
            cabinet::login_failures(conn, &login)
        })
        .await
    }

    async fn note_login_failure(
        &self,
        login: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<LoginFailures, StoreError> {
        let login = login.to_owned();
        self.write("note_login_failure", move |conn| {
            cabinet::note_login_failure(conn, &login, now, window)
        })
        .await
    }

    async fn clear_login_failures(&self, login: &str) -> Result<(), StoreError> {
        let login = login.to_owned();
        self.write("clear_login_failures", move |conn| {
            cabinet::clear_login_failures(conn, &login)
        })
        .await
    }

    async fn save_draft(&self, draft: Draft) -> Result<(), StoreError> {
        self.write("save_draft", move |conn| cabinet::save_draft(conn, &draft))
            .await
    }

    async fn draft(&self, id: &str) -> Result<Option<Draft>, StoreError> {
        let id = id.to_owned();
        self.read("draft", move |conn| cabinet::draft(conn, &id))
            .await
    }

    async fn drafts(&self, owner: &str) -> Result<Vec<Draft>, StoreError> {
        let owner = owner.to_owned();
        self.read("drafts", move |conn| cabinet::drafts(conn, &owner))
            .await
    }

    async fn delete_draft(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        self.write("delete_draft", move |conn| {
            cabinet::delete_draft(conn, &id, &owner)
        })
        .await
    }

    async fn settings(&self, name: &str) -> Result<Option<Settings>, StoreError> {
        let name = name.to_owned();
        self.read("settings", move |conn| cases::settings(conn, &name))
            .await
    }

    async fn save_settings(
        &self,
        name: &str,
        text: String,
        expected: Option<u64>,
        now: OffsetDateTime,
        audit: NewAuditEntry,
    ) -> Result<Settings, StoreError> {
        let name = name.to_owned();
        self.write("save_settings", move |conn| {
            cases::save_settings(conn, &name, &text, expected, now, &audit)
        })
        .await
    }

    async fn open_case(&self, case: Case, event: CaseEvent) -> Result<bool, StoreError> {
        self.write("open_case", move |conn| {
            cases::open_case(conn, &case, &event)
        })
        .await
    }

    async fn case(
        &self,
        request: &MessageId,
    ) -> Result<Option<(Case, Vec<CaseEvent>)>, StoreError> {
        let request = request.clone();
        self.read("case", move |conn| cases::case(conn, &request))
            .await
    }

    async fn change_case(
        &self,
        request: &MessageId,
        change: CaseChange,
        event: CaseEvent,
    ) -> Result<bool, StoreError> {
        let request = request.clone();
        self.write("change_case", move |conn| {
            cases::change_case(conn, &request, &change, &event)
        })
        .await
    }

    async fn cases(&self, query: CaseQuery) -> Result<Vec<Case>, StoreError> {
        self.read("cases", move |conn| cases::cases(conn, &query))
            .await
    }

    async fn requests_without_case(
        &self,
        recipient: &Mnemonic,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        let recipient = recipient.clone();
        self.read("requests_without_case", move |conn| {
            cases::requests_without_case(conn, &recipient, since, limit)
        })
        .await
    }

    async fn dead_letters(&self, query: DeadLetterQuery) -> Result<Vec<DeadLetter>, StoreError> {
        self.read("dead_letters", move |conn| ops::dead_letters(conn, &query))
            .await
    }

    async fn replay_dead_letters(
        &self,
        query: DeadLetterQuery,
        actor: Option<String>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let node = self.node.clone();
        let queues = self
            .write("replay_dead_letters", move |conn| {
                ops::replay_dead_letters(conn, node.as_deref(), &query, actor.as_deref(), now)
            })
            .await?;
        let count = queues.len() as u64;
        let mut signalled = std::collections::HashSet::new();
        for (recipient, kind) in queues {
            if !signalled.insert((recipient.clone(), kind)) {
                continue;
            }
            let Ok(recipient) = Mnemonic::parse(&recipient) else {
                continue;
            };
            self.empty.queued(&recipient, kind, None);
            self.signal(QueueSignal {
                recipient,
                kind,
                node: None,
            });
        }
        Ok(count)
    }

    async fn once(&self, key: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.write("once", move |conn| cases::once(conn, &key, at))
            .await
    }

    async fn forget_once(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write("forget_once", move |conn| cases::forget_once(conn, &key))
            .await
    }

    fn listen(&self, listener: SignalListener) {
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    async fn claim_job(
        &self,
        job: &str,
        holder: &str,
        ttl: Duration,
        now: OffsetDateTime,
    ) -> Result<Option<JobClaim>, StoreError> {
        let (job, holder) = (job.to_owned(), holder.to_owned());
        self.write("claim_job", move |conn| {
            upkeep::claim_job(conn, &job, &holder, ttl, now)
        })
        .await
    }

    async fn release_job(&self, claim: &JobClaim) -> Result<bool, StoreError> {
        let claim = claim.clone();
        self.write("release_job", move |conn| upkeep::release_job(conn, &claim))
            .await
    }

    async fn sweep(
        &self,
        claim: &JobClaim,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<SweepReport, StoreError> {
        let (claim, node) = (claim.clone(), self.node.clone());
        let (report, signals) = self
            .write("sweep", move |conn| {
                upkeep::sweep(conn, node.as_deref(), &claim, now, limit)
            })
            .await?;
        for signal in signals {
            self.empty
                .queued(&signal.recipient, signal.kind, signal.node.as_deref());
            self.signal(signal);
        }
        Ok(report)
    }

    async fn export(
        &self,
        section: Section,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let mut records = self
            .read("export", move |conn| {
                copy::export(conn, section, after, limit)
            })
            .await?;
        for record in &mut records {
            if let Record::Message(message) = record {
                self.files.resolve(&mut message.stored);
            }
        }
        Ok(records)
    }

    async fn import(&self, mut records: Vec<Record>) -> Result<(), StoreError> {
        // Attachment files are copied into the store's directory, durably, before the commit.
        let files = Arc::clone(&self.files);
        let needs_files = records.iter().any(|r| {
            matches!(r, Record::Message(m)
                if m.stored.message.attachments.iter().any(|a| matches!(a.data, Blob::File { .. })))
        });
        let mut adopted = Vec::new();
        if needs_files {
            let (back, taken) = blocking(move || {
                let mut taken = Vec::new();
                for record in &mut records {
                    if let Record::Message(m) = record {
                        match files.adopt_copies(&mut m.stored.message) {
                            Ok(more) => taken.extend(more),
                            Err(e) => {
                                files::Files::discard(&taken);
                                return Err(e);
                            }
                        }
                    }
                }
                Ok((records, taken))
            })
            .await?;
            records = back;
            adopted = taken;
        }
        let result = self
            .write("import", move |conn| copy::import(conn, &records))
            .await;
        if result.is_err() {
            files::Files::discard(&adopted);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(recipient: &str, node: Option<&str>) -> LeaseRequest {
        LeaseRequest {
            recipient: Mnemonic::parse(recipient).unwrap(),
            kind: MessageKind::Response,
            message_type: None,
            node_id: node.map(str::to_owned),
            lease: time::Duration::seconds(60),
            now: OffsetDateTime::UNIX_EPOCH,
            push: false,
            fair_first: false,
        }
    }

    #[test]
    fn the_empty_queue_hint_follows_polls_and_queued_messages() {
        let empty = EmptyQueues::default();
        let (a, b, none, other) = (
            poll("C01", Some("a")),
            poll("C01", Some("b")),
            poll("C01", None),
            poll("C02", Some("a")),
        );
        for p in [&a, &b, &none, &other] {
            assert!(!empty.seen_empty(p));
            empty.record(p, false);
            assert!(empty.seen_empty(p));
        }
        assert_eq!(empty.lock().nodes, 4);
        let c01 = Mnemonic::parse("C01").unwrap();
        // A message for node a concerns node a only.
        empty.queued(&c01, MessageKind::Response, Some("a"));
        assert!(!empty.seen_empty(&a));
        assert!(empty.seen_empty(&b) && empty.seen_empty(&none));
        // Another kind's queue is another queue.
        empty.queued(&c01, MessageKind::Request, None);
        assert!(empty.seen_empty(&b));
        // A message bound to no node concerns every poller of the queue, and no other queue.
        empty.queued(&c01, MessageKind::Response, None);
        assert!(!empty.seen_empty(&b) && !empty.seen_empty(&none));
        assert!(empty.seen_empty(&other));
        assert_eq!(empty.lock().nodes, 1);
        // A poll that found something is no longer empty.
        empty.record(&other, true);
        assert!(!empty.seen_empty(&other));
        assert_eq!(empty.lock().nodes, 0);
        assert!(empty.lock().queues.is_empty());
    }
}
