//! Signatures computed with a known non-reference SMEV transform (the Python port of
//! smev-transform, .NET on Windows): refused by default with a fault that names the
//! implementation, accepted only for the IS whose registry entry names that implementation
//! (`transform_variant`), and the registry key survives export and import.

mod common;

use std::sync::Arc;

use common::{BASIC, T0, TYPES, id_at, identity, send_signed, signed_xml};
use opensmev_core::registry::Registry;
use opensmev_core::{Bus, BusConfig, BusError, ManualClock};
use opensmev_crypto::{OpenSslProvider, Signer};
use opensmev_store::Store;
use opensmev_store_sqlite::SqliteStore;
use opensmev_xmldsig::dsig::{FaultCategory, SignOptions};
use opensmev_xmldsig::transform::TransformVariant;

/// A multi-line business content with `&` and `<` in it: every non-reference variant differs.
const CONTENT: &str =
    "<Req xmlns=\"urn:t\">Справка выдана\nООО «Рога &amp; Копыта»\nсумма &lt; 100</Req>";

fn registry(legacy_pem: &str, other_pem: &str, provider_pem: &str, legacy_extra: &str) -> String {
    format!(
        r#"
[[participants]]
name = "A"
ogrn = "1"
[[systems]]
mnemonic = "LEGACY01"
name = "Python client"
owner = "1"
certificates = ["""{legacy_pem}"""]
{legacy_extra}
[[systems]]
mnemonic = "OTHER01"
name = "Another consumer"
owner = "1"
certificates = ["""{other_pem}"""]
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
consumer = "LEGACY01"
kind = "VS1"
basis = "test"
[[grants]]
consumer = "OTHER01"
kind = "VS1"
basis = "test"
"#
    )
}

struct World {
    bus: Bus,
    legacy: Box<dyn Signer>,
    other: Box<dyn Signer>,
    pems: (String, String, String),
    _dir: tempfile::TempDir,
}

async fn world(legacy_extra: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let clock = Arc::new(ManualClock::new(T0));
    let (bus_signer, _) = identity("BUS");
    let bus = Bus::new(
        store,
        Arc::new(OpenSslProvider::new()),
        Arc::from(bus_signer),
        BusConfig::default(),
        clock,
    );
    let (legacy, legacy_pem) = identity("LEGACY");
    let (other, other_pem) = identity("OTHER");
    let (_, provider_pem) = identity("PROV");
    bus.import_registry(&registry(
        &legacy_pem,
        &other_pem,
        &provider_pem,
        legacy_extra,
    ))
    .await
    .unwrap();
    World {
        bus,
        legacy,
        other,
        pems: (legacy_pem, other_pem, provider_pem),
        _dir: dir,
    }
}

/// Sends a request whose ЭП-ОВ digest was computed as `variant` does (`None`: the reference).
async fn send(
    w: &World,
    signer: &dyn Signer,
    variant: Option<TransformVariant>,
) -> Result<(), BusError> {
    let id = id_at(T0);
    let body = format!(
        "<t:SendRequestRequest xmlns:t=\"{TYPES}\" xmlns:b=\"{BASIC}\"><t:SenderProvidedRequestData Id=\"D\"><t:MessageID>{id}</t:MessageID><b:MessagePrimaryContent>{CONTENT}</b:MessagePrimaryContent></t:SenderProvidedRequestData></t:SendRequestRequest>"
    );
    let options = SignOptions {
        variant,
        ..SignOptions::default()
    };
    send_signed(&w.bus, &signed_xml(&body, "D", signer, &options), &id).await
}

fn refused_naming(result: Result<(), BusError>, variant: TransformVariant) {
    match result {
        Err(BusError::Signature { category, message }) => {
            assert_eq!(category, FaultCategory::SignatureIsInvalid, "{message}");
            assert!(
                message.contains(&format!("variant: {}", variant.name())),
                "the fault does not name {variant}: {message}"
            );
            assert!(
                message.contains(&format!("transform_variant = \"{}\"", variant.name())),
                "{message}"
            );
        }
        other => panic!("expected a SignatureVerificationFault naming {variant}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_python_port_signature_is_refused_by_default_with_a_fault_that_names_it() {
    let w = world("").await;
    send(&w, w.legacy.as_ref(), None).await.unwrap();
    refused_naming(
        send(&w, w.legacy.as_ref(), Some(TransformVariant::PythonPort)).await,
        TransformVariant::PythonPort,
    );
    refused_naming(
        send(&w, w.legacy.as_ref(), Some(TransformVariant::DotnetCrlf)).await,
        TransformVariant::DotnetCrlf,
    );
}

#[tokio::test]
async fn the_named_variant_is_accepted_for_that_system_only() {
    let w = world("transform_variant = \"python-port\"").await;
    let registry = w.bus.registry();
    let legacy = registry
        .systems()
        .find(|s| s.mnemonic.as_str() == "LEGACY01")
        .unwrap();
    assert_eq!(legacy.transform_variant, Some(TransformVariant::PythonPort));

    // Accepted for LEGACY01, with the reference still accepted too.
    send(&w, w.legacy.as_ref(), Some(TransformVariant::PythonPort))
        .await
        .unwrap();
    send(&w, w.legacy.as_ref(), None).await.unwrap();
    // Only the named variant.
    refused_naming(
        send(&w, w.legacy.as_ref(), Some(TransformVariant::DotnetCrlf)).await,
        TransformVariant::DotnetCrlf,
    );
    // Only that system.
    refused_naming(
        send(&w, w.other.as_ref(), Some(TransformVariant::PythonPort)).await,
        TransformVariant::PythonPort,
    );
}

#[tokio::test]
async fn the_registry_key_survives_export_and_import_and_bad_values_are_refused() {
    let w = world("transform_variant = \"dotnet-crlf\"").await;
    let exported = w.bus.registry().to_toml();
    assert!(
        exported.contains("transform_variant = \"dotnet-crlf\""),
        "{exported}"
    );
    let again = Registry::from_toml(&exported, 2).unwrap();
    let variants: Vec<(String, Option<TransformVariant>)> = again
        .systems()
        .map(|s| (s.mnemonic.to_string(), s.transform_variant))
        .collect();
    assert!(variants.contains(&("LEGACY01".into(), Some(TransformVariant::DotnetCrlf))));
    assert!(variants.contains(&("OTHER01".into(), None)));

    let (a, b, c) = &w.pems;
    // "reference" is the explicit default.
    let explicit =
        Registry::from_toml(&registry(a, b, c, "transform_variant = \"reference\""), 1).unwrap();
    assert!(explicit.systems().all(|s| s.transform_variant.is_none()));
    // Without the key, the export has no such key.
    let plain = Registry::from_toml(&registry(a, b, c, ""), 1).unwrap();
    assert!(!plain.to_toml().contains("transform_variant"));

    for (value, needle) in [
        (
            "\"java\"",
            "'java' is not a known SMEV transform implementation",
        ),
        ("1", "must be a string"),
    ] {
        let text = registry(a, b, c, &format!("transform_variant = {value}"));
        let error = Registry::from_toml(&text, 1).unwrap_err().to_string();
        assert!(
            error.contains(needle) && error.contains("LEGACY01") && error.contains("python-port"),
            "{error}"
        );
    }
    // Other mistakes keep their positioned messages when the key is present.
    let text = registry(a, b, c, "transform_variant = \"python-port\"\nquota = 3");
    let error = Registry::from_toml(&text, 1).unwrap_err().to_string();
    assert!(error.contains("quota"), "{error}");
}
