//! `opensmev client …`: one SMEV 3 call made as a given information system — signed with its key
//! (ЭП-ОВ), posted, and its answer checked (official XSD, the bus's signature) with
//! `opensmev-client` — then the answer's essentials printed and, with `--out`, the whole answer
//! written to a file.
//!
//! Exit codes: 0 an answer, 1 an SMEV fault, 2 a usage, file, transport or check error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use opensmev_client::{Answer, Call, CallError, REJECT_CODES, RequestParts, SOAP_NS, SmevClient};
use opensmev_types::{MessageId, SchemaVersion};
use opensmev_xmldsig::xml::{Document, Element, Limits, escape_text};

use crate::i18n::Lang;

/// The operations.
#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// SendRequest: send a request (business content from --content).
    SendRequest(SendRequestArgs),
    /// GetRequest: take the next request from the caller's queue.
    GetRequest(PollArgs),
    /// Ack: acknowledge a received message (--message-id or --answer).
    Ack(AckArgs),
    /// SendResponse: answer a request (business content from --content, --to or --answer).
    SendResponse(SendResponseArgs),
    /// SendResponse with RequestRejected: refuse a request (--reason CODE:TEXT).
    Reject(RejectArgs),
    /// GetResponse: take the next response from the caller's queue.
    GetResponse(PollArgs),
    /// GetStatus: the next status notice of the caller's messages.
    GetStatus(StatusArgs),
    /// GetIncomingQueueStatistics (schema 1.1 only): the caller's pending messages per queue.
    QueueStatistics(StatisticsArgs),
}

/// Where to call, as whom, where to write the answer.
#[derive(Debug, Args)]
pub(crate) struct Common {
    /// The bus endpoint of one schema version, e.g. http://127.0.0.1:7500/smev/v1.2/ws.
    #[arg(long, default_value = "http://127.0.0.1:7500/smev/v1.2/ws")]
    url: String,
    /// Schema version 1.1, 1.2 or 1.3 (default: the /v1.x/ part of --url).
    #[arg(long)]
    schema: Option<String>,
    /// The IS's private key (PEM); with --cert.
    #[arg(long, requires = "cert", conflicts_with_all = ["demo_dir", "mnemonic"])]
    key: Option<PathBuf>,
    /// The IS's certificate (PEM), registered in the bus; with --key.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The demo directory of `opensmev serve --demo` (data/demo); with --as.
    #[arg(long, requires = "mnemonic")]
    demo_dir: Option<PathBuf>,
    /// The demo IS to act as (MFC01, PFR01, FNS01); with --demo-dir.
    #[arg(
        long = "as",
        id = "mnemonic",
        value_name = "MNEMONIC",
        requires = "demo_dir"
    )]
    mnemonic: Option<String>,
    /// The bus certificate the answers' SMEV signatures must be made with (default with
    /// --demo-dir: DIR/SMEV/cert.pem).
    #[arg(long)]
    smev_cert: Option<PathBuf>,
    /// Write the whole answer (XML) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Give up on an answer after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

/// `send-request`.
#[derive(Debug, Args)]
pub(crate) struct SendRequestArgs {
    #[command(flatten)]
    common: Common,
    /// The business content: a file with one XML element (the kind of information's root).
    #[arg(long)]
    content: PathBuf,
    /// The MessageID (a version-1 UUID; default: a new one).
    #[arg(long)]
    message_id: Option<String>,
    /// The sender's node (SenderProvidedRequestData/NodeID).
    #[arg(long)]
    node: Option<String>,
    /// Mark the request as a test message (TestMessage).
    #[arg(long)]
    test_message: bool,
}

/// `get-request`, `get-response`.
#[derive(Debug, Args)]
pub(crate) struct PollArgs {
    #[command(flatten)]
    common: Common,
    /// Only messages of this type: the root element's namespace and local name.
    #[arg(long = "type", num_args = 2, value_names = ["NS", "LOCAL"])]
    message_type: Option<Vec<String>>,
    /// Only messages for this node (MessageTypeSelector/NodeID).
    #[arg(long)]
    node: Option<String>,
}

