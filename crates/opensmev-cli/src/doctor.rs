//! `opensmev doctor`: the first-run check of an installation.
//!
//! Reads the configuration the way `opensmev serve` does and checks, without creating or changing
//! anything, what the server needs to start and to work: the data directory and the store (opened
//! read-only), the bus's own key and certificate (readable, matching, not expired), the registry
//! (loadable; every IS certificate's expiry), the GOST engine, and the listen address (bound and
//! released at once; an address already served by a running OpenSMEV is fine). Every check prints
//! one line — OK, a warning or a failure, with advice — and the exit code is the worst of them:
//! 0 all OK, 1 warnings, 2 failures.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use opensmev_crypto::{Certificate, CryptoError, CryptoProvider as _, OpenSslProvider};
use opensmev_server::config::{Config, Overrides};
use time::OffsetDateTime;

use crate::i18n::Lang;

/// Certificates expiring within this many days are warned about.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// `opensmev doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// The configuration file (TOML), as given to `opensmev serve`.
    #[arg(long, env = "OPENSMEV_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory (overrides the configuration).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// How a check came out; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Warn,
    Fail,
}

/// The lines printed so far and the worst level among them.
struct Report {
    lang: Lang,
    worst: Level,
    counts: [usize; 3],
}

impl Report {
    fn line(&mut self, level: Level, what: &str, detail: &str, advice: Option<&str>) {
        self.worst = self.worst.max(level);
        self.counts[level as usize] += 1;
        let label = match level {
            Level::Ok => self.lang.pick("ОК", "OK"),
            Level::Warn => self.lang.pick("ВНИМАНИЕ", "WARN"),
            Level::Fail => self.lang.pick("ОШИБКА", "FAIL"),
        };
        // One line per check, whatever the underlying error's layout (TOML errors span lines).
        let detail = detail
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let mut text = format!("{label:<9} {what}: {detail}");
        if let Some(advice) = advice {
            text.push_str(" — ");
            text.push_str(self.lang.pick("что сделать: ", "what to do: "));
            text.push_str(advice);
        }
        // Best effort: a closed standard output must not hide the exit code.
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }

    fn ok(&mut self, what: &str, detail: &str) {
        self.line(Level::Ok, what, detail, None);
    }

    fn warn(&mut self, what: &str, detail: &str, advice: &str) {
        self.line(Level::Warn, what, detail, Some(advice));
    }

    fn fail(&mut self, what: &str, detail: &str, advice: &str) {
        self.line(Level::Fail, what, detail, Some(advice));
    }

    /// A line at `level`: `advice` goes with a warning or a failure, not with OK.
    fn by_level(&mut self, level: Level, what: &str, detail: &str, advice: &str) {
        let advice = (level != Level::Ok).then_some(advice);
        self.line(level, what, detail, advice);
    }

    fn finish(self) -> ExitCode {
        let lang = self.lang;
        let [ok, warn, fail] = self.counts;
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}: {ok} {}, {warn} {}, {fail} {}",
            lang.pick("Итог", "Summary"),
            lang.pick("в порядке", "OK"),
            lang.pick("предупреждений", "warnings"),
            lang.pick("ошибок", "failures"),
        );
        ExitCode::from(match self.worst {
            Level::Ok => 0,
            Level::Warn => 1,
            Level::Fail => 2,
        })
    }
}

