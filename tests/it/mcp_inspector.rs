//! MCP Inspector's CLI (`@modelcontextprotocol/inspector` 2.x, `--cli`) on
//! `/mcp`, with the key in an `Authorization` header: it lists the
//! session's namespaced tools and calls one.

use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::node::{inspector_launcher, node_command, run};
use crate::support::rest::app_with_connected_fixture;

/// `mcp-inspector --cli URL --transport http --format json ARGS…`.
async fn inspector(url: &str, args: &[&str]) -> Output {
    let home = TempDir::new().expect("a home folder for the Inspector");
    let mut command = node_command(&home);
    command
        .arg(inspector_launcher())
        .args(["--cli", url, "--transport", "http", "--format", "json"])
        .args(args);
    run(command, Duration::from_secs(60)).await
}

/// The JSON object the CLI printed, after checking it exited 0.
fn result_of(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Inspector CLI failed ({}):\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let value: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("the Inspector printed no JSON ({e}): {stdout}"));
    value["result"].clone()
}

#[tokio::test]
async fn the_inspector_cli_lists_and_calls_namespaced_tools_with_an_authorization_header() {
    let (app, alice) = app_with_connected_fixture().await;
    let url = app.url("/mcp");
    let auth = format!("Authorization: Bearer {alice}");

    let listed = result_of(&inspector(&url, &["--method", "tools/list", "--header", &auth]).await);
    let mut names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools array: {listed}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "fx__add",
            "fx__add_tool",
            "fx__echo",
            "fx__fail",
            "fx__progress",
            "fx__slow",
            "fx__whoami"
        ]
    );

    let called = result_of(
        &inspector(
            &url,
            &[
                "--method",
                "tools/call",
                "--tool-name",
                "fx__add",
                "--tool-arg",
                "a=2",
                "b=3",
                "--header",
                &auth,
            ],
        )
        .await,
    );
    assert_eq!(called["isError"], false, "{called}");
    assert_eq!(called["structuredContent"], json!({"sum": 5}), "{called}");
    assert_eq!(called["content"][0]["text"], "5", "{called}");
}

#[tokio::test]
async fn the_inspector_cli_without_a_key_gets_no_tools() {
    let (app, _alice) = app_with_connected_fixture().await;
    let output = inspector(&app.url("/mcp"), &["--method", "tools/list"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "listed without a key: {stdout}");
    assert!(
        !stdout.contains("fx__"),
        "tools leaked without a key: {stdout}"
    );
    // The gateway's 401 carries `WWW-Authenticate`, so the Inspector turns to
    // OAuth, which it will not start without a terminal: an auth error.
    assert!(
        stderr.contains("auth_required"),
        "the error is not about authentication:\nstdout: {stdout}\nstderr: {stderr}"
    );
}
