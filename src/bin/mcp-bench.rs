//! `mcp-bench`: what the gateway costs, measured against real upstreams in
//! one run (`scripts/bench` builds release and runs it).
//!
//! ```text
//! mcp-bench [--quick] [--out target/bench]
//! ```
//!
//! It starts the Rust fixture (`mcp-fixture`) and server-everything over
//! streamable HTTP and a `manifold serve` beside them (separate processes,
//! so the gateway's CPU time can be read from `/proc`), then measures:
//! - `tools/call` straight to each upstream, through `/mcp` and through
//!   `/mcp/s/{server}` at 1, 8, 32 and 128 clients (one MCP session per
//!   client and connection, raw JSON-RPC over HTTP/1.1): req/s, p50, p99,
//!   gateway CPU per call; and, when HAProxy is installed (the tests'
//!   fixtures install it), through a plain HTTP proxy in front of the same
//!   upstream: what any proxy hop costs on this machine. The legs of one
//!   client count take turns, five 1 s slices each (fresh sessions and a
//!   0.5 s warm-up before each), so a machine that speeds up or slows down
//!   during the run does not favour one leg;
//! - `tools/list` of 10 servers × 50 tools against the same 500 tools from
//!   one upstream;
//! - connect latency per transport (stdio, streamable HTTP, SSE, WebSocket);
//! - memory: a fresh gateway's RSS idle, after 25,000 MCP sessions created
//!   and deleted, with 1,000 idle sessions just opened (awake), with 1,000
//!   and 10,000 asleep (the memory part's gateway puts a session to sleep
//!   after `Plan::warm` without requests, 5 s, instead of the default 60 s;
//!   and the gateway's CPU use while those sit idle), after they all
//!   ended, with 1,000 users holding one live link each, and after those
//!   links closed.
//!
//! It prints one table and writes it as JSON to `OUT/latest.json` (and
//! `OUT/bench-<unix time>.json`). `--quick` runs every part briefly: a
//! smoke test that it works, not numbers to quote.

#[path = "mcp_bench/load.rs"]
mod load;
#[path = "mcp_bench/memory.rs"]
mod memory;
#[path = "mcp_bench/procs.rs"]
mod procs;
#[path = "mcp_bench/report.rs"]
mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};

use load::{Endpoint, Session};
use procs::Proc;
use report::{Clocks, Report};

/// Measures the gateway against its upstreams.
#[derive(Debug, Parser)]
#[command(name = "mcp-bench")]
struct Args {
    /// Run every part briefly (a smoke test, not numbers to quote).
    #[arg(long)]
    quick: bool,
    /// Folder for the JSON results.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Which parts to run (`calls`, `list`, `connect`, `memory`); all by
    /// default. For profiling one of them.
    #[arg(long, value_delimiter = ',')]
    parts: Vec<String>,
    /// Client counts for `calls`, instead of the plan's.
    #[arg(long, value_delimiter = ',')]
    clients: Vec<usize>,
    /// Upstreams for `calls` (`fixture`, `everything`); both by default.
    #[arg(long, value_delimiter = ',')]
    upstreams: Vec<String>,
}

/// How much of everything to do.
struct Plan {
    clients: &'static [usize],
    /// Before each slice of a `tools/call` leg.
    warmup: Duration,
    /// Of each `tools/call` leg, in `slices` slices taken in turn with the
    /// other legs'.
    window: Duration,
    slices: u32,
    list_rounds: usize,
    connect_rounds: usize,
    cycles: usize,
    sessions: [usize; 2],
    /// `mcp.session_warm_seconds` of the memory part's gateway: how long
    /// an idle session stays awake before it is put to sleep.
    warm: Duration,
    linked_users: usize,
    /// How long ended sessions and links get to give memory back (the
    /// gateway looks every 5 s).
    settle: Duration,
}

