//! `opensmev migrate` and `opensmev store …`: PostgreSQL migrations, and moving an installation
//! between the embedded store and PostgreSQL with a proof by counts and checksums.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use opensmev_server::config::StoreLocation;
use opensmev_server::store::{self, OpenOptions};

use crate::i18n::Lang;
use crate::serve::runtime;

/// `opensmev migrate`.
#[derive(Debug, clap::Args)]
pub(crate) struct MigrateArgs {
    /// The store: postgres://… or sqlite:PATH.
    #[arg(long, env = "OPENSMEV_STORE")]
    store: String,
}

/// `opensmev store …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum StoreCommand {
    /// Copy every record of a store into another, empty one (stop the bus first), then compare both by counts and checksums.
    Copy {
        /// The store to copy: sqlite:PATH or postgres://….
        #[arg(long)]
        from: String,
        /// The empty store to copy into: postgres://… or sqlite:PATH.
        #[arg(long)]
        to: String,
    },
    /// Print the counts and checksums of a store: registry, messages, journal, notices, tokens, accounts, audit.
    Fingerprint {
        /// The store: sqlite:PATH or postgres://….
        store: String,
    },
}

fn location(value: &str, lang: Lang) -> anyhow::Result<StoreLocation> {
    StoreLocation::parse(value)
        .map_err(|e| anyhow::anyhow!("{}: {e}", lang.pick("неверное хранилище", "a wrong store")))
}

/// `opensmev migrate`.
pub(crate) fn migrate(args: MigrateArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let location = location(&args.store, lang)?;
    let (before, after) = runtime(lang)?
        .block_on(store::migrate(&location))
        .with_context(|| {
            format!(
                "{} {}",
                lang.pick("миграция хранилища", "migrating the store"),
                location.display()
            )
        })?;
    let mut out = std::io::stdout().lock();
    if before == after {
        writeln!(
            out,
            "{} {}: {after}",
            location.display(),
            lang.pick(
                "уже в актуальной версии схемы",
                "is at the current schema version"
            )
        )?;
    } else {
        writeln!(
            out,
            "{}: {} {before} → {after}",
            location.display(),
            lang.pick("схема обновлена", "schema migrated")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `opensmev store …`.
pub(crate) fn run(command: StoreCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let scratch = scratch_dir()?;
    match command {
        StoreCommand::Copy { from, to } => {
            let (from, to) = (location(&from, lang)?, location(&to, lang)?);
            if from == to {
                anyhow::bail!(
                    "{}",
                    lang.pick(
                        "--from и --to указывают одно и то же хранилище",
                        "--from and --to name the same store"
                    )
                );
            }
            let report = runtime(lang)?.block_on(async {
                let source = store::open(&from, OpenOptions::for_tool(&scratch.join("from")))
                    .await
                    .with_context(|| {
                        format!("{} {}", lang.pick("открытие", "opening"), from.display())
                    })?;
                let target = store::open(&to, OpenOptions::for_tool(&scratch.join("to")))
                    .await
                    .with_context(|| {
                        format!("{} {}", lang.pick("открытие", "opening"), to.display())
                    })?;
                let mut last = std::time::Instant::now();
                let report = opensmev_store::copy::copy(&*source, &*target, |section, count| {
                    if last.elapsed() >= std::time::Duration::from_secs(2) {
                        last = std::time::Instant::now();
                        eprintln!("{}: {count}", section.name());
                    }
                })
                .await?;
                anyhow::Ok(report)
            })?;
            writeln!(
                out,
                "{:<10} {:>10} {:>10}  {}",
                lang.pick("раздел", "section"),
                lang.pick("источник", "source"),
                lang.pick("копия", "copy"),
                lang.pick("SHA-256 (совпадает?)", "SHA-256 (matches?)")
            )?;
            for (a, b) in report.from.iter().zip(&report.to) {
                writeln!(
                    out,
                    "{:<10} {:>10} {:>10}  {} {}",
                    a.name,
                    a.count,
                    b.count,
                    a.digest,
                    if a == b { "=" } else { "≠" }
                )?;
            }
            if report.matches() {
                writeln!(
                    out,
                    "{} {} → {}",
                    lang.pick(
                        "Копия совпадает с источником:",
                        "The copy matches its source:"
                    ),
                    from.display(),
                    to.display()
                )?;
                Ok(ExitCode::SUCCESS)
            } else {
                writeln!(
                    out,
                    "{}",
                    lang.pick(
                        "КОПИЯ НЕ СОВПАДАЕТ с источником (см. ≠ выше)",
                        "THE COPY DOES NOT MATCH its source (see ≠ above)"
                    )
                )?;
                Ok(ExitCode::from(1))
            }
        }
        StoreCommand::Fingerprint { store: value } => {
            let location = location(&value, lang)?;
            let prints = runtime(lang)?.block_on(async {
                let opened = store::open(&location, OpenOptions::for_tool(&scratch))
                    .await
                    .with_context(|| {
                        format!(
                            "{} {}",
                            lang.pick("открытие", "opening"),
                            location.display()
                        )
                    })?;
                anyhow::Ok(opensmev_store::copy::fingerprint(&*opened).await?)
            })?;
            for print in prints {
                writeln!(
                    out,
                    "{:<10} {:>10}  {}",
                    print.name, print.count, print.digest
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A scratch directory for large attachments read back from PostgreSQL, removed when dropped.
pub(crate) struct Scratch(std::path::PathBuf);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn scratch_dir() -> anyhow::Result<Scratch> {
    let dir = std::env::temp_dir().join(format!("opensmev-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    Ok(Scratch(dir))
}
