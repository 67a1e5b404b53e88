//! The registry: participants, information systems (with their certificates), kinds of
//! information (ВС) with their XSDs, access grants, quotas.
//!
//! The registry lives in the store as a versioned TOML document (the same format as the import/
//! export file), is checked as a whole when loaded ([`Registry::from_toml`]), and is indexed for the
//! questions the bus asks on every message: which IS owns this certificate, which kind of
//! information has this root element, may this consumer ask for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use opensmev_crypto::Certificate;
use opensmev_schema::SchemaSet;
use opensmev_types::{Mnemonic, QName};
use opensmev_xmldsig::transform::TransformVariant;
use serde::{Deserialize, Serialize};

use crate::push::DELIVERY_KEY;
use sha2::Digest as _;
use time::{Date, OffsetDateTime};

/// Why a registry document is not acceptable.
#[derive(Debug, thiserror::Error)]
#[error("registry: {0}")]
pub struct RegistryError(pub String);

fn err(message: impl Into<String>) -> RegistryError {
    RegistryError(message.into())
}

/// Whether an IS must sign its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SignaturePolicy {
    /// Every call carries a valid ЭП-ОВ (the default, as in SMEV).
    #[default]
    Required,
    /// Unsigned calls are accepted (test systems only); the caller then names itself in the
    /// transport (HTTP header `X-OpenSMEV-Mnemonic`).
    Optional,
}

/// The life-cycle state of a kind of information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KindStatus {
    /// In service.
    #[default]
    Active,
    /// Still served; consumers should move to the successor before the sunset date.
    Deprecated,
    /// No longer accepted.
    Retired,
}

/// A participant (an organisation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// Organisation name.
    pub name: String,
    /// OGRN (the key participants are referred to by).
    pub ogrn: String,
    /// INN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inn: Option<String>,
}

/// An information system as written in the registry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemEntry {
    /// The mnemonic.
    pub mnemonic: String,
    /// Human-readable name.
    pub name: String,
    /// The owner's OGRN.
    pub owner: String,
    /// Signature policy.
    #[serde(default)]
    pub signature: SignaturePolicy,
    /// PEM certificates (several may be valid at once, for rotation).
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Queue quota for this IS (default: the registry-wide quota).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_quota: Option<u64>,
    // `transform_variant` (a string, optional) and `retiring_certificates` (an array of
    // tables) are also read from a `[[systems]]` entry: see [`SystemExtras`]. They are kept
    // apart from this struct (read and written by [`RegistryDocument`]) so that code building
    // entries field by field does not change.
}

/// The key of a `[[systems]]` entry that names the one non-reference SMEV transform
/// implementation accepted for that IS (see [`InformationSystem::transform_variant`]).
pub const TRANSFORM_VARIANT_KEY: &str = "transform_variant";

/// The key of a `[[systems]]` entry that lists certificates being replaced (see
/// [`RetiringCertificate`]).
pub const RETIRING_CERTIFICATES_KEY: &str = "retiring_certificates";
/// The key of a `[[kinds]]` entry that names the XSD file declaring the request root.
pub const REQUEST_ENTRY_KEY: &str = "request_entry";
/// The key of a `[[kinds]]` entry that names the XSD file declaring the response roots.
pub const RESPONSE_ENTRY_KEY: &str = "response_entry";
/// The key of a `[[kinds]]` entry that names the file of its set holding its print form (XSLT).
pub const PRINT_FORM_KEY: &str = "print_form";
/// The key of a `[[kinds]]` entry that lists its delegation rules (`[[kinds.delegate]]`).
pub const DELEGATE_KEY: &str = "delegate";
/// The key of a `[[kinds]]` entry that gives its priority (0–9).
pub const PRIORITY_KEY: &str = "priority";
/// The highest priority.
pub const MAX_PRIORITY: u8 = 9;

/// A certificate of an IS being replaced (rotation with an overlap window): it still identifies
/// the IS until `until`, and from that instant on it is refused as unregistered, with a reason
/// that says when it was retired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiringCertificate {
    /// The PEM certificate.
    pub pem: String,
    /// The end of the overlap, RFC 3339 (`2026-07-01T00:00:00Z`): accepted before it, refused
    /// from it on.
    pub until: String,
}

/// The keys of a `[[systems]]` entry kept apart from [`SystemEntry`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemExtras {
    /// `transform_variant`: see [`InformationSystem::transform_variant`] (`None` = the reference).
    pub transform_variant: Option<TransformVariant>,
    /// `retiring_certificates`: certificates accepted until a time.
    pub retiring_certificates: Vec<RetiringCertificate>,
    /// `delivery`: poll or push, and how to push (a table).
    pub delivery: Option<crate::push::DeliverySettings>,
}

/// The keys of a `[[kinds]]` entry kept apart from [`KindEntry`]: the entry points of its XSD
/// set (file names of `xsd`; absent: the first file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindExtras {
    /// The file that declares the request root.
    pub request_entry: Option<String>,
    /// The file that declares the response roots.
    pub response_entry: Option<String>,
    /// The file that holds the kind's print form (an XSLT stylesheet rendering its content).
    pub print_form: Option<String>,
    /// The priority (0–9, default 0) of its requests (and their answers) in the queues.
    pub priority: Option<u8>,
    /// Delegation: rules that hand its requests to another system instead of its provider.
    pub delegate: Vec<DelegationRule>,
}

