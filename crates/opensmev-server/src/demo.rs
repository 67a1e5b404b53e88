//! Demo mode: a ready registry of three kinds of information and three information systems with
//! generated GOST test keys, written into the data directory so anyone can try the bus with their
//! own SMEV client.
//!
//! Layout under `<data_dir>/demo/`: `<MNEMONIC>/key.pem` + `cert.pem` for each demo IS, `SMEV/`
//! for the bus's own key, `registry.toml` (the registry export), and
//! `examples/<VS id>/request.xml` + `response.xml`, and `examples/envelopes/<version>/<Operation>.xml`:
//! ready-to-sign SOAP envelopes of every operation for every schema version (written anew at
//! each start: their MessageIDs and Timestamps are fresh then), with a `README.txt` saying which
//! key signs which and what to fill in. Existing keys are reused, so they stay the same across
//! restarts.

use std::path::{Path, PathBuf};

use opensmev_core::registry::{
    GrantEntry, KindEntry, Participant, RegistryFile, SignaturePolicy, SystemEntry, XsdFile,
};
use opensmev_crypto::{SignatureAlgorithm, TestIdentityParams, generate_test_identity};

/// A demo kind of information.
struct DemoKind {
    id: &'static str,
    title: &'static str,
    provider: &'static str,
    namespace: &'static str,
    request: &'static str,
    response: &'static str,
    xsd_name: &'static str,
    xsd: &'static str,
    request_example: &'static str,
    response_example: &'static str,
    /// The print form (XSLT) of its answers: (file name, text).
    print_form: Option<(&'static str, &'static str)>,
}

const KINDS: [DemoKind; 3] = [
    DemoKind {
        id: "VS00001v001-PFR001",
        title: "Сведения о состоянии индивидуального лицевого счёта застрахованного лица (по СНИЛС)",
        provider: "PFR01",
        namespace: "urn://opensmev/demo/pfr-account/1.0.0",
        request: "PersonalAccountRequest",
        response: "PersonalAccountResponse",
        xsd_name: "pfr-account.xsd",
        xsd: include_str!("demo/pfr-account.xsd"),
        request_example: include_str!("demo/pfr-account.request.xml"),
        response_example: include_str!("demo/pfr-account.response.xml"),
        print_form: Some((
            "pfr-account-print.xsl",
            include_str!("demo/pfr-account-print.xsl"),
        )),
    },
    DemoKind {
        id: "VS00002v001-FNS001",
        title: "Выписка из ЕГРЮЛ",
        provider: "FNS01",
        namespace: "urn://opensmev/demo/egrul-extract/1.0.0",
        request: "EgrulExtractRequest",
        response: "EgrulExtractResponse",
        xsd_name: "egrul-extract.xsd",
        xsd: include_str!("demo/egrul-extract.xsd"),
        request_example: include_str!("demo/egrul-extract.request.xml"),
        response_example: include_str!("demo/egrul-extract.response.xml"),
        print_form: None,
    },
    DemoKind {
        id: "VS00003v001-FNS002",
        title: "Справка о наличии (отсутствии) задолженности по налогам",
        provider: "FNS01",
        namespace: "urn://opensmev/demo/tax-debt/1.0.0",
        request: "TaxDebtRequest",
        response: "TaxDebtResponse",
        xsd_name: "tax-debt.xsd",
        xsd: include_str!("demo/tax-debt.xsd"),
        request_example: include_str!("demo/tax-debt.request.xml"),
        response_example: include_str!("demo/tax-debt.response.xml"),
        print_form: None,
    },
];

/// (mnemonic, name, owner OGRN, subject)
const SYSTEMS: [(&str, &str, &str, &str); 3] = [
    (
        "MFC01",
        "АИС МФЦ (демо)",
        "1027700000001",
        "CN=АИС МФЦ (демо), O=ГБУ МФЦ (демо), OGRN=1027700000001, INN=7700000001",
    ),
    (
        "PFR01",
        "ПТК СФР (демо)",
        "1027700000002",
        "CN=ПТК СФР (демо), O=Социальный фонд (демо), OGRN=1027700000002, INN=7700000002",
    ),
    (
        "FNS01",
        "АИС Налог (демо)",
        "1027700000003",
        "CN=АИС Налог (демо), O=ФНС (демо), OGRN=1027700000003, INN=7700000003",
    ),
];

