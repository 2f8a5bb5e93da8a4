//! Toolsets (`/api/v1/toolsets`, served at `/mcp/t/{name}`): a virtual
//! server of chosen tools from several servers, renamed and re-described,
//! routed back to the right upstream under the right name; private to
//! their owner unless public; followed by LangChain.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::mcp_relay::error_code;
use crate::support::app::{TestApp, code};
use crate::support::mcp::{
    call, initialize, mcp_client, mcp_client_watching_tools, text_of, tool_names,
};
use crate::support::python::{python, python2, run_client};
use crate::support::rest::{add_fixture, add_public, connect};
use crate::support::upstreams::FixtureHttp;

async fn create_toolset(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, created) = app.post("/api/v1/toolsets", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// Alice with the stdio fixture `local` and the HTTP fixture `web` connected.
async fn two_servers() -> (TestApp, FixtureHttp, String) {
    let app = crate::support::app::spawn_app().await;
    let web = FixtureHttp::start();
    add_fixture(&app, "local").await;
    add_public(
        &app,
        json!({"name": "web", "transport": "streamable_http", "url": web.url()}),
    )
    .await;
    let alice = app.user_key("alice").await;
    connect(&app, "local", &alice).await;
    connect(&app, "web", &alice).await;
    (app, web, alice)
}

#[tokio::test]
async fn a_toolset_mixes_two_servers_renames_redescribes_and_routes_back() {
    let (app, _web, alice) = two_servers().await;
    let created = create_toolset(
        &app,
        &alice,
        json!({
            "name": "kit",
            "title": "Alice's kit",
            "description": "Echo, add and who.",
            "entries": [
                {"server": "local", "tool": "echo", "description": "Says it back."},
                {"server": "local", "tool": "add", "expose_as": "plus"},
                {"server": "web", "tool": "whoami", "expose_as": "who",
                 "annotations": {"readOnlyHint": true}},
            ],
        }),
    )
    .await;
    assert!(
        created["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("tls_")),
        "{created}"
    );
    assert_eq!(created["owner"], "alice");
    assert_eq!(created["is_public"], false);

    let client = mcp_client(&app, "/mcp/t/kit", &alice).await;
    let info = client.peer_info().expect("initialized");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("kit")
    );
    assert_eq!(info.instructions.as_deref(), Some("Echo, add and who."));
    let tools = client.list_all_tools().await.expect("tools/list");
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(names, ["echo", "plus", "who"], "exactly its entries");
    let echo = tools.iter().find(|t| t.name == "echo").expect("echo");
    assert_eq!(echo.description.as_deref(), Some("Says it back."));
    let who = tools.iter().find(|t| t.name == "who").expect("who");
    assert_eq!(
        who.annotations.as_ref().and_then(|a| a.read_only_hint),
        Some(true)
    );

    let sum = client
        .call_tool(call("plus", json!({"a": 2, "b": 3})))
        .await
        .expect("plus is local's add");
    assert_eq!(sum.structured_content, Some(json!({"sum": 5})));
    // Only the web fixture sees HTTP headers: `who` went to `web`.
    let seen = client
        .call_tool(call("who", json!({})))
        .await
        .expect("who is web's whoami");
    let headers: Value = serde_json::from_str(&text_of(&seen)).expect("whoami answers JSON");
    assert!(
        headers.as_object().is_some_and(|h| !h.is_empty()),
        "web's whoami reports the HTTP headers it got: {headers}"
    );
    for hidden in ["add", "whoami", "progress", "local__add"] {
        let err = client
            .call_tool(call(hidden, json!({"a": 1, "b": 1})))
            .await
            .expect_err("not in the toolset");
        assert_eq!(error_code(&err), "unknown_tool", "{hidden}: {err}");
    }

    // The official Python SDK 2.x sees and calls the same.
    let out = run_client(
        python2(),
        "mcp_sdk2_client.py",
        vec![
            "session".into(),
            "call".into(),
            app.url("/mcp/t/kit"),
            alice.clone(),
            "plus".into(),
            json!({"a": 40, "b": 2}).to_string(),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out["server"], "kit", "{out}");
    assert_eq!(out["tools"], json!(["echo", "plus", "who"]), "{out}");
    assert_eq!(out["structured"], json!({"sum": 42}), "{out}");

    // Editing the toolset reaches an open stream of it.
    let (watcher, mut changed) = mcp_client_watching_tools(&app, "/mcp/t/kit", &alice).await;
    let (status, body) = app
        .patch(
            "/api/v1/toolsets/kit",
            &alice,
            json!({"entries": [{"server": "local", "tool": "echo"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::timeout(Duration::from_secs(5), changed.recv())
        .await
        .expect("tools/list_changed after the toolset changed")
        .expect("the watcher is alive");
    assert_eq!(tool_names(&watcher).await, ["echo"]);
    for c in [
        client.cancel().await.map(|_| ()),
        watcher.cancel().await.map(|_| ()),
    ] {
        c.expect("close");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_private_toolset_is_not_found_by_another_user_anywhere() {
    let (app, _web, alice) = two_servers().await;
    let bob = app.user_key("bob").await;
    create_toolset(
        &app,
        &alice,
        json!({"name": "mine", "entries": [{"server": "local", "tool": "*"}]}),
    )
    .await;
    let (status, body) = app.get("/api/v1/toolsets/mine", &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(code(&body), "toolset_not_found");
    let (_, listed) = app.get("/api/v1/toolsets", &bob).await;
    assert_eq!(listed["items"], json!([]), "{listed}");
    let resp = app
        .mcp_post("/mcp/t/mine", Some(&bob), None, &initialize("2025-06-18"))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.expect("a JSON error");
    assert_eq!(code(&body), "toolset_not_found", "{body}");
    let (status, body) = app
        .get("/api/v1/session/langchain-config?toolset=mine", &bob)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Nor may bob change or delete it.
    let (status, _) = app.delete("/api/v1/toolsets/mine", &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A user may not make a public one.
    let (status, body) = app
        .post(
            "/api/v1/toolsets",
            &bob,
            json!({"name": "shared", "is_public": true, "entries": []}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn langchain_invokes_a_renamed_tool_of_a_toolset() {
    let (app, _web, alice) = two_servers().await;
    create_toolset(
        &app,
        &alice,
        json!({"name": "kit", "entries": [
            {"server": "local", "tool": "add", "expose_as": "plus"},
            {"server": "web", "tool": "echo"},
        ]}),
    )
    .await;
    let (status, config) = app
        .get("/api/v1/session/langchain-config?toolset=kit", &alice)
        .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(
        config["kit"]["url"],
        json!(app.url("/mcp/t/kit")),
        "{config}"
    );
    let out = run_client(
        python(),
        "mcp_clients.py",
        vec![
            "langchain-config".into(),
            config.to_string(),
            alice.clone(),
            "kit_plus".into(),
            json!({"a": 20, "b": 22}).to_string(),
        ],
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(out["tools"], json!(["kit_echo", "kit_plus"]), "{out}");
    assert!(out["output"].to_string().contains("42"), "{out}");
    app.stop().await;
}

#[tokio::test]
async fn a_search_toolset_lists_the_two_tools_unless_asked_for_all() {
    let (app, _web, alice) = two_servers().await;
    create_toolset(
        &app,
        &alice,
        json!({"name": "big", "exposure": "search", "entries": [{"server": "local", "tool": "*"}, {"server": "web", "tool": "*"}]}),
    )
    .await;
    let client = mcp_client(&app, "/mcp/t/big", &alice).await;
    assert_eq!(
        tool_names(&client).await,
        ["manifold__call_tool", "manifold__search_tools"]
    );
    let found = client
        .call_tool(call(
            "manifold__search_tools",
            json!({"query": "echo text back", "limit": 5}),
        ))
        .await
        .expect("search");
    let result = found.structured_content.expect("structured");
    assert_eq!(result["total"], 14, "{result}");
    client.cancel().await.expect("close");
    let all = mcp_client(&app, "/mcp/t/big?tools=all", &alice).await;
    assert_eq!(
        tool_names(&all).await.len(),
        14,
        "clashing names are qualified, none lost"
    );
    all.cancel().await.expect("close");
    app.stop().await;
}

#[tokio::test]
async fn a_toolset_shows_its_servers_resources_and_prompts_only_when_it_includes_them() {
    let app = crate::support::app::spawn_app().await;
    let (command, args) = crate::support::upstreams::fixture_stdio();
    for name in ["notes", "other"] {
        add_public(
            &app,
            json!({"name": name, "transport": "stdio", "command": command, "args": args,
                   "env": {"FIXTURE_CONTENT": "notes"}}),
        )
        .await;
    }
    let alice = app.user_key("alice").await;
    connect(&app, "notes", &alice).await;
    connect(&app, "other", &alice).await;
    create_toolset(
        &app,
        &alice,
        json!({"name": "with", "resources": true, "prompts": true,
               "entries": [{"server": "notes", "tool": "echo"}]}),
    )
    .await;
    create_toolset(
        &app,
        &alice,
        json!({"name": "without", "entries": [{"server": "notes", "tool": "echo"}]}),
    )
    .await;

    let with = mcp_client(&app, "/mcp/t/with", &alice).await;
    let prompts = with.list_all_prompts().await.expect("prompts/list");
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["notes__greet"],
        "the entry's server only, named as on /mcp"
    );
    let resources = with.list_all_resources().await.expect("resources/list");
    assert!(!resources.is_empty(), "its notes");
    for resource in &resources {
        let uri = resource.uri.as_str();
        assert!(!uri.contains("other"), "only the entry's server: {uri}");
    }
    let read = with
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            resources[0].uri.clone(),
        ))
        .await
        .expect("a listed resource reads");
    assert!(!read.contents.is_empty());
    with.cancel().await.expect("close");

    let without = mcp_client(&app, "/mcp/t/without", &alice).await;
    assert!(
        without
            .list_all_prompts()
            .await
            .expect("prompts/list")
            .is_empty()
    );
    assert!(
        without
            .list_all_resources()
            .await
            .expect("resources/list")
            .is_empty()
    );
    without.cancel().await.expect("close");
    app.stop().await;
}
