//! The command line over the integration API of a running server (`--url`, `--token` or
//! `OPENSMEV_URL`, `OPENSMEV_TOKEN`): an information system's work (`send`, `poll`, `ack`,
//! `respond`, `reject`, `status`), the journal (`messages search`, `messages show`), and
//! administration (`token`, `user`, `audit`, `kinds`, `registry pull`/`push`). Readable tables by
//! default, the API's JSON with `--json`.
//!
//! Exit codes: 0 done; 1 the API refused (its problem document is printed); 2 a usage, file or
//! transport error; 3 nothing to receive (`poll`, `status`: the queue is empty).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::i18n::Lang;

/// A line on standard output; a closed output is an error, not a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}
pub(crate) use out;

/// A line on standard error, best effort.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// The exit code of "nothing to receive".
const NOTHING: u8 = 3;

/// Where the API is and who calls it.
#[derive(Debug, Args)]
pub(crate) struct Remote {
    /// The server's address (its API is under /api/v1).
    #[arg(long, env = "OPENSMEV_URL", default_value = "http://127.0.0.1:7500")]
    url: String,
    /// The API token (osmv_…).
    #[arg(long, env = "OPENSMEV_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `opensmev send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    remote: Remote,
    /// The business content: a file with one XML element (the kind of information's root).
    #[arg(long)]
    content: PathBuf,
    /// Your own id for the message (unique per system).
    #[arg(long)]
    client_id: Option<String>,
    /// The MessageID (a version-1 UUID; default: the bus makes one).
    #[arg(long)]
    message_id: Option<String>,
    /// Mark the request as a test message.
    #[arg(long)]
    test_message: bool,
    /// NodeID of the sender (responses go only to polls naming it).
    #[arg(long)]
    node: Option<String>,
    /// TransactionCode.
    #[arg(long)]
    transaction_code: Option<String>,
    /// An attachment: ID:MIME-TYPE:FILE (repeatable).
    #[arg(long = "attach", value_name = "ID:MIME:FILE")]
    attachments: Vec<String>,
}

/// Which queue to receive from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Queue {
    /// Incoming requests (a provider).
    Requests,
    /// Responses to your requests (a consumer).
    Responses,
}

/// `opensmev poll`.
#[derive(Debug, Args)]
pub(crate) struct PollArgs {
    #[command(flatten)]
    remote: Remote,
    /// The queue.
    #[arg(value_enum)]
    queue: Queue,
    /// Wait up to this many seconds for a message (long poll).
    #[arg(long, default_value_t = 0)]
    wait: u64,
    /// Only this message type: {namespace}local.
    #[arg(long = "type")]
    message_type: Option<String>,
    /// Your NodeID.
    #[arg(long)]
    node: Option<String>,
    /// Write the business XML of the received message to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `opensmev ack`.
#[derive(Debug, Args)]
pub(crate) struct AckArgs {
    #[command(flatten)]
    remote: Remote,
    /// The MessageID of the received message.
    message_id: String,
    /// Refuse it instead (accepted=false).
    #[arg(long)]
    refuse: bool,
}

/// `opensmev respond`.
#[derive(Debug, Args)]
pub(crate) struct RespondArgs {
    #[command(flatten)]
    remote: Remote,
    /// The MessageID of the request answered.
    request_id: String,
    /// The business content of the response (a file).
    #[arg(long)]
    content: PathBuf,
    /// Your own id for the response.
    #[arg(long)]
    client_id: Option<String>,
}

/// `opensmev reject`.
#[derive(Debug, Args)]
pub(crate) struct RejectArgs {
    #[command(flatten)]
    remote: Remote,
    /// The MessageID of the request rejected.
    request_id: String,
    /// A reason CODE:TEXT (ACCESS_DENIED, NO_DATA, UNKNOWN_REQUEST_DESCRIPTION, FAILURE); repeatable.
    #[arg(long = "reason", required = true, value_name = "CODE:TEXT")]
    reasons: Vec<String>,
}

/// `opensmev status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    remote: Remote,
}

