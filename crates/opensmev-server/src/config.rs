//! Server configuration: a TOML file, then `OPENSMEV_*` environment variables, then command-line
//! flags, each overriding the one before; checked as a whole at load. Unknown keys in the file
//! and unknown `OPENSMEV_*` variables are errors (a typo must not silently fall back to a default).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration (unknown key, wrong type…).
    #[error("configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An environment variable or a value is not acceptable.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The longest `poll_wait_ms` accepted: a minute, well under SMEV clients' usual timeouts.
pub const MAX_POLL_WAIT_MS: u64 = 60_000;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people: time, level, the call's context, the message and its fields.
    #[default]
    Text,
    /// One JSON object a line (for log collectors).
    Json,
}

/// The language of fault texts (`faultstring`, `Description`, `ValidationError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultLang {
    /// Russian (the default, as the real SMEV answers).
    #[default]
    Ru,
    /// English.
    En,
}

impl FaultLang {
    /// The Russian or the English text, by this language.
    pub fn pick<'a>(self, ru: &'a str, en: &'a str) -> &'a str {
        match self {
            FaultLang::Ru => ru,
            FaultLang::En => en,
        }
    }
}

/// Whether a client certificate is asked for on the HTTPS listener (with `tls_client_ca`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsClientAuth {
    /// A client certificate signed by `tls_client_ca` is required: a client without one is
    /// refused in the handshake (mTLS).
    #[default]
    Required,
    /// A client certificate is asked for and, when given, must be signed by `tls_client_ca`; a
    /// client without one is served too.
    Optional,
}

/// The longest `timestamp_window_seconds` accepted: a week.
pub const MAX_TIMESTAMP_WINDOW_SECONDS: u64 = 7 * 24 * 3600;

/// The largest `max_xml_body_bytes` accepted (a plain body may take twice its size of the 1 GiB
/// memory budget for bodies while it is read).
pub const MAX_XML_BODY_BYTES: usize = 256 * 1024 * 1024;

