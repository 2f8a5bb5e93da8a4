//! Real Python MCP clients on `/mcp`: the official SDK 1.x and LangChain's
//! `MultiServerMCPClient` (`tests/fixtures/mcp_clients.py`, venv `py`), and
//! the official SDK 2.x (`tests/fixtures/mcp_sdk2_client.py`, venv `py2`)
//! both as `ClientSession` and as `mcp.Client` in auto mode.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app};
use crate::support::python::{fixture_script, python, python2};
use crate::support::rest::{add_public, app_with_connected_fixture, connect};
use crate::support::upstreams::{FIXTURE_TOOLS, FixtureHttp};

/// The fixture's tools as `/mcp` lists them for server `fx`.
fn namespaced() -> Value {
    FIXTURE_TOOLS.iter().map(|t| format!("fx__{t}")).collect()
}

/// Runs `python script args…` off the async runtime (killed after 60 s) and
/// parses the JSON object on its last stdout line.
async fn run_script(python: PathBuf, script: &str, args: Vec<String>) -> Value {
    let script = fixture_script(script);
    let task = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&python)
            .arg(&script)
            .args(&args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let deadline = Instant::now() + Duration::from_secs(60);
        while matches!(child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = child.kill();
                let output = child.wait_with_output().expect("output");
                panic!(
                    "{} {args:?} ran over 60 s; stderr:\n{}",
                    script.display(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("the client's output")
    });
    let output = match task.await {
        Ok(output) => output,
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed: {stderr}");
    // Closing the session (DELETE /mcp) is a success to every SDK: the 1.x
    // and 2.x SDKs log anything but 200/204 as a failed termination.
    assert!(
        !stderr.contains("Session termination failed"),
        "the client saw its session's termination fail:\n{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("client printed no JSON ({e}): {stdout}"))
}

/// The 1.x SDK or LangChain (`mcp_clients.py MODE URL KEY TOOL ARGS`).
async fn run_client(mode: &str, url: String, key: String, tool: &str, args: Value) -> Value {
    let args = vec![mode.to_owned(), url, key, tool.to_owned(), args.to_string()];
    run_script(python(), "mcp_clients.py", args).await
}

/// The 2.x SDK (`mcp_sdk2_client.py CONNECT ACTION URL KEY TOOL ARGS`).
async fn run_sdk2(
    connect: &str,
    action: &str,
    app: &TestApp,
    key: &str,
    tool: &str,
    args: Value,
) -> Value {
    let args = vec![
        connect.to_owned(),
        action.to_owned(),
        app.url("/mcp"),
        key.to_owned(),
        tool.to_owned(),
        args.to_string(),
    ];
    run_script(python2(), "mcp_sdk2_client.py", args).await
}

#[tokio::test]
async fn the_official_python_sdk_lists_and_calls_namespaced_tools() {
    let (app, alice) = app_with_connected_fixture().await;
    let out = run_client(
        "sdk",
        app.url("/mcp"),
        alice,
        "fx__add",
        json!({"a": 2, "b": 3}),
    )
    .await;
    assert_eq!(out["tools"], namespaced());
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
    let (app, alice) = app_with_connected_fixture().await;
    let out = run_client(
        "langchain",
        app.url("/mcp"),
        alice,
        "fx__echo",
        json!({"text": "hello from langchain"}),
    )
    .await;
    assert_eq!(out["tools"], namespaced());
    assert_eq!(out["schemas_are_objects"], true);
    assert!(
        out["output"].to_string().contains("hello from langchain"),
        "{out}"
    );
}

#[tokio::test]
async fn langchain_runs_on_the_config_dict_the_gateway_hands_out() {
    let (app, alice) = app_with_connected_fixture().await;
    // A second upstream with more tools, so each entry's tools are told apart.
    let http = FixtureHttp::start_with_env(&[("FIXTURE_TOOL_COUNT", "2")]);
    add_public(
        &app,
        json!({"name": "fy", "transport": "streamable_http", "url": http.url()}),
    )
    .await;
    connect(&app, "fy", &alice).await;

    let (status, config) = app.get("/api/v1/session/langchain-config", &alice).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    // One entry per connected server, each at its own route on the gateway,
    // and never a real key.
    for server in ["fx", "fy"] {
        let entry = &config[server];
        assert_eq!(entry["transport"], "streamable_http", "{config}");
        assert_eq!(
            entry["url"],
            app.url(&format!("/mcp/s/{server}")),
            "{config}"
        );
    }
    assert_eq!(config.as_object().map(|o| o.len()), Some(2), "{config}");
    assert!(
        !config.to_string().contains(&alice),
        "the dict holds the key"
    );

    let out = run_client(
        "langchain-config",
        config.to_string(),
        alice.clone(),
        "fy_add",
        json!({"a": 40, "b": 2}),
    )
    .await;
    let mut expected: Vec<String> = FIXTURE_TOOLS.iter().map(|t| format!("fx_{t}")).collect();
    expected.extend(
        [
            "add", "add_tool", "echo", "fail", "progress", "slow", "t0", "t1", "whoami",
        ]
        .map(|t| format!("fy_{t}")),
    );
    expected.sort();
    assert_eq!(out["tools"], json!(expected));
    assert!(out["output"].to_string().contains("42"), "{out}");

    let out = run_client(
        "langchain-config",
        config.to_string(),
        alice,
        "fx_echo",
        json!({"text": "through the per-server route"}),
    )
    .await;
    assert!(
        out["output"]
            .to_string()
            .contains("through the per-server route"),
        "{out}"
    );
}

#[tokio::test]
async fn the_python_sdk_2_client_session_lists_and_calls_namespaced_tools() {
    let (app, alice) = app_with_connected_fixture().await;
    let out = run_sdk2(
        "session",
        "call",
        &app,
        &alice,
        "fx__add",
        json!({"a": 2, "b": 3}),
    )
    .await;
    assert_eq!(out["server"], "manifold", "{out}");
    assert_eq!(out["protocol"], "2025-11-25", "{out}");
    assert_eq!(out["tools"], namespaced());
    assert_eq!(out["is_error"], false);
    assert_eq!(out["text"], json!(["5"]));
    assert_eq!(out["structured"], json!({"sum": 5}));
}

#[tokio::test]
async fn the_python_sdk_2_client_in_auto_mode_lists_and_calls_namespaced_tools() {
    let (app, alice) = app_with_connected_fixture().await;
    let out = run_sdk2(
        "auto",
        "call",
        &app,
        &alice,
        "fx__echo",
        json!({"text": "auto"}),
    )
    .await;
    println!("mcp.Client(mode=\"auto\") negotiated {}", out["protocol"]);
    assert!(
        out["protocol"]
            .as_str()
            .is_some_and(|p| p.starts_with("20")),
        "{out}"
    );
    assert_eq!(out["tools"], namespaced());
    assert_eq!(out["is_error"], false);
    assert_eq!(out["text"], json!(["auto"]));
}

/// What the fixture's `progress` tool reports for 3 steps.
fn three_steps() -> Value {
    json!([
        {"progress": 1.0, "total": 3.0, "message": "step 1 of 3"},
        {"progress": 2.0, "total": 3.0, "message": "step 2 of 3"},
        {"progress": 3.0, "total": 3.0, "message": "step 3 of 3"},
    ])
}

#[tokio::test]
async fn the_python_sdk_2_client_session_sees_the_upstreams_progress() {
    let (app, alice) = app_with_connected_fixture().await;
    let out = run_sdk2(
        "session",
        "progress",
        &app,
        &alice,
        "fx__progress",
        json!({"steps": 3}),
    )
    .await;
    assert_eq!(out["text"], json!(["done 3 steps"]), "{out}");
    assert_eq!(out["progress"], three_steps(), "{out}");
}

#[tokio::test]
async fn the_python_sdk_2_client_in_auto_mode_sees_the_upstreams_progress() {
    let (app, alice) = app_with_connected_fixture().await;
    let out = run_sdk2(
        "auto",
        "progress",
        &app,
        &alice,
        "fx__progress",
        json!({"steps": 3}),
    )
    .await;
    assert_eq!(out["text"], json!(["done 3 steps"]), "{out}");
    assert_eq!(out["progress"], three_steps(), "{out}");
}

/// The SDK gives up on `fx__slow` after 1 s; the upstream must stop the
/// work (its log says so) and the connection must keep working.
async fn cancel_slow_call(connect_mode: &str) {
    let app = spawn_app().await;
    let upstream = FixtureHttp::start();
    add_public(
        &app,
        json!({"name": "fx", "transport": "streamable_http", "url": upstream.url()}),
    )
    .await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;

    let out = run_sdk2(
        connect_mode,
        "cancel",
        &app,
        &alice,
        "fx__slow",
        json!({"seconds": 30}),
    )
    .await;
    assert_eq!(out["cancelled"], true, "{out}");
    assert_eq!(out["finished"], Value::Null, "{out}");
    assert_eq!(out["after"]["text"], json!(["still here"]), "{out}");

    let deadline = Instant::now() + Duration::from_secs(5);
    while !upstream.process().log().contains("slow: cancelled") {
        assert!(
            Instant::now() < deadline,
            "the upstream's slow call was not cancelled within 5 s of the client's cancel; its log:\n{}",
            upstream.process().log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_python_sdk_2_client_session_cancels_a_slow_upstream_call() {
    cancel_slow_call("session").await;
}

#[tokio::test]
async fn the_python_sdk_2_client_in_auto_mode_cancels_a_slow_upstream_call() {
    cancel_slow_call("auto").await;
}

/// A gateway whose calls may be silent for 2 s (`call_max` in all), with
/// the stdio fixture connected as `fx` for alice; her key.
async fn app_with_short_call_timeout(call_max: u64) -> (TestApp, String) {
    let app = crate::support::app::spawn_app_with(|s| {
        s.upstream.call_timeout_seconds = 2;
        s.upstream.call_max_seconds = call_max;
    })
    .await;
    crate::support::rest::add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    (app, alice)
}

#[tokio::test]
async fn a_call_that_reports_progress_may_outlast_the_call_timeout() {
    let (app, alice) = app_with_short_call_timeout(3600).await;
    // Six steps 800 ms apart: 4.8 s in all, never 2 s without news.
    let out = run_sdk2(
        "session",
        "progress",
        &app,
        &alice,
        "fx__progress",
        json!({"steps": 6, "interval_ms": 800}),
    )
    .await;
    assert_eq!(out["text"], json!(["done 6 steps"]), "{out}");
    assert_eq!(out["progress"].as_array().map(Vec::len), Some(6), "{out}");
}

#[tokio::test]
async fn silence_and_the_total_limit_still_end_a_call_with_upstream_timeout() {
    use crate::support::mcp::{call, mcp_client};
    let (app, alice) = app_with_short_call_timeout(3).await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    let error_code = |err: rmcp::ServiceError| match err {
        rmcp::ServiceError::McpError(err) => {
            err.data.and_then(|d| d["code"].as_str().map(str::to_owned))
        }
        _ => None,
    };
    // Silent for 5 s: ends after about 2 s.
    let started = Instant::now();
    let silent = client
        .call_tool(call("fx__slow", json!({"seconds": 5})))
        .await
        .expect_err("a silent call times out");
    let took = started.elapsed();
    assert_eq!(error_code(silent).as_deref(), Some("upstream_timeout"));
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // Progress every 800 ms for 8 s: ends at the 3 s total.
    let started = Instant::now();
    let chatty = client
        .call_tool(call(
            "fx__progress",
            json!({"steps": 10, "interval_ms": 800}),
        ))
        .await
        .expect_err("the total limit holds");
    let took = started.elapsed();
    assert_eq!(error_code(chatty).as_deref(), Some("upstream_timeout"));
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(6),
        "{took:?}"
    );
    client.cancel().await.expect("the client closes");
    app.stop().await;
}
