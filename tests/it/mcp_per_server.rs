//! The per-server route `/mcp/s/{server}` (one connected upstream with its
//! own tool names) and `GET /api/v1/session/langchain-config`, the client
//! config that points LangChain at it.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{spawn_app, spawn_app_with};
use crate::support::mcp::{call, initialize, mcp_client, start_session, text_of, tool_names};
use crate::support::rest::{add_fixture, connect, create_server};
use crate::support::upstreams::{FIXTURE_TOOLS, FixtureHttp};

#[tokio::test]
async fn the_per_server_route_shows_one_servers_tools_under_their_own_names() {
    let app = spawn_app().await;
    add_fixture(&app, "one").await;
    add_fixture(&app, "two").await;
    let alice = app.user_key("alice").await;
    connect(&app, "one", &alice).await;
    connect(&app, "two", &alice).await;

    let client = mcp_client(&app, "/mcp/s/one", &alice).await;
    assert_eq!(
        tool_names(&client).await,
        FIXTURE_TOOLS,
        "only server one's tools, unprefixed"
    );
    let echoed = client
        .call_tool(call("echo", json!({"text": "direct"})))
        .await
        .expect("echo");
    assert_eq!(text_of(&echoed), "direct");
    let err = client
        .call_tool(call("two__echo", json!({"text": "x"})))
        .await
        .expect_err("aggregate names do not resolve here");
    assert!(err.to_string().contains("unknown tool"), "{err}");
    client.cancel().await.expect("close");
    app.stop().await;
}

#[tokio::test]
async fn a_server_not_connected_in_the_session_shows_no_tools() {
    let app = spawn_app().await;
    add_fixture(&app, "one").await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    connect(&app, "one", &bob).await;

    let client = mcp_client(&app, "/mcp/s/one", &alice).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(
        tools.is_empty(),
        "bob's connection is not alice's: {tools:?}"
    );
    client.cancel().await.expect("close");
    app.stop().await;
}

#[tokio::test]
async fn unknown_or_invisible_servers_are_not_found_before_any_mcp_exchange() {
    let app = spawn_app().await;
    let upstream = FixtureHttp::start();
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    create_server(
        &app,
        &bob,
        json!({"name": "bobs", "transport": "streamable_http", "url": upstream.url()}),
    )
    .await;
    for path in ["/mcp/s/bobs", "/mcp/s/nope", "/mcp/s/Not%20A%20Name"] {
        let resp = app
            .mcp_post(path, Some(&alice), None, &initialize("2025-06-18"))
            .await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = resp.json().await.expect("json error");
        assert_eq!(body["error"]["code"], "server_not_found", "{path}");
    }
    let resp = app
        .mcp_post("/mcp/s/bobs", None, None, &initialize("2025-06-18"))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_session_id_of_one_route_is_unknown_on_another() {
    let app = spawn_app().await;
    add_fixture(&app, "one").await;
    add_fixture(&app, "two").await;
    let alice = app.user_key("alice").await;
    let (session, _) = start_session(&app, "/mcp/s/one", &alice, "2025-06-18").await;
    for path in ["/mcp/s/two", "/mcp"] {
        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
        let resp = app
            .mcp_post(path, Some(&alice), Some(&session), &list)
            .await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn langchain_config_lists_connected_servers_at_the_gateway_without_secrets() {
    let app = spawn_app().await;
    let upstream = FixtureHttp::start();
    let alice = app.user_key("alice").await;
    create_server(
        &app,
        &alice,
        json!({
            "name": "mine", "transport": "streamable_http", "url": upstream.url(),
            "headers": {"X-Api-Key": "upstream-secret-value"},
        }),
    )
    .await;
    add_fixture(&app, "idle").await;

    let (status, empty) = app.get("/api/v1/session/langchain-config", &alice).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty, json!({}), "nothing connected yet");

    connect(&app, "mine", &alice).await;
    let (status, config) = app.get("/api/v1/session/langchain-config", &alice).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    let host = app.base.trim_start_matches("http://");
    assert_eq!(
        config,
        json!({"mine": {
            "transport": "streamable_http",
            "url": format!("http://{host}/mcp/s/mine"),
            "headers": {"Authorization": "Bearer <YOUR_TOKEN>"},
        }})
    );
    assert!(!config.to_string().contains("upstream-secret-value"));
    let bob = app.user_key("bob").await;
    let (_, bobs) = app.get("/api/v1/session/langchain-config", &bob).await;
    assert_eq!(bobs, json!({}), "alice's connections are hers");
    app.stop().await;

    let app = spawn_app_with(|s| s.http.public_url = "https://mcp.example.com/".into()).await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let (_, config) = app.get("/api/v1/session/langchain-config", &alice).await;
    assert_eq!(config["fx"]["url"], "https://mcp.example.com/mcp/s/fx");
    app.stop().await;
}
