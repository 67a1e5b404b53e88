//! `opensmev serve` and `opensmev registry …`: running the bus and managing its registry.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use opensmev_server::config::{Config, Overrides};
use opensmev_server::{Application, BuildOptions, RegistryAtStart};

use crate::i18n::Lang;

/// `opensmev serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The configuration file (TOML).
    #[arg(long, env = "OPENSMEV_CONFIG")]
    config: Option<PathBuf>,
    /// Listen on HOST:PORT (default 127.0.0.1:7500).
    #[arg(long)]
    listen: Option<String>,
    /// The data directory (store, generated keys).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Demo mode: generate keys, a demo registry and examples in the data directory. The demo
    /// registry is written only into a store without a registry; one already stored is kept.
    #[arg(long)]
    demo: bool,
    /// Demo mode, replacing the stored registry with the demo one.
    #[arg(long)]
    reset_demo: bool,
    /// Import this registry file at start.
    #[arg(long)]
    registry: Option<PathBuf>,
}

/// `opensmev registry …`.
#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
    /// Check a registry file and store it as the new registry (a running server picks it up).
    Import {
        /// The registry file (TOML).
        file: PathBuf,
        /// The data directory of the server.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// The store instead of the data directory's: postgres://… or sqlite:PATH.
        #[arg(long, env = "OPENSMEV_STORE")]
        store: Option<String>,
    },
    /// Print the registry in force.
    Export {
        /// The data directory of the server.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// The store instead of the data directory's: postgres://… or sqlite:PATH.
        #[arg(long, env = "OPENSMEV_STORE")]
        store: Option<String>,
    },
    /// Check a registry file without storing it.
    Check {
        /// The registry file (TOML).
        file: PathBuf,
    },
    /// Download the registry in force from a running server (integration API).
    Pull(crate::remote::PullArgs),
    /// Upload a registry file to a running server (integration API): checked, audited, in force at once.
    Push(crate::remote::PushArgs),
    /// Participants of a running server's registry: list, put, delete.
    #[command(subcommand)]
    Participant(crate::remote_registry::ParticipantCommand),
    /// Information systems of a running server's registry: list, put, delete, quota.
    #[command(subcommand)]
    System(crate::remote_registry::SystemCommand),
    /// Certificates of information systems: add, rotate with an overlap, revoke.
    #[command(subcommand)]
    Certificate(crate::remote_registry::CertificateCommand),
    /// Kinds of information with their XSD sets: list, put (--xsd or --zip), patch.
    #[command(subcommand)]
    Kind(crate::remote_registry::KindCommand),
    /// Grants: list, add, remove.
    #[command(subcommand)]
    Grant(crate::remote_registry::GrantCommand),
    /// Set the registry's default queue quota.
    DefaultQuota(crate::remote_registry::DefaultQuota),
}

pub(crate) fn runtime(lang: Lang) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context(lang.pick("запуск среды выполнения", "starting the runtime"))
}

