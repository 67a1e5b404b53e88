//! `opensmev-load backlog`: fills a data directory's store with a backlog of queued messages, for
//! the "throughput at depth" scale run.
//!
//! The messages go straight into the store through the [`Store`] contract (as `SendRequest`
//! would store them, without the HTTP and signature work, which would take hours for 10 M), many
//! at a time so that the SQLite writer commits them in groups. They are requests of the unsigned
//! benchmark kind from [`TEST_CONSUMER`] to the backlog system [`BACKLOG_SYSTEM`] (a registered
//! test system that nobody polls, with a queue quota above any backlog), so they sit in the same
//! tables and indexes as the measured traffic — every lease, insert and ack of a later run works
//! on B-trees holding the backlog — without being taken by the run's providers.
//!
//! Then: `opensmev-load --spawn --data-dir DIR …` runs on that store (the server reuses it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opensmev_store::{Enqueued, NewMessage, Store};
use opensmev_store_sqlite::SqliteStore;
use opensmev_types::{
    DeliveryMode, InteractionStatus, MessageId, MessageKind, Mnemonic, Priority, QName,
    SchemaVersion,
};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::LoadError;
use crate::workload::{BACKLOG_SYSTEM, BENCH_UNSIGNED_KIND, BENCH_UNSIGNED_NS, TEST_CONSUMER};

/// Messages in flight towards the store at once (enough to fill the writer's groups).
const IN_FLIGHT: usize = 1024;

/// A backlog fill.
#[derive(Debug, Clone)]
pub struct BacklogConfig {
    /// The server's data directory (the store is `<data_dir>/store`).
    pub data_dir: PathBuf,
    /// How many messages to add.
    pub count: u64,
    /// Padding of each message's business content, in bytes.
    pub payload_bytes: usize,
    /// A progress line on stderr every 5 seconds.
    pub progress: bool,
}

/// What a fill did.
#[derive(Debug, Clone)]
pub struct BacklogReport {
    /// Messages added.
    pub added: u64,
    /// Pending messages of the backlog system afterwards (from the store's counters).
    pub pending: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Size of the database files afterwards, bytes.
    pub database_bytes: u64,
}

impl BacklogReport {
    /// Messages per second.
    pub fn rate(&self) -> f64 {
        self.added as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "added": self.added,
            "pending": self.pending,
            "seconds": self.elapsed.as_secs_f64(),
            "per_second": self.rate(),
            "database_bytes": self.database_bytes,
        })
    }
}

/// One backlog message (`n`-th of this fill).
fn message(n: u64, payload_bytes: usize) -> Result<NewMessage, LoadError> {
    let id = MessageId::parse(&opensmev_client::new_message_id())
        .map_err(|e| LoadError::Setup(format!("message id: {e}")))?;
    let mnemonic = |m: &str| Mnemonic::parse(m).map_err(|e| LoadError::Setup(format!("{m}: {e}")));
    let padding = "Ж".repeat(payload_bytes / 2);
    let sender_data = format!(
        "<ns1:SenderProvidedRequestData xmlns:ns1=\"{types}\" Id=\"SIGNED_BY_CONSUMER\"><ns1:MessageID>{id}</ns1:MessageID><ns2:MessagePrimaryContent xmlns:ns2=\"{basic}\"><LoadRequest xmlns=\"{BENCH_UNSIGNED_NS}\"><Number>{n}</Number><Text>Отложенный запрос {n}{padding}</Text></LoadRequest></ns2:MessagePrimaryContent></ns1:SenderProvidedRequestData>",
        types = SchemaVersion::V1_2.types_ns(),
        basic = SchemaVersion::V1_2.basic_ns(),
    );
    Ok(NewMessage {
        id,
        kind: MessageKind::Request,
        sender: mnemonic(TEST_CONSUMER)?,
        recipient: mnemonic(BACKLOG_SYSTEM)?,
        message_type: QName::new(BENCH_UNSIGNED_NS, "LoadRequest"),
        vs_id: BENCH_UNSIGNED_KIND.to_owned(),
        version: SchemaVersion::V1_2,
        priority: Priority::default(),
        share: 1,
        delivery_mode: DeliveryMode::Poll,
        test_message: false,
        node_id: None,
        target_node_id: None,
        eol: None,
        transaction_code: None,
        reference_message_id: None,
        original_message_id: None,
        reply_to: None,
        sent_at: time::OffsetDateTime::now_utc(),
        sender_data,
        sender_signature: None,
        attachments: Vec::new(),
        client_id: None,
    })
}

