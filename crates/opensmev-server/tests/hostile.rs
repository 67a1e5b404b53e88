//! The hostile suite: attacks on the running bus found by an outside battery (issue 15), one
//! test per defect, each failing on the code before its fix. Every test ends by checking that
//! the bus still serves a normal client's round trip.
//!
//! * poison messages through the bus's own signature Id, and messages that can never be
//!   delivered (they leave the queue instead of failing every poll);
//! * slow uploads (memory reserved as bytes arrive; declared lengths over the limit refused at
//!   once; stalled bodies cut);
//! * certificates: oversized ones refused before decoding, unregistered ones before verifying;
//! * fault amplification (bounded fault texts);
//! * connections: header-read timeout for dribbling and silent clients, the connection limit,
//!   HTTP/2 not spoken;
//! * XML injection into the WSDL through the Host header;
//! * stale and replayed signed polls and status calls;
//! * long polling with many waiting clients while the registry reloads.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opensmev_store::{DeliveryState, JournalKind, NewMessage};
use opensmev_testkit as common;
use opensmev_types::{
    DeliveryMode, InteractionStatus, MessageId, MessageKind, Mnemonic, Priority, QName,
    SchemaVersion,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{Answer, SmevClient, TestBus, new_message_id};

const VS: &str = "VS00001v001-PFR001";
const NS: &str = "urn://opensmev/demo/pfr-account/1.0.0";
const V12: SchemaVersion = SchemaVersion::V1_2;

async fn start(
    tweak: impl FnOnce(&mut opensmev_server::config::Config),
) -> (TestBus, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(dir.path().to_owned(), tweak).await;
    (bus, dir)
}

/// `host:port` of the bus.
fn addr(bus: &TestBus) -> String {
    bus.base
        .trim_start_matches("http://")
        .trim_end_matches("/smev")
        .to_owned()
}

/// A request from MFC01 to PFR01, delivered, acknowledged; returns how long it took.
async fn round_trip(bus: &TestBus) -> Duration {
    let started = Instant::now();
    let consumer = bus.client("MFC01", V12);
    let provider = bus.client("PFR01", V12);
    let id = new_message_id();
    let sent = consumer
        .send_request(&id, &bus.example(VS, "request.xml"), "")
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let got = provider.get_request(None).await;
    assert_eq!(
        got.find("MessageID").as_deref(),
        Some(id.as_str()),
        "{}",
        got.text
    );
    let ack = provider.ack(&id, true).await;
    assert_eq!(ack.status, 200, "{}", ack.text);
    started.elapsed()
}

/// [`round_trip`], which must finish within `limit`.
async fn round_trip_within(bus: &TestBus, limit: Duration) -> Duration {
    let took = tokio::time::timeout(Duration::from_secs(20), round_trip(bus))
        .await
        .expect("a normal round trip must not hang");
    assert!(took < limit, "a normal round trip took {took:?}");
    took
}

/// Sends `bytes` on a new connection and reads the answer until the server closes or `wait`
/// passes.
async fn raw(addr: &str, bytes: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_until_closed(&mut stream, wait).await
}

async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let mut buffer = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn send_request_body(
    client: &SmevClient,
    id_attr: &str,
    message_id: &str,
    business: &str,
) -> String {
    let (t, b) = (client.types(), client.basic());
    format!(
        "<ns2:SendRequestRequest xmlns:ns2=\"{t}\" xmlns=\"{b}\"><ns2:SenderProvidedRequestData {id_attr}><ns2:MessageID>{message_id}</ns2:MessageID><MessagePrimaryContent>{business}</MessagePrimaryContent><ns2:TestMessage/></ns2:SenderProvidedRequestData></ns2:SendRequestRequest>"
    )
}

// ------------------------------------------------------------------------------------------------
// 1. Poison messages

/// Data whose Id is the bus's own (`SIGNED_BY_SMEV`, however written) or a passed-on signature
/// carrying it never makes a poll fail: the bus picks another Id for what it signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_like_the_bus_own_never_poison_a_queue() {
    let (bus, _dir) = start(|_| {}).await;
    let consumer = bus.client("MFC01", V12);
    let provider = bus.client("PFR01", V12);
    let business = bus.example(VS, "request.xml");
    let single_quotes = new_message_id();
    let references = new_message_id();
    let on_signature = new_message_id();
    let variants = [
        consumer.sign(
            &consumer.envelope(&send_request_body(
                &consumer,
                "Id='SIGNED_BY_SMEV'",
                &single_quotes,
                &business,
            )),
            "SIGNED_BY_SMEV",
        ),
        consumer.sign(
            &consumer.envelope(&send_request_body(
                &consumer,
                "Id=\"SIGNED&#95;BY&#95;SMEV\"",
                &references,
                &business,
            )),
            "SIGNED_BY_SMEV",
        ),
        // Outside SignedInfo: no re-signing needed.
        consumer
            .send_request_xml(&on_signature, &business, "")
            .replacen("<ds:Signature ", "<ds:Signature Id=\"SIGNED_BY_SMEV\" ", 1),
    ];
    for xml in variants {
        let sent = consumer.post("SendRequest", xml).await;
        assert_eq!(sent.status, 200, "{}", sent.text);
    }
    let mut reply_to = None;
    for id in [&single_quotes, &references, &on_signature] {
        // `post` verifies the SMEV signature of the answer.
        let got = provider.get_request(None).await;
        assert_eq!(got.status, 200, "{}", got.text);
        assert_eq!(
            got.find("MessageID").as_deref(),
            Some(id.as_str()),
            "{}",
            got.text
        );
        reply_to.get_or_insert(got.find("ReplyTo").expect("ReplyTo"));
        provider.ack(id, true).await;
    }
    // The response direction.
    let (t, b) = (provider.types(), provider.basic());
    let response_id = new_message_id();
    let body = format!(
        "<ns2:SendResponseRequest xmlns:ns2=\"{t}\" xmlns=\"{b}\"><ns2:SenderProvidedResponseData Id='SIGNED_BY_SMEV'><ns2:MessageID>{response_id}</ns2:MessageID><ns2:To>{}</ns2:To><MessagePrimaryContent>{}</MessagePrimaryContent></ns2:SenderProvidedResponseData></ns2:SendResponseRequest>",
        reply_to.unwrap(),
        bus.example(VS, "response.xml")
    );
    let sent = provider
        .post(
            "SendResponse",
            provider.sign(&provider.envelope(&body), "SIGNED_BY_SMEV"),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let got = consumer.get_response(None).await;
    assert!(got.has("ResponseMessage"), "{}", got.text);
    assert_eq!(got.find("MessageID").as_deref(), Some(response_id.as_str()));
    consumer.ack(&response_id, true).await;
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}

/// A stored message no answer can carry (here: planted with broken XML) leaves the queue for
/// good — state undeliverable, journaled, its sender notified — and the poll that met it goes on
/// to the next message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_messages_leave_the_queue() {
    let (bus, _dir) = start(|_| {}).await;
    let consumer = bus.client("MFC01", V12);
    let provider = bus.client("PFR01", V12);
    let poison = MessageId::parse(&new_message_id()).unwrap();
    let message = NewMessage {
        id: poison.clone(),
        kind: MessageKind::Request,
        sender: Mnemonic::parse("MFC01").unwrap(),
        recipient: Mnemonic::parse("PFR01").unwrap(),
        message_type: QName::new(NS, "PersonalAccountRequest"),
        vs_id: VS.to_owned(),
        version: V12,
        priority: Priority(0),
        share: 1,
        delivery_mode: DeliveryMode::Poll,
        test_message: true,
        node_id: None,
        target_node_id: None,
        eol: None,
        transaction_code: None,
        reference_message_id: None,
        original_message_id: None,
        reply_to: None,
        sent_at: time::OffsetDateTime::now_utc(),
        sender_data: "<ns2:SenderProvidedRequestData Id=\"SIGNED_BY_CONSUMER\"><unclosed>"
            .to_owned(),
        sender_signature: None,
        attachments: Vec::new(),
        client_id: None,
    };
    bus.store
        .enqueue(message, InteractionStatus::RequestIsQueued, 1_000_000)
        .await
        .unwrap();
    let good = new_message_id();
    consumer
        .send_request(&good, &bus.example(VS, "request.xml"), "")
        .await;
    let got = provider.get_request(None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(
        got.find("MessageID").as_deref(),
        Some(good.as_str()),
        "{}",
        got.text
    );
    provider.ack(&good, true).await;

    let stored = bus.store.message(&poison).await.unwrap().unwrap();
    assert_eq!(stored.state, DeliveryState::Undeliverable);
    assert_eq!(stored.status, InteractionStatus::Cancelled);
    let journal = bus.store.journal(&poison).await.unwrap();
    let last = journal.last().unwrap();
    assert_eq!(last.kind, JournalKind::Undeliverable, "{journal:?}");
    assert!(
        last.detail
            .as_deref()
            .unwrap_or_default()
            .contains("cannot be read"),
        "{journal:?}"
    );
    let status = consumer.get_status().await;
    assert_eq!(
        status.find("OriginalMessageId").as_deref(),
        Some(poison.as_str()),
        "{}",
        status.text
    );
    assert_eq!(status.find("StatusCategory").as_deref(), Some("cancelled"));
    // Never again.
    let empty = provider.get_request(None).await;
    assert!(!empty.has("RequestMessage"), "{}", empty.text);
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 2. Slow uploads

/// 64 uploads that declare 16 MiB and send one byte take 64 × 64 KiB of the body budget, not
/// 64 × 16 MiB: other calls go on; the stalled bodies are cut with 408; a declared length over
/// the limit is refused at once with 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_do_not_stop_the_bus() {
    let (bus, _dir) = start(|c| c.body_idle_timeout_ms = 3000).await;
    let addr = addr(&bus);
    let head = |length: &str| {
        format!(
            "POST /smev/v1.2/ws HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"urn:SendRequest\"\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    let mut slow = Vec::new();
    for _ in 0..64 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(format!("{}<", head("16777216")).as_bytes())
            .await
            .unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    round_trip_within(&bus, Duration::from_secs(2)).await;

    let started = Instant::now();
    let answer = raw(
        &addr,
        head("1000000000000").as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(answer.contains("InvalidContent"), "{answer}");

    // The stalled ones are cut.
    for stream in &mut slow {
        let answer = read_until_closed(stream, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}

/// An MTOM body without a declared length is refused as soon as it passes the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_over_the_limit_are_refused() {
    let (bus, _dir) = start(|c| {
        c.max_xml_body_bytes = 1024 * 1024;
        c.max_mtom_body_bytes = 2 * 1024 * 1024;
    })
    .await;
    let mut stream = TcpStream::connect(addr(&bus)).await.unwrap();
    stream
        .write_all(b"POST /smev/v1.2/ws HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "y".repeat(64 * 1024));
    for _ in 0..40 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}

/// A body trickling in just under the idle timeout is cut by the minimum rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_bodies_are_cut() {
    let (bus, _dir) = start(|c| {
        c.body_idle_timeout_ms = 1000;
        c.body_min_bytes_per_second = 1024;
    })
    .await;
    let mut stream = TcpStream::connect(addr(&bus)).await.unwrap();
    stream
        .write_all(b"POST /smev/v1.2/ws HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..40 {
            if write.write_all(b"<").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("медленнее"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    trickle.abort();
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 3. Certificates

/// A self-signed P-256 certificate with an unknown extension of `extension_bytes`, and a client
/// of `base` signing with it.
fn stranger(base: &SmevClient, n: u32, extension_bytes: usize) -> SmevClient {
    use opensmev_crypto::CryptoProvider as _;
    use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509Extension, X509NameBuilder};

    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", &format!("stranger {n}"))
        .unwrap();
    let name = name.build();
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    builder
        .set_serial_number(&BigNum::from_u32(n + 1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    if extension_bytes > 0 {
        let oid = Asn1Object::from_str("1.3.6.1.4.1.55555.1").unwrap();
        let payload = Asn1OctetString::new_from_bytes(&vec![0x5a; extension_bytes]).unwrap();
        builder
            .append_extension(X509Extension::new_from_der(&oid, false, &payload).unwrap())
            .unwrap();
    }
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = opensmev_crypto::Certificate::from_der(&builder.build().to_der().unwrap()).unwrap();
    let signer = opensmev_crypto::OpenSslProvider::new()
        .load_signer(&key.private_key_to_pem_pkcs8().unwrap(), cert)
        .unwrap();
    SmevClient {
        http: base.http.clone(),
        url: base.url.clone(),
        version: base.version,
        signer: Some(Arc::from(signer)),
        smev_cert: base.smev_cert.clone(),
        mnemonic_header: None,
    }
}

/// An oversized certificate is refused before it is decoded (CertificateIsNotFound), an
/// unregistered one before the signature is verified (SenderIsNotRegistered); neither is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_looked_up_before_any_expensive_work() {
    let (bus, _dir) = start(|_| {}).await;
    let consumer = bus.client("MFC01", V12);
    let business = bus.example(VS, "request.xml");
    let huge = stranger(&consumer, 1, 100 * 1024);
    let answer = huge
        .post(
            "SendRequest",
            huge.send_request_xml(&new_message_id(), &business, ""),
        )
        .await;
    assert_eq!(
        answer.fault().as_deref(),
        Some("SignatureVerificationFault"),
        "{}",
        answer.text
    );
    assert!(
        answer.text.contains("CertificateIsNotFound"),
        "{}",
        answer.text
    );
    assert!(answer.text.len() < 16 * 1024, "{}", answer.text.len());
    for n in 2..12 {
        let unknown = stranger(&consumer, n, 1000);
        let answer = unknown
            .post(
                "SendRequest",
                unknown.send_request_xml(&new_message_id(), &business, ""),
            )
            .await;
        assert_eq!(
            answer.fault().as_deref(),
            Some("SenderIsNotRegistered"),
            "{}",
            answer.text
        );
        assert!(
            answer.text.contains(&format!("stranger {n}")),
            "{}",
            answer.text
        );
    }
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 4. Fault amplification

/// 240 nested header elements with 1000-character names, each claiming the signed Id: the
/// fault stays small (it was 55 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_do_not_grow_with_the_request() {
    let (bus, _dir) = start(|_| {}).await;
    let consumer = bus.client("MFC01", V12);
    let signed = consumer.send_request_xml(&new_message_id(), &bus.example(VS, "request.xml"), "");
    let names: Vec<String> = (0..240)
        .map(|i| format!("e{i}{}", "n".repeat(996)))
        .collect();
    let mut header = String::from("<soap:Header>");
    for name in &names {
        header.push_str(&format!("<{name} Id=\"SIGNED_BY_CONSUMER\">"));
    }
    for name in names.iter().rev() {
        header.push_str(&format!("</{name}>"));
    }
    header.push_str("</soap:Header>");
    let hostile = signed.replacen("<soap:Header/>", &header, 1);
    assert!(hostile.len() > 400 * 1024);
    let answer = consumer.post("SendRequest", hostile).await;
    assert_eq!(answer.status, 500);
    assert!(answer.fault().is_some(), "{}", answer.text);
    assert!(
        answer.text.len() < 32 * 1024,
        "a fault of {} bytes",
        answer.text.len()
    );
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 5. Connections

/// Connections that dribble their headers, or send nothing, are closed after the header-read
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_connections_are_closed() {
    let (bus, _dir) = start(|c| c.header_read_timeout_ms = 500).await;
    let addr = addr(&bus);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let stream = TcpStream::connect(&addr).await.unwrap();
        tasks.spawn(async move {
            let (mut read, mut write) = stream.into_split();
            let dribble = async move {
                if i % 10 == 0 {
                    std::future::pending::<()>().await; // silent
                }
                let head = b"POST /smev/v1.2/ws HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                for byte in head {
                    if write.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                std::future::pending::<()>().await;
            };
            let closed = async move {
                let mut buffer = [0u8; 1024];
                loop {
                    match read.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            };
            tokio::select! {
                () = dribble => unreachable!(),
                () = closed => {}
            }
        });
    }
    let all_closed = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    assert!(all_closed.is_ok(), "connections still open after 5 s");
    assert!(started.elapsed() >= Duration::from_millis(400));
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}

/// At the connection limit, a new connection waits until one closes; then it is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_holds() {
    let (bus, _dir) = start(|c| {
        c.max_connections = 8;
        c.header_read_timeout_ms = 1500;
    })
    .await;
    let addr = addr(&bus);
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let answer = raw(
        &addr,
        b"GET /smev/v1.2/ws?wsdl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "served after {waited:?}, before the silent connections were closed"
    );
    drop(silent);
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}

/// HTTP/2 is not spoken: a prior-knowledge preface closes the connection, the bus goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_refused() {
    let (bus, _dir) = start(|_| {}).await;
    let answer = raw(
        &addr(&bus),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4") || answer.starts_with("HTTP/1.1 5"),
        "{answer}"
    );
    assert!(!answer.contains("HTTP/2"), "{answer}");
    let upgrade = raw(
        &addr(&bus),
        b"GET /smev/v1.2/ws?wsdl HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(!upgrade.starts_with("HTTP/1.1 101"), "{upgrade}");
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 6. The WSDL's address

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_header_cannot_inject_into_the_wsdl() {
    let (bus, _dir) = start(|_| {}).await;
    let get = |host: &str| {
        format!("GET /smev/v1.2/ws?wsdl HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    };
    let evil = raw(
        &addr(&bus),
        get("x\"/><evil xmlns=\"urn:evil\"/><a b=\"").as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(evil.starts_with("HTTP/1.1 400"), "{evil}");
    assert!(!evil.contains("<evil"), "{evil}");
    let fine = raw(
        &addr(&bus),
        get("BUS.Example:8080").as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(fine.starts_with("HTTP/1.1 200"), "{fine}");
    assert!(
        fine.contains("location=\"http://BUS.Example:8080/smev/v1.2/ws\""),
        "{fine}"
    );
    bus.stop().await;

    let (bus, _dir) = start(|c| c.public_url = Some("https://smev.example.ru".into())).await;
    let answer = raw(
        &addr(&bus),
        get("x\"/><evil xmlns=\"urn:evil\"/><a b=\"").as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("location=\"https://smev.example.ru/smev/v1.2/ws\""),
        "{answer}"
    );
    assert!(!answer.contains("<evil"), "{answer}");
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 7. Replayed polls

fn poll_at(client: &SmevClient, timestamp: &str) -> String {
    let (t, b) = (client.types(), client.basic());
    let body = format!(
        "<ns2:GetRequestRequest xmlns:ns2=\"{t}\"><MessageTypeSelector xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\"><Timestamp>{timestamp}</Timestamp></MessageTypeSelector></ns2:GetRequestRequest>"
    );
    client.sign(&client.envelope(&body), "SIGNED_BY_CALLER")
}

fn status_at(client: &SmevClient, timestamp: &str) -> String {
    let (t, b) = (client.types(), client.basic());
    let body = format!(
        "<ns2:GetStatusRequest xmlns:ns2=\"{t}\"><Timestamp xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\">{timestamp}</Timestamp></ns2:GetStatusRequest>"
    );
    client.sign(&client.envelope(&body), "SIGNED_BY_CALLER")
}

fn assert_code(answer: &Answer, code: &str) {
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert_eq!(
        answer.find("Code").as_deref(),
        Some(code),
        "{}",
        answer.text
    );
}

/// A signed poll or status call with a Timestamp outside the window is refused and leases
/// nothing; the same signed call a second time is refused; with the window off, both pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_replayed_polls_are_refused() {
    let (bus, _dir) = start(|_| {}).await;
    let consumer = bus.client("MFC01", V12);
    let provider = bus.client("PFR01", V12);
    let id = new_message_id();
    consumer
        .send_request(&id, &bus.example(VS, "request.xml"), "")
        .await;
    for stale in ["2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"] {
        let answer = provider.post("GetRequest", poll_at(&provider, stale)).await;
        assert_code(&answer, "SMEV-116");
        assert!(!answer.has("RequestMessage"));
        assert_code(
            &consumer
                .post("GetStatus", status_at(&consumer, stale))
                .await,
            "SMEV-116",
        );
    }
    // A Timestamp without a zone is read as Moscow time; a client at UTC+7 writing its local
    // time is 4 h ahead of that, and is still accepted. So is one with its offset written.
    let utc = time::OffsetDateTime::now_utc();
    let local = utc.to_offset(time::UtcOffset::from_hms(7, 0, 0).unwrap());
    let zoneless = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    );
    let with_offset = format!("{zoneless}+07:00");
    for stamp in [zoneless, with_offset] {
        let answer = consumer
            .post("GetStatus", status_at(&consumer, &stamp))
            .await;
        assert_eq!(answer.status, 200, "{stamp}: {}", answer.text);
    }
    let captured = poll_at(&provider, &common::now_text());
    let first = provider.post("GetRequest", captured.clone()).await;
    assert_eq!(
        first.find("MessageID").as_deref(),
        Some(id.as_str()),
        "not leased by the stale polls: {}",
        first.text
    );
    let replayed = provider.post("GetRequest", captured).await;
    assert_code(&replayed, "SMEV-117");
    let status = status_at(&consumer, &common::now_text());
    assert_eq!(consumer.post("GetStatus", status.clone()).await.status, 200);
    assert_code(&consumer.post("GetStatus", status).await, "SMEV-117");
    provider.ack(&id, true).await;
    bus.stop().await;

    let (bus, _dir) = start(|c| c.timestamp_window_seconds = 0).await;
    let provider = bus.client("PFR01", V12);
    let old = poll_at(&provider, "2000-01-01T00:00:00Z");
    for _ in 0..2 {
        let answer = provider.post("GetRequest", old.clone()).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// Long polling under many waiting clients, registry reloads during load

/// 40 long polls wait on an empty queue; 40 requests arrive while the registry is saved again
/// and again: every request reaches exactly one poller, none is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_lose_no_wake_up_while_the_registry_reloads() {
    let (bus, _dir) = start(|c| {
        c.poll_wait_ms = 8000;
        c.registry_poll_seconds = 1;
    })
    .await;
    let bus = Arc::new(bus);
    let mut pollers = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let provider = bus.client("PFR01", V12);
        pollers.spawn(async move {
            let got = provider.get_request(None).await;
            let id = got.find("MessageID")?;
            provider.ack(&id, true).await;
            Some(id)
        });
    }
    let reloads = {
        let store = bus.store.clone();
        tokio::spawn(async move {
            let text = store.registry().await.unwrap().unwrap().text;
            for _ in 0..30 {
                store
                    .save_registry(
                        text.clone(),
                        None,
                        true,
                        time::OffsetDateTime::now_utc(),
                        None,
                    )
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let consumer = bus.client("MFC01", V12);
    let mut sent = HashSet::new();
    for _ in 0..40 {
        let id = new_message_id();
        let answer = consumer
            .send_request(&id, &bus.example(VS, "request.xml"), "")
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        sent.insert(id);
    }
    let mut delivered = HashSet::new();
    while let Some(result) = pollers.join_next().await {
        if let Some(id) = result.unwrap() {
            assert!(delivered.insert(id.clone()), "{id} delivered twice");
        }
    }
    assert_eq!(delivered, sent, "every request reached exactly one poller");
    reloads.await.unwrap();
    let bus = Arc::into_inner(bus).unwrap();
    round_trip_within(&bus, Duration::from_secs(2)).await;
    bus.stop().await;
}