/// `opensmev messages …`.
#[derive(Debug, Subcommand)]
// Parsed once per run: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum MessagesCommand {
    /// Search the journal of messages (newest first).
    Search(SearchArgs),
    /// One message with its status timeline.
    Show(ShowArgs),
}

/// `opensmev messages search`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    remote: Remote,
    /// The system is the sender or the recipient.
    #[arg(long)]
    system: Option<String>,
    /// The sender.
    #[arg(long)]
    sender: Option<String>,
    /// The recipient.
    #[arg(long)]
    recipient: Option<String>,
    /// The kind of information id.
    #[arg(long)]
    vs: Option<String>,
    /// request or response.
    #[arg(long)]
    direction: Option<String>,
    /// Accepted at or after (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Accepted before (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// The interaction status.
    #[arg(long)]
    status: Option<String>,
    /// The delivery state (queued, leased, acked, expired, undeliverable).
    #[arg(long)]
    state: Option<String>,
    /// The sender's client id.
    #[arg(long)]
    client_id: Option<String>,
    /// Text in the business content.
    #[arg(long)]
    text: Option<String>,
    /// Page size (1–500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// The cursor of the next page (printed after a full page).
    #[arg(long)]
    cursor: Option<String>,
}

/// `opensmev messages show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    remote: Remote,
    /// The MessageID.
    message_id: String,
}

/// `opensmev token …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Every token (never the secrets).
    List(ListArgs),
    /// Make a token; its secret is printed once.
    Create(TokenCreateArgs),
    /// Revoke a token.
    Revoke(IdArgs),
}

/// Only the remote.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

/// An id.
#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    #[command(flatten)]
    remote: Remote,
    /// The id (tok_… for tokens, the login for users).
    id: String,
}

/// `opensmev token create`.
#[derive(Debug, Args)]
pub(crate) struct TokenCreateArgs {
    #[command(flatten)]
    remote: Remote,
    /// A label.
    #[arg(long)]
    name: String,
    /// admin, operator, auditor or is.
    #[arg(long)]
    role: String,
    /// For role is: the information system.
    #[arg(long)]
    system: Option<String>,
    /// The account it belongs to.
    #[arg(long)]
    account: Option<String>,
    /// Expiry (RFC 3339).
    #[arg(long)]
    expires: Option<String>,
}

/// `opensmev user …`.
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Every account.
    List(ListArgs),
    /// Make an account (a one-time password is made and printed unless --password-stdin).
    Create(UserCreateArgs),
    /// Disable an account (its tokens are refused too).
    Disable(IdArgs),
    /// Enable an account.
    Enable(IdArgs),
    /// Set a password (read from standard input).
    Password(IdArgs),
}

/// `opensmev user create`.
#[derive(Debug, Args)]
pub(crate) struct UserCreateArgs {
    #[command(flatten)]
    remote: Remote,
    /// The login.
    login: String,
    /// The person's name.
    #[arg(long)]
    name: String,
    /// admin, operator, auditor or is.
    #[arg(long)]
    role: String,
    /// For role is: the information system.
    #[arg(long)]
    system: Option<String>,
    /// Read the password from standard input (first line).
    #[arg(long)]
    password_stdin: bool,
}

/// `opensmev audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    remote: Remote,
    /// Only this actor.
    #[arg(long)]
    actor: Option<String>,
    /// Only actions starting with this (registry., token., account.).
    #[arg(long)]
    action: Option<String>,
    /// Page size (1–500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Show each entry's whole detail (the registry diffs).
    #[arg(long)]
    full: bool,
}

/// `opensmev kinds`.
#[derive(Debug, Args)]
pub(crate) struct KindsArgs {
    #[command(flatten)]
    remote: Remote,
}

/// `opensmev registry pull`.
#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    #[command(flatten)]
    remote: Remote,
    /// Write it to this file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `opensmev registry push`.
#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    #[command(flatten)]
    remote: Remote,
    /// The registry file (TOML).
    file: PathBuf,
    /// Refuse if the registry is no longer at this version (from `registry pull`).
    #[arg(long)]
    expect_version: Option<u64>,
}

