//! The `opensmev` binary: command-line parsing and dispatch only.
//!
//! Subcommands live in their own modules (`sig` — the signature tools). Output is Russian by
//! default; `--lang en` (or `OPENSMEV_LANG=en`) switches to English.

mod i18n;
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
    /// XML signatures: verify, sign, transform, keys and certificates.
    #[command(subcommand)]
    Sig(sig::SigCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sig(command) => sig::run(command, cli.lang),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}: {error:#}", cli.lang.pick("ошибка", "error"));
            std::process::ExitCode::from(2)
        }
    }
}
