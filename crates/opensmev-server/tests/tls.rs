//! HTTPS and mTLS: the real server on port 0 with `tls_cert`/`tls_key` (and `tls_client_ca`),
//! certificates generated at test time. A full round trip over HTTPS for every schema version;
//! with mTLS a client certificate from the configured CA is served, a client without one or with
//! one from another CA is refused in the handshake; plain HTTP to the TLS port gets no answer;
//! a client that never completes the handshake is disconnected after `header_read_timeout_ms`;
//! unusable TLS files are configuration errors naming the key.

use std::path::Path;
use std::time::{Duration, Instant};

use opensmev_server::config::{Config, Overrides, TlsClientAuth};
use opensmev_testkit as common;

use common::tls::{Issued, TestCa};
use common::{SmevClient, TestBus, new_message_id};
use opensmev_types::SchemaVersion;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const VS: &str = "VS00001v001-PFR001";
const NS: &str = "urn://opensmev/demo/pfr-account/1.0.0";

/// The TLS files of one test: a CA, the server's certificate, a client certificate from the
/// same CA and one from another CA.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: Vec<u8>,
    client: Issued,
    stranger: Issued,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("OpenSMEV test CA");
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        ca.issue_server().write(dir.path(), "server");
        let other = TestCa::new("Some other CA");
        Pki {
            ca_pem: ca.cert_pem(),
            client: ca.issue_client("MFC01 gateway"),
            stranger: other.issue_client("MFC01 gateway"),
            dir,
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// The config tweak for HTTPS, with mTLS when `client_ca`.
    fn tweak(&self, client_ca: bool) -> impl FnOnce(&mut Config) + use<> {
        let cert = self.path("server.pem");
        let key = self.path("server-key.pem");
        let ca = client_ca.then(|| self.path("ca.pem"));
        move |config: &mut Config| {
            config.tls_cert = Some(cert);
            config.tls_key = Some(key);
            config.tls_client_ca = ca;
        }
    }

    /// An HTTPS client trusting only the test CA, presenting `identity` if given.
    fn http(&self, identity: Option<&Issued>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&self.ca_pem).unwrap()])
            .timeout(Duration::from_secs(20));
        if let Some(issued) = identity {
            builder = builder.identity(
                reqwest::Identity::from_pkcs8_pem(&issued.cert_pem, &issued.key_pem).unwrap(),
            );
        }
        builder.build().unwrap()
    }
}

/// A demo IS client of `bus` over `http`.
fn client(
    bus: &TestBus,
    mnemonic: &str,
    version: SchemaVersion,
    http: &reqwest::Client,
) -> SmevClient {
    let mut client = bus.client(mnemonic, version);
    client.http = http.clone();
    client
}

/// A request, its delivery, the response and its delivery, each acknowledged; every answer
/// checked by the client (XSD, the bus's signature).
async fn round_trip(bus: &TestBus, version: SchemaVersion, http: &reqwest::Client) {
    let consumer = client(bus, "MFC01", version, http);
    let provider = client(bus, "PFR01", version, http);
    let request_id = new_message_id();
    let sent = consumer
        .send_request(&request_id, &bus.example(VS, "request.xml"), "")
        .await;
    assert_eq!(
        sent.find("Status").as_deref(),
        Some("requestIsQueued"),
        "{}",
        sent.text
    );
    let got = provider
        .get_request(Some((NS, "PersonalAccountRequest")))
        .await;
    assert_eq!(
        got.find("MessageID").as_deref(),
        Some(request_id.as_str()),
        "{}",
        got.text
    );
    let reply_to = got.find("ReplyTo").expect("ReplyTo");
    assert_eq!(provider.ack(&request_id, true).await.status, 200);
    let response_id = new_message_id();
    let answered = provider
        .send_response(&response_id, &reply_to, &bus.example(VS, "response.xml"))
        .await;
    assert_eq!(answered.status, 200, "{}", answered.text);
    let response = consumer.get_response(None).await;
    assert_eq!(
        response.find("OriginalMessageId").as_deref(),
        Some(request_id.as_str()),
        "{}",
        response.text
    );
    assert_eq!(consumer.ack(&response_id, true).await.status, 200);
}

