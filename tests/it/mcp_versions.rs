//! Protocol versions on `/mcp`, spoken with raw HTTP so each revision's
//! exact wire shape is visible: the initialize-era revisions (2025-03-26,
//! 2025-06-18, 2025-11-25) with `Mcp-Session-Id`, and the stateless
//! 2026-07-28 revision (`server/discover`, per-request `_meta`,
//! `subscriptions/listen`). See `docs/protocol-versions.md`.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use rmcp::ServiceExt;
use rmcp::model::ProtocolVersion;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::mcp_endpoint::{add_fixture, connect};
use crate::support::app::{TestApp, spawn_app};

/// The stateless revision.
const MODERN: &str = "2026-07-28";

/// A POST to `/mcp` as `key`, with an optional session id and
/// `MCP-Protocol-Version` header.
pub(crate) fn post(
    app: &TestApp,
    key: &str,
    session: Option<&str>,
    version: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut req = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(session) = session {
        req = req.header("mcp-session-id", session);
    }
    if let Some(version) = version {
        req = req.header("mcp-protocol-version", version);
    }
    if version == Some(MODERN) {
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

/// Sends `req` and returns the status, the session id header and the
/// JSON-RPC response (the message with an `id`, or `Null`).
pub(crate) async fn exchange(req: reqwest::RequestBuilder) -> (StatusCode, Option<String>, Value) {
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
    let answer = messages(&content_type, &body)
        .into_iter()
        .find(|m| m.get("id").is_some_and(|id| !id.is_null()) && m.get("method").is_none())
        .unwrap_or(Value::Null);
    (status, session, answer)
}

pub(crate) fn initialize(version: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}
        }
    })
}

/// The per-request `_meta` the 2026-07-28 revision requires.
fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

pub(crate) fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["result"]["tools"]
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

/// An app with the fixture connected for a fresh user; returns the user's key.
async fn app_with_fixture() -> (TestApp, String) {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    (app, alice)
}