/// An answer of the API.
pub(crate) struct Reply {
    status: u16,
    body: Vec<u8>,
    etag: Option<String>,
}

impl Reply {
    pub(crate) fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).context("the server's answer is not JSON")
    }
}

/// The outcome of a call: done, or refused with a problem.
pub(crate) enum Outcome {
    Done(Reply),
    Problem(Value, u16),
}

pub(crate) struct Api<'a> {
    remote: &'a Remote,
    lang: Lang,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

impl<'a> Api<'a> {
    pub(crate) fn new(remote: &'a Remote, lang: Lang) -> Api<'a> {
        Api { remote, lang }
    }

    pub(crate) fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, String)],
    ) -> anyhow::Result<Outcome> {
        self.call_owned(method, path, body.map(|(t, b)| (t.to_owned(), b)), headers)
    }

    /// [`Api::call`] with a content type made at run time.
    pub(crate) fn call_owned(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(String, Vec<u8>)>,
        headers: &[(&str, String)],
    ) -> anyhow::Result<Outcome> {
        let url = format!("{}/api/v1{path}", self.remote.url.trim_end_matches('/'));
        let token = self.remote.token.clone().ok_or_else(|| {
            anyhow!(
                "{}",
                self.lang.pick(
                    "нужен API-токен: --token или OPENSMEV_TOKEN",
                    "an API token is needed: --token or OPENSMEV_TOKEN"
                )
            )
        })?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()?;
        let mut request = client
            .request(method, &url)
            .header("Authorization", format!("Bearer {token}"));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("Content-Type", content_type).body(bytes);
        }
        let reply = runtime()?.block_on(async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let etag = response
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim_matches('"').to_owned());
            let body = response.bytes().await?.to_vec();
            anyhow::Ok(Reply { status, body, etag })
        });
        let reply = reply.with_context(|| {
            format!(
                "{} {url}",
                self.lang.pick("нет ответа от", "no answer from")
            )
        })?;
        if reply.status >= 400 {
            let problem = reply.json().unwrap_or_else(
                |_| json!({"status": reply.status, "detail": String::from_utf8_lossy(&reply.body)}),
            );
            return Ok(Outcome::Problem(problem, reply.status));
        }
        Ok(Outcome::Done(reply))
    }

    fn json_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Outcome> {
        let body = body.map(|v| ("application/json", v.to_string().into_bytes()));
        self.call(method, path, body, &[])
    }
}

/// Prints a problem document and gives exit code 1.
fn problem(remote: &Remote, lang: Lang, problem: &Value, status: u16) -> ExitCode {
    if remote.json {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), "{problem}");
        return ExitCode::from(1);
    }
    let text = |k: &str| problem.get(k).and_then(Value::as_str).unwrap_or("");
    err!(
        "{} {status} {}: {}",
        lang.pick("Отказ:", "Refused:"),
        text("code"),
        text("title")
    );
    if !text("detail").is_empty() {
        err!("  {}", text("detail"));
    }
    for e in problem
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let place = match (e.get("line"), e.get("column")) {
            (Some(l), Some(c)) => format!(
                " ({} {l}, {} {c})",
                lang.pick("строка", "line"),
                lang.pick("столбец", "column")
            ),
            _ => String::new(),
        };
        let field = e
            .get("field")
            .and_then(Value::as_str)
            .map(|f| format!("{f}: "))
            .unwrap_or_default();
        err!(
            "  - {field}{}{place}",
            e.get("message").and_then(Value::as_str).unwrap_or("")
        );
    }
    ExitCode::from(1)
}

/// A table: a header row and rows, columns padded to their widest cell.
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> std::io::Result<()> {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                format!("{c}{}", " ".repeat(pad))
            })
            .collect();
        out!("{}", padded.join("  ").trim_end());
        Ok(())
    };
    line(header.iter().map(|h| (*h).to_owned()).collect())?;
    for row in rows {
        line(row)?;
    }
    Ok(())
}

pub(crate) fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

