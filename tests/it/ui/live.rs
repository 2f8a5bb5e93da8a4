//! Live badges: a user's open page follows connects and disconnects made
//! over REST and a tool added through an MCP client, with no reload,
//! through the GraphQL subscription, and falls back to polling while that
//! cannot be had.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::tool_count;
use crate::support::app::{TestApp, spawn_app};
use crate::support::browser::BrowserRun;
use crate::support::mcp::{call, mcp_client};
use crate::support::rest::session_server;
use crate::support::unique;
use crate::support::upstreams::FixtureHttp;

#[tokio::test(flavor = "multi_thread")]
async fn a_users_page_follows_rest_and_mcp_changes_live() {
    let app = spawn_app().await;
    let upstream = FixtureHttp::start();
    let expected_tools = tool_count(&app, &upstream.url()).await;
    let key = app.user_key("alice").await;
    let server = unique("live-");
    let title = format!("Live {server}");

    let mut run = BrowserRun::start(
        "live",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("USER_KEY", key.clone()),
            ("USER_ID", "alice".into()),
            ("SERVER_NAME", server.clone()),
            ("SERVER_TITLE", title.clone()),
            ("EXPECTED_TOOLS", expected_tools.to_string()),
        ],
    )
    .await;

    // A new private server appears after a reload (the contract's promise
    // for new servers); its status changes must arrive live.
    run.wait_for("signed-in").await;
    let (status, created) = app
        .post(
            "/api/v1/servers",
            &key,
            json!({"name": server, "title": title, "transport": "streamable_http", "url": upstream.url()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    run.reply(Value::Null).await;

    run.wait_for("watching").await;
    let (status, connected) = app.session_action("connect", &server, &key).await;
    assert_eq!(status, StatusCode::OK, "{connected}");
    assert_eq!(connected["status"], "CONNECTED", "{connected}");
    assert_eq!(connected["tool_count"], expected_tools, "{connected}");
    run.reply(Value::Null).await;

    // An MCP client on /mcp, as the same user, has the upstream add a tool;
    // its list_changed reaches the gateway, which re-reads the tools.
    run.wait_for("connected-seen").await;
    let client = mcp_client(&app, "/mcp", &key).await;
    let added = client
        .call_tool(call(&format!("{server}__add_tool"), Value::Null))
        .await
        .expect("add_tool through /mcp");
    assert_ne!(added.is_error, Some(true), "{added:?}");
    let grown = wait_for_tool_count(&app, &key, &server, expected_tools + 1).await;
    run.reply(json!({"tool_count": grown})).await;

    run.wait_for("grown").await;
    client.cancel().await.expect("the MCP client closes");
    let (status, gone) = app.session_action("disconnect", &server, &key).await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    run.reply(Value::Null).await;

    let finished = run.finish().await;
    let report = &finished.summary["report"];
    assert_eq!(
        report["live_status"], "Live",
        "the page did not use the WebSocket: {report}"
    );
    let status = session_server(&app, &key, &server).await;
    assert_eq!(status["status"], "DISCONNECTED", "{status}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_websocket_the_page_polls_and_then_goes_live_again() {
    let app = spawn_app().await;
    let upstream = FixtureHttp::start();
    let expected_tools = tool_count(&app, &upstream.url()).await;
    let key = app.user_key("carol").await;
    let server = unique("polled-");
    let (status, created) = app
        .post(
            "/api/v1/servers",
            &key,
            json!({"name": server, "transport": "streamable_http", "url": upstream.url()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let mut run = BrowserRun::start(
        "polling",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("USER_KEY", key.clone()),
            ("USER_ID", "carol".into()),
            ("SERVER_NAME", server.clone()),
            ("EXPECTED_TOOLS", expected_tools.to_string()),
        ],
    )
    .await;
    run.wait_for("polling").await;
    let (status, connected) = app.session_action("connect", &server, &key).await;
    assert_eq!(status, StatusCode::OK, "{connected}");
    run.reply(Value::Null).await;

    run.wait_for("live-again").await;
    let (status, gone) = app.session_action("disconnect", &server, &key).await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    run.reply(Value::Null).await;
    run.finish().await;
    app.stop().await;
}

/// The server's tool count in the session once it is `want` (the refresh
/// after an upstream's list_changed runs in the background), or the last
/// count seen after a generous ceiling.
async fn wait_for_tool_count(app: &TestApp, key: &str, server: &str, want: usize) -> Value {
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = session_server(app, key, server).await["tool_count"].clone();
        if seen == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    seen
}