/// Runs the server until Ctrl-C / SIGTERM.
pub(crate) fn serve(args: ServeArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        demo: args.demo || args.reset_demo,
        registry_file: args.registry,
    };
    let options = BuildOptions {
        reset_demo: args.reset_demo,
    };
    let config = Config::load(args.config.as_deref(), std::env::vars(), &overrides)?;
    crate::init_logging(config.log_format);
    let scheme = opensmev_server::config::scheme(&config);
    // Each connection is a file descriptor; the store, spool and logs need some more.
    let wanted = config.max_connections as u64 + 256;
    let allowed = raise_open_files_limit(wanted);
    if allowed < wanted {
        tracing::warn!(
            allowed,
            max_connections = config.max_connections,
            "the open files limit (ulimit -n) is below max_connections + 256: connections beyond it are refused by the system"
        );
    }
    runtime(lang)?.block_on(async move {
        let listen = config.listen;
        let prefix = config.path_prefix.clone();
        // Bound before anything is written, so a busy address stops the start at once.
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("{}", bind_error(listen, &e, lang)))?;
        let local = listener.local_addr()?;
        let app = Application::build_with(config, options).await?;
        // The banner is best effort: a closed standard output must not stop the server.
        let banner = (|| -> std::io::Result<()> {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{} {scheme}://{local}{prefix}/v1.1/ws, /v1.2/ws, /v1.3/ws", lang.pick("OpenSMEV слушает", "OpenSMEV listening on"))?;
            writeln!(out, "WSDL: {scheme}://{local}{prefix}/v1.2/ws?wsdl")?;
            writeln!(out, "{} {scheme}://{local}/api/v1 ({} {scheme}://{local}/api/docs)",
                lang.pick("REST API:", "REST API:"), lang.pick("описание и Swagger UI:", "described with Swagger UI at"))?;
            if let Some(password) = app.first_admin_password() {
                writeln!(out)?;
                writeln!(out, "{}", lang.pick(
                    "Создана учётная запись администратора «admin». Одноразовый пароль (показан один раз, смените его при первом входе):",
                    "The administrator account \"admin\" was created. Its one-time password (shown this once; change it at the first login):"))?;
                writeln!(out, "  {password}")?;
            }
            if let Some(demo) = app.demo() {
                let dir = demo.dir.display();
                writeln!(out)?;
                writeln!(out, "{}", lang.pick("Демо-режим. Всё для пробы — в", "Demo mode. Everything to try it is in"))?;
                writeln!(out, "  {dir}/registry.toml  — {}", lang.pick("реестр (ИС, виды сведений, доступы)", "the registry (systems, kinds of information, grants)"))?;
                writeln!(out, "  {dir}/<ИС>/key.pem, cert.pem  — {}: MFC01 ({}), PFR01, FNS01 ({})",
                    lang.pick("ключи ИС", "IS keys"), lang.pick("потребитель", "consumer"), lang.pick("поставщики", "providers"))?;
                writeln!(out, "  {dir}/examples/<ВС>/request.xml, response.xml  — {}", lang.pick("примеры бизнес-данных", "business data examples"))?;
                writeln!(out, "  {dir}/examples/envelopes/<1.1|1.2|1.3>/<Operation>.xml  — {}", lang.pick(
                    "готовые к подписи конверты всех операций (кто и как подписывает — README.txt там же; opensmev sig sign …)",
                    "ready-to-sign envelopes of every operation (who signs which and how: README.txt there; opensmev sig sign …)"))?;
                writeln!(out)?;
                writeln!(out, "{}", lang.pick(
                    "Круговой обмен командой opensmev client (скопируйте в оболочку; MFC01 спрашивает, PFR01 отвечает):",
                    "A round trip with opensmev client (paste into a shell; MFC01 asks, PFR01 answers):"))?;
                let me = std::env::args().next().filter(|a| !a.contains(char::is_whitespace)).unwrap_or_else(|| "opensmev".to_owned());
                writeln!(out, "  U={scheme}://{local}{prefix}/v1.2/ws D='{dir}'")?;
                writeln!(out, "  {me} client send-request  --url $U --demo-dir \"$D\" --as MFC01 --content \"$D/examples/VS00001v001-PFR001/request.xml\"")?;
                writeln!(out, "  {me} client get-request   --url $U --demo-dir \"$D\" --as PFR01 --out request.xml")?;
                writeln!(out, "  {me} client ack           --url $U --demo-dir \"$D\" --as PFR01 --answer request.xml")?;
                writeln!(out, "  {me} client send-response --url $U --demo-dir \"$D\" --as PFR01 --answer request.xml --content \"$D/examples/VS00001v001-PFR001/response.xml\"")?;
                writeln!(out, "  {me} client get-response  --url $U --demo-dir \"$D\" --as MFC01 --out response.xml")?;
                writeln!(out, "  {me} client ack           --url $U --demo-dir \"$D\" --as MFC01 --answer response.xml")?;
                writeln!(out)?;
                writeln!(out, "{}", lang.pick(
                    "Демо-токены REST API (Authorization: Bearer …; СМЭВ подписывает за демо-ИС их ключами):",
                    "Demo REST API tokens (Authorization: Bearer …; the bus signs for the demo systems with their keys):"))?;
                for token in app.demo_tokens() {
                    writeln!(out, "  {:<9} {}", token.holder, token.secret)?;
                }
                writeln!(out)?;
                writeln!(out, "{}", lang.pick(
                    "Личный кабинет (в браузере): {scheme}://{local}/ — демо-учётные записи операторов ИС (логин, пароль):",
                    "The web cabinet (in a browser): {scheme}://{local}/ — demo accounts of the systems' operators (login, password):",
                ).replace("{scheme}", scheme).replace("{local}", &local.to_string()))?;
                for account in app.demo_accounts() {
                    writeln!(out, "  cabinet-account {:<6} {} {}", account.system, account.login, account.password)?;
                }
                if let RegistryAtStart::KeptOverDemo { version } = app.registry_at_start() {
                    writeln!(out, "{}", lang.pick(
                        "В хранилище уже есть реестр, отличный от демо-реестра: он сохранён и действует (версия {version}). Заменить его демо-реестром: opensmev serve --reset-demo.",
                        "The store already holds a registry other than the demo one: it is kept and in force (version {version}). To replace it with the demo registry: opensmev serve --reset-demo.",
                    ).replace("{version}", &version.to_string()))?;
                }
            }
            Ok(())
        })();
        drop(banner);
        app.run(listener, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The message for a listen address that cannot be bound, naming the three ways to set another.
fn bind_error(listen: std::net::SocketAddr, error: &std::io::Error, lang: Lang) -> String {
    let why = match error.kind() {
        std::io::ErrorKind::AddrInUse => Some(lang.pick(
            "адрес уже занят (другим экземпляром OpenSMEV или иной программой)",
            "the address is already in use (by another OpenSMEV or another program)",
        )),
        std::io::ErrorKind::AddrNotAvailable => Some(lang.pick(
            "у этой машины нет такого адреса",
            "this machine has no such address",
        )),
        std::io::ErrorKind::PermissionDenied => Some(lang.pick(
            "нет прав (порты ниже 1024 требуют привилегий)",
            "permission denied (ports below 1024 need privileges)",
        )),
        _ => None,
    };
    let why = match why {
        Some(why) => format!("{why} ({error})"),
        None => error.to_string(),
    };
    format!(
        "{} {listen}: {why}. {}",
        lang.pick("не удаётся слушать", "cannot listen on"),
        lang.pick(
            "Укажите другой адрес: флаг --listen HOST:PORT, переменная OPENSMEV_LISTEN или ключ listen в файле конфигурации",
            "Choose another address: the --listen HOST:PORT flag, the OPENSMEV_LISTEN variable or the listen key of the configuration file",
        )
    )
}

/// Raises the soft limit of open files towards `wanted` (at most the hard limit); returns the
/// soft limit in force.
fn raise_open_files_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    if limit.rlim_cur >= wanted {
        return limit.rlim_cur;
    }
    let raised = libc::rlimit {
        rlim_cur: wanted.min(limit.rlim_max),
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads the struct it is given, which lives for the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        raised.rlim_cur
    } else {
        limit.rlim_cur
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// The store directory of the data directory `data_dir` (absolute), if it holds a store; an
/// error naming what was looked for otherwise. Creates nothing: a mistyped `--data-dir` must not
/// leave an empty store behind for a server that never uses it.
/// The store a registry command works on: `--store` (or `OPENSMEV_STORE`), else the data
/// directory's embedded store, which must exist.
fn store_location(
    store: Option<&str>,
    data_dir: &std::path::Path,
    lang: Lang,
) -> anyhow::Result<opensmev_server::config::StoreLocation> {
    match store {
        Some(value) => opensmev_server::config::StoreLocation::parse(value).map_err(|e| {
            anyhow::anyhow!("{}: {e}", lang.pick("неверное хранилище", "a wrong store"))
        }),
        None => Ok(opensmev_server::config::StoreLocation::Embedded(
            existing_store(data_dir, lang)?,
        )),
    }
}

/// How a registry command names its store: the database file of an embedded store.
fn shown_store(location: &opensmev_server::config::StoreLocation) -> String {
    match location {
        opensmev_server::config::StoreLocation::Embedded(dir) => dir
            .join(opensmev_store_sqlite::DB_FILE)
            .display()
            .to_string(),
        other => other.display(),
    }
}

async fn open_store(
    location: &opensmev_server::config::StoreLocation,
    scratch: &std::path::Path,
) -> anyhow::Result<std::sync::Arc<dyn opensmev_store::Store>> {
    Ok(opensmev_server::store::open(
        location,
        opensmev_server::store::OpenOptions::for_tool(scratch),
    )
    .await?)
}

fn existing_store(data_dir: &std::path::Path, lang: Lang) -> anyhow::Result<PathBuf> {
    let store_dir = data_dir.join("store");
    let file = store_dir.join(opensmev_store_sqlite::DB_FILE);
    if !file.is_file() {
        let shown = std::path::absolute(&file).unwrap_or(file);
        anyhow::bail!(
            "{} {} ({} {}). {}",
            lang.pick(
                "в каталоге данных нет хранилища OpenSMEV:",
                "the data directory holds no OpenSMEV store:"
            ),
            data_dir.display(),
            lang.pick("нет файла", "no file"),
            shown.display(),
            lang.pick(
                "Укажите --data-dir того каталога, с которым запущен opensmev serve (в нём хранилище store/ создаётся при первом запуске)",
                "Give --data-dir the data directory opensmev serve runs with (its store/ is created at the server's first start)"
            )
        );
    }
    std::fs::canonicalize(&store_dir).with_context(|| {
        format!(
            "{} {}",
            lang.pick("каталог хранилища", "the store directory"),
            store_dir.display()
        )
    })
}

fn reading(lang: Lang, file: &std::path::Path) -> String {
    format!(
        "{} {}",
        lang.pick("чтение файла", "reading"),
        file.display()
    )
}

fn rejected(lang: Lang, file: &std::path::Path) -> String {
    lang.pick(
        "файл реестра {file} не принят",
        "the registry file {file} is not accepted",
    )
    .replace("{file}", &file.display().to_string())
}

/// Runs a registry subcommand.
pub(crate) fn registry(command: RegistryCommand, lang: Lang) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        RegistryCommand::Pull(args) => crate::remote::pull(args, lang),
        RegistryCommand::Push(args) => crate::remote::push(args, lang),
        RegistryCommand::Participant(command) => crate::remote_registry::participant(command, lang),
        RegistryCommand::System(command) => crate::remote_registry::system(command, lang),
        RegistryCommand::Certificate(command) => crate::remote_registry::certificate(command, lang),
        RegistryCommand::Kind(command) => crate::remote_registry::kind(command, lang),
        RegistryCommand::Grant(command) => crate::remote_registry::grant(command, lang),
        RegistryCommand::DefaultQuota(args) => crate::remote_registry::default_quota(args, lang),
        RegistryCommand::Check { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| reading(lang, &file))?;
            let registry = opensmev_core::registry::Registry::from_toml(&text, 0)
                .with_context(|| rejected(lang, &file))?;
            writeln!(
                out,
                "{}: {} ИС, {} ВС, {} {}",
                lang.pick("Реестр корректен", "The registry is valid"),
                registry.systems().count(),
                registry.kinds().count(),
                registry.file().grants.len(),
                lang.pick("доступов", "grants")
            )?;
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Import {
            file,
            data_dir,
            store,
        } => {
            let location = store_location(store.as_deref(), &data_dir, lang)?;
            let text = std::fs::read_to_string(&file).with_context(|| reading(lang, &file))?;
            opensmev_core::registry::Registry::from_toml(&text, 0)
                .with_context(|| rejected(lang, &file))?;
            let opened = location.clone();
            let scratch = crate::store_cmd::scratch_dir()?;
            let version = runtime(lang)?.block_on(async move {
                let store = open_store(&opened, &scratch).await?;
                let doc = opensmev_store::Store::save_registry(
                    &*store,
                    text,
                    None,
                    true,
                    time::OffsetDateTime::now_utc(),
                    None,
                )
                .await?;
                anyhow::Ok(doc.version)
            })?;
            writeln!(
                out,
                "{} {version}",
                lang.pick("Реестр сохранён, версия", "Registry stored, version")
            )?;
            eprintln!(
                "{}: {}",
                lang.pick("хранилище", "store"),
                shown_store(&location)
            );
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Export { data_dir, store } => {
            let location = store_location(store.as_deref(), &data_dir, lang)?;
            let opened = location.clone();
            let scratch = crate::store_cmd::scratch_dir()?;
            let doc = runtime(lang)?.block_on(async move {
                let store = open_store(&opened, &scratch).await?;
                anyhow::Ok(opensmev_store::Store::registry(&*store).await?)
            })?;
            eprintln!(
                "{}: {}",
                lang.pick("хранилище", "store"),
                shown_store(&location)
            );
            match doc {
                Some(doc) => write!(out, "{}", doc.text)?,
                None => anyhow::bail!("{}", lang.pick("реестр пуст", "the registry is empty")),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
