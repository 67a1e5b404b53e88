//! The load tool must not rot and must not be fooled: a few-second run against the real server
//! (in-process, through the library API) completes every round trip without an error, and a
//! fake server that answers every call with the same well-formed, schema-valid but unsigned
//! `SendRequestResponse` scores nothing but errors; the large-attachment run
//! (`opensmev-load attachment`) carries a few MiB through and back intact; the REST mode
//! (`--rest`, server-held keys) completes its round trips too; `push-compare` delivers every
//! message exactly once by polling, by REST push and by SOAP push.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use opensmev_loadgen::{Api, LoadConfig, Stop, Target, Workload};
use opensmev_types::SchemaVersion;

const OPERATIONS: [&str; 7] = [
    "SendRequest",
    "GetRequest",
    "Ack",
    "SendResponse",
    "GetResponse",
    "Ack-response",
    "RoundTrip",
];

fn assert_clean(report: &opensmev_loadgen::Report, expected: u64) {
    let markdown = report.to_markdown();
    assert_eq!(report.call_errors(), 0, "{markdown}");
    assert_eq!(report.failed_round_trips(), 0, "{markdown}");
    assert_eq!(report.round_trips(), expected, "{markdown}");
    let json = report.to_json();
    for op in OPERATIONS {
        let o = &json["operations"][op];
        assert!(o.is_object(), "{op} missing from the JSON report");
        assert!(o["ok"].as_u64().unwrap() > 0, "{op}: {o}");
        assert!(o["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{op}: {o}");
    }
    assert_eq!(json["totals"]["round_trips_completed"], expected);
    assert!(
        json["server"]["cpu_seconds"].as_f64().unwrap() > 0.0,
        "{}",
        json["server"]
    );
    assert!(json["server"]["peak_rss_kib"].as_u64().unwrap() > 0);
    assert!(json["machine"]["nproc"].as_u64().unwrap() >= 1);
    assert!(markdown.contains("| SendRequest |"), "{markdown}");
    let svg = report.to_svg();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_round_trips_with_payload_and_attachments_succeed() {
    let mut config = LoadConfig::new(Target::Spawn {
        data_dir: None,
        server_threads: 2,
    });
    config.consumers = 2;
    config.providers = 2;
    config.stop = Stop::RoundTrips(16);
    config.payload_bytes = 3000;
    config.attachment_bytes = 2000;
    config.command_line = "smoke: signed, closed loop".into();
    let report = opensmev_loadgen::run(config).await.expect("run");
    assert_clean(&report, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_open_loop_on_1_3_succeeds() {
    let mut config = LoadConfig::new(Target::Spawn {
        data_dir: None,
        server_threads: 2,
    });
    config.version = SchemaVersion::V1_3;
    config.unsigned = true;
    config.rate = Some(20.0);
    config.stop = Stop::RoundTrips(10);
    config.command_line = "smoke: unsigned, open loop".into();
    let report = opensmev_loadgen::run(config).await.expect("run");
    assert_clean(&report, 10);
}

/// `--rest --spawn`: round trips over the integration API with the keys the spawned server
/// holds for MFC01 and PFR01 (demo tokens), with payload and an attachment, every call checked
/// (statuses, ids, content, the delivery's ЭП-ОВ report).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_round_trips_with_server_held_keys_succeed() {
    let mut config = LoadConfig::new(Target::Spawn {
        data_dir: None,
        server_threads: 2,
    });
    config.api = Api::Rest;
    config.consumers = 2;
    config.providers = 2;
    config.stop = Stop::RoundTrips(12);
    config.payload_bytes = 1000;
    config.attachment_bytes = 500;
    config.command_line = "smoke: REST, server-held keys".into();
    let report = opensmev_loadgen::run(config).await.expect("run");
    assert_clean(&report, 12);
    let markdown = report.to_markdown();
    assert!(markdown.contains("/api/v1"), "{markdown}");
    assert!(markdown.contains("server-held keys"), "{markdown}");
}

/// A schema-valid 1.2 `SendRequestResponse` without the bus's signature.
fn fixed_answer() -> String {
    let t = SchemaVersion::V1_2.types_ns();
    let b = SchemaVersion::V1_2.basic_ns();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><ns2:SendRequestResponse xmlns:ns2=\"{t}\" xmlns=\"{b}\"><ns2:MessageMetadata Id=\"SIGNED_BY_SMEV\"><ns2:MessageId>1b0a7d4e-0b2c-11f0-9cd2-0242ac120002</ns2:MessageId><ns2:MessageType>REQUEST</ns2:MessageType><ns2:Sender><ns2:Mnemonic>MFC01</ns2:Mnemonic></ns2:Sender><ns2:SendingTimestamp>2026-01-01T00:00:00.000+03:00</ns2:SendingTimestamp><ns2:Recipient><ns2:Mnemonic>PFR01</ns2:Mnemonic></ns2:Recipient><ns2:Status>requestIsQueued</ns2:Status></ns2:MessageMetadata></ns2:SendRequestResponse></soap:Body></soap:Envelope>"
    )
}

/// An HTTP/1.1 responder that answers every request with `body` (keep-alive, thread per
/// connection).
fn fake_server(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let body = body.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut request = vec![0u8; length];
                    if reader.read_exact(&mut request).is_err() {
                        return;
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if writer.write_all(head.as_bytes()).is_err()
                        || writer.write_all(body.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/smev")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_server_scores_only_errors() {
    let body = fixed_answer();
    // The fake answer is not caught by the schema: it is valid, only unsigned and unrelated.
    let start = body.find("<ns2:SendRequestResponse").unwrap();
    let end = body.find("</soap:Body>").unwrap();
    opensmev_schema::validate_official("1.2", &body[start..end]).expect("schema-valid answer");

    let dir = tempfile::tempdir().unwrap();
    opensmev_loadgen::write_bench_registry(dir.path()).unwrap();
    let mut config = LoadConfig::new(Target::Url {
        base: fake_server(body),
        demo_dir: dir.path().join("demo"),
        server_pid: None,
    });
    config.workload = Workload::Demo;
    config.stop = Stop::RoundTrips(6);
    config.grace = Duration::from_secs(1);
    config.command_line = "smoke: wrong server".into();
    let report = opensmev_loadgen::run(config).await.expect("run");
    let markdown = report.to_markdown();
    assert_eq!(report.round_trips(), 0, "{markdown}");
    assert_eq!(report.failed_round_trips(), 6, "{markdown}");
    let send = report.operation("SendRequest").unwrap();
    assert_eq!((send.ok, send.errors), (0, 6), "{markdown}");
    // The missing bus signature is caught (by the client's check or by the tool's own).
    assert!(
        send.errors_by_kind
            .iter()
            .any(|(k, _)| k == "unsigned" || k == "check"),
        "{markdown}"
    );
    assert!(markdown.contains("SMEVSignature"), "{markdown}");
    let poll = report.operation("GetRequest").unwrap();
    assert_eq!(poll.ok, 0, "{markdown}");
    assert!(
        poll.errors_by_kind
            .iter()
            .any(|(k, _)| k == "unexpected-answer"),
        "{markdown}"
    );
    assert!(!report.first_errors.is_empty());
}

/// `opensmev-load attachment` against the real server (in this process, so "the server's" RSS is
/// this test process's): a 3 MiB MTOM attachment goes through and comes back byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_mtom_attachment_round_trip_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let registry = opensmev_loadgen::write_bench_registry(dir.path()).unwrap();
    let config = opensmev_server::config::Config {
        data_dir: dir.path().to_owned(),
        demo: true,
        registry_file: Some(registry),
        ..opensmev_server::config::Config::default()
    };
    let app = opensmev_server::Application::build(config).await.unwrap();
    let demo_dir = app.demo().unwrap().dir.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/smev", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(listener, async move {
        let _ = stopped.await;
    }));
    let config = opensmev_loadgen::attachment::AttachmentConfig {
        base,
        demo_dir,
        server_pid: std::process::id(),
        bytes: 3 * 1024 * 1024 + 5,
        version: SchemaVersion::V1_2,
    };
    let report = opensmev_loadgen::attachment::run(&config).await.unwrap();
    assert!(report.content_ok, "{}", report.to_markdown());
    assert!(report.rss_before_kib > 0 && report.send.peak_kib > 0);
    let json = report.to_json();
    assert_eq!(json["attachment_bytes"], 3 * 1024 * 1024 + 5);
    assert!(
        report
            .to_markdown()
            .contains("| SendRequest (upload, spool, store) |")
    );
    // The store kept it as a file.
    let files = std::fs::read_dir(dir.path().join("store").join("attachments"))
        .unwrap()
        .count();
    assert_eq!(files, 1);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// `opensmev-load push-compare` with a few messages: every mode (poll, push REST, push SOAP)
/// delivers each message exactly once, acknowledged in the store, and reports its figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_compare_delivers_every_message_once_in_every_mode() {
    use opensmev_loadgen::push_compare::{Mode, PushCompareConfig};
    let mut config = PushCompareConfig::new();
    config.messages = 12;
    config.concurrency = 3;
    config.channels = 2;
    config.server_threads = 2;
    config.timeout = Duration::from_secs(60);
    config.command_line = "smoke: push-compare".into();
    let report = opensmev_loadgen::push_compare::run(config).await;
    let markdown = report.to_markdown();
    assert!(report.complete(), "{markdown}");
    assert!(!report.had_errors(), "{markdown}");
    for mode in [Mode::Poll, Mode::PushRest, Mode::PushSoap] {
        let f = report.figures(mode).unwrap();
        assert_eq!(f.messages, 12, "{markdown}");
        assert_eq!(f.latency.count, 12, "{markdown}");
        assert_eq!(f.acked_in_store, 13, "{markdown}");
        assert!(f.rate() > 0.0 && f.elapsed_s >= f.sending_s, "{markdown}");
        assert!(
            markdown.contains(&format!("| {} | 12 | 2 |", mode.label())),
            "{markdown}"
        );
    }
    let json = report.to_json();
    assert_eq!(json["runs"][2]["mode"], "push_soap");
    assert!(json["push_rest_over_poll"].as_f64().unwrap() > 0.0);
}