/// Runs `opensmev doctor`.
pub(crate) fn run(args: DoctorArgs, lang: Lang) -> anyhow::Result<ExitCode> {
    let mut report = Report {
        lang,
        worst: Level::Ok,
        counts: [0; 3],
    };
    let now = OffsetDateTime::now_utc();

    // The configuration: nothing else can be checked without it.
    let what = lang.pick("Конфигурация", "Configuration");
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        ..Overrides::default()
    };
    let config = match Config::load(args.config.as_deref(), std::env::vars(), &overrides) {
        Ok(config) => config,
        Err(error) => {
            report.fail(
                what,
                &format!(
                    "{} ({error})",
                    lang.pick("не загружается", "cannot be loaded")
                ),
                lang.pick(
                    "исправьте файл или переменные OPENSMEV_*; все ключи с пояснениями — в /etc/opensmev/opensmev.toml пакета (packaging/opensmev.toml в исходниках)",
                    "fix the file or the OPENSMEV_* variables; every key is explained in the package's /etc/opensmev/opensmev.toml (packaging/opensmev.toml in the sources)",
                ),
            );
            return Ok(report.finish());
        }
    };
    let source = match &args.config {
        Some(path) => format!("{} {}", lang.pick("файл", "file"), path.display()),
        None => lang
            .pick(
                "без файла (значения по умолчанию и переменные OPENSMEV_*)",
                "no file (defaults and OPENSMEV_* variables)",
            )
            .to_owned(),
    };
    report.ok(
        what,
        &format!(
            "{source}; {} {}, {} {}{}",
            lang.pick("адрес", "address"),
            config.listen,
            lang.pick("каталог данных", "data directory"),
            config.data_dir.display(),
            if config.demo {
                lang.pick(", демо-режим", ", demo mode")
            } else {
                ""
            }
        ),
    );

    let data_dir_ok = check_data_dir(&mut report, &config);
    let stored_registry = check_store(&mut report, &config, data_dir_ok);
    let gost = check_gost(&mut report);
    check_bus_key(&mut report, &config, gost, now);
    check_registry(&mut report, &config, stored_registry, now);
    check_listen(&mut report, &config);
    check_tls(&mut report, &config, now);
    Ok(report.finish())
}

/// Whether the current user may write into `dir` (where the server creates its store and spool).
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// The data directory: present and writable (a missing one is created at the first start).
/// Returns whether it exists.
fn check_data_dir(report: &mut Report, config: &Config) -> bool {
    let lang = report.lang;
    let what = lang.pick("Каталог данных", "Data directory");
    let dir = &config.data_dir;
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            report.warn(
                what,
                &format!(
                    "{shown} {}",
                    lang.pick(
                        "не существует (сервер создаст его при первом запуске)",
                        "does not exist (the server creates it at its first start)"
                    )
                ),
                lang.pick(
                    "создайте его и отдайте пользователю службы (пакет создаёт /var/lib/opensmev для пользователя opensmev) или укажите data_dir / --data-dir",
                    "create it and give it to the service user (the package creates /var/lib/opensmev for the opensmev user) or set data_dir / --data-dir",
                ),
            );
            false
        }
        Err(error) => {
            report.fail(
                what,
                &format!(
                    "{shown}: {} ({error})",
                    lang.pick("недоступен", "not accessible")
                ),
                lang.pick(
                    "проверьте права на каталог и путь к нему",
                    "check the permissions of the directory and of its parents",
                ),
            );
            false
        }
        Ok(meta) if !meta.is_dir() => {
            report.fail(
                what,
                &format!(
                    "{shown} {}",
                    lang.pick("— не каталог", "is not a directory")
                ),
                lang.pick("укажите в data_dir каталог", "set data_dir to a directory"),
            );
            false
        }
        Ok(_) if !writable(dir) => {
            report.fail(
                what,
                &format!(
                    "{shown}: {}",
                    lang.pick(
                        "у текущего пользователя нет права записи",
                        "the current user may not write into it"
                    )
                ),
                lang.pick(
                    "запускайте проверку от имени пользователя службы (runuser -u opensmev -- opensmev doctor …) или передайте каталог ему (chown)",
                    "run the check as the service user (runuser -u opensmev -- opensmev doctor …) or give the directory to it (chown)",
                ),
            );
            true
        }
        Ok(_) => {
            report.ok(
                what,
                &format!(
                    "{shown} {}",
                    lang.pick("доступен для записи", "is writable")
                ),
            );
            true
        }
    }
}

/// The latest registry document of the store: its version and text.
type StoredRegistry = Option<(i64, String)>;