/// What the demo set-up produced.
#[derive(Debug, Clone)]
pub struct Demo {
    /// `<data_dir>/demo`.
    pub dir: PathBuf,
    /// The registry document.
    pub registry_toml: String,
    /// The bus key.
    pub smev_key: PathBuf,
    /// The bus certificate.
    pub smev_cert: PathBuf,
}

/// An error while writing the demo files.
#[derive(Debug, thiserror::Error)]
#[error("demo set-up: {0}")]
pub struct DemoError(String);

fn io(path: &Path, e: std::io::Error) -> DemoError {
    DemoError(format!("{}: {e}", path.display()))
}

/// Generates (or reuses) a key and certificate in `dir`.
fn identity(dir: &Path, subject: &str) -> Result<String, DemoError> {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    if key.exists() && cert.exists() {
        return std::fs::read_to_string(&cert).map_err(|e| io(&cert, e));
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let params = TestIdentityParams::new(SignatureAlgorithm::Gost2012_256, subject);
    let identity = generate_test_identity(&params).map_err(|e| DemoError(e.to_string()))?;
    write_private(&key, identity.key_pem.as_bytes())?;
    std::fs::write(&cert, &identity.cert_pem).map_err(|e| io(&cert, e))?;
    Ok(identity.cert_pem)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, e))?;
    file.write_all(bytes).map_err(|e| io(path, e))
}

/// The demo registry for the given certificates (PEM by mnemonic).
pub fn registry(certificates: &[(&str, String)]) -> RegistryFile {
    let participants = SYSTEMS
        .iter()
        .map(|(_, _, ogrn, subject)| Participant {
            name: subject
                .split(", ")
                .find_map(|p| p.strip_prefix("O="))
                .unwrap_or("")
                .to_owned(),
            ogrn: (*ogrn).to_owned(),
            inn: subject
                .split(", ")
                .find_map(|p| p.strip_prefix("INN="))
                .map(str::to_owned),
        })
        .collect();
    let systems = SYSTEMS
        .iter()
        .map(|(mnemonic, name, ogrn, _)| SystemEntry {
            mnemonic: (*mnemonic).to_owned(),
            name: (*name).to_owned(),
            owner: (*ogrn).to_owned(),
            signature: SignaturePolicy::Required,
            certificates: certificates
                .iter()
                .filter(|(m, _)| m == mnemonic)
                .map(|(_, pem)| pem.clone())
                .collect(),
            queue_quota: None,
        })
        .collect();
    let kinds = KINDS
        .iter()
        .map(|k| KindEntry {
            id: k.id.to_owned(),
            title: k.title.to_owned(),
            provider: k.provider.to_owned(),
            request: format!("{{{}}}{}", k.namespace, k.request),
            responses: vec![format!("{{{}}}{}", k.namespace, k.response)],
            version: "1.0.0".to_owned(),
            status: Default::default(),
            sunset: None,
            successor: None,
            xsd: std::iter::once(XsdFile {
                name: k.xsd_name.to_owned(),
                text: k.xsd.to_owned(),
            })
            .chain(k.print_form.map(|(name, text)| XsdFile {
                name: name.to_owned(),
                text: text.to_owned(),
            }))
            .collect(),
        })
        .collect();
    let grants = KINDS
        .iter()
        .map(|k| GrantEntry {
            consumer: "MFC01".to_owned(),
            kind: k.id.to_owned(),
            basis: "Демонстрационный доступ (Федеральный закон от 27.07.2010 № 210-ФЗ, ст. 7)"
                .to_owned(),
            basis_ref: Some("210-ФЗ ст. 7".to_owned()),
            valid_from: Some("2024-01-01".to_owned()),
            valid_to: None,
            priority: None,
        })
        .collect();
    RegistryFile {
        default_queue_quota: 1000,
        participants,
        systems,
        kinds,
        grants,
    }
}

