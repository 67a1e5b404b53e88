//! `opensmev-load hostile` must not rot: each attack, small and short, against the real server
//! in this process (so "the server's" RSS is this test process's) yields a well-formed report
//! while the normal client's round trips succeed. What the server does to the attackers (413,
//! closing slow connections) is not asserted here: the server's own tests do that.

use std::time::Duration;

use opensmev_loadgen::hostile::{
    Attack, AttackCounts, HostileConfig, HostileReport, MARKDOWN_HEADER,
};

/// Starts the demo server on port 0, runs `config` (as tweaked) against it, stops the server.
async fn attack(attack: Attack, tweak: impl FnOnce(&mut HostileConfig)) -> HostileReport {
    let dir = tempfile::tempdir().unwrap();
    let config = opensmev_server::config::Config {
        data_dir: dir.path().to_owned(),
        demo: true,
        ..opensmev_server::config::Config::default()
    };
    let app = opensmev_server::Application::build(config).await.unwrap();
    let demo_dir = app.demo().unwrap().dir.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(listener, async move {
        let _ = stopped.await;
    }));
    let mut config = HostileConfig::new(&base, &demo_dir, std::process::id(), attack);
    config.hold = Duration::from_secs(3);
    // The test process holds the server and the test: no memory target, no abort.
    config.abort_rss_kib = 0;
    tweak(&mut config);
    let report = opensmev_loadgen::hostile::run(&config).await.unwrap();
    let _ = stop.send(());
    // Every attacking connection is closed by now; a server still busy is not this test's
    // business.
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    report
}

fn assert_well_formed(report: &HostileReport, attack: Attack) {
    let row = report.to_markdown();
    let columns = MARKDOWN_HEADER.lines().next().unwrap().matches('|').count();
    assert_eq!(row.matches(" | ").count() + 2, columns, "{row}");
    assert!(
        row.starts_with(&format!("| {} ×", attack.as_str())),
        "{row}"
    );
    assert!(row.ends_with("|\n") && row.lines().count() == 1, "{row}");
    let rt = &report.round_trips;
    assert!(rt.completed > 0, "{row}");
    assert_eq!(rt.failed, 0, "{row}\n{:?}", rt.first_failures);
    assert!(rt.max_ms().unwrap() >= rt.p50_ms().unwrap(), "{row}");
    assert!(report.rss_before_kib > 0 && report.rss_peak_kib >= report.rss_before_kib);
    assert!(report.aborted.is_none(), "{row}");
    assert!(report.elapsed > Duration::ZERO, "{row}");
    let json = report.to_json();
    assert_eq!(json["attack"], attack.as_str());
    assert_eq!(json["round_trips"]["completed"], rt.completed);
    assert!(json["round_trips"]["latency_ms"]["max"].as_f64().unwrap() > 0.0);
    assert!(json["server"]["rss_peak_kib"].as_u64().unwrap() > 0);
    assert!(json["targets"]["met"].is_boolean());
    assert!(json["attack_counts"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_report() {
    let report = attack(Attack::SlowUploads, |c| c.count = 8).await;
    assert_well_formed(&report, Attack::SlowUploads);
    let AttackCounts::SlowUploads { uploads, oversized } = &report.counts else {
        panic!("{:?}", report.counts);
    };
    assert_eq!(uploads.attempted, 8);
    assert_eq!(uploads.opened + uploads.refused, 8);
    assert!(uploads.opened > 0);
    assert!(oversized.opened);
    let json = report.to_json();
    assert_eq!(json["attack_counts"]["uploads"]["attempted"], 8);
    assert_eq!(
        json["attack_counts"]["oversized_probe"]["declared_bytes"],
        1_000_000_000_000u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_certs_report() {
    let report = attack(Attack::LargeCerts, |c| {
        c.count = 5;
        c.cert_bytes = 256 * 1024;
        c.concurrency = 2;
        c.hold = Duration::from_secs(30);
    })
    .await;
    assert_well_formed(&report, Attack::LargeCerts);
    let AttackCounts::LargeCerts(certs) = &report.counts else {
        panic!("{:?}", report.counts);
    };
    assert_eq!(certs.made, 5, "{certs:?}");
    assert_eq!(certs.answers.values().sum::<u64>(), 5, "{certs:?}");
    assert!(certs.certificate_der_bytes > 256 * 1024, "{certs:?}");
    // The bus refuses every one of them (the signature cannot verify).
    assert_eq!(certs.accepted, 0, "{certs:?}");
    assert!(
        certs
            .answers
            .keys()
            .all(|k| !k.starts_with("error: making")),
        "{certs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_dribble_report() {
    let report = attack(Attack::HeaderDribble, |c| {
        c.count = 50;
        c.idle_connections = 5;
    })
    .await;
    assert_well_formed(&report, Attack::HeaderDribble);
    let AttackCounts::HeaderDribble { dribblers, idle } = &report.counts else {
        panic!("{:?}", report.counts);
    };
    assert_eq!(dribblers.attempted, 50);
    assert_eq!(idle.attempted, 5);
    assert!(dribblers.opened > 0 && idle.opened > 0);
    assert!(report.elapsed >= Duration::from_secs(3));
    let json = report.to_json();
    assert_eq!(json["attack_counts"]["dribblers"]["attempted"], 50);
    assert_eq!(
        json["attack_counts"]["idle"]["open_at_end"]
            .as_u64()
            .unwrap()
            + json["attack_counts"]["idle"]["closed_by_server"]
                .as_u64()
                .unwrap(),
        idle.opened
    );
}
