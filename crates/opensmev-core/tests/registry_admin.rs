//! Structured registry changes (`opensmev_core::admin`): participants, systems, certificates
//! (add, rotation with an overlap window, revocation), kinds with XSD sets from files or a ZIP
//! (two entry points, roots checked), grants, quotas — each checked, saved as a new version with
//! an audit entry (summary and diff), in force at once, and never lost to a concurrent change.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{BASIC, T0, TYPES, id_at, identity, send_signed, signed_xml};
use opensmev_core::admin::{AdminError, KindChange, SystemChange, grant_id, xsd_files_from_zip};
use opensmev_core::registry::{
    GrantEntry, KindStatus, Participant, Registry, SignaturePolicy, XsdFile, certificate_key,
};
use opensmev_core::{Bus, BusConfig, BusError, ManualClock};
use opensmev_crypto::{Certificate, OpenSslProvider, Signer};
use opensmev_store::{AuditEntry, AuditQuery, Store};
use opensmev_store_sqlite::SqliteStore;
use opensmev_xmldsig::dsig::SignOptions;
use time::Duration;

const ADMIN: &str = "admin-login";

fn registry(consumer_pem: &str, provider_pem: &str) -> String {
    format!(
        r#"
# A hand-written registry: the structured changes keep its content, not its comments.
[[participants]]
name = "Participant"
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
[[grants]]
consumer = "CONS01"
kind = "VS1"
basis = "test"
"#
    )
}

struct World {
    bus: Arc<Bus>,
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    consumer: Box<dyn Signer>,
    consumer_pem: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let clock = Arc::new(ManualClock::new(T0));
    let (bus_signer, _) = identity("BUS");
    let bus = Bus::new(
        store.clone(),
        Arc::new(OpenSslProvider::new()),
        Arc::from(bus_signer),
        BusConfig::default(),
        clock.clone(),
    );
    let (consumer, consumer_pem) = identity("CONSUMER");
    let (_, provider_pem) = identity("PROVIDER");
    bus.import_registry(&registry(&consumer_pem, &provider_pem))
        .await
        .unwrap();
    World {
        bus: Arc::new(bus),
        clock,
        store,
        consumer,
        consumer_pem,
        _dir: dir,
    }
}

impl World {
    async fn version(&self) -> u64 {
        self.store.registry().await.unwrap().unwrap().version
    }

    /// The newest audit entry.
    async fn last_audit(&self) -> AuditEntry {
        self.store
            .audit(AuditQuery {
                limit: 1,
                ..AuditQuery::default()
            })
            .await
            .unwrap()
            .remove(0)
    }

    /// Sends a `{urn:t}Req` request signed by `signer`, now.
    async fn send(&self, signer: &dyn Signer) -> Result<(), BusError> {
        let id = id_at(self.bus.now());
        let body = format!(
            "<t:SendRequestRequest xmlns:t=\"{TYPES}\" xmlns:b=\"{BASIC}\"><t:SenderProvidedRequestData Id=\"D\"><t:MessageID>{id}</t:MessageID><b:MessagePrimaryContent><Req xmlns=\"urn:t\">x</Req></b:MessagePrimaryContent></t:SenderProvidedRequestData></t:SendRequestRequest>"
        );
        send_signed(
            &self.bus,
            &signed_xml(&body, "D", signer, &SignOptions::default()),
            &id,
        )
        .await
    }
}

fn thumbprint(pem: &str) -> String {
    certificate_key(&Certificate::from_pem(pem.as_bytes()).unwrap())
}

fn assert_audited(entry: &AuditEntry, action: &str, summary: &str, diff_line: &str) {
    assert_eq!(entry.entry.actor, ADMIN);
    assert_eq!(entry.entry.action, action);
    let detail = &entry.entry.detail;
    assert!(
        detail.lines().next().unwrap().contains(summary),
        "{action}: summary {summary:?} not in {detail}"
    );
    assert!(detail.contains("--- до"), "{detail}");
    assert!(
        detail.lines().any(|l| l.starts_with(diff_line)),
        "{action}: no line {diff_line:?} in\n{detail}"
    );
}