/// The server configuration, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where to listen (default `127.0.0.1:7500`, the port of the SMEV test endpoints).
    pub listen: SocketAddr,
    /// Where the store and generated files live.
    pub data_dir: PathBuf,
    /// The path prefix of the SOAP endpoints (default `/smev`: `/smev/v1.2/ws`).
    pub path_prefix: String,
    /// Largest plain-XML request body, in bytes.
    pub max_xml_body_bytes: usize,
    /// Largest MTOM (multipart) request body, in bytes.
    pub max_mtom_body_bytes: usize,
    /// Largest total of inline attachments per message, in bytes.
    pub max_attachments_bytes: u64,
    /// Seconds a delivered message waits for `Ack` before it is delivered again.
    pub lease_seconds: u64,
    /// Hours after which a `MessageID` is stale.
    pub stale_message_id_hours: u64,
    /// Milliseconds a `GetRequest`/`GetResponse` on an empty queue waits for a message (long
    /// polling; 0 = answer at once, as SMEV does; at most [`MAX_POLL_WAIT_MS`]).
    pub poll_wait_ms: u64,
    /// The bus's signing key (PKCS#8 PEM) for ЭП-СМЭВ; generated in demo mode.
    pub smev_key: Option<PathBuf>,
    /// The bus's certificate (PEM).
    pub smev_cert: Option<PathBuf>,
    /// A registry file to import at start.
    pub registry_file: Option<PathBuf>,
    /// How often (seconds) to look for registry changes in the store.
    pub registry_poll_seconds: u64,
    /// Demo mode: generate keys, a registry and examples in the data directory.
    pub demo: bool,
    /// The bus's address as its clients reach it (`http://host:port` or `https://…`, no path):
    /// the WSDL's addresses use it. Unset: taken from each request's `Host` header, which must
    /// then be a plain `host[:port]`.
    pub public_url: Option<String>,
    /// Most open client connections at once; beyond it new connections wait in the listen
    /// backlog.
    pub max_connections: usize,
    /// Milliseconds a client has to send a request's headers, counted from when the connection
    /// starts waiting for them (its start, or the end of the previous answer: this is also how
    /// long an idle keep-alive connection is kept) before the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Milliseconds a request body may stall (no byte arriving) before the call is refused with
    /// HTTP 408.
    pub body_idle_timeout_ms: u64,
    /// The slowest a request body may arrive, in bytes per second on average, after the first
    /// `body_idle_timeout_ms` (a body trickling just under the idle timeout is refused with HTTP
    /// 408 too); 0 = no minimum.
    pub body_min_bytes_per_second: u64,
    /// Seconds a whole call (reading the body, processing, answering) may take.
    pub request_timeout_seconds: u64,
    /// How log lines are written: `text` (for people) or `json` (one JSON object a line).
    pub log_format: LogFormat,
    /// The name of this server in the call log (default: the host name).
    pub node_name: Option<String>,
    /// Seconds by which the signed `Timestamp` of a poll, `GetStatus` or queue statistics call
    /// may differ from the bus's clock; such signatures are also remembered for this long and a
    /// replay is refused. 0 turns both checks off (for clients that reuse signed polls).
    pub timestamp_window_seconds: u64,
    /// The server's TLS certificate (PEM; the server's certificate first, then the
    /// intermediate CAs). With `tls_key`, the listener speaks HTTPS only (TLS 1.2 and 1.3).
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM, unencrypted).
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM bundle) that sign the clients' TLS certificates: set, the listener
    /// asks every client for a certificate and verifies its chain against them (mTLS). The SMEV
    /// identity of a caller still comes from the signature in the message.
    pub tls_client_ca: Option<PathBuf>,
    /// With `tls_client_ca`: whether a client certificate is `required` (the default) or
    /// `optional`.
    pub tls_client_auth: TlsClientAuth,
    /// The language of fault texts: `ru` (default) or `en`. The fault elements and codes are
    /// the same in both.
    pub fault_lang: FaultLang,
    /// Where the keys the bus holds for information systems live (server-side signing through
    /// the integration API): a directory of passphrase-encrypted PKCS#8 files (default
    /// `<data_dir>/keys`).
    pub keys_dir: Option<PathBuf>,
    /// The passphrase of the key directory: from `OPENSMEV_KEYS_PASSPHRASE`, or the first line
    /// of `keys_passphrase_file`. Without one the bus holds no keys (demo mode uses the demo
    /// passphrase `opensmev-demo`).
    pub keys_passphrase: Option<String>,
    /// The longest long poll a client of the integration API may ask for (default 60 s).
    pub api_max_poll_wait_seconds: u64,
    /// Where the bus keeps its data: unset, the embedded store in `<data_dir>/store`;
    /// `sqlite:PATH`, an embedded store in the directory PATH; `postgres://…` (or
    /// `postgresql://…`), a PostgreSQL database shared by any number of nodes.
    pub store: Option<String>,
    /// The most connections a node opens to PostgreSQL (default 16).
    pub store_pool_size: usize,
    /// Whether a node applies pending PostgreSQL migrations when it starts (default true; with
    /// false, run `opensmev migrate` first and a node refuses an outdated database).
    pub store_migrate: bool,
    /// How often (milliseconds) a node tries to claim and run the sweep (expiry of messages
    /// whose EOL passed, waking pollers of run-out leases); one node of all does it at a time.
    pub sweep_interval_ms: u64,
    /// The SMTP server of the cabinet's e-mail notifications: `smtp://HOST[:PORT]` (plain, or
    /// STARTTLS when the server offers it), `smtps://HOST[:PORT]` (TLS), with `USER:PASSWORD@`
    /// when it wants a login; `None`: no e-mail.
    pub smtp_url: Option<String>,
    /// The notifications' `From` address.
    pub smtp_from: String,
    /// How often (milliseconds) a node tries to claim and run the notifications job.
    pub notify_interval_ms: u64,
}

/// Where the bus's data is ([`Config::store_location`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An embedded (SQLite) store in this directory.
    Embedded(PathBuf),
    /// A PostgreSQL database (a connection URL).
    Postgres(String),
}

