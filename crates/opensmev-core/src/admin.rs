//! Changing the registry as a person or token (the integration API, the cabinet): checked as a
//! whole, stored as a new version together with its audit entry (who, when, a readable diff),
//! and put in force at once.
//!
//! Two ways: [`Bus::change_registry`] replaces the whole document; the structured changes (one
//! function per change: participants, systems, certificates, kinds with their XSD sets, grants,
//! quotas) each check their input, build the new document from the one in the store, check it as
//! a whole and save it on the version it was built from — a concurrent change is never lost: the
//! change is built again on the newer version (or refused as a conflict when the caller named
//! the version it expected). A structured change writes the document in its canonical form
//! (comments of a hand-written file are not kept); its audit entry is a summary line and the
//! unified diff of the canonical forms before and after.

use std::io::Read as _;

use opensmev_crypto::Certificate;
use opensmev_schema::SchemaSet;
use opensmev_store::{NewAuditEntry, StoreError};
use opensmev_xmldsig::transform::TransformVariant;
use sha2::Digest as _;
use time::OffsetDateTime;

use crate::registry::{
    GrantEntry, KindExtras, KindStatus, Participant, Registry, RegistryDocument,
    RetiringCertificate, SignaturePolicy, SystemEntry, SystemExtras, XsdFile, certificate_key,
    parse_clark, rfc3339,
};
use crate::{Bus, BusError};

/// The longest diff kept in an audit entry, in characters (a larger one is cut, saying so).
const MAX_DIFF_CHARS: usize = 64 * 1024;

/// Why a registry change was not made.
#[derive(Debug, thiserror::Error)]
pub enum RegistryChangeError {
    /// The document does not check out (the registry's own message).
    #[error("the registry is refused: {0}")]
    Invalid(String),
    /// It was based on another version than the one in the store now.
    #[error("the registry is at version {current}, the change was based on version {expected}")]
    Conflict {
        /// The version the change was based on.
        expected: u64,
        /// The version now.
        current: u64,
    },
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// A unified diff of two registry texts.
pub fn registry_diff(old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header("до", "после")
        .to_string();
    let cut = opensmev_xmldsig::xml::cut_chars(&diff, MAX_DIFF_CHARS);
    cut.into_owned()
}

impl Bus {
    /// Replaces the registry with `text` (TOML, the import/export format) as `by`: checked as a
    /// whole, saved as a new version with an audit entry holding the diff, in force at once.
    /// `expected`: the version the change was based on (a concurrent change is a conflict);
    /// `None` to replace whatever is there. Returns the new version (the current one when
    /// nothing changed).
    pub async fn change_registry(
        &self,
        by: &str,
        text: &str,
        expected: Option<u64>,
    ) -> Result<u64, RegistryChangeError> {
        let checked =
            Registry::from_toml(text, 0).map_err(|e| RegistryChangeError::Invalid(e.0))?;
        // A document without a single information system would stop every exchange at once: an
        // empty or truncated upload, never meant.
        if checked.systems().next().is_none() {
            return Err(RegistryChangeError::Invalid(
                "the document names no information system ([[systems]]); a registry without any \
                 would refuse every call"
                    .to_owned(),
            ));
        }
        let current = self.store().registry().await.map_err(BusError::Store)?;
        let (old_text, current_version) = current
            .as_ref()
            .map(|d| (d.text.as_str(), d.version))
            .unwrap_or(("", 0));
        if let Some(expected) = expected
            && expected != current_version
        {
            return Err(RegistryChangeError::Conflict {
                expected,
                current: current_version,
            });
        }
        if old_text == text {
            return Ok(current_version);
        }
        let now = self.now();
        let audit = NewAuditEntry {
            at: now,
            actor: by.to_owned(),
            action: "registry.change".into(),
            target: "registry".into(),
            detail: registry_diff(old_text, text),
        };
        let base = current.as_ref().map(|d| d.version);
        let saved = match self
            .store()
            .save_registry(text.to_owned(), base, false, now, Some(audit))
            .await
        {
            Ok(doc) => doc,
            Err(StoreError::RegistryConflict { current }) => {
                return Err(RegistryChangeError::Conflict {
                    expected: current_version,
                    current,
                });
            }
            Err(e) => return Err(BusError::Store(e).into()),
        };
        self.reload_registry().await?;
        Ok(saved.version)
    }
}

// ------------------------------------------------------------------------------------------------
// Structured changes

/// At most this many files in a kind's XSD set (and entries in a ZIP of one).
pub const MAX_XSD_FILES: usize = 200;
/// At most this many bytes in a kind's XSD set, uncompressed (and in a ZIP of one).
pub const MAX_XSD_BYTES: u64 = 32 * 1024 * 1024;
/// How often a structured change is built again on a newer version before it gives up.
const ATTEMPTS: usize = 16;

/// Why a structured registry change was not made.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input or the registry it would make is not acceptable.
    #[error("{message}")]
    Invalid {
        /// The input field it concerns, when one does.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// What the change names is not in the registry.
    #[error("{0} is not in the registry")]
    NotFound(String),
    /// It cannot be removed: something refers to it.
    #[error("{0}")]
    InUse(String),
    /// It is in the registry already.
    #[error("{0} is in the registry already")]
    Exists(String),
    /// It was based on another version than the one in the store now.
    #[error("the registry is at version {current}, the change was based on version {expected}")]
    Conflict {
        /// The version the change was based on.
        expected: u64,
        /// The version now.
        current: u64,
    },
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
}

fn invalid(field: &str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field: Some(field.to_owned()),
        message: message.into(),
    }
}