#[tokio::test]
async fn participants_are_added_changed_and_removed_when_unused() {
    let w = world().await;
    let v = w.version().await;
    let changed = w
        .bus
        .put_participant(
            ADMIN,
            Some(v),
            Participant {
                name: "ФНС".into(),
                ogrn: "1047707030513".into(),
                inn: Some("7707329152".into()),
            },
        )
        .await
        .unwrap();
    assert!(changed.saved);
    assert_eq!(changed.version, v + 1);
    assert_eq!(w.bus.registry().version(), v + 1, "in force at once");
    assert_eq!(w.bus.registry().file().participants.len(), 2);
    assert_audited(
        &w.last_audit().await,
        "registry.participant.put",
        "participant 1047707030513 (ФНС) added",
        "+ogrn = \"1047707030513\"",
    );
    // The same again changes nothing and saves nothing.
    let same = w
        .bus
        .put_participant(
            ADMIN,
            None,
            Participant {
                name: "ФНС".into(),
                ogrn: "1047707030513".into(),
                inn: Some("7707329152".into()),
            },
        )
        .await
        .unwrap();
    assert!(!same.saved);
    assert_eq!(same.version, v + 1);
    // A stale version is a conflict.
    let stale = w
        .bus
        .delete_participant(ADMIN, Some(v), "1047707030513")
        .await
        .unwrap_err();
    assert!(
        matches!(stale, AdminError::Conflict { expected, current } if expected == v && current == v + 1),
        "{stale:?}"
    );
    // The owner of systems stays.
    let used = w
        .bus
        .delete_participant(ADMIN, None, "1")
        .await
        .unwrap_err();
    assert!(
        matches!(&used, AdminError::InUse(m) if m.contains("CONS01")),
        "{used:?}"
    );
    assert!(matches!(
        w.bus.delete_participant(ADMIN, None, "nobody").await,
        Err(AdminError::NotFound(_))
    ));
    w.bus
        .delete_participant(ADMIN, None, "1047707030513")
        .await
        .unwrap();
    assert_audited(
        &w.last_audit().await,
        "registry.participant.delete",
        "participant 1047707030513 removed",
        "-ogrn = \"1047707030513\"",
    );
    assert_eq!(w.bus.registry().file().participants.len(), 1);
}

