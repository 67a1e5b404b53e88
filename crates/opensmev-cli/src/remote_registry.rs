//! `opensmev registry participant|system|certificate|kind|grant|default-quota …`: the registry's
//! administration over the integration API of a running server, one change at a time, each
//! checked, audited and in force at once (`docs/registry.md`). Same options, output and exit
//! codes as the other commands over the API (`remote.rs`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::i18n::Lang;
use crate::remote::{Api, Outcome, Remote, Reply, done, encode, list, out, query, read, s};

/// Options of every change: the version it is based on.
#[derive(Debug, Args)]
pub(crate) struct Change {
    #[command(flatten)]
    remote: Remote,
    /// Refuse if the registry is no longer at this version.
    #[arg(long)]
    expect_version: Option<u64>,
}

impl Change {
    fn headers(&self) -> Vec<(&'static str, String)> {
        self.expect_version
            .map(|v| vec![("If-Match", format!("\"{v}\""))])
            .unwrap_or_default()
    }
}

/// `opensmev registry participant …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ParticipantCommand {
    /// The participants.
    List(ListArgs),
    /// Add a participant or change it.
    Put(ParticipantPut),
    /// Delete a participant that owns no system.
    Delete(DeleteArgs),
}

/// Listing.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

/// Deleting by id.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    #[command(flatten)]
    change: Change,
    /// Its id (OGRN, mnemonic, certificate SHA-256, grant id).
    id: String,
}

/// `participant put`.
#[derive(Debug, Args)]
pub(crate) struct ParticipantPut {
    #[command(flatten)]
    change: Change,
    /// OGRN.
    ogrn: String,
    /// Name.
    #[arg(long)]
    name: String,
    /// INN.
    #[arg(long)]
    inn: Option<String>,
}

/// `opensmev registry system …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SystemCommand {
    /// The information systems with their certificates.
    List(ListArgs),
    /// Create an information system or change it.
    Put(SystemPut),
    /// Delete a system nothing refers to.
    Delete(DeleteArgs),
    /// Set a system's queue quota (none: the registry's default).
    Quota(SystemQuota),
}

/// `system put`.
#[derive(Debug, Args)]
pub(crate) struct SystemPut {
    #[command(flatten)]
    change: Change,
    /// Mnemonic.
    mnemonic: String,
    /// Name.
    #[arg(long)]
    name: String,
    /// The owner's OGRN.
    #[arg(long)]
    owner: String,
    /// Signature policy: required or optional.
    #[arg(long)]
    signature: Option<String>,
    /// Its own queue quota.
    #[arg(long)]
    quota: Option<u64>,
    /// The accepted non-reference SMEV transform: reference, python-port, dotnet-crlf.
    #[arg(long)]
    transform_variant: Option<String>,
    /// A certificate file (PEM) of a new system; repeatable.
    #[arg(long = "certificate")]
    certificates: Vec<PathBuf>,
}

/// `system quota`.
#[derive(Debug, Args)]
pub(crate) struct SystemQuota {
    #[command(flatten)]
    change: Change,
    /// Mnemonic.
    mnemonic: String,
    /// Pending messages per queue; none: the registry's default.
    quota: Option<u64>,
}

/// `opensmev registry certificate …`.
#[derive(Debug, Subcommand)]
pub(crate) enum CertificateCommand {
    /// Add a certificate to a system.
    Add(CertificateAdd),
    /// Rotate a certificate: the new one now, the old one until --until.
    Rotate(CertificateRotate),
    /// Revoke a certificate at once.
    Revoke(DeleteArgs),
}

/// `certificate add`.
#[derive(Debug, Args)]
pub(crate) struct CertificateAdd {
    #[command(flatten)]
    change: Change,
    /// Mnemonic.
    mnemonic: String,
    /// The certificate file (PEM).
    file: PathBuf,
}

/// `certificate rotate`.
#[derive(Debug, Args)]
pub(crate) struct CertificateRotate {
    #[command(flatten)]
    change: Change,
    /// The old certificate: its SHA-256 or SHA-1 (hex).
    old: String,
    /// The new certificate file (PEM).
    file: PathBuf,
    /// Until when the old one is still accepted (RFC 3339).
    #[arg(long)]
    until: String,
}

/// `opensmev registry kind …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KindCommand {
    /// The kinds of information with their XSD sets.
    List(ListArgs),
    /// Create a kind or a new version of it, with its XSD set (--xsd or --zip).
    Put(KindPut),
    /// Change a kind's title, version, status, sunset date or successor.
    Patch(KindPatch),
}

