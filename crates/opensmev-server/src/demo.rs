//! Demo mode: a ready registry of three kinds of information and three information systems with
//! generated GOST test keys, written into the data directory so anyone can try the bus with their
//! own SMEV client.
//!
//! Layout under `<data_dir>/demo/`: `<MNEMONIC>/key.pem` + `cert.pem` for each demo IS, `SMEV/`
//! for the bus's own key, `registry.toml` (the registry export), and
//! `examples/<VS id>/request.xml` + `response.xml`. Existing files are reused, so keys stay the
//! same across restarts.

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
            xsd: vec![XsdFile {
                name: k.xsd_name.to_owned(),
                text: k.xsd.to_owned(),
            }],
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
    let registry_toml = toml::to_string_pretty(&file).map_err(|e| DemoError(e.to_string()))?;
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
    Ok(Demo {
        smev_key: dir.join("SMEV/key.pem"),
        smev_cert: dir.join("SMEV/cert.pem"),
        dir,
        registry_toml,
    })
}