/// Done: prints the JSON with --json, else runs `show`.
pub(crate) fn done(
    remote: &Remote,
    outcome: Outcome,
    lang: Lang,
    show: impl FnOnce(&Reply) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    match outcome {
        Outcome::Problem(p, status) => Ok(problem(remote, lang, &p, status)),
        Outcome::Done(reply) => {
            if remote.json {
                if reply.status == 204 {
                    out!("null");
                } else {
                    out!("{}", String::from_utf8_lossy(&reply.body));
                }
            } else {
                show(&reply)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn accepted(reply: &Reply, lang: Lang) -> anyhow::Result<()> {
    let v = reply.json()?;
    out!(
        "{} {} ({} {}, {} {}, {} {})",
        lang.pick("Принято:", "Accepted:"),
        s(&v, "message_id"),
        lang.pick("получатель", "recipient"),
        s(&v, "recipient"),
        lang.pick("вид сведений", "kind"),
        s(&v, "vs_id"),
        lang.pick("статус", "status"),
        s(&v, "status"),
    );
    Ok(())
}

pub(crate) fn read(path: &std::path::Path, lang: Lang) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "{} {}",
            lang.pick("не читается файл", "cannot read"),
            path.display()
        )
    })
}

pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encoding of a query value (RFC 3986 unreserved characters kept).
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `GET` of a JSON array shown as a table, a row per element.
pub(crate) fn list(
    remote: &Remote,
    lang: Lang,
    path: &str,
    header: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(remote, lang);
    let outcome = api.call(reqwest::Method::GET, path, None, &[])?;
    done(remote, outcome, lang, |r| {
        let v = r.json()?;
        table(
            header,
            v.as_array().into_iter().flatten().map(&row).collect(),
        )
        .map_err(Into::into)
    })
}

/// A paged list (`{"items": […], "next_cursor": …}`) as a table, then how to ask for the
/// next page.
pub(crate) fn page(
    remote: &Remote,
    lang: Lang,
    path: &str,
    header: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(remote, lang);
    let outcome = api.call(reqwest::Method::GET, path, None, &[])?;
    done(remote, outcome, lang, |r| {
        let v = r.json()?;
        let items = v.get("items").and_then(Value::as_array);
        table(header, items.into_iter().flatten().map(&row).collect())?;
        if let Some(cursor) = v.get("next_cursor").and_then(Value::as_str) {
            out!("{} --cursor {cursor}", lang.pick("Дальше:", "Next page:"));
        }
        Ok(())
    })
}

/// `opensmev send`.
pub(crate) fn send(args: SendArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let xml = String::from_utf8(read(&args.content, lang)?).map_err(|_| {
        anyhow!(
            "{}",
            lang.pick(
                "файл содержимого не в UTF-8",
                "the content file is not UTF-8"
            )
        )
    })?;
    let mut attachments = Vec::new();
    for spec in &args.attachments {
        let mut parts = spec.splitn(3, ':');
        let (Some(id), Some(mime), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
            bail!(
                "{} «{spec}»",
                lang.pick(
                    "--attach ждёт ID:MIME:ФАЙЛ, а не",
                    "--attach takes ID:MIME:FILE, not"
                )
            );
        };
        let data = read(&PathBuf::from(file), lang)?;
        attachments.push(json!({
            "id": id,
            "mime_type": mime,
            "data_base64": base64::engine::general_purpose::STANDARD.encode(data),
        }));
    }
    let mut body = json!({"business_xml": xml, "attachments": attachments});
    let fields = [
        ("client_id", args.client_id.clone()),
        ("message_id", args.message_id.clone()),
        ("node_id", args.node.clone()),
        ("transaction_code", args.transaction_code.clone()),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            body[k] = Value::String(v);
        }
    }
    if args.test_message {
        body["test_message"] = Value::Bool(true);
    }
    let outcome = api.json_call(reqwest::Method::POST, "/requests", Some(body))?;
    done(&args.remote, outcome, lang, |r| accepted(r, lang))
}