/// `kind put`.
#[derive(Debug, Args)]
pub(crate) struct KindPut {
    #[command(flatten)]
    change: Change,
    /// The kind's id.
    id: String,
    /// An XSD file, or a folder whose .xsd files are sent with their paths in it; repeatable.
    #[arg(long = "xsd", conflicts_with = "zip")]
    xsd: Vec<PathBuf>,
    /// The XSD set as a ZIP archive, as agencies publish it.
    #[arg(long)]
    zip: Option<PathBuf>,
    /// Title.
    #[arg(long)]
    title: Option<String>,
    /// The provider's mnemonic.
    #[arg(long)]
    provider: Option<String>,
    /// The request root: {namespace}Local.
    #[arg(long)]
    request: Option<String>,
    /// A response root: {namespace}Local; repeatable.
    #[arg(long = "response")]
    responses: Vec<String>,
    /// The version.
    #[arg(long)]
    version: Option<String>,
    /// The XSD file (path in the set) declaring the request root.
    #[arg(long)]
    request_entry: Option<String>,
    /// The XSD file declaring the response roots.
    #[arg(long)]
    response_entry: Option<String>,
    /// active, deprecated or retired.
    #[arg(long)]
    status: Option<String>,
    /// Last day a deprecated kind takes requests (YYYY-MM-DD).
    #[arg(long)]
    sunset: Option<String>,
    /// The kind that replaces it.
    #[arg(long)]
    successor: Option<String>,
}

/// `kind patch`.
#[derive(Debug, Args)]
pub(crate) struct KindPatch {
    #[command(flatten)]
    change: Change,
    /// The kind's id.
    id: String,
    /// Title.
    #[arg(long)]
    title: Option<String>,
    /// The version.
    #[arg(long)]
    version: Option<String>,
    /// active, deprecated or retired.
    #[arg(long)]
    status: Option<String>,
    /// Last day a deprecated kind takes requests (YYYY-MM-DD).
    #[arg(long)]
    sunset: Option<String>,
    /// The kind that replaces it.
    #[arg(long)]
    successor: Option<String>,
}

/// `opensmev registry grant …`.
#[derive(Debug, Subcommand)]
pub(crate) enum GrantCommand {
    /// The grants.
    List(ListArgs),
    /// Grant a consumer a kind of information.
    Add(GrantAdd),
    /// Remove a grant.
    Remove(DeleteArgs),
}

/// `grant add`.
#[derive(Debug, Args)]
pub(crate) struct GrantAdd {
    #[command(flatten)]
    change: Change,
    /// The consumer's mnemonic.
    #[arg(long)]
    consumer: String,
    /// The kind's id.
    #[arg(long)]
    kind: String,
    /// The legal basis.
    #[arg(long)]
    basis: String,
    /// The reference to the document, article.
    #[arg(long)]
    basis_ref: Option<String>,
    /// First day in force (YYYY-MM-DD).
    #[arg(long)]
    valid_from: Option<String>,
    /// Last day in force (YYYY-MM-DD).
    #[arg(long)]
    valid_to: Option<String>,
}

/// `default-quota`.
#[derive(Debug, Args)]
pub(crate) struct DefaultQuota {
    #[command(flatten)]
    change: Change,
    /// Pending messages per queue.
    quota: u64,
}

fn changed(reply: &Reply, lang: Lang) -> anyhow::Result<()> {
    let v = reply.json()?;
    let saved = v.get("saved").and_then(Value::as_bool) == Some(true);
    out!(
        "{} {}{}",
        if saved {
            lang.pick(
                "Реестр изменён, версия",
                "The registry was changed, version",
            )
        } else {
            lang.pick(
                "Реестр уже таков, версия",
                "The registry already was so, version",
            )
        },
        s(&v, "version"),
        v.get("id")
            .and_then(Value::as_str)
            .map(|id| format!(" (id {id})"))
            .unwrap_or_default()
    );
    for ignored in v
        .get("ignored")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out!(
            "  {} {}",
            lang.pick("пропущено:", "left out:"),
            ignored.as_str().unwrap_or_default()
        );
    }
    Ok(())
}

fn send_change(
    change: &Change,
    lang: Lang,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(&change.remote, lang);
    let body = body.map(|v| ("application/json".to_owned(), v.to_string().into_bytes()));
    let outcome = api.call_owned(method, path, body, &change.headers())?;
    done(&change.remote, outcome, lang, |r| changed(r, lang))
}

fn pem(path: &Path, lang: Lang) -> anyhow::Result<String> {
    String::from_utf8(read(path, lang)?)
        .map_err(|_| anyhow!("{}: {}", path.display(), lang.pick("не PEM", "not PEM")))
}