/// `ack`.
#[derive(Debug, Args)]
pub(crate) struct AckArgs {
    #[command(flatten)]
    common: Common,
    /// The MessageID of the received message.
    #[arg(long, required_unless_present = "answer", conflicts_with = "answer")]
    message_id: Option<String>,
    /// Take the MessageID from an answer saved with --out by get-request or get-response.
    #[arg(long)]
    answer: Option<PathBuf>,
    /// true: the message was taken; false: its SMEV signature was refused.
    #[arg(long, default_value = "true", action = clap::ArgAction::Set)]
    accepted: bool,
}

/// Where a response goes.
#[derive(Debug, Args)]
pub(crate) struct ResponseTarget {
    /// The request's ReplyTo (the To of the response).
    #[arg(long, required_unless_present = "answer", conflicts_with = "answer")]
    to: Option<String>,
    /// Take ReplyTo from an answer saved with --out by get-request.
    #[arg(long)]
    answer: Option<PathBuf>,
    /// The response's MessageID (a version-1 UUID; default: a new one).
    #[arg(long)]
    message_id: Option<String>,
}

/// `send-response`.
#[derive(Debug, Args)]
pub(crate) struct SendResponseArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    target: ResponseTarget,
    /// The business content: a file with one XML element (a registered response root).
    #[arg(long)]
    content: PathBuf,
}

/// `reject`.
#[derive(Debug, Args)]
pub(crate) struct RejectArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    target: ResponseTarget,
    /// A reason, CODE:TEXT, CODE one of ACCESS_DENIED, NO_DATA, UNKNOWN_REQUEST_DESCRIPTION,
    /// FAILURE; may be repeated.
    #[arg(long = "reason", value_name = "CODE:TEXT", required = true)]
    reasons: Vec<String>,
}

/// `get-status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    common: Common,
}

/// `queue-statistics`.
#[derive(Debug, Args)]
pub(crate) struct StatisticsArgs {
    #[command(flatten)]
    common: Common,
    /// Only the queues of this node.
    #[arg(long)]
    node: Option<String>,
}

/// Runs one `opensmev client` command.
pub(crate) fn run(command: ClientCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context(lang.pick("запуск среды выполнения", "starting the runtime"))?;
    runtime.block_on(run_async(command, lang))
}

async fn run_async(command: ClientCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    match command {
        ClientCommand::SendRequest(args) => {
            let client = connect(&args.common, lang)?;
            let business = content(&args.content, lang)?;
            let message_id = message_id(args.message_id.as_deref(), lang)?;
            let node = args
                .node
                .as_deref()
                .map(|n| format!("<ns2:NodeID>{}</ns2:NodeID>", escape_text(n)))
                .unwrap_or_default();
            let call = Call::SendRequest {
                message_id: &message_id,
                business: &business,
                parts: RequestParts {
                    before_content: &node,
                    test_message: args.test_message,
                    ..RequestParts::default()
                },
            };
            finish(&client, &call, &args.common, lang).await
        }
        ClientCommand::GetRequest(args) => {
            poll(&args, lang, |ty, node_id| Call::GetRequest { ty, node_id }).await
        }
        ClientCommand::GetResponse(args) => {
            poll(&args, lang, |ty, node_id| Call::GetResponse { ty, node_id }).await
        }
        ClientCommand::Ack(args) => {
            let client = connect(&args.common, lang)?;
            let message_id = match (&args.message_id, &args.answer) {
                (Some(id), _) => escape_text(id),
                (None, Some(file)) => escape_text(&from_answer(file, Wanted::MessageId, lang)?),
                (None, None) => bail!(
                    "{}",
                    lang.pick("нужен --message-id", "--message-id is needed")
                ),
            };
            let call = Call::Ack {
                message_id: &message_id,
                accepted: args.accepted,
            };
            finish(&client, &call, &args.common, lang).await
        }
        ClientCommand::SendResponse(args) => {
            let client = connect(&args.common, lang)?;
            let (message_id, to) = target(&args.target, lang)?;
            let business = content(&args.content, lang)?;
            let content = format!("<MessagePrimaryContent>{business}</MessagePrimaryContent>");
            let call = Call::SendResponse {
                message_id: &message_id,
                to: &to,
                content: &content,
                after_data: "",
            };
            finish(&client, &call, &args.common, lang).await
        }
        ClientCommand::Reject(args) => {
            let client = connect(&args.common, lang)?;
            let reasons = args
                .reasons
                .iter()
                .map(|r| reason(r, lang))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (message_id, to) = target(&args.target, lang)?;
            let content = opensmev_client::rejected_content(&reasons);
            let call = Call::SendResponse {
                message_id: &message_id,
                to: &to,
                content: &content,
                after_data: "",
            };
            finish(&client, &call, &args.common, lang).await
        }
        ClientCommand::GetStatus(args) => {
            let client = connect(&args.common, lang)?;
            finish(&client, &Call::GetStatus, &args.common, lang).await
        }
        ClientCommand::QueueStatistics(args) => {
            let client = connect(&args.common, lang)?;
            if client.version != SchemaVersion::V1_1 {
                bail!(
                    "{}",
                    lang.pick(
                        "GetIncomingQueueStatistics есть только в схеме 1.1: укажите адрес …/v1.1/ws",
                        "GetIncomingQueueStatistics exists in schema 1.1 only: give the …/v1.1/ws address",
                    )
                );
            }
            let node = args.node.as_deref().map(escape_text);
            let call = Call::QueueStatistics {
                node_id: node.as_deref(),
            };
            finish(&client, &call, &args.common, lang).await
        }
    }
}

