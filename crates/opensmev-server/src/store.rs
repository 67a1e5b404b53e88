//! Opening the bus's store where the configuration says: the embedded store (SQLite, the
//! default) or PostgreSQL shared by several nodes; and applying PostgreSQL migrations.

use std::path::Path;
use std::sync::Arc;

use opensmev_store::{Store, StoreError};
use opensmev_store_postgres::{PgOptions, PostgresStore};
use opensmev_store_sqlite::SqliteStore;

use crate::config::{Config, StoreLocation};

/// How a store is opened apart from where.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The node journal events name.
    pub node: Option<String>,
    /// PostgreSQL: the most connections.
    pub pool_size: usize,
    /// PostgreSQL: apply pending migrations first.
    pub migrate: bool,
    /// PostgreSQL: where large attachments read back are spooled on this node.
    pub cache_dir: std::path::PathBuf,
}

impl OpenOptions {
    /// The options a node of `config` uses.
    pub fn for_node(config: &Config) -> OpenOptions {
        OpenOptions {
            node: Some(crate::access::node(config).to_owned()),
            pool_size: config.store_pool_size,
            migrate: config.store_migrate,
            cache_dir: config.data_dir.join("cache").join("attachments"),
        }
    }

    /// Options for a tool (`opensmev store copy`, `registry import`): no node, a small pool,
    /// migrations applied, a cache in the system's temporary directory.
    pub fn for_tool(cache_parent: &Path) -> OpenOptions {
        OpenOptions {
            node: None,
            pool_size: 4,
            migrate: true,
            cache_dir: cache_parent.join("opensmev-cache"),
        }
    }
}

/// Opens the store at `location`. Must run inside a tokio runtime (PostgreSQL's connections
/// live on it).
pub async fn open(
    location: &StoreLocation,
    options: OpenOptions,
) -> Result<Arc<dyn Store>, StoreError> {
    match location {
        StoreLocation::Embedded(dir) => {
            let dir = dir.clone();
            let node = options.node;
            let store = tokio::task::spawn_blocking(move || {
                SqliteStore::open_on_node(&dir, node.as_deref())
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("opening the store: {e}")))??;
            Ok(Arc::new(store))
        }
        StoreLocation::Postgres(url) => {
            let store = PostgresStore::connect(
                url,
                PgOptions {
                    node: options.node,
                    pool_size: options.pool_size,
                    migrate: options.migrate,
                    cache_dir: options.cache_dir,
                },
            )
            .await?;
            Ok(Arc::new(store))
        }
    }
}

/// Applies pending migrations: `(version before, version after)`. The embedded store migrates
/// itself whenever it is opened, so for it this opens and closes it.
pub async fn migrate(location: &StoreLocation) -> Result<(i64, i64), StoreError> {
    match location {
        StoreLocation::Postgres(url) => PostgresStore::migrate(url).await,
        StoreLocation::Embedded(dir) => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || SqliteStore::open(&dir).map(drop))
                .await
                .map_err(|e| StoreError::Unavailable(format!("opening the store: {e}")))??;
            let version = opensmev_store_sqlite::SCHEMA_VERSION;
            Ok((version, version))
        }
    }
}