/// `opensmev poll`.
pub(crate) fn poll(args: PollArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let queue = match args.queue {
        Queue::Requests => "requests",
        Queue::Responses => "responses",
    };
    let path = format!(
        "/inbox/{queue}/next{}",
        query(&[
            ("wait", Some(args.wait.to_string())),
            ("type", args.message_type.clone()),
            ("node_id", args.node.clone()),
        ])
    );
    let outcome = api.call(reqwest::Method::POST, &path, None, &[])?;
    let Outcome::Done(reply) = outcome else {
        return done(&args.remote, outcome, lang, |_| Ok(()));
    };
    if reply.status == 204 {
        if args.remote.json {
            out!("null");
        } else {
            out!("{}", lang.pick("Сообщений нет.", "No message."));
        }
        return Ok(ExitCode::from(NOTHING));
    }
    let v = reply.json()?;
    if let Some(out) = &args.out {
        let content = match s(&v, "content_kind").as_str() {
            "business" => s(&v, "business_xml"),
            _ => serde_json::to_string_pretty(&v)?,
        };
        std::fs::write(out, content).with_context(|| out.display().to_string())?;
    }
    if args.remote.json {
        out!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "{} {}",
        lang.pick("Сообщение", "Message"),
        s(&v, "message_id")
    );
    table(
        &[lang.pick("поле", "field"), lang.pick("значение", "value")],
        [
            ("kind", "kind"),
            ("sender", "sender"),
            ("vs_id", "vs_id"),
            ("message_type", "message_type"),
            ("content", "content_kind"),
            ("original_message_id", "original_message_id"),
            ("attempt", "attempt"),
            ("lease_until", "lease_until"),
        ]
        .iter()
        .map(|(label, key)| vec![(*label).to_owned(), s(&v, key)])
        .collect(),
    )?;
    for sig in v
        .get("signatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let valid = sig.get("valid").and_then(Value::as_bool).unwrap_or(false);
        out!(
            "{} {}: {}{}",
            lang.pick("Подпись", "Signature"),
            s(sig, "role"),
            if valid {
                lang.pick("действительна", "valid")
            } else {
                lang.pick("НЕДЕЙСТВИТЕЛЬНА", "INVALID")
            },
            sig.get("certificate_subject")
                .and_then(Value::as_str)
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        );
    }
    match s(&v, "content_kind").as_str() {
        "business" if args.out.is_none() => out!("{}", s(&v, "business_xml")),
        "rejection" => {
            for r in v
                .get("rejections")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out!("  {}: {}", s(r, "code"), s(r, "description"));
            }
        }
        "status" => out!("{}", v.get("status").cloned().unwrap_or(Value::Null)),
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `opensmev ack`.
pub(crate) fn ack(args: AckArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let outcome = api.json_call(
        reqwest::Method::POST,
        &format!("/messages/{}/ack", encode(&args.message_id)),
        Some(json!({"accepted": !args.refuse})),
    )?;
    done(&args.remote, outcome, lang, |_| {
        out!(
            "{} {}",
            lang.pick("Подтверждено:", "Acknowledged:"),
            args.message_id
        );
        Ok(())
    })
}

/// `opensmev respond`.
pub(crate) fn respond(args: RespondArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let xml = String::from_utf8(read(&args.content, lang)?).map_err(|_| {
        anyhow!(
            "{}",
            lang.pick(
                "файл содержимого не в UTF-8",
                "the content file is not UTF-8"
            )
        )
    })?;
    let mut body = json!({"business_xml": xml});
    if let Some(id) = &args.client_id {
        body["client_id"] = Value::String(id.clone());
    }
    let outcome = api.json_call(
        reqwest::Method::POST,
        &format!("/requests/{}/response", encode(&args.request_id)),
        Some(body),
    )?;
    done(&args.remote, outcome, lang, |r| accepted(r, lang))
}

/// `opensmev reject`.
pub(crate) fn reject(args: RejectArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let mut reasons = Vec::new();
    for r in &args.reasons {
        let Some((code, text)) = r.split_once(':') else {
            bail!(
                "{} «{r}»",
                lang.pick(
                    "--reason ждёт КОД:ТЕКСТ, а не",
                    "--reason takes CODE:TEXT, not"
                )
            );
        };
        reasons.push(json!({"code": code, "description": text}));
    }
    let outcome = api.json_call(
        reqwest::Method::POST,
        &format!("/requests/{}/rejection", encode(&args.request_id)),
        Some(json!({ "reasons": reasons })),
    )?;
    done(&args.remote, outcome, lang, |r| accepted(r, lang))
}

/// `opensmev status`.
pub(crate) fn status(args: StatusArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let outcome = api.call(reqwest::Method::POST, "/statuses/next", None, &[])?;
    if let Outcome::Done(reply) = &outcome
        && reply.status == 204
    {
        if args.remote.json {
            out!("null");
        } else {
            out!("{}", lang.pick("Уведомлений нет.", "No notice."));
        }
        return Ok(ExitCode::from(NOTHING));
    }
    done(&args.remote, outcome, lang, |r| {
        let v = r.json()?;
        out!(
            "{} {}: {} {}",
            lang.pick("Сообщение", "Message"),
            s(&v, "message_id"),
            s(&v, "status"),
            v.get("details").and_then(Value::as_str).unwrap_or_default()
        );
        Ok(())
    })
}

/// `opensmev messages …`.
pub(crate) fn messages(command: MessagesCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    match command {
        MessagesCommand::Search(args) => {
            let path = format!(
                "/messages{}",
                query(&[
                    ("system", args.system.clone()),
                    ("sender", args.sender.clone()),
                    ("recipient", args.recipient.clone()),
                    ("vs_id", args.vs.clone()),
                    ("direction", args.direction.clone()),
                    ("from", args.from.clone()),
                    ("to", args.to.clone()),
                    ("status", args.status.clone()),
                    ("state", args.state.clone()),
                    ("client_id", args.client_id.clone()),
                    ("text", args.text.clone()),
                    ("limit", Some(args.limit.to_string())),
                    ("cursor", args.cursor.clone()),
                ])
            );
            page(
                &args.remote,
                lang,
                &path,
                &[
                    "MessageID",
                    lang.pick("вид", "kind"),
                    lang.pick("от", "from"),
                    lang.pick("кому", "to"),
                    lang.pick("ВС", "vs"),
                    lang.pick("принято", "accepted"),
                    lang.pick("доставка", "delivery"),
                    lang.pick("статус", "status"),
                ],
                |m| {
                    vec![
                        s(m, "message_id"),
                        s(m, "kind"),
                        s(m, "sender"),
                        s(m, "recipient"),
                        s(m, "vs_id"),
                        s(m, "sent_at"),
                        s(m, "state"),
                        s(m, "status"),
                    ]
                },
            )
        }
        MessagesCommand::Show(args) => {
            let api = Api::new(&args.remote, lang);
            let outcome = api.call(
                reqwest::Method::GET,
                &format!("/messages/{}", encode(&args.message_id)),
                None,
                &[],
            )?;
            done(&args.remote, outcome, lang, |r| {
                let v = r.json()?;
                out!(
                    "{} {} ({}) {} → {}, {} {}, {} {}, {} {}",
                    lang.pick("Сообщение", "Message"),
                    s(&v, "message_id"),
                    s(&v, "kind"),
                    s(&v, "sender"),
                    s(&v, "recipient"),
                    lang.pick("вид сведений", "kind"),
                    s(&v, "vs_id"),
                    lang.pick("доставка", "delivery"),
                    s(&v, "state"),
                    lang.pick("статус", "status"),
                    s(&v, "status"),
                );
                let events = v
                    .get("timeline")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                table(
                    &[
                        lang.pick("время", "time"),
                        lang.pick("событие", "event"),
                        lang.pick("кто", "actor"),
                        lang.pick("узел", "node"),
                        lang.pick("попытка", "attempt"),
                        lang.pick("подробности", "detail"),
                    ],
                    events
                        .iter()
                        .map(|e| {
                            vec![
                                s(e, "at"),
                                s(e, "event"),
                                s(e, "actor"),
                                s(e, "node"),
                                s(e, "attempt"),
                                s(e, "detail"),
                            ]
                        })
                        .collect(),
                )?;
                Ok(())
            })
        }
    }
}

/// `opensmev token …`.
pub(crate) fn token(command: TokenCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::List(args) => list(
            &args.remote,
            lang,
            "/tokens",
            &[
                "id",
                lang.pick("название", "name"),
                lang.pick("роль", "role"),
                lang.pick("ИС", "system"),
                lang.pick("создан", "created"),
                lang.pick("истекает", "expires"),
                lang.pick("отозван", "revoked"),
            ],
            |t| {
                vec![
                    s(t, "id"),
                    s(t, "name"),
                    s(t, "role"),
                    s(t, "system"),
                    s(t, "created_at"),
                    s(t, "expires_at"),
                    s(t, "revoked_at"),
                ]
            },
        ),
        TokenCommand::Create(args) => {
            let api = Api::new(&args.remote, lang);
            let body = json!({
                "name": args.name,
                "role": args.role,
                "system": args.system,
                "account": args.account,
                "expires_at": args.expires,
            });
            let outcome = api.json_call(reqwest::Method::POST, "/tokens", Some(body))?;
            done(&args.remote, outcome, lang, |r| {
                let v = r.json()?;
                out!(
                    "{} {} ({} {})",
                    lang.pick("Токен", "Token"),
                    s(&v, "id"),
                    lang.pick("роль", "role"),
                    s(&v, "role")
                );
                out!(
                    "{}",
                    lang.pick(
                        "Секрет (показан один раз, сохраните его сейчас):",
                        "Secret (shown this once; keep it now):"
                    )
                );
                out!("{}", s(&v, "secret"));
                Ok(())
            })
        }
        TokenCommand::Revoke(args) => {
            let api = Api::new(&args.remote, lang);
            let outcome = api.call(
                reqwest::Method::DELETE,
                &format!("/tokens/{}", encode(&args.id)),
                None,
                &[],
            )?;
            done(&args.remote, outcome, lang, |_| {
                out!("{} {}", lang.pick("Отозван:", "Revoked:"), args.id);
                Ok(())
            })
        }
    }
}

