//! The OpenSMEV store on PostgreSQL: [`PostgresStore`], the [`Store`] contract for several
//! stateless nodes on one database.
//!
//! Key decisions:
//! * Every method is one transaction on a pooled connection (deadpool, connections checked
//!   before reuse: `RecyclingMethod::Verified`, so one broken by a failover is dropped, not
//!   reused; one a call failed on, as `Unavailable`, is closed at once), and returns `Ok` only
//!   after COMMIT (`synchronous_commit` stays on: durable). A transaction the server picked as a
//!   deadlock's victim is run again.
//!   Leasing uses `FOR UPDATE SKIP LOCKED`, so pollers on any number of nodes never get the same
//!   message while its lease runs and never wait for each other; the other races are settled
//!   by unique indexes and row or advisory locks (see `ops`).
//! * Every method runs its database work on the tokio runtime captured at
//!   [`PostgresStore::connect`] (a spawned task whose `JoinHandle` the caller awaits), so the
//!   store can be called from any executor, or from threads with none.
//! * Nothing waits forever: a connection is given within 10 s or the call fails, the server
//!   cancels a statement after 30 s and the client gives up shortly after, and all of these are
//!   [`StoreError::Unavailable`] (see `db` and `codec`).
//! * Attachments live in the database (replicated and backed up with it; see `blobs`); large
//!   ones read back are spooled into a node-local cache directory ([`PgOptions::cache_dir`]).
//! * Times are `timestamptz`: kept to the microsecond, as the store contract allows (see `codec`).
//! * Queue signals travel by `LISTEN/NOTIFY` to every node (see `signals`).
//!
//! The connection string is anything `tokio_postgres::Config` parses: a URL
//! (`postgres://user:pass@host1:5432,host2:5433/db?target_session_attrs=read-write` — several
//! hosts are how nodes follow a promoted replica) or `key=value` pairs
//! (`host=/var/run/postgresql user=postgres dbname=opensmev`). No TLS yet. The schema and its
//! migrations are in `schema`.

mod blobs;
mod cabinet;
mod cases;
mod codec;
mod db;
mod ops;
mod schema;
mod signals;
mod transfer;

pub use schema::SCHEMA_VERSION;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use opensmev_store::{
    Account, AckOutcome, AckRule, AuditEntry, AuditQuery, Case, CaseChange, CaseEvent, CaseQuery,
    DeadLetter, DeadLetterQuery, Draft, Enqueued, JobClaim, JournalEvent, LeaseOutcome,
    LeaseRequest, LoginFailures, MessageQuery, MessageRecord, MessageSummary, NewAuditEntry,
    NewMessage, QueueDepth, Record, RegistryDocument, Section, Settings, SignalListener,
    StatusNotice, Store, StoreError, StoredMessage, SweepReport, TokenRecord, WebSession,
};
use opensmev_types::{InteractionStatus, MessageId, Mnemonic};
use time::OffsetDateTime;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio_postgres::{Config, NoTls};

use crate::codec::{Fail, Res, pool_error};
use crate::db::{read, transaction};
use crate::ops::{By, Loaded};

/// How long getting a pooled connection (waiting for a free one, or opening a new one) may
/// take, and connecting at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long checking a pooled connection before reuse may take.
const RECYCLE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long unacknowledged data may stay on a TCP connection before the kernel gives it up
/// (a peer gone without a word), unless the connection string says otherwise.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Idle time before TCP keepalive probes start, unless the connection string says otherwise
/// (the library's default is two hours).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);

/// How long [`PostgresStore::connect`] waits for the signal connection's first `LISTEN`.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(15);

/// How a [`PostgresStore`] is opened.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The node journal events name ([`JournalEvent::node`]).
    pub node: Option<String>,
    /// The most pooled connections (default 16; at least 1). The signal connection comes on top.
    pub pool_size: usize,
    /// Apply pending schema migrations at connect (default `true`, as the embedded store does).
    /// Without it, a database whose schema is older than this build is refused.
    pub migrate: bool,
    /// The node-local directory where large attachments read back are spooled (created if
    /// needed; a cache: its files may be removed while the node is stopped).
    pub cache_dir: PathBuf,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            node: None,
            pool_size: 16,
            migrate: true,
            cache_dir: std::env::temp_dir().join("opensmev-postgres-cache"),
        }
    }
}

