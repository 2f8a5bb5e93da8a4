//! A raw JSON-RPC MCP client over one HTTP/1.1 keep-alive connection (hyper,
//! no SDK), so that the load generator's own cost stays small beside what it
//! measures.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// Where an MCP endpoint is: `http://ADDR{path}`, with an optional bearer token.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub path: String,
    pub token: Option<String>,
}

impl Endpoint {
    /// Parses `http://host:port/path`.
    pub fn parse(url: &str, token: Option<String>) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("not an http:// URL: {url}"))?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Ok(Self {
            addr: host
                .parse()
                .with_context(|| format!("not host:port: {host}"))?,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            token,
        })
    }
}

/// One connection and, once [`Session::initialize`]d, one MCP session on it.
pub struct Session {
    endpoint: Endpoint,
    sender: SendRequest<Full<Bytes>>,
    session_id: Option<String>,
    version: String,
    next_id: u64,
}

/// An answer: its status and the JSON-RPC message (SSE or JSON body).
pub struct Answer {
    pub status: u16,
    pub session_id: Option<String>,
    pub body: Bytes,
}

impl Answer {
    /// The JSON-RPC message the body carries (the last `data:` line of an
    /// event stream, or the whole JSON body).
    pub fn message(&self) -> anyhow::Result<Value> {
        let text = std::str::from_utf8(&self.body).context("answer is not UTF-8")?;
        let json = if text.trim_start().starts_with('{') {
            text
        } else {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .rfind(|l| l.starts_with('{'))
                .with_context(|| format!("no JSON-RPC message in: {text}"))?
        };
        serde_json::from_str(json).context("answer is not JSON")
    }

    /// Fails unless the status is 2xx and the message is a result.
    fn ok(&self) -> anyhow::Result<()> {
        if !(200..300).contains(&self.status) {
            bail!(
                "HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        // The hot path: a byte search, not a parse.
        let body = &self.body[..];
        if contains(body, b"\"result\"") && !contains(body, b"\"error\":{") {
            return Ok(());
        }
        bail!("not a result: {}", String::from_utf8_lossy(body))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl Session {
    /// Opens a connection (no MCP yet).
    pub async fn connect(endpoint: &Endpoint) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(endpoint.addr)
            .await
            .with_context(|| format!("connect to {}", endpoint.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(connection);
        Ok(Self {
            endpoint: endpoint.clone(),
            sender,
            session_id: None,
            version: "2025-11-25".into(),
            next_id: 0,
        })
    }

    /// Opens a connection and an initialized MCP session on it.
    pub async fn open(endpoint: &Endpoint) -> anyhow::Result<Self> {
        let mut session = Self::connect(endpoint).await?;
        session.initialize().await?;
        Ok(session)
    }

    /// `initialize` then `notifications/initialized`.
    pub async fn initialize(&mut self) -> anyhow::Result<()> {
        self.session_id = None;
        let answer = self
            .post(&json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "mcp-bench", "version": "1"}
                }
            }))
            .await?;
        answer.ok().context("initialize")?;
        let message = answer.message()?;
        if let Some(v) = message["result"]["protocolVersion"].as_str() {
            self.version = v.to_owned();
        }
        self.session_id = answer.session_id;
        let done = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        if done.status != 202 && done.status != 200 {
            bail!("notifications/initialized: HTTP {}", done.status);
        }
        Ok(())
    }

    /// The MCP session this connection is in, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// Continues MCP session `id` (opened earlier, on any connection).
    pub fn resume(&mut self, id: String) {
        self.session_id = Some(id);
    }

    /// Ends the MCP session (`DELETE`).
    pub async fn close(&mut self) -> anyhow::Result<u16> {
        let request = self.request(Method::DELETE, Full::default())?;
        self.sender.ready().await.context("the connection closed")?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        self.session_id = None;
        Ok(status)
    }

    /// One `tools/call`; fails unless it returned a result.
    pub async fn call(&mut self, tool: &str, arguments: &Value) -> anyhow::Result<Duration> {
        self.next_id += 1;
        let body = json!({
            "jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}
        });
        let started = Instant::now();
        let answer = self.post(&body).await?;
        let took = started.elapsed();
        answer.ok().with_context(|| format!("tools/call {tool}"))?;
        Ok(took)
    }

    /// One `tools/list` page; returns how long it took and how many tools.
    pub async fn list_tools(&mut self) -> anyhow::Result<(Duration, usize)> {
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/list"});
        let started = Instant::now();
        let answer = self.post(&body).await?;
        let took = started.elapsed();
        answer.ok().context("tools/list")?;
        let tools = answer.message()?["result"]["tools"]
            .as_array()
            .map_or(0, Vec::len);
        Ok((took, tools))
    }

    fn request(&self, method: Method, body: Full<Bytes>) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut request = Request::builder()
            .method(method)
            .uri(self.endpoint.path.as_str())
            .header(HOST, self.endpoint.addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", self.version.as_str());
        if let Some(token) = &self.endpoint.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(id) = &self.session_id {
            request = request.header("mcp-session-id", id.as_str());
        }
        Ok(request.body(body)?)
    }

    async fn post(&mut self, message: &Value) -> anyhow::Result<Answer> {
        let body = Full::new(Bytes::from(serde_json::to_vec(message)?));
        let request = self.request(Method::POST, body)?;
        // The connection task finishes the previous exchange first.
        self.sender.ready().await.context("the connection closed")?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let session_id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            session_id,
            body,
        })
    }
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct Run {
    pub calls: usize,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// User + system CPU of the watched process per call, in µs.
    pub cpu_us_per_call: Option<f64>,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.calls as f64 / self.seconds
    }
}

