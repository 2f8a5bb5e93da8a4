//! The gateway's own cost: `tools/list` p50 for a session with 10 servers ×
//! 50 tools, and `tools/call` p50 and throughput straight to a fast upstream
//! versus through `/mcp`, at 1 and 32 concurrent clients, in one run.
//!
//! Run: `cargo bench --bench gateway`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use manifold::principal::Role;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

const SERVERS: usize = 10;
const CONCURRENT: usize = 32;
/// Under `cargo test` (a debug build) the bench only proves it runs.
const SCALE: usize = if cfg!(debug_assertions) { 10 } else { 1 };
const LIST_ROUNDS: usize = 200 / SCALE;
const CALLS: usize = 500 / SCALE;
const PER_CLIENT: usize = 100 / SCALE;

struct Fixture(Child, String);

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fixture(extra_tools: usize) -> Fixture {
    fixture_paged(extra_tools, 50)
}

fn fixture_paged(extra_tools: usize, page_size: usize) -> Fixture {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-fixture"))
        .args(["--transport", "streamable-http", "--port", "0"])
        .env("FIXTURE_TOOL_COUNT", extra_tools.to_string())
        .env("FIXTURE_PAGE_SIZE", page_size.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fixture starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("LISTENING line");
    let addr = line.trim().trim_start_matches("LISTENING ").to_owned();
    Fixture(child, format!("http://{addr}/mcp"))
}

async fn client(url: &str, key: Option<&str>) -> RunningService<RoleClient, ()> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(key) = key {
        config = config.auth_header(key);
    }
    ().serve(StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        config,
    ))
    .await
    .expect("MCP handshake")
}

fn echo(name: &str) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_owned()).with_arguments(serde_json::Map::from_iter([(
        "text".to_owned(),
        json!("ping"),
    )]))
}

fn p50(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

async fn sequential(client: &RunningService<RoleClient, ()>, tool: &str) -> f64 {
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        client.call_tool(echo(tool)).await.expect("call");
        times.push(started.elapsed());
    }
    p50(times)
}

async fn throughput(url: &str, key: Option<&str>, tool: &str) -> f64 {
    let mut clients = Vec::new();
    for _ in 0..CONCURRENT {
        clients.push(Arc::new(client(url, key).await));
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .map(|c| {
            let (c, tool) = (c.clone(), tool.to_owned());
            tokio::spawn(async move {
                for _ in 0..PER_CLIENT {
                    c.call_tool(echo(&tool)).await.expect("call");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("joined");
    }
    (CONCURRENT * PER_CLIENT) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let settings = manifold::Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        // Measure the gateway, not the default per-user rate limit (still checked).
        limits: manifold::config::LimitsSettings {
            user_per_second: 1_000_000,
            user_burst: 1_000_000,
            mcp_per_second: 1_000_000,
            mcp_burst: 1_000_000,
            ..Default::default()
        },
        ..manifold::Settings::default()
    };
    let app = manifold::Application::build(settings).await.expect("app");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let (_, admin) = state
        .api_keys()
        .create("bench-admin", Role::Admin)
        .await
        .expect("key");
    let admin = state
        .api_keys()
        .authenticate(admin.expose())
        .await
        .expect("admin");
    let (_, key) = state
        .api_keys()
        .create("bench", Role::User)
        .await
        .expect("key");
    let key = key.expose().clone();
    let user = state.api_keys().authenticate(&key).await.expect("user");

    let fixtures: Vec<Fixture> = (0..SERVERS).map(|_| fixture(43)).collect();
    for (i, f) in fixtures.iter().enumerate() {
        let input = manifold::catalog::input::NewServer {
            name: format!("s{i}"),
            transport: "streamable_http".into(),
            url: Some(f.1.clone()),
            is_public: true,
            ..Default::default()
        };
        state
            .catalog()
            .create_server(&admin, input)
            .await
            .expect("server");
        state
            .sessions()
            .connect(&user, &format!("s{i}"))
            .await
            .expect("connect");
    }
    let mcp_url = format!("{base}/mcp");
    let gateway = client(&mcp_url, Some(&key)).await;
    let mut list_times = Vec::with_capacity(LIST_ROUNDS);
    for _ in 0..LIST_ROUNDS {
        let started = Instant::now();
        let page = gateway.list_tools(None).await.expect("tools/list");
        list_times.push(started.elapsed());
        assert_eq!(page.tools.len(), SERVERS * 50);
    }
    if cfg!(debug_assertions) {
        println!(
            "(debug build, as under `cargo test`: run `cargo bench --bench gateway` for real numbers)"
        );
    }
    println!(
        "tools/list, {SERVERS} servers x 50 tools, {LIST_ROUNDS} rounds: p50 {:.3} ms",
        p50(list_times)
    );
    // The same 500 tools straight from one upstream: what the client's own
    // HTTP round trip and parsing of a 500-tool answer cost.
    let big = fixture_paged(SERVERS * 50 - 7, SERVERS * 50);
    let big_client = client(&big.1, None).await;
    let mut direct_times = Vec::with_capacity(LIST_ROUNDS);
    for _ in 0..LIST_ROUNDS {
        let started = Instant::now();
        let page = big_client.list_tools(None).await.expect("tools/list");
        direct_times.push(started.elapsed());
        assert_eq!(page.tools.len(), SERVERS * 50);
    }
    println!(
        "tools/list, the same 500 tools straight from one upstream: p50 {:.3} ms",
        p50(direct_times)
    );
    drop(big_client);

    let direct = client(&fixtures[0].1, None).await;
    let (d1, g1) = (
        sequential(&direct, "echo").await,
        sequential(&gateway, "s0__echo").await,
    );
    println!(
        "tools/call p50, 1 client, {CALLS} calls: direct {d1:.3} ms   gateway {g1:.3} ms   added {:.3} ms",
        g1 - d1
    );
    let dt = throughput(&fixtures[0].1, None, "echo").await;
    let gt = throughput(&mcp_url, Some(&key), "s0__echo").await;
    println!(
        "tools/call throughput, {CONCURRENT} clients x {PER_CLIENT} calls: direct {dt:.0}/s   gateway {gt:.0}/s   ({:.0} % of direct)",
        100.0 * gt / dt
    );
    drop((gateway, direct));
    let _ = stop.send(());
    if tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .is_err()
    {
        println!("warning: the gateway took more than 10 s to shut down");
    }
}
