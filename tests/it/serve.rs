//! The `manifold` binary itself: zero-config start in an empty folder, the
//! key commands, `config check` and `migrate`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

/// A `manifold` command in `dir` with no MANIFOLD_* variables but `env`.
pub fn manifold(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_manifold"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MANIFOLD_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// A running `manifold serve` and the address it bound.
pub struct Served {
    pub child: Child,
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `manifold serve` on port 0 and waits for its "listening" log line.
pub fn serve(dir: &Path, env: &[(&str, &str)]) -> Served {
    let mut all = vec![("MANIFOLD_LISTEN", "127.0.0.1:0")];
    all.extend_from_slice(env);
    let mut child = manifold(dir, &["serve"], &all)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("manifold starts");
    let stderr = child.stderr.take().expect("stderr");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = lines.clone();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && line.contains("manifold listening") {
                // Text: `addr=127.0.0.1:PORT`; JSON: `"addr":"127.0.0.1:PORT"`.
                let addr = line
                    .split("addr=")
                    .nth(1)
                    .or_else(|| line.split("\"addr\":\"").nth(1))
                    .and_then(|rest| rest.split([' ', '"']).next());
                if let Some(addr) = addr {
                    let _ = tx.send(addr.to_owned());
                    sent = true;
                }
            }
            if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
                eprintln!("[manifold] {line}");
            }
            if let Ok(mut all) = kept.lock() {
                all.push(line);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("manifold printed its listening address");
    Served {
        child,
        base: format!("http://{addr}"),
        lines,
    }
}

impl Served {
    /// The log lines printed so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// The status of a GET of `path` on `served`.
async fn status(client: &reqwest::Client, served: &Served, path: &str) -> StatusCode {
    client
        .get(format!("{}{path}", served.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .status()
}

/// Sends SIGTERM and waits; returns whether the process exited cleanly.
pub fn terminate(mut served: Served) -> bool {
    let pid = served.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = served.child.wait().expect("waited");
    status.success()
}

#[tokio::test]
async fn serve_in_an_empty_folder_creates_its_data_and_answers() {
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(dir.path(), &[]);
    let client = reqwest::Client::new();
    assert_eq!(status(&client, &served, "/healthz").await, StatusCode::OK);
    assert_eq!(status(&client, &served, "/readyz").await, StatusCode::OK);
    // The admin page and its entry script, with no configuration and no key.
    let page = client.get(&served.base).send().await.expect("GET /");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.expect("page body");
    assert!(html.contains("<title>Manifold"), "{html}");
    assert!(html.contains("/ui/app.js"), "{html}");
    let script = client
        .get(format!("{}/ui/app.js", served.base))
        .send()
        .await
        .expect("GET /ui/app.js");
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(dir.path().join("data/manifold.db").is_file());
    let key_file = dir.path().join("data/admin.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("admin.key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = std::fs::read_to_string(&key_file)
        .expect("key")
        .trim()
        .to_owned();
    assert!(key.starts_with("mfk_") && key.len() >= 40);
    let create = |body: Value, key: Option<String>| {
        let mut req = client
            .post(format!("{}/api/v1/categories", served.base))
            .json(&body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
    };
    let body = json!({"name": "Productivity", "icon": "🚀", "color": "#4CAF50"});
    let resp = create(body.clone(), Some(key.clone()))
        .await
        .expect("create");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cat: Value = resp.json().await.expect("json");
    assert!(cat["id"].as_str().is_some_and(|id| id.starts_with("ctg_")));
    assert_eq!(
        create(body, Some(key.clone()))
            .await
            .expect("again")
            .status(),
        StatusCode::CONFLICT
    );
    let resp = create(json!({"name": "X", "color": "green!"}), Some(key.clone()))
        .await
        .expect("bad colour");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = resp.json().await.expect("json");
    assert_eq!(err["error"]["field"], "color");
    assert_eq!(
        create(json!({"name": "Y"}), None)
            .await
            .expect("no key")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(terminate(served), "SIGTERM shuts down cleanly");

    // A restart keeps the catalog and does not mint another admin key.
    let served = serve(dir.path(), &[]);
    assert_eq!(std::fs::read_to_string(&key_file).expect("key").trim(), key);
    let list: Value = client
        .get(format!("{}/api/v1/categories", served.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"][0]["name"], "Productivity");
}

#[tokio::test]
async fn serve_runs_its_work_on_the_configured_number_of_threads() {
    let dir = tempfile::tempdir().expect("dir");
    let client = reqwest::Client::new();
    // 3 on a 2-CPU machine: the setting, not the CPU count, decides.
    for threads in ["1", "3"] {
        let served = serve(dir.path(), &[("MANIFOLD_WORKER_THREADS", threads)]);
        assert_eq!(status(&client, &served, "/healthz").await, StatusCode::OK);
        let log = served.log();
        let listening = log
            .iter()
            .find(|line| line.contains("manifold listening"))
            .expect("the listening line");
        assert!(
            listening.contains(&format!("worker_threads={threads}")),
            "{listening}"
        );
        assert!(terminate(served), "SIGTERM shuts down cleanly");
    }
}

#[test]
fn key_commands_create_list_and_revoke() {
    let dir = tempfile::tempdir().expect("dir");
    let out = manifold(dir.path(), &["keys", "create", "--user", "bob"], &[])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    assert!(key.starts_with("mfk_"), "stdout is the key alone: {key}");
    let list = manifold(dir.path(), &["keys", "list"], &[])
        .output()
        .expect("run");
    let text = String::from_utf8(list.stdout).expect("utf8");
    assert!(!text.contains(&key), "list never shows a key");
    let line = text
        .lines()
        .find(|l| l.contains(" bob "))
        .expect("bob listed");
    assert!(line.contains("user") && line.ends_with("active"), "{line}");
    let id = line.split_whitespace().next().expect("id");
    let revoke = manifold(dir.path(), &["keys", "revoke", id], &[])
        .output()
        .expect("run");
    assert!(revoke.status.success());
    let text = String::from_utf8(
        manifold(dir.path(), &["keys", "list"], &[])
            .output()
            .expect("run")
            .stdout,
    )
    .expect("utf8");
    assert!(
        text.lines()
            .any(|l| l.starts_with(id) && l.ends_with("revoked")),
        "{text}"
    );
    let again = manifold(dir.path(), &["keys", "revoke", id], &[])
        .output()
        .expect("run");
    assert!(!again.status.success(), "revoking twice fails");
    let admin = manifold(
        dir.path(),
        &["keys", "create", "--user", "root", "--admin"],
        &[],
    )
    .output()
    .expect("run");
    assert!(String::from_utf8_lossy(&admin.stderr).contains("(admin)"));
}

#[test]
fn config_check_reports_a_bad_value_in_one_line_naming_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let ok = manifold(dir.path(), &["config", "check"], &[])
        .output()
        .expect("run");
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("listen = \"127.0.0.1:8080\""));
    let bad = manifold(
        dir.path(),
        &["config", "check"],
        &[("MANIFOLD_STATE__TTL_SECONDS", "soon")],
    )
    .output()
    .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8(bad.stderr).expect("utf8");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("state.ttl_seconds"), "{err}");
    let serve = manifold(
        dir.path(),
        &["serve"],
        &[("MANIFOLD_STATE__URL", "memcached://x")],
    )
    .output()
    .expect("run");
    assert_eq!(serve.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&serve.stderr).contains("state.url"));
    assert!(
        !dir.path().join("data").exists(),
        "a refused config touches nothing"
    );
}

#[test]
fn migrate_is_idempotent() {
    let dir = tempfile::tempdir().expect("dir");
    for _ in 0..2 {
        let out = manifold(dir.path(), &["migrate"], &[])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.path().join("data/manifold.db").is_file());
}

#[tokio::test]
async fn serve_on_postgres_and_redis_reports_a_redis_outage_and_recovers() {
    let (_catalog, pg_url) = crate::support::db::fresh_postgres().await;
    let mut redis = crate::support::redis::RedisServer::start();
    let redis_url = redis.url();
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(
        dir.path(),
        &[
            ("MANIFOLD_CATALOG__URL", &pg_url),
            ("MANIFOLD_STATE__URL", &redis_url),
            ("MANIFOLD_STATE__KEY_PREFIX", "serve-test:"),
        ],
    );
    assert!(
        !dir.path().join("data/manifold.db").exists(),
        "no SQLite file when the catalog is PostgreSQL"
    );
    let key = std::fs::read_to_string(dir.path().join("data/admin.key"))
        .expect("admin key")
        .trim()
        .to_owned();
    let client = reqwest::Client::new();
    let ready = |client: &reqwest::Client| {
        let url = format!("{}/readyz", served.base);
        let client = client.clone();
        async move {
            let resp = client.get(url).send().await.expect("readyz");
            let status = resp.status();
            (status, resp.json::<Value>().await.expect("json"))
        }
    };
    assert_eq!(ready(&client).await.0, StatusCode::OK);
    let resp = client
        .post(format!("{}/api/v1/categories", served.base))
        .bearer_auth(&key)
        .json(&json!({"name": "Productivity", "icon": "🚀", "color": "#4CAF50"}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), StatusCode::CREATED);

    redis.stop();
    let (status, body) = ready(&client).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["catalog"], "ok");
    assert_ne!(body["checks"]["state"], "ok");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("state store")),
        "{body}"
    );

    redis.start_again();
    let mut last = (StatusCode::SERVICE_UNAVAILABLE, Value::Null);
    for _ in 0..50 {
        last = ready(&client).await;
        if last.0 == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        last.0,
        StatusCode::OK,
        "ready again without a restart: {}",
        last.1
    );
    assert!(terminate(served));
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_never_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(dir.path(), &[("MANIFOLD_LOG__FORMAT", "json")]);
    let key = std::fs::read_to_string(dir.path().join("data/admin.key"))
        .expect("key")
        .trim()
        .to_owned();
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/nope", served.base))
        .bearer_auth(&key)
        .header("x-request-id", "req-json-1")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let mut traced = Vec::new();
    for _ in 0..50 {
        traced = served
            .log()
            .into_iter()
            .filter(|l| l.contains("req-json-1"))
            .collect();
        if !traced.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!traced.is_empty(), "a log line names the request id");
    for line in served.log() {
        let parsed: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(parsed["level"].is_string(), "{line}");
        assert!(!line.contains(&key), "the key never reaches the log");
    }
}
