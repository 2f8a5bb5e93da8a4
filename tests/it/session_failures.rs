//! Connect failures: each answers a stable code and leaves the server
//! `FAILED` with a message, and nothing leaks into other sessions.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::support::app::{TestApp, code, spawn_app_with};
use crate::support::rest::create_server;

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.upstream.connect_timeout_seconds = 2;
        s.upstream.tool_fetch_timeout_seconds = 2;
    })
    .await
}

async fn add(app: &TestApp, body: Value) {
    create_server(app, &app.admin_key, body).await;
}

/// Connects `name` as the admin and checks the error code and the stored
/// FAILED state with a message.
async fn assert_connect_fails(
    app: &TestApp,
    name: &str,
    want_status: StatusCode,
    want_code: &str,
) -> Value {
    let (status, err) = app.session_action("connect", name, &app.admin_key).await;
    assert_eq!((status, code(&err)), (want_status, want_code), "{err}");
    let (_, state) = app.get("/api/v1/session/servers", &app.admin_key).await;
    let entry = state["items"]
        .as_array()
        .and_then(|items| items.iter().find(|s| s["name"] == name))
        .cloned()
        .expect("server listed");
    assert_eq!(entry["status"], "FAILED", "{entry}");
    assert_eq!(entry["tool_count"], 0);
    assert!(
        entry["last_error"].as_str().is_some_and(|m| !m.is_empty()),
        "{entry}"
    );
    entry
}

#[tokio::test]
async fn a_refused_port_is_upstream_unreachable() {
    let app = app().await;
    let port = crate::support::redis::free_port();
    for (name, transport, url) in [
        (
            "gone",
            "streamable_http",
            format!("http://127.0.0.1:{port}/mcp"),
        ),
        ("gone_sse", "sse", format!("http://127.0.0.1:{port}/sse")),
        ("gone_ws", "websocket", format!("ws://127.0.0.1:{port}/ws")),
    ] {
        add(
            &app,
            json!({"name": name, "transport": transport, "url": url}),
        )
        .await;
        let started = Instant::now();
        let entry =
            assert_connect_fails(&app, name, StatusCode::BAD_GATEWAY, "upstream_unreachable").await;
        assert!(started.elapsed() < Duration::from_secs(30));
        // The stored reason is for people (the admin page shows it on the
        // card): the server, what failed and the root cause, on every
        // transport, with no Rust type names.
        let reason = entry["last_error"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with(&format!("{name}: cannot reach the upstream: "))
                && reason.contains("onnection refused"),
            "{transport}: {reason}"
        );
        assert!(!reason.contains("rmcp::"), "{reason}");
    }
}

#[tokio::test]
async fn an_upstream_that_never_answers_times_out_at_the_connect_timeout() {
    let app = app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    add(&app, json!({"name": "silent", "transport": "streamable_http", "url": format!("http://127.0.0.1:{port}/mcp")})).await;
    let entry = assert_connect_fails(
        &app,
        "silent",
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_timeout",
    )
    .await;
    assert!(
        entry["last_error"]
            .as_str()
            .is_some_and(|m| m.contains("2 s")),
        "{entry}"
    );
}

#[tokio::test]
async fn a_stdio_command_that_does_not_exist_fails_at_once() {
    let app = app().await;
    add(
        &app,
        json!({"name": "nocmd", "transport": "stdio", "command": "/nonexistent/mcp-server"}),
    )
    .await;
    let entry = assert_connect_fails(
        &app,
        "nocmd",
        StatusCode::BAD_GATEWAY,
        "upstream_unreachable",
    )
    .await;
    assert!(
        entry["last_error"]
            .as_str()
            .is_some_and(|m| m.contains("/nonexistent/mcp-server"))
    );
}

#[tokio::test]
async fn a_stdio_command_that_exits_is_a_protocol_error() {
    let app = app().await;
    add(
        &app,
        json!({"name": "quits", "transport": "stdio", "command": "/bin/true"}),
    )
    .await;
    assert_connect_fails(
        &app,
        "quits",
        StatusCode::BAD_GATEWAY,
        "upstream_protocol_error",
    )
    .await;
}

#[tokio::test]
async fn the_cloud_metadata_address_is_egress_denied() {
    let app = app().await;
    add(&app, json!({"name": "imds", "transport": "streamable_http", "url": "http://169.254.169.254/latest"})).await;
    assert_connect_fails(&app, "imds", StatusCode::FORBIDDEN, "egress_denied").await;
    add(
        &app,
        json!({"name": "imds6", "transport": "sse", "url": "http://[::ffff:169.254.169.254]/sse"}),
    )
    .await;
    assert_connect_fails(&app, "imds6", StatusCode::FORBIDDEN, "egress_denied").await;
}

#[tokio::test]
async fn loopback_can_be_denied_by_configuration() {
    let app = spawn_app_with(|s| s.upstream.egress.deny_loopback = true).await;
    add(
        &app,
        json!({"name": "local", "transport": "streamable_http", "url": "http://localhost:9/mcp"}),
    )
    .await;
    assert_connect_fails(&app, "local", StatusCode::FORBIDDEN, "egress_denied").await;
}

#[tokio::test]
async fn a_server_that_does_not_speak_mcp_is_a_protocol_error() {
    let app = app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let _html = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
                let body = "<html>not MCP</html>";
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    add(&app, json!({"name": "html", "transport": "streamable_http", "url": format!("http://127.0.0.1:{port}/"), "headers": {"X-Api-Key": "supersecret1"}, "query_params": {"token": "querysecret"}})).await;
    let entry = assert_connect_fails(
        &app,
        "html",
        StatusCode::BAD_GATEWAY,
        "upstream_protocol_error",
    )
    .await;
    let message = entry["last_error"].as_str().unwrap_or_default();
    assert!(
        !message.contains("supersecret1") && !message.contains("querysecret"),
        "secrets redacted: {message}"
    );
}

#[tokio::test]
async fn disabled_servers_refuse_and_unreachable_oauth_servers_fail_discovery() {
    let app = app().await;
    add(&app, json!({"name": "off", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp", "enabled": false})).await;
    assert_connect_fails(&app, "off", StatusCode::CONFLICT, "server_disabled").await;
    add(&app, json!({"name": "oauth", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp", "requires_oauth2": true})).await;
    // Without a token Manifold starts an authorization, which needs the
    // upstream's metadata: an unreachable upstream fails that step.
    assert_connect_fails(
        &app,
        "oauth",
        StatusCode::BAD_GATEWAY,
        "oauth_discovery_failed",
    )
    .await;
}

#[tokio::test]
async fn a_user_cannot_connect_or_see_the_state_of_another_users_private_server() {
    let app = app().await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    let (status, _) = app
        .post("/api/v1/servers", &alice, json!({"name": "alices", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for action in ["connect", "disconnect"] {
        let (status, err) = app
            .post(&format!("/api/v1/servers/alices/{action}"), &bob, json!({}))
            .await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::NOT_FOUND, "server_not_found"),
            "{action}"
        );
    }
    let (_, bobs) = app.get("/api/v1/session/servers", &bob).await;
    assert_eq!(bobs["items"], json!([]));
    let (_, alices) = app.get("/api/v1/session/servers", &alice).await;
    assert_eq!(
        alices["items"][0]["status"], "DISCONNECTED",
        "bob's attempts left no state for alice"
    );
}
