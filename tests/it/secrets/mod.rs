//! Replicas that share secrets safely, with the real `manifold` binary: two
//! `serve` processes on one catalog (a SQLite file, or a PostgreSQL database)
//! and what happens when their secrets keys differ ([`key_check`]), after
//! `manifold secrets rotate` ([`rotate`]), and the first admin key given in
//! `MANIFOLD_BOOTSTRAP_ADMIN_KEY` ([`bootstrap`]).
//!
//! Every test runs once per catalog backend. Each process runs in its own
//! folder, so each has its own `./data`, as two machines would.

mod bootstrap;
mod key_check;
mod rotate;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::db::{create_postgres_database, drop_postgres_database};
use crate::support::mcp::{call, mcp_client_over};

/// The variable of `secrets.encryption_key`.
pub(super) const KEY_VAR: &str = "MANIFOLD_SECRETS__ENCRYPTION_KEY";
/// The variable that gives the first admin key.
pub(super) const BOOTSTRAP_VAR: &str = "MANIFOLD_BOOTSTRAP_ADMIN_KEY";

/// Instantiates each listed scenario once per catalog backend.
macro_rules! per_backend {
    ($($module:ident::$test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let catalog = super::SharedCatalog::sqlite();
                    super::$module::$test(&catalog).await;
                    catalog.destroy().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let catalog = super::SharedCatalog::postgres().await;
                    super::$module::$test(&catalog).await;
                    catalog.destroy().await;
                }
            )*
        }
    };
}

per_backend!(
    key_check::a_replica_with_its_own_key_refuses_to_start_and_one_given_the_same_key_serves,
    rotate::after_a_rotation_replicas_given_the_new_key_read_and_connect_everything,
    bootstrap::the_bootstrap_admin_key_is_the_first_admin_on_every_replica_and_never_written,
);

// ------------------------------------------------------------------ catalog

/// One catalog that several processes share.
pub(super) struct SharedCatalog {
    pub url: String,
    /// The folder of the SQLite file (none for PostgreSQL).
    dir: Option<TempDir>,
}

impl SharedCatalog {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        Self {
            url: format!("sqlite://{}", dir.path().join("shared.db").display()),
            dir: Some(dir),
        }
    }

    async fn postgres() -> Self {
        Self {
            url: create_postgres_database().await,
            dir: None,
        }
    }

    /// The catalog opened in this test process with `keys` (`KEY[,KEY…]`).
    pub async fn open(&self, keys: &str) -> manifold::catalog::Catalog {
        let scratch = tempfile::tempdir().expect("a temporary folder");
        let cipher = manifold::secret::Cipher::load(keys, scratch.path()).expect("valid keys");
        let opened = if self.url.starts_with("sqlite:") {
            manifold::catalog::sqlite::connect(&self.url, 2, cipher).await
        } else {
            manifold::catalog::postgres::connect(&self.url, 2, cipher).await
        };
        opened.unwrap_or_else(|e| panic!("opening {}: {e:#}", self.url))
    }

    async fn destroy(self) {
        match self.dir {
            Some(dir) => dir.close().expect("removing the SQLite folder"),
            None => drop_postgres_database(&self.url).await,
        }
    }
}

// ------------------------------------------------------------------ keys