/// Makes `Call::GetRequest` or `Call::GetResponse` of a message type (namespace, local name)
/// and a node.
type PollCall = for<'a> fn(Option<(&'a str, &'a str)>, Option<&'a str>) -> Call<'a>;

/// GetRequest or GetResponse (`call` picks which): the same selectors, the same printing.
async fn poll(args: &PollArgs, lang: Lang, call: PollCall) -> anyhow::Result<ExitCode> {
    let client = connect(&args.common, lang)?;
    let node = args.node.as_deref().map(escape_text);
    let ty = message_type(&args.message_type);
    let call = call(
        ty.as_ref().map(|(n, l)| (n.as_str(), l.as_str())),
        node.as_deref(),
    );
    finish(&client, &call, &args.common, lang).await
}

/// The schema version: `--schema`, or the `/v1.x/` segment of the URL; both must agree.
fn version(common: &Common, lang: Lang) -> anyhow::Result<SchemaVersion> {
    let from_url = common
        .url
        .split(['/', '?'])
        .filter_map(|segment| segment.strip_prefix('v'))
        .find_map(SchemaVersion::parse);
    let given = match &common.schema {
        None => None,
        Some(text) => Some(SchemaVersion::parse(text).ok_or_else(|| {
            anyhow!(
                "{}",
                lang.pick(
                    "--schema {v}: версия схемы — 1.1, 1.2 или 1.3",
                    "--schema {v}: the schema version is 1.1, 1.2 or 1.3",
                )
                .replace("{v}", text)
            )
        })?),
    };
    match (given, from_url) {
        (Some(g), Some(u)) if g != u => bail!(
            "{}",
            lang.pick(
                "--schema {g} не совпадает с версией в адресе {url} ({u})",
                "--schema {g} differs from the version in the address {url} ({u})",
            )
            .replace("{g}", g.as_str())
            .replace("{u}", u.as_str())
            .replace("{url}", &common.url)
        ),
        (Some(v), _) | (None, Some(v)) => Ok(v),
        (None, None) => bail!(
            "{}",
            lang.pick(
                "в адресе {url} нет версии схемы (…/v1.1/ws, …/v1.2/ws, …/v1.3/ws): укажите --schema",
                "the address {url} names no schema version (…/v1.1/ws, …/v1.2/ws, …/v1.3/ws): give --schema",
            )
            .replace("{url}", &common.url)
        ),
    }
}

fn read(path: &Path, what_ru: &str, what_en: &str, lang: Lang) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .with_context(|| format!("{} {}", lang.pick(what_ru, what_en), path.display()))
}