fn read_password(lang: Lang) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!(
            "{}",
            lang.pick(
                "пароль не прочитан со стандартного ввода",
                "no password on standard input"
            )
        );
    }
    Ok(password)
}

/// `opensmev user …`.
pub(crate) fn user(command: UserCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    let show_account = |r: &Reply| -> anyhow::Result<()> {
        let v = r.json()?;
        out!(
            "{} {} ({} {}{})",
            lang.pick("Учётная запись", "Account"),
            s(&v, "login"),
            lang.pick("роль", "role"),
            s(&v, "role"),
            if v.get("disabled").and_then(Value::as_bool) == Some(true) {
                lang.pick(", отключена", ", disabled")
            } else {
                ""
            }
        );
        if let Some(p) = v.get("one_time_password").and_then(Value::as_str) {
            out!(
                "{} {p}",
                lang.pick(
                    "Одноразовый пароль (показан один раз):",
                    "One-time password (shown this once):"
                )
            );
        }
        Ok(())
    };
    match command {
        UserCommand::List(args) => list(
            &args.remote,
            lang,
            "/accounts",
            &[
                lang.pick("логин", "login"),
                lang.pick("имя", "name"),
                lang.pick("роль", "role"),
                lang.pick("ИС", "system"),
                lang.pick("отключена", "disabled"),
                lang.pick("создана", "created"),
            ],
            |a| {
                vec![
                    s(a, "login"),
                    s(a, "name"),
                    s(a, "role"),
                    s(a, "system"),
                    s(a, "disabled"),
                    s(a, "created_at"),
                ]
            },
        ),
        UserCommand::Create(args) => {
            let api = Api::new(&args.remote, lang);
            let password = if args.password_stdin {
                Some(read_password(lang)?)
            } else {
                None
            };
            let body = json!({
                "login": args.login,
                "name": args.name,
                "role": args.role,
                "system": args.system,
                "password": password,
            });
            let outcome = api.json_call(reqwest::Method::POST, "/accounts", Some(body))?;
            done(&args.remote, outcome, lang, show_account)
        }
        UserCommand::Disable(args) => change(&args, json!({"disabled": true}), lang, show_account),
        UserCommand::Enable(args) => change(&args, json!({"disabled": false}), lang, show_account),
        UserCommand::Password(args) => {
            let password = read_password(lang)?;
            change(&args, json!({ "password": password }), lang, show_account)
        }
    }
}