/// Opens the SQLite store read-only without creating anything: a store without a `-wal` file was
/// closed cleanly and is opened immutable (a read-only connection would otherwise create the
/// `-wal` and `-shm` files, owned by whoever runs the check); with one, the server may be running
/// and the existing files are shared.
fn open_read_only(db: &Path) -> Result<rusqlite::Connection, String> {
    let Some(path) = db.to_str() else {
        return Err(format!("{}: not UTF-8", db.display()));
    };
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let mut uri = String::from("file:");
    for c in path.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str(if Path::new(&wal).exists() {
        "?mode=ro"
    } else {
        "?mode=ro&immutable=1"
    });
    use rusqlite::OpenFlags;
    rusqlite::Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())
}

/// Reads the schema version and the latest registry document (the table layout of
/// `opensmev-store-sqlite`'s migration 1).
fn read_store(db: &Path) -> Result<(i64, StoredRegistry), String> {
    let conn = open_read_only(db)?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let schema: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if schema == 0 {
        return Ok((0, None));
    }
    let mut statement = conn
        .prepare("SELECT version, text FROM registry_versions ORDER BY version DESC LIMIT 1")
        .map_err(|e| e.to_string())?;
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let registry = match rows.next().map_err(|e| e.to_string())? {
        Some(row) => Some((
            row.get::<_, i64>(0).map_err(|e| e.to_string())?,
            row.get::<_, String>(1).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    Ok((schema, registry))
}

/// The store: present and readable. Returns its latest registry document, if any.
fn check_store(report: &mut Report, config: &Config, data_dir_exists: bool) -> StoredRegistry {
    let lang = report.lang;
    let what = lang.pick("Хранилище", "Store");
    if let Ok(location @ opensmev_server::config::StoreLocation::Postgres(_)) =
        config.store_location()
    {
        return check_postgres(report, config, &location);
    }
    let db = config
        .data_dir
        .join("store")
        .join(opensmev_store_sqlite::DB_FILE);
    if !db.is_file() {
        if data_dir_exists || config.demo {
            report.warn(
                what,
                &format!(
                    "{} {} ({})",
                    lang.pick("нет файла", "no file"),
                    db.display(),
                    lang.pick(
                        "сервер создаст хранилище при первом запуске",
                        "the server creates the store at its first start"
                    )
                ),
                lang.pick(
                    "если сервер уже работал, проверьте data_dir: он должен указывать на его каталог данных",
                    "if the server has run before, check data_dir: it must name that server's data directory",
                ),
            );
        } else {
            report.warn(
                what,
                &format!("{} {}", lang.pick("нет файла", "no file"), db.display()),
                lang.pick(
                    "создаётся при первом запуске сервера вместе с каталогом данных",
                    "it is created, with the data directory, at the server's first start",
                ),
            );
        }
        return None;
    }
    match read_store(&db) {
        Ok((0, _)) => {
            report.fail(
                what,
                &format!(
                    "{} {}",
                    db.display(),
                    lang.pick(
                        "пуст: это не хранилище OpenSMEV",
                        "is empty: not an OpenSMEV store"
                    )
                ),
                lang.pick(
                    "уберите файл или укажите data_dir с хранилищем сервера",
                    "remove the file or set data_dir to the server's data directory",
                ),
            );
            None
        }
        Ok((schema, registry)) => {
            let registry_text = match &registry {
                Some((version, _)) => format!(
                    "{} {version}",
                    lang.pick("версия реестра", "registry version")
                ),
                None => lang.pick("реестра нет", "no registry").to_owned(),
            };
            report.ok(
                what,
                &format!(
                    "{} {} ({} {schema}, {registry_text})",
                    db.display(),
                    lang.pick("открывается", "opens"),
                    lang.pick("версия схемы", "schema version"),
                ),
            );
            registry
        }
        Err(error) => {
            report.fail(
                what,
                &format!(
                    "{} {} ({error})",
                    db.display(),
                    lang.pick("не открывается для чтения", "cannot be opened for reading")
                ),
                lang.pick(
                    "проверьте права (проверку запускают от имени пользователя службы); повреждённое хранилище восстановите из резервной копии",
                    "check the permissions (run the check as the service user); restore a damaged store from a backup",
                ),
            );
            None
        }
    }
}

/// A PostgreSQL store: reachable, at this build's schema version (nothing is migrated: the
/// check changes nothing), its registry read.
fn check_postgres(
    report: &mut Report,
    config: &Config,
    location: &opensmev_server::config::StoreLocation,
) -> StoredRegistry {
    let lang = report.lang;
    let what = lang.pick("Хранилище", "Store");
    let mut options = opensmev_server::store::OpenOptions::for_node(config);
    options.migrate = false;
    options.pool_size = 1;
    // Not the node's cache directory: the check creates nothing of the node's.
    let scratch = std::env::temp_dir().join(format!("opensmev-doctor-{}", std::process::id()));
    options.cache_dir = scratch.clone();
    let checked = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                let store = opensmev_server::store::open(location, options)
                    .await
                    .map_err(|e| e.to_string())?;
                store.registry().await.map_err(|e| e.to_string())
            })
        });
    let _ = std::fs::remove_dir_all(&scratch);
    match checked {
        Ok(document) => {
            let registry_text = match &document {
                Some(d) => format!(
                    "{} {}",
                    lang.pick("версия реестра", "registry version"),
                    d.version
                ),
                None => lang.pick("реестра нет", "no registry").to_owned(),
            };
            report.ok(
                what,
                &format!(
                    "PostgreSQL {} {} ({registry_text})",
                    location.display(),
                    lang.pick("доступен, схема актуальна", "reachable, schema current"),
                ),
            );
            document.map(|d| (d.version as i64, d.text))
        }
        Err(error) => {
            report.fail(
                what,
                &format!("PostgreSQL {}: {error}", location.display()),
                lang.pick(
                    "проверьте адрес, пользователя и пароль в store, что сервер PostgreSQL запущен; устаревшую схему обновите командой opensmev migrate",
                    "check the address, user and password in store and that the PostgreSQL server runs; bring an old schema up to date with opensmev migrate",
                ),
            );
            None
        }
    }
}

