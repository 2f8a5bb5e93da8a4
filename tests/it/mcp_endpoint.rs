//! The `/mcp` gateway endpoint: API-key auth, session ownership, and the
//! caller's connected upstream tools listed and called through rmcp's client.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{spawn_app, spawn_app_with};
use crate::support::mcp::{call, initialize, mcp_client, start_session, text_of, tool_names};
use crate::support::rest::{add_fixture, add_public, connect};
use crate::support::upstreams::{FIXTURE_TOOLS, FixtureHttp};

#[tokio::test]
async fn a_user_lists_and_calls_the_tools_of_servers_they_connected() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;

    let client = mcp_client(&app, "/mcp", &alice).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let names = tool_names(&client).await;
    let expected: Vec<String> = FIXTURE_TOOLS.iter().map(|t| format!("fx__{t}")).collect();
    assert_eq!(names, expected);
    let add = tools
        .iter()
        .find(|t| t.name == "fx__add")
        .expect("add listed");
    assert!(add.output_schema.is_some(), "output schema passed through");
    assert!(add.description.is_some(), "description passed through");

    let echoed = client
        .call_tool(call("fx__echo", json!({"text": "hi"})))
        .await
        .expect("echo");
    assert_eq!(text_of(&echoed), "hi");
    assert_ne!(echoed.is_error, Some(true));

    let failed = client
        .call_tool(call("fx__fail", json!({})))
        .await
        .expect("fail answers");
    assert_eq!(failed.is_error, Some(true));

    let sum = client
        .call_tool(call("fx__add", json!({"a": 2, "b": 3})))
        .await
        .expect("add");
    assert_eq!(sum.structured_content, Some(json!({"sum": 5})));

    let unknown = client
        .call_tool(call("fx__nope", json!({})))
        .await
        .expect_err("unknown tool");
    match unknown {
        rmcp::ServiceError::McpError(err) => {
            assert_eq!(err.data, Some(json!({"code": "unknown_tool"})), "{err:?}");
        }
        other => panic!("expected an MCP error, got {other:?}"),
    }
    client.cancel().await.expect("client closes");

    // Bob never connected: no tools.
    let bob = app.user_key("bob").await;
    let client = mcp_client(&app, "/mcp", &bob).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.is_empty(), "{tools:?}");
    client.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn mcp_without_a_key_is_unauthorized() {
    let app = spawn_app().await;
    let resp = app
        .mcp_post("/mcp", None, None, &initialize("2025-06-18"))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key("www-authenticate"));
    let resp = app
        .mcp_post(
            "/mcp",
            Some("mfk_not_a_key"),
            None,
            &initialize("2025-06-18"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn another_users_mcp_session_id_is_not_found() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    let (session, _) = start_session(&app, "/mcp", &alice, "2025-06-18").await;

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let resp = app
        .mcp_post("/mcp", Some(&bob), Some(&session), &list)
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.expect("JSON body");
    assert_eq!(body["error"]["code"], "session_not_found");
    app.stop().await;
}

#[tokio::test]
async fn a_call_slower_than_the_call_timeout_is_an_upstream_timeout() {
    let app = spawn_app_with(|s| s.upstream.call_timeout_seconds = 1).await;
    let http = FixtureHttp::start();
    add_public(
        &app,
        json!({"name": "fxh", "transport": "streamable_http", "url": http.url()}),
    )
    .await;
    let alice = app.user_key("alice").await;
    connect(&app, "fxh", &alice).await;

    let client = mcp_client(&app, "/mcp", &alice).await;
    let echoed = client
        .call_tool(call("fxh__echo", json!({"text": "over http"})))
        .await
        .expect("echo");
    assert_eq!(text_of(&echoed), "over http");
    let slow = client
        .call_tool(call("fxh__slow", json!({"seconds": 5})))
        .await
        .expect_err("times out");
    match slow {
        rmcp::ServiceError::McpError(err) => {
            assert_eq!(
                err.data,
                Some(json!({"code": "upstream_timeout"})),
                "{err:?}"
            );
        }
        other => panic!("expected an MCP error, got {other:?}"),
    }
    client.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn three_upstreams_with_the_same_tool_names_are_listed_apart_and_routed_right() {
    let app = spawn_app().await;
    let (red, blue) = (FixtureHttp::start(), FixtureHttp::start());
    for (name, url, colour) in [("red", red.url(), "red"), ("blue", blue.url(), "blue")] {
        let body = json!({"name": name, "transport": "streamable_http", "url": url,
                          "headers": {"X-Colour": colour}});
        add_public(&app, body).await;
    }
    add_fixture(&app, "local").await;
    let alice = app.user_key("alice").await;
    for name in ["red", "blue", "local"] {
        connect(&app, name, &alice).await;
    }
    let client = mcp_client(&app, "/mcp", &alice).await;
    let names = tool_names(&client).await;
    assert_eq!(names.len(), 3 * FIXTURE_TOOLS.len(), "{names:?}");
    for server in ["red", "blue", "local"] {
        assert!(names.contains(&format!("{server}__whoami")), "{names:?}");
    }
    for colour in ["red", "blue"] {
        let seen = client
            .call_tool(call(&format!("{colour}__whoami"), json!({})))
            .await
            .expect("whoami");
        let headers = seen.structured_content.expect("headers");
        assert_eq!(
            headers["x-colour"], colour,
            "the call reached the {colour} upstream: {headers}"
        );
    }
    let local = client
        .call_tool(call("local__whoami", json!({})))
        .await
        .expect("whoami");
    assert_eq!(
        local.structured_content,
        Some(json!({})),
        "stdio upstreams see no HTTP headers"
    );
    client.cancel().await.expect("closed");
}

#[tokio::test]
async fn a_long_tool_list_is_paginated_and_clients_read_every_page() {
    let app = spawn_app().await;
    let big = FixtureHttp::start_with_env(&[("FIXTURE_TOOL_COUNT", "600")]);
    add_public(
        &app,
        json!({"name": "big", "transport": "streamable_http", "url": big.url()}),
    )
    .await;
    let alice = app.user_key("alice").await;
    connect(&app, "big", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    let first = client.list_tools(None).await.expect("first page");
    assert_eq!(first.tools.len(), manifold::gateway::handler::TOOLS_PAGE);
    let cursor = first.next_cursor.clone().expect("more pages");
    let second = client
        .list_tools(Some(
            rmcp::model::PaginatedRequestParams::default().with_cursor(Some(cursor)),
        ))
        .await
        .expect("second page");
    assert_eq!(first.tools.len() + second.tools.len(), 607);
    assert!(second.next_cursor.is_none());
    assert!(
        first.tools.last().map(|t| t.name.clone()) < second.tools.first().map(|t| t.name.clone()),
        "pages are ordered and disjoint"
    );
    let all = client.list_all_tools().await.expect("all pages");
    assert_eq!(all.len(), 607);
    let bad = client
        .list_tools(Some(
            rmcp::model::PaginatedRequestParams::default().with_cursor(Some("%%%".into())),
        ))
        .await;
    assert!(bad.is_err(), "a forged cursor is refused");
    client.cancel().await.expect("closed");
}

#[tokio::test]
async fn shutdown_does_not_wait_for_open_mcp_streams() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    client.list_all_tools().await.expect("the session is live");
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), app.stop()).await;
    assert!(
        stopped.is_ok(),
        "graceful shutdown finished while a client still held its stream"
    );
    drop(client);
}