/// A change made: the version in force after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// The registry version in force (the current one when nothing changed).
    pub version: u64,
    /// Whether a new version was saved.
    pub saved: bool,
}

/// An information system as a change gives it (`PUT` semantics: every attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemChange {
    /// The mnemonic.
    pub mnemonic: String,
    /// Human-readable name.
    pub name: String,
    /// The owner's OGRN.
    pub owner: String,
    /// Signature policy.
    pub signature: SignaturePolicy,
    /// The IS's own queue quota (`None`: the registry's default).
    pub queue_quota: Option<u64>,
    /// The non-reference SMEV transform accepted for it (`None`: the reference only).
    pub transform_variant: Option<TransformVariant>,
    /// PEM certificates of a new system (an existing one changes them through
    /// [`Bus::add_certificate`], [`Bus::rotate_certificate`], [`Bus::revoke_certificate`]).
    pub certificates: Vec<String>,
}

/// A kind of information created, or a new version of it: what is not given is kept from the
/// kind in the registry (a new kind needs `title`, `provider`, `request` and `responses`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindChange {
    /// The kind's id.
    pub id: String,
    /// Title.
    pub title: Option<String>,
    /// The provider's mnemonic.
    pub provider: Option<String>,
    /// The request root, `{namespace}Local`.
    pub request: Option<String>,
    /// The response roots.
    pub responses: Option<Vec<String>>,
    /// The version (text).
    pub version: Option<String>,
    /// The XSD set, named by relative paths; `None` keeps the kind's set.
    pub files: Option<Vec<XsdFile>>,
    /// The file declaring the request root (default: the first file).
    pub request_entry: Option<String>,
    /// The file declaring the response roots (default: the request's).
    pub response_entry: Option<String>,
    /// The file of the set that holds the kind's print form (XSLT); `None` keeps the kind's (or
    /// none, when the files change).
    pub print_form: Option<String>,
    /// Priority 0–9 of its requests; `None` keeps the kind's (`Some(None)` clears it).
    pub priority: Option<Option<u8>>,
    /// Its delegation rules; `None` keeps the kind's (`Some(vec![])` clears them).
    pub delegate: Option<Vec<crate::registry::DelegationRule>>,
    /// Status (a new kind: active).
    pub status: Option<KindStatus>,
    /// Sunset date `YYYY-MM-DD` (`Some(None)` clears it).
    pub sunset: Option<Option<String>>,
    /// Successor kind (`Some(None)` clears it).
    pub successor: Option<Option<String>>,
}

/// The files of a ZIP taken as an XSD set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipContents {
    /// The `.xsd` files, named by their paths in the archive.
    pub files: Vec<XsdFile>,
    /// The other entries, left out (examples, documents, folders).
    pub ignored: Vec<String>,
}

