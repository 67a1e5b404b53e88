//! Test support for OpenSMEV (a dev-dependency only): the real server on port 0 with the demo
//! registry ([`TestBus`]); the checking SMEV client comes from `opensmev-client`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use opensmev_crypto::Certificate;
use opensmev_server::Application;
use opensmev_server::config::Config;
use opensmev_store::Store;
use opensmev_types::SchemaVersion;

pub mod postgres;
pub mod tls;

pub use opensmev_client::{
    Answer, RawAnswer, RequestParts, SOAP_NS, SmevClient, new_message_id, now_text,
};

/// A running server.
#[derive(Debug)]
pub struct TestBus {
    pub base: String,
    /// The server's origin, `http://127.0.0.1:<port>` (the integration API is under
    /// `<origin>/api/v1`).
    pub origin: String,
    /// The demo API tokens by holder: `admin`, `operator`, `auditor` and each demo IS.
    pub tokens: BTreeMap<String, String>,
    /// The demo cabinet accounts: login (`mfc01`, `pfr01`, `fns01`) → password.
    pub accounts: BTreeMap<String, String>,
    pub data_dir: PathBuf,
    pub demo_dir: PathBuf,
    pub smev_cert: Certificate,
    /// The server's store (to look at, or to plant what no client could send).
    pub store: Arc<dyn Store>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestBus {
    pub async fn start() -> TestBus {
        let dir = tempfile::tempdir().unwrap();
        let mut bus = TestBus::start_in(dir.path().to_owned(), |_| {}).await;
        bus._dir = Some(dir);
        bus
    }

    /// [`TestBus::start`] with the configuration changed by `tweak` (in a temporary data
    /// directory kept as long as the bus).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestBus {
        let dir = tempfile::tempdir().unwrap();
        let mut bus = TestBus::start_in(dir.path().to_owned(), tweak).await;
        bus._dir = Some(dir);
        bus
    }

    pub async fn start_in(data_dir: PathBuf, tweak: impl FnOnce(&mut Config)) -> TestBus {
        let mut config = Config {
            data_dir: data_dir.clone(),
            demo: true,
            lease_seconds: 2,
            ..Config::default()
        };
        tweak(&mut config);
        // `https` when the tweak configured TLS (`tls_cert`/`tls_key`).
        let scheme = opensmev_server::config::scheme(&config);
        let app = Application::build(config).await.expect("build");
        let demo_dir = app.demo().expect("demo").dir.clone();
        let store = app.bus().store().clone();
        let tokens = app
            .demo_tokens()
            .iter()
            .map(|t| (t.holder.clone(), t.secret.clone()))
            .collect();
        let accounts = app
            .demo_accounts()
            .iter()
            .map(|a| (a.login.clone(), a.password.clone()))
            .collect();
        let smev_cert =
            Certificate::from_pem(&std::fs::read(demo_dir.join("SMEV/cert.pem")).unwrap()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("{scheme}://{}", listener.local_addr().unwrap());
        let base = format!("{origin}/smev");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run(listener, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestBus {
            base,
            origin,
            tokens,
            accounts,
            data_dir,
            demo_dir,
            smev_cert,
            store,
            shutdown: Some(tx),
            task: Some(task),
            _dir: None,
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// A client of a demo IS.
    pub fn client(&self, mnemonic: &str, version: SchemaVersion) -> SmevClient {
        SmevClient::for_demo(&self.base, &self.demo_dir, mnemonic, version)
    }

    /// The demo API token of `holder` (`admin`, `operator`, `auditor`, or a demo IS mnemonic).
    pub fn token(&self, holder: &str) -> &str {
        self.tokens
            .get(holder)
            .unwrap_or_else(|| panic!("no demo token for {holder}"))
    }

    /// The URL of `path` (`/api/v1/…`, `/health/live`) on this server.
    /// Calls the integration API: `method` on `path` (from the origin, e.g. `/api/v1/requests`)
    /// with `token`, and a JSON body if given. The status and the JSON answer (`Null` when the
    /// body is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.origin))
            .bearer_auth(token)
            .timeout(std::time::Duration::from_secs(300));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let reply = request.send().await.expect("the API answers");
        let status = reply.status().as_u16();
        let bytes = reply.bytes().await.expect("the API's answer");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// [`TestBus::call`] that must succeed (2xx): the JSON answer.
    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let (status, value) = self.call(method, path, token, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {value}");
        value
    }

    /// `system` receives the next message of its `queue` (`requests` or `responses`) through the
    /// integration API and acknowledges it: the delivery's JSON, or `None` when none waits.
    pub async fn receive(&self, system: &str, queue: &str) -> Option<serde_json::Value> {
        let (status, got) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/inbox/{queue}/next"),
                self.token(system),
                None,
            )
            .await;
        match status {
            204 => None,
            200 => {
                let id = got["message_id"].as_str().expect("a MessageID");
                self.ok(
                    reqwest::Method::POST,
                    &format!("/api/v1/messages/{id}/ack"),
                    self.token(system),
                    Some(serde_json::json!({"accepted": true})),
                )
                .await;
                Some(got)
            }
            other => panic!("{system} {queue}: {other} {got}"),
        }
    }

    /// The id of the (first) kind of information `provider` provides, from the registry API.
    pub async fn kind_of(&self, provider: &str) -> String {
        let kinds = self
            .ok(
                reqwest::Method::GET,
                "/api/v1/registry/kinds",
                self.token("admin"),
                None,
            )
            .await;
        kinds
            .as_array()
            .and_then(|all| all.iter().find(|k| k["provider"] == provider))
            .and_then(|k| k["id"].as_str())
            .unwrap_or_else(|| panic!("no kind of {provider}: {kinds}"))
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    pub fn example(&self, vs: &str, name: &str) -> String {
        std::fs::read_to_string(self.demo_dir.join("examples").join(vs).join(name))
            .unwrap()
            .trim()
            .to_owned()
    }
}