/// The GOST engine: whether GOST keys and signatures can be used at all.
fn check_gost(report: &mut Report) -> bool {
    let lang = report.lang;
    let what = lang.pick("Движок ГОСТ", "GOST engine");
    match opensmev_crypto::gost_engine_status() {
        Ok(()) => {
            report.ok(
                what,
                lang.pick(
                    "загружен (ГОСТ Р 34.10/34.11-2012 доступны)",
                    "loaded (GOST R 34.10/34.11-2012 available)",
                ),
            );
            true
        }
        Err(error) => {
            report.fail(
                what,
                &format!("{} ({error})", lang.pick("недоступен", "unavailable")),
                lang.pick(
                    "установите пакет libengine-gost-openssl (apt-get install libengine-gost-openssl)",
                    "install the libengine-gost-openssl package (apt-get install libengine-gost-openssl)",
                ),
            );
            false
        }
    }
}

fn date(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// A certificate's validity at `now`: the level, and the words for it.
fn validity(cert: &Certificate, now: OffsetDateTime, lang: Lang) -> (Level, String) {
    if cert.not_before() > now {
        return (
            Level::Fail,
            format!(
                "{} {}",
                lang.pick(
                    "ещё не действует, начало срока",
                    "not valid yet, valid from"
                ),
                date(cert.not_before())
            ),
        );
    }
    let left = cert.not_after() - now;
    if left.is_negative() {
        return (
            Level::Fail,
            format!(
                "{} {}",
                lang.pick("истёк", "expired on"),
                date(cert.not_after())
            ),
        );
    }
    let days = left.whole_days();
    if days < EXPIRY_WARNING_DAYS {
        return (
            Level::Warn,
            format!(
                "{} {} ({} {days})",
                lang.pick("истекает", "expires on"),
                date(cert.not_after()),
                lang.pick("дней осталось:", "days left:")
            ),
        );
    }
    (
        Level::Ok,
        format!(
            "{} {}",
            lang.pick("действует до", "valid until"),
            date(cert.not_after())
        ),
    )
}

fn subject_name(cert: &Certificate) -> String {
    cert.subject()
        .common_name()
        .map(str::to_owned)
        .unwrap_or_else(|| cert.serial_hex().to_owned())
}

fn load_certificate(bytes: &[u8]) -> Result<Certificate, CryptoError> {
    if bytes.starts_with(b"-----BEGIN") {
        Certificate::from_pem(bytes)
    } else {
        Certificate::from_der(bytes)
    }
}

/// Fails `what`: the key at `key_path` does not belong to the certificate at `cert_path`.
fn fail_key_mismatch(
    report: &mut Report,
    what: &str,
    key_path: &Path,
    cert_path: &Path,
    advice: &str,
) {
    let lang = report.lang;
    report.fail(
        what,
        &format!(
            "{} {} {} {}",
            lang.pick("ключ", "the key"),
            key_path.display(),
            lang.pick(
                "не подходит к сертификату",
                "does not match the certificate"
            ),
            cert_path.display()
        ),
        advice,
    );
}

/// The bus's own key (ЭП-СМЭВ): readable, matching its certificate, the certificate valid.
fn check_bus_key(report: &mut Report, config: &Config, gost: bool, now: OffsetDateTime) {
    let lang = report.lang;
    let what = lang.pick("Ключ ЭП-СМЭВ", "Bus key (ЭП-СМЭВ)");
    let (key_path, cert_path) = match (&config.smev_key, &config.smev_cert) {
        (Some(key), Some(cert)) => (key.clone(), cert.clone()),
        _ => {
            let dir = config.data_dir.join("demo").join("SMEV");
            let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
            if !key.exists() {
                report.warn(
                    what,
                    lang.pick(
                        "демо-режим: тестовый ключ шины создаётся при запуске",
                        "demo mode: a test key of the bus is generated at start",
                    ),
                    lang.pick(
                        "для работы с реальными ИС задайте smev_key и smev_cert (ключ: opensmev sig keygen или выданный УЦ)",
                        "to work with real systems set smev_key and smev_cert (a key from opensmev sig keygen or issued by a CA)",
                    ),
                );
                return;
            }
            (key, cert)
        }
    };
    let advice_files = lang.pick(
        "проверьте пути smev_key / smev_cert и права (проверку запускают от имени пользователя службы)",
        "check the smev_key / smev_cert paths and permissions (run the check as the service user)",
    );
    let read = |path: &Path, cannot_read: &str| -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|error| format!("{cannot_read} {} ({error})", path.display()))
    };
    let cert_bytes = match read(
        &cert_path,
        lang.pick("не читается сертификат", "cannot read the certificate"),
    ) {
        Ok(bytes) => bytes,
        Err(detail) => {
            report.fail(what, &detail, advice_files);
            return;
        }
    };
    let cert = match load_certificate(&cert_bytes) {
        Ok(cert) => cert,
        Err(error) => {
            report.fail(
                what,
                &format!(
                    "{} {} ({error})",
                    cert_path.display(),
                    lang.pick("— не сертификат X.509", "is not an X.509 certificate")
                ),
                lang.pick(
                    "smev_cert должен указывать на сертификат в PEM или DER",
                    "smev_cert must name a PEM or DER certificate",
                ),
            );
            return;
        }
    };
    let key_bytes = match read(
        &key_path,
        lang.pick("не читается ключ", "cannot read the key"),
    ) {
        Ok(bytes) => bytes,
        Err(detail) => {
            report.fail(what, &detail, advice_files);
            return;
        }
    };
    let is_gost = opensmev_crypto::SignatureAlgorithm::for_key(cert.key_algorithm())
        .is_some_and(|alg| alg.is_gost());
    if is_gost && !gost {
        report.fail(
            what,
            lang.pick(
                "ключ ГОСТ, а движок ГОСТ недоступен",
                "a GOST key, and the GOST engine is unavailable",
            ),
            lang.pick(
                "установите libengine-gost-openssl",
                "install libengine-gost-openssl",
            ),
        );
        return;
    }
    match OpenSslProvider::new().load_signer(&key_bytes, cert.clone()) {
        Ok(_) => {}
        Err(CryptoError::KeyCertificateMismatch) => {
            fail_key_mismatch(
                report,
                what,
                &key_path,
                &cert_path,
                lang.pick(
                    "укажите в smev_key и smev_cert ключ и сертификат одной пары",
                    "set smev_key and smev_cert to a key and the certificate of that key",
                ),
            );
            return;
        }
        Err(error) => {
            report.fail(
                what,
                &format!(
                    "{} {} ({error})",
                    lang.pick("не загружается ключ", "cannot load the key"),
                    key_path.display()
                ),
                lang.pick(
                    "smev_key должен быть закрытым ключом PKCS#8 PEM без пароля",
                    "smev_key must be an unencrypted PKCS#8 PEM private key",
                ),
            );
            return;
        }
    }
    let (level, words) = validity(&cert, now, lang);
    let detail = format!(
        "{} ({}), {} {words}",
        key_path.display(),
        cert.key_algorithm().name(),
        subject_name(&cert),
    );
    let renew = lang.pick(
        "получите новый сертификат (или создайте ключ: opensmev sig keygen --subject … --out DIR) и укажите его в smev_key / smev_cert",
        "get a new certificate (or make a key: opensmev sig keygen --subject … --out DIR) and set it in smev_key / smev_cert",
    );
    report.by_level(level, what, &detail, renew);
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(&key_path)
        && meta.permissions().mode() & 0o077 != 0
    {
        report.warn(
            lang.pick("Права на ключ", "Key permissions"),
            &format!(
                "{} {} {:o}",
                key_path.display(),
                lang.pick(
                    "доступен группе или всем: режим",
                    "is open to group or others: mode"
                ),
                meta.permissions().mode() & 0o777
            ),
            &format!("chmod 600 {}", key_path.display()),
        );
    }
}