fn database_bytes(store_dir: &Path) -> u64 {
    std::fs::read_dir(store_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Adds `config.count` queued messages for [`BACKLOG_SYSTEM`] to the store under
/// `config.data_dir`. Writes the benchmark registry there first if it has none, so that the
/// directory is ready for `--spawn --data-dir`.
pub async fn fill(config: &BacklogConfig) -> Result<BacklogReport, LoadError> {
    crate::spawn::write_bench_registry(&config.data_dir)?;
    let store_dir = config.data_dir.join("store");
    let store: Arc<dyn Store> = {
        let dir = store_dir.clone();
        Arc::new(
            tokio::task::spawn_blocking(move || SqliteStore::open(&dir))
                .await
                .map_err(|e| LoadError::Setup(format!("opening the store: {e}")))?
                .map_err(|e| LoadError::Setup(format!("opening the store: {e}")))?,
        )
    };
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut tasks: JoinSet<Result<(), LoadError>> = JoinSet::new();
    let mut next = 0u64;
    let mut added = 0u64;
    loop {
        while next < config.count && tasks.len() < IN_FLIGHT {
            let m = message(next, config.payload_bytes)?;
            let store = Arc::clone(&store);
            tasks.spawn(async move {
                match store
                    .enqueue(m, InteractionStatus::RequestIsQueued, u64::MAX)
                    .await
                {
                    Ok(Enqueued::Accepted { .. }) => Ok(()),
                    Ok(other) => Err(LoadError::Setup(format!("backlog enqueue: {other:?}"))),
                    Err(e) => Err(LoadError::Setup(format!("backlog enqueue: {e}"))),
                }
            });
            next += 1;
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        done.map_err(|e| LoadError::Setup(format!("backlog task: {e}")))??;
        added += 1;
        if config.progress && last_progress.elapsed() >= Duration::from_secs(5) {
            last_progress = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "backlog: {added} / {} queued, {:.0}/s, {:.0} s",
                config.count,
                added as f64 / secs,
                secs
            );
        }
    }
    let recipient = Mnemonic::parse(BACKLOG_SYSTEM)
        .map_err(|e| LoadError::Setup(format!("{BACKLOG_SYSTEM}: {e}")))?;
    let pending = store
        .queue_depths(&recipient)
        .await
        .map_err(|e| LoadError::Setup(format!("queue depths: {e}")))?
        .iter()
        .map(|d| d.pending)
        .sum();
    let elapsed = started.elapsed();
    drop(store);
    Ok(BacklogReport {
        added,
        pending,
        elapsed,
        database_bytes: database_bytes(&store_dir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_backlog_is_queued_for_the_backlog_system_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let config = BacklogConfig {
            data_dir: dir.path().to_owned(),
            count: 300,
            payload_bytes: 100,
            progress: false,
        };
        let first = fill(&config).await.unwrap();
        assert_eq!((first.added, first.pending), (300, 300));
        assert!(first.database_bytes > 300 * 100, "{}", first.database_bytes);
        let second = fill(&config).await.unwrap();
        assert_eq!(
            (second.added, second.pending),
            (300, 600),
            "adds to what is there"
        );
        assert!(
            dir.path().join("demo/bench-registry.toml").exists(),
            "ready for --spawn --data-dir"
        );
    }
}
