//! The bus rules that depend on time and on the registry, driven through the service functions with
//! a manual clock (no sleeping): lease expiry and redelivery, EOL, stale ids, grant validity, kind
//! life cycle (retired, deprecated past its sunset), registry reloads.

mod common;

use std::sync::Arc;

use common::{BASIC, T0, TYPES, id_at, identity, send_signed, signed_xml};
use opensmev_core::Clock as _;
use opensmev_core::registry::Registry;
use opensmev_core::{AckInput, Bus, BusConfig, BusError, ManualClock, PollInput, Signed};
use opensmev_crypto::{CryptoProvider, OpenSslProvider, SignatureAlgorithm, Signer};
use opensmev_store::Store;
use opensmev_store_sqlite::SqliteStore;
use opensmev_types::{MessageId, SchemaVersion};
use opensmev_xmldsig::dsig::SignOptions;
use opensmev_xmldsig::xml::{Document, Limits};
use time::Duration;

struct World {
    bus: Bus,
    clock: Arc<ManualClock>,
    consumer: Box<dyn Signer>,
    provider: Box<dyn Signer>,
    consumer_pem: String,
    provider_pem: String,
    _dir: tempfile::TempDir,
}

fn registry(consumer_pem: &str, provider_pem: &str, kind_extra: &str, grant_extra: &str) -> String {
    format!(
        r#"
[[participants]]
name = "A"
ogrn = "1"
[[systems]]
mnemonic = "CONS01"
name = "Consumer"
owner = "1"
certificates = ["""{consumer_pem}"""]
[[systems]]
mnemonic = "PROV01"
name = "Provider"
owner = "1"
certificates = ["""{provider_pem}"""]
[[kinds]]
id = "VS1"
title = "Test"
provider = "PROV01"
request = "{{urn:t}}Req"
responses = ["{{urn:t}}Resp"]
{kind_extra}
[[grants]]
consumer = "CONS01"
kind = "VS1"
basis = "test"
{grant_extra}
"#
    )
}

async fn world(kind_extra: &str, grant_extra: &str) -> World {
    world_with(kind_extra, grant_extra, std::time::Duration::ZERO).await
}

async fn world_with(kind_extra: &str, grant_extra: &str, poll_wait: std::time::Duration) -> World {
    world_with_crypto(
        kind_extra,
        grant_extra,
        poll_wait,
        Arc::new(OpenSslProvider::new()),
    )
    .await
}

async fn world_with_crypto(
    kind_extra: &str,
    grant_extra: &str,
    poll_wait: std::time::Duration,
    crypto: Arc<dyn CryptoProvider>,
) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let clock = Arc::new(ManualClock::new(T0));
    let (bus_signer, _) = identity("BUS");
    let config = BusConfig {
        lease: Duration::seconds(60),
        poll_wait,
        ..BusConfig::default()
    };
    let bus = Bus::new(store, crypto, Arc::from(bus_signer), config, clock.clone());
    let (consumer, consumer_pem) = identity("CONS");
    let (provider, provider_pem) = identity("PROV");
    bus.import_registry(&registry(
        &consumer_pem,
        &provider_pem,
        kind_extra,
        grant_extra,
    ))
    .await
    .unwrap();
    World {
        bus,
        clock,
        consumer,
        provider,
        consumer_pem,
        provider_pem,
        _dir: dir,
    }
}

async fn send(w: &World, message_id: &str, extra: &str) -> Result<(), BusError> {
    send_as(w, w.consumer.as_ref(), message_id, extra).await
}

async fn send_as(
    w: &World,
    signer: &dyn Signer,
    message_id: &str,
    extra: &str,
) -> Result<(), BusError> {
    let body = format!(
        "<t:SendRequestRequest xmlns:t=\"{TYPES}\" xmlns:b=\"{BASIC}\"><t:SenderProvidedRequestData Id=\"D\"><t:MessageID>{message_id}</t:MessageID>{extra}<b:MessagePrimaryContent><Req xmlns=\"urn:t\">x</Req></b:MessagePrimaryContent></t:SenderProvidedRequestData></t:SendRequestRequest>"
    );
    let xml = signed_xml(&body, "D", signer, &SignOptions::default());
    send_signed(&w.bus, &xml, message_id).await
}