fn change(
    args: &IdArgs,
    body: Value,
    lang: Lang,
    show: impl FnOnce(&Reply) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let outcome = api.json_call(
        reqwest::Method::PATCH,
        &format!("/accounts/{}", encode(&args.id)),
        Some(body),
    )?;
    done(&args.remote, outcome, lang, show)
}

/// `opensmev audit`.
pub(crate) fn audit(args: AuditArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let path = format!(
        "/audit{}",
        query(&[
            ("actor", args.actor.clone()),
            ("action", args.action.clone()),
            ("limit", Some(args.limit.to_string())),
        ])
    );
    let outcome = api.call(reqwest::Method::GET, &path, None, &[])?;
    done(&args.remote, outcome, lang, |r| {
        let v = r.json()?;
        let items = v
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if args.full {
            for e in &items {
                out!(
                    "#{} {} {} {} {}",
                    s(e, "seq"),
                    s(e, "at"),
                    s(e, "actor"),
                    s(e, "action"),
                    s(e, "target")
                );
                out!("{}", s(e, "detail"));
            }
            return Ok(());
        }
        table(
            &[
                "#",
                lang.pick("время", "time"),
                lang.pick("кто", "actor"),
                lang.pick("действие", "action"),
                lang.pick("объект", "target"),
                lang.pick("изменение", "change"),
            ],
            items
                .iter()
                .map(|e| {
                    let detail = s(e, "detail");
                    let first = detail.lines().next().unwrap_or("").to_owned();
                    let detail = if detail.lines().count() > 1 {
                        format!("{first} …")
                    } else {
                        first
                    };
                    vec![
                        s(e, "seq"),
                        s(e, "at"),
                        s(e, "actor"),
                        s(e, "action"),
                        s(e, "target"),
                        detail,
                    ]
                })
                .collect(),
        )?;
        Ok(())
    })
}