/// A delegation rule of a kind (`[[kinds.delegate]]`): its requests — every one, or those whose
/// field `path` (an element path over the sender's data, as in the cabinet's rules: `//Region`)
/// equals `equals` — go to system `to` instead of the kind's provider; `to` answers them, and
/// the answers go back to the consumer as from any provider. The first rule that matches wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationRule {
    /// The system the requests go to (pushed or polled as its settings say).
    pub to: String,
    /// The field looked at (absent: every request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value it must have (trimmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
}

impl DelegationRule {
    /// Whether a request with the sender's data `sender_data` is delegated by this rule.
    pub fn matches(&self, sender_data: &str) -> bool {
        let (Some(path), Some(equals)) = (&self.path, &self.equals) else {
            return self.path.is_none();
        };
        crate::cases::Path::parse(path)
            .ok()
            .and_then(|p| p.value_in(sender_data))
            .is_some_and(|v| v == *equals)
    }
}

impl SystemExtras {
    fn is_empty(&self) -> bool {
        self.transform_variant.is_none()
            && self.retiring_certificates.is_empty()
            && self.delivery.is_none()
    }
}

impl KindExtras {
    fn is_empty(&self) -> bool {
        self.request_entry.is_none()
            && self.response_entry.is_none()
            && self.print_form.is_none()
            && self.priority.is_none()
            && self.delegate.is_empty()
    }
}

/// The whole registry document: the file's tables and the keys kept apart from their entry
/// structs, by system mnemonic and by kind id. What is read from and written to TOML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryDocument {
    /// The tables.
    pub file: RegistryFile,
    /// Extra keys of `[[systems]]` entries, by mnemonic (entries without any are absent).
    pub systems: BTreeMap<String, SystemExtras>,
    /// Extra keys of `[[kinds]]` entries, by kind id (entries without any are absent).
    pub kinds: BTreeMap<String, KindExtras>,
}

/// One XSD file of a kind of information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XsdFile {
    /// File name (imports refer to it).
    pub name: String,
    /// Content.
    pub text: String,
}

/// A kind of information (вид сведений) as written in the registry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindEntry {
    /// Id, e.g. `VS00179v002-PFR001`.
    pub id: String,
    /// Title.
    pub title: String,
    /// The provider IS mnemonic.
    pub provider: String,
    /// Request root element in Clark notation: `{namespace}LocalName`.
    pub request: String,
    /// Response root elements (Clark notation).
    pub responses: Vec<String>,
    /// Version of the kind.
    #[serde(default = "default_kind_version")]
    pub version: String,
    /// Status.
    #[serde(default)]
    pub status: KindStatus,
    /// Sunset date (for deprecated kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunset: Option<String>,
    /// Successor kind id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
    /// XSD files; the first one is the entry point unless `request_entry` / `response_entry`
    /// ([`KindExtras`]) name others.
    #[serde(default)]
    pub xsd: Vec<XsdFile>,
}

fn default_kind_version() -> String {
    "1.0.0".to_owned()
}

/// An access grant as written in the registry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantEntry {
    /// The consumer IS mnemonic.
    pub consumer: String,
    /// The kind of information id.
    pub kind: String,
    /// Legal basis (text).
    pub basis: String,
    /// Legal basis reference (document, article).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis_ref: Option<String>,
    /// First day of validity (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// Last day of validity (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
    /// The priority (0–9) of the consumer's requests of this kind, over the kind's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

/// The registry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    /// Default queue quota (messages pending per queue).
    #[serde(default = "default_quota")]
    pub default_queue_quota: u64,
    /// Participants.
    #[serde(default)]
    pub participants: Vec<Participant>,
    /// Information systems.
    #[serde(default)]
    pub systems: Vec<SystemEntry>,
    /// Kinds of information.
    #[serde(default)]
    pub kinds: Vec<KindEntry>,
    /// Access grants.
    #[serde(default)]
    pub grants: Vec<GrantEntry>,
}

fn default_quota() -> u64 {
    1000
}

/// An information system, resolved.
#[derive(Debug, Clone)]
pub struct InformationSystem {
    /// The mnemonic.
    pub mnemonic: Mnemonic,
    /// Human-readable name.
    pub name: String,
    /// The owner.
    pub owner: Participant,
    /// Signature policy.
    pub signature: SignaturePolicy,
    /// Certificates.
    pub certificates: Vec<Certificate>,
    /// Certificates being replaced, each accepted until its time (exclusive).
    pub retiring_certificates: Vec<(Certificate, OffsetDateTime)>,
    /// Queue quota.
    pub queue_quota: u64,
    /// Registry key `transform_variant` of the `[[systems]]` entry (a string; absent or
    /// `"reference"` = the default): the one known non-reference implementation of the SMEV
    /// transform whose digests the bus accepts in this IS's signatures (ЭП-ОВ), besides the
    /// reference. Known: `"python-port"` (the Python port of danbka/smev-transform, PyPI
    /// `smev-transform` 2.0.0: drops line breaks in text, writes `&` and `<` unescaped) and
    /// `"dotnet-crlf"` (GostCryptography's .NET `XmlDsigSmevTransform` on Windows: line breaks
    /// in text written as CR LF). Only that IS, only that variant; every such acceptance is
    /// logged at INFO. Without it a signature from such a signer is refused with a fault that
    /// names the variant.
    pub transform_variant: Option<TransformVariant>,
    /// Registry key `delivery` of the `[[systems]]` entry (a table): whether its messages are
    /// polled or pushed, and how they are pushed (see [`crate::push::DeliverySettings`]).
    pub delivery: Option<Arc<crate::push::DeliverySettings>>,
}

