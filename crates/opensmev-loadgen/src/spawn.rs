//! `--spawn`: the real server in this process, on port 0, in demo mode with the benchmark
//! registry, on a runtime of its own.
//!
//! The server gets its own threads (a dedicated multi-thread tokio runtime named `smev-srv`,
//! owned by a plain thread) rather than sharing the load generator's runtime, so that the two do
//! not steal each other's workers in ways a separate process would not, and so that its CPU time
//! can be read per thread from `/proc/self/task` (see `sysinfo`).
//!
//! Demo mode also holds the demo systems' keys in the server's key directory (so the integration
//! API signs as MFC01 and PFR01 with the very keys their SOAP clients use) and makes the demo API
//! tokens, which `--rest` takes from [`SpawnedServer::token_of`].

use std::path::{Path, PathBuf};

use opensmev_server::Application;
use opensmev_server::config::Config;

use crate::LoadError;
use crate::workload::bench_registry;

/// A running in-process server.
#[derive(Debug)]
pub(crate) struct SpawnedServer {
    /// `http://127.0.0.1:PORT/smev`.
    pub(crate) base: String,
    /// `<data_dir>/demo`.
    pub(crate) demo_dir: PathBuf,
    /// The demo API tokens: holder (`admin`, an IS mnemonic…) and secret.
    tokens: Vec<(String, String)>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    _dir: Option<tempfile::TempDir>,
}

/// Writes the demo keys (if missing) and the benchmark registry under `data_dir`; returns the
/// registry's path.
pub fn write_bench_registry(data_dir: &Path) -> Result<PathBuf, LoadError> {
    let demo =
        opensmev_server::demo::prepare(data_dir).map_err(|e| LoadError::Setup(e.to_string()))?;
    let text = bench_registry(&demo.dir)?;
    let path = demo.dir.join("bench-registry.toml");
    std::fs::write(&path, text)
        .map_err(|e| LoadError::Setup(format!("{}: {e}", path.display())))?;
    Ok(path)
}

impl SpawnedServer {
    /// Starts the server in `data_dir` (a temporary directory when `None`) on `threads` worker
    /// threads, holding polls of empty queues up to `poll_wait`.
    pub(crate) async fn start(
        data_dir: Option<PathBuf>,
        threads: usize,
        poll_wait: std::time::Duration,
    ) -> Result<SpawnedServer, LoadError> {
        let (dir, data_dir) = match data_dir {
            Some(d) => (None, d),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("opensmev-load-")
                    .tempdir()
                    .map_err(|e| LoadError::Setup(format!("temporary directory: {e}")))?;
                let path = dir.path().to_owned();
                (Some(dir), path)
            }
        };
        let registry = write_bench_registry(&data_dir)?;
        let config = Config {
            data_dir: data_dir.clone(),
            demo: true,
            registry_file: Some(registry),
            lease_seconds: 30,
            poll_wait_ms: u64::try_from(poll_wait.as_millis()).unwrap_or(u64::MAX),
            ..Config::default()
        };
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<
            Result<(String, PathBuf, Vec<(String, String)>), String>,
        >();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("smev-srv-main".to_owned())
            .spawn(move || -> Result<(), String> {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads.max(1))
                    .thread_name("smev-srv")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("server runtime: {e}"))?;
                runtime.block_on(async move {
                    let started = async {
                        let app = Application::build(config)
                            .await
                            .map_err(|e| e.to_string())?;
                        let demo_dir = app
                            .demo()
                            .map(|d| d.dir.clone())
                            .ok_or_else(|| "demo mode did not set up".to_owned())?;
                        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                            .await
                            .map_err(|e| format!("binding: {e}"))?;
                        let addr = listener.local_addr().map_err(|e| e.to_string())?;
                        let tokens = app
                            .demo_tokens()
                            .iter()
                            .map(|t| (t.holder.clone(), t.secret.clone()))
                            .collect();
                        Ok::<_, String>((
                            app,
                            listener,
                            format!("http://{addr}/smev"),
                            demo_dir,
                            tokens,
                        ))
                    };
                    match started.await {
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.clone()));
                            Err(e)
                        }
                        Ok((app, listener, base, demo_dir, tokens)) => {
                            let _ = ready_tx.send(Ok((base, demo_dir, tokens)));
                            app.run(listener, async move {
                                let _ = stop_rx.await;
                            })
                            .await
                            .map_err(|e| e.to_string())
                        }
                    }
                })
            })
            .map_err(|e| LoadError::Setup(format!("server thread: {e}")))?;
        let (base, demo_dir, tokens) = ready_rx
            .await
            .map_err(|_| LoadError::Setup("the server thread stopped".into()))?
            .map_err(|e| LoadError::Setup(format!("starting the server: {e}")))?;
        Ok(SpawnedServer {
            base,
            demo_dir,
            tokens,
            shutdown: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// The demo API token of `holder` (an IS mnemonic of the demo: role `is`).
    pub(crate) fn token_of(&self, holder: &str) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(h, _)| h == holder)
            .map(|(_, secret)| secret.as_str())
    }

    /// Stops the server and waits for its thread.
    pub(crate) async fn stop(mut self) -> Result<(), LoadError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let joined = tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| LoadError::Setup(format!("joining the server: {e}")))?;
            match joined {
                Ok(result) => result.map_err(LoadError::Setup)?,
                Err(_) => return Err(LoadError::Setup("the server thread panicked".into())),
            }
        }
        Ok(())
    }
}
