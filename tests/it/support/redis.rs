//! Redis for tests: the shared server named by `MANIFOLD_TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`), the Redis Cluster that
//! `scripts/fixtures/redis-cluster.sh` starts, a unique key prefix per test,
//! and private throw-away `redis-server` processes for outage tests.
//!
//! A test that needs Redis and cannot reach it FAILS with a message saying
//! what to start; it never skips. `scripts/test` starts a Redis when none
//! runs, and the cluster.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use manifold::session::State;

/// The test Redis: `MANIFOLD_TEST_REDIS_URL`, or `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("MANIFOLD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Panics with what to do when the test Redis cannot be used.
pub fn unreachable(url: &str, err: impl std::fmt::Display) -> ! {
    panic!(
        "the test Redis at {url} is not reachable: {err}\n\
         Start one (Debian: `apt-get install redis-server`), point MANIFOLD_TEST_REDIS_URL \
         at one, or run `scripts/test`, which starts one. Redis tests never skip."
    )
}

/// A state store on the test Redis with a fresh key prefix (`t:…:`), so
/// tests never see each other's keys. Panics if Redis is unreachable.
pub async fn fresh_redis(ttl: Duration) -> (State, String) {
    let url = redis_url();
    let prefix = format!("{}:", super::unique("t:"));
    match manifold::session::redis::connect(&url, prefix.clone(), ttl).await {
        Ok(state) => (state, prefix),
        Err(err) => unreachable(&url, format!("{err:#}")),
    }
}

/// The seed nodes of the test Redis Cluster as `redis://` URLs, from
/// `MANIFOLD_TEST_REDIS_CLUSTER_NODES` (`host:port,host:port,…`) or else the
/// node list `scripts/fixtures/redis-cluster.sh` wrote under the test cache.
/// Panics with what to run when there is neither.
pub fn cluster_nodes() -> Vec<String> {
    let file = super::python::test_cache().join("redis-cluster/nodes");
    let listed = std::env::var("MANIFOLD_TEST_REDIS_CLUSTER_NODES")
        .ok()
        .filter(|nodes| !nodes.trim().is_empty())
        .or_else(|| std::fs::read_to_string(&file).ok())
        .unwrap_or_else(|| {
            panic!(
                "no test Redis Cluster: MANIFOLD_TEST_REDIS_CLUSTER_NODES is unset and {} is missing.\n\
                 Run `scripts/fixtures/redis-cluster.sh` (or `scripts/test`, which runs it) to start one. \
                 Redis Cluster tests never skip.",
                file.display()
            )
        });
    listed
        .trim()
        .split(',')
        .filter(|node| !node.trim().is_empty())
        .map(|node| format!("redis://{}", node.trim()))
        .collect()
}

/// The test cluster as a `state.url`: `redis+cluster://host:port,host:port,…`.
pub fn cluster_url() -> String {
    let hosts: Vec<String> = cluster_nodes()
        .iter()
        .map(|node| node.trim_start_matches("redis://").to_owned())
        .collect();
    format!("redis+cluster://{}", hosts.join(","))
}

/// Panics with what to do when the test cluster cannot be used.
pub fn cluster_unreachable(err: impl std::fmt::Display) -> ! {
    panic!(
        "the test Redis Cluster at {:?} is not reachable: {err}\n\
         Run `scripts/fixtures/redis-cluster.sh` (it restarts a stopped cluster) or `scripts/test`. \
         Redis Cluster tests never skip.",
        cluster_nodes()
    )
}

/// A state store on the test Redis Cluster with a fresh key prefix.
pub async fn fresh_cluster(ttl: Duration) -> (State, String) {
    let nodes = cluster_nodes();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let prefix = format!("{}:", super::unique("t:"));
    match manifold::session::redis::connect_cluster(&nodes, prefix.clone(), ttl).await {
        Ok(state) => (state, prefix),
        Err(err) => cluster_unreachable(format!("{err:#}")),
    }
}

/// A plain connection to the test Redis Cluster, to look at raw keys.
pub async fn raw_cluster() -> redis::cluster_async::ClusterConnection {
    let client = redis::cluster::ClusterClient::new(cluster_nodes())
        .unwrap_or_else(|e| cluster_unreachable(e));
    client
        .get_async_connection()
        .await
        .unwrap_or_else(|e| cluster_unreachable(e))
}

/// A plain connection to the test Redis, to look at raw keys.
pub async fn raw() -> redis::aio::MultiplexedConnection {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).unwrap_or_else(|e| unreachable(&url, e));
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| unreachable(&url, e))
}

/// Every key matching `pattern`, by SCAN, sorted.
pub async fn scan_keys(conn: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("SCAN works");
        keys.extend(page);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    keys
}

/// A free TCP port on 127.0.0.1 (free when asked; fine for tests).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("a local address").port()
}

/// The `redis-server` binary: `MANIFOLD_TEST_REDIS_SERVER`, or from `PATH`.
fn redis_server_binary() -> PathBuf {
    std::env::var_os("MANIFOLD_TEST_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// A private `redis-server` on its own port, nothing saved to disk; killed
/// when dropped. [`Self::stop`] and [`Self::start_again`] simulate an outage.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for redis-server");
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
        };
        server.start_again();
        server
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port (after [`Self::stop`]).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let binary = redis_server_binary();
        let child = Command::new(&binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); install Debian's redis-server or set MANIFOLD_TEST_REDIS_SERVER",
                    binary.display()
                )
            });
        self.child = Some(child);
        self.wait_until_up();
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_until_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = self.url();
        loop {
            let answered = redis::Client::open(url.as_str())
                .and_then(|client| client.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn));
            if answered.is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "redis-server on port {} exited at start: {status}",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
