//! The test upstreams themselves (`support::upstreams`): `mcp-fixture` and
//! server-everything, driven with rmcp's own client so a failure here means
//! the fixture is wrong, not Manifold.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rmcp::model::{CallToolResult, ClientRequest, ProgressNotificationParam, Request};
use rmcp::service::{NotificationContext, PeerRequestOptions, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStderr;
use tokio::sync::Notify;

use crate::support::mcp::{text_of, tool_names};
use crate::support::upstreams::{
    Everything, EverythingMode, FIXTURE_TOOLS, FixtureHttp, everything_stdio, fixture_stdio,
};

/// A client that records what the server tells it.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    tools_changed: Arc<Notify>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().expect("lock").push(params);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.notify_one();
    }
}

type Client = RunningService<RoleClient, Recorder>;

async fn connect_stdio(command: (String, Vec<String>), env: &[(&str, &str)]) -> Client {
    let (program, args) = command;
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&args).envs(env.iter().copied());
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the stdio server");
    handshake(
        Recorder::default().serve(transport),
        &format!("{program} {args:?}"),
    )
    .await
}

/// The fixture's log over stdio, line by line.
type LogLines = Lines<BufReader<ChildStderr>>;

/// The fixture over stdio with its log at debug level (a line per call).
async fn connect_stdio_logged() -> (Client, LogLines) {
    let (program, args) = fixture_stdio();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&args).env("FIXTURE_LOG", "warn,mcp_fixture=debug");
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the stdio server");
    let log = BufReader::new(stderr.expect("the fixture's stderr is piped")).lines();
    let client = handshake(Recorder::default().serve(transport), &program).await;
    (client, log)
}

/// Reads `log` up to the next line containing `needle`; panics when the
/// log ends or 10 s pass first.
async fn logged(log: &mut LogLines, needle: &str) {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = log.next_line().await.expect("the fixture's log") {
            if line.contains(needle) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "the fixture logged no {needle:?}");
}

/// Awaits an MCP handshake for at most 20 s; panics naming `what`.
async fn handshake<E: std::fmt::Display>(
    serving: impl Future<Output = Result<Client, E>>,
    what: &str,
) -> Client {
    match tokio::time::timeout(Duration::from_secs(20), serving).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!("{what}: MCP handshake failed: {e}"),
        Err(_) => panic!("{what}: no MCP handshake within 20 s"),
    }
}

