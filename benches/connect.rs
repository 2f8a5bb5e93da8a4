//! Connect latency per transport against local fixture upstreams: open the
//! link (handshake), ping, list every tool, close — what a session connect
//! does upstream. Prints min / median / max over 20 rounds per transport.
//!
//! Run: `cargo bench --bench connect` (SSE and WebSocket need the Python
//! fixtures: `scripts/fixtures/python.sh`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use manifold::catalog::{ServerName, Transport};
use manifold::upstream::egress::EgressPolicy;
use manifold::upstream::{Endpoint, LinkOptions, Remote, StdioCommand, Target};
use rmcp::model::{ClientRequest, PingRequest};

const ROUNDS: usize = 20;

fn target(
    name: &str,
    transport: Transport,
    url: Option<&str>,
    command: Option<(String, Vec<String>)>,
) -> Target {
    let remote = || Remote {
        url: url::Url::parse(url.expect("a network target has a URL")).expect("url"),
        headers: Vec::new(),
    };
    let endpoint = match transport {
        Transport::Stdio => {
            let (program, args) = command.expect("a stdio target has a command");
            Endpoint::Stdio(StdioCommand {
                program,
                args,
                env: Default::default(),
                cwd: None,
            })
        }
        Transport::StreamableHttp => Endpoint::StreamableHttp(remote()),
        Transport::Sse => Endpoint::Sse(remote()),
        Transport::Websocket => Endpoint::Websocket(remote()),
    };
    Target::new(ServerName::parse(name).expect("name"), endpoint)
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn(mut cmd: Command, port: u16) -> Guard {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fixture");
    wait_for_port(port);
    Guard(child)
}

async fn measure(target: &Target, options: &LinkOptions) -> Vec<Duration> {
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let link = manifold::upstream::open(target, options)
            .await
            .expect("open");
        link.peer()
            .send_request(ClientRequest::PingRequest(PingRequest::default()))
            .await
            .expect("ping");
        let tools = link.peer().list_all_tools().await.expect("tools");
        assert!(!tools.is_empty());
        times.push(started.elapsed());
        link.close().await;
    }
    times.sort();
    times
}

fn report(label: &str, times: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<18} n={:<3} min {:>7.2} ms   median {:>7.2} ms   max {:>7.2} ms",
        times.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}

#[tokio::main]
async fn main() {
    let options = LinkOptions {
        connect_timeout: Duration::from_secs(30),
        call_timeout: Duration::from_secs(30),
        egress: EgressPolicy::default(),
        health_interval: None,
        max_in_flight: 64,
    };
    let fixture = env!("CARGO_BIN_EXE_mcp-fixture").to_owned();
    println!("connect latency: open + ping + tools/list + close, {ROUNDS} rounds each");
    if cfg!(debug_assertions) {
        println!(
            "(debug build, as under `cargo test`: run `cargo bench --bench connect` for real numbers)"
        );
    }

    let stdio = target(
        "stdio",
        Transport::Stdio,
        None,
        Some((fixture.clone(), vec!["--transport".into(), "stdio".into()])),
    );
    report("stdio", &measure(&stdio, &options).await);

    let port = free_port();
    let mut cmd = Command::new(&fixture);
    cmd.args([
        "--transport",
        "streamable-http",
        "--port",
        &port.to_string(),
    ]);
    let _http = spawn(cmd, port);
    let url = format!("http://127.0.0.1:{port}/mcp");
    report(
        "streamable_http",
        &measure(
            &target("http", Transport::StreamableHttp, Some(&url), None),
            &options,
        )
        .await,
    );

    let cache = std::env::var("MANIFOLD_TEST_CACHE").map_or_else(
        |_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/test")),
        PathBuf::from,
    );
    let python = cache.join("py/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/py_server.py");
    if !python.exists() {
        println!(
            "sse, websocket: skipped — run scripts/fixtures/python.sh to install the Python fixtures"
        );
        return;
    }
    for (label, transport, mode, path, scheme) in [
        ("sse", Transport::Sse, "sse", "/sse", "http"),
        ("websocket", Transport::Websocket, "websocket", "/ws", "ws"),
    ] {
        let port = free_port();
        let mut cmd = Command::new(&python);
        cmd.args([script, "--transport", mode, "--port", &port.to_string()]);
        let _server = spawn(cmd, port);
        let url = format!("{scheme}://127.0.0.1:{port}{path}");
        report(
            label,
            &measure(&target(label, transport, Some(&url), None), &options).await,
        );
    }
}