impl StoreLocation {
    /// Parses a `store` value: `sqlite:PATH`, `postgres://…` or `postgresql://…`.
    pub fn parse(value: &str) -> Result<StoreLocation, ConfigError> {
        let value = value.trim();
        if let Some(path) = value.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(ConfigError::Invalid(
                    "store \"sqlite:\" needs a directory: sqlite:/var/lib/opensmev/store".into(),
                ));
            }
            return Ok(StoreLocation::Embedded(PathBuf::from(path)));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(value.to_owned()));
        }
        Err(ConfigError::Invalid(format!(
            "store {:?} is neither sqlite:PATH nor postgres://… (postgresql://…)",
            redact_url(value)
        )))
    }

    /// For logs and messages: the location without a password.
    pub fn display(&self) -> String {
        match self {
            StoreLocation::Embedded(path) => format!("sqlite:{}", path.display()),
            StoreLocation::Postgres(url) => redact_url(url),
        }
    }
}

/// A connection URL with its password (`user:password@`) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut redacted = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{hosts}"),
            None => format!("{scheme}://{userinfo}@{hosts}"),
        },
        None => format!("{scheme}://{authority}"),
    };
    // A password given as a query parameter.
    match tail.split_once('?') {
        Some((path, params)) => {
            let params: Vec<String> = params
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some(("password", _)) => "password=***".to_owned(),
                    _ => p.to_owned(),
                })
                .collect();
            redacted.push_str(&format!("{path}?{}", params.join("&")));
        }
        None => redacted.push_str(tail),
    }
    redacted
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 7500)),
            data_dir: PathBuf::from("data"),
            path_prefix: "/smev".to_owned(),
            max_xml_body_bytes: 16 * 1024 * 1024,
            max_mtom_body_bytes: 100 * 1024 * 1024,
            max_attachments_bytes: 64 * 1024 * 1024,
            lease_seconds: 300,
            stale_message_id_hours: 48,
            poll_wait_ms: 0,
            smev_key: None,
            smev_cert: None,
            registry_file: None,
            registry_poll_seconds: 2,
            demo: false,
            public_url: None,
            max_connections: 4096,
            header_read_timeout_ms: 10_000,
            body_idle_timeout_ms: 10_000,
            body_min_bytes_per_second: 1024,
            request_timeout_seconds: 120,
            timestamp_window_seconds: 3600,
            log_format: LogFormat::Text,
            node_name: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_client_auth: TlsClientAuth::Required,
            fault_lang: FaultLang::Ru,
            keys_dir: None,
            keys_passphrase: None,
            api_max_poll_wait_seconds: 60,
            store: None,
            store_pool_size: 16,
            store_migrate: true,
            sweep_interval_ms: 1000,
            smtp_url: None,
            smtp_from: "OpenSMEV <opensmev@localhost>".to_owned(),
            notify_interval_ms: 10_000,
        }
    }
}

/// The file form: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    path_prefix: Option<String>,
    max_xml_body_bytes: Option<usize>,
    max_mtom_body_bytes: Option<usize>,
    max_attachments_bytes: Option<u64>,
    lease_seconds: Option<u64>,
    stale_message_id_hours: Option<u64>,
    poll_wait_ms: Option<u64>,
    smev_key: Option<PathBuf>,
    smev_cert: Option<PathBuf>,
    registry_file: Option<PathBuf>,
    registry_poll_seconds: Option<u64>,
    demo: Option<bool>,
    public_url: Option<String>,
    max_connections: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    body_idle_timeout_ms: Option<u64>,
    body_min_bytes_per_second: Option<u64>,
    request_timeout_seconds: Option<u64>,
    timestamp_window_seconds: Option<u64>,
    log_format: Option<LogFormat>,
    node_name: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    tls_client_auth: Option<TlsClientAuth>,
    fault_lang: Option<FaultLang>,
    keys_dir: Option<PathBuf>,
    keys_passphrase_file: Option<PathBuf>,
    api_max_poll_wait_seconds: Option<u64>,
    store: Option<String>,
    store_pool_size: Option<usize>,
    store_migrate: Option<bool>,
    sweep_interval_ms: Option<u64>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    notify_interval_ms: Option<u64>,
}

