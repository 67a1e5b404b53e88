//! `opensmev dead-letters list|replay`: push delivery's dead-letter queue over the integration
//! API of a running server (`docs/delivery.md`): the messages whose push gave up, with the
//! reason, and their replay — one (`--id`), filtered, or all (`--all`). Same options, output and
//! exit codes as the other commands over the API (`remote.rs`).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::i18n::Lang;
use crate::remote::{Api, Remote, done, out, page, query, s};

/// `opensmev dead-letters`.
#[derive(Debug, Subcommand)]
pub(crate) enum DeadLettersCommand {
    /// The dead letters, newest first (an IS token: its own).
    List(ListArgs),
    /// Queue dead letters again for a new round of push attempts.
    Replay(ReplayArgs),
}

/// The filters both commands take.
#[derive(Debug, Args)]
pub(crate) struct Filter {
    /// Of this recipient (mnemonic).
    #[arg(long)]
    recipient: Option<String>,
    /// From this sender (mnemonic).
    #[arg(long)]
    sender: Option<String>,
    /// Of this kind of information (its id).
    #[arg(long)]
    vs_id: Option<String>,
    /// Dead at or after (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Dead before (RFC 3339).
    #[arg(long)]
    to: Option<String>,
}

/// `opensmev dead-letters list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(flatten)]
    filter: Filter,
    /// Page size (1–500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// The next page (the cursor the previous one printed).
    #[arg(long)]
    cursor: Option<String>,
}

/// `opensmev dead-letters replay`.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    remote: Remote,
    /// One message (its MessageID).
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    filter: Filter,
    /// Every dead letter the token may handle.
    #[arg(long)]
    all: bool,
}

pub(crate) fn run(command: DeadLettersCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    match command {
        DeadLettersCommand::List(args) => list(args, lang),
        DeadLettersCommand::Replay(args) => replay(args, lang),
    }
}

fn list(args: ListArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let f = &args.filter;
    let path = format!(
        "/dead-letters{}",
        query(&[
            ("recipient", f.recipient.clone()),
            ("sender", f.sender.clone()),
            ("vs_id", f.vs_id.clone()),
            ("from", f.from.clone()),
            ("to", f.to.clone()),
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
            lang.pick("отправитель", "sender"),
            lang.pick("получатель", "recipient"),
            lang.pick("ВС", "kind"),
            lang.pick("отказ", "dead at"),
            lang.pick("попыток", "attempts"),
            lang.pick("причина", "reason"),
        ],
        |d| {
            vec![
                s(d, "message_id"),
                s(d, "sender"),
                s(d, "recipient"),
                s(d, "vs_id"),
                s(d, "dead_at"),
                s(d, "attempts"),
                s(d, "reason"),
            ]
        },
    )
}

fn replay(args: ReplayArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.remote, lang);
    let f = &args.filter;
    let body = json!({
        "message_id": args.id,
        "recipient": f.recipient,
        "sender": f.sender,
        "vs_id": f.vs_id,
        "from": f.from,
        "to": f.to,
        "all": args.all,
    });
    let outcome = api.call(
        reqwest::Method::POST,
        "/dead-letters/replay",
        Some(("application/json", body.to_string().into_bytes())),
        &[],
    )?;
    done(&args.remote, outcome, lang, |r| {
        let v = r.json()?;
        out!(
            "{} {}",
            lang.pick("Отправлено повторно:", "Replayed:"),
            s(&v, "replayed")
        );
        Ok(())
    })
}
