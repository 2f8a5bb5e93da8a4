//! Search mode (`?tools=search`): the client sees exactly two tools,
//! `manifold__search_tools` finds the session's tools by what they do and
//! `manifold__call_tool` calls one as a `tools/call` would, progress
//! included; a plain call of a real name still works.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::mcp_relay::error_code;
use crate::support::app::code;
use crate::support::mcp::{call, initialize, mcp_client, text_of, tool_names};
use crate::support::python::{python2, run_client};
use crate::support::rest::{add_fixture, app_with_connected_fixture, connect};

const SEARCH: &str = "manifold__search_tools";
const CALL: &str = "manifold__call_tool";

fn found_names(result: &Value) -> Vec<String> {
    result["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn search_mode_lists_two_tools_finds_by_meaning_and_calls_through() {
    let app = crate::support::app::spawn_app().await;
    add_fixture(&app, "fx").await;
    add_fixture(&app, "other").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    connect(&app, "other", &alice).await;
    let client = mcp_client(&app, "/mcp?tools=search", &alice).await;
    assert_eq!(tool_names(&client).await, [CALL, SEARCH]);

    let found = client
        .call_tool(call(
            SEARCH,
            json!({"query": "add two numbers", "limit": 3}),
        ))
        .await
        .expect("search");
    let result = found
        .structured_content
        .clone()
        .expect("structured matches");
    let names = found_names(&result);
    assert!(names.len() <= 3 && !names.is_empty(), "{result}");
    assert!(
        names[0].ends_with("__add"),
        "the adder ranks first: {result}"
    );
    assert_eq!(result["total"], 14, "two fixtures' tools are searched");
    let first = &result["tools"][0];
    assert_eq!(first["inputSchema"]["type"], "object", "{first}");
    assert!(first["description"].is_string(), "{first}");
    assert_eq!(
        serde_json::from_str::<Value>(&text_of(&found)).ok(),
        Some(result.clone()),
        "the text content carries the same JSON for clients that read text"
    );

    let called = client
        .call_tool(call(
            CALL,
            json!({"name": "other__add", "arguments": {"a": 20, "b": 22}}),
        ))
        .await
        .expect("call through");
    assert_eq!(called.structured_content, Some(json!({"sum": 42})));
    // A plain call of a real name still works on a search route.
    let echoed = client
        .call_tool(call("fx__echo", json!({"text": "plain"})))
        .await
        .expect("plain call");
    assert_eq!(text_of(&echoed), "plain");

    // Errors are those of a direct call, or the gateway's own for its tools.
    let err = client
        .call_tool(call(CALL, json!({"name": "fx__nope", "arguments": {}})))
        .await
        .expect_err("unknown");
    assert_eq!(error_code(&err), "unknown_tool", "{err}");
    for bad in [
        (SEARCH, json!({})),
        (SEARCH, json!({"query": "x", "limit": 0})),
        (CALL, json!({"arguments": {}})),
        (CALL, json!({"name": "fx__echo", "arguments": "text"})),
    ] {
        let err = client
            .call_tool(call(bad.0, bad.1.clone()))
            .await
            .expect_err("bad arguments");
        assert_eq!(error_code(&err), "invalid_arguments", "{bad:?}: {err}");
    }
    client.cancel().await.expect("close");

    // Without the option the gateway's tools do not exist.
    let plain = mcp_client(&app, "/mcp", &alice).await;
    assert_eq!(tool_names(&plain).await.len(), 14);
    let err = plain
        .call_tool(call(SEARCH, json!({"query": "add"})))
        .await
        .expect_err("not a search route");
    assert_eq!(error_code(&err), "unknown_tool", "{err}");
    plain.cancel().await.expect("close");
    app.stop().await;
}

#[tokio::test]
async fn the_python_sdk_searches_and_calls_through_with_progress() {
    let (app, alice) = app_with_connected_fixture().await;
    let url = app.url("/mcp?tools=search");
    let run = |action: &str, tool: &str, args: Value| {
        run_client(
            python2(),
            "mcp_sdk2_client.py",
            vec![
                "session".into(),
                action.into(),
                url.clone(),
                alice.clone(),
                tool.into(),
                args.to_string(),
            ],
            Duration::from_secs(60),
        )
    };
    let out = run("call", SEARCH, json!({"query": "report progress in steps"})).await;
    assert_eq!(out["tools"], json!([CALL, SEARCH]), "{out}");
    assert_eq!(out["is_error"], false, "{out}");
    let names = found_names(&out["structured"]);
    assert_eq!(
        names.first().map(String::as_str),
        Some("fx__progress"),
        "{out}"
    );

    let out = run(
        "progress",
        CALL,
        json!({"name": "fx__progress", "arguments": {"steps": 3}}),
    )
    .await;
    assert_eq!(out["is_error"], false, "{out}");
    let seen = out["progress"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        seen.len(),
        3,
        "every step's progress reached the client: {out}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_tools_option_is_refused_before_any_mcp_exchange() {
    let app = crate::support::app::spawn_app().await;
    let alice = app.user_key("alice").await;
    let resp = app
        .mcp_post(
            "/mcp?tools=everything",
            Some(&alice),
            None,
            &initialize("2025-06-18"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("a JSON error");
    assert_eq!(code(&body), "invalid_query", "{body}");
    app.stop().await;
}