/// The registry in force after a start: the configured file, else the stored one (else, in demo
/// mode, the demo registry); its IS certificates' expiry.
fn check_registry(
    report: &mut Report,
    config: &Config,
    stored: StoredRegistry,
    now: OffsetDateTime,
) {
    let lang = report.lang;
    let what = lang.pick("Реестр", "Registry");
    let (source, text, version) = match (&config.registry_file, stored) {
        (Some(path), _) => match std::fs::read_to_string(path) {
            Ok(text) => (
                format!(
                    "{} {}",
                    lang.pick("файл registry_file", "registry_file"),
                    path.display()
                ),
                text,
                0,
            ),
            Err(error) => {
                report.fail(
                    what,
                    &format!(
                        "{} {} ({error})",
                        lang.pick("не читается файл", "cannot read the file"),
                        path.display()
                    ),
                    lang.pick(
                        "проверьте путь registry_file и права на файл",
                        "check the registry_file path and the file's permissions",
                    ),
                );
                return;
            }
        },
        (None, Some((version, text))) => (
            format!(
                "{} {version}",
                lang.pick("хранилище, версия", "the store, version")
            ),
            text,
            u64::try_from(version).unwrap_or(0),
        ),
        (None, None) if config.demo => {
            report.ok(
                what,
                lang.pick(
                    "демо-режим: демо-реестр записывается в хранилище при запуске",
                    "demo mode: the demo registry is written into the store at start",
                ),
            );
            return;
        }
        (None, None) => {
            report.warn(
                what,
                lang.pick(
                    "реестра нет: шина отклоняет все вызовы, пока он не загружен",
                    "no registry: the bus refuses every call until one is loaded",
                ),
                lang.pick(
                    "загрузите реестр: opensmev registry import FILE --data-dir КАТАЛОГ_ДАННЫХ (от имени пользователя службы), или задайте registry_file",
                    "load one: opensmev registry import FILE --data-dir DATA_DIR (as the service user), or set registry_file",
                ),
            );
            return;
        }
    };
    let registry = match opensmev_core::registry::Registry::from_toml(&text, version) {
        Ok(registry) => registry,
        Err(error) => {
            report.fail(
                what,
                &format!(
                    "{source}: {} ({error})",
                    lang.pick("не загружается", "cannot be loaded")
                ),
                lang.pick(
                    "исправьте реестр (opensmev registry check FILE покажет ошибку) и загрузите его снова",
                    "fix the registry (opensmev registry check FILE shows the error) and load it again",
                ),
            );
            return;
        }
    };
    let mut nearest: Option<(OffsetDateTime, String)> = None;
    let mut problems = Vec::new();
    for system in registry.systems() {
        for cert in &system.certificates {
            let (level, words) = validity(cert, now, lang);
            if level != Level::Ok {
                problems.push((
                    level,
                    system.mnemonic.to_string(),
                    subject_name(cert),
                    words,
                ));
            }
            if nearest.as_ref().is_none_or(|(t, _)| cert.not_after() < *t) {
                nearest = Some((cert.not_after(), system.mnemonic.to_string()));
            }
        }
    }
    let nearest = match nearest {
        Some((t, mnemonic)) => format!(
            "; {} {} ({mnemonic})",
            lang.pick(
                "ближайшее окончание сертификата ИС",
                "the first IS certificate expires on"
            ),
            date(t)
        ),
        None => String::new(),
    };
    report.ok(
        what,
        &format!(
            "{source}: {} {}, {} {}, {} {}{nearest}",
            registry.systems().count(),
            lang.pick("ИС", "systems"),
            registry.kinds().count(),
            lang.pick("ВС", "kinds of information"),
            registry.file().grants.len(),
            lang.pick("доступов", "grants"),
        ),
    );
    for (level, mnemonic, subject, words) in problems {
        let what = format!(
            "{} {mnemonic}",
            lang.pick("Сертификат ИС", "Certificate of IS")
        );
        let detail = format!("{subject}: {words}");
        let advice = lang.pick(
            "попросите владельца ИС прислать новый сертификат и добавьте его в реестр (старый уберите, когда ИС перейдёт на новый)",
            "ask the system's owner for its new certificate and add it to the registry (remove the old one once the system has switched)",
        );
        if level == Level::Fail {
            report.fail(&what, &detail, advice);
        } else {
            report.warn(&what, &detail, advice);
        }
    }
}