/// The PostgreSQL store. Cheap to clone (clones share the pool, the signal connection and the
/// listener); the signal connection closes when the last clone is dropped.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    node: Option<String>,
    handle: Handle,
    cache: blobs::Cache,
    slot: Arc<signals::Slot>,
    /// Dropped with the store: ends the signal task.
    _shutdown: watch::Sender<()>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("PostgresStore")
            .field("node", &self.inner.node)
            .field("pool_size", &status.max_size)
            .field("connections", &status.size)
            .field("cache_dir", &self.inner.cache.dir())
            .finish()
    }
}

/// Parses a connection string and sets what the store relies on, unless the string says
/// otherwise: timeouts, keepalives, the statement timeout, the application name.
fn config(url: &str) -> Result<Config, StoreError> {
    let mut config: Config = url
        .parse()
        .map_err(|e| StoreError::Backend(format!("the PostgreSQL connection string: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    if config.get_keepalives_idle() == Config::new().get_keepalives_idle() {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    if config.get_application_name().is_none() {
        config.application_name("opensmev");
    }
    let timeout = format!("-c statement_timeout={}", db::STATEMENT_TIMEOUT.as_millis());
    let options = match config.get_options() {
        Some(given) if given.contains("statement_timeout") => given.to_owned(),
        Some(given) => format!("{given} {timeout}"),
        None => timeout,
    };
    config.options(options);
    Ok(config)
}

/// Runs the migrations on a connection of its own.
async fn migrate_with(config: &Config) -> Result<(i64, i64), StoreError> {
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| codec::pg_error(e, "connecting to migrate the schema").error)?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "the migration connection ended");
        }
    });
    let migrated = schema::migrate(&mut client).await;
    drop(client);
    let _ = driver.await;
    migrated
}

fn no_runtime() -> StoreError {
    StoreError::Unavailable("the PostgreSQL store must be opened inside a tokio runtime".to_owned())
}

impl PostgresStore {
    /// Connects to the database at `url` (see the crate docs), migrating its schema first when
    /// [`PgOptions::migrate`], and starts listening for queue signals. Must be called inside a
    /// tokio runtime, which then runs all the store's work (the store itself may be called from
    /// anywhere).
    pub async fn connect(url: &str, options: PgOptions) -> Result<PostgresStore, StoreError> {
        let handle = Handle::try_current().map_err(|_| no_runtime())?;
        let config = config(url)?;
        if options.migrate {
            migrate_with(&config).await?;
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(RECYCLE_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("building the connection pool: {e}")))?;
        {
            let client = pool
                .get()
                .await
                .map_err(|e| pool_error(e, "connecting").error)?;
            let version = tokio::time::timeout(
                db::STATEMENT_TIMEOUT + db::CLIENT_MARGIN,
                schema::version(&client),
            )
            .await
            .map_err(|_| {
                StoreError::Unavailable("reading the schema version: no answer".to_owned())
            })??;
            if version > SCHEMA_VERSION {
                return Err(StoreError::Corrupt(format!(
                    "the database has schema version {version}, this build knows 1 to \
                     {SCHEMA_VERSION}: it was written by a newer OpenSMEV"
                )));
            }
            if version < SCHEMA_VERSION {
                return Err(StoreError::Backend(format!(
                    "the database has schema version {version}, this build needs \
                     {SCHEMA_VERSION}: migrate it first"
                )));
            }
        }
        let cache = blobs::Cache::open(&options.cache_dir)?;
        let slot = Arc::new(RwLock::new(None));
        let (shutdown, stop) = watch::channel(());
        blobs::start_eviction(&handle, options.cache_dir.clone(), stop.clone());
        let first = signals::start(&handle, config, Arc::clone(&slot), stop);
        match tokio::time::timeout(LISTEN_TIMEOUT, first).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(_)) => {
                return Err(StoreError::Unavailable(
                    "the queue signal task ended before listening".to_owned(),
                ));
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "listening for queue signals: no answer within {} s",
                    LISTEN_TIMEOUT.as_secs()
                )));
            }
        }
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                node: options.node,
                handle,
                cache,
                slot,
                _shutdown: shutdown,
            }),
        })
    }

    /// Applies pending migrations to the database at `url`; returns (version before, version
    /// after). Safe to run from several nodes at once (see `schema`). Must be called inside a
    /// tokio runtime.
    pub async fn migrate(url: &str) -> Result<(i64, i64), StoreError> {
        Handle::try_current().map_err(|_| no_runtime())?;
        migrate_with(&config(url)?).await
    }

    /// The node journal events name.
    pub fn node(&self) -> Option<&str> {
        self.inner.node.as_deref()
    }

    /// Runs `work` on the store's runtime and awaits it from whatever executor the caller uses.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Res<T>> + Send + 'static,
    {
        match self.inner.handle.spawn(work).await {
            Ok(result) => result.map_err(|fail| fail.error),
            Err(e) => Err(StoreError::Unavailable(format!(
                "the store's task did not finish: {e}"
            ))),
        }
    }

    async fn enqueue_and_update(
        &self,
        message: NewMessage,
        status: InteractionStatus,
        quota: u64,
        request_status: Option<InteractionStatus>,
    ) -> Result<Enqueued, StoreError> {
        let inner = Arc::clone(&self.inner);
        let what = if request_status.is_some() {
            "enqueue_response"
        } else {
            "enqueue"
        };
        self.run(async move {
            let node = inner.node.as_deref();
            transaction!(
                inner,
                what,
                |tx| ops::enqueue(&tx, node, &message, status, quota, request_status),
                |enqueued| matches!(enqueued, Enqueued::Accepted { .. })
            )
        })
        .await
    }

    /// A message read by id or client id on one connection.
    async fn read_message(
        &self,
        what: &'static str,
        key: Key,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            let by = match &key {
                Key::Id(id) => By::Id(id),
                Key::ClientId(sender, client_id) => By::ClientId(sender, client_id),
            };
            read!(inner, what, |client| async {
                match ops::load(&client, by).await? {
                    Some(loaded) => inner.resolve(&client, loaded).await.map(Some),
                    None => Ok(None),
                }
            })
        })
        .await
    }
}