/// The client of the chosen IS.
fn connect(common: &Common, lang: Lang) -> anyhow::Result<SmevClient> {
    let version = version(common, lang)?;
    let (key, cert, default_smev) = match (&common.key, &common.cert, &common.demo_dir, &common.mnemonic) {
        (Some(key), Some(cert), _, _) => (key.clone(), cert.clone(), None),
        (_, _, Some(dir), Some(mnemonic)) => {
            let is_dir = dir.join(mnemonic);
            if !is_dir.join("key.pem").is_file() {
                bail!(
                    "{}",
                    lang.pick(
                        "в демо-каталоге {dir} нет ключа ИС {m} ({path}); демо-ИС: MFC01, PFR01, FNS01",
                        "the demo directory {dir} holds no key of the IS {m} ({path}); demo systems: MFC01, PFR01, FNS01",
                    )
                    .replace("{dir}", &dir.display().to_string())
                    .replace("{m}", mnemonic)
                    .replace("{path}", &is_dir.join("key.pem").display().to_string())
                );
            }
            (
                is_dir.join("key.pem"),
                is_dir.join("cert.pem"),
                Some(dir.join("SMEV").join("cert.pem")),
            )
        }
        _ => bail!(
            "{}",
            lang.pick(
                "укажите, от имени какой ИС звонить: --key KEY.pem --cert CERT.pem или --demo-dir DIR --as MNEMONIC",
                "say which IS calls: --key KEY.pem --cert CERT.pem or --demo-dir DIR --as MNEMONIC",
            )
        ),
    };
    let Some(smev_cert) = common.smev_cert.clone().or(default_smev) else {
        bail!(
            "{}",
            lang.pick(
                "нужен сертификат СМЭВ для проверки ответов: --smev-cert FILE",
                "the bus certificate is needed to check the answers: --smev-cert FILE",
            )
        );
    };
    let key_pem = read(&key, "ключ", "key", lang)?;
    let cert_pem = read(&cert, "сертификат", "certificate", lang)?;
    let smev_pem = read(&smev_cert, "сертификат СМЭВ", "bus certificate", lang)?;
    SmevClient::from_pem(
        &common.url,
        version,
        &key_pem,
        &cert_pem,
        &smev_pem,
        Duration::from_secs(common.timeout.max(1)),
    )
    .map_err(|e| {
        anyhow!(
            "{}: {e}",
            lang.pick(
                "ключ или сертификаты не загружены",
                "the key or certificates could not be loaded"
            )
        )
    })
}

/// The business content of a file: one XML element, without its XML declaration.
fn content(path: &Path, lang: Lang) -> anyhow::Result<String> {
    let bytes = read(path, "бизнес-данные", "business content", lang)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        anyhow!(
            "{}: {}",
            path.display(),
            lang.pick("файл не в UTF-8", "the file is not UTF-8")
        )
    })?;
    let mut text = text.trim_start_matches('\u{feff}').trim();
    if text.starts_with("<?xml")
        && let Some(end) = text.find("?>")
    {
        text = text[end + 2..].trim();
    }
    Document::parse_str(text, Limits::default()).map_err(|e| {
        anyhow!(
            "{}: {}: {e}",
            path.display(),
            lang.pick(
                "бизнес-данные должны быть одним XML-элементом",
                "business content must be one XML element"
            )
        )
    })?;
    Ok(text.to_owned())
}

/// The given MessageID (checked: a lower-case version-1 UUID) or a new one.
fn message_id(given: Option<&str>, lang: Lang) -> anyhow::Result<String> {
    match given {
        None => Ok(opensmev_client::new_message_id()),
        Some(text) => MessageId::parse(text)
            .map(|id| id.to_string())
            .map_err(|e| {
                anyhow!(
                    "--message-id {text}: {} ({e})",
                    lang.pick(
                        "нужен UUID версии 1 строчными буквами",
                        "a lower-case version-1 UUID is needed"
                    )
                )
            }),
    }
}

fn message_type(given: &Option<Vec<String>>) -> Option<(String, String)> {
    given.as_ref().and_then(|t| match t.as_slice() {
        [ns, local] => Some((escape_text(ns), escape_text(local))),
        _ => None,
    })
}

/// A rejection reason `CODE:TEXT`.
fn reason(text: &str, lang: Lang) -> anyhow::Result<(&str, &str)> {
    let (code, description) = text.split_once(':').unwrap_or((text, ""));
    let code = code.trim();
    if !REJECT_CODES.contains(&code) {
        bail!(
            "{}",
            lang.pick(
                "--reason {r}: код отказа — один из {codes} (формат КОД:ТЕКСТ)",
                "--reason {r}: the rejection code is one of {codes} (format CODE:TEXT)",
            )
            .replace("{r}", text)
            .replace("{codes}", &REJECT_CODES.join(", "))
        );
    }
    let description = description.trim();
    if description.is_empty() {
        bail!(
            "{}",
            lang.pick(
                "--reason {r}: после кода нужен текст причины (КОД:ТЕКСТ)",
                "--reason {r}: a reason text must follow the code (CODE:TEXT)",
            )
            .replace("{r}", text)
        );
    }
    Ok((code, description))
}