/// `opensmev registry participant …`.
pub(crate) fn participant(command: ParticipantCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    match command {
        ParticipantCommand::List(args) => list(
            &args.remote,
            lang,
            "/registry/participants",
            &[
                lang.pick("ОГРН", "OGRN"),
                lang.pick("название", "name"),
                lang.pick("ИНН", "INN"),
                lang.pick("ИС", "systems"),
            ],
            |p| {
                vec![
                    s(p, "ogrn"),
                    s(p, "name"),
                    s(p, "inn"),
                    p.get("systems")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default(),
                ]
            },
        ),
        ParticipantCommand::Put(args) => send_change(
            &args.change,
            lang,
            reqwest::Method::PUT,
            &format!("/registry/participants/{}", encode(&args.ogrn)),
            Some(json!({"name": args.name, "inn": args.inn})),
        ),
        ParticipantCommand::Delete(args) => send_change(
            &args.change,
            lang,
            reqwest::Method::DELETE,
            &format!("/registry/participants/{}", encode(&args.id)),
            None,
        ),
    }
}

/// `opensmev registry system …`.
pub(crate) fn system(command: SystemCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    match command {
        SystemCommand::List(args) => list(
            &args.remote,
            lang,
            "/registry/systems",
            &[
                lang.pick("мнемоника", "mnemonic"),
                lang.pick("название", "name"),
                lang.pick("владелец", "owner"),
                lang.pick("подпись", "signature"),
                lang.pick("квота", "quota"),
                lang.pick("сертификаты", "certificates"),
            ],
            |sys| {
                let certificates = sys
                    .get("certificates")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|c| {
                                let sha1 = s(c, "sha1");
                                match c.get("retiring_until").and_then(Value::as_str) {
                                    Some(until) => format!("{sha1} (→ {until})"),
                                    None => sha1,
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                vec![
                    s(sys, "mnemonic"),
                    s(sys, "name"),
                    s(sys, "owner"),
                    s(sys, "signature"),
                    s(sys, "queue_quota"),
                    certificates,
                ]
            },
        ),
        SystemCommand::Put(args) => {
            let mut certificates = Vec::new();
            for path in &args.certificates {
                certificates.push(pem(path, lang)?);
            }
            let mut body =
                json!({"name": args.name, "owner": args.owner, "certificates": certificates});
            if let Some(v) = &args.signature {
                body["signature"] = json!(v);
            }
            if let Some(v) = args.quota {
                body["queue_quota"] = json!(v);
            }
            if let Some(v) = &args.transform_variant {
                body["transform_variant"] = json!(v);
            }
            send_change(
                &args.change,
                lang,
                reqwest::Method::PUT,
                &format!("/registry/systems/{}", encode(&args.mnemonic)),
                Some(body),
            )
        }
        SystemCommand::Delete(args) => send_change(
            &args.change,
            lang,
            reqwest::Method::DELETE,
            &format!("/registry/systems/{}", encode(&args.id)),
            None,
        ),
        SystemCommand::Quota(args) => send_change(
            &args.change,
            lang,
            reqwest::Method::PUT,
            &format!("/registry/systems/{}/quota", encode(&args.mnemonic)),
            Some(json!({ "queue_quota": args.quota })),
        ),
    }
}

/// `opensmev registry certificate …`.
pub(crate) fn certificate(command: CertificateCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    match command {
        CertificateCommand::Add(args) => send_change(
            &args.change,
            lang,
            reqwest::Method::POST,
            &format!("/registry/systems/{}/certificates", encode(&args.mnemonic)),
            Some(json!({ "certificate": pem(&args.file, lang)? })),
        ),
        CertificateCommand::Rotate(args) => send_change(
            &args.change,
            lang,
            reqwest::Method::POST,
            &format!("/registry/certificates/{}/rotation", encode(&args.old)),
            Some(json!({"certificate": pem(&args.file, lang)?, "until": args.until})),
        ),
        CertificateCommand::Revoke(args) => send_change(
            &args.change,
            lang,
            reqwest::Method::DELETE,
            &format!("/registry/certificates/{}", encode(&args.id)),
            None,
        ),
    }
}

/// The .xsd files of `--xsd` arguments: (path in the set, bytes).
fn xsd_files(paths: &[PathBuf], lang: Lang) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xsd"))
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for given in paths {
        if given.is_dir() {
            let mut found = Vec::new();
            walk(given, &mut found).with_context(|| given.display().to_string())?;
            if found.is_empty() {
                bail!(
                    "{} {}",
                    given.display(),
                    lang.pick("не содержит файлов .xsd", "holds no .xsd file")
                );
            }
            for path in found {
                let name = path
                    .strip_prefix(given)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push((name, read(&path, lang)?));
            }
        } else {
            let name = given
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| anyhow!("{}", given.display()))?;
            files.push((name, read(given, lang)?));
        }
    }
    Ok(files)
}