/// A new secrets key: base64 of 32 random bytes.
pub(super) fn new_key() -> String {
    let bytes: [u8; 32] = manifold::secret::random_bytes().expect("random bytes");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A new admin API key in the form `MANIFOLD_BOOTSTRAP_ADMIN_KEY` takes.
pub(super) fn new_admin_key() -> String {
    let bytes: [u8; 32] = manifold::secret::random_bytes().expect("random bytes");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("mfk_{hex}")
}

// ------------------------------------------------------------------ processes

/// A `manifold` command in `dir` with no `MANIFOLD_*` variable but `env`.
pub(super) fn manifold(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_manifold"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MANIFOLD_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs a `manifold` command to its end.
pub(super) fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    manifold(dir, args, env)
        .stdin(Stdio::null())
        .output()
        .expect("manifold runs")
}

/// A `manifold serve` that is listening.
#[derive(Debug)]
pub(super) struct Replica {
    child: Child,
    pub base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `manifold serve` that stopped before it listened.
#[derive(Debug)]
pub(super) struct Refused {
    pub code: Option<i32>,
    /// Every line it wrote to stderr (its log and its error).
    pub stderr: Vec<String>,
}

enum Started {
    Listening(String),
    Closed,
}

/// Starts `manifold serve` in `dir` on port 0 with `env` (and no other
/// `MANIFOLD_*` variable): the replica once it listens, or what it said
/// when it stopped first.
pub(super) fn start(dir: &Path, env: &[(&str, &str)]) -> Result<Replica, Refused> {
    let mut all = vec![("MANIFOLD_LISTEN", "127.0.0.1:0")];
    all.extend_from_slice(env);
    let mut child = manifold(dir, &["serve"], &all)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("manifold starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut listening = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
                eprintln!("[manifold] {line}");
            }
            if !listening && line.contains("manifold listening") {
                let addr = line
                    .split("addr=")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .map(str::to_owned);
                if let Some(addr) = addr {
                    listening = true;
                    let _ = tx.send(Started::Listening(addr));
                }
            }
            let _ = lines_tx.send(line);
        }
        let _ = tx.send(Started::Closed);
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Started::Listening(addr)) => Ok(Replica {
            child,
            base: format!("http://{addr}"),
        }),
        Ok(Started::Closed) => {
            let status = child.wait().expect("waited");
            Err(Refused {
                code: status.code(),
                stderr: lines_rx.try_iter().collect(),
            })
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "manifold neither listened nor stopped within 60 s: {:?}",
                lines_rx.try_iter().collect::<Vec<_>>()
            )
        }
    }
}

/// Every file under `dir`, however deep.
pub(super) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

// ------------------------------------------------------------------ HTTP

impl Replica {
    /// A request as `key`; the status and the JSON body (`Null` when empty).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `POST /api/v1/servers` of `body` as `key` must answer 201.
    pub async fn create_server(&self, key: &str, body: Value) -> Value {
        let (status, created) = self
            .send(Method::POST, "/api/v1/servers", key, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    /// `GET /api/v1/servers/{name}` must answer 200, its secrets shown as `***`.
    pub async fn read_server(&self, key: &str, name: &str) -> Value {
        let (status, server) = self
            .send(Method::GET, &format!("/api/v1/servers/{name}"), key, None)
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "GET {name} on {}: {server}",
            self.base
        );
        server
    }

    /// Connects `name` for `key`'s session; then its `whoami` tool through
    /// `/mcp` gives the HTTP headers the upstream received.
    pub async fn connect_and_whoami(&self, key: &str, name: &str) -> Value {
        let (status, body) = self
            .send(
                Method::POST,
                &format!("/api/v1/servers/{name}/connect"),
                key,
                Some(json!({})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "connect {name} on {}: {body}",
            self.base
        );
        assert_eq!(body["status"], "CONNECTED", "connect {name}: {body}");
        let client = mcp_client_over(
            reqwest::Client::new(),
            &format!("{}/mcp", self.base),
            Some(key),
        )
        .await;
        let result = client
            .call_tool(call(&format!("{name}__whoami"), json!({})))
            .await
            .unwrap_or_else(|e| panic!("{name}__whoami on {}: {e}", self.base));
        let _ = client.cancel().await;
        result.structured_content.unwrap_or_default()
    }
}

/// The line a refused start ends with: the only one that is not an INFO
/// log line (a generated key file, a PostgreSQL notice), starting `error:`.
pub(super) fn the_error_line(refused: &Refused) -> &str {
    let said: Vec<&String> = refused
        .stderr
        .iter()
        .filter(|l| !l.contains(" INFO "))
        .collect();
    let [line] = said.as_slice() else {
        panic!("one line besides INFO logs expected: {refused:?}")
    };
    assert!(line.starts_with("error: "), "{refused:?}");
    assert_eq!(
        refused.stderr.last(),
        Some(*line),
        "the error is the last line"
    );
    assert_eq!(refused.code, Some(1), "{refused:?}");
    line
}

/// The one line a refused start names the key in, and what it says to do.
pub(super) fn assert_refused_for_the_key(refused: &Refused, source: &str) {
    let line = the_error_line(refused);
    for needle in [
        "does not open the catalog's key check",
        "set secrets.encryption_key (MANIFOLD_SECRETS__ENCRYPTION_KEY) to the key the other \
         processes on this catalog use",
        source,
        "manifold secrets rotate --new-key",
    ] {
        assert!(line.contains(needle), "`{needle}` is not in: {line}");
    }
}