/// What one slice of load measured (see [`Run::of`]).
#[derive(Debug)]
pub struct Slice {
    times: Vec<Duration>,
    seconds: f64,
    /// CPU ticks of the watched process in the window.
    ticks: Option<u64>,
}

/// `clients` fresh sessions call `tool` back to back for `warmup`, then for
/// `window`; the CPU time process `watch` spends in the window is read from
/// `/proc`.
pub async fn slice(
    endpoint: &Endpoint,
    tool: &str,
    clients: usize,
    warmup: Duration,
    window: Duration,
    watch: Option<u32>,
) -> anyhow::Result<Slice> {
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(
            Session::open(endpoint)
                .await
                .with_context(|| format!("opening a session at {}", endpoint.path))?,
        );
    }
    let arguments = json!({"message": "ping", "text": "ping"});
    let start = Instant::now() + warmup;
    let end = start + window;
    let cpu = watch.map(|pid| {
        tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let before = crate::procs::cpu_ticks(pid)?;
            tokio::time::sleep_until(end.into()).await;
            Ok::<_, anyhow::Error>(crate::procs::cpu_ticks(pid)? - before)
        })
    });
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|mut session| {
            let (tool, arguments) = (tool.to_owned(), arguments.clone());
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(4096);
                loop {
                    let took = session
                        .call(&tool, &arguments)
                        .await
                        .with_context(|| format!("at {}", session.endpoint.path))?;
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    if now >= start {
                        times.push(took);
                    }
                }
                session.close().await.ok();
                anyhow::Ok(times)
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.context("a client panicked")??);
    }
    let ticks = match cpu {
        Some(task) => Some(task.await.context("the CPU reader panicked")??),
        None => None,
    };
    Ok(Slice {
        times,
        seconds: window.as_secs_f64(),
        ticks,
    })
}

impl Run {
    /// The slices of one leg taken together: calls, time and CPU summed,
    /// percentiles over every call.
    pub fn of(slices: Vec<Slice>) -> anyhow::Result<Run> {
        let seconds = slices.iter().map(|s| s.seconds).sum();
        let ticks = slices.iter().map(|s| s.ticks).sum::<Option<u64>>();
        let mut times: Vec<Duration> = slices.into_iter().flat_map(|s| s.times).collect();
        if times.is_empty() {
            bail!("no call finished inside the window");
        }
        times.sort_unstable();
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        Ok(Run {
            calls: times.len(),
            seconds,
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            cpu_us_per_call: ticks.map(|t| crate::procs::ticks_to_us(t) / times.len() as f64),
        })
    }
}
