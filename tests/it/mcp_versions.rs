//! Protocol versions on `/mcp`, spoken with raw HTTP so each revision's
//! exact wire shape is visible: the initialize-era revisions (2025-03-26,
//! 2025-06-18, 2025-11-25) with `Mcp-Session-Id`, and the stateless
//! 2026-07-28 revision (`server/discover`, per-request `_meta`,
//! `subscriptions/listen`). See `docs/mcp-endpoint.md` (Protocol versions).

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use rmcp::ServiceExt;
use rmcp::model::ProtocolVersion;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::support::app::spawn_app;
use crate::support::mcp::{
    STATELESS_REVISION as MODERN, call, complete_handshake, exchange, names_in, post,
    start_session, stateless_meta, text_of,
};
use crate::support::rest::{add_fixture, app_with_connected_fixture, connect};

#[tokio::test]
async fn initialize_era_clients_get_their_own_version_and_namespaced_tools() {
    let (app, alice) = app_with_connected_fixture().await;
    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        // An unknown (future) version is answered with the newest version
        // that still has an initialize handshake.
        ("2099-01-01", "2025-11-25"),
    ] {
        let (session, init) = start_session(&app, "/mcp", &alice, asked).await;
        assert_eq!(
            init["result"]["protocolVersion"], answered,
            "{asked}: {init}"
        );
        complete_handshake(&app, "/mcp", &alice, &session, answered).await;
        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
        let (status, _, listed) =
            exchange(post(&app, &alice, Some(&session), Some(answered), &list)).await;
        assert_eq!(status, StatusCode::OK, "{asked}: {listed}");
        let names = names_in(&listed["result"]["tools"]);
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
    let (app, alice) = app_with_connected_fixture().await;
    let (session, _) = start_session(&app, "/mcp", &alice, "2025-06-18").await;
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
    let (app, alice) = app_with_connected_fixture().await;
    let discover = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover",
                          "params": {"_meta": stateless_meta()}});
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
                      "params": {"_meta": stateless_meta()}});
    let (status, _, listed) = exchange(post(&app, &alice, None, Some(MODERN), &list)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert!(
        names_in(&listed["result"]["tools"]).contains(&"fx__echo".to_owned()),
        "{listed}"
    );

    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                      "params": {"name": "fx__echo", "arguments": {"text": "modern"},
                                 "_meta": stateless_meta()}});
    let (status, _, called) = exchange(post(&app, &alice, None, Some(MODERN), &call)).await;
    assert_eq!(status, StatusCode::OK, "{called}");
    assert_eq!(called["result"]["content"][0]["text"], "modern", "{called}");

    // Each stateless request is authenticated on its own: Bob sees his own
    // (empty) session, and no key means 401.
    let bob = app.user_key("bob").await;
    let (status, _, listed) = exchange(post(&app, &bob, None, Some(MODERN), &list)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert!(names_in(&listed["result"]["tools"]).is_empty(), "{listed}");
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
    let (app, alice) = app_with_connected_fixture().await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list",
                      "params": {"_meta": stateless_meta()}});
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
    let (app, alice) = app_with_connected_fixture().await;
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
                                   "_meta": stateless_meta()}});
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
    let (app, alice) = app_with_connected_fixture().await;
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
        .call_tool(call("fx__echo", json!({"text": "hi"})))
        .await
        .expect("echo");
    assert_eq!(text_of(&echoed), "hi");
    modern.cancel().await.expect("closed");
    app.stop().await;
}
