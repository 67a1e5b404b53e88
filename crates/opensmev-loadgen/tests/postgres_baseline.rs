//! The PostgreSQL `SKIP LOCKED` queue baseline must not rot: a server that cannot be reached is
//! a setup error that names it (password hidden), and a few-second run against the local server
//! (skipped when none answers on 127.0.0.1:5432) completes every round trip without an error and
//! drops its table.

use std::time::Duration;

use opensmev_loadgen::baseline::postgres::{self, DEFAULT_URL, PostgresConfig};

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

#[test]
fn nothing_answers_on_a_closed_port() {
    let addr = format!("127.0.0.1:{}", closed_port());
    assert!(!postgres::postgres_answers(
        &addr,
        Duration::from_millis(500)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_setup_error() {
    let mut config = PostgresConfig::new(format!(
        "host=127.0.0.1 port={} user=app password=secret dbname=test",
        closed_port()
    ));
    config.duration = Duration::from_millis(200);
    let err = tokio::time::timeout(Duration::from_secs(30), postgres::run(&config))
        .await
        .expect("a refused connection is reported at once")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not reachable"), "{err}");
    assert!(err.contains("password=***"), "{err}");
    assert!(!err.contains("secret"), "{err}");
    let config = PostgresConfig::new("host=127.0.0.1 port=notaport");
    let err = postgres::run(&config).await.unwrap_err().to_string();
    assert!(err.contains("not a PostgreSQL connection string"), "{err}");
}

/// Runs only when a PostgreSQL server answers on 127.0.0.1:5432.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_against_a_local_postgres() {
    if !postgres::postgres_answers("127.0.0.1:5432", Duration::from_secs(2)) {
        eprintln!(
            "note: no PostgreSQL server on 127.0.0.1:5432, the PostgreSQL smoke test is skipped (start one with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`)"
        );
        return;
    }
    let mut config = PostgresConfig::new(DEFAULT_URL);
    config.duration = Duration::from_millis(1500);
    config.payload_bytes = 1000;
    config.command_line = "smoke".into();
    // Bounded: a stuck server or client must fail the test, not hang the suite.
    let report = tokio::time::timeout(Duration::from_secs(60), postgres::run(&config))
        .await
        .expect("the PostgreSQL baseline did not finish within 60 s")
        .expect("postgres baseline");
    let md = report.to_markdown();
    assert!(report.completed > 0, "{md}");
    assert_eq!(report.errors, 0, "{md}");
    assert_eq!(report.failed, 0, "{md}");
    assert_eq!(report.hops(), 2 * report.completed);
    assert!(report.hops_per_second() > 0.0);
    assert!(report.round_trip_latency().p99_ms > 0.0, "{md}");
    for o in &report.operations {
        assert!(o.latency.count > 0, "{}: {md}", o.name);
    }
    assert!(report.server_cpu_seconds.is_some_and(|s| s > 0.0), "{md}");
    assert!(md.contains("synchronous_commit on"), "{md}");
    let json = report.to_json();
    assert!(json["totals"]["hops_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(json["tool"], "opensmev-load baseline postgres");
    // The table is gone.
    assert!(report.created[0].starts_with("opensmev_baseline_"), "{md}");
    let (client, connection) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(DEFAULT_URL, tokio_postgres::NoTls),
    )
    .await
    .expect("the server answers")
    .expect("connect");
    let driver = tokio::spawn(connection);
    let row = tokio::time::timeout(
        Duration::from_secs(10),
        client.query_one("SELECT to_regclass($1)::text", &[&report.created[0]]),
    )
    .await
    .expect("the server answers a query")
    .expect("to_regclass");
    assert_eq!(
        row.get::<_, Option<String>>(0),
        None,
        "{} was not dropped",
        report.created[0]
    );
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
}
