//! Real MCP clients on `/mcp`: the official Python SDK (mcp 1.x) and
//! LangChain's `MultiServerMCPClient`, through `tests/fixtures/mcp_clients.py`.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app};
use crate::support::python::python;
use crate::support::upstreams::fixture_stdio;

const NAMESPACED: [&str; 7] = [
    "fx__add",
    "fx__add_tool",
    "fx__echo",
    "fx__fail",
    "fx__progress",
    "fx__slow",
    "fx__whoami",
];

/// An app where `alice` connected the stdio fixture as `fx`.
async fn connected_app() -> (TestApp, String) {
    let app = spawn_app().await;
    let (command, args) = fixture_stdio();
    let (status, body) = app
        .post(
            "/api/v1/servers",
            &app.admin_key,
            json!({"name": "fx", "transport": "stdio", "command": command, "args": args, "is_public": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alice = app.user_key("alice").await;
    let (status, body) = app.session_action("connect", "fx", &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (app, alice)
}

/// Runs the Python client off the async runtime and parses its JSON line.
async fn run_client(mode: &str, url: String, key: String, tool: &str, args: Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp_clients.py");
    let (mode, tool) = (mode.to_owned(), tool.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .args([script, &mode, &url, &key, &tool, &args.to_string()])
            .output()
            .expect("the Python client runs")
    })
    .await
    .expect("joined");
    assert!(
        output.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("client printed no JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn the_official_python_sdk_lists_and_calls_namespaced_tools() {
    let (app, alice) = connected_app().await;
    let out = run_client(
        "sdk",
        app.url("/mcp"),
        alice,
        "fx__add",
        json!({"a": 2, "b": 3}),
    )
    .await;
    assert_eq!(out["tools"], json!(NAMESPACED));
    assert_eq!(out["is_error"], false);
    assert_eq!(out["structured"], json!({"sum": 5}));
    assert!(
        out["protocol"]
            .as_str()
            .is_some_and(|p| p.starts_with("20")),
        "{out}"
    );
}

#[tokio::test]
async fn langchain_multi_server_client_gets_the_tools_and_invokes_one() {
    let (app, alice) = connected_app().await;
    let out = run_client(
        "langchain",
        app.url("/mcp"),
        alice,
        "fx__echo",
        json!({"text": "hello from langchain"}),
    )
    .await;
    assert_eq!(out["tools"], json!(NAMESPACED));
    assert_eq!(out["schemas_are_objects"], true);
    assert!(
        out["output"].to_string().contains("hello from langchain"),
        "{out}"
    );
}