/// `opensmev kinds`.
pub(crate) fn kinds(args: KindsArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    list(
        &args.remote,
        lang,
        "/kinds",
        &[
            "id",
            lang.pick("название", "title"),
            lang.pick("поставщик", "provider"),
            lang.pick("состояние", "status"),
            lang.pick("доступ", "granted"),
        ],
        |k| {
            vec![
                s(k, "id"),
                s(k, "title"),
                s(k, "provider"),
                s(k, "status"),
                s(k, "granted"),
            ]
        },
    )
}

/// `opensmev registry pull`.
pub(crate) fn pull(args: PullArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let outcome = api.call(reqwest::Method::GET, "/registry", None, &[])?;
    match outcome {
        Outcome::Problem(p, status) => Ok(problem(&args.remote, lang, &p, status)),
        Outcome::Done(reply) => {
            match &args.out {
                Some(path) => {
                    std::fs::write(path, &reply.body)
                        .with_context(|| path.display().to_string())?;
                    err!(
                        "{} {} ({} {})",
                        lang.pick("Реестр записан в", "The registry was written to"),
                        path.display(),
                        lang.pick("версия", "version"),
                        reply.etag.as_deref().unwrap_or("?")
                    );
                }
                None => {
                    use std::io::Write as _;
                    std::io::stdout().write_all(&reply.body)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `opensmev registry push`.
pub(crate) fn push(args: PushArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let text = read(&args.file, lang)?;
    let headers: Vec<(&str, String)> = args
        .expect_version
        .map(|v| vec![("If-Match", format!("\"{v}\""))])
        .unwrap_or_default();
    let outcome = api.call(
        reqwest::Method::PUT,
        "/registry",
        Some(("application/toml", text)),
        &headers,
    )?;
    done(&args.remote, outcome, lang, |r| {
        let v = r.json()?;
        out!(
            "{} {}",
            lang.pick(
                "Реестр действует, версия",
                "The registry is in force, version"
            ),
            s(&v, "version")
        );
        Ok(())
    })
}