#[tokio::test]
async fn systems_are_created_changed_and_removed_when_unused() {
    let w = world().await;
    let (_, pem) = identity("NEW01");
    let new = SystemChange {
        mnemonic: "NEW01".into(),
        name: "New".into(),
        owner: "1".into(),
        signature: SignaturePolicy::Required,
        queue_quota: None,
        transform_variant: None,
        certificates: vec![pem.clone()],
    };
    w.bus.put_system(ADMIN, None, new.clone()).await.unwrap();
    let registry = w.bus.registry();
    let system = registry
        .system_by_certificate(&Certificate::from_pem(pem.as_bytes()).unwrap())
        .unwrap();
    assert_eq!(system.mnemonic.as_str(), "NEW01");
    assert_eq!(system.queue_quota, 1000);
    // Changed: quota, policy, variant; its certificates kept.
    w.bus
        .put_system(
            ADMIN,
            None,
            SystemChange {
                name: "New, renamed".into(),
                queue_quota: Some(7),
                signature: SignaturePolicy::Optional,
                transform_variant: Some(opensmev_xmldsig::transform::TransformVariant::PythonPort),
                certificates: Vec::new(),
                ..new.clone()
            },
        )
        .await
        .unwrap();
    let registry = w.bus.registry();
    let system = registry
        .system(&opensmev_types::Mnemonic::parse("NEW01").unwrap())
        .unwrap();
    assert_eq!(system.name, "New, renamed");
    assert_eq!(system.queue_quota, 7);
    assert_eq!(system.signature, SignaturePolicy::Optional);
    assert!(system.transform_variant.is_some());
    assert_eq!(system.certificates.len(), 1);
    assert!(
        registry
            .to_toml()
            .contains("transform_variant = \"python-port\"")
    );
    assert_audited(
        &w.last_audit().await,
        "registry.system.put",
        "system NEW01 changed",
        "+queue_quota = 7",
    );
    // Unknown owner, certificates on an update: refused as invalid, naming the field.
    let bad = w
        .bus
        .put_system(
            ADMIN,
            None,
            SystemChange {
                owner: "999".into(),
                ..new.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, AdminError::Invalid { field: Some(f), .. } if f == "owner"),
        "{bad:?}"
    );
    let bad = w
        .bus
        .put_system(ADMIN, None, new.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, AdminError::Invalid { field: Some(f), .. } if f == "certificates"),
        "{bad:?}"
    );
    // A required-signature system needs a certificate.
    let bad = w
        .bus
        .put_system(
            ADMIN,
            None,
            SystemChange {
                mnemonic: "NOCERT01".into(),
                certificates: Vec::new(),
                ..new.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, AdminError::Invalid { message, .. } if message.contains("no certificate")),
        "{bad:?}"
    );
    // In use: a provider, a consumer with a grant.
    assert!(matches!(
        w.bus.delete_system(ADMIN, None, "PROV01").await,
        Err(AdminError::InUse(m)) if m.contains("VS1")
    ));
    let grant = w.bus.registry().file().grants[0].clone();
    assert!(matches!(
        w.bus.delete_system(ADMIN, None, "CONS01").await,
        Err(AdminError::InUse(_))
    ));
    w.bus
        .remove_grant(ADMIN, None, &grant_id(&grant))
        .await
        .unwrap();
    w.bus.delete_system(ADMIN, None, "CONS01").await.unwrap();
    w.bus.delete_system(ADMIN, None, "NEW01").await.unwrap();
    assert!(!w.bus.registry().to_toml().contains("transform_variant"));
    assert_audited(
        &w.last_audit().await,
        "registry.system.delete",
        "system NEW01 removed",
        "-mnemonic = \"NEW01\"",
    );
}

