//! Building and running the server: store, keys, registry, bus, router, background tasks.

use std::sync::Arc;

use opensmev_core::{Bus, BusConfig, SystemClock};
use opensmev_crypto::{Certificate, CryptoProvider, OpenSslProvider, Signer};
use opensmev_store::Store;

use crate::config::Config;
use crate::demo;

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Setting up failed (files, keys, store, registry).
    #[error("{what}: {message}")]
    Setup {
        /// What was being done.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// The listener failed.
    #[error("serving: {0}")]
    Serve(#[from] std::io::Error),
}

fn setup(what: impl Into<String>, e: impl std::fmt::Display) -> AppError {
    AppError::Setup {
        what: what.into(),
        message: e.to_string(),
    }
}

/// Shared state of the handlers.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) bus: Arc<Bus>,
    pub(crate) config: Config,
    /// Memory budget for request bodies being read or processed: a request holds budget for
    /// the bytes it holds, as they arrive.
    pub(crate) body_budget: crate::budget::BodyBudget,
    /// Where large MTOM parts of requests are spooled.
    pub(crate) spool: Arc<crate::body::Spool>,
}

/// Choices made for one start rather than configured (the binary fills them from its flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// In demo mode, write the demo registry even if the store holds another one (`--reset-demo`).
    /// Without it the demo registry is written only into a store that has no registry yet. Has
    /// no effect outside demo mode, nor when a registry file is configured (the file wins).
    pub reset_demo: bool,
}

/// What the start did to the registry in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryAtStart {
    /// Nothing was written: the store's registry (if any, its version) is in force, and it is
    /// already what was asked for (the registry file's or the demo registry's text), or nothing
    /// was asked for.
    Unchanged {
        /// The version in force; `None`: the store has no registry.
        version: Option<u64>,
    },
    /// The configured registry file differed from the stored registry and was imported.
    ImportedFile {
        /// The new version.
        version: u64,
    },
    /// The demo registry was written: into a store without a registry, or on `reset_demo`.
    ImportedDemo {
        /// The new version.
        version: u64,
    },
    /// Demo mode, but the store holds another registry (one the user imported, or the demo
    /// registry of other keys or an earlier release); it was kept. `reset_demo` replaces it.
    KeptOverDemo {
        /// The version in force.
        version: u64,
    },
}

/// A built server, ready to serve.
#[derive(Debug)]
pub struct Application {
    state: Arc<State>,
    api: opensmev_api::ApiState,
    web: opensmev_web::WebState,
    demo: Option<demo::Demo>,
    registry_at_start: RegistryAtStart,
    first_admin_password: Option<String>,
    demo_tokens: Vec<demo::DemoToken>,
    demo_accounts: Vec<demo::DemoAccount>,
}

/// Where the registry to write at start comes from.
enum Source {
    File(String),
    Demo(String),
}

impl Application {
    /// Opens the store, loads (or in demo mode generates) the keys and the registry, and builds
    /// the bus; [`BuildOptions::default`].
    pub async fn build(config: Config) -> Result<Application, AppError> {
        Application::build_with(config, BuildOptions::default()).await
    }