/// A kind of information, resolved.
#[derive(Debug, Clone)]
pub struct Kind {
    /// As written.
    pub entry: KindEntry,
    /// The provider.
    pub provider: Mnemonic,
    /// Request root.
    pub request: QName,
    /// Response roots.
    pub responses: Vec<QName>,
    /// Compiled-on-demand XSD set (None when the kind has no XSD: content is not validated); its
    /// entry points are the request's and the responses' files.
    pub schema: Option<SchemaSet>,
    /// The entry points and the print form's file as written (`request_entry`,
    /// `response_entry`, `print_form`).
    pub extras: KindExtras,
    /// The print form (XSLT), checked, when the kind has one.
    pub print_form: Option<opensmev_schema::PrintForm>,
    /// Sunset date.
    pub sunset: Option<Date>,
}

/// A grant, resolved.
#[derive(Debug, Clone)]
pub struct Grant {
    /// As written.
    pub entry: GrantEntry,
    /// First valid day.
    pub valid_from: Option<Date>,
    /// Last valid day.
    pub valid_to: Option<Date>,
}

impl Grant {
    /// Whether the grant is in force at `at`.
    pub fn in_force(&self, at: OffsetDateTime) -> bool {
        let day = at.date();
        self.valid_from.is_none_or(|from| day >= from) && self.valid_to.is_none_or(|to| day <= to)
    }
}

/// The checked, indexed registry.
#[derive(Debug, Clone)]
pub struct Registry {
    document: RegistryDocument,
    version: u64,
    systems: BTreeMap<Mnemonic, Arc<InformationSystem>>,
    by_certificate: HashMap<String, Mnemonic>,
    /// Retiring certificates: the IS and the end of the overlap.
    retiring: HashMap<String, (Mnemonic, OffsetDateTime)>,
    kinds: BTreeMap<String, Arc<Kind>>,
    by_request_root: HashMap<QName, String>,
    by_response_root: HashMap<QName, String>,
    grants: HashMap<(Mnemonic, String), Vec<Grant>>,
}

/// The SHA-256 fingerprint of a certificate (hex), the registry's certificate key.
pub fn certificate_key(cert: &Certificate) -> String {
    hex::encode(sha2::Sha256::digest(cert.der()))
}

/// Parses `{ns}local` (Clark notation).
pub fn parse_clark(text: &str) -> Option<QName> {
    let rest = text.strip_prefix('{')?;
    let (ns, local) = rest.split_once('}')?;
    (!local.is_empty() && !local.contains(['{', '}', ':'])).then(|| QName::new(ns, local))
}

/// Where a certificate stands in the registry at a given time.
#[derive(Debug, Clone, Copy)]
pub enum CertificateStanding<'a> {
    /// One of an IS's certificates.
    Current(&'a Arc<InformationSystem>),
    /// A retiring certificate whose overlap has not ended: still the IS's.
    Retiring(&'a Arc<InformationSystem>, OffsetDateTime),
    /// A retiring certificate whose overlap ended at that time: refused.
    Retired(&'a Arc<InformationSystem>, OffsetDateTime),
    /// Not in the registry.
    Unknown,
}

/// RFC 3339 text of a time (UTC as `Z`).
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

fn parse_time(text: &str, what: &str) -> Result<OffsetDateTime, RegistryError> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|e| {
        err(format!(
            "{what}: '{text}' is not an RFC 3339 date-time such as 2026-07-01T00:00:00Z ({e})"
        ))
    })
}

fn parse_date(text: &str, what: &str) -> Result<Date, RegistryError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format)
        .map_err(|e| err(format!("{what}: '{text}' is not a YYYY-MM-DD date ({e})")))
}

impl Registry {
    /// An empty registry (version 0).
    pub fn empty() -> Registry {
        Registry::build(
            RegistryFile {
                default_queue_quota: default_quota(),
                ..RegistryFile::default()
            },
            0,
        )
        .unwrap_or_else(|_| unreachable!("an empty registry is valid"))
    }

    /// Parses and checks a registry document.
    pub fn from_toml(text: &str, version: u64) -> Result<Registry, RegistryError> {
        Registry::build_document(RegistryDocument::from_toml(text)?, version)
    }

    /// Checks and indexes a registry.
    pub fn build(file: RegistryFile, version: u64) -> Result<Registry, RegistryError> {
        Registry::build_document(
            RegistryDocument {
                file,
                ..RegistryDocument::default()
            },
            version,
        )
    }

    /// Checks and indexes a registry whose systems accept the given non-reference transform
    /// implementations (by mnemonic; see [`InformationSystem::transform_variant`]).
    pub fn build_with_variants(
        file: RegistryFile,
        variants: &BTreeMap<String, TransformVariant>,
        version: u64,
    ) -> Result<Registry, RegistryError> {
        let systems = variants
            .iter()
            .map(|(m, v)| {
                (
                    m.clone(),
                    SystemExtras {
                        transform_variant: Some(*v),
                        ..SystemExtras::default()
                    },
                )
            })
            .collect();
        Registry::build_document(
            RegistryDocument {
                file,
                systems,
                kinds: BTreeMap::new(),
            },
            version,
        )
    }

