//! MCP as a test client speaks it: rmcp clients on the app's `/mcp` routes,
//! raw JSON-RPC over HTTP (so a revision's exact wire shape stays visible),
//! MCP sessions opened by hand, and the names of listed tools.

use reqwest::StatusCode;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{NotificationContext, Peer, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::app::TestApp;

/// An rmcp client that handles nothing the server sends it.
pub type Client = RunningService<RoleClient, ()>;

/// The newest revision with an `initialize` handshake and `Mcp-Session-Id`.
pub const SESSION_REVISION: &str = "2025-11-25";
/// The stateless revision (`server/discover`, per-request `_meta`,
/// `subscriptions/listen`).
pub const STATELESS_REVISION: &str = "2026-07-28";

/// An rmcp client on `path` (`/mcp` or `/mcp/s/{server}`) with `key`, after
/// its handshake.
pub async fn mcp_client(app: &TestApp, path: &str, key: &str) -> Client {
    mcp_client_with(app, path, key, ()).await
}

/// Like [`mcp_client`], with `handler` answering what the server sends
/// (notifications, sampling, …).
pub async fn mcp_client_with<H: ClientHandler>(
    app: &TestApp,
    path: &str,
    key: &str,
    handler: H,
) -> RunningService<RoleClient, H> {
    let url = app.url(path);
    handler
        .serve(transport(reqwest::Client::new(), &url, Some(key)))
        .await
        .unwrap_or_else(|e| panic!("MCP handshake with {url}: {e}"))
}

/// An rmcp client to the MCP server at `url` (the app's or an upstream's)
/// over `http`, with `Authorization: Bearer {key}` when there is a key.
pub async fn mcp_client_over(http: reqwest::Client, url: &str, key: Option<&str>) -> Client {
    ().serve(transport(http, url, key))
        .await
        .unwrap_or_else(|e| panic!("MCP handshake with {url}: {e}"))
}

fn transport(
    http: reqwest::Client,
    url: &str,
    key: Option<&str>,
) -> StreamableHttpClientTransport<reqwest::Client> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(key) = key {
        config = config.auth_header(key);
    }
    StreamableHttpClientTransport::with_client(http, config)
}

/// A client handler that reports every `notifications/tools/list_changed`.
pub struct ToolsChanged {
    changed: mpsc::UnboundedSender<()>,
}

impl ClientHandler for ToolsChanged {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.changed.send(());
    }
}

/// An rmcp client on `path` with `key`, and a receiver of one `()` per
/// `notifications/tools/list_changed` it gets.
pub async fn mcp_client_watching_tools(
    app: &TestApp,
    path: &str,
    key: &str,
) -> (
    RunningService<RoleClient, ToolsChanged>,
    mpsc::UnboundedReceiver<()>,
) {
    let (changed, rx) = mpsc::unbounded_channel();
    let client = mcp_client_with(app, path, key, ToolsChanged { changed }).await;
    (client, rx)
}

/// `tools/call` parameters: tool `name` with `args` (an object, else none).
pub fn call(name: &str, args: Value) -> CallToolRequestParams {
    let params = CallToolRequestParams::new(name.to_owned());
    match args {
        Value::Object(map) => params.with_arguments(map),
        _ => params,
    }
}

/// The text blocks of a tool result, joined.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect()
}

/// Every tool `client` lists (all pages), by name, sorted.
pub async fn tool_names(client: &Peer<RoleClient>) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

/// The `name` of every object in the JSON array `tools`, sorted (a raw
/// `tools/list` result's `tools`, a REST tool list, a catalog list).
pub fn names_in(tools: &Value) -> Vec<String> {
    let mut names: Vec<String> = tools
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A JSON-RPC `initialize` request asking for protocol `version`.
pub fn initialize(version: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}
        }
    })
}

/// The `notifications/initialized` that completes a handshake.
pub fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// The per-request `_meta` the stateless revision requires.
pub fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_REVISION,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

/// A POST of `body` to `/mcp` as `key`: see [`post_at`].
pub fn post(
    app: &TestApp,
    key: &str,
    session: Option<&str>,
    version: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    post_at(app, "/mcp", key, session, version, body)
}

/// Posts `notifications/cancelled` for request `id` of the 2025-11-25
/// `session` to `/mcp` as `key`; the HTTP status it got.
pub async fn cancel_request(
    app: &TestApp,
    key: &str,
    session: &str,
    id: u64,
    reason: &str,
) -> reqwest::StatusCode {
    let cancel = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": id, "reason": reason},
    });
    post(app, key, Some(session), Some(SESSION_REVISION), &cancel)
        .send()
        .await
        .expect("sent")
        .status()
}