/// Writes (or reuses) everything under `<data_dir>/demo`.
pub fn prepare(data_dir: &Path) -> Result<Demo, DemoError> {
    let dir = data_dir.join("demo");
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let mut certificates = Vec::new();
    for (mnemonic, _, _, subject) in SYSTEMS {
        certificates.push((mnemonic, identity(&dir.join(mnemonic), subject)?));
    }
    identity(
        &dir.join("SMEV"),
        "CN=OpenSMEV (демо), O=OpenSMEV, OGRN=1027700000000, INN=7700000000",
    )?;
    let file = registry(&certificates);
    // The print forms are named with the `print_form` key kept apart from the kind's table.
    let registry_toml = opensmev_core::registry::RegistryDocument {
        file,
        systems: Default::default(),
        kinds: KINDS
            .iter()
            .filter_map(|k| {
                k.print_form.map(|(name, _)| {
                    (
                        k.id.to_owned(),
                        opensmev_core::registry::KindExtras {
                            print_form: Some(name.to_owned()),
                            ..Default::default()
                        },
                    )
                })
            })
            .collect(),
    }
    .to_toml();
    let registry_path = dir.join("registry.toml");
    std::fs::write(&registry_path, &registry_toml).map_err(|e| io(&registry_path, e))?;
    for kind in &KINDS {
        let examples = dir.join("examples").join(kind.id);
        std::fs::create_dir_all(&examples).map_err(|e| io(&examples, e))?;
        for (name, text) in [
            ("request.xml", kind.request_example),
            ("response.xml", kind.response_example),
        ] {
            let path = examples.join(name);
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        }
    }
    write_envelopes(&dir.join("examples").join("envelopes"))?;
    Ok(Demo {
        smev_key: dir.join("SMEV/key.pem"),
        smev_cert: dir.join("SMEV/cert.pem"),
        dir,
        registry_toml,
    })
}

/// The SOAP 1.1 envelope namespace.
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// What stands in `SendResponse.xml`'s `To` until the `ReplyTo` of a received request replaces it.
pub const REPLY_TO_PLACEHOLDER: &str = "REPLACE-WITH-ReplyTo-OF-GetRequest";

/// The operations an envelope is written for, in round-trip order, and the `Id` each signs.
pub const ENVELOPE_OPERATIONS: [(&str, &str); 7] = [
    ("SendRequest", "SIGNED_BY_CONSUMER"),
    ("GetRequest", "SIGNED_BY_CALLER"),
    ("Ack", "SIGNED_BY_CALLER"),
    ("SendResponse", "SIGNED_BY_PROVIDER"),
    ("GetResponse", "SIGNED_BY_CALLER"),
    ("GetStatus", "SIGNED_BY_CALLER"),
    ("GetIncomingQueueStatistics", "SIGNED_BY_CALLER"),
];

/// A fresh version-1 MessageID.
fn fresh_message_id(now: time::OffsetDateTime) -> Result<String, DemoError> {
    let mut random = [0u8; 8];
    openssl::rand::rand_bytes(&mut random).map_err(|e| DemoError(e.to_string()))?;
    let mut node = [0u8; 6];
    node.copy_from_slice(&random[..6]);
    Ok(
        opensmev_types::MessageId::from_parts(
            now,
            u16::from_be_bytes([random[6], random[7]]),
            node,
        )
        .to_string(),
    )
}