#[tokio::test]
async fn initialize_era_clients_get_their_own_version_and_namespaced_tools() {
    let (app, alice) = app_with_fixture().await;
    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        // An unknown (future) version is answered with the newest version
        // that still has an initialize handshake.
        ("2099-01-01", "2025-11-25"),
    ] {
        let (status, session, init) =
            exchange(post(&app, &alice, None, None, &initialize(asked))).await;
        assert_eq!(status, StatusCode::OK, "{asked}: {init}");
        assert_eq!(
            init["result"]["protocolVersion"], answered,
            "{asked}: {init}"
        );
        let session = session.expect("a session id");
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let resp = post(&app, &alice, Some(&session), Some(answered), &initialized)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::ACCEPTED, "{asked}");
        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
        let (status, _, listed) =
            exchange(post(&app, &alice, Some(&session), Some(answered), &list)).await;
        assert_eq!(status, StatusCode::OK, "{asked}: {listed}");
        let names = names(&listed);
        assert!(names.contains(&"fx__echo".to_owned()), "{asked}: {names:?}");
        assert!(names.iter().all(|n| n.starts_with("fx__")), "{names:?}");
        let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                          "params": {"name": "fx__echo", "arguments": {"text": asked}}});
        let (status, _, called) =
            exchange(post(&app, &alice, Some(&session), Some(answered), &call)).await;
        assert_eq!(status, StatusCode::OK, "{asked}: {called}");
        assert_eq!(called["result"]["content"][0]["text"], asked, "{called}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_session_request_with_a_wrong_protocol_version_header_is_refused() {
    let (app, alice) = app_with_fixture().await;
    let (_, session, _) = exchange(post(&app, &alice, None, None, &initialize("2025-06-18"))).await;
    let session = session.expect("a session id");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let resp = post(&app, &alice, Some(&session), Some("1999-01-01"), &list)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn stateless_clients_discover_list_and_call_without_a_session() {
    let (app, alice) = app_with_fixture().await;
    let discover = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover",
                          "params": {"_meta": modern_meta()}});
    let (status, session, found) =
        exchange(post(&app, &alice, None, Some(MODERN), &discover)).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(session, None, "no MCP session in the stateless revision");
    let versions = found["result"]["supportedVersions"].to_string();
    for version in ["2025-03-26", "2025-06-18", "2025-11-25", MODERN] {
        assert!(versions.contains(version), "{found}");
    }
    assert_eq!(
        found["result"]["capabilities"]["tools"]["listChanged"], true,
        "{found}"
    );

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list",
                      "params": {"_meta": modern_meta()}});
    let (status, _, listed) = exchange(post(&app, &alice, None, Some(MODERN), &list)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert!(names(&listed).contains(&"fx__echo".to_owned()), "{listed}");

    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                      "params": {"name": "fx__echo", "arguments": {"text": "modern"},
                                 "_meta": modern_meta()}});
    let (status, _, called) = exchange(post(&app, &alice, None, Some(MODERN), &call)).await;
    assert_eq!(status, StatusCode::OK, "{called}");
    assert_eq!(called["result"]["content"][0]["text"], "modern", "{called}");

    // Each stateless request is authenticated on its own: Bob sees his own
    // (empty) session, and no key means 401.
    let bob = app.user_key("bob").await;
    let (status, _, listed) = exchange(post(&app, &bob, None, Some(MODERN), &list)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert!(names(&listed).is_empty(), "{listed}");
    let resp = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .json(&list)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_stateless_request_without_the_standard_headers_is_refused() {
    let (app, alice) = app_with_fixture().await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list",
                      "params": {"_meta": modern_meta()}});
    let resp = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&alice)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .json(&list)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("a JSON-RPC error");
    assert_eq!(body["error"]["code"], -32020, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_stateless_request_without_the_required_meta_is_refused() {
    let (app, alice) = app_with_fixture().await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list",
                      "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}});
    let (status, _, answer) = exchange(post(&app, &alice, None, Some(MODERN), &list)).await;
    assert!(status.is_client_error(), "{status}: {answer}");
    assert!(answer["error"]["code"].is_i64(), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_subscriptions_listen_stream_receives_tools_list_changed() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    let listen = json!({"jsonrpc": "2.0", "id": 7, "method": "subscriptions/listen",
                        "params": {"notifications": {"toolsListChanged": true},
                                   "_meta": modern_meta()}});
    let resp = post(&app, &alice, None, Some(MODERN), &listen)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.bytes_stream();
    let mut seen = String::new();
    let mut connected = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("notifications/tools/list_changed") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no list_changed within 10 s; stream so far: {seen}"))
            .expect("the stream stays open")
            .expect("a chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if !connected && seen.contains("notifications/subscriptions/acknowledged") {
            assert!(seen.contains("toolsListChanged"), "{seen}");
            connect(&app, "fx", &alice).await;
            connected = true;
        }
    }
    assert!(connected, "the acknowledgement came first: {seen}");
    assert!(
        seen.contains("io.modelcontextprotocol/subscriptionId"),
        "the notification names its subscription: {seen}"
    );
    drop(stream);
    app.stop().await;
}

#[tokio::test]
async fn rmcp_clients_negotiate_2025_11_25_by_default_and_2026_07_28_with_discover() {
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    let (app, alice) = app_with_fixture().await;
    let transport = |key: &str| {
        let config =
            StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(key);
        StreamableHttpClientTransport::with_client(reqwest::Client::new(), config)
    };
    let legacy = ().serve(transport(&alice)).await.expect("handshake");
    assert_eq!(
        legacy.peer_info().map(|info| info.protocol_version.clone()),
        Some(ProtocolVersion::V_2025_11_25)
    );
    assert_eq!(legacy.list_all_tools().await.expect("tools").len(), 7);
    legacy.cancel().await.expect("closed");

    let modern = ()
        .serve_with_lifecycle(
            transport(&alice),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover");
    let tools = modern.list_all_tools().await.expect("tools");
    assert_eq!(tools.len(), 7);
    let echoed = modern
        .call_tool(crate::mcp_endpoint::call("fx__echo", json!({"text": "hi"})))
        .await
        .expect("echo");
    assert_eq!(crate::mcp_endpoint::text_of(&echoed), "hi");
    modern.cancel().await.expect("closed");
    app.stop().await;
}