/// A POST of `body` to `path` as `key`, with the `Accept` header MCP
/// requires, an optional `Mcp-Session-Id` and `MCP-Protocol-Version`, and
/// for the stateless revision its standard headers.
pub fn post_at(
    app: &TestApp,
    path: &str,
    key: &str,
    session: Option<&str>,
    version: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut req = app
        .client
        .post(app.url(path))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(session) = session {
        req = req.header("mcp-session-id", session);
    }
    if let Some(version) = version {
        req = req.header("mcp-protocol-version", version);
    }
    if version == Some(STATELESS_REVISION) {
        // The 2026-07-28 standard headers (SEP-2243) repeat the method and,
        // for tools/call, the tool name.
        if let Some(method) = body["method"].as_str() {
            req = req.header("mcp-method", method);
        }
        if let Some(name) = body["params"]["name"].as_str() {
            req = req.header("mcp-name", name);
        }
    }
    req
}

/// The JSON-RPC messages of a response body, whether it is one JSON object
/// or an SSE stream of `data:` lines.
fn messages(content_type: &str, body: &str) -> Vec<Value> {
    if content_type.starts_with("application/json") {
        return vec![serde_json::from_str(body).expect("a JSON body")];
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect()
}

/// One response read whole.
pub struct Exchanged {
    pub status: StatusCode,
    /// Its `Mcp-Session-Id`.
    pub session: Option<String>,
    /// Its `Content-Type` (empty when it has none).
    pub content_type: String,
    /// Every JSON-RPC message of the body, in order.
    pub messages: Vec<Value>,
}

/// Sends `req` and reads the whole response.
pub async fn exchange_all(req: reqwest::RequestBuilder) -> Exchanged {
    let resp = req.send().await.expect("sent");
    let status = resp.status();
    let session = resp
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.text().await.expect("body");
    let messages = messages(&content_type, &body);
    Exchanged {
        status,
        session,
        content_type,
        messages,
    }
}

/// Sends `req` and returns the status, the `Mcp-Session-Id` header and the
/// JSON-RPC response (the message with an `id`, or `Null`).
pub async fn exchange(req: reqwest::RequestBuilder) -> (StatusCode, Option<String>, Value) {
    let exchanged = exchange_all(req).await;
    let answer = exchanged
        .messages
        .into_iter()
        .find(|m| m.get("id").is_some_and(|id| !id.is_null()) && m.get("method").is_none())
        .unwrap_or(Value::Null);
    (exchanged.status, exchanged.session, answer)
}

/// The `Mcp-Session-Id` a response carries; panics when it has none.
pub fn session_id(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Mcp-Session-Id: {:?}", resp.headers()))
        .to_owned()
}

/// Starts an MCP session on `path` as `key`: `initialize` asking for
/// `version` must answer 200 with a session id. Returns the id and the
/// `initialize` answer; the handshake is not completed (see [`open_session`]).
pub async fn start_session(app: &TestApp, path: &str, key: &str, version: &str) -> (String, Value) {
    let (status, session, answer) =
        exchange(post_at(app, path, key, None, None, &initialize(version))).await;
    assert_eq!(status, StatusCode::OK, "initialize on {path}: {answer}");
    let session = session.unwrap_or_else(|| panic!("initialize on {path} gave no session id"));
    (session, answer)
}

/// Sends `notifications/initialized` in `session` on `path` under protocol
/// `version`; it must be accepted (202).
pub async fn complete_handshake(
    app: &TestApp,
    path: &str,
    key: &str,
    session: &str,
    version: &str,
) {
    let resp = post_at(app, path, key, Some(session), Some(version), &initialized())
        .send()
        .await
        .expect("initialized sent");
    assert_eq!(resp.status(), StatusCode::ACCEPTED, "initialized on {path}");
}

/// Opens an MCP session on `path` as `key` with the whole handshake under
/// [`SESSION_REVISION`]; returns its id.
pub async fn open_session(app: &TestApp, path: &str, key: &str) -> String {
    let (session, _) = start_session(app, path, key, SESSION_REVISION).await;
    complete_handshake(app, path, key, &session, SESSION_REVISION).await;
    session
}

/// Opens the GET stream of `session` on `/mcp` as `key`; it must answer 200.
pub async fn listen(
    app: &TestApp,
    key: &str,
    session: &str,
) -> impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin + use<> {
    let response = app
        .client
        .get(app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", SESSION_REVISION)
        .send()
        .await
        .expect("GET sent");
    assert_eq!(response.status(), StatusCode::OK, "the GET stream");
    response.bytes_stream()
}

/// Reads `stream` until a `notifications/tools/list_changed` arrives;
/// panics if the stream ends or none comes within 5 s.
pub async fn until_list_changed(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin),
) {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !seen.contains("notifications/tools/list_changed") {
        let chunk = tokio::time::timeout_at(deadline, futures::StreamExt::next(stream))
            .await
            .unwrap_or_else(|_| panic!("no list_changed on the GET stream within 5 s: {seen}"));
        match chunk {
            Some(Ok(bytes)) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("the GET stream ended: {other:?} after {seen}"),
        }
    }
}