/// `GET …/v1.2/ws?wsdl` with `http`: the status, or the error's text.
async fn wsdl(bus: &TestBus, http: &reqwest::Client) -> Result<u16, String> {
    http.get(format!("{}/v1.2/ws?wsdl", bus.base))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_round_trips_over_https() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(data.path().to_owned(), pki.tweak(false)).await;
    assert!(bus.base.starts_with("https://127.0.0.1:"), "{}", bus.base);
    let http = pki.http(None);
    assert_eq!(wsdl(&bus, &http).await, Ok(200));
    // The WSDL points clients at the HTTPS address.
    let text = http
        .get(format!("{}/v1.2/ws?wsdl", bus.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let https = format!(
        "location=\"{}/v1.2/ws\"",
        bus.base.replace("127.0.0.1", "localhost")
    );
    assert!(
        text.contains(&https) || text.contains(&format!("location=\"{}/v1.2/ws\"", bus.base)),
        "{text}"
    );
    for version in SchemaVersion::ALL {
        round_trip(&bus, version, &http).await;
    }
    // A client that does not trust the server's CA refuses the server.
    let untrusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&TestCa::new("x").cert_pem()).unwrap()])
        .build()
        .unwrap();
    assert!(wsdl(&bus, &untrusting).await.is_err());
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_serves_only_clients_with_a_certificate_from_the_ca() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(data.path().to_owned(), pki.tweak(true)).await;
    let with_certificate = pki.http(Some(&pki.client));
    assert_eq!(wsdl(&bus, &with_certificate).await, Ok(200));
    for version in SchemaVersion::ALL {
        round_trip(&bus, version, &with_certificate).await;
    }

    // No certificate: refused in the handshake (no HTTP answer at all).
    let anonymous = wsdl(&bus, &pki.http(None)).await;
    assert!(anonymous.is_err(), "{anonymous:?}");
    // A certificate from another CA: refused too.
    let stranger = wsdl(&bus, &pki.http(Some(&pki.stranger))).await;
    assert!(stranger.is_err(), "{stranger:?}");
    // A signed SOAP call without a certificate gets no answer either.
    let anonymous_client = client(&bus, "MFC01", SchemaVersion::V1_2, &pki.http(None));
    let xml =
        anonymous_client.send_request_xml(&new_message_id(), &bus.example(VS, "request.xml"), "");
    assert!(anonymous_client.try_post("SendRequest", xml).await.is_err());

    // The refusals did not disturb the server.
    assert_eq!(wsdl(&bus, &with_certificate).await, Ok(200));
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_authentication_serves_anonymous_clients_but_not_strangers() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let tweak = pki.tweak(true);
    let bus = TestBus::start_in(data.path().to_owned(), move |config| {
        tweak(config);
        config.tls_client_auth = TlsClientAuth::Optional;
    })
    .await;
    assert_eq!(wsdl(&bus, &pki.http(None)).await, Ok(200));
    assert_eq!(wsdl(&bus, &pki.http(Some(&pki.client))).await, Ok(200));
    let stranger = wsdl(&bus, &pki.http(Some(&pki.stranger))).await;
    assert!(stranger.is_err(), "{stranger:?}");
    bus.stop().await;
}

/// Reads from `stream` until the server closes it (or `limit` passes); what arrived.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(data.path().to_owned(), pki.tweak(false)).await;
    let plain_base = bus.base.replacen("https://", "http://", 1);
    let plain = reqwest::Client::new()
        .get(format!("{plain_base}/v1.2/ws?wsdl"))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");

    let address = bus.base["https://".len()..]
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /smev/v1.2/ws?wsdl HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let received = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server closes the connection");
    assert!(
        !received.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&received)
    );
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_handshake_is_closed_after_the_header_read_timeout() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let tweak = pki.tweak(true);
    let bus = TestBus::start_in(data.path().to_owned(), move |config| {
        tweak(config);
        config.header_read_timeout_ms = 400;
    })
    .await;
    let address = bus.base["https://".len()..]
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    // Silent after connecting, and silent after the first bytes of a ClientHello.
    for first in [&b""[..], &b"\x16\x03\x01\x02\x00\x01"[..]] {
        let started = Instant::now();
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(first).await.unwrap();
        let received = read_until_closed(&mut stream, Duration::from_secs(10))
            .await
            .expect("the server closes a connection that does not finish its handshake");
        let elapsed = started.elapsed();
        assert!(received.is_empty(), "{received:?}");
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
            "closed after {elapsed:?}, the timeout is 400 ms"
        );
    }
    // The server still serves.
    assert_eq!(wsdl(&bus, &pki.http(Some(&pki.client))).await, Ok(200));
    bus.stop().await;
}

fn load(vars: &[(&str, &Path)]) -> Result<Config, String> {
    Config::load(
        None,
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.display().to_string())),
        &Overrides {
            demo: true,
            ..Overrides::default()
        },
    )
    .map_err(|e| e.to_string())
}

#[test]
fn unusable_tls_files_are_configuration_errors_naming_the_key() {
    let pki = Pki::new();
    let cert = pki.path("server.pem");
    let key = pki.path("server-key.pem");
    let config = load(&[("OPENSMEV_TLS_CERT", &cert), ("OPENSMEV_TLS_KEY", &key)]).unwrap();
    assert_eq!(opensmev_server::config::scheme(&config), "https");
    assert_eq!(opensmev_server::config::scheme(&load(&[]).unwrap()), "http");

    let err = load(&[("OPENSMEV_TLS_CERT", &cert)]).unwrap_err();
    assert!(err.contains("tls_cert and tls_key"), "{err}");

    let (_, other_key) = pki.client.write(pki.dir.path(), "client");
    let err = load(&[
        ("OPENSMEV_TLS_CERT", &cert),
        ("OPENSMEV_TLS_KEY", &other_key),
    ])
    .unwrap_err();
    assert!(
        err.contains("tls_key") && err.contains("does not match"),
        "{err}"
    );

    let missing = pki.path("missing.pem");
    let err = load(&[("OPENSMEV_TLS_CERT", &missing), ("OPENSMEV_TLS_KEY", &key)]).unwrap_err();
    assert!(
        err.contains("tls_cert") && err.contains("missing.pem"),
        "{err}"
    );

    let err = load(&[("OPENSMEV_TLS_CERT", &key), ("OPENSMEV_TLS_KEY", &key)]).unwrap_err();
    assert!(
        err.contains("tls_cert") && err.contains("no PEM certificate"),
        "{err}"
    );

    let err = load(&[
        ("OPENSMEV_TLS_CERT", &cert),
        ("OPENSMEV_TLS_KEY", &key),
        ("OPENSMEV_TLS_CLIENT_CA", &key),
    ])
    .unwrap_err();
    assert!(err.contains("tls_client_ca"), "{err}");

    let err = load(&[("OPENSMEV_TLS_CLIENT_CA", &pki.path("ca.pem"))]).unwrap_err();
    assert!(err.contains("tls_client_ca needs HTTPS"), "{err}");
}