async fn connect_http(url: &str, headers: &[(&str, &str)]) -> Client {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    for (name, value) in headers {
        config.custom_headers.insert(
            name.parse().expect("a header name"),
            value.parse().expect("a header value"),
        );
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    handshake(Recorder::default().serve(transport), url).await
}

async fn call(client: &Client, name: &str, args: Value) -> CallToolResult {
    client
        .call_tool(crate::support::mcp::call(name, args))
        .await
        .unwrap_or_else(|e| panic!("tools/call {name}: {e}"))
}

/// echo, add and fail behave as documented.
async fn assert_basic_tools(client: &Client) {
    assert_eq!(tool_names(client).await, FIXTURE_TOOLS);

    let echo = call(client, "echo", json!({"text": "héllo, fixture"})).await;
    assert_eq!(text_of(&echo), "héllo, fixture");
    assert_ne!(echo.is_error, Some(true));

    let add = call(client, "add", json!({"a": 2, "b": 40})).await;
    assert_eq!(text_of(&add), "42");
    assert_eq!(add.structured_content, Some(json!({"sum": 42})));

    let add_floats = call(client, "add", json!({"a": 0.5, "b": 0.25})).await;
    assert_eq!(add_floats.structured_content, Some(json!({"sum": 0.75})));

    let fail = call(client, "fail", json!({})).await;
    assert_eq!(fail.is_error, Some(true));
    assert!(text_of(&fail).contains("always fails"), "{fail:?}");
}

#[tokio::test]
async fn fixture_over_stdio_lists_its_tools_and_answers_echo_add_and_fail() {
    let client = connect_stdio(fixture_stdio(), &[]).await;
    assert_basic_tools(&client).await;
    let whoami = call(&client, "whoami", json!({})).await;
    assert_eq!(whoami.structured_content, Some(json!({})));
    client.cancel().await.expect("close the client");
}

#[tokio::test]
async fn fixture_over_streamable_http_lists_its_tools_and_answers_echo_add_and_fail() {
    let fixture = FixtureHttp::start();
    let client = connect_http(&fixture.url(), &[]).await;
    assert_basic_tools(&client).await;
    client.cancel().await.expect("close the client");
}

#[tokio::test]
async fn fixture_whoami_returns_the_http_headers_the_request_carried() {
    let fixture = FixtureHttp::start();
    let client = connect_http(&fixture.url(), &[("x-fixture-probe", "42")]).await;
    let whoami = call(&client, "whoami", json!({})).await;
    let headers = whoami
        .structured_content
        .clone()
        .expect("structured headers");
    assert_eq!(headers["x-fixture-probe"], "42", "{headers}");
    assert!(headers.get("mcp-session-id").is_some(), "{headers}");
    let from_text: Value = serde_json::from_str(&text_of(&whoami)).expect("text is JSON");
    assert_eq!(from_text, headers);
    client.cancel().await.expect("close the client");
}

#[tokio::test]
async fn fixture_with_a_tool_count_pages_tools_list_by_fifty() {
    let env = [("FIXTURE_TOOL_COUNT", "120")];
    let client = connect_stdio(fixture_stdio(), &env).await;

    let first = client.list_tools(None).await.expect("first page");
    assert_eq!(first.tools.len(), 50);
    assert_eq!(first.next_cursor.as_deref(), Some("50"));

    let all = tool_names(&client).await;
    assert_eq!(all.len(), FIXTURE_TOOLS.len() + 120);
    let has = |name: &str| all.iter().any(|n| n == name);
    assert!(has("t0") && has("t119") && !has("t120"));
    let t7 = call(&client, "t7", json!({})).await;
    assert_eq!(text_of(&t7), "t7");
    client.cancel().await.expect("close the client");
}

#[tokio::test]
async fn fixture_with_a_tool_count_paginates_over_streamable_http_too() {
    let fixture = FixtureHttp::start_with_env(&[("FIXTURE_TOOL_COUNT", "120")]);
    let client = connect_http(&fixture.url(), &[]).await;
    assert_eq!(tool_names(&client).await.len(), FIXTURE_TOOLS.len() + 120);
    client.cancel().await.expect("close the client");
}

#[tokio::test]
async fn fixture_with_no_schema_lists_a_tool_whose_schema_requires_an_undeclared_property() {
    let client = connect_stdio(fixture_stdio(), &[("FIXTURE_NO_SCHEMA", "1")]).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let broken = tools
        .iter()
        .find(|t| t.name == "broken_schema")
        .expect("broken_schema is listed");
    assert_eq!(
        Value::Object((*broken.input_schema).clone()),
        json!({"type": "object", "required": ["ghost"]})
    );
    client.cancel().await.expect("close the client");
}

#[tokio::test]
async fn fixture_progress_sends_one_notification_per_step() {
    let client = connect_stdio(fixture_stdio(), &[]).await;
    let done = call(&client, "progress", json!({"steps": 3})).await;
    assert_eq!(text_of(&done), "done 3 steps");
    // Notifications are handled off the response path: give them a moment.
    let recorded = client.service().progress.clone();
    for _ in 0..50 {
        if recorded.lock().expect("lock").len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let steps: Vec<f64> = recorded
        .lock()
        .expect("lock")
        .iter()
        .map(|p| p.progress)
        .collect();
    assert_eq!(steps, vec![1.0, 2.0, 3.0]);
    client.cancel().await.expect("close the client");
}

#[tokio::test]
async fn fixture_add_tool_announces_extra_with_list_changed_over_streamable_http() {
    let fixture = FixtureHttp::start();
    let client = connect_http(&fixture.url(), &[]).await;
    assert!(!tool_names(&client).await.contains(&"extra".to_owned()));
    let changed = client.service().tools_changed.clone();
    let announced = changed.notified();
    call(&client, "add_tool", json!({})).await;
    tokio::time::timeout(Duration::from_secs(10), announced)
        .await
        .expect("notifications/tools/list_changed within 10 s");
    assert!(tool_names(&client).await.contains(&"extra".to_owned()));
    assert_eq!(text_of(&call(&client, "extra", json!({})).await), "extra");
    client.cancel().await.expect("close the client");
}

#[tokio::test]
async fn fixture_slow_answers_after_its_delay_and_stops_when_cancelled() {
    let (client, mut log) = connect_stdio_logged().await;
    let quick = call(&client, "slow", json!({"seconds": 0.05})).await;
    assert!(text_of(&quick).starts_with("slept"), "{quick:?}");
    logged(&mut log, "tools/call slow").await;

    let params = crate::support::mcp::call("slow", json!({"seconds": 60}));
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("send tools/call slow");
    // The fixture has started the call before it is cancelled.
    logged(&mut log, "tools/call slow").await;
    handle
        .cancel(Some("test".into()))
        .await
        .expect("send notifications/cancelled");
    logged(&mut log, "slow: cancelled").await;
    // The server is still responsive after the cancellation.
    let echo = call(&client, "echo", json!({"text": "still here"})).await;
    assert_eq!(text_of(&echo), "still here");
    client.cancel().await.expect("close the client");
}

const EVERYTHING_TOOLS: [&str; 3] = ["echo", "get-sum", "get-tiny-image"];

async fn assert_everything_tools(client: &Client) {
    let tools = tool_names(client).await;
    for name in EVERYTHING_TOOLS {
        assert!(
            tools.iter().any(|t| t == name),
            "{name} missing from {tools:?}"
        );
    }
    let echo = call(client, "echo", json!({"message": "hi"})).await;
    assert!(text_of(&echo).contains("hi"), "{echo:?}");
}

#[tokio::test]
async fn everything_over_stdio_lists_its_tools() {
    let client = connect_stdio(everything_stdio(), &[]).await;
    assert_everything_tools(&client).await;
    client.cancel().await.expect("close the client");
}

#[tokio::test]
async fn everything_over_streamable_http_lists_its_tools() {
    let everything = Everything::start(EverythingMode::StreamableHttp);
    assert!(everything.url().ends_with("/mcp"));
    let client = connect_http(&everything.url(), &[]).await;
    assert_everything_tools(&client).await;
    client.cancel().await.expect("close the client");
}

#[tokio::test]
async fn everything_over_sse_opens_an_event_stream_that_names_its_message_endpoint() {
    // rmcp 3 has no legacy-SSE client, so this checks the wire by hand.
    let everything = Everything::start(EverythingMode::Sse);
    let url = everything.url();
    assert!(url.ends_with("/sse"));
    let response = reqwest::Client::new()
        .get(&url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /sse");
    assert!(response.status().is_success(), "{}", response.status());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let mut body = String::new();
    let mut stream = response.bytes_stream();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.next().await {
            body.push_str(&String::from_utf8_lossy(&chunk.expect("SSE bytes")));
            if body.contains("\n\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no SSE event within 10 s; got {body:?}");
    assert!(body.contains("event: endpoint"), "{body:?}");
    assert!(body.contains("data: /message?sessionId="), "{body:?}");
}

#[tokio::test]
async fn everything_stdio_mode_has_a_command_and_starts_nothing() {
    let everything = Everything::start(EverythingMode::Stdio);
    assert!(everything.process().is_none());
    let (program, args) = everything.stdio_command();
    assert_eq!(program, "node");
    assert!(
        args[0].ends_with("server-everything/dist/index.js"),
        "{args:?}"
    );
    assert_eq!(args[1], "stdio");
}

#[test]
fn stopping_an_http_upstream_leaves_no_process_behind() {
    let fixture = FixtureHttp::start();
    let pid = fixture.process().pid();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists());
    drop(fixture);
    // Reaped: not even a zombie is left.
    assert!(!proc_dir.exists(), "process {pid} is still there");
}