/// A `multipart/form-data` body of text fields and files.
fn form(fields: &[(&str, String)], files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = format!(
        "opensmev-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (path, bytes) in files {
        let path = path.replace('"', "%22");
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path}\"\r\nContent-Type: application/xml\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `opensmev registry kind …`.
pub(crate) fn kind(command: KindCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    match command {
        KindCommand::List(args) => list(
            &args.remote,
            lang,
            "/registry/kinds",
            &[
                "id",
                lang.pick("название", "title"),
                lang.pick("поставщик", "provider"),
                lang.pick("версия", "version"),
                lang.pick("состояние", "status"),
                lang.pick("файлов XSD", "XSD files"),
            ],
            |k| {
                vec![
                    s(k, "id"),
                    s(k, "title"),
                    s(k, "provider"),
                    s(k, "version"),
                    s(k, "status"),
                    k.get("files")
                        .and_then(Value::as_array)
                        .map(|a| a.len().to_string())
                        .unwrap_or_default(),
                ]
            },
        ),
        KindCommand::Put(args) => {
            let mut fields: Vec<(&str, String)> = Vec::new();
            let optional = [
                ("title", &args.title),
                ("provider", &args.provider),
                ("request", &args.request),
                ("version", &args.version),
                ("request_entry", &args.request_entry),
                ("response_entry", &args.response_entry),
                ("status", &args.status),
                ("sunset", &args.sunset),
                ("successor", &args.successor),
            ];
            for (name, value) in optional {
                if let Some(value) = value {
                    fields.push((name, value.clone()));
                }
            }
            if !args.responses.is_empty() {
                fields.push(("responses", args.responses.join(" ")));
            }
            let api = Api::new(&args.change.remote, lang);
            let path = format!("/registry/kinds/{}", encode(&args.id));
            let outcome: Outcome = match &args.zip {
                Some(zip) => {
                    let pairs: Vec<(&str, Option<String>)> =
                        fields.iter().map(|(k, v)| (*k, Some(v.clone()))).collect();
                    api.call_owned(
                        reqwest::Method::PUT,
                        &format!("{path}{}", query(&pairs)),
                        Some(("application/zip".to_owned(), read(zip, lang)?)),
                        &args.change.headers(),
                    )?
                }
                None => {
                    let files = xsd_files(&args.xsd, lang)?;
                    let (content_type, body) = form(&fields, &files);
                    api.call_owned(
                        reqwest::Method::PUT,
                        &path,
                        Some((content_type, body)),
                        &args.change.headers(),
                    )?
                }
            };
            done(&args.change.remote, outcome, lang, |r| changed(r, lang))
        }
        KindCommand::Patch(args) => {
            let mut body = json!({});
            let given = [
                ("title", &args.title),
                ("version", &args.version),
                ("status", &args.status),
                ("sunset", &args.sunset),
                ("successor", &args.successor),
            ];
            for (name, value) in given {
                if let Some(value) = value {
                    body[name] = json!(value);
                }
            }
            send_change(
                &args.change,
                lang,
                reqwest::Method::PATCH,
                &format!("/registry/kinds/{}", encode(&args.id)),
                Some(body),
            )
        }
    }
}

/// `opensmev registry grant …`.
pub(crate) fn grant(command: GrantCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    match command {
        GrantCommand::List(args) => list(
            &args.remote,
            lang,
            "/registry/grants",
            &[
                "id",
                lang.pick("потребитель", "consumer"),
                lang.pick("вид сведений", "kind"),
                lang.pick("с", "from"),
                lang.pick("по", "to"),
                lang.pick("действует", "in force"),
                lang.pick("основание", "basis"),
            ],
            |g| {
                vec![
                    s(g, "id"),
                    s(g, "consumer"),
                    s(g, "kind"),
                    s(g, "valid_from"),
                    s(g, "valid_to"),
                    s(g, "in_force"),
                    s(g, "basis"),
                ]
            },
        ),
        GrantCommand::Add(args) => send_change(
            &args.change,
            lang,
            reqwest::Method::POST,
            "/registry/grants",
            Some(json!({
                "consumer": args.consumer,
                "kind": args.kind,
                "basis": args.basis,
                "basis_ref": args.basis_ref,
                "valid_from": args.valid_from,
                "valid_to": args.valid_to,
            })),
        ),
        GrantCommand::Remove(args) => send_change(
            &args.change,
            lang,
            reqwest::Method::DELETE,
            &format!("/registry/grants/{}", encode(&args.id)),
            None,
        ),
    }
}

/// `opensmev registry default-quota`.
pub(crate) fn default_quota(args: DefaultQuota, lang: Lang) -> anyhow::Result<ExitCode> {
    send_change(
        &args.change,
        lang,
        reqwest::Method::PUT,
        "/registry/default-quota",
        Some(json!({ "queue_quota": args.quota })),
    )
}