/// The unsigned envelopes of one schema version: (operation, XML). `SendRequest` sends the first
/// demo kind's request example as MFC01 would; `Ack` acknowledges that request's MessageID (for
/// PFR01, after its `GetRequest`); `SendResponse` answers with the kind's response example once
/// [`REPLY_TO_PLACEHOLDER`] is replaced; `GetIncomingQueueStatistics` exists in 1.1 only.
pub fn envelopes(
    version: opensmev_types::SchemaVersion,
    now: time::OffsetDateTime,
) -> Result<Vec<(&'static str, String)>, DemoError> {
    let (t, b) = (version.types_ns(), version.basic_ns());
    let timestamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| DemoError(e.to_string()))?;
    let kind = &KINDS[0];
    let request_id = fresh_message_id(now)?;
    let response_id = fresh_message_id(now)?;
    let selector = |operation: &str| {
        format!(
            "<ns2:{operation}Request xmlns:ns2=\"{t}\"><MessageTypeSelector xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\"><Timestamp>{timestamp}</Timestamp></MessageTypeSelector></ns2:{operation}Request>"
        )
    };
    let mut bodies = vec![
        (
            "SendRequest",
            format!(
                "<ns2:SendRequestRequest xmlns:ns2=\"{t}\" xmlns=\"{b}\"><ns2:SenderProvidedRequestData Id=\"SIGNED_BY_CONSUMER\"><ns2:MessageID>{request_id}</ns2:MessageID><MessagePrimaryContent>{}</MessagePrimaryContent><ns2:TestMessage/></ns2:SenderProvidedRequestData></ns2:SendRequestRequest>",
                kind.request_example.trim()
            ),
        ),
        ("GetRequest", selector("GetRequest")),
        (
            "Ack",
            format!(
                "<ns2:AckRequest xmlns:ns2=\"{t}\"><AckTargetMessage xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\" accepted=\"true\">{request_id}</AckTargetMessage></ns2:AckRequest>"
            ),
        ),
        (
            "SendResponse",
            format!(
                "<ns2:SendResponseRequest xmlns:ns2=\"{t}\" xmlns=\"{b}\"><ns2:SenderProvidedResponseData Id=\"SIGNED_BY_PROVIDER\"><ns2:MessageID>{response_id}</ns2:MessageID><ns2:To>{REPLY_TO_PLACEHOLDER}</ns2:To><MessagePrimaryContent>{}</MessagePrimaryContent></ns2:SenderProvidedResponseData></ns2:SendResponseRequest>",
                kind.response_example.trim()
            ),
        ),
        ("GetResponse", selector("GetResponse")),
        (
            "GetStatus",
            format!(
                "<ns2:GetStatusRequest xmlns:ns2=\"{t}\"><Timestamp xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\">{timestamp}</Timestamp></ns2:GetStatusRequest>"
            ),
        ),
    ];
    if version == opensmev_types::SchemaVersion::V1_1 {
        bodies.push((
            "GetIncomingQueueStatistics",
            format!(
                "<ns2:GetIncomingQueueStatisticsRequest xmlns:ns2=\"{t}\"><Timestamp xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\">{timestamp}</Timestamp></ns2:GetIncomingQueueStatisticsRequest>"
            ),
        ));
    }
    Ok(bodies
        .into_iter()
        .map(|(operation, body)| {
            (
                operation,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Header/><soap:Body>{body}</soap:Body></soap:Envelope>\n"
                ),
            )
        })
        .collect())
}

const ENVELOPES_README: &str = "\
Готовые к подписи конверты SOAP каждой операции для каждой версии схем (1.1, 1.2, 1.3).
Они записываются заново при каждом запуске `opensmev serve --demo`: MessageID и Timestamp в них
свежие на момент запуска (Timestamp опросов годен timestamp_window_seconds, по умолчанию час;
каждый MessageID принимается один раз).

Кто подписывает (ключи — в ../../<ИС>/key.pem, cert.pem), какой Id:
  SendRequest.xml      MFC01   --id SIGNED_BY_CONSUMER
  GetRequest.xml       PFR01   --id SIGNED_BY_CALLER
  Ack.xml              PFR01   --id SIGNED_BY_CALLER  (подтверждает запрос из SendRequest.xml)
  SendResponse.xml     PFR01   --id SIGNED_BY_PROVIDER (сначала замените REPLACE-WITH-ReplyTo-OF-GetRequest
                               на ReplyTo из ответа GetRequest)
  GetResponse.xml      MFC01   --id SIGNED_BY_CALLER
  GetStatus.xml        MFC01   --id SIGNED_BY_CALLER
  GetIncomingQueueStatistics.xml (только 1.1)  любая ИС, --id SIGNED_BY_CALLER
Для Ack ответа возьмите MessageID из ответа GetResponse.

Пример:
  opensmev sig sign 1.2/SendRequest.xml --id SIGNED_BY_CONSUMER \\
      --key ../../MFC01/key.pem --cert ../../MFC01/cert.pem --out signed.xml
  curl -s -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: \"urn:SendRequest\"' \\
      --data-binary @signed.xml http://127.0.0.1:7500/smev/v1.2/ws
Проще — `opensmev client …` (подписывает, отправляет и проверяет ответ сам).

Ready-to-sign SOAP envelopes of every operation for every schema version, written anew at each
start of `opensmev serve --demo` (fresh MessageIDs and Timestamps; a poll's Timestamp is good for
timestamp_window_seconds, an hour by default; each MessageID is accepted once). The table above
says which demo IS signs which file and with which --id; in SendResponse.xml replace
REPLACE-WITH-ReplyTo-OF-GetRequest with the ReplyTo of the GetRequest answer first.
";

