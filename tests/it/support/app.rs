//! `spawn_app`: a real Manifold on 127.0.0.1:0 with its own data folder
//! (SQLite catalog inside it) and in-memory state, plus a reqwest client.

use manifold::Settings;
use manifold::principal::Role;
use manifold::state::AppState;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The bootstrap admin key, read back from `data_dir/admin.key`.
    pub admin_key: String,
    pub dir: TempDir,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts logging once when `TEST_LOG=1`.
pub fn init_test_log() {
    if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
        manifold::telemetry::init(&manifold::config::LogSettings {
            level: "debug".into(),
            ..Default::default()
        });
    }
}

/// Settings for a test: port 0, a fresh data folder, SQLite, memory state.
pub fn test_settings(dir: &TempDir) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        ..Settings::default()
    }
}

/// What [`replicas_with`] gives: two apps sharing one new PostgreSQL catalog
/// (`catalog_url`), one Redis with a fresh key `prefix` and one secret key.
pub struct Replicas {
    pub a: TestApp,
    pub b: TestApp,
    pub catalog_url: String,
    pub prefix: String,
}

/// Two replicas (see [`Replicas`]) named after `name`; `configure` adjusts
/// both after the shared settings.
pub async fn replicas_with(name: &str, configure: impl Fn(&mut Settings)) -> Replicas {
    let prefix = format!("{}:", crate::support::unique(name));
    let (_catalog, catalog_url) = crate::support::db::fresh_postgres().await;
    let settings = |s: &mut Settings| {
        s.catalog.url = manifold::secret::SecretUrl::new(catalog_url.clone());
        s.state.url = manifold::config::StateUrl::parse(&crate::support::redis::redis_url())
            .expect("a state URL");
        s.state.key_prefix = prefix.clone();
        s.secrets.encryption_key =
            manifold::secret::Secret::new("CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=".into());
        configure(s);
    };
    let a = spawn_app_with(settings).await;
    let b = spawn_app_with(settings).await;
    Replicas {
        a,
        b,
        catalog_url,
        prefix,
    }
}

/// A running app on SQLite + memory.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A running app after `configure` adjusted its settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    init_test_log();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(&dir);
    configure(&mut settings);
    let data_dir = settings.data_dir.clone();
    let app = manifold::Application::build(settings)
        .await
        .expect("application builds");
    let addr = app.local_addr().expect("bound address");
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    // Absent when the catalog already had keys (a second app on one database).
    let admin_key = std::fs::read_to_string(data_dir.join("admin.key"))
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        admin_key,
        dir,
        state,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// POSTs a JSON-RPC `body` to an MCP route (`/mcp`, `/mcp/s/{server}`)
    /// with the `Accept` header MCP requires, as `key` (none: no
    /// `Authorization`) and, when given, in MCP session `session`.
    pub async fn mcp_post(
        &self,
        path: &str,
        key: Option<&str>,
        session: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("Accept", "application/json, text/event-stream")
            .json(body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(session) = session {
            req = req.header("mcp-session-id", session);
        }
        req.send().await.expect("MCP request sent")
    }

    /// A fresh API key for `user` with the `user` role.
    pub async fn user_key(&self, user: &str) -> String {
        let (_, secret) = self
            .state
            .api_keys()
            .create(user, Role::User)
            .await
            .expect("key created");
        secret.expose().clone()
    }

    /// Sends a request with an optional bearer key and JSON body; returns
    /// the status and the body parsed as JSON (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(key), Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// `POST /api/v1/servers/{name}/{action}` (`connect` or `disconnect`) as `key`.
    pub async fn session_action(&self, action: &str, name: &str, key: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/api/v1/servers/{name}/{action}"),
            key,
            Value::Object(Default::default()),
        )
        .await
    }

    /// An upgrade request for `/graphql/ws` asking for `graphql-transport-ws`.
    pub fn graphql_ws_request(&self) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = self
            .url("/graphql/ws")
            .replace("http://", "ws://")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        request
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server ran cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The `error.code` of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}
