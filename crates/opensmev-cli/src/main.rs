//! The `opensmev` binary: command-line parsing and dispatch only.
//!
//! Subcommands live in their own modules (`sig` — the signature tools). Output is Russian by
//! default; `--lang en` (or `OPENSMEV_LANG=en`) switches to English.

mod client;
mod dead_letters;
mod doctor;
mod help;
mod i18n;
mod remote;
mod remote_registry;
mod serve;
mod sig;
mod store_cmd;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use crate::i18n::Lang;

/// OpenSMEV — an open SMEV 3 compatible bus and its tools.
#[derive(Debug, Parser)]
#[command(name = "opensmev", version, about)]
struct Cli {
    /// Interface language: ru (default) or en.
    #[arg(long, global = true, env = "OPENSMEV_LANG", default_value = "ru")]
    lang: Lang,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bus (SOAP endpoints for SMEV 3 schemas 1.1, 1.2, 1.3).
    Serve(serve::ServeArgs),
    /// The registry: check, import, export.
    #[command(subcommand)]
    Registry(serve::RegistryCommand),
    /// XML signatures: verify, sign, transform, keys and certificates.
    #[command(subcommand)]
    Sig(sig::SigCommand),
    /// SMEV calls as an information system: send-request, get-request, ack, send-response, reject, get-response, get-status, queue-statistics.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Check an installation before the first start: configuration, store, keys, registry, GOST engine, address.
    Doctor(doctor::DoctorArgs),
    /// Send a request as an information system through the integration API (the bus signs it).
    Send(remote::SendArgs),
    /// Receive the next incoming request or response through the integration API.
    Poll(remote::PollArgs),
    /// Acknowledge a received message through the integration API.
    Ack(remote::AckArgs),
    /// Answer a received request through the integration API.
    Respond(remote::RespondArgs),
    /// Reject a received request (RequestRejected) through the integration API.
    Reject(remote::RejectArgs),
    /// Take the next status notice of your messages through the integration API.
    Status(remote::StatusArgs),
    /// The journal of messages: search, show one with its timeline.
    #[command(subcommand, alias = "message")]
    Messages(remote::MessagesCommand),
    /// API tokens: list, create, revoke.
    #[command(subcommand)]
    Token(remote::TokenCommand),
    /// Accounts: list, create, disable, enable, password.
    #[command(subcommand)]
    User(remote::UserCommand),
    /// The audit log of administrative changes.
    Audit(remote::AuditArgs),
    /// The catalogue of kinds of information.
    Kinds(remote::KindsArgs),
    /// Push delivery's dead letters: list, replay.
    #[command(subcommand)]
    DeadLetters(dead_letters::DeadLettersCommand),
    /// Apply pending migrations to a PostgreSQL store (a node also does it at start unless store_migrate = false).
    Migrate(store_cmd::MigrateArgs),
    /// The store: copy between the embedded store and PostgreSQL, fingerprint.
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
}

/// Logs to standard error, as text or JSON lines; `OPENSMEV_LOG` (e.g. `debug`,
/// `opensmev::access=info,warn`, `opensmev_server=trace`) sets the levels, `info` by default.
pub(crate) fn init_logging(format: opensmev_server::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPENSMEV_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        opensmev_server::config::LogFormat::Text => builder.try_init(),
        opensmev_server::config::LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
    };
}

/// Parses the command line with help and parse errors in the interface language; prints help,
/// the version or the error and exits when the command line asks for it or is wrong.
fn parse() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let lang = help::detect_lang(&args, std::env::var_os("OPENSMEV_LANG"));
    let mut command = help::localize(Cli::command(), lang);
    let fail = |error: clap::Error, command: &mut clap::Command| -> ! {
        use clap::error::ErrorKind;
        let shown = matches!(
            error.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
        if lang == Lang::En || shown {
            error.exit()
        }
        eprint!("{}", help::render_error_ru(&error, command));
        std::process::exit(2)
    };
    let matches = match command.try_get_matches_from_mut(&args) {
        Ok(matches) => matches,
        Err(error) => fail(error, &mut command),
    };
    if let Some(path) = help::help_request(&matches) {
        // `opensmev help a b` (Russian): the help of `opensmev a b`.
        let mut line = vec![args[0].clone()];
        line.extend(path.into_iter().map(Into::into));
        line.push("--help".into());
        let mut fresh = help::localize(Cli::command(), lang);
        match fresh.try_get_matches_from_mut(line) {
            Ok(_) => std::process::exit(0),
            Err(error) => fail(error, &mut fresh),
        }
    }
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => fail(error.with_cmd(&command), &mut command),
    }
}

fn main() -> std::process::ExitCode {
    let cli = parse();
    let result = match cli.command {
        // Logging starts once the configuration (with its `log_format`) is read.
        Command::Serve(args) => serve::serve(args, cli.lang),
        Command::Registry(command) => serve::registry(command, cli.lang),
        Command::Sig(command) => sig::run(command, cli.lang),
        Command::Client(command) => client::run(command, cli.lang),
        Command::Doctor(args) => doctor::run(args, cli.lang),
        Command::Migrate(args) => store_cmd::migrate(args, cli.lang),
        Command::Store(command) => store_cmd::run(command, cli.lang),
        Command::Send(args) => remote::send(args, cli.lang),
        Command::Poll(args) => remote::poll(args, cli.lang),
        Command::Ack(args) => remote::ack(args, cli.lang),
        Command::Respond(args) => remote::respond(args, cli.lang),
        Command::Reject(args) => remote::reject(args, cli.lang),
        Command::Status(args) => remote::status(args, cli.lang),
        Command::Messages(command) => remote::messages(command, cli.lang),
        Command::Token(command) => remote::token(command, cli.lang),
        Command::User(command) => remote::user(command, cli.lang),
        Command::Audit(args) => remote::audit(args, cli.lang),
        Command::Kinds(args) => remote::kinds(args, cli.lang),
        Command::DeadLetters(command) => dead_letters::run(command, cli.lang),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}", i18n::error_text(cli.lang, &error));
            std::process::ExitCode::from(2)
        }
    }
}
