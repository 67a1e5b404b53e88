//! The `opensmev` binary: command-line parsing and dispatch only.
//!
//! Subcommands live in their own modules (`sig` — the signature tools). Output is Russian by
//! default; `--lang en` (or `OPENSMEV_LANG=en`) switches to English.

mod client;
mod doctor;
mod i18n;
mod serve;
mod sig;

use clap::{Parser, Subcommand};

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

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // Logging starts once the configuration (with its `log_format`) is read.
        Command::Serve(args) => serve::serve(args, cli.lang),
        Command::Registry(command) => serve::registry(command, cli.lang),
        Command::Sig(command) => sig::run(command, cli.lang),
        Command::Client(command) => client::run(command, cli.lang),
        Command::Doctor(args) => doctor::run(args, cli.lang),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}: {error:#}", cli.lang.pick("ошибка", "error"));
            std::process::ExitCode::from(2)
        }
    }
}