/// The id of a grant (for removing it): the first 16 hex digits of the SHA-256 of its fields.
pub fn grant_id(grant: &GrantEntry) -> String {
    let mut hasher = sha2::Sha256::new();
    for field in [
        Some(grant.consumer.as_str()),
        Some(grant.kind.as_str()),
        Some(grant.basis.as_str()),
        grant.basis_ref.as_deref(),
        grant.valid_from.as_deref(),
        grant.valid_to.as_deref(),
    ] {
        match field {
            Some(text) => {
                hasher.update([1]);
                hasher.update((text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
            None => hasher.update([0]),
        }
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Whether `id` names `cert`: its SHA-256 (the registry's key) or SHA-1 thumbprint, in hex.
fn names_certificate(cert: &Certificate, id: &str) -> bool {
    let id = id.trim().to_ascii_lowercase();
    certificate_key(cert) == id || cert.thumbprint_sha1().to_ascii_lowercase() == id
}

fn parse_certificate(field: &str, pem: &str) -> Result<Certificate, AdminError> {
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(invalid(
            field,
            "not a PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Certificate::from_pem(pem.as_bytes()).map_err(|e| invalid(field, e.to_string()))
}

/// Reads an XSD set from a ZIP archive: at most [`MAX_XSD_FILES`] entries and
/// [`MAX_XSD_BYTES`] uncompressed (counted as they are read, whatever the archive claims);
/// entries with absolute paths or `..` are refused; `\` is read as `/`; files not ending in
/// `.xsd` (examples, documents) and folders are left out and listed; stored or deflated entries
/// only.
///
/// # Errors
/// [`AdminError::Invalid`] (field `archive`) naming the problem.
pub fn xsd_files_from_zip(bytes: &[u8]) -> Result<ZipContents, AdminError> {
    let bad = |message: String| invalid("archive", message);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("not a ZIP archive: {e}")))?;
    if archive.len() > MAX_XSD_FILES {
        return Err(bad(format!(
            "{} entries: at most {MAX_XSD_FILES} are accepted",
            archive.len()
        )));
    }
    let mut files = Vec::new();
    let mut ignored = Vec::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("entry {}: {e}", i + 1)))?;
        let raw = entry
            .name()
            .map_err(|e| bad(format!("entry {}: its name cannot be read: {e}", i + 1)))?
            .replace('\\', "/");
        if raw.starts_with('/')
            || raw.split('/').any(|s| s == "..")
            || raw.as_bytes().get(1) == Some(&b':')
        {
            return Err(bad(format!(
                "entry '{raw}': absolute paths and '..' are not accepted"
            )));
        }
        let name = raw.trim_start_matches("./").to_owned();
        let is_xsd = name.to_ascii_lowercase().ends_with(".xsd");
        if entry.is_dir() || !is_xsd || name.starts_with("__MACOSX/") {
            if !entry.is_dir() {
                ignored.push(name);
            }
            continue;
        }
        let mut text = Vec::new();
        let read = entry
            .take(MAX_XSD_BYTES - total + 1)
            .read_to_end(&mut text)
            .map_err(|e| bad(format!("entry '{name}': {e}")))?;
        total += read as u64;
        if total > MAX_XSD_BYTES {
            return Err(bad(format!(
                "more than {MAX_XSD_BYTES} bytes uncompressed: at most {} MiB are accepted",
                MAX_XSD_BYTES / 1024 / 1024
            )));
        }
        let text = String::from_utf8(text)
            .map_err(|_| bad(format!("entry '{name}' is not UTF-8 text")))?;
        files.push(XsdFile { name, text });
    }
    Ok(ZipContents { files, ignored })
}

/// Checks an XSD set's size and compiles it with its entry points; both roots must be declared.
fn check_kind_schema(
    id: &str,
    files: &[XsdFile],
    extras: &KindExtras,
    request: &str,
    responses: &[String],
) -> Result<(), AdminError> {
    if files.len() > MAX_XSD_FILES {
        return Err(invalid(
            "files",
            format!(
                "{} files: at most {MAX_XSD_FILES} are accepted",
                files.len()
            ),
        ));
    }
    let total: u64 = files.iter().map(|f| f.text.len() as u64).sum();
    if total > MAX_XSD_BYTES {
        return Err(invalid(
            "files",
            format!("{total} bytes: at most {MAX_XSD_BYTES} are accepted"),
        ));
    }
    // The print form is a file of the set, but no schema.
    let is_schema = |f: &&XsdFile| extras.print_form.as_ref() != Some(&f.name);
    let Some(first) = files.iter().find(is_schema) else {
        return Ok(());
    };
    for (field, name) in [
        ("request_entry", &extras.request_entry),
        ("response_entry", &extras.response_entry),
        ("print_form", &extras.print_form),
    ] {
        if let Some(name) = name
            && !files.iter().any(|f| &f.name == name)
        {
            return Err(invalid(
                field,
                format!("'{name}' is not one of the files of the set"),
            ));
        }
    }
    let request_entry = extras.request_entry.as_deref().unwrap_or(&first.name);
    let response_entry = extras.response_entry.as_deref().unwrap_or(request_entry);
    let set = SchemaSet::with_entries(
        files
            .iter()
            .filter(is_schema)
            .map(|f| (f.name.clone(), f.text.clone()))
            .collect(),
        &[request_entry, response_entry],
    )
    .map_err(|e| invalid("files", format!("kind {id}: the XSD set is refused: {e}")))?;
    for (field, root) in std::iter::once(("request", request))
        .chain(responses.iter().map(|r| ("responses", r.as_str())))
    {
        let name = parse_clark(root)
            .ok_or_else(|| invalid(field, format!("'{root}' is not {{namespace}}Name")))?;
        if !set.declares_element(&name.ns, &name.local) {
            return Err(invalid(
                field,
                format!(
                    "kind {id}: the XSD set declares no global element {root} (entry points: \
                     '{request_entry}', '{response_entry}')"
                ),
            ));
        }
    }
    Ok(())
}

fn check_date(field: &str, text: &str) -> Result<(), AdminError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|_| ())
        .map_err(|e| invalid(field, format!("'{text}' is not a YYYY-MM-DD date ({e})")))
}

impl Bus {
    /// Builds a change on the registry in the store (`change` edits the document and returns a
    /// one-line summary for the audit log), checks the result as a whole, saves it on the version
    /// it was built from with an audit entry and puts it in force. A concurrent save makes it
    /// build the change again on the newer version, unless `expected` named the version.
    async fn apply_change<F>(
        &self,
        by: &str,
        expected: Option<u64>,
        action: &str,
        target: &str,
        mut change: F,
    ) -> Result<Changed, AdminError>
    where
        F: FnMut(&mut RegistryDocument, OffsetDateTime) -> Result<String, AdminError>,
    {
        let mut last = 0;
        for _ in 0..ATTEMPTS {
            let current = self.store().registry().await.map_err(BusError::Store)?;
            let version = current.as_ref().map_or(0, |d| d.version);
            if let Some(expected) = expected
                && expected != version
            {
                return Err(AdminError::Conflict {
                    expected,
                    current: version,
                });
            }
            let before = match &current {
                Some(doc) => {
                    RegistryDocument::from_toml(&doc.text).map_err(|e| AdminError::Invalid {
                        field: None,
                        message: format!("the registry in the store does not read: {e}"),
                    })?
                }
                None => Registry::empty().document().clone(),
            };
            let now = self.now();
            let mut after = before.clone();
            let summary = change(&mut after, now)?;
            if after == before {
                return Ok(Changed {
                    version,
                    saved: false,
                });
            }
            let text = after.to_toml();
            Registry::build_document(after, 0).map_err(|e| AdminError::Invalid {
                field: None,
                message: e.0,
            })?;
            let audit = NewAuditEntry {
                at: now,
                actor: by.to_owned(),
                action: action.to_owned(),
                target: target.to_owned(),
                detail: format!("{summary}\n{}", registry_diff(&before.to_toml(), &text)),
            };
            match self
                .store()
                .save_registry(
                    text,
                    current.as_ref().map(|d| d.version),
                    false,
                    now,
                    Some(audit),
                )
                .await
            {
                Ok(saved) => {
                    self.reload_registry().await?;
                    return Ok(Changed {
                        version: saved.version,
                        saved: true,
                    });
                }
                Err(StoreError::RegistryConflict { current }) => {
                    if let Some(expected) = expected {
                        return Err(AdminError::Conflict { expected, current });
                    }
                    last = current;
                    continue; // build it again on the newer version
                }
                Err(e) => return Err(BusError::Store(e).into()),
            }
        }
        Err(AdminError::Conflict {
            expected: last,
            current: last,
        })
    }

    /// Adds a participant or changes its name and INN (by OGRN).
    pub async fn put_participant(
        &self,
        by: &str,
        expected: Option<u64>,
        participant: Participant,
    ) -> Result<Changed, AdminError> {
        if participant.ogrn.trim().is_empty() {
            return Err(invalid("ogrn", "empty"));
        }
        if participant.name.trim().is_empty() {
            return Err(invalid("name", "empty"));
        }
        let target = format!("participant {}", participant.ogrn);
        self.apply_change(
            by,
            expected,
            "registry.participant.put",
            &target,
            |doc, _| {
                let participants = &mut doc.file.participants;
                Ok(
                    match participants.iter_mut().find(|p| p.ogrn == participant.ogrn) {
                        Some(p) => {
                            *p = participant.clone();
                            format!("participant {} changed", participant.ogrn)
                        }
                        None => {
                            participants.push(participant.clone());
                            format!(
                                "participant {} ({}) added",
                                participant.ogrn, participant.name
                            )
                        }
                    },
                )
            },
        )
        .await
    }

    /// Removes a participant that owns no system.
    pub async fn delete_participant(
        &self,
        by: &str,
        expected: Option<u64>,
        ogrn: &str,
    ) -> Result<Changed, AdminError> {
        let target = format!("participant {ogrn}");
        self.apply_change(
            by,
            expected,
            "registry.participant.delete",
            &target,
            |doc, _| {
                let file = &mut doc.file;
                let Some(at) = file.participants.iter().position(|p| p.ogrn == ogrn) else {
                    return Err(AdminError::NotFound(format!("participant {ogrn}")));
                };
                let owned: Vec<&str> = file
                    .systems
                    .iter()
                    .filter(|s| s.owner == ogrn)
                    .map(|s| s.mnemonic.as_str())
                    .collect();
                if !owned.is_empty() {
                    return Err(AdminError::InUse(format!(
                        "participant {ogrn} owns systems {}: remove or move them first",
                        owned.join(", ")
                    )));
                }
                file.participants.remove(at);
                Ok(format!("participant {ogrn} removed"))
            },
        )
        .await
    }

    /// Creates an information system or changes its name, owner, signature policy, queue quota
    /// and transform variant (its certificates are kept; a new one takes `certificates`).
    pub async fn put_system(
        &self,
        by: &str,
        expected: Option<u64>,
        change: SystemChange,
    ) -> Result<Changed, AdminError> {
        opensmev_types::Mnemonic::parse(&change.mnemonic)
            .map_err(|e| invalid("mnemonic", e.to_string()))?;
        if change.name.trim().is_empty() {
            return Err(invalid("name", "empty"));
        }
        for (i, pem) in change.certificates.iter().enumerate() {
            parse_certificate(&format!("certificates/{i}"), pem)?;
        }
        let target = format!("system {}", change.mnemonic);
        self.apply_change(by, expected, "registry.system.put", &target, |doc, _| {
            if !doc.file.participants.iter().any(|p| p.ogrn == change.owner) {
                return Err(invalid(
                    "owner",
                    format!("OGRN {} is not a participant", change.owner),
                ));
            }
            let existing = doc
                .file
                .systems
                .iter_mut()
                .find(|s| s.mnemonic == change.mnemonic);
            let summary = match existing {
                Some(entry) => {
                    if !change.certificates.is_empty() {
                        return Err(invalid(
                            "certificates",
                            "the system exists: add, rotate or revoke certificates through its \
                             certificate resources",
                        ));
                    }
                    entry.name = change.name.clone();
                    entry.owner = change.owner.clone();
                    entry.signature = change.signature;
                    entry.queue_quota = change.queue_quota;
                    format!("system {} changed", change.mnemonic)
                }
                None => {
                    doc.file.systems.push(SystemEntry {
                        mnemonic: change.mnemonic.clone(),
                        name: change.name.clone(),
                        owner: change.owner.clone(),
                        signature: change.signature,
                        certificates: change.certificates.clone(),
                        queue_quota: change.queue_quota,
                    });
                    format!("system {} added", change.mnemonic)
                }
            };
            let extras = doc.systems.entry(change.mnemonic.clone()).or_default();
            extras.transform_variant = change.transform_variant;
            tidy(doc);
            Ok(summary)
        })
        .await
    }

    /// Removes an information system that provides no kind and holds no grant.
    pub async fn delete_system(
        &self,
        by: &str,
        expected: Option<u64>,
        mnemonic: &str,
    ) -> Result<Changed, AdminError> {
        let target = format!("system {mnemonic}");
        self.apply_change(by, expected, "registry.system.delete", &target, |doc, _| {
            let file = &mut doc.file;
            let Some(at) = file.systems.iter().position(|s| s.mnemonic == mnemonic) else {
                return Err(AdminError::NotFound(format!("system {mnemonic}")));
            };
            let kinds: Vec<&str> = file
                .kinds
                .iter()
                .filter(|k| k.provider == mnemonic)
                .map(|k| k.id.as_str())
                .collect();
            if !kinds.is_empty() {
                return Err(AdminError::InUse(format!(
                    "system {mnemonic} provides kinds {}",
                    kinds.join(", ")
                )));
            }
            let grants = file
                .grants
                .iter()
                .filter(|g| g.consumer == mnemonic)
                .count();
            if grants > 0 {
                return Err(AdminError::InUse(format!(
                    "system {mnemonic} holds {grants} grant(s): remove them first"
                )));
            }
            file.systems.remove(at);
            doc.systems.remove(mnemonic);
            Ok(format!("system {mnemonic} removed"))
        })
        .await
    }

    /// Adds a certificate to an information system. Returns the change and the certificate's
    /// SHA-256 (its id).
    pub async fn add_certificate(
        &self,
        by: &str,
        expected: Option<u64>,
        mnemonic: &str,
        pem: &str,
    ) -> Result<(Changed, String), AdminError> {
        let cert = parse_certificate("certificate", pem)?;
        let id = certificate_key(&cert);
        let target = format!("system {mnemonic}");
        let changed = self
            .apply_change(
                by,
                expected,
                "registry.certificate.add",
                &target,
                |doc, _| {
                    let Some(entry) = doc.file.systems.iter_mut().find(|s| s.mnemonic == mnemonic)
                    else {
                        return Err(AdminError::NotFound(format!("system {mnemonic}")));
                    };
                    if entry.certificates.iter().any(|p| {
                        Certificate::from_pem(p.as_bytes()).is_ok_and(|c| certificate_key(&c) == id)
                    }) {
                        return Err(AdminError::Exists(format!(
                            "certificate {id} of system {mnemonic}"
                        )));
                    }
                    entry.certificates.push(pem.trim().to_owned() + "\n");
                    Ok(format!(
                        "system {mnemonic}: certificate {id} ({}) added",
                        cert.subject()
                    ))
                },
            )
            .await?;
        Ok((changed, id))
    }

    /// Rotates a certificate: the new one (`pem`) is added to the system that holds the one
    /// named by `old` (SHA-256 or SHA-1 in hex), and the old one moves to its retiring
    /// certificates, accepted until `until` (which must be later than now).
    pub async fn rotate_certificate(
        &self,
        by: &str,
        expected: Option<u64>,
        old: &str,
        pem: &str,
        until: OffsetDateTime,
    ) -> Result<(Changed, String), AdminError> {
        let cert = parse_certificate("certificate", pem)?;
        let id = certificate_key(&cert);
        if until <= self.now() {
            return Err(invalid(
                "until",
                format!(
                    "{} is not later than now ({}): revoke the certificate instead",
                    rfc3339(until),
                    rfc3339(self.now())
                ),
            ));
        }
        let target = format!("certificate {old}");
        let changed = self
            .apply_change(by, expected, "registry.certificate.rotate", &target, |doc, _| {
                let (mnemonic, at, old_cert) = find_certificate(doc, old)?;
                if certificate_key(&old_cert) == id {
                    return Err(invalid("certificate", "the new certificate is the old one"));
                }
                let entry = doc
                    .file
                    .systems
                    .iter_mut()
                    .find(|s| s.mnemonic == mnemonic)
                    .ok_or_else(|| AdminError::NotFound(format!("system {mnemonic}")))?;
                let old_pem = entry.certificates.remove(at);
                entry.certificates.push(pem.trim().to_owned() + "\n");
                doc.systems
                    .entry(mnemonic.clone())
                    .or_default()
                    .retiring_certificates
                    .push(RetiringCertificate {
                        pem: old_pem,
                        until: rfc3339(until),
                    });
                Ok(format!(
                    "system {mnemonic}: certificate {} rotated to {id} ({}); the old one is accepted until {}",
                    certificate_key(&old_cert),
                    cert.subject(),
                    rfc3339(until)
                ))
            })
            .await?;
        Ok((changed, id))
    }

    /// Revokes a certificate at once (a current or a retiring one, named by SHA-256 or SHA-1 in
    /// hex). A system whose signatures are required keeps at least one certificate.
    pub async fn revoke_certificate(
        &self,
        by: &str,
        expected: Option<u64>,
        id: &str,
    ) -> Result<Changed, AdminError> {
        let target = format!("certificate {id}");
        self.apply_change(by, expected, "registry.certificate.revoke", &target, |doc, _| {
            if let Ok((mnemonic, at, cert)) = find_certificate(doc, id) {
                let entry = doc
                    .file
                    .systems
                    .iter_mut()
                    .find(|s| s.mnemonic == mnemonic)
                    .ok_or_else(|| AdminError::NotFound(format!("system {mnemonic}")))?;
                if entry.certificates.len() == 1 && entry.signature == SignaturePolicy::Required {
                    return Err(AdminError::InUse(format!(
                        "certificate {} is the only one of system {mnemonic}, whose signatures \
                         are required: add its new certificate first (or delete the system)",
                        certificate_key(&cert)
                    )));
                }
                entry.certificates.remove(at);
                return Ok(format!(
                    "system {mnemonic}: certificate {} ({}) revoked",
                    certificate_key(&cert),
                    cert.subject()
                ));
            }
            for (mnemonic, extras) in doc.systems.iter_mut() {
                if let Some(at) = extras.retiring_certificates.iter().position(|r| {
                    Certificate::from_pem(r.pem.as_bytes()).is_ok_and(|c| names_certificate(&c, id))
                }) {
                    let removed = extras.retiring_certificates.remove(at);
                    let summary = format!(
                        "system {mnemonic}: retiring certificate {id} (accepted until {}) revoked",
                        removed.until
                    );
                    tidy(doc);
                    return Ok(summary);
                }
            }
            Err(AdminError::NotFound(format!("certificate {id}")))
        })
        .await
    }

    /// Creates a kind of information or makes a new version of it (see [`KindChange`]); its XSD
    /// set is compiled with its entry points and must declare the request and response roots.
    pub async fn put_kind(
        &self,
        by: &str,
        expected: Option<u64>,
        change: KindChange,
    ) -> Result<Changed, AdminError> {
        if change.id.trim().is_empty() {
            return Err(invalid("id", "empty"));
        }
        if let Some(Some(sunset)) = &change.sunset {
            check_date("sunset", sunset)?;
        }
        let target = format!("kind {}", change.id);
        // The set is compiled once per attempt, only when the files or roots change.
        self.apply_change(by, expected, "registry.kind.put", &target, |doc, _| {
            let existing = doc.file.kinds.iter().position(|k| k.id == change.id);
            let old_extras = doc.kinds.get(&change.id).cloned().unwrap_or_default();
            let mut entry = match existing {
                Some(at) => doc.file.kinds[at].clone(),
                None => crate::registry::KindEntry {
                    id: change.id.clone(),
                    title: change
                        .title
                        .clone()
                        .ok_or_else(|| invalid("title", "a new kind needs a title"))?,
                    provider: change
                        .provider
                        .clone()
                        .ok_or_else(|| invalid("provider", "a new kind needs a provider"))?,
                    request: change
                        .request
                        .clone()
                        .ok_or_else(|| invalid("request", "a new kind needs a request root"))?,
                    responses: change.responses.clone().ok_or_else(|| {
                        invalid("responses", "a new kind needs its response roots")
                    })?,
                    version: "1.0.0".into(),
                    status: KindStatus::Active,
                    sunset: None,
                    successor: None,
                    xsd: Vec::new(),
                },
            };
            if let Some(v) = &change.title {
                entry.title.clone_from(v);
            }
            if let Some(v) = &change.provider {
                entry.provider.clone_from(v);
            }
            if let Some(v) = &change.request {
                entry.request.clone_from(v);
            }
            if let Some(v) = &change.responses {
                entry.responses.clone_from(v);
            }
            if let Some(v) = &change.version {
                entry.version.clone_from(v);
            }
            if let Some(v) = change.status {
                entry.status = v;
            }
            if let Some(v) = &change.sunset {
                entry.sunset.clone_from(v);
            }
            if let Some(v) = &change.successor {
                entry.successor.clone_from(v);
            }
            let files_changed = change.files.is_some();
            if let Some(files) = &change.files {
                entry.xsd.clone_from(files);
            }
            let extras = if files_changed {
                KindExtras {
                    request_entry: change.request_entry.clone(),
                    response_entry: change.response_entry.clone(),
                    print_form: change.print_form.clone(),
                    priority: change.priority.unwrap_or(old_extras.priority),
                    delegate: change
                        .delegate
                        .clone()
                        .unwrap_or_else(|| old_extras.delegate.clone()),
                }
            } else {
                KindExtras {
                    request_entry: change
                        .request_entry
                        .clone()
                        .or(old_extras.request_entry.clone()),
                    response_entry: change
                        .response_entry
                        .clone()
                        .or(old_extras.response_entry.clone()),
                    print_form: change.print_form.clone().or(old_extras.print_form.clone()),
                    priority: change.priority.unwrap_or(old_extras.priority),
                    delegate: change
                        .delegate
                        .clone()
                        .unwrap_or_else(|| old_extras.delegate.clone()),
                }
            };
            if parse_clark(&entry.request).is_none() {
                return Err(invalid(
                    "request",
                    format!("'{}' is not {{namespace}}Name", entry.request),
                ));
            }
            if entry.responses.is_empty() {
                return Err(invalid("responses", "at least one response root is needed"));
            }
            let roots_changed = existing.is_none_or(|at| {
                let old = &doc.file.kinds[at];
                old.request != entry.request || old.responses != entry.responses
            });
            if files_changed || roots_changed || extras != old_extras {
                check_kind_schema(
                    &entry.id,
                    &entry.xsd,
                    &extras,
                    &entry.request,
                    &entry.responses,
                )?;
            }
            let summary = match existing {
                Some(at) => {
                    let old = &doc.file.kinds[at];
                    let mut what = vec![format!("kind {} changed", entry.id)];
                    if old.version != entry.version {
                        what.push(format!("version {} → {}", old.version, entry.version));
                    }
                    if files_changed {
                        what.push(format!("XSD set of {} file(s)", entry.xsd.len()));
                    }
                    doc.file.kinds[at] = entry;
                    what.join("; ")
                }
                None => {
                    let summary = format!(
                        "kind {} added (version {}, {} XSD file(s))",
                        entry.id,
                        entry.version,
                        entry.xsd.len()
                    );
                    doc.file.kinds.push(entry);
                    summary
                }
            };
            doc.kinds.insert(change.id.clone(), extras);
            tidy(doc);
            Ok(summary)
        })
        .await
    }

    /// Adds a grant (its fields are checked by the registry: the consumer and the kind must be
    /// registered, the dates `YYYY-MM-DD`). Returns the change and the grant's id.
    pub async fn add_grant(
        &self,
        by: &str,
        expected: Option<u64>,
        grant: GrantEntry,
    ) -> Result<(Changed, String), AdminError> {
        if grant.basis.trim().is_empty() {
            return Err(invalid("basis", "the legal basis is needed"));
        }
        for (field, date) in [
            ("valid_from", &grant.valid_from),
            ("valid_to", &grant.valid_to),
        ] {
            if let Some(date) = date {
                check_date(field, date)?;
            }
        }
        let id = grant_id(&grant);
        let target = format!("grant {id}");
        let changed = self
            .apply_change(by, expected, "registry.grant.add", &target, |doc, _| {
                if !doc
                    .file
                    .systems
                    .iter()
                    .any(|s| s.mnemonic == grant.consumer)
                {
                    return Err(invalid(
                        "consumer",
                        format!("{} is not a registered system", grant.consumer),
                    ));
                }
                if !doc.file.kinds.iter().any(|k| k.id == grant.kind) {
                    return Err(invalid(
                        "kind",
                        format!("{} is not a registered kind", grant.kind),
                    ));
                }
                if doc.file.grants.iter().any(|g| grant_id(g) == id) {
                    return Err(AdminError::Exists(format!("grant {id}")));
                }
                doc.file.grants.push(grant.clone());
                Ok(format!(
                    "grant {id}: {} may request {} ({}), {} – {}",
                    grant.consumer,
                    grant.kind,
                    grant.basis,
                    grant.valid_from.as_deref().unwrap_or("always"),
                    grant.valid_to.as_deref().unwrap_or("for ever")
                ))
            })
            .await?;
        Ok((changed, id))
    }

    /// Removes a grant by its id ([`grant_id`]).
    pub async fn remove_grant(
        &self,
        by: &str,
        expected: Option<u64>,
        id: &str,
    ) -> Result<Changed, AdminError> {
        let target = format!("grant {id}");
        self.apply_change(by, expected, "registry.grant.remove", &target, |doc, _| {
            let Some(at) = doc.file.grants.iter().position(|g| grant_id(g) == id) else {
                return Err(AdminError::NotFound(format!("grant {id}")));
            };
            let grant = doc.file.grants.remove(at);
            Ok(format!(
                "grant {id} removed: {} may no longer request {}",
                grant.consumer, grant.kind
            ))
        })
        .await
    }

    /// Sets the registry's default queue quota.
    pub async fn set_default_quota(
        &self,
        by: &str,
        expected: Option<u64>,
        quota: u64,
    ) -> Result<Changed, AdminError> {
        self.apply_change(
            by,
            expected,
            "registry.quota.default",
            "registry",
            |doc, _| {
                let old = doc.file.default_queue_quota;
                doc.file.default_queue_quota = quota;
                Ok(format!("default queue quota {old} → {quota}"))
            },
        )
        .await
    }

    /// Sets (or, with `None`, clears) a system's own queue quota.
    pub async fn set_system_quota(
        &self,
        by: &str,
        expected: Option<u64>,
        mnemonic: &str,
        quota: Option<u64>,
    ) -> Result<Changed, AdminError> {
        let target = format!("system {mnemonic}");
        self.apply_change(by, expected, "registry.quota.system", &target, |doc, _| {
            let Some(entry) = doc.file.systems.iter_mut().find(|s| s.mnemonic == mnemonic) else {
                return Err(AdminError::NotFound(format!("system {mnemonic}")));
            };
            entry.queue_quota = quota;
            Ok(format!(
                "system {mnemonic}: queue quota {}",
                quota.map_or_else(|| "the default".to_owned(), |q| q.to_string())
            ))
        })
        .await
    }
}

impl Bus {
    /// Sets (or, with `None`, removes: its messages are polled) a system's delivery settings
    /// (see [`crate::push::DeliverySettings`]); checked with the whole registry.
    pub async fn set_system_delivery(
        &self,
        by: &str,
        expected: Option<u64>,
        mnemonic: &str,
        delivery: Option<crate::push::DeliverySettings>,
    ) -> Result<Changed, AdminError> {
        let target = format!("system {mnemonic}");
        self.apply_change(by, expected, "registry.delivery", &target, |doc, _| {
            if !doc.file.systems.iter().any(|s| s.mnemonic == mnemonic) {
                return Err(AdminError::NotFound(format!("system {mnemonic}")));
            }
            let summary = match &delivery {
                Some(d) if d.pushes_anything() => format!(
                    "system {mnemonic}: push to {} ({:?}, {} channel(s), up to {} attempts)",
                    crate::push::shown(d.endpoint.as_deref().unwrap_or("-")),
                    d.format,
                    d.channels,
                    d.max_attempts
                ),
                Some(_) => format!("system {mnemonic}: delivery settings, every kind polled"),
                None => format!("system {mnemonic}: polled (no delivery settings)"),
            };
            doc.systems.entry(mnemonic.to_owned()).or_default().delivery = delivery.clone();
            Ok(summary)
        })
        .await
    }
}

/// The system, index in its `certificates` and the certificate named by `id`.
fn find_certificate(
    doc: &RegistryDocument,
    id: &str,
) -> Result<(String, usize, Certificate), AdminError> {
    for system in &doc.file.systems {
        for (at, pem) in system.certificates.iter().enumerate() {
            if let Ok(cert) = Certificate::from_pem(pem.as_bytes())
                && names_certificate(&cert, id)
            {
                return Ok((system.mnemonic.clone(), at, cert));
            }
        }
    }
    Err(AdminError::NotFound(format!("certificate {id}")))
}

/// Drops empty extras (so that a document without them writes no extra keys).
fn tidy(doc: &mut RegistryDocument) {
    doc.systems.retain(|_, e| *e != SystemExtras::default());
    doc.kinds.retain(|_, e| *e != KindExtras::default());
}
