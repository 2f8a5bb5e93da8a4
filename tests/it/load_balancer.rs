//! Two real `manifold serve` replicas sharing PostgreSQL and Redis behind a
//! real HAProxy (round robin, no stickiness, `/readyz` health checks):
//! one MCP session's calls spread over both, a change made through one
//! reaches a GET stream held on the other (with the state on one Redis, and
//! again on a Redis Cluster), a drained replica loses no call, and a killed
//! one fails only the calls it held.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::operations::{Served, serve};
use crate::support::db::{create_postgres_database, drop_postgres_database};
use crate::support::mcp::exchange;
use crate::support::redis::{cluster_url, free_port, redis_url};
use crate::support::unique;
use crate::support::upstreams::FixtureHttp;

/// The encryption key both replicas share.
const KEY: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
const V: &str = "2025-11-25";

/// HAProxy in front of `backends`, killed on drop.
struct Haproxy {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Haproxy {
    fn start(backends: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("  server r{i} {addr} check\n"))
            .collect();
        // Per-request round robin; a refused connection is retried on the
        // other replica; `/readyz` is checked every 200 ms. Server-side
        // connections are not reused, so a killed replica fails only the
        // requests it holds (a reused connection to it would fail one more).
        let config = format!(
            "global\n  maxconn 2000\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  timeout server 60s\n\
             \x20 option redispatch\n  retries 2\n  option http-server-close\n\
             frontend mcp\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
             backend replicas\n  balance roundrobin\n  option httpchk GET /readyz\n\
             \x20 http-check expect status 200\n  default-server inter 200ms fall 2 rise 2\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("config written");
        let check = Command::new("haproxy")
            .args(["-c", "-q", "-f"])
            .arg(&path)
            .status()
            .expect("haproxy runs (scripts/fixtures/haproxy.sh installs it)");
        assert!(check.success(), "haproxy refused its configuration");
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "haproxy did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two replicas on one database and one Redis prefix, behind HAProxy.
struct Cluster {
    a: Served,
    b: Served,
    lb: Haproxy,
    admin: String,
    http: reqwest::Client,
    database: String,
    _dirs: (TempDir, TempDir),
}

impl Cluster {
    /// The replicas with their state on the test Redis.
    async fn start() -> Self {
        Self::start_with_state(redis_url()).await
    }

    /// The replicas with their state at `state_url` (`state.url`).
    async fn start_with_state(state_url: String) -> Self {
        let database = create_postgres_database().await;
        let prefix = format!("{}:", unique("lb"));
        let env = |database: &str| {
            vec![
                ("MANIFOLD_CATALOG__URL", database.to_owned()),
                ("MANIFOLD_STATE__URL", state_url.clone()),
                ("MANIFOLD_STATE__KEY_PREFIX", prefix.clone()),
                ("MANIFOLD_SECRETS__ENCRYPTION_KEY", KEY.to_owned()),
                ("MANIFOLD_HTTP__DRAIN_DELAY_SECONDS", "1".to_owned()),
                ("MANIFOLD_HTTP__SHUTDOWN_GRACE_SECONDS", "10".to_owned()),
                // The load here is about failover, not the per-process rate
                // limit (which one replica alone would hit at 100/s).
                ("MANIFOLD_LIMITS__ADMIN_PER_SECOND", "0".to_owned()),
            ]
        };
        let owned = env(&database);
        let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let dir_a = tempfile::tempdir().expect("a temp dir");
        let dir_b = tempfile::tempdir().expect("a temp dir");
        // A first, so it writes the first admin key; B finds keys there.
        let a = serve(dir_a.path(), &pairs);
        let b = serve(dir_b.path(), &pairs);
        let admin = Served::admin_key(dir_a.path());
        let lb = Haproxy::start(&[&a.addr, &b.addr]);
        let http = reqwest::Client::new();
        let cluster = Self {
            a,
            b,
            lb,
            admin,
            http,
            database,
            _dirs: (dir_a, dir_b),
        };
        cluster.wait_both_up().await;
        cluster
    }

    /// Waits until HAProxy sends requests to both replicas.
    async fn wait_both_up(&self) {
        let started = Instant::now();
        loop {
            if self.both_ready().await {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "replicas not ready"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn both_ready(&self) -> bool {
        for base in [&self.a.base, &self.b.base] {
            match self.http.get(format!("{base}/readyz")).send().await {
                Ok(r) if r.status() == 200 => {}
                _ => return false,
            }
        }
        // Two health checks at 200 ms.
        tokio::time::sleep(Duration::from_millis(600)).await;
        true
    }

    fn rest(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.lb.url(&format!("/api/v1{path}")))
            .bearer_auth(&self.admin)
    }

    /// A POST of `body` to `/mcp` through the balancer.
    fn mcp(&self, session: Option<&str>, body: &Value) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(self.lb.url("/mcp"))
            .bearer_auth(&self.admin)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(session) = session {
            req = req
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", V);
        }
        req
    }

    /// Adds a public fixture server `name` at `url` and connects it.
    async fn add_and_connect(&self, name: &str, url: &str) {
        let created = self
            .rest(reqwest::Method::POST, "/servers")
            .json(&json!({"name": name, "transport": "streamable_http", "url": url, "is_public": true}))
            .send()
            .await
            .expect("sent");
        assert_eq!(
            created.status(),
            201,
            "{}",
            created.text().await.unwrap_or_default()
        );
        self.connect(name).await;
    }

    async fn connect(&self, name: &str) {
        let connected = self
            .rest(reqwest::Method::POST, &format!("/servers/{name}/connect"))
            .send()
            .await
            .expect("sent");
        assert_eq!(
            connected.status(),
            200,
            "{}",
            connected.text().await.unwrap_or_default()
        );
    }

    /// An initialized MCP session through the balancer.
    async fn session(&self) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "lb-test", "version": "1"}}});
        let (status, session, answer) = exchange(self.mcp(None, &init)).await;
        assert_eq!(status, 200, "{answer}");
        let session = session.expect("a session id");
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = self.mcp(Some(&session), &done).send().await.expect("sent");
        assert_eq!(response.status(), 202);
        session
    }

    /// One `echo` call in `session`: whether it answered the text.
    async fn call(&self, session: &str, id: u64, tool: &str) -> bool {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {"text": format!("call {id}")}}});
        let sent = self.mcp(Some(session), &body).send().await;
        let Ok(response) = sent else { return false };
        if response.status() != 200 {
            // Why it failed, for the test's output.
            eprintln!(
                "call {id}: HTTP {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
            return false;
        }
        let text = response.text().await.unwrap_or_default();
        text.contains(&format!("call {id}")) && !text.contains("\"error\"")
    }

    /// `tools/call` requests with outcome `ok` that `base` served.
    async fn calls_served(&self, base: &str) -> f64 {
        let text = self
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("scraped")
            .text()
            .await
            .expect("a body");
        text.lines()
            .find(|l| {
                l.starts_with("manifold_mcp_requests_total{")
                    && l.contains("method=\"tools/call\"")
                    && l.contains("outcome=\"ok\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    async fn stop(self) {
        let database = self.database.clone();
        drop(self);
        drop_postgres_database(&database).await;
    }
}

/// Whether the exit of `served` is a clean one.
fn exited_cleanly(served: &mut Served, limit: Duration) -> bool {
    served
        .wait_exit(limit)
        .is_some_and(|(status, _)| status.success())
}

#[tokio::test]
async fn one_session_spreads_over_both_replicas_and_hears_changes_made_on_either() {
    spreads_and_hears_changes(redis_url()).await;
}

#[tokio::test]
async fn the_same_holds_with_the_state_store_on_a_redis_cluster() {
    spreads_and_hears_changes(cluster_url()).await;
}

/// One MCP session through the balancer: 200 calls spread over both
/// replicas, and a GET stream on one hears a connect made through either,
/// with the replicas' state at `state_url`.
async fn spreads_and_hears_changes(state_url: String) {
    let fixture = FixtureHttp::start();
    let other = FixtureHttp::start();
    let cluster = Cluster::start_with_state(state_url).await;
    cluster.add_and_connect("lbfix", &fixture.url()).await;
    let session = cluster.session().await;

    let mut ok = 0;
    for id in 1..=200 {
        if cluster.call(&session, id, "lbfix__echo").await {
            ok += 1;
        }
    }
    assert_eq!(ok, 200, "every call through the balancer answered");
    let (on_a, on_b) = (
        cluster.calls_served(&cluster.a.base).await,
        cluster.calls_served(&cluster.b.base).await,
    );
    assert!(
        on_a >= 50.0 && on_b >= 50.0,
        "both replicas served calls: {on_a} + {on_b}"
    );
    assert!(on_a + on_b >= 200.0);

    // A GET stream held through the balancer (on one replica) hears a
    // connect that the balancer sends to either.
    cluster
        .rest(reqwest::Method::POST, "/servers")
        .json(&json!({"name": "lbother", "transport": "streamable_http", "url": other.url(), "is_public": true}))
        .send()
        .await
        .expect("sent");
    let stream = cluster
        .http
        .get(cluster.lb.url("/mcp"))
        .bearer_auth(&cluster.admin)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", V)
        .send()
        .await
        .expect("a GET stream");
    assert_eq!(stream.status(), 200);
    let mut bytes = stream.bytes_stream();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    cluster.connect("lbother").await;
    let heard = tokio::time::timeout(Duration::from_secs(1), async {
        let mut seen = String::new();
        while let Some(Ok(chunk)) = bytes.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("notifications/tools/list_changed") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(heard, Ok(true), "list_changed within 1 s of the connect");
    eprintln!(
        "list_changed through the balancer after {:?}",
        asked.elapsed()
    );
    cluster.stop().await;
}

/// Calls `tool` in `session` from `workers` tasks until `stop`; counts
/// answers and failures, and the failures after `stop_failing_after`.
async fn load(
    cluster: Arc<Cluster>,
    session: String,
    tool: &'static str,
    workers: usize,
    stop: Arc<AtomicBool>,
) -> (usize, Vec<Instant>) {
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let next = Arc::new(AtomicUsize::new(1000));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (cluster, session, stop) = (cluster.clone(), session.clone(), stop.clone());
            let (ok, failures, next) = (ok.clone(), failures.clone(), next.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let id = next.fetch_add(1, Ordering::SeqCst) as u64;
                    if cluster.call(&session, id, tool).await {
                        ok.fetch_add(1, Ordering::SeqCst);
                    } else if let Ok(mut f) = failures.lock() {
                        f.push(Instant::now());
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a load task");
    }
    let failures = failures.lock().map(|f| f.clone()).unwrap_or_default();
    (ok.load(Ordering::SeqCst), failures)
}

#[tokio::test]
async fn a_drained_replica_loses_no_call() {
    let fixture = FixtureHttp::start();
    let cluster = Cluster::start().await;
    cluster.add_and_connect("lbload", &fixture.url()).await;
    let session = cluster.session().await;
    let cluster = Arc::new(cluster);

    // SIGTERM replica A under a steady load: /readyz turns 503, the calls
    // it holds complete, later ones go to B.
    let stop = Arc::new(AtomicBool::new(false));
    let running = tokio::spawn(load(
        cluster.clone(),
        session.clone(),
        "lbload__echo",
        4,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.a.signal("TERM");
    // The signal is handled within milliseconds.
    let signalled = Instant::now();
    let mut ready = None;
    while signalled.elapsed() < Duration::from_millis(500) {
        ready = cluster
            .http
            .get(format!("{}/readyz", cluster.a.base))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok();
        if ready == Some(503) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ready, Some(503), "readyz is 503 while draining");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let (ok, failures) = running.await.expect("the load");
    assert!(ok > 20, "the load ran: {ok}");
    assert!(
        failures.is_empty(),
        "{} calls failed during the drain",
        failures.len()
    );

    let mut cluster = Arc::into_inner(cluster).expect("the load ended");
    assert!(
        exited_cleanly(&mut cluster.a, Duration::from_secs(15)),
        "A exited 0:\n{}",
        cluster.a.log()
    );
    cluster.stop().await;
}

#[tokio::test]
async fn a_killed_replica_fails_only_the_calls_in_flight_on_it() {
    let fixture = FixtureHttp::start();
    let cluster = Cluster::start().await;
    cluster.add_and_connect("lbkill", &fixture.url()).await;
    let session = cluster.session().await;
    let cluster = Arc::new(cluster);
    let workers = 4;
    let stop = Arc::new(AtomicBool::new(false));
    let running = tokio::spawn(load(
        cluster.clone(),
        session.clone(),
        "lbkill__echo",
        workers,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    cluster.b.signal("KILL");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let (ok, failures) = running.await.expect("the load");
    assert!(ok > 20, "the load ran: {ok}");
    assert!(
        failures.len() <= workers,
        "only calls in flight on the killed replica fail: {} failed",
        failures.len()
    );
    for failed in &failures {
        assert!(
            failed.duration_since(killed_at) < Duration::from_secs(1),
            "a call failed {:?} after the kill",
            failed.duration_since(killed_at)
        );
    }
    // The client's next requests succeed on the other replica.
    for id in 1..=20 {
        assert!(
            cluster.call(&session, id, "lbkill__echo").await,
            "call {id} after the kill"
        );
    }
    let cluster = Arc::into_inner(cluster).expect("the load ended");
    cluster.stop().await;
}