/// Command-line overrides (the binary fills these from its flags).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--demo`.
    pub demo: bool,
    /// `--registry`.
    pub registry_file: Option<PathBuf>,
}

/// The environment variables read (besides `OPENSMEV_LANG`, used by the command line).
const ENV_KEYS: [&str; 38] = [
    "LISTEN",
    "DATA_DIR",
    "PATH_PREFIX",
    "MAX_XML_BODY_BYTES",
    "MAX_MTOM_BODY_BYTES",
    "MAX_ATTACHMENTS_BYTES",
    "LEASE_SECONDS",
    "STALE_MESSAGE_ID_HOURS",
    "POLL_WAIT_MS",
    "SMEV_KEY",
    "SMEV_CERT",
    "REGISTRY_FILE",
    "REGISTRY_POLL_SECONDS",
    "DEMO",
    "PUBLIC_URL",
    "MAX_CONNECTIONS",
    "HEADER_READ_TIMEOUT_MS",
    "BODY_IDLE_TIMEOUT_MS",
    "BODY_MIN_BYTES_PER_SECOND",
    "REQUEST_TIMEOUT_SECONDS",
    "TIMESTAMP_WINDOW_SECONDS",
    "LOG_FORMAT",
    "NODE_NAME",
    "TLS_CERT",
    "TLS_KEY",
    "TLS_CLIENT_CA",
    "TLS_CLIENT_AUTH",
    "FAULT_LANG",
    "KEYS_DIR",
    "KEYS_PASSPHRASE",
    "API_MAX_POLL_WAIT_SECONDS",
    "STORE",
    "STORE_POOL_SIZE",
    "STORE_MIGRATE",
    "SWEEP_INTERVAL_MS",
    "SMTP_URL",
    "SMTP_FROM",
    "NOTIFY_INTERVAL_MS",
];