async fn poll(w: &World) -> Option<String> {
    let body = format!(
        "<t:GetRequestRequest xmlns:t=\"{TYPES}\"><b:MessageTypeSelector xmlns:b=\"{BASIC}\" Id=\"S\"><b:Timestamp>{}</b:Timestamp></b:MessageTypeSelector></t:GetRequestRequest>",
        w.clock
            .now()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let xml = signed_xml(&body, "S", w.provider.as_ref(), &SignOptions::default());
    let doc = Document::parse(xml.as_bytes(), Limits::default()).unwrap();
    let selector = doc.find(BASIC, "MessageTypeSelector").next().unwrap();
    let wrapper = doc
        .find(TYPES, "CallerInformationSystemSignature")
        .next()
        .unwrap();
    let input = PollInput {
        signed: Signed {
            doc: &doc,
            target: selector.index(),
            wrapper: Some(wrapper.index()),
            version: SchemaVersion::V1_2,
            claimed: None,
        },
        message_type: None,
        node_id: None,
        timestamp: w.clock.now(),
    };
    w.bus
        .get_request(input)
        .await
        .unwrap()
        .map(|m| m.message.id.to_string())
}

async fn ack(w: &World, message_id: &str) -> Result<(), BusError> {
    let body = format!(
        "<t:AckRequest xmlns:t=\"{TYPES}\"><b:AckTargetMessage xmlns:b=\"{BASIC}\" Id=\"A\" accepted=\"true\">{message_id}</b:AckTargetMessage></t:AckRequest>"
    );
    let xml = signed_xml(&body, "A", w.provider.as_ref(), &SignOptions::default());
    let doc = Document::parse(xml.as_bytes(), Limits::default()).unwrap();
    let target = doc.find(BASIC, "AckTargetMessage").next().unwrap();
    let wrapper = doc
        .find(TYPES, "CallerInformationSystemSignature")
        .next()
        .unwrap();
    let input = AckInput {
        signed: Signed {
            doc: &doc,
            target: target.index(),
            wrapper: Some(wrapper.index()),
            version: SchemaVersion::V1_2,
            claimed: None,
        },
        message_id: message_id.to_owned(),
        accepted: true,
    };
    w.bus.ack(input).await
}

#[tokio::test]
async fn an_unacknowledged_delivery_comes_back_when_its_lease_ends() {
    let w = world("", "").await;
    let id = id_at(T0);
    send(&w, &id, "").await.unwrap();
    assert_eq!(poll(&w).await.as_deref(), Some(id.as_str()));
    assert_eq!(poll(&w).await, None, "leased: not handed out twice");
    w.clock.advance(Duration::seconds(59));
    assert_eq!(poll(&w).await, None, "the lease still runs");
    w.clock.advance(Duration::seconds(2));
    assert_eq!(
        poll(&w).await.as_deref(),
        Some(id.as_str()),
        "redelivered after the lease"
    );
    ack(&w, &id).await.unwrap();
    w.clock.advance(Duration::seconds(120));
    assert_eq!(poll(&w).await, None, "acknowledged: gone for good");
    assert!(matches!(
        ack(&w, &id).await,
        Err(BusError::TargetMessageIsNotFound(_))
    ));
    let journal = w
        .bus
        .store()
        .journal(&MessageId::parse(&id).unwrap())
        .await
        .unwrap();
    let kinds: Vec<_> = journal.iter().map(|e| e.kind.code()).collect();
    assert_eq!(
        kinds[..4],
        ["accepted", "delivered", "redelivered", "acked"],
        "{kinds:?}"
    );
}

#[tokio::test]
async fn stale_and_future_ids_and_eol() {
    let w = world("", "").await;
    assert!(matches!(
        send(&w, &id_at(T0 - Duration::hours(49)), "").await,
        Err(BusError::StaleMessageId { .. })
    ));
    send(&w, &id_at(T0 - Duration::hours(47)), "")
        .await
        .unwrap();
    assert!(matches!(
        send(&w, &id_at(T0 + Duration::hours(1)), "").await,
        Err(BusError::StaleMessageId { .. })
    ));
    // EOL in the past at send time.
    let past = "<t:EOL>2026-06-01T11:00:00Z</t:EOL>";
    assert!(matches!(
        send(&w, &id_at(T0), past).await,
        Err(BusError::EndOfLifeReached(_))
    ));
    // EOL that passes while queued: never delivered.
    let soon = "<t:EOL>2026-06-01T12:10:00Z</t:EOL>";
    let first = poll(&w).await.unwrap();
    ack(&w, &first).await.unwrap();
    send(&w, &id_at(T0), soon).await.unwrap();
    w.clock.advance(Duration::minutes(11));
    assert_eq!(poll(&w).await, None, "expired by EOL while queued");
}

#[tokio::test]
async fn grants_are_in_force_only_in_their_window() {
    let w = world("", "valid_from = \"2026-06-02\"\nvalid_to = \"2026-06-03\"").await;
    assert!(matches!(
        send(&w, &id_at(T0), "").await,
        Err(BusError::AccessDenied { .. })
    ));
    w.clock.advance(Duration::days(1));
    send(&w, &id_at(T0 + Duration::days(1)), "").await.unwrap();
    w.clock.advance(Duration::days(2));
    assert!(matches!(
        send(&w, &id_at(T0 + Duration::days(3)), "").await,
        Err(BusError::AccessDenied { .. })
    ));
}

#[tokio::test]
async fn retired_and_sunset_kinds_take_no_requests_and_registry_changes_apply() {
    let w = world("status = \"deprecated\"\nsunset = \"2026-06-10\"", "").await;
    send(&w, &id_at(T0), "").await.unwrap();
    w.clock.advance(Duration::days(10));
    assert!(matches!(
        send(&w, &id_at(T0 + Duration::days(10)), "").await,
        Err(BusError::BusinessDataTypeIsNotSupported { .. })
    ));
    // A new registry version (kind active again) is stored and put in force.
    let text = registry(&w.consumer_pem, &w.provider_pem, "", "");
    let version = w.bus.import_registry(&text).await.unwrap();
    assert_eq!(w.bus.registry().version(), version);
    send(&w, &id_at(T0 + Duration::days(10)), "").await.unwrap();
    let retired = registry(&w.consumer_pem, &w.provider_pem, "status = \"retired\"", "");
    w.bus.import_registry(&retired).await.unwrap();
    assert!(matches!(
        send(&w, &id_at(T0 + Duration::days(10)), "").await,
        Err(BusError::BusinessDataTypeIsNotSupported { .. })
    ));
    // An invalid registry is refused and the one in force stays.
    assert!(
        w.bus
            .import_registry("[[systems]]\nmnemonic = 1")
            .await
            .is_err()
    );
    assert!(Registry::from_toml(&w.bus.registry().to_toml(), 0).is_ok());
}

/// Long polling: a poll of an empty queue waits up to `poll_wait` and is answered as soon as a
/// message is queued for it; with nothing queued it answers "nothing" after the wait.
#[tokio::test]
async fn a_waiting_poll_is_answered_when_a_message_arrives() {
    use std::time::{Duration as StdDuration, Instant};
    let w = world_with("", "", StdDuration::from_secs(5)).await;

    let started = Instant::now();
    let id = id_at(T0);
    let (polled, sent) = tokio::join!(poll(&w), async {
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        send(&w, &id, "").await
    });
    sent.unwrap();
    let waited = started.elapsed();
    assert_eq!(
        polled.as_deref(),
        Some(id.as_str()),
        "woken with the message"
    );
    assert!(
        waited >= StdDuration::from_millis(300) && waited < StdDuration::from_secs(4),
        "answered when the message came, not at the deadline: {waited:?}"
    );

    let short = world_with("", "", StdDuration::from_millis(400)).await;
    let started = Instant::now();
    assert_eq!(poll(&short).await, None);
    let waited = started.elapsed();
    assert!(
        waited >= StdDuration::from_millis(400) && waited < StdDuration::from_secs(3),
        "an empty queue is answered after the wait: {waited:?}"
    );

    let instant = world("", "").await;
    let started = Instant::now();
    assert_eq!(poll(&instant).await, None);
    assert!(
        started.elapsed() < StdDuration::from_millis(300),
        "no wait by default"
    );
}

/// A crypto provider that counts the work asked of it.
#[derive(Debug)]
struct Counting {
    inner: OpenSslProvider,
    work: std::sync::atomic::AtomicUsize,
}

impl Counting {
    fn work(&self) -> usize {
        self.work.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count(&self) {
        self.work.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl CryptoProvider for Counting {
    fn hasher(
        &self,
        alg: opensmev_crypto::DigestAlgorithm,
    ) -> Result<Box<dyn opensmev_crypto::Hasher>, opensmev_crypto::CryptoError> {
        self.count();
        self.inner.hasher(alg)
    }

    fn verify(
        &self,
        cert: &opensmev_crypto::Certificate,
        alg: SignatureAlgorithm,
        data: &[u8],
        signature: &[u8],
    ) -> Result<(), opensmev_crypto::CryptoError> {
        self.count();
        self.inner.verify(cert, alg, data, signature)
    }

    fn load_signer(
        &self,
        key_pem: &[u8],
        cert: opensmev_crypto::Certificate,
    ) -> Result<Box<dyn Signer>, opensmev_crypto::CryptoError> {
        self.inner.load_signer(key_pem, cert)
    }

    fn cms_verify_detached(
        &self,
        cms: &[u8],
        data: &[u8],
    ) -> Result<opensmev_crypto::CmsVerification, opensmev_crypto::CryptoError> {
        self.inner.cms_verify_detached(cms, data)
    }
}

/// Identity before expensive work: a call signed with a certificate nobody registered is refused
/// (`SenderIsNotRegistered`) without a digest or a signature check; a registered one is verified.
#[tokio::test]
async fn unregistered_certificates_are_refused_before_any_crypto() {
    let counting = Arc::new(Counting {
        inner: OpenSslProvider::new(),
        work: std::sync::atomic::AtomicUsize::new(0),
    });
    let w = world_with_crypto("", "", std::time::Duration::ZERO, counting.clone()).await;
    let (stranger, _) = identity("STRANGER");
    let refused = send_as(&w, stranger.as_ref(), &id_at(T0), "").await;
    assert!(
        matches!(&refused, Err(BusError::SenderIsNotRegistered { subject, .. }) if subject.contains("STRANGER")),
        "{refused:?}"
    );
    assert_eq!(
        counting.work(),
        0,
        "no crypto work for an unregistered caller"
    );
    send(&w, &id_at(T0), "").await.unwrap();
    assert!(counting.work() >= 2, "a registered caller is verified");
}