/// Writes `<dir>/<version>/<Operation>.xml` for every version, and `<dir>/README.txt`.
fn write_envelopes(dir: &Path) -> Result<(), DemoError> {
    let now = time::OffsetDateTime::now_utc();
    for version in opensmev_types::SchemaVersion::ALL {
        let version_dir = dir.join(version.as_str());
        std::fs::create_dir_all(&version_dir).map_err(|e| io(&version_dir, e))?;
        for (operation, xml) in envelopes(version, now)? {
            let path = version_dir.join(format!("{operation}.xml"));
            std::fs::write(&path, xml).map_err(|e| io(&path, e))?;
        }
    }
    let readme = dir.join("README.txt");
    std::fs::write(&readme, ENVELOPES_README).map_err(|e| io(&readme, e))
}

/// The passphrase of the demo key directory (demo mode only; a production bus takes its own
/// from `OPENSMEV_KEYS_PASSPHRASE` or `keys_passphrase_file`).
pub const DEMO_KEYS_PASSPHRASE: &str = "opensmev-demo";

/// Puts the demo systems' keys into the key store the bus signs with on their behalf (the
/// integration API), so the API works on the demo at once.
pub fn hold_keys(demo: &Demo, keys: &dyn opensmev_crypto::KeyStore) -> Result<(), DemoError> {
    for (mnemonic, _, _, _) in SYSTEMS {
        let dir = demo.dir.join(mnemonic);
        let key = std::fs::read(dir.join("key.pem")).map_err(|e| io(&dir.join("key.pem"), e))?;
        let cert = std::fs::read(dir.join("cert.pem")).map_err(|e| io(&dir.join("cert.pem"), e))?;
        let certificate = opensmev_crypto::Certificate::from_pem(&cert)
            .map_err(|e| DemoError(format!("{mnemonic}: {e}")))?;
        keys.put(mnemonic, &key, &certificate)
            .map_err(|e| DemoError(format!("holding the key of {mnemonic}: {e}")))?;
    }
    Ok(())
}

/// A demo API token: who it is for, and its secret.
#[derive(Debug, Clone)]
pub struct DemoToken {
    /// `admin`, `operator`, `auditor`, or an IS mnemonic (role `is`).
    pub holder: String,
    /// The token (`osmv_…`).
    pub secret: String,
}

/// The demo's random seed (`<data_dir>/demo/token-seed`), made at the first start.
fn seed(demo: &Demo) -> Result<Vec<u8>, DemoError> {
    let seed_path = demo.dir.join("token-seed");
    match std::fs::read(&seed_path) {
        Ok(seed) if seed.len() == 32 => Ok(seed),
        _ => {
            let seed = opensmev_crypto::random_bytes(32).map_err(|e| DemoError(e.to_string()))?;
            write_private(&seed_path, &seed)?;
            Ok(seed)
        }
    }
}

/// A demo account of the web cabinet: an operator of a demo information system.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    /// The login (the mnemonic in lower case).
    pub login: String,
    /// The information system.
    pub system: String,
    /// The password (derived from the demo's seed, like the tokens).
    pub password: String,
}

/// The demo accounts of the cabinet, one operator per demo information system, made when
/// missing; their passwords are derived from the demo's seed, so a restart prints the same.
pub async fn accounts(
    demo: &Demo,
    bus: &opensmev_core::Bus,
) -> Result<Vec<DemoAccount>, DemoError> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let seed = seed(demo)?;
    cabinets(bus).await?;
    let mut out = Vec::new();
    for (mnemonic, name, _, _) in SYSTEMS {
        let login = mnemonic.to_lowercase();
        let mut hasher = sha2::Sha256::new();
        hasher.update(&seed);
        hasher.update(b"password:");
        hasher.update(login.as_bytes());
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize());
        let password = format!("demo-{}", &digest[..12]);
        let system =
            opensmev_types::Mnemonic::parse(mnemonic).map_err(|e| DemoError(e.to_string()))?;
        let request = opensmev_core::auth::AccountRequest {
            login: login.clone(),
            name: format!("Оператор {name}"),
            role: opensmev_types::Role::Is,
            system: Some(system),
            password: Some(password.clone()),
        };
        match bus
            .create_account(opensmev_core::auth::SYSTEM_ACTOR, request)
            .await
        {
            Ok(_) => {}
            Err(opensmev_core::auth::AccessError::Exists(_)) => {}
            Err(e) => return Err(DemoError(format!("the demo account {login}: {e}"))),
        }
        out.push(DemoAccount {
            login,
            system: mnemonic.to_owned(),
            password,
        });
    }
    Ok(out)
}