impl Config {
    /// Loads: defaults ← file (if any) ← environment (`vars`, normally `std::env::vars()`) ←
    /// overrides; then checks.
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let parsed: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            config.apply_file(parsed)?;
        }
        for (key, value) in vars {
            let Some(name) = key.strip_prefix("OPENSMEV_") else {
                continue;
            };
            if name == "LANG" || name == "CONFIG" || name == "LOG" {
                continue;
            }
            if !ENV_KEYS.contains(&name) {
                return Err(ConfigError::Invalid(format!(
                    "unknown environment variable {key} (known: {})",
                    ENV_KEYS
                        .iter()
                        .map(|k| format!("OPENSMEV_{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            config.apply_env(name, &value)?;
        }
        if let Some(listen) = &overrides.listen {
            config.listen = parse_addr(listen)?;
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if overrides.demo {
            config.demo = true;
        }
        if let Some(registry) = &overrides.registry_file {
            config.registry_file = Some(registry.clone());
        }
        config.check()?;
        config.check_tls()?;
        Ok(config)
    }

    /// Where the bus's data is: the `store` setting, or the embedded store in
    /// `<data_dir>/store`.
    pub fn store_location(&self) -> Result<StoreLocation, ConfigError> {
        match &self.store {
            Some(value) => StoreLocation::parse(value),
            None => Ok(StoreLocation::Embedded(self.data_dir.join("store"))),
        }
    }

    /// Reads the TLS files (`tls_cert`, `tls_key`, `tls_client_ca`) and checks that they can
    /// serve HTTPS: readable, PEM, the key matching the certificate. Nothing to do without TLS.
    /// [`Config::load`] calls it; the server checks again when it starts.
    pub fn check_tls(&self) -> Result<(), ConfigError> {
        crate::serve::tls_acceptor(self).map(|_| ())
    }

    fn apply_file(&mut self, f: FileConfig) -> Result<(), ConfigError> {
        if let Some(v) = f.listen {
            self.listen = parse_addr(&v)?;
        }
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = f.$field { self.$field = v; } )* };
        }
        set!(
            data_dir,
            path_prefix,
            max_xml_body_bytes,
            max_mtom_body_bytes,
            max_attachments_bytes,
            lease_seconds,
            stale_message_id_hours,
            poll_wait_ms,
            registry_poll_seconds,
            demo,
            max_connections,
            header_read_timeout_ms,
            body_idle_timeout_ms,
            body_min_bytes_per_second,
            request_timeout_seconds,
            timestamp_window_seconds,
            log_format,
            tls_client_auth,
            fault_lang,
            api_max_poll_wait_seconds,
            store_pool_size,
            store_migrate,
            sweep_interval_ms,
            notify_interval_ms
        );
        if f.smtp_url.is_some() {
            self.smtp_url = f.smtp_url.filter(|v| !v.is_empty());
        }
        if let Some(from) = f.smtp_from {
            self.smtp_from = from;
        }
        if f.store.is_some() {
            self.store = f.store;
        }
        if f.keys_dir.is_some() {
            self.keys_dir = f.keys_dir;
        }
        if let Some(path) = f.keys_passphrase_file {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let line = text.lines().next().unwrap_or("").to_owned();
            if line.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "keys_passphrase_file {} is empty",
                    path.display()
                )));
            }
            self.keys_passphrase = Some(line);
        }
        if f.tls_cert.is_some() {
            self.tls_cert = f.tls_cert;
        }
        if f.tls_key.is_some() {
            self.tls_key = f.tls_key;
        }
        if f.tls_client_ca.is_some() {
            self.tls_client_ca = f.tls_client_ca;
        }
        if f.node_name.is_some() {
            self.node_name = f.node_name;
        }
        if f.public_url.is_some() {
            self.public_url = f.public_url;
        }
        if f.smev_key.is_some() {
            self.smev_key = f.smev_key;
        }
        if f.smev_cert.is_some() {
            self.smev_cert = f.smev_cert;
        }
        if f.registry_file.is_some() {
            self.registry_file = f.registry_file;
        }
        Ok(())
    }

    fn apply_env(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError> {
            value.trim().parse().map_err(|_| {
                ConfigError::Invalid(format!("OPENSMEV_{name}={value:?} is not a number"))
            })
        }
        match name {
            "LISTEN" => self.listen = parse_addr(value)?,
            "DATA_DIR" => self.data_dir = PathBuf::from(value),
            "PATH_PREFIX" => self.path_prefix = value.to_owned(),
            "MAX_XML_BODY_BYTES" => self.max_xml_body_bytes = num(name, value)?,
            "MAX_MTOM_BODY_BYTES" => self.max_mtom_body_bytes = num(name, value)?,
            "MAX_ATTACHMENTS_BYTES" => self.max_attachments_bytes = num(name, value)?,
            "LEASE_SECONDS" => self.lease_seconds = num(name, value)?,
            "STALE_MESSAGE_ID_HOURS" => self.stale_message_id_hours = num(name, value)?,
            "POLL_WAIT_MS" => self.poll_wait_ms = num(name, value)?,
            "KEYS_DIR" => self.keys_dir = Some(PathBuf::from(value)),
            "KEYS_PASSPHRASE" => {
                self.keys_passphrase = Some(value.to_owned()).filter(|v| !v.is_empty());
            }
            "API_MAX_POLL_WAIT_SECONDS" => self.api_max_poll_wait_seconds = num(name, value)?,
            "STORE" => self.store = Some(value.trim().to_owned()).filter(|v| !v.is_empty()),
            "STORE_POOL_SIZE" => self.store_pool_size = num(name, value)?,
            "SWEEP_INTERVAL_MS" => self.sweep_interval_ms = num(name, value)?,
            "SMTP_URL" => self.smtp_url = Some(value.trim().to_owned()).filter(|v| !v.is_empty()),
            "SMTP_FROM" => self.smtp_from = value.trim().to_owned(),
            "NOTIFY_INTERVAL_MS" => self.notify_interval_ms = num(name, value)?,
            "STORE_MIGRATE" => {
                self.store_migrate = match value.trim() {
                    "1" | "true" | "yes" => true,
                    "0" | "false" | "no" => false,
                    other => {
                        return Err(ConfigError::Invalid(format!(
                            "OPENSMEV_STORE_MIGRATE={other:?} is not a boolean"
                        )));
                    }
                }
            }
            "SMEV_KEY" => self.smev_key = Some(PathBuf::from(value)),
            "SMEV_CERT" => self.smev_cert = Some(PathBuf::from(value)),
            "REGISTRY_FILE" => self.registry_file = Some(PathBuf::from(value)),
            "REGISTRY_POLL_SECONDS" => self.registry_poll_seconds = num(name, value)?,
            "PUBLIC_URL" => {
                self.public_url = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
            }
            "MAX_CONNECTIONS" => self.max_connections = num(name, value)?,
            "HEADER_READ_TIMEOUT_MS" => self.header_read_timeout_ms = num(name, value)?,
            "BODY_IDLE_TIMEOUT_MS" => self.body_idle_timeout_ms = num(name, value)?,
            "BODY_MIN_BYTES_PER_SECOND" => self.body_min_bytes_per_second = num(name, value)?,
            "REQUEST_TIMEOUT_SECONDS" => self.request_timeout_seconds = num(name, value)?,
            "TIMESTAMP_WINDOW_SECONDS" => self.timestamp_window_seconds = num(name, value)?,
            "LOG_FORMAT" => {
                self.log_format = match value.trim() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    other => {
                        return Err(ConfigError::Invalid(format!(
                            "OPENSMEV_LOG_FORMAT={other:?} is not text or json"
                        )));
                    }
                }
            }
            "TLS_CERT" => self.tls_cert = non_empty_path(value),
            "TLS_KEY" => self.tls_key = non_empty_path(value),
            "TLS_CLIENT_CA" => self.tls_client_ca = non_empty_path(value),
            "TLS_CLIENT_AUTH" => {
                self.tls_client_auth = match value.trim() {
                    "required" => TlsClientAuth::Required,
                    "optional" => TlsClientAuth::Optional,
                    other => {
                        return Err(ConfigError::Invalid(format!(
                            "OPENSMEV_TLS_CLIENT_AUTH={other:?} is not required or optional"
                        )));
                    }
                }
            }
            "FAULT_LANG" => {
                self.fault_lang = match value.trim() {
                    "ru" => FaultLang::Ru,
                    "en" => FaultLang::En,
                    other => {
                        return Err(ConfigError::Invalid(format!(
                            "OPENSMEV_FAULT_LANG={other:?} is not ru or en"
                        )));
                    }
                }
            }
            "NODE_NAME" => {
                self.node_name = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
            }
            "DEMO" => {
                self.demo = match value.trim() {
                    "1" | "true" | "yes" => true,
                    "0" | "false" | "no" | "" => false,
                    other => {
                        return Err(ConfigError::Invalid(format!(
                            "OPENSMEV_DEMO={other:?} is not a boolean"
                        )));
                    }
                }
            }
            _ => unreachable!("checked against ENV_KEYS"),
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        if !self.path_prefix.starts_with('/') || self.path_prefix.ends_with('/') {
            return Err(ConfigError::Invalid(format!(
                "path_prefix {:?} must start with '/' and not end with '/'",
                self.path_prefix
            )));
        }
        if self.poll_wait_ms > MAX_POLL_WAIT_MS {
            return Err(ConfigError::Invalid(format!(
                "poll_wait_ms {} is more than {MAX_POLL_WAIT_MS} (clients time out)",
                self.poll_wait_ms
            )));
        }
        if self.lease_seconds == 0 {
            return Err(ConfigError::Invalid(
                "lease_seconds must be positive".into(),
            ));
        }
        if let Some(store) = &self.store {
            StoreLocation::parse(store)?;
        }
        if self.store_pool_size == 0 || self.store_pool_size > 1000 {
            return Err(ConfigError::Invalid(format!(
                "store_pool_size {} must be 1 to 1000",
                self.store_pool_size
            )));
        }
        if !(100..=60_000).contains(&self.sweep_interval_ms) {
            return Err(ConfigError::Invalid(format!(
                "sweep_interval_ms {} must be 100 to 60000",
                self.sweep_interval_ms
            )));
        }
        if !(100..=3_600_000).contains(&self.notify_interval_ms) {
            return Err(ConfigError::Invalid(format!(
                "notify_interval_ms {} must be 100 to 3600000",
                self.notify_interval_ms
            )));
        }
        if let Some(url) = &self.smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(ConfigError::Invalid(
                "smtp_url must be smtp://HOST[:PORT] or smtps://HOST[:PORT] (with USER:PASSWORD@ if the server wants a login)".into(),
            ));
        }
        if self.smtp_from.trim().is_empty() || !self.smtp_from.contains('@') {
            return Err(ConfigError::Invalid(format!(
                "smtp_from {:?} must be an address (\"Name <box@host>\" or box@host)",
                self.smtp_from
            )));
        }
        if self.max_xml_body_bytes == 0 || self.max_mtom_body_bytes < self.max_xml_body_bytes {
            return Err(ConfigError::Invalid(
                "max_mtom_body_bytes must be at least max_xml_body_bytes (> 0)".into(),
            ));
        }
        if let Some(url) = &self.public_url
            && !valid_public_url(url)
        {
            return Err(ConfigError::Invalid(format!(
                "public_url {url:?} must be http://HOST[:PORT] or https://HOST[:PORT], without a path"
            )));
        }
        for (name, value) in [
            ("max_connections", self.max_connections as u64),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_idle_timeout_ms", self.body_idle_timeout_ms),
            ("request_timeout_seconds", self.request_timeout_seconds),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be positive")));
            }
        }
        if self.request_timeout_seconds.saturating_mul(1000) < self.poll_wait_ms + 10_000 {
            return Err(ConfigError::Invalid(format!(
                "request_timeout_seconds {} must leave at least 10 s beyond poll_wait_ms {}",
                self.request_timeout_seconds, self.poll_wait_ms
            )));
        }
        if self.timestamp_window_seconds > MAX_TIMESTAMP_WINDOW_SECONDS {
            return Err(ConfigError::Invalid(format!(
                "timestamp_window_seconds {} is more than {MAX_TIMESTAMP_WINDOW_SECONDS} (a week)",
                self.timestamp_window_seconds
            )));
        }
        if self.max_xml_body_bytes > MAX_XML_BODY_BYTES {
            return Err(ConfigError::Invalid(format!(
                "max_xml_body_bytes {} is more than {MAX_XML_BODY_BYTES} (the memory budget for bodies must hold two)",
                self.max_xml_body_bytes
            )));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key go together (set both for HTTPS, or neither)".into(),
            ));
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            return Err(ConfigError::Invalid(
                "tls_client_ca needs HTTPS: set tls_cert and tls_key too".into(),
            ));
        }
        if self.smev_key.is_some() != self.smev_cert.is_some() {
            return Err(ConfigError::Invalid(
                "smev_key and smev_cert go together".into(),
            ));
        }
        if self.smev_key.is_none() && !self.demo {
            return Err(ConfigError::Invalid(
                "the bus needs its signing key (smev_key + smev_cert), or run with --demo to generate one".into(),
            ));
        }
        Ok(())
    }
}