    /// Checks and indexes a whole registry document.
    pub fn build_document(
        document: RegistryDocument,
        version: u64,
    ) -> Result<Registry, RegistryError> {
        let file = &document.file;
        if let Some(unknown) = document
            .systems
            .keys()
            .find(|m| !file.systems.iter().any(|s| &s.mnemonic == *m))
        {
            return Err(err(format!(
                "{TRANSFORM_VARIANT_KEY}, {RETIRING_CERTIFICATES_KEY} or {DELIVERY_KEY} is given \
                 for {unknown}, which is not a registered system"
            )));
        }
        if let Some(unknown) = document
            .kinds
            .keys()
            .find(|id| !file.kinds.iter().any(|k| &k.id == *id))
        {
            return Err(err(format!(
                "{REQUEST_ENTRY_KEY}, {RESPONSE_ENTRY_KEY} or {PRINT_FORM_KEY} is given for \
                 {unknown}, which is not a registered kind"
            )));
        }
        for (id, extras) in &document.kinds {
            for rule in &extras.delegate {
                if !file.systems.iter().any(|s| s.mnemonic == rule.to) {
                    return Err(err(format!(
                        "kind {id}: {DELEGATE_KEY} to {}, which is not a registered system",
                        rule.to
                    )));
                }
                if rule.path.is_some() != rule.equals.is_some() {
                    return Err(err(format!(
                        "kind {id}: a {DELEGATE_KEY} rule gives path and equals together, or \
                         neither (every request)"
                    )));
                }
                if let Some(path) = &rule.path {
                    crate::cases::Path::parse(path)
                        .map_err(|e| err(format!("kind {id}: {DELEGATE_KEY} path {e}")))?;
                }
            }
        }
        if let Some((id, _)) = document
            .kinds
            .iter()
            .find(|(_, e)| e.priority.is_some_and(|p| p > MAX_PRIORITY))
        {
            return Err(err(format!(
                "kind {id}: {PRIORITY_KEY} must be an integer from 0 to {MAX_PRIORITY}"
            )));
        }
        let participants: HashMap<&str, &Participant> = file
            .participants
            .iter()
            .map(|p| (p.ogrn.as_str(), p))
            .collect();
        if participants.len() != file.participants.len() {
            return Err(err("two participants have the same OGRN"));
        }
        let mut systems = BTreeMap::new();
        let mut by_certificate = HashMap::new();
        let mut retiring: HashMap<String, (Mnemonic, OffsetDateTime)> = HashMap::new();
        for entry in &file.systems {
            let mnemonic = Mnemonic::parse(&entry.mnemonic).map_err(|e| err(e.to_string()))?;
            let owner = participants.get(entry.owner.as_str()).ok_or_else(|| {
                err(format!(
                    "system {}: owner OGRN {} is not a participant",
                    entry.mnemonic, entry.owner
                ))
            })?;
            let mut certificates = Vec::new();
            for (i, pem) in entry.certificates.iter().enumerate() {
                let cert = Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                    err(format!(
                        "system {}: certificate {}: {e}",
                        entry.mnemonic,
                        i + 1
                    ))
                })?;
                if let Some(other) = by_certificate
                    .insert(certificate_key(&cert), mnemonic.clone())
                    .or_else(|| {
                        retiring
                            .get(&certificate_key(&cert))
                            .map(|(m, _)| m.clone())
                    })
                {
                    return Err(err(format!(
                        "the certificate {} is registered for both {other} and {mnemonic}",
                        cert.thumbprint_sha1()
                    )));
                }
                certificates.push(cert);
            }
            let extras = document.systems.get(&entry.mnemonic);
            let mut retiring_certificates = Vec::new();
            for (i, old) in extras
                .map_or(&[][..], |e| e.retiring_certificates.as_slice())
                .iter()
                .enumerate()
            {
                let what = format!("system {}: retiring certificate {}", entry.mnemonic, i + 1);
                let cert = Certificate::from_pem(old.pem.as_bytes())
                    .map_err(|e| err(format!("{what}: {e}")))?;
                let until = parse_time(&old.until, &format!("{what} until"))?;
                let key = certificate_key(&cert);
                if let Some(other) = by_certificate
                    .get(&key)
                    .or_else(|| retiring.get(&key).map(|(m, _)| m))
                {
                    return Err(err(format!(
                        "the certificate {} is registered for {other} and retiring for {mnemonic}",
                        cert.thumbprint_sha1()
                    )));
                }
                retiring.insert(key, (mnemonic.clone(), until));
                retiring_certificates.push((cert, until));
            }
            if entry.signature == SignaturePolicy::Required && certificates.is_empty() {
                return Err(err(format!(
                    "system {}: signatures are required but no certificate is registered",
                    entry.mnemonic
                )));
            }
            if let Some(delivery) = extras.and_then(|e| e.delivery.as_ref()) {
                delivery.check(&entry.mnemonic, |id| file.kinds.iter().any(|k| k.id == id))?;
            }
            let system = InformationSystem {
                mnemonic: mnemonic.clone(),
                name: entry.name.clone(),
                owner: (*owner).clone(),
                signature: entry.signature,
                certificates,
                retiring_certificates,
                queue_quota: entry.queue_quota.unwrap_or(file.default_queue_quota),
                transform_variant: extras.and_then(|e| e.transform_variant),
                delivery: extras.and_then(|e| e.delivery.clone()).map(Arc::new),
            };
            if systems.insert(mnemonic, Arc::new(system)).is_some() {
                return Err(err(format!(
                    "system {} is registered twice",
                    entry.mnemonic
                )));
            }
        }
        let mut kinds = BTreeMap::new();
        let mut by_request_root = HashMap::new();
        let mut by_response_root = HashMap::new();
        for entry in &file.kinds {
            let provider = Mnemonic::parse(&entry.provider).map_err(|e| err(e.to_string()))?;
            if !systems.contains_key(&provider) {
                return Err(err(format!(
                    "kind {}: provider {} is not a registered system",
                    entry.id, entry.provider
                )));
            }
            let request = parse_clark(&entry.request).ok_or_else(|| {
                err(format!(
                    "kind {}: request '{}' is not {{namespace}}Name",
                    entry.id, entry.request
                ))
            })?;
            let mut responses = Vec::new();
            for r in &entry.responses {
                responses.push(parse_clark(r).ok_or_else(|| {
                    err(format!(
                        "kind {}: response '{r}' is not {{namespace}}Name",
                        entry.id
                    ))
                })?);
            }
            if responses.is_empty() {
                return Err(err(format!("kind {}: no response root element", entry.id)));
            }
            let extras = document.kinds.get(&entry.id).cloned().unwrap_or_default();
            let schema = if entry.xsd.is_empty() {
                if !extras.is_empty() {
                    return Err(err(format!(
                        "kind {}: {REQUEST_ENTRY_KEY} / {RESPONSE_ENTRY_KEY} are given, but the \
                         kind has no XSD",
                        entry.id
                    )));
                }
                None
            } else {
                // The print form is a file of the set, but no schema.
                let is_schema = |f: &&XsdFile| extras.print_form.as_ref() != Some(&f.name);
                let files = entry
                    .xsd
                    .iter()
                    .filter(is_schema)
                    .map(|f| (f.name.clone(), f.text.clone()))
                    .collect();
                let first = entry
                    .xsd
                    .iter()
                    .find(is_schema)
                    .map(|f| f.name.as_str())
                    .ok_or_else(|| {
                        err(format!(
                            "kind {}: its only file is the print form",
                            entry.id
                        ))
                    })?;
                for (key, name) in [
                    (REQUEST_ENTRY_KEY, &extras.request_entry),
                    (RESPONSE_ENTRY_KEY, &extras.response_entry),
                    (PRINT_FORM_KEY, &extras.print_form),
                ] {
                    if let Some(name) = name
                        && !entry.xsd.iter().any(|f| &f.name == name)
                    {
                        return Err(err(format!(
                            "kind {}: {key} '{name}' is not one of its XSD files",
                            entry.id
                        )));
                    }
                }
                let request_entry = extras.request_entry.as_deref().unwrap_or(first);
                let response_entry = extras.response_entry.as_deref().unwrap_or(request_entry);
                Some(
                    SchemaSet::with_entries(files, &[request_entry, response_entry])
                        .map_err(|e| err(format!("kind {}: XSD: {e}", entry.id)))?,
                )
            };
            let print_form = extras
                .print_form
                .as_ref()
                .and_then(|name| entry.xsd.iter().find(|f| &f.name == name))
                .map(|f| {
                    opensmev_schema::PrintForm::new(f.text.clone()).map_err(|e| {
                        err(format!(
                            "kind {}: {PRINT_FORM_KEY} '{}': {e}",
                            entry.id, f.name
                        ))
                    })
                })
                .transpose()?;
            let sunset = entry
                .sunset
                .as_deref()
                .map(|s| parse_date(s, &format!("kind {} sunset", entry.id)))
                .transpose()?;
            if by_request_root
                .insert(request.clone(), entry.id.clone())
                .is_some()
            {
                return Err(err(format!(
                    "kind {}: request root {request} is used by another kind",
                    entry.id
                )));
            }
            for r in &responses {
                if by_request_root.contains_key(r) {
                    return Err(err(format!(
                        "kind {}: response root {r} is a request root elsewhere",
                        entry.id
                    )));
                }
                by_response_root
                    .entry(r.clone())
                    .or_insert_with(|| entry.id.clone());
            }
            let kind = Kind {
                entry: entry.clone(),
                provider,
                request,
                responses,
                schema,
                extras,
                print_form,
                sunset,
            };
            if kinds.insert(entry.id.clone(), Arc::new(kind)).is_some() {
                return Err(err(format!("kind {} is registered twice", entry.id)));
            }
        }
        for kind in kinds.values() {
            if let Some(successor) = &kind.entry.successor
                && !kinds.contains_key(successor)
            {
                return Err(err(format!(
                    "kind {}: successor {successor} is not registered",
                    kind.entry.id
                )));
            }
        }
        let mut grants: HashMap<(Mnemonic, String), Vec<Grant>> = HashMap::new();
        for entry in &file.grants {
            let consumer = Mnemonic::parse(&entry.consumer).map_err(|e| err(e.to_string()))?;
            if !systems.contains_key(&consumer) {
                return Err(err(format!(
                    "grant: consumer {} is not a registered system",
                    entry.consumer
                )));
            }
            if !kinds.contains_key(&entry.kind) {
                return Err(err(format!("grant: kind {} is not registered", entry.kind)));
            }
            if entry.priority.is_some_and(|p| p > MAX_PRIORITY) {
                return Err(err(format!(
                    "grant of {} to {}: priority must be from 0 to {MAX_PRIORITY}",
                    entry.kind, entry.consumer
                )));
            }
            let grant = Grant {
                entry: entry.clone(),
                valid_from: entry
                    .valid_from
                    .as_deref()
                    .map(|d| parse_date(d, "grant valid_from"))
                    .transpose()?,
                valid_to: entry
                    .valid_to
                    .as_deref()
                    .map(|d| parse_date(d, "grant valid_to"))
                    .transpose()?,
            };
            grants
                .entry((consumer, entry.kind.clone()))
                .or_default()
                .push(grant);
        }
        Ok(Registry {
            document,
            version,
            systems,
            by_certificate,
            retiring,
            kinds,
            by_request_root,
            by_response_root,
            grants,
        })
    }

    /// The document, as TOML.
    pub fn to_toml(&self) -> String {
        self.document.to_toml()
    }

    /// The file form.
    pub fn file(&self) -> &RegistryFile {
        &self.document.file
    }

    /// The whole document (the file and the keys kept apart from its entry structs).
    pub fn document(&self) -> &RegistryDocument {
        &self.document
    }

    /// The store version it was loaded from.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// An IS by mnemonic.
    pub fn system(&self, mnemonic: &Mnemonic) -> Option<&Arc<InformationSystem>> {
        self.systems.get(mnemonic)
    }

    /// All systems.
    pub fn systems(&self) -> impl Iterator<Item = &Arc<InformationSystem>> {
        self.systems.values()
    }

    /// Where a certificate, given by its DER bytes (not parsed), stands at `at`.
    pub fn certificate_standing_der(
        &self,
        der: &[u8],
        at: OffsetDateTime,
    ) -> CertificateStanding<'_> {
        self.standing(&hex::encode(sha2::Sha256::digest(der)), at)
    }

    fn standing(&self, key: &str, at: OffsetDateTime) -> CertificateStanding<'_> {
        if let Some(system) = self
            .by_certificate
            .get(key)
            .and_then(|m| self.systems.get(m))
        {
            return CertificateStanding::Current(system);
        }
        match self
            .retiring
            .get(key)
            .and_then(|(m, until)| Some((self.systems.get(m)?, *until)))
        {
            Some((system, until)) if at < until => CertificateStanding::Retiring(system, until),
            Some((system, until)) => CertificateStanding::Retired(system, until),
            None => CertificateStanding::Unknown,
        }
    }

    /// The IS a certificate, given by its DER bytes (not parsed), identifies at `at`: one of its
    /// certificates, or a retiring one before the end of its overlap.
    pub fn system_by_certificate_der_at(
        &self,
        der: &[u8],
        at: OffsetDateTime,
    ) -> Option<&Arc<InformationSystem>> {
        match self.certificate_standing_der(der, at) {
            CertificateStanding::Current(s) | CertificateStanding::Retiring(s, _) => Some(s),
            _ => None,
        }
    }

    /// The IS a certificate identifies at `at` (see [`Registry::system_by_certificate_der_at`]).
    pub fn system_by_certificate_at(
        &self,
        cert: &Certificate,
        at: OffsetDateTime,
    ) -> Option<&Arc<InformationSystem>> {
        self.system_by_certificate_der_at(cert.der(), at)
    }

    /// Why a certificate that identifies no IS at `at` is refused, when the registry knows more
    /// than "unregistered": it was retired (the overlap of a rotation ended).
    pub fn refusal_note_der(&self, der: &[u8], at: OffsetDateTime) -> Option<String> {
        match self.certificate_standing_der(der, at) {
            CertificateStanding::Retired(system, until) => Some(format!(
                "retired for {} at {}: it was replaced and its overlap ended",
                system.mnemonic,
                rfc3339(until)
            )),
            _ => None,
        }
    }

    /// The IS a certificate, given by its DER bytes (not parsed), is registered for (current
    /// certificates only; see [`Registry::system_by_certificate_der_at`] for retiring ones).
    pub fn system_by_certificate_der(&self, der: &[u8]) -> Option<&Arc<InformationSystem>> {
        self.by_certificate
            .get(&hex::encode(sha2::Sha256::digest(der)))
            .and_then(|m| self.systems.get(m))
    }

    /// The IS a certificate is registered for.
    pub fn system_by_certificate(&self, cert: &Certificate) -> Option<&Arc<InformationSystem>> {
        self.by_certificate
            .get(&certificate_key(cert))
            .and_then(|m| self.systems.get(m))
    }

    /// A kind by id.
    pub fn kind(&self, id: &str) -> Option<&Arc<Kind>> {
        self.kinds.get(id)
    }

    /// All kinds.
    pub fn kinds(&self) -> impl Iterator<Item = &Arc<Kind>> {
        self.kinds.values()
    }

    /// The kind whose request root this is.
    pub fn kind_by_request_root(&self, root: &QName) -> Option<&Arc<Kind>> {
        self.by_request_root
            .get(root)
            .and_then(|id| self.kinds.get(id))
    }

    /// The kind whose response root this is.
    pub fn kind_by_response_root(&self, root: &QName) -> Option<&Arc<Kind>> {
        self.by_response_root
            .get(root)
            .and_then(|id| self.kinds.get(id))
    }

    /// The grant in force for a consumer and a kind at `at`, if any.
    pub fn grant(&self, consumer: &Mnemonic, kind: &str, at: OffsetDateTime) -> Option<&Grant> {
        self.grants
            .get(&(consumer.clone(), kind.to_owned()))?
            .iter()
            .find(|g| g.in_force(at))
    }

    /// Every grant of a consumer for a kind, in force or not (for the reason of a refusal).
    pub fn grants_for(&self, consumer: &Mnemonic, kind: &str) -> &[Grant] {
        self.grants
            .get(&(consumer.clone(), kind.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// Kinds a consumer holds grants for (any time).
    pub fn consumed_kinds(&self, consumer: &Mnemonic) -> impl Iterator<Item = &Arc<Kind>> {
        self.kinds.values().filter(move |k| {
            self.grants
                .contains_key(&(consumer.clone(), k.entry.id.clone()))
        })
    }
}

const EXTRA_KEYS: [&str; 8] = [
    DELIVERY_KEY,
    DELEGATE_KEY,
    PRIORITY_KEY,
    TRANSFORM_VARIANT_KEY,
    RETIRING_CERTIFICATES_KEY,
    REQUEST_ENTRY_KEY,
    RESPONSE_ENTRY_KEY,
    PRINT_FORM_KEY,
];

impl RegistryDocument {
    /// Parses a registry document (TOML) without checking it as a whole (see
    /// [`Registry::build_document`]).
    pub fn from_toml(text: &str) -> Result<RegistryDocument, RegistryError> {
        if !EXTRA_KEYS.iter().any(|k| text.contains(k)) {
            let file: RegistryFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
            return Ok(RegistryDocument {
                file,
                ..RegistryDocument::default()
            });
        }
        // Take the extra keys out of the entries, then read the rest as usual.
        let mut table: toml::Table = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let systems = take_system_extras(&mut table)?;
        let kinds = take_kind_extras(&mut table)?;
        let file: RegistryFile = match toml::Value::Table(table).try_into() {
            Ok(file) => file,
            Err(e) => {
                // The text gives the same error with its position, unless it stops first at
                // a key taken out above.
                let positioned = toml::from_str::<RegistryFile>(text)
                    .err()
                    .map(|p| p.to_string())
                    .filter(|p| !EXTRA_KEYS.iter().any(|k| p.contains(k)));
                return Err(err(positioned.unwrap_or_else(|| e.to_string())));
            }
        };
        Ok(RegistryDocument {
            file,
            systems,
            kinds,
        })
    }

    /// The document as TOML (the extra keys written into their entries).
    pub fn to_toml(&self) -> String {
        let systems: BTreeMap<&String, &SystemExtras> =
            self.systems.iter().filter(|(_, e)| !e.is_empty()).collect();
        let kinds: BTreeMap<&String, &KindExtras> =
            self.kinds.iter().filter(|(_, e)| !e.is_empty()).collect();
        if systems.is_empty() && kinds.is_empty() {
            return toml::to_string_pretty(&self.file).unwrap_or_default();
        }
        let Ok(mut table) = toml::Table::try_from(&self.file) else {
            return toml::to_string_pretty(&self.file).unwrap_or_default();
        };
        for (key, name) in [("systems", "mnemonic"), ("kinds", "id")] {
            let Some(toml::Value::Array(entries)) = table.get_mut(key) else {
                continue;
            };
            for entry in entries.iter_mut() {
                let Some(entry) = entry.as_table_mut() else {
                    continue;
                };
                let Some(id) = entry
                    .get(name)
                    .and_then(toml::Value::as_str)
                    .map(str::to_owned)
                else {
                    continue;
                };
                if let Some(extras) = systems.get(&id).filter(|_| key == "systems") {
                    if let Some(variant) = extras.transform_variant {
                        entry.insert(
                            TRANSFORM_VARIANT_KEY.to_owned(),
                            toml::Value::String(variant.name().to_owned()),
                        );
                    }
                    if !extras.retiring_certificates.is_empty()
                        && let Ok(value) = toml::Value::try_from(&extras.retiring_certificates)
                    {
                        entry.insert(RETIRING_CERTIFICATES_KEY.to_owned(), value);
                    }
                    if let Some(delivery) = &extras.delivery
                        && let Ok(value) = toml::Value::try_from(delivery)
                    {
                        entry.insert(DELIVERY_KEY.to_owned(), value);
                    }
                }
                if let Some(extras) = kinds.get(&id).filter(|_| key == "kinds") {
                    for (k, v) in [
                        (REQUEST_ENTRY_KEY, &extras.request_entry),
                        (RESPONSE_ENTRY_KEY, &extras.response_entry),
                        (PRINT_FORM_KEY, &extras.print_form),
                    ] {
                        if let Some(v) = v {
                            entry.insert(k.to_owned(), toml::Value::String(v.clone()));
                        }
                    }
                    if let Some(priority) = extras.priority {
                        entry.insert(
                            PRIORITY_KEY.to_owned(),
                            toml::Value::Integer(i64::from(priority)),
                        );
                    }
                    if !extras.delegate.is_empty()
                        && let Ok(value) = toml::Value::try_from(&extras.delegate)
                    {
                        entry.insert(DELEGATE_KEY.to_owned(), value);
                    }
                }
            }
        }
        toml::to_string_pretty(&table).unwrap_or_default()
    }
}

/// The entries of array `key` of `table` as tables, with the value of their key `name` (or
/// `#n` when it has none).
fn entries_of<'a>(
    table: &'a mut toml::Table,
    key: &str,
    name: &str,
) -> Vec<(String, &'a mut toml::Table)> {
    let Some(toml::Value::Array(entries)) = table.get_mut(key) else {
        return Vec::new();
    };
    entries
        .iter_mut()
        .enumerate()
        .filter_map(|(i, entry)| {
            let entry = entry.as_table_mut()?;
            let id = entry
                .get(name)
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("#{}", i + 1));
            Some((id, entry))
        })
        .collect()
}