/// The response's MessageID and its `To`.
fn target(target: &ResponseTarget, lang: Lang) -> anyhow::Result<(String, String)> {
    let message_id = message_id(target.message_id.as_deref(), lang)?;
    let to = match (&target.to, &target.answer) {
        (Some(to), _) => to.clone(),
        (None, Some(file)) => from_answer(file, Wanted::ReplyTo, lang)?,
        (None, None) => bail!("{}", lang.pick("нужен --to", "--to is needed")),
    };
    Ok((message_id, escape_text(&to)))
}

/// What to take from a saved answer.
#[derive(Debug, Clone, Copy)]
enum Wanted {
    MessageId,
    ReplyTo,
}

/// The child of `el` reached by the local names in `path`.
fn at<'d, 'a>(el: Element<'d, 'a>, path: &[&str]) -> Option<Element<'d, 'a>> {
    path.iter().try_fold(el, |el, name| {
        el.children().find(|c| c.local_name() == *name)
    })
}

fn text_at(el: Element<'_, '_>, path: &[&str]) -> Option<String> {
    at(el, path).map(|e| e.text_content().trim().to_owned())
}

/// The MessageID (to acknowledge) or the ReplyTo (to answer) of an answer saved by `--out`.
fn from_answer(path: &Path, wanted: Wanted, lang: Lang) -> anyhow::Result<String> {
    let bytes = read(path, "сохранённый ответ", "saved answer", lang)?;
    let doc = Document::parse(&bytes, Limits::default()).map_err(|e| {
        anyhow!(
            "{}: {} ({e})",
            path.display(),
            lang.pick("не XML", "not XML")
        )
    })?;
    let body = doc
        .root()
        .child(SOAP_NS, "Body")
        .and_then(|b| b.children().next());
    let found = body.and_then(|answer| match (answer.local_name(), wanted) {
        ("GetRequestResponse", Wanted::MessageId) => text_at(
            answer,
            &[
                "RequestMessage",
                "Request",
                "SenderProvidedRequestData",
                "MessageID",
            ],
        )
        .or_else(|| text_at(answer, &["RequestMessage", "Cancel", "MessageID"])),
        ("GetResponseResponse", Wanted::MessageId) => text_at(
            answer,
            &[
                "ResponseMessage",
                "Response",
                "SenderProvidedResponseData",
                "MessageID",
            ],
        ),
        ("GetRequestResponse", Wanted::ReplyTo) => {
            text_at(answer, &["RequestMessage", "Request", "ReplyTo"])
        }
        _ => None,
    });
    found.filter(|v| !v.is_empty()).ok_or_else(|| {
        let what = match wanted {
            Wanted::MessageId => lang.pick(
                "в нём нет полученного сообщения (нужен ответ get-request или get-response с сообщением)",
                "it holds no received message (an answer of get-request or get-response with a message is needed)",
            ),
            Wanted::ReplyTo => lang.pick(
                "в нём нет ReplyTo (нужен ответ get-request с запросом)",
                "it holds no ReplyTo (an answer of get-request with a request is needed)",
            ),
        };
        anyhow!("{}: {what}", path.display())
    })
}