    /// [`Application::build`] with the choices of this start.
    ///
    /// The registry: a configured `registry_file` is imported when its text differs from the
    /// stored registry's (the user asked for it). In demo mode without one, the demo registry is
    /// written only into a store that has no registry yet, or with `options.reset_demo`; a
    /// registry already stored is kept (and said so in the log), so a restart with `--demo`
    /// never replaces a registry the user imported. [`Application::registry_at_start`] tells
    /// which happened.
    pub async fn build_with(
        config: Config,
        options: BuildOptions,
    ) -> Result<Application, AppError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| setup(format!("creating {}", config.data_dir.display()), e))?;
        let demo = if config.demo {
            Some(demo::prepare(&config.data_dir).map_err(|e| setup("demo", e))?)
        } else {
            None
        };
        let (key_path, cert_path) = match (&config.smev_key, &config.smev_cert, &demo) {
            (Some(key), Some(cert), _) => (key.clone(), cert.clone()),
            (_, _, Some(demo)) => (demo.smev_key.clone(), demo.smev_cert.clone()),
            _ => return Err(setup("configuration", "no signing key for the bus")),
        };
        let provider = Arc::new(OpenSslProvider::new());
        let cert_pem = std::fs::read(&cert_path)
            .map_err(|e| setup(format!("reading {}", cert_path.display()), e))?;
        let key_pem = std::fs::read(&key_path)
            .map_err(|e| setup(format!("reading {}", key_path.display()), e))?;
        let certificate = Certificate::from_pem(&cert_pem)
            .map_err(|e| setup(cert_path.display().to_string(), e))?;
        let (subject, not_after, thumbprint) = (
            certificate.subject().to_string(),
            certificate.not_after(),
            certificate.thumbprint_sha1().to_owned(),
        );
        let signer: Arc<dyn Signer> = Arc::from(
            provider
                .load_signer(&key_pem, certificate)
                .map_err(|e| setup(key_path.display().to_string(), e))?,
        );
        tracing::info!(
            key = %key_path.display(),
            certificate = %cert_path.display(),
            %subject,
            %thumbprint,
            %not_after,
            "the bus's signing key (ЭП-СМЭВ) is loaded"
        );
        if not_after < time::OffsetDateTime::now_utc() + time::Duration::days(30) {
            tracing::warn!(%not_after, "the bus's certificate expires within 30 days (or has expired)");
        }
        let location = config
            .store_location()
            .map_err(|e| setup("the store setting", e))?;
        let store: Arc<dyn Store> =
            crate::store::open(&location, crate::store::OpenOptions::for_node(&config))
                .await
                .map_err(|e| setup(format!("opening the store {}", location.display()), e))?;
        let backend = match location {
            crate::config::StoreLocation::Embedded(_) => "SQLite",
            crate::config::StoreLocation::Postgres(_) => "PostgreSQL",
        };
        tracing::info!(store = %location.display(), backend, "the store is open");
        let bus_config = BusConfig {
            lease: time::Duration::seconds(config.lease_seconds as i64),
            stale_message_id: time::Duration::hours(config.stale_message_id_hours as i64),
            max_attachments_bytes: config.max_attachments_bytes,
            poll_wait: std::time::Duration::from_millis(config.poll_wait_ms),
            timestamp_window: (config.timestamp_window_seconds > 0)
                .then(|| time::Duration::seconds(config.timestamp_window_seconds as i64)),
            ..BusConfig::default()
        };
        let crypto: Arc<dyn CryptoProvider> = provider;
        let mut bus = Bus::new(
            store,
            Arc::clone(&crypto),
            signer,
            bus_config,
            Arc::new(SystemClock),
        );
        // The keys the bus holds for information systems (server-side signing).
        let passphrase = config
            .keys_passphrase
            .clone()
            .or_else(|| demo.as_ref().map(|_| demo::DEMO_KEYS_PASSPHRASE.to_owned()));
        if let Some(passphrase) = passphrase {
            let keys_dir = config
                .keys_dir
                .clone()
                .unwrap_or_else(|| config.data_dir.join("keys"));
            let keys = opensmev_crypto::FileKeyStore::open(
                &keys_dir,
                passphrase.as_bytes(),
                Arc::clone(&crypto),
            )
            .map_err(|e| {
                setup(
                    format!("opening the key directory {}", keys_dir.display()),
                    e,
                )
            })?;
            if let Some(demo) = &demo {
                demo::hold_keys(demo, &keys).map_err(|e| setup("demo keys", e))?;
            }
            let held = opensmev_crypto::KeyStore::list(&keys).map_err(|e| {
                setup(
                    format!("reading the key directory {}", keys_dir.display()),
                    e,
                )
            })?;
            tracing::info!(keys = %keys_dir.display(), held = held.len(),
                "keys held for information systems (server-side signing): {}",
                held.iter().map(|k| k.owner.as_str()).collect::<Vec<_>>().join(", "));
            bus = bus.with_keys(Arc::new(keys));
        }
        let bus = Arc::new(bus);
        let source = match (&demo, &config.registry_file) {
            (_, Some(path)) => Some(Source::File(
                std::fs::read_to_string(path)
                    .map_err(|e| setup(format!("reading {}", path.display()), e))?,
            )),
            (Some(demo), None) => Some(Source::Demo(demo.registry_toml.clone())),
            (None, None) => None,
        };
        // Read the stored document before putting it in force: one that can no longer be loaded
        // can still be replaced by the registry file or `reset_demo`.
        let stored = bus
            .store()
            .registry()
            .await
            .map_err(|e| setup("loading the registry", e))?;
        let registry_at_start = match (source, stored) {
            (None, stored) => RegistryAtStart::Unchanged {
                version: stored.map(|doc| doc.version),
            },
            (Some(Source::File(text) | Source::Demo(text)), Some(doc)) if doc.text == text => {
                RegistryAtStart::Unchanged {
                    version: Some(doc.version),
                }
            }
            (Some(Source::File(text)), _) => {
                let version = bus
                    .import_registry(&text)
                    .await
                    .map_err(|e| setup("importing the registry", e))?;
                tracing::info!(version, "the registry file was imported");
                RegistryAtStart::ImportedFile { version }
            }
            (Some(Source::Demo(_)), Some(doc)) if !options.reset_demo => {
                tracing::info!(
                    "demo mode: keeping the stored registry (version {}), which differs from the demo one; --reset-demo replaces it with the demo registry",
                    doc.version
                );
                RegistryAtStart::KeptOverDemo {
                    version: doc.version,
                }
            }
            (Some(Source::Demo(text)), _) => {
                let version = bus
                    .import_registry(&text)
                    .await
                    .map_err(|e| setup("importing the demo registry", e))?;
                tracing::info!(version, "the demo registry was written to the store");
                RegistryAtStart::ImportedDemo { version }
            }
        };
        if !matches!(
            registry_at_start,
            RegistryAtStart::ImportedFile { .. } | RegistryAtStart::ImportedDemo { .. }
        ) {
            bus.reload_registry()
                .await
                .map_err(|e| setup("loading the registry", e))?;
        }
        // A fresh store gets its first administrator, with a one-time password shown once.
        let first_admin_password = bus
            .ensure_first_admin()
            .await
            .map_err(|e| setup("creating the first administrator", e))?;
        let demo_tokens = match &demo {
            Some(demo) => demo::tokens(demo, &bus)
                .await
                .map_err(|e| setup("demo tokens", e))?,
            None => Vec::new(),
        };
        let demo_accounts = match &demo {
            Some(demo) => demo::accounts(demo, &bus)
                .await
                .map_err(|e| setup("demo accounts", e))?,
            None => Vec::new(),
        };
        let api = opensmev_api::ApiState {
            bus: Arc::clone(&bus),
            settings: Arc::new(opensmev_api::ApiSettings {
                max_body_bytes: config.max_xml_body_bytes,
                max_poll_wait: std::time::Duration::from_secs(config.api_max_poll_wait_seconds),
                max_form_bytes: config.max_mtom_body_bytes,
                spool_dir: Some(config.data_dir.join("spool")),
                ..opensmev_api::ApiSettings::default()
            }),
        };
        let web = opensmev_web::WebState::new(
            Arc::clone(&bus),
            opensmev_web::WebSettings {
                secure_cookies: config.tls_cert.is_some(),
            },
        );
        let spool_dir = config.data_dir.join("spool");
        let spool = crate::body::Spool::open(&spool_dir)
            .map_err(|e| setup(format!("preparing {}", spool_dir.display()), e))?;
        Ok(Application {
            state: Arc::new(State {
                bus,
                config,
                body_budget: crate::budget::BodyBudget::new(crate::budget::BODY_BUDGET_BYTES),
                spool: Arc::new(spool),
            }),
            api,
            web,
            demo,
            registry_at_start,
            first_admin_password,
            demo_tokens,
            demo_accounts,
        })
    }

    /// The one-time password of the administrator `admin`, when this start created the account
    /// (a store without accounts): to be shown once.
    pub fn first_admin_password(&self) -> Option<&str> {
        self.first_admin_password.as_deref()
    }

    /// The demo API tokens (demo mode).
    pub fn demo_tokens(&self) -> &[demo::DemoToken] {
        &self.demo_tokens
    }

    /// The demo accounts of the web cabinet (empty unless in demo mode).
    pub fn demo_accounts(&self) -> &[demo::DemoAccount] {
        &self.demo_accounts
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        &self.state.bus
    }

    /// The demo set-up, in demo mode.
    pub fn demo(&self) -> Option<&demo::Demo> {
        self.demo.as_ref()
    }

    /// What the start did to the stored registry.
    pub fn registry_at_start(&self) -> RegistryAtStart {
        self.registry_at_start
    }

    /// The router (for in-process tests).
    pub fn router(&self) -> axum::Router {
        let state = &self.state;
        crate::soap::router(state.clone())
            .merge(opensmev_api::router(self.api.clone()))
            .merge(opensmev_web::router(self.web.clone()))
            .layer(axum::extract::DefaultBodyLimit::max(
                state.config.max_mtom_body_bytes,
            ))
            // A client that stalls mid-request cannot hold a connection and its buffer forever.
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                http::StatusCode::REQUEST_TIMEOUT,
                std::time::Duration::from_secs(state.config.request_timeout_seconds),
            ))
            // Outermost, so that a call cut by the timeout has its line too.
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(state),
                crate::access::log_calls,
            ))
    }

    /// Serves on `listener` until `shutdown` completes; also keeps the registry in step with the
    /// store. With `tls_cert`/`tls_key` the listener speaks HTTPS only (and with `tls_client_ca`
    /// verifies the clients' certificates); TLS files that cannot be used stop the start with an
    /// error naming the key.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let tls = crate::serve::tls_acceptor(&self.state.config).map_err(|e| setup("TLS", e))?;
        if let Some(acceptor) = &tls
            && let Some(certificate) = acceptor.context().certificate()
            && let Ok(now) = openssl::asn1::Asn1Time::days_from_now(0)
            && certificate.not_after() < now
        {
            tracing::warn!(
                not_after = %certificate.not_after(),
                "the TLS certificate (tls_cert) has expired: clients will refuse the connection"
            );
        }
        let state = self.state.clone();
        let poll = std::time::Duration::from_secs(state.config.registry_poll_seconds.max(1));
        let poller = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(poll);
            loop {
                ticker.tick().await;
                if let Err(e) = state.bus.reload_registry().await {
                    tracing::warn!(error = %e, "the stored registry cannot be loaded; keeping the one in force");
                }
            }
        });
        let router = self.router();
        let limits = crate::serve::ConnectionLimits {
            max_connections: self.state.config.max_connections,
            header_read_timeout: std::time::Duration::from_millis(
                self.state.config.header_read_timeout_ms,
            ),
        };
        let held = Arc::new(std::sync::Mutex::new(None));
        let upkeep = tokio::spawn(upkeep(self.state.clone(), Arc::clone(&held)));
        // The links of e-mail notifications: `public_url`, else the address actually bound.
        let base_url = match &self.state.config.public_url {
            Some(url) => url.clone(),
            None => format!(
                "{}://{}",
                crate::config::scheme(&self.state.config),
                listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            ),
        };
        let notifier = tokio::spawn(crate::notify::run(
            self.state.clone(),
            crate::access::node(&self.state.config).to_owned(),
            base_url,
        ));
        // Push delivery to the systems whose registry entries ask for it (every node pushes;
        // leases keep two nodes from pushing one message at once).
        let pusher = match opensmev_delivery::Engine::new(
            Arc::clone(&self.state.bus),
            opensmev_delivery::Encoders {
                soap: opensmev_delivery::soap_encoder(),
                rest: opensmev_delivery::rest_encoder(opensmev_api::push_json),
            },
        ) {
            Ok(engine) => Some(tokio::spawn(engine.run())),
            Err(e) => {
                tracing::error!(error = %e, "no push delivery on this node");
                None
            }
        };
        let result = crate::serve::serve(listener, router, limits, tls, shutdown).await;
        if let Some(pusher) = pusher {
            pusher.abort();
        }
        notifier.abort();
        poller.abort();
        upkeep.abort();
        let _ = upkeep.await;
        // Another node takes the sweep over at once instead of after the claim runs out.
        let claim = held.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(claim) = claim {
            let _ = self.state.bus.release_upkeep(&claim).await;
        }
        Ok(result?)
    }
}

