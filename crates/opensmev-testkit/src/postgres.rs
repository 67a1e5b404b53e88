//! The test PostgreSQL server: the admin connection from `OSMV_TEST_POSTGRES` (what
//! `scripts/postgres-setup.sh` prints; unset, the local socket as `postgres`), statements on its
//! admin database, and fresh databases with the `postgres://` URL a node's `store` setting takes.
//! An unreachable server fails the test, naming the variable.

use tokio_postgres::NoTls;
use tokio_postgres::config::Host;

/// The variable naming the test server.
pub const ENV: &str = "OSMV_TEST_POSTGRES";

/// The admin connection string.
pub fn admin_conn() -> String {
    std::env::var(ENV)
        .unwrap_or_else(|_| "host=/var/run/postgresql user=postgres dbname=postgres".to_owned())
}

/// The admin connection string, parsed.
pub fn admin_config() -> tokio_postgres::Config {
    admin_conn()
        .parse()
        .unwrap_or_else(|e| panic!("{ENV} is not a connection string: {e}"))
}

/// Runs `sql` (one statement) on the admin database.
pub async fn admin(sql: &str) {
    let (client, connection) = tokio_postgres::connect(&admin_conn(), NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL named by {ENV} cannot be reached: {e}"));
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.expect(sql);
    drop(client);
    let _ = driver.await;
}

/// A fresh (empty) database `name`; its `postgres://` URL.
pub async fn database(name: &str) -> String {
    admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    admin(&format!("CREATE DATABASE {name}")).await;
    url(name)
}

/// The `postgres://` URL of database `name` on the test server (with its user and password).
pub fn url(name: &str) -> String {
    let config = admin_config();
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    match config.get_hosts().first() {
        Some(Host::Tcp(host)) => {
            let port = config.get_ports().first().copied().unwrap_or(5432);
            format!("postgres://{user}{password}@{host}:{port}/{name}")
        }
        Some(Host::Unix(dir)) => {
            format!("postgres://{user}{password}@/{name}?host={}", dir.display())
        }
        None => format!("postgres://{user}{password}@localhost/{name}"),
    }
}

/// Drops the database it names when dropped (also when the test fails).
#[derive(Debug)]
pub struct Database(pub String);

impl Drop for Database {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0);
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(admin(&sql)))
        })
        .join();
    }
}