/// Makes the call, writes `--out`, prints the essentials; the exit code.
async fn finish(
    client: &SmevClient,
    call: &Call<'_>,
    common: &Common,
    lang: Lang,
) -> anyhow::Result<ExitCode> {
    let result = client.call(call).await;
    let answer = match &result {
        Ok(answer) | Err(CallError::Check { answer, .. }) => Some(answer),
        Err(_) => None,
    };
    if let (Some(out), Some(answer)) = (&common.out, answer) {
        std::fs::write(out, &answer.text).with_context(|| {
            format!(
                "{} {}",
                lang.pick("запись ответа в", "writing the answer to"),
                out.display()
            )
        })?;
    }
    let answer = match result {
        Ok(answer) => answer,
        Err(CallError::Sign(e)) => bail!(
            "{}: {e}",
            lang.pick("вызов не подписан", "the call could not be signed")
        ),
        Err(CallError::Transport(e)) => bail!(
            "{} {}: {e}",
            lang.pick("нет ответа от", "no answer from"),
            client.url
        ),
        Err(CallError::Check { reason, .. }) => bail!(
            "{}: {reason}",
            lang.pick(
                "ответ не прошёл проверку (схема XSD, ЭП-СМЭВ)",
                "the answer failed the check (XSD, SMEV signature)"
            )
        ),
    };
    let (lines, fault) = essentials(&answer, lang)?;
    let mut out = String::new();
    for (label, value) in lines {
        out.push_str(&format!("{label}: {value}\n"));
    }
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
            .context(lang.pick("вывод ответа", "printing the answer"))?;
    }
    Ok(if fault {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The essentials of a checked answer as (label, value) lines, and whether it is a fault.
fn essentials(answer: &Answer, lang: Lang) -> anyhow::Result<(Vec<(String, String)>, bool)> {
    let doc = Document::parse(answer.text.as_bytes(), Limits::default()).map_err(|e| {
        anyhow!(
            "{}: {e}",
            lang.pick("ответ не XML", "the answer is not XML")
        )
    })?;
    let Some(body) = doc
        .root()
        .child(SOAP_NS, "Body")
        .and_then(|b| b.children().next())
    else {
        bail!(
            "{}",
            lang.pick("в ответе нет soap:Body", "the answer has no soap:Body")
        );
    };
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut put = |ru: &str, en: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            lines.push((lang.pick(ru, en).to_owned(), value));
        }
    };
    if body.is(SOAP_NS, "Fault") {
        let detail = at(body, &["detail"]).and_then(|d| d.children().next());
        let faultstring = text_at(body, &["faultstring"]);
        let description = detail.and_then(|d| text_at(d, &["Description"]));
        let code = detail
            .and_then(|d| text_at(d, &["Code"]))
            .or_else(|| smev_code(faultstring.as_deref().unwrap_or("")))
            .or_else(|| smev_code(description.as_deref().unwrap_or("")));
        put(
            "Ошибка СМЭВ",
            "SMEV fault",
            detail.map(|d| d.local_name().to_owned()),
        );
        put("Код", "Code", code);
        put("Текст", "Text", faultstring);
        if let Some(detail) = detail {
            for item in detail
                .children()
                .filter(|c| c.local_name() == "ValidationError")
            {
                put("Ошибка схемы", "Schema error", Some(item.text_content()));
            }
        }
        return Ok((lines, true));
    }
    put("Ответ", "Answer", Some(body.local_name().to_owned()));
    match body.local_name() {
        "SendRequestResponse" | "SendResponseResponse" => {
            put(
                "MessageID",
                "MessageID",
                text_at(body, &["MessageMetadata", "MessageId"]),
            );
            metadata(body, &mut put);
        }
        "GetRequestResponse" => match at(body, &["RequestMessage"]) {
            None => put(
                "Очередь",
                "Queue",
                Some(lang.pick("пуста", "empty").to_owned()),
            ),
            Some(message) => {
                if let Some(request) = at(message, &["Request"]) {
                    let data = at(request, &["SenderProvidedRequestData"]);
                    put(
                        "MessageID",
                        "MessageID",
                        data.and_then(|d| text_at(d, &["MessageID"])),
                    );
                    metadata(request, &mut put);
                    put("Вид сведений", "Business root", data.and_then(root_of));
                    if data.is_some_and(|d| at(d, &["TestMessage"]).is_some()) {
                        put(
                            "Тестовое",
                            "Test message",
                            Some(lang.pick("да", "yes").to_owned()),
                        );
                    }
                    put("ReplyTo", "ReplyTo", text_at(request, &["ReplyTo"]));
                } else if let Some(cancel) = at(message, &["Cancel"]) {
                    put(
                        "Отмена запроса",
                        "Cancelled request",
                        text_at(cancel, &["MessageReference"]),
                    );
                    put("MessageID", "MessageID", text_at(cancel, &["MessageID"]));
                    metadata(cancel, &mut put);
                }
            }
        },
        "GetResponseResponse" => match at(body, &["ResponseMessage", "Response"]) {
            None => put(
                "Очередь",
                "Queue",
                Some(lang.pick("пуста", "empty").to_owned()),
            ),
            Some(response) => {
                let data = at(response, &["SenderProvidedResponseData"]);
                put(
                    "MessageID",
                    "MessageID",
                    data.and_then(|d| text_at(d, &["MessageID"])),
                );
                put(
                    "Ответ на",
                    "In reply to",
                    text_at(response, &["OriginalMessageId"]),
                );
                metadata(response, &mut put);
                if let Some(data) = data {
                    put("Вид сведений", "Business root", root_of(data));
                    for rejected in data
                        .children()
                        .filter(|c| c.local_name() == "RequestRejected")
                    {
                        let code = text_at(rejected, &["RejectionReasonCode"]).unwrap_or_default();
                        let text =
                            text_at(rejected, &["RejectionReasonDescription"]).unwrap_or_default();
                        put("Отказ", "Rejected", Some(format!("{code}: {text}")));
                    }
                    if let Some(status) = at(data, &["RequestStatus"]) {
                        put(
                            "Статус обработки",
                            "Processing status",
                            text_at(status, &["StatusCode"]),
                        );
                        put(
                            "Описание",
                            "Description",
                            text_at(status, &["StatusDescription"]),
                        );
                    }
                    if let Some(status) = at(data, &["AsyncProcessingStatus"]) {
                        async_status(status, &mut put);
                    }
                }
            }
        },
        "GetStatusResponse" => match at(
            body,
            &[
                "SmevAsyncProcessingMessage",
                "AsyncProcessingStatusData",
                "AsyncProcessingStatus",
            ],
        ) {
            None => put(
                "Уведомления",
                "Notices",
                Some(lang.pick("нет", "none").to_owned()),
            ),
            Some(status) => async_status(status, &mut put),
        },
        "GetIncomingQueueStatisticsResponse" => {
            let mut any = false;
            for queue in body
                .children()
                .filter(|c| c.local_name() == "QueueStatistics")
            {
                any = true;
                put(
                    "Очередь",
                    "Queue",
                    Some(format!(
                        "{} — {}",
                        queue.attribute(None, "queueName").unwrap_or_default(),
                        queue
                            .attribute(None, "pendingMessageNumber")
                            .unwrap_or_default()
                    )),
                );
            }
            if !any {
                put(
                    "Очереди",
                    "Queues",
                    Some(lang.pick("пусты", "empty").to_owned()),
                );
            }
        }
        "AckResponse" => put(
            "Подтверждение",
            "Acknowledgement",
            Some(lang.pick("принято СМЭВ", "taken by the bus").to_owned()),
        ),
        _ => {}
    }
    Ok((lines, false))
}