/// Whether an OpenSMEV answers its WSDL at `listen` (the address is in use by a running bus).
fn opensmev_answers(listen: SocketAddr, prefix: &str) -> bool {
    let mut target = listen;
    if target.ip().is_unspecified() {
        target.set_ip(match listen {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let Ok(mut stream) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(3)));
    let request = format!(
        "GET {prefix}/v1.2/ws?wsdl HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.take(256 * 1024).read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.starts_with("HTTP/1.1 200") && answer.contains("definitions")
}

/// The listen address: can be bound (bound and released at once), or is already served by a
/// running OpenSMEV.
fn check_listen(report: &mut Report, config: &Config) {
    let lang = report.lang;
    let what = lang.pick("Адрес", "Listen address");
    let listen = config.listen;
    let advice = lang.pick(
        "укажите другой адрес: флаг --listen HOST:PORT, переменная OPENSMEV_LISTEN или ключ listen в файле конфигурации",
        "choose another address: the --listen HOST:PORT flag, the OPENSMEV_LISTEN variable or the listen key of the configuration file",
    );
    match TcpListener::bind(listen) {
        Ok(listener) => {
            drop(listener);
            report.ok(
                what,
                &format!("{listen} {}", lang.pick("свободен", "is free")),
            );
        }
        Err(error)
            if error.kind() == std::io::ErrorKind::AddrInUse && config.tls_cert.is_some() =>
        {
            report.warn(
                what,
                &format!(
                    "{listen} {}",
                    lang.pick(
                        "занят (с TLS проверка не спрашивает ?wsdl): если это работающий OpenSMEV, всё в порядке",
                        "is in use (with TLS the check does not ask ?wsdl): fine if that is this OpenSMEV running"
                    )
                ),
                advice,
            );
        }
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            if opensmev_answers(listen, &config.path_prefix) {
                report.ok(
                    what,
                    &format!(
                        "{listen} {}",
                        lang.pick(
                            "занят работающим сервером OpenSMEV (он отвечает на ?wsdl)",
                            "is served by a running OpenSMEV (it answers ?wsdl)"
                        )
                    ),
                );
            } else {
                report.fail(
                    what,
                    &format!(
                        "{listen} {}",
                        lang.pick("занят другой программой", "is in use by another program")
                    ),
                    advice,
                );
            }
        }
        Err(error) => {
            let why = match error.kind() {
                std::io::ErrorKind::AddrNotAvailable => lang.pick(
                    "у этой машины нет такого адреса",
                    "this machine has no such address",
                ),
                std::io::ErrorKind::PermissionDenied => lang.pick(
                    "нет прав (порты ниже 1024 требуют привилегий; в службе — AmbientCapabilities=CAP_NET_BIND_SERVICE)",
                    "permission denied (ports below 1024 need privileges; in the unit, AmbientCapabilities=CAP_NET_BIND_SERVICE)",
                ),
                _ => lang.pick("не удаётся слушать", "cannot listen"),
            };
            report.fail(what, &format!("{listen}: {why} ({error})"), advice);
        }
    }
}

/// The HTTPS listener's files, when configured: the certificate (valid), its key (matching), the
/// clients' CA bundle (readable).
fn check_tls(report: &mut Report, config: &Config, now: OffsetDateTime) {
    let lang = report.lang;
    let what = "TLS";
    let (Some(cert_path), Some(key_path)) = (&config.tls_cert, &config.tls_key) else {
        report.ok(
            what,
            lang.pick(
                "не настроен: сервер говорит HTTP (HTTPS — ключи tls_cert и tls_key или обратный прокси)",
                "not configured: the server speaks HTTP (HTTPS: the tls_cert and tls_key keys, or a reverse proxy)",
            ),
        );
        return;
    };
    let advice_files = lang.pick(
        "проверьте пути tls_cert / tls_key / tls_client_ca и права (проверку запускают от имени пользователя службы)",
        "check the tls_cert / tls_key / tls_client_ca paths and permissions (run the check as the service user)",
    );
    let read = |path: &Path| -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| {
            format!(
                "{} {} ({e})",
                lang.pick("не читается", "cannot read"),
                path.display()
            )
        })
    };
    let read_pem = |path: &Path| -> Result<Certificate, String> {
        read(path).and_then(|bytes| {
            Certificate::from_pem(&bytes).map_err(|e| {
                format!(
                    "{} {} ({e})",
                    path.display(),
                    lang.pick("— не сертификат PEM", "is not a PEM certificate")
                )
            })
        })
    };
    let cert = match read_pem(cert_path) {
        Ok(cert) => cert,
        Err(detail) => {
            report.fail(what, &detail, advice_files);
            return;
        }
    };
    let key = match read(key_path) {
        Ok(key) => key,
        Err(detail) => {
            report.fail(what, &detail, advice_files);
            return;
        }
    };
    let matching = match OpenSslProvider::new().load_signer(&key, cert.clone()) {
        Ok(_) => lang.pick("ключ подходит", "the key matches"),
        Err(CryptoError::KeyCertificateMismatch) => {
            fail_key_mismatch(
                report,
                what,
                key_path,
                cert_path,
                lang.pick(
                    "укажите в tls_key ключ сертификата tls_cert",
                    "set tls_key to the key of the tls_cert certificate",
                ),
            );
            return;
        }
        // Key types the signature tools do not use (e.g. P-384): the server's TLS stack checks
        // the pair at start.
        Err(_) => lang.pick(
            "соответствие ключа проверяется при запуске",
            "the key is matched at start",
        ),
    };
    let (level, words) = validity(&cert, now, lang);
    let detail = format!(
        "{}: {} {words}, {matching}",
        cert_path.display(),
        subject_name(&cert)
    );
    let renew = lang.pick(
        "получите новый сертификат сервера и укажите его в tls_cert / tls_key",
        "get a new server certificate and set it in tls_cert / tls_key",
    );
    report.by_level(level, what, &detail, renew);
    if let Some(ca_path) = &config.tls_client_ca {
        let what = lang.pick("TLS: УЦ клиентов", "TLS: client CA");
        match read_pem(ca_path) {
            Ok(ca) => {
                let (level, words) = validity(&ca, now, lang);
                let detail = format!("{}: {} {words}", ca_path.display(), subject_name(&ca));
                let renew = lang.pick(
                    "обновите сертификаты УЦ в tls_client_ca",
                    "update the CA certificates of tls_client_ca",
                );
                report.by_level(level, what, &detail, renew);
            }
            Err(detail) => report.fail(what, &detail, advice_files),
        }
    }
}