/// The scheme of the bus's own addresses: `https` when the listener speaks TLS (`tls_cert` is
/// set), else `http`.
pub fn scheme(config: &Config) -> &'static str {
    if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    }
}

/// A path from an environment variable; empty: unset.
fn non_empty_path(value: &str) -> Option<PathBuf> {
    Some(value.trim())
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Whether `url` is `http(s)://` and an authority only ([`valid_host`]).
fn valid_public_url(url: &str) -> bool {
    url.strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .is_some_and(valid_host)
}

/// Whether `host` is a plain `host[:port]` (DNS name or IPv4 address, or a bracketed IPv6
/// address; the port digits only): what may be written into an address the bus publishes.
pub(crate) fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match host.rsplit_once(':') {
            // An empty port is the default one (RFC 3986 §3.2.3).
            Some((name, "")) => (Some(name), None),
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    // A fully qualified name may end with a dot.
    let name = name.map(|n| n.strip_suffix('.').unwrap_or(n));
    let name_ok = name.is_none_or(|n| {
        !n.is_empty()
            && n.len() <= 253
            && n.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
    });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    name_ok && port_ok
}

fn parse_addr(text: &str) -> Result<SocketAddr, ConfigError> {
    text.trim().parse().map_err(|_| {
        ConfigError::Invalid(format!("{text:?} is not HOST:PORT (e.g. 127.0.0.1:7500)"))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn store_locations_parse_and_passwords_are_redacted() {
        use super::{StoreLocation, redact_url};
        assert_eq!(
            StoreLocation::parse("sqlite:/var/lib/x").unwrap(),
            StoreLocation::Embedded("/var/lib/x".into())
        );
        let url =
            "postgres://bus:s3cr%40t@db1:5432,db2:5433/opensmev?target_session_attrs=read-write";
        assert_eq!(
            StoreLocation::parse(url).unwrap().display(),
            "postgres://bus:***@db1:5432,db2:5433/opensmev?target_session_attrs=read-write"
        );
        assert_eq!(
            redact_url("postgresql://db/x?user=a&password=b"),
            "postgresql://db/x?user=a&password=***"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        for bad in ["sqlite:", "mysql://x", "/var/lib/x", "postgres:/x"] {
            let e = StoreLocation::parse(bad).unwrap_err().to_string();
            assert!(e.contains("store"), "{bad}: {e}");
        }
        let e = StoreLocation::parse("mysql://u:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw"), "{e}");
    }

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("opensmev.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:8000\"\nlease_seconds = 60\ndemo = true\npoll_wait_ms = 250\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            env(&[
                ("OPENSMEV_LEASE_SECONDS", "30"),
                ("HOME", "/root"),
                ("OPENSMEV_LOG_FORMAT", "json"),
            ]),
            &Overrides {
                listen: Some("127.0.0.1:9000".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.lease_seconds, 30);
        assert_eq!(config.poll_wait_ms, 250);
        assert!(config.demo);
        assert_eq!(config.log_format, LogFormat::Json);

        let err = Config::load(
            None,
            env(&[("OPENSMEV_POLL_WAIT_MS", "60001")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("poll_wait_ms"), "{err}");
    }

    #[test]
    fn hosts_and_public_urls() {
        for good in [
            "localhost",
            "smev.example.ru.",
            "SMEV.Example.RU:443",
            "host:",
            "127.0.0.1:7500",
            "smev.example.ru",
            "a-b.c_d:80",
            "[::1]:7500",
            "[::1]",
        ] {
            assert!(valid_host(good), "{good}");
        }
        for bad in [
            "",
            "x\"/><evil xmlns=\"urn:evil\"/><a b=\"",
            "a b",
            ":80",
            ".",
            "host:80:80",
            "host/path",
            "[::1",
            "[::1]x",
            "h:123456",
            "a..b",
            "user@host",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
        assert!(valid_public_url("https://smev.example.ru"));
        assert!(valid_public_url("http://127.0.0.1:7500"));
        assert!(!valid_public_url("https://smev.example.ru/ws"));
        assert!(!valid_public_url("ftp://x"));
        let err = Config::load(
            None,
            env(&[("OPENSMEV_PUBLIC_URL", "http://x/\"")]),
            &Overrides {
                demo: true,
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("public_url"), "{err}");
        let err = Config::load(
            None,
            env(&[("OPENSMEV_HEADER_READ_TIMEOUT_MS", "0")]),
            &Overrides {
                demo: true,
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("header_read_timeout_ms"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("opensmev.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:8000\"\nleese_seconds = 60\n").unwrap();
        let err = Config::load(
            Some(&file),
            env(&[]),
            &Overrides {
                demo: true,
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("leese_seconds"), "{err}");
        let err =
            Config::load(None, env(&[("OPENSMEV_LISTN", "x")]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("OPENSMEV_LISTN"), "{err}");
        let err = Config::load(
            None,
            env(&[("OPENSMEV_LEASE_SECONDS", "soon")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a number"), "{err}");
        let err = Config::load(None, env(&[]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("signing key"), "{err}");
        let err = Config::load(
            None,
            env(&[]),
            &Overrides {
                listen: Some("nowhere".into()),
                demo: true,
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("HOST:PORT"), "{err}");
    }
}