/// Removes `transform_variant` and `retiring_certificates` from every `[[systems]]` entry of
/// `table` and returns them by mnemonic (`"reference"` = no variant).
fn take_system_extras(
    table: &mut toml::Table,
) -> Result<BTreeMap<String, SystemExtras>, RegistryError> {
    let mut out = BTreeMap::new();
    for (mnemonic, entry) in entries_of(table, "systems", "mnemonic") {
        let mut extras = SystemExtras::default();
        if let Some(value) = entry.remove(TRANSFORM_VARIANT_KEY) {
            extras.transform_variant = transform_variant(&mnemonic, &value)?;
        }
        if let Some(value) = entry.remove(RETIRING_CERTIFICATES_KEY) {
            extras.retiring_certificates = value.try_into().map_err(|e| {
                err(format!(
                    "system {mnemonic}: {RETIRING_CERTIFICATES_KEY} must be an array of tables \
                     with pem and until ({e})"
                ))
            })?;
        }
        if let Some(value) = entry.remove(DELIVERY_KEY) {
            extras.delivery = Some(
                value
                    .try_into()
                    .map_err(|e| err(format!("system {mnemonic}: {DELIVERY_KEY}: {e}")))?,
            );
        }
        if !extras.is_empty() {
            out.insert(mnemonic, extras);
        }
    }
    Ok(out)
}