fn metadata(el: Element<'_, '_>, put: &mut dyn FnMut(&str, &str, Option<String>)) {
    if let Some(meta) = at(el, &["MessageMetadata"]) {
        put(
            "Тип сообщения",
            "Message type",
            text_at(meta, &["MessageType"]),
        );
        put(
            "Отправитель",
            "Sender",
            text_at(meta, &["Sender", "Mnemonic"]),
        );
        put(
            "Получатель",
            "Recipient",
            text_at(meta, &["Recipient", "Mnemonic"]),
        );
        put(
            "Отправлено",
            "Sent at",
            text_at(meta, &["SendingTimestamp"]),
        );
        put("Статус", "Status", text_at(meta, &["Status"]));
    }
}

/// The business root element's `{namespace}local` name.
fn root_of(data: Element<'_, '_>) -> Option<String> {
    at(data, &["MessagePrimaryContent"])
        .and_then(|c| c.children().next())
        .map(|root| match root.namespace() {
            Some(ns) if !ns.is_empty() => format!("{{{ns}}}{}", root.local_name()),
            _ => root.local_name().to_owned(),
        })
}

fn async_status(status: Element<'_, '_>, put: &mut dyn FnMut(&str, &str, Option<String>)) {
    put(
        "Сообщение",
        "Message",
        text_at(status, &["OriginalMessageId"]),
    );
    put("Статус", "Status", text_at(status, &["StatusCategory"]));
    put(
        "Подробности",
        "Details",
        text_at(status, &["StatusDetails"]),
    );
    if let Some(fault) = at(status, &["SmevFault"]) {
        put("Код", "Code", text_at(fault, &["Code"]));
        put("Текст", "Text", text_at(fault, &["Description"]));
    }
}

/// The first `SMEV-nnn` in a text.
fn smev_code(text: &str) -> Option<String> {
    text.match_indices("SMEV-").find_map(|(at, _)| {
        let digits: String = text[at + 5..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        (!digits.is_empty()).then(|| format!("SMEV-{digits}"))
    })
}