/// The demo providers' cabinet settings: departments, assignment rules, deadlines and the
/// 2027 holidays of the Russian production calendar.
const DEMO_CABINETS: [(&str, &str); 2] = [
    (
        "PFR01",
        r#"# Демо: подразделения ПФР, правила назначения и сроки (docs/cabinet.md)
[[departments]]
id = "accounts"
name = "Отдел персонифицированного учёта"

[[departments]]
id = "pensions"
name = "Отдел назначения пенсий"

# СНИЛС, начинающиеся на 112, ведёт отдел персонифицированного учёта.
[[rules]]
vs_id = "VS00001v001-PFR001"
xpath = "//Snils"
starts_with = "112"
department = "accounts"

[[rules]]
vs_id = "VS00001v001-PFR001"
department = "pensions"

[[deadlines]]
vs_id = "VS00001v001-PFR001"
working_days = 5

[calendar]
holidays = ["2027-01-01", "2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08",
            "2027-02-23", "2027-03-08", "2027-05-03", "2027-05-10", "2027-06-14", "2027-11-04"]
workdays = []
"#,
    ),
    (
        "FNS01",
        r#"# Демо: подразделения ФНС (docs/cabinet.md)
[[departments]]
id = "egrul"
name = "Отдел ведения ЕГРЮЛ"

[[departments]]
id = "debt"
name = "Отдел урегулирования задолженности"

[[rules]]
vs_id = "VS00002v001-FNS001"
department = "egrul"

[[rules]]
vs_id = "VS00003v001-FNS002"
department = "debt"

[[deadlines]]
vs_id = "VS00002v001-FNS001"
hours = 4

[[deadlines]]
working_days = 3
"#,
    ),
];

/// Saves the demo providers' cabinet settings where a system has none.
pub async fn cabinets(bus: &opensmev_core::Bus) -> Result<(), DemoError> {
    for (system, text) in DEMO_CABINETS {
        let name = format!("cabinet/{system}");
        if bus
            .store()
            .settings(&name)
            .await
            .map_err(|e| DemoError(e.to_string()))?
            .is_some()
        {
            continue;
        }
        let audit = opensmev_store::NewAuditEntry {
            at: bus.now(),
            actor: opensmev_core::auth::SYSTEM_ACTOR.into(),
            action: "cabinet.settings".into(),
            target: system.into(),
            detail: "демо-настройки".into(),
        };
        match bus
            .store()
            .save_settings(&name, text.to_owned(), Some(0), bus.now(), audit)
            .await
        {
            Ok(_) | Err(opensmev_store::StoreError::VersionConflict { .. }) => {}
            Err(e) => return Err(DemoError(format!("the demo cabinet of {system}: {e}"))),
        }
    }
    Ok(())
}

/// The demo API tokens: derived from a random seed kept in `<data_dir>/demo/token-seed`, so a
/// restart of the same demo prints the same tokens; stored (hashed) when missing.
pub async fn tokens(demo: &Demo, bus: &opensmev_core::Bus) -> Result<Vec<DemoToken>, DemoError> {
    use base64::Engine as _;
    use opensmev_core::auth::TokenRequest;
    use opensmev_types::Role;
    use sha2::Digest as _;
    let seed = seed(demo)?;
    let mut holders: Vec<(String, Role, Option<opensmev_types::Mnemonic>)> = vec![
        ("admin".into(), Role::Admin, None),
        ("operator".into(), Role::Operator, None),
        ("auditor".into(), Role::Auditor, None),
    ];
    for (mnemonic, _, _, _) in SYSTEMS {
        let m = opensmev_types::Mnemonic::parse(mnemonic).map_err(|e| DemoError(e.to_string()))?;
        holders.push((mnemonic.to_owned(), Role::Is, Some(m)));
    }
    let mut out = Vec::new();
    for (holder, role, system) in holders {
        let mut hasher = sha2::Sha256::new();
        hasher.update(&seed);
        hasher.update(holder.as_bytes());
        let secret = format!(
            "{}{}",
            opensmev_core::auth::TOKEN_PREFIX,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize())
        );
        let request = TokenRequest {
            name: format!("демо: {holder}"),
            role,
            system,
            account: None,
            expires_at: None,
        };
        bus.install_token(opensmev_core::auth::SYSTEM_ACTOR, request, &secret)
            .await
            .map_err(|e| DemoError(format!("the demo token of {holder}: {e}")))?;
        out.push(DemoToken { holder, secret });
    }
    Ok(out)
}