/// Removes `request_entry` and `response_entry` from every `[[kinds]]` entry of `table` and
/// returns them by kind id.
fn take_kind_extras(
    table: &mut toml::Table,
) -> Result<BTreeMap<String, KindExtras>, RegistryError> {
    let mut out = BTreeMap::new();
    for (id, entry) in entries_of(table, "kinds", "id") {
        let mut extras = KindExtras::default();
        for (key, slot) in [
            (REQUEST_ENTRY_KEY, &mut extras.request_entry),
            (RESPONSE_ENTRY_KEY, &mut extras.response_entry),
            (PRINT_FORM_KEY, &mut extras.print_form),
        ] {
            if let Some(value) = entry.remove(key) {
                let Some(name) = value.as_str() else {
                    return Err(err(format!(
                        "kind {id}: {key} must be a string (the name of one of its XSD files)"
                    )));
                };
                *slot = Some(name.to_owned());
            }
        }
        if let Some(value) = entry.remove(PRIORITY_KEY) {
            let priority = value
                .as_integer()
                .and_then(|p| u8::try_from(p).ok())
                .filter(|p| *p <= MAX_PRIORITY);
            let Some(priority) = priority else {
                return Err(err(format!(
                    "kind {id}: {PRIORITY_KEY} must be an integer from 0 to {MAX_PRIORITY}"
                )));
            };
            extras.priority = Some(priority);
        }
        if let Some(value) = entry.remove(DELEGATE_KEY) {
            extras.delegate = value.try_into().map_err(|e| {
                err(format!(
                    "kind {id}: {DELEGATE_KEY} must be an array of tables with to, and path and \
                     equals together ({e})"
                ))
            })?;
        }
        if !extras.is_empty() {
            out.insert(id, extras);
        }
    }
    Ok(out)
}

/// The value of a `transform_variant` key of system `mnemonic` (`"reference"` = none).
fn transform_variant(
    mnemonic: &str,
    value: &toml::Value,
) -> Result<Option<TransformVariant>, RegistryError> {
    let known = || {
        let mut names = vec!["reference"];
        names.extend(TransformVariant::ALL.iter().map(|v| v.name()));
        names.join(", ")
    };
    let Some(name) = value.as_str() else {
        return Err(err(format!(
            "system {mnemonic}: {TRANSFORM_VARIANT_KEY} must be a string (one of: {})",
            known()
        )));
    };
    if name == "reference" {
        return Ok(None);
    }
    TransformVariant::from_name(name).map(Some).ok_or_else(|| {
        err(format!(
            "system {mnemonic}: {TRANSFORM_VARIANT_KEY} '{name}' is not a known SMEV \
             transform implementation (one of: {})",
            known()
        ))
    })
}

#[cfg(test)]
mod tests;