/// How a read finds a message (owned by the task that reads).
enum Key {
    Id(MessageId),
    ClientId(Mnemonic, String),
}

impl Inner {
    /// A pooled connection.
    async fn client(&self, what: &str) -> Res<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| pool_error(e, what))
    }

    /// A loaded message with its attachments resolved (large ones through the cache, read on
    /// `client`: a poll reads them inside its transaction, so one that cannot read them back
    /// leases nothing).
    async fn resolve<C: GenericClient>(&self, client: &C, loaded: Loaded) -> Res<StoredMessage> {
        let Loaded {
            mut stored,
            attachments,
        } = loaded;
        stored.message.attachments = self
            .cache
            .resolve(client, stored.seq, &stored.message.id, attachments)
            .await?;
        Ok(stored)
    }
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl Store for PostgresStore {
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
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            let node = inner.node.as_deref();
            transaction!(inner, "lease_next", |tx| async {
                match ops::lease_next(&tx, node, &request).await? {
                    Some(loaded) => inner.resolve(&tx, loaded).await.map(Some),
                    None => Ok(None),
                }
            })
        })
        .await
    }

    async fn ack(
        &self,
        recipient: &Mnemonic,
        id: &MessageId,
        accepted: bool,
        rule: AckRule,
        now: OffsetDateTime,
    ) -> Result<AckOutcome, StoreError> {
        let (inner, recipient, id) = (Arc::clone(&self.inner), recipient.clone(), id.clone());
        self.run(async move {
            let node = inner.node.as_deref();
            transaction!(inner, "ack", |tx| ops::ack(
                &tx, node, &recipient, &id, accepted, rule, now
            ))
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
        let (inner, recipient, id) = (Arc::clone(&self.inner), recipient.clone(), id.clone());
        self.run(async move {
            let node = inner.node.as_deref();
            transaction!(inner, "settle_lease", |tx| ops::settle_lease(
                &tx,
                node,
                &recipient,
                &id,
                delivery_count,
                &outcome,
                now
            ))
        })
        .await
    }

    async fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>, StoreError> {
        self.read_message("message", Key::Id(id.clone())).await
    }

    async fn set_status(
        &self,
        id: &MessageId,
        status: InteractionStatus,
        notice: Option<String>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (inner, id) = (Arc::clone(&self.inner), id.clone());
        self.run(async move {
            let node = inner.node.as_deref();
            transaction!(inner, "set_status", |tx| ops::set_status(
                &tx,
                node,
                None,
                &id,
                status,
                notice.as_deref(),
                now
            ))
        })
        .await
    }

    async fn take_status_notice(
        &self,
        recipient: &Mnemonic,
    ) -> Result<Option<StatusNotice>, StoreError> {
        let (inner, recipient) = (Arc::clone(&self.inner), recipient.clone());
        self.run(async move {
            transaction!(inner, "take_status_notice", |tx| ops::take_status_notice(
                &tx, &recipient
            ))
        })
        .await
    }

    async fn queue_depths(&self, recipient: &Mnemonic) -> Result<Vec<QueueDepth>, StoreError> {
        let (inner, recipient) = (Arc::clone(&self.inner), recipient.clone());
        self.run(async move {
            read!(inner, "queue_depths", |client| ops::queue_depths(
                &client, &recipient
            ))
        })
        .await
    }

    async fn journal(&self, id: &MessageId) -> Result<Vec<JournalEvent>, StoreError> {
        let (inner, id) = (Arc::clone(&self.inner), id.clone());
        self.run(async move { read!(inner, "journal", |client| ops::journal(&client, &id)) })
            .await
    }

    async fn registry(&self) -> Result<Option<RegistryDocument>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move { read!(inner, "registry", |client| ops::registry(&client)) })
            .await
    }

    async fn save_registry(
        &self,
        text: String,
        expected: Option<u64>,
        force: bool,
        now: OffsetDateTime,
        audit: Option<NewAuditEntry>,
    ) -> Result<RegistryDocument, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            transaction!(inner, "save_registry", |tx| ops::save_registry(
                &tx,
                &text,
                expected,
                force,
                now,
                audit.as_ref()
            ))
        })
        .await
    }

    async fn registry_version(&self, version: u64) -> Result<Option<RegistryDocument>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            read!(inner, "registry_version", |client| ops::registry_version(
                &client, version
            ))
        })
        .await
    }

    async fn search_messages(
        &self,
        query: MessageQuery,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            read!(inner, "search_messages", |client| ops::search_messages(
                &client, &query
            ))
        })
        .await
    }

    async fn message_by_client_id(
        &self,
        sender: &Mnemonic,
        client_id: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.read_message(
            "message_by_client_id",
            Key::ClientId(sender.clone(), client_id.to_owned()),
        )
        .await
    }

    async fn create_token(
        &self,
        token: TokenRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            transaction!(inner, "create_token", |tx| ops::create_token(
                &tx, &token, &audit
            ))
        })
        .await
    }

    async fn token_by_secret_hash(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<TokenRecord>, StoreError> {
        let (inner, secret_hash) = (Arc::clone(&self.inner), *secret_hash);
        self.run(async move {
            read!(inner, "token_by_secret_hash", |client| {
                ops::token_by_secret_hash(&client, &secret_hash)
            })
        })
        .await
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            read!(inner, "tokens", |client| ops::tokens(
                &client, 0, None, false
            ))
        })
        .await
    }

    async fn revoke_token(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let (inner, id) = (Arc::clone(&self.inner), id.to_owned());
        self.run(async move {
            transaction!(inner, "revoke_token", |tx| ops::revoke_token(
                &tx, &id, now, &audit
            ))
        })
        .await
    }

    async fn create_account(
        &self,
        account: Account,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            transaction!(inner, "create_account", |tx| ops::create_account(
                &tx, &account, &audit
            ))
        })
        .await
    }

    async fn update_account(
        &self,
        account: Account,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            transaction!(inner, "update_account", |tx| ops::update_account(
                &tx, &account, &audit
            ))
        })
        .await
    }

    async fn account(&self, login: &str) -> Result<Option<Account>, StoreError> {
        let (inner, login) = (Arc::clone(&self.inner), login.to_owned());
        self.run(async move { read!(inner, "account", |client| ops::account(&client, &login)) })
            .await
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move { read!(inner, "accounts", |client| ops::accounts(&client, 0, None)) })
            .await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<i64, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(
            async move { transaction!(inner, "append_audit", |tx| ops::audit_add(&tx, &entry)) },
        )
        .await
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move { read!(inner, "audit", |client| ops::audit(&client, &query)) })
            .await
    }

    async fn create_session(&self, session: WebSession) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            transaction!(inner, "create_session", |tx| cabinet::create_session(
                &tx, &session
            ))
        })
        .await
    }

    async fn session(&self, id_hash: &[u8; 32]) -> Result<Option<WebSession>, StoreError> {
        let (inner, id_hash) = (Arc::clone(&self.inner), *id_hash);
        self.run(async move {
            read!(inner, "session", |client| cabinet::session(
                &client, &id_hash
            ))
        })
        .await
    }

    async fn touch_session(
        &self,
        id_hash: &[u8; 32],
        last_seen: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (inner, id_hash) = (Arc::clone(&self.inner), *id_hash);
        self.run(async move {
            read!(inner, "touch_session", |client| cabinet::touch_session(
                &client, &id_hash, last_seen, expires_at
            ))
        })
        .await
    }

    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let (inner, id_hash) = (Arc::clone(&self.inner), *id_hash);
        self.run(async move {
            read!(inner, "delete_session", |client| cabinet::delete_session(
                &client, &id_hash
            ))
        })
        .await
    }

    async fn delete_sessions_of(&self, login: &str) -> Result<u64, StoreError> {
        let (inner, login) = (Arc::clone(&self.inner), login.to_owned());
        self.run(async move {
            read!(inner, "delete_sessions_of", |client| {
                cabinet::delete_sessions_of(&client, &login)
            })
        })
        .await
    }

    async fn purge_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            read!(inner, "purge_sessions", |client| cabinet::purge_sessions(
                &client, now
            ))
        })
        .await
    }

    async fn login_failures(&self, login: &str) -> Result<Option<LoginFailures>, StoreError> {
        let (inner, login) = (Arc::clone(&self.inner), login.to_owned());
        self.run(async move {
            read!(inner, "login_failures", |client| cabinet::login_failures(
                &client, &login
            ))
        })
        .await
    }

    async fn note_login_failure(
        &self,
        login: &str,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<LoginFailures, StoreError> {
        let (inner, login) = (Arc::clone(&self.inner), login.to_owned());
        self.run(async move {
            read!(inner, "note_login_failure", |client| {
                cabinet::note_login_failure(&client, &login, now, window)
            })
        })
        .await
    }

    async fn clear_login_failures(&self, login: &str) -> Result<(), StoreError> {
        let (inner, login) = (Arc::clone(&self.inner), login.to_owned());
        self.run(async move {
            read!(inner, "clear_login_failures", |client| {
                cabinet::clear_login_failures(&client, &login)
            })
        })
        .await
    }

    async fn save_draft(&self, draft: Draft) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            read!(inner, "save_draft", |client| cabinet::save_draft(
                &client, &draft
            ))
        })
        .await
    }

    async fn draft(&self, id: &str) -> Result<Option<Draft>, StoreError> {
        let (inner, id) = (Arc::clone(&self.inner), id.to_owned());
        self.run(async move { read!(inner, "draft", |client| cabinet::draft(&client, &id)) })
            .await
    }

    async fn drafts(&self, owner: &str) -> Result<Vec<Draft>, StoreError> {
        let (inner, owner) = (Arc::clone(&self.inner), owner.to_owned());
        self.run(async move { read!(inner, "drafts", |client| cabinet::drafts(&client, &owner)) })
            .await
    }

    async fn delete_draft(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        let (inner, id, owner) = (Arc::clone(&self.inner), id.to_owned(), owner.to_owned());
        self.run(async move {
            read!(inner, "delete_draft", |client| cabinet::delete_draft(
                &client, &id, &owner
            ))
        })
        .await
    }

    async fn settings(&self, name: &str) -> Result<Option<Settings>, StoreError> {
        let (inner, name) = (Arc::clone(&self.inner), name.to_owned());
        self.run(async move { read!(inner, "settings", |client| cases::settings(&client, &name)) })
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
        let (inner, name) = (Arc::clone(&self.inner), name.to_owned());
        self.run(async move {
            transaction!(inner, "save_settings", |tx| cases::save_settings(
                &tx, &name, &text, expected, now, &audit
            ))
        })
        .await
    }

    async fn open_case(&self, case: Case, event: CaseEvent) -> Result<bool, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            transaction!(inner, "open_case", |tx| cases::open_case(
                &tx, &case, &event
            ))
        })
        .await
    }

    async fn case(
        &self,
        request: &MessageId,
    ) -> Result<Option<(Case, Vec<CaseEvent>)>, StoreError> {
        let (inner, request) = (Arc::clone(&self.inner), request.clone());
        self.run(async move { read!(inner, "case", |client| cases::case(&client, &request)) })
            .await
    }

    async fn change_case(
        &self,
        request: &MessageId,
        change: CaseChange,
        event: CaseEvent,
    ) -> Result<bool, StoreError> {
        let (inner, request) = (Arc::clone(&self.inner), request.clone());
        self.run(async move {
            transaction!(inner, "change_case", |tx| cases::change_case(
                &tx, &request, &change, &event
            ))
        })
        .await
    }

    async fn cases(&self, query: CaseQuery) -> Result<Vec<Case>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move { read!(inner, "cases", |client| cases::cases(&client, &query)) })
            .await
    }

    async fn requests_without_case(
        &self,
        recipient: &Mnemonic,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        let (inner, recipient) = (Arc::clone(&self.inner), recipient.clone());
        self.run(async move {
            read!(inner, "requests_without_case", |client| {
                cases::requests_without_case(&client, &recipient, since, limit)
            })
        })
        .await
    }

    async fn dead_letters(&self, query: DeadLetterQuery) -> Result<Vec<DeadLetter>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            read!(inner, "dead_letters", |client| ops::dead_letters(
                &client, &query
            ))
        })
        .await
    }

    async fn replay_dead_letters(
        &self,
        query: DeadLetterQuery,
        actor: Option<String>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            let node = inner.node.as_deref();
            transaction!(inner, "replay_dead_letters", |tx| {
                ops::replay_dead_letters(&tx, node, &query, actor.as_deref(), now)
            })
        })
        .await
    }

    async fn once(&self, key: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let (inner, key) = (Arc::clone(&self.inner), key.to_owned());
        self.run(async move { read!(inner, "once", |client| cases::once(&client, &key, at)) })
            .await
    }

    async fn forget_once(&self, key: &str) -> Result<(), StoreError> {
        let (inner, key) = (Arc::clone(&self.inner), key.to_owned());
        self.run(async move {
            read!(inner, "forget_once", |client| cases::forget_once(
                &client, &key
            ))
        })
        .await
    }

    fn listen(&self, listener: SignalListener) {
        *self.inner.slot.write().unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    async fn claim_job(
        &self,
        job: &str,
        holder: &str,
        ttl: time::Duration,
        now: OffsetDateTime,
    ) -> Result<Option<JobClaim>, StoreError> {
        let (inner, job, holder) = (Arc::clone(&self.inner), job.to_owned(), holder.to_owned());
        self.run(async move {
            transaction!(inner, "claim_job", |tx| ops::claim_job(
                &tx, &job, &holder, ttl, now
            ))
        })
        .await
    }

    async fn release_job(&self, claim: &JobClaim) -> Result<bool, StoreError> {
        let (inner, claim) = (Arc::clone(&self.inner), claim.clone());
        self.run(
            async move { transaction!(inner, "release_job", |tx| ops::release_job(&tx, &claim)) },
        )
        .await
    }

    async fn sweep(
        &self,
        claim: &JobClaim,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<SweepReport, StoreError> {
        let (inner, claim) = (Arc::clone(&self.inner), claim.clone());
        self.run(async move {
            let node = inner.node.as_deref();
            transaction!(inner, "sweep", |tx| ops::sweep(
                &tx, node, &claim, now, limit
            ))
        })
        .await
    }

    async fn export(
        &self,
        section: Section,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            let limit = limit_of(limit);
            read!(inner, "export", |client| async {
                let records = match section {
                    Section::Registry => ops::registry_after(&client, after, limit)
                        .await?
                        .into_iter()
                        .map(Record::Registry)
                        .collect(),
                    Section::Messages => {
                        let mut out = Vec::new();
                        for loaded in ops::messages_after(&client, after, limit).await? {
                            let journal = ops::journal_of(&client, loaded.stored.seq).await?;
                            let stored = inner.resolve(&client, loaded).await?;
                            out.push(Record::Message(Box::new(MessageRecord { stored, journal })));
                        }
                        out
                    }
                    Section::Notices => ops::notices_after(&client, after, limit)
                        .await?
                        .into_iter()
                        .map(Record::Notice)
                        .collect(),
                    Section::Tokens => ops::tokens(&client, after.max(0), Some(limit), true)
                        .await?
                        .into_iter()
                        .map(Record::Token)
                        .collect(),
                    Section::Accounts => ops::accounts(&client, after.max(0), Some(limit))
                        .await?
                        .into_iter()
                        .map(Record::Account)
                        .collect(),
                    Section::Audit => ops::audit_after(&client, after, limit)
                        .await?
                        .into_iter()
                        .map(Record::Audit)
                        .collect(),
                };
                Ok::<_, Fail>(records)
            })
        })
        .await
    }

    async fn import(&self, records: Vec<Record>) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move { transaction!(inner, "import", |tx| transfer::import(&tx, &records)) })
            .await
    }
}