/// Every node's upkeep loop: every `sweep_interval_ms`, claim the sweep job (one node of all
/// holds it; the claim lasts five intervals, at least 5 s, so a dead node is replaced that soon)
/// and sweep when held. `held` keeps the current claim, for releasing it at shutdown.
async fn upkeep(state: Arc<State>, held: Arc<std::sync::Mutex<Option<opensmev_store::JobClaim>>>) {
    use opensmev_core::upkeep::Upkeep;
    let interval = std::time::Duration::from_millis(state.config.sweep_interval_ms);
    let ttl = time::Duration::try_from(interval * 5)
        .unwrap_or(time::Duration::seconds(5))
        .max(time::Duration::seconds(5));
    let node = crate::access::node(&state.config).to_owned();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_holder = false;
    loop {
        ticker.tick().await;
        let claim = match state.bus.upkeep(&node, ttl).await {
            Ok(Upkeep::Swept { claim, .. }) => {
                if !was_holder {
                    tracing::info!(fence = claim.fence, "this node now runs the sweep");
                }
                Some(claim)
            }
            Ok(Upkeep::Standby) => None,
            Ok(Upkeep::Lost) => {
                tracing::warn!(
                    "this node lost the sweep to another node (it stalled past its claim)"
                );
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "the sweep failed; trying again at the next interval");
                None
            }
        };
        was_holder = claim.is_some();
        *held.lock().unwrap_or_else(|e| e.into_inner()) = claim;
    }
}