#[tokio::test]
async fn a_rotated_certificate_is_accepted_until_the_end_of_its_overlap() {
    let w = world().await;
    let old_id = thumbprint(&w.consumer_pem);
    w.send(w.consumer.as_ref())
        .await
        .expect("the current certificate");
    let (new, new_pem) = identity("CONSUMER-2026");
    let until = T0 + Duration::hours(1);
    let (_, new_id) = w
        .bus
        .rotate_certificate(ADMIN, None, &old_id, &new_pem, until)
        .await
        .unwrap();
    assert_eq!(new_id, thumbprint(&new_pem));
    let text = w.bus.registry().to_toml();
    assert!(text.contains("[[systems.retiring_certificates]]"), "{text}");
    assert!(text.contains("until = \"2026-06-01T13:00:00Z\""), "{text}");
    assert_audited(
        &w.last_audit().await,
        "registry.certificate.rotate",
        &format!("system CONS01: certificate {old_id} rotated to {new_id}"),
        "+until = \"2026-06-01T13:00:00Z\"",
    );
    // The exported document loads again with the retiring certificate.
    let again = Registry::from_toml(&text, 9).unwrap();
    assert_eq!(again.document(), w.bus.registry().document());

    // Within the overlap both certificates identify the system.
    w.clock.advance(Duration::minutes(59));
    w.send(w.consumer.as_ref())
        .await
        .expect("the old one, before until");
    w.send(new.as_ref()).await.expect("the new one");
    // From `until` on the old one is refused, saying it was retired and when.
    w.clock.advance(Duration::minutes(1));
    match w.send(w.consumer.as_ref()).await {
        Err(e @ BusError::SenderIsNotRegistered { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("retired for CONS01 at 2026-06-01T13:00:00Z"),
                "{text}"
            );
        }
        other => panic!("the retired certificate was not refused: {other:?}"),
    }
    w.send(new.as_ref()).await.expect("the new one still");
    // The overlap cannot end in the past.
    let (_, third_pem) = identity("CONSUMER-2027");
    assert!(matches!(
        w.bus.rotate_certificate(ADMIN, None, &new_id, &third_pem, T0).await,
        Err(AdminError::Invalid { field: Some(f), .. }) if f == "until"
    ));
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_at_once() {
    let w = world().await;
    let id = thumbprint(&w.consumer_pem);
    // The only certificate of a system whose signatures are required stays.
    assert!(matches!(
        w.bus.revoke_certificate(ADMIN, None, &id).await,
        Err(AdminError::InUse(_))
    ));
    let (second, second_pem) = identity("CONSUMER-SPARE");
    let (_, second_id) = w
        .bus
        .add_certificate(ADMIN, None, "CONS01", &second_pem)
        .await
        .unwrap();
    assert_audited(
        &w.last_audit().await,
        "registry.certificate.add",
        &format!("system CONS01: certificate {second_id}"),
        "+-----BEGIN CERTIFICATE-----",
    );
    assert!(matches!(
        w.bus
            .add_certificate(ADMIN, None, "CONS01", &second_pem)
            .await,
        Err(AdminError::Exists(_))
    ));
    w.send(w.consumer.as_ref()).await.unwrap();
    // By its SHA-1 thumbprint, as faults name it.
    let sha1 = Certificate::from_pem(w.consumer_pem.as_bytes())
        .unwrap()
        .thumbprint_sha1()
        .to_owned();
    w.bus.revoke_certificate(ADMIN, None, &sha1).await.unwrap();
    assert_audited(
        &w.last_audit().await,
        "registry.certificate.revoke",
        &format!("system CONS01: certificate {id}"),
        "-",
    );
    match w.send(w.consumer.as_ref()).await {
        Err(e @ BusError::SenderIsNotRegistered { .. }) => {
            assert!(!e.to_string().contains("retired"), "{e}");
        }
        other => panic!("the revoked certificate was not refused: {other:?}"),
    }
    w.send(second.as_ref()).await.unwrap();
    // A retiring certificate can be revoked before its overlap ends.
    let (third, third_pem) = identity("CONSUMER-THIRD");
    w.bus
        .rotate_certificate(ADMIN, None, &second_id, &third_pem, T0 + Duration::days(7))
        .await
        .unwrap();
    w.send(second.as_ref()).await.expect("in its overlap");
    w.bus
        .revoke_certificate(ADMIN, None, &second_id)
        .await
        .unwrap();
    assert!(matches!(
        w.send(second.as_ref()).await,
        Err(BusError::SenderIsNotRegistered { .. })
    ));
    w.send(third.as_ref()).await.unwrap();
    assert!(!w.bus.registry().to_toml().contains("retiring_certificates"));
    assert!(matches!(
        w.bus.revoke_certificate(ADMIN, None, "00").await,
        Err(AdminError::NotFound(_))
    ));
}

fn vs_dir(set: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../opensmev-schema/tests/data/vs")
        .join(set)
}

/// Every file under `dir` (name relative to `dir`, bytes).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .replace('\\', "/");
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    writer.add_directory("schemas/", options).unwrap();
    for (name, bytes) in entries {
        writer.start_file(name.as_str(), options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

const EGISSO: &str = "EGISSO_10.23.I-1.0.1";
const REQUEST_DATA: &str = "{urn://egisso-ru/types/livingwage-request/1.0.1}requestData";
const RESPONSE_DATA: &str = "{urn://egisso-ru/types/livingwage-response/1.0.1}data";

#[tokio::test]
async fn kinds_from_a_real_zip_with_two_entry_points_then_a_new_version_and_its_life_cycle() {
    let w = world().await;
    let zip = zip_of(&tree(&vs_dir(EGISSO)));
    let contents = xsd_files_from_zip(&zip).unwrap();
    assert_eq!(contents.files.len(), 6);
    assert_eq!(contents.ignored.len(), 4, "{:?}", contents.ignored);
    assert!(contents.ignored.iter().all(|n| n.starts_with("examples/")));
    let change = KindChange {
        id: "VS00999v001-EGISSO".into(),
        title: Some("Прожиточный минимум".into()),
        provider: Some("PROV01".into()),
        request: Some(REQUEST_DATA.into()),
        responses: Some(vec![RESPONSE_DATA.into()]),
        version: Some("1.0.1".into()),
        files: Some(contents.files.clone()),
        request_entry: Some("schemas/egisso/livingwage-request-1.0.1.xsd".into()),
        response_entry: Some("schemas/egisso/livingwage-response-1.0.1.xsd".into()),
        ..KindChange::default()
    };
    // The response root is not declared by the request's file alone.
    let refused = w
        .bus
        .put_kind(
            ADMIN,
            None,
            KindChange {
                response_entry: None,
                ..change.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, AdminError::Invalid { field: Some(f), message } if f == "responses" && message.contains(RESPONSE_DATA)),
        "{refused:?}"
    );
    w.bus.put_kind(ADMIN, None, change.clone()).await.unwrap();
    assert_audited(
        &w.last_audit().await,
        "registry.kind.put",
        "kind VS00999v001-EGISSO added (version 1.0.1, 6 XSD file(s))",
        "+request_entry = \"schemas/egisso/livingwage-request-1.0.1.xsd\"",
    );
    let registry = w.bus.registry();
    let kind = registry.kind("VS00999v001-EGISSO").unwrap();
    let schema = kind.schema.as_ref().unwrap();
    let example = |name: &str| {
        let text = std::fs::read_to_string(vs_dir(EGISSO).join("examples").join(name)).unwrap();
        // The real example's business data, with the namespaces it uses.
        let start = text.find("<ns").unwrap();
        let inner = &text[text[start + 1..].find('<').unwrap() + start + 1..];
        let end = inner.rfind("</").unwrap();
        let inner = &inner[..end];
        inner.replacen(
            '>',
            " xmlns:ns1=\"urn://egisso-ru/types/livingwage-request/1.0.1\" \
             xmlns:ns3=\"urn://egisso-ru/types/cls-livingwage/1.0.1\" \
             xmlns:ns4=\"urn://egisso-ru/types/livingwage-response/1.0.1\">",
            1,
        )
    };
    schema
        .validate(&example("etalon-1-Request.xml"))
        .expect("the real request data");
    schema
        .validate(&example("etalon-1-Response.xml"))
        .expect("the real response data");
    // The whole registry keeps loading from its text.
    let reread = Registry::from_toml(&registry.to_toml(), 1).unwrap();
    assert!(reread.kind("VS00999v001-EGISSO").unwrap().schema.is_some());

    // A new version from files (the main file as the entry point: the message roots).
    let files: Vec<XsdFile> = tree(&vs_dir(EGISSO))
        .into_iter()
        .filter(|(n, _)| n.ends_with(".xsd"))
        .map(|(name, bytes)| XsdFile {
            name,
            text: String::from_utf8(bytes).unwrap(),
        })
        .collect();
    let main = files
        .iter()
        .position(|f| f.name == "10.23.I-1.0.1.xsd")
        .unwrap();
    let mut files = files;
    files.swap(0, main);
    w.bus
        .put_kind(
            ADMIN,
            None,
            KindChange {
                id: "VS00999v001-EGISSO".into(),
                request: Some("{urn://egisso-ru/msg/10.23.I/1.0.1}request".into()),
                responses: Some(vec!["{urn://egisso-ru/msg/10.23.I/1.0.1}response".into()]),
                version: Some("1.0.2".into()),
                files: Some(files),
                ..KindChange::default()
            },
        )
        .await
        .unwrap();
    assert_audited(
        &w.last_audit().await,
        "registry.kind.put",
        "kind VS00999v001-EGISSO changed; version 1.0.1 → 1.0.2; XSD set of 6 file(s)",
        "-request_entry",
    );
    let registry = w.bus.registry();
    let kind = registry.kind("VS00999v001-EGISSO").unwrap();
    assert_eq!(kind.entry.title, "Прожиточный минимум", "kept");
    assert_eq!(kind.entry.version, "1.0.2");
    let examples = vs_dir(EGISSO).join("examples");
    for name in ["etalon-1-Request.xml", "etalon-2-Response.xml"] {
        kind.schema
            .as_ref()
            .unwrap()
            .validate(&std::fs::read_to_string(examples.join(name)).unwrap())
            .unwrap();
    }

    // Life cycle: deprecated with a sunset and a successor; an unknown successor is refused.
    assert!(matches!(
        w.bus
            .put_kind(
                ADMIN,
                None,
                KindChange {
                    id: "VS1".into(),
                    successor: Some(Some("VS404".into())),
                    ..KindChange::default()
                },
            )
            .await,
        Err(AdminError::Invalid { .. })
    ));
    w.bus
        .put_kind(
            ADMIN,
            None,
            KindChange {
                id: "VS1".into(),
                status: Some(KindStatus::Deprecated),
                sunset: Some(Some("2026-12-31".into())),
                successor: Some(Some("VS00999v001-EGISSO".into())),
                ..KindChange::default()
            },
        )
        .await
        .unwrap();
    let registry = w.bus.registry();
    let old = registry.kind("VS1").unwrap();
    assert_eq!(old.entry.status, KindStatus::Deprecated);
    assert_eq!(old.entry.successor.as_deref(), Some("VS00999v001-EGISSO"));
    assert!(old.sunset.is_some());
    assert!(matches!(
        w.bus
            .put_kind(
                ADMIN,
                None,
                KindChange {
                    id: "VS1".into(),
                    sunset: Some(Some("31.12.2026".into())),
                    ..KindChange::default()
                },
            )
            .await,
        Err(AdminError::Invalid { field: Some(f), .. }) if f == "sunset"
    ));
    // A new kind needs its title, provider and roots.
    assert!(matches!(
        w.bus
            .put_kind(
                ADMIN,
                None,
                KindChange {
                    id: "VS2".into(),
                    ..KindChange::default()
                },
            )
            .await,
        Err(AdminError::Invalid { field: Some(f), .. }) if f == "title"
    ));
}

#[test]
fn hostile_or_oversized_zips_are_refused() {
    let xsd = b"<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"/>".to_vec();
    for name in [
        "../evil.xsd",
        "a/../../evil.xsd",
        "/etc/evil.xsd",
        "..\\evil.xsd",
        "C:/evil.xsd",
    ] {
        let err = xsd_files_from_zip(&zip_of(&[(name.to_owned(), xsd.clone())])).unwrap_err();
        assert!(
            matches!(&err, AdminError::Invalid { field: Some(f), message } if f == "archive" && message.contains("absolute paths and '..'")),
            "{name}: {err:?}"
        );
    }
    let many: Vec<(String, Vec<u8>)> = (0..201)
        .map(|i| (format!("f{i}.xsd"), xsd.clone()))
        .collect();
    assert!(matches!(
        xsd_files_from_zip(&zip_of(&many)),
        Err(AdminError::Invalid { message, .. }) if message.contains("at most 200")
    ));
    // A bomb: 33 MiB of zeros deflate to a few dozen KiB; the reading stops at the limit.
    let bomb = vec![b' '; 33 * 1024 * 1024];
    let zip = zip_of(&[("big.xsd".to_owned(), bomb)]);
    assert!(zip.len() < 1024 * 1024, "{}", zip.len());
    assert!(matches!(
        xsd_files_from_zip(&zip),
        Err(AdminError::Invalid { message, .. }) if message.contains("uncompressed")
    ));
    assert!(matches!(
        xsd_files_from_zip(b"PK not a zip"),
        Err(AdminError::Invalid { .. })
    ));
    let ok = xsd_files_from_zip(&zip_of(&[
        ("./set/root.XSD".to_owned(), xsd.clone()),
        ("set/readme.txt".to_owned(), b"x".to_vec()),
    ]))
    .unwrap();
    assert_eq!(ok.files[0].name, "set/root.XSD");
    assert_eq!(ok.ignored, ["set/readme.txt"]);
}

#[tokio::test]
async fn grants_and_quotas() {
    let w = world().await;
    let grant = GrantEntry {
        consumer: "PROV01".into(),
        kind: "VS1".into(),
        basis: "Соглашение".into(),
        basis_ref: Some("№ 1".into()),
        valid_from: Some("2026-01-01".into()),
        valid_to: Some("2026-12-31".into()),
        priority: None,
    };
    let (_, id) = w.bus.add_grant(ADMIN, None, grant.clone()).await.unwrap();
    assert_eq!(id, grant_id(&grant));
    assert_audited(
        &w.last_audit().await,
        "registry.grant.add",
        "PROV01 may request VS1 (Соглашение), 2026-01-01 – 2026-12-31",
        "+basis = \"Соглашение\"",
    );
    let registry = w.bus.registry();
    let provider = opensmev_types::Mnemonic::parse("PROV01").unwrap();
    assert!(registry.grant(&provider, "VS1", T0).is_some());
    assert!(matches!(
        w.bus.add_grant(ADMIN, None, grant.clone()).await,
        Err(AdminError::Exists(_))
    ));
    for (bad, field) in [
        (
            GrantEntry {
                consumer: "NOBODY".into(),
                ..grant.clone()
            },
            "consumer",
        ),
        (
            GrantEntry {
                kind: "VS404".into(),
                ..grant.clone()
            },
            "kind",
        ),
        (
            GrantEntry {
                valid_to: Some("2026-02-30".into()),
                priority: None,
                ..grant.clone()
            },
            "valid_to",
        ),
    ] {
        assert!(
            matches!(w.bus.add_grant(ADMIN, None, bad).await, Err(AdminError::Invalid { field: Some(f), .. }) if f == field),
            "{field}"
        );
    }
    w.bus.remove_grant(ADMIN, None, &id).await.unwrap();
    assert!(w.bus.registry().grant(&provider, "VS1", T0).is_none());
    assert!(matches!(
        w.bus.remove_grant(ADMIN, None, &id).await,
        Err(AdminError::NotFound(_))
    ));

    w.bus.set_default_quota(ADMIN, None, 5).await.unwrap();
    assert_audited(
        &w.last_audit().await,
        "registry.quota.default",
        "default queue quota 1000 → 5",
        "+default_queue_quota = 5",
    );
    w.bus
        .set_system_quota(ADMIN, None, "PROV01", Some(2))
        .await
        .unwrap();
    let registry = w.bus.registry();
    assert_eq!(registry.system(&provider).unwrap().queue_quota, 2);
    let consumer = opensmev_types::Mnemonic::parse("CONS01").unwrap();
    assert_eq!(registry.system(&consumer).unwrap().queue_quota, 5);
    w.bus
        .set_system_quota(ADMIN, None, "PROV01", None)
        .await
        .unwrap();
    assert_eq!(w.bus.registry().system(&provider).unwrap().queue_quota, 5);
    assert!(matches!(
        w.bus.set_system_quota(ADMIN, None, "NOBODY", Some(1)).await,
        Err(AdminError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_are_all_kept() {
    let w = world().await;
    let before = w.version().await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let bus = w.bus.clone();
        tasks.push(tokio::spawn(async move {
            bus.put_participant(
                ADMIN,
                None,
                Participant {
                    name: format!("P{i}"),
                    ogrn: format!("10{i}"),
                    inn: None,
                },
            )
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(w.version().await, before + 6);
    let text = w.store.registry().await.unwrap().unwrap().text;
    let registry = Registry::from_toml(&text, 0).unwrap();
    assert_eq!(registry.file().participants.len(), 7, "none was lost");
}

#[tokio::test]
async fn a_registry_without_systems_is_refused_and_changes_nothing() {
    let w = world().await;
    let before = w.version().await;
    for text in [
        "",
        "default_queue_quota = 10\n",
        "[[participants]]\nname = \"P\"\nogrn = \"1\"\n",
    ] {
        let refused = w.bus.change_registry(ADMIN, text, None).await;
        assert!(
            matches!(
                &refused,
                Err(opensmev_core::admin::RegistryChangeError::Invalid(m)) if m.contains("[[systems]]")
            ),
            "{text:?}: {refused:?}"
        );
    }
    assert_eq!(w.version().await, before, "nothing was saved");
    // The consumer still works.
    w.send(w.consumer.as_ref()).await.unwrap();
}
