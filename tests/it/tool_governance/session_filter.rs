//! A session's own tool filter (`PUT /api/v1/session/tool-filter`, GraphQL
//! `setSessionToolFilter`): it hides tools from that session's MCP views
//! only, its clients hear `tools/list_changed`, hidden tools are
//! `unknown_tool`, and REST still lists them marked `hidden` so that they
//! can be shown again.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::graphql::data;
use crate::mcp_relay::error_code;
use crate::support::app::code;
use crate::support::mcp::{call, mcp_client, mcp_client_watching_tools, tool_names};
use crate::support::python::{python2, run_client};
use crate::support::rest::{add_fixture, connect};

fn hidden_tools(tools: &Value) -> Vec<String> {
    let mut out: Vec<String> = tools["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter(|t| t["hidden"] == true)
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn a_session_filter_hides_tools_from_that_session_only_and_clients_hear_it() {
    let app = crate::support::app::spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    connect(&app, "fx", &alice).await;
    connect(&app, "fx", &bob).await;
    let (watcher, mut changed) = mcp_client_watching_tools(&app, "/mcp", &alice).await;
    assert_eq!(tool_names(&watcher).await.len(), 7);

    let (status, empty) = app.get("/api/v1/session/tool-filter", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, json!({"allow": [], "deny": []}));
    let started = Instant::now();
    let (status, stored) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/session/tool-filter",
            Some(&alice),
            Some(json!({"deny": ["fx__add*", "fx__fail"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(
        stored,
        json!({"allow": [], "deny": ["fx__add*", "fx__fail"]})
    );
    tokio::time::timeout(Duration::from_secs(5), changed.recv())
        .await
        .expect("tools/list_changed after the session filter changed")
        .expect("the watcher is alive");
    eprintln!(
        "list_changed {} ms after the PUT was sent",
        started.elapsed().as_millis()
    );
    let shown = ["fx__echo", "fx__progress", "fx__slow", "fx__whoami"];
    assert_eq!(tool_names(&watcher).await, shown);
    let err = watcher
        .call_tool(call("fx__add", json!({"a": 1, "b": 2})))
        .await
        .expect_err("hidden");
    assert_eq!(error_code(&err), "unknown_tool", "{err}");
    // The per-server route of the session hides them too.
    let per_server = mcp_client(&app, "/mcp/s/fx", &alice).await;
    assert_eq!(
        tool_names(&per_server).await,
        ["echo", "progress", "slow", "whoami"]
    );
    let err = per_server
        .call_tool(call("add", json!({"a": 1, "b": 2})))
        .await
        .expect_err("hidden on the per-server route");
    assert_eq!(error_code(&err), "unknown_tool", "{err}");

    // REST lists every tool, the hidden ones marked; GraphQL reads the same filter.
    let (_, tools) = app.get("/api/v1/session/tools", &alice).await;
    assert_eq!(hidden_tools(&tools), ["add", "add_tool", "fail"]);
    let got = data(
        &app,
        &alice,
        "{ sessionToolFilter { allow deny } }",
        json!({}),
    )
    .await;
    assert_eq!(
        got["sessionToolFilter"]["deny"],
        json!(["fx__add*", "fx__fail"])
    );

    // Bob's session is untouched.
    let bobs = mcp_client(&app, "/mcp", &bob).await;
    assert_eq!(tool_names(&bobs).await.len(), 7);
    let (_, tools) = app.get("/api/v1/session/tools", &bob).await;
    assert!(hidden_tools(&tools).is_empty(), "{tools}");

    // GraphQL clears it: everything shows again, and the client hears it.
    let cleared = data(
        &app,
        &alice,
        "mutation { setSessionToolFilter(filter: {}) { allow deny } }",
        json!({}),
    )
    .await;
    assert_eq!(
        cleared["setSessionToolFilter"],
        json!({"allow": [], "deny": []})
    );
    tokio::time::timeout(Duration::from_secs(5), changed.recv())
        .await
        .expect("tools/list_changed after the filter was cleared")
        .expect("the watcher is alive");
    assert_eq!(tool_names(&watcher).await.len(), 7);
    for client in [
        watcher.cancel().await.map(|_| ()),
        per_server.cancel().await.map(|_| ()),
        bobs.cancel().await.map(|_| ()),
    ] {
        client.expect("close");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_python_sdk_hears_the_session_filter_change_and_the_list_follows() {
    let app = crate::support::app::spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let out = run_client(
        python2(),
        "tool_filter_client.py",
        vec![
            app.url("/mcp"),
            app.url("/api/v1/session/tool-filter"),
            alice.clone(),
            json!({"allow": ["fx__echo", "fx__add"]}).to_string(),
            "fx__add_tool".into(),
        ],
        Duration::from_secs(60),
    )
    .await;
    eprintln!("python: {out}");
    assert_eq!(out["put_status"], 200, "{out}");
    assert_eq!(out["notified"], true, "{out}");
    assert_eq!(out["before"].as_array().map(Vec::len), Some(7), "{out}");
    assert_eq!(out["after"], json!(["fx__add", "fx__echo"]), "{out}");
    assert_eq!(out["hidden_call"], "unknown_tool", "{out}");
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_session_filter_is_refused_and_the_old_one_stays() {
    let app = crate::support::app::spawn_app().await;
    let alice = app.user_key("alice").await;
    let put = |body: Value| {
        app.call(
            reqwest::Method::PUT,
            "/api/v1/session/tool-filter",
            Some(&alice),
            Some(body),
        )
    };
    let (status, _) = put(json!({"deny": ["fx__*"]})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = put(json!({"deny": ["two words"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_tool_filter", "{body}");
    assert_eq!(body["error"]["field"], "deny", "{body}");
    let (status, body) = put(json!({"hide": ["x"]})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown keys: {body}"
    );
    let (_, kept) = app.get("/api/v1/session/tool-filter", &alice).await;
    assert_eq!(kept["deny"], json!(["fx__*"]));
    app.stop().await;
}