const FULL: Plan = Plan {
    clients: &[1, 8, 32, 128],
    warmup: Duration::from_millis(500),
    window: Duration::from_secs(5),
    slices: 5,
    list_rounds: 300,
    connect_rounds: 20,
    cycles: 25_000,
    sessions: [1_000, 10_000],
    warm: Duration::from_secs(5),
    linked_users: 1_000,
    settle: Duration::from_secs(7),
};

const QUICK: Plan = Plan {
    clients: &[1, 8],
    warmup: Duration::from_millis(100),
    window: Duration::from_millis(400),
    slices: 2,
    list_rounds: 10,
    connect_rounds: 2,
    cycles: 200,
    sessions: [100, 300],
    warm: Duration::from_secs(1),
    linked_users: 5,
    settle: Duration::from_millis(200),
};

const JWT_SECRET: &str = "mcp-bench-hs256-secret-not-for-production-0123456789";

/// A bearer token for `user` (admins get the `admin` role).
fn token(user: &str, admin: bool) -> String {
    let claims = json!({
        "sub": user,
        "exp": chrono::Utc::now().timestamp() + 24 * 3600,
        "roles": if admin { vec!["admin"] } else { vec![] },
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("signing a token: {e}"))
}

/// A running gateway and how to reach its admin API.
struct Gateway {
    proc: Proc,
    base: String,
    http: reqwest::Client,
    admin: String,
    _data: procs::TempDir,
}

impl Gateway {
    fn start() -> anyhow::Result<Self> {
        Self::start_with(&[])
    }

    /// A gateway with `env` on top of the bench's settings.
    fn start_with(env: &[(&str, String)]) -> anyhow::Result<Self> {
        let data = procs::TempDir::new("mcp-bench")?;
        let mut settings = vec![
            ("MANIFOLD_AUTH__JWT__HS256_SECRET", JWT_SECRET.into()),
            // Measure the gateway, not the per-user rate limits.
            ("MANIFOLD_LIMITS__ADMIN_PER_SECOND", "0".into()),
            ("MANIFOLD_LIMITS__USER_PER_SECOND", "0".into()),
            ("MANIFOLD_LIMITS__MCP_PER_SECOND", "0".into()),
            // Measure memory per session, not the cap on sessions per user.
            ("MANIFOLD_MCP__MAX_SESSIONS_PER_USER", "0".into()),
        ];
        settings.extend(env.iter().cloned());
        let (proc, port) = procs::gateway(data.path(), &settings)?;
        Ok(Self {
            proc,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            admin: token("bench-admin", true),
            _data: data,
        })
    }

    fn endpoint(&self, path: &str, user: &str) -> anyhow::Result<Endpoint> {
        Endpoint::parse(&format!("{}{path}", self.base), Some(token(user, false)))
    }

    async fn rest(&self, token: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = self.http.post(&url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn add_server(&self, server: Value) -> anyhow::Result<()> {
        self.rest(&self.admin, "/servers", Some(server))
            .await
            .map(drop)
    }

    async fn connect(&self, user: &str, server: &str) -> anyhow::Result<()> {
        let path = format!("/servers/{server}/connect");
        let answer = self.rest(&token(user, false), &path, None).await?;
        if answer["status"] != "CONNECTED" {
            bail!("connect {server}: {answer}");
        }
        Ok(())
    }

    async fn disconnect(&self, user: &str, server: &str) -> anyhow::Result<()> {
        let path = format!("/servers/{server}/disconnect");
        self.rest(&token(user, false), &path, None).await.map(drop)
    }

    fn rss(&self) -> anyhow::Result<u64> {
        procs::rss_bytes(self.proc.pid())
    }

    /// The gateway's own clocks so far, from `/metrics`: time spent
    /// answering `tools/call` (from rmcp's handing it over to the answer)
    /// and time spent in the upstream leg of calls to `server`.
    async fn clocks(&self, server: &str) -> anyhow::Result<Clocks> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?;
        let mut clocks = Clocks::default();
        for line in text.lines() {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value: f64 = value.parse().unwrap_or(0.0);
            let handler = name.contains("method=\"tools/call\"");
            if name.contains("mcp_request_duration_seconds_sum") && handler {
                clocks.handler.0 += value;
            } else if name.contains("mcp_request_duration_seconds_count") && handler {
                clocks.handler.1 += value;
            } else if name.contains(&format!("server=\"{server}\"")) {
                if name.contains("upstream_call_duration_seconds_sum") {
                    clocks.upstream.0 += value;
                } else if name.contains("upstream_call_duration_seconds_count") {
                    clocks.upstream.1 += value;
                }
            }
        }
        Ok(clocks)
    }
}

fn http_server(name: &str, url: &str) -> Value {
    json!({"name": name, "transport": "streamable_http", "url": url, "is_public": true})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = if args.quick { &QUICK } else { &FULL };
    if cfg!(debug_assertions) && !args.quick {
        eprintln!("warning: a debug build; `scripts/bench` builds release");
    }
    let part = |name: &str| args.parts.is_empty() || args.parts.iter().any(|p| p == name);
    let clients = if args.clients.is_empty() {
        plan.clients
    } else {
        &args.clients[..]
    };
    let mut report = Report::new(args.quick);
    if part("calls") {
        proxy(plan, clients, &args.upstreams, &mut report)
            .await
            .context("tools/call")?;
    }
    if part("list") {
        tools_list(plan, &mut report).await.context("tools/list")?;
    }
    if part("connect") {
        connects(plan, &mut report).await.context("connect")?;
    }
    if part("memory") {
        memory::run(plan, &mut report).await.context("memory")?;
    }
    report.print();
    report.write(&args.out)?;
    Ok(())
}

/// `tools/call` of `echo` direct, via `/mcp` and via `/mcp/s/{server}`.
async fn proxy(
    plan: &Plan,
    clients: &[usize],
    upstreams: &[String],
    report: &mut Report,
) -> anyhow::Result<()> {
    let (_fixture, fixture_url) = procs::fixture_http(&[])?;
    let (_everything, port) = procs::everything("streamableHttp")?;
    let everything_url = format!("http://127.0.0.1:{port}/mcp");
    let gateway = Gateway::start()?;
    gateway
        .add_server(http_server("fixture", &fixture_url))
        .await?;
    gateway
        .add_server(http_server("everything", &everything_url))
        .await?;
    for server in ["fixture", "everything"] {
        gateway.connect("bench", server).await?;
    }
    eprintln!("gateway pid {}", gateway.proc.pid());
    // A plain HTTP proxy hop in front of the same upstreams, for scale.
    let plain = procs::haproxy(gateway._data.path(), &[&fixture_url, &everything_url])?;
    if plain.is_none() {
        eprintln!("haproxy is not installed: no plain-proxy rows");
    }
    let servers = [("fixture", &fixture_url), ("everything", &everything_url)];
    for (i, (server, url)) in servers.into_iter().enumerate() {
        if !upstreams.is_empty() && !upstreams.iter().any(|u| u == server) {
            continue;
        }
        let (gw, echo) = (Some(gateway.proc.pid()), "echo".to_owned());
        let mut targets = vec![("direct", Endpoint::parse(url, None)?, echo.clone(), None)];
        if let Some((proxy, urls)) = &plain {
            let endpoint = Endpoint::parse(&urls[i], None)?;
            targets.push(("haproxy", endpoint, echo.clone(), Some(proxy.pid())));
        }
        let named = format!("{server}__echo");
        targets.push(("/mcp", gateway.endpoint("/mcp", "bench")?, named, gw));
        let route = gateway.endpoint(&format!("/mcp/s/{server}"), "bench")?;
        targets.push(("/mcp/s", route, echo, gw));
        // The legs take turns, a slice of the window each, so that the
        // machine's drift over the run reaches every leg alike.
        let slice = plan.window / plan.slices;
        for &clients in clients {
            let mut legs: Vec<(Vec<load::Slice>, Clocks)> = targets
                .iter()
                .map(|_| (Vec::new(), Clocks::default()))
                .collect();
            for _ in 0..plan.slices {
                for ((route, endpoint, tool, watch), (slices, spent)) in
                    targets.iter().zip(legs.iter_mut())
                {
                    let gateway_leg = route.starts_with("/mcp");
                    let before = if gateway_leg {
                        Some(gateway.clocks(server).await?)
                    } else {
                        None
                    };
                    slices.push(
                        load::slice(endpoint, tool, clients, plan.warmup, slice, *watch).await?,
                    );
                    if let Some(before) = before {
                        spent.add(gateway.clocks(server).await?, before);
                    }
                }
            }
            for ((route, ..), (slices, spent)) in targets.iter().zip(legs) {
                let run = load::Run::of(slices).with_context(|| format!("{server} {route}"))?;
                let split = route
                    .starts_with("/mcp")
                    .then(|| spent.since(Clocks::default()));
                report.call(server, route, clients, &run, split);
            }
        }
    }
    Ok(())
}

/// `tools/list` of 10 servers × 50 tools through `/mcp`, and of the same
/// 500 tools straight from one upstream.
async fn tools_list(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let gateway = Gateway::start()?;
    let mut fixtures = Vec::new();
    for i in 0..10 {
        // 7 tools of its own + 43 = 50.
        let (proc, url) = procs::fixture_http(&[("FIXTURE_TOOL_COUNT", "43".into())])?;
        gateway
            .add_server(http_server(&format!("l{i}"), &url))
            .await?;
        gateway.connect("lister", &format!("l{i}")).await?;
        fixtures.push(proc);
    }
    let (_big, big_url) = procs::fixture_http(&[
        ("FIXTURE_TOOL_COUNT", "493".into()),
        ("FIXTURE_PAGE_SIZE", "500".into()),
    ])?;
    let mut p50 = Vec::new();
    for endpoint in [
        gateway.endpoint("/mcp", "lister")?,
        Endpoint::parse(&big_url, None)?,
    ] {
        let mut session = Session::open(&endpoint).await?;
        let mut times = Vec::with_capacity(plan.list_rounds);
        for _ in 0..plan.list_rounds {
            let (took, tools) = session.list_tools().await?;
            if tools != 500 {
                bail!("tools/list listed {tools} tools, not 500");
            }
            times.push(took);
        }
        session.close().await.ok();
        p50.push(report::p50_ms(times));
    }
    report.list(p50[0], p50[1]);
    Ok(())
}

/// REST connect latency per transport (each round: connect, disconnect).
async fn connects(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let gateway = Gateway::start()?;
    let (_fixture, fixture_url) = procs::fixture_http(&[])?;
    let (_sse, sse_port) = procs::everything("sse")?;
    let (_ws, ws_url) = procs::python_websocket()?;
    let fixture = procs::sibling("mcp-fixture")?;
    let servers = [
        (
            "stdio",
            json!({"name": "c-stdio", "transport": "stdio", "is_public": true,
                   "command": fixture, "args": ["--transport", "stdio"]}),
        ),
        ("streamable_http", http_server("c-http", &fixture_url)),
        (
            "sse",
            json!({"name": "c-sse", "transport": "sse", "is_public": true,
                   "url": format!("http://127.0.0.1:{sse_port}/sse")}),
        ),
        (
            "websocket",
            json!({"name": "c-ws", "transport": "websocket", "is_public": true, "url": ws_url}),
        ),
    ];
    for (transport, server) in servers {
        let name = server["name"].as_str().unwrap_or_default().to_owned();
        gateway.add_server(server).await?;
        let mut times = Vec::new();
        for _ in 0..plan.connect_rounds {
            let started = Instant::now();
            gateway.connect("connector", &name).await?;
            times.push(started.elapsed());
            gateway.disconnect("connector", &name).await?;
        }
        report.connect(transport, report::p50_ms(times));
    }
    Ok(())
}
