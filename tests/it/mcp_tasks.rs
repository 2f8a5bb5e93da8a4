//! MCP tasks (2025-11-25) pass through the gateway: tools list with their
//! `execution`, the `tasks` capability is advertised, a task-augmented call
//! answers a task that `tasks/get`, `tasks/result`, `tasks/list` and
//! `tasks/cancel` reach on the upstream that owns it, and status
//! notifications follow their task, on `/mcp` (task ids
//! `{server}/{upstream id}`) and on `/mcp/s/{server}` (the upstream's ids).
//!
//! Checked with the Python SDK 1.x client (`tests/fixtures/mcp_tasks_client.py`;
//! the 2.x SDK has no tasks client) against server-everything's
//! `simulate-research-query` (streamable HTTP) and the Python fixture's
//! `countdown` over WebSocket, legacy SSE and stdio, so every upstream
//! transport's raw path is crossed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app};
use crate::support::mcp::{complete_handshake, exchange, post_at, start_session};
use crate::support::python::{PyServer, fixture_script, python, run_client};
use crate::support::rest::{add_public, connect};
use crate::support::upstreams::{Everything, EverythingMode};

/// The revision that has tasks.
const V: &str = "2025-11-25";

/// The `tasks` capability both upstreams declare (and `/mcp` advertises).
fn full_capability() -> Value {
    json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}})
}

/// Runs the tasks client against `path` for `tool`; its JSON report.
async fn tasks_report(app: &TestApp, path: &str, key: &str, tool: &str, args: Value) -> Value {
    let args = vec![
        app.url(path),
        key.to_owned(),
        tool.to_owned(),
        args.to_string(),
    ];
    run_client(
        python(),
        "mcp_tasks_client.py",
        args,
        Duration::from_secs(180),
    )
    .await
}

/// What every report must show; `prefix` is what task ids start with on
/// this route (`""` on a per-server route).
fn assert_task_flow(report: &Value, prefix: &str, execution: &str, result: &str) {
    let context = format!("report: {report}");
    assert_eq!(report["protocol"], "2025-11-25", "{context}");
    assert_eq!(report["tasks_capability"], full_capability(), "{context}");
    assert_eq!(
        report["execution"],
        json!({"taskSupport": execution}),
        "{context}"
    );
    let created = report["created"]["task_id"].as_str().expect("a task id");
    let cancelled = report["cancel"]["task_id"].as_str().expect("a task id");
    for id in [created, cancelled] {
        assert!(id.starts_with(prefix), "{id}: {context}");
        if prefix.is_empty() {
            assert!(
                !id.starts_with("everything/") && !id.starts_with("py"),
                "{id}: {context}"
            );
        }
    }
    assert_eq!(report["created"]["status"], "working", "{context}");
    assert!(report["created"]["ttl"].is_u64(), "{context}");
    assert!(report["created"]["poll_interval"].is_u64(), "{context}");
    assert_eq!(report["ttl_in_every_get"], true, "{context}");
    assert_eq!(report["final_status"], "completed", "{context}");
    let text = report["result_text"].as_str().unwrap_or_default();
    assert!(text.contains(result), "{context}");
    assert_eq!(report["listed"], true, "{context}");
    assert_eq!(report["cancel"]["status"], "cancelled", "{context}");
    assert_eq!(report["cancel"]["after_get"], "cancelled", "{context}");
    assert_eq!(report["unknown_task"]["code"], -32602, "{context}");
    // Status notifications reach the creator, under the ids it knows.
    let notes = report["notifications"].as_array().expect("a list");
    assert!(
        notes
            .iter()
            .any(|n| n["task_id"] == created && n["status"] == "completed"),
        "the completion was announced: {context}"
    );
    for note in notes {
        assert!(
            note["task_id"] == created || note["task_id"] == cancelled,
            "a notification of a task this client knows: {context}"
        );
    }
}

#[tokio::test]
async fn tasks_run_through_mcp_and_per_server_routes_on_every_transport() {
    let everything = Everything::start(EverythingMode::StreamableHttp);
    let py_ws = PyServer::start("websocket");
    let py_sse = PyServer::start("sse");
    let app = spawn_app().await;
    add_public(
        &app,
        json!({"name": "everything", "transport": "streamable_http", "url": everything.url()}),
    )
    .await;
    add_public(
        &app,
        json!({"name": "pyws", "transport": "websocket", "url": py_ws.url().as_str()}),
    )
    .await;
    add_public(
        &app,
        json!({"name": "pysse", "transport": "sse", "url": py_sse.url().as_str()}),
    )
    .await;
    add_public(
        &app,
        json!({"name": "pystdio", "transport": "stdio",
            "command": python().to_string_lossy(),
            "args": [fixture_script("py_server.py").to_string_lossy(), "--transport", "stdio"]}),
    )
    .await;
    let alice = app.user_key("alice").await;
    for server in ["everything", "pyws", "pysse", "pystdio"] {
        connect(&app, server, &alice).await;
    }
    let research = json!({"topic": "rust"});
    let count = json!({"steps": 3});
    let (all_everything, all_ws, all_sse, all_stdio) = tokio::join!(
        tasks_report(
            &app,
            "/mcp",
            &alice,
            "everything__simulate-research-query",
            research.clone()
        ),
        tasks_report(&app, "/mcp", &alice, "pyws__countdown", count.clone()),
        tasks_report(&app, "/mcp", &alice, "pysse__countdown", count.clone()),
        tasks_report(&app, "/mcp", &alice, "pystdio__countdown", count.clone()),
    );
    assert_task_flow(
        &all_everything,
        "everything/",
        "required",
        "Research Report: rust",
    );
    assert_task_flow(&all_ws, "pyws/", "optional", "counted 3");
    assert_task_flow(&all_sse, "pysse/", "optional", "counted 3");
    assert_task_flow(&all_stdio, "pystdio/", "optional", "counted 3");

    // A task that needs input: its elicitation comes through tasks/result
    // and reaches this client, whose answer shapes the result.
    let ambiguous = tasks_report(
        &app,
        "/mcp",
        &alice,
        "everything__simulate-research-query",
        json!({"topic": "python", "ambiguous": true}),
    )
    .await;
    assert_eq!(ambiguous["final_status"], "completed", "{ambiguous}");
    assert!(
        ambiguous["statuses"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("input_required"))),
        "{ambiguous}"
    );
    assert_eq!(
        ambiguous["elicitations"].as_array().map(Vec::len),
        Some(1),
        "{ambiguous}"
    );
    assert!(
        ambiguous["result_text"]
            .as_str()
            .is_some_and(|t| t.contains("Research Report: python (programming)")),
        "{ambiguous}"
    );

    let (one_everything, one_ws) = tokio::join!(
        tasks_report(
            &app,
            "/mcp/s/everything",
            &alice,
            "simulate-research-query",
            research
        ),
        tasks_report(&app, "/mcp/s/pyws", &alice, "countdown", count),
    );
    assert_task_flow(&one_everything, "", "required", "Research Report: rust");
    assert_task_flow(&one_ws, "", "optional", "counted 3");
    app.stop().await;
}

/// A JSON-RPC request.
fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[tokio::test]
async fn a_task_is_reachable_only_from_its_own_session_and_only_on_2025_11_25() {
    use crate::support::mcp::post;
    let everything = Everything::start(EverythingMode::StreamableHttp);
    let app = spawn_app().await;
    add_public(
        &app,
        json!({"name": "everything", "transport": "streamable_http", "url": everything.url()}),
    )
    .await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    connect(&app, "everything", &alice).await;
    connect(&app, "everything", &bob).await;

    let (alice_session, init) = start_session(&app, "/mcp", &alice, V).await;
    assert_eq!(
        init["result"]["capabilities"]["tasks"],
        full_capability(),
        "{init}"
    );
    complete_handshake(&app, "/mcp", &alice, &alice_session, V).await;
    let call = rpc(
        1,
        "tools/call",
        json!({"name": "everything__simulate-research-query",
            "arguments": {"topic": "isolation"}, "task": {"ttl": 60000}}),
    );
    let (_, _, created) = exchange(post(&app, &alice, Some(&alice_session), Some(V), &call)).await;
    let task_id = created["result"]["task"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a task: {created}"))
        .to_owned();
    assert!(task_id.starts_with("everything/"), "{created}");

    // Bob's session has its own upstream session: alice's task is not there.
    let (bob_session, _) = start_session(&app, "/mcp", &bob, V).await;
    complete_handshake(&app, "/mcp", &bob, &bob_session, V).await;
    for (i, method) in ["tasks/get", "tasks/result", "tasks/cancel"]
        .iter()
        .enumerate()
    {
        let ask = rpc(10 + i as u64, method, json!({"taskId": task_id}));
        let (_, _, answer) = exchange(post(&app, &bob, Some(&bob_session), Some(V), &ask)).await;
        assert_eq!(answer["error"]["code"], -32602, "{method} by bob: {answer}");
    }
    let (_, _, listed) = exchange(post(
        &app,
        &bob,
        Some(&bob_session),
        Some(V),
        &rpc(20, "tasks/list", json!({})),
    ))
    .await;
    assert_eq!(listed["result"]["tasks"], json!([]), "{listed}");

    // Alice still reaches it; an id without a server, or no id, is invalid.
    let get = rpc(30, "tasks/get", json!({"taskId": task_id}));
    let (_, _, got) = exchange(post(&app, &alice, Some(&alice_session), Some(V), &get)).await;
    assert_eq!(got["result"]["taskId"], json!(task_id), "{got}");
    assert!(got["result"]["ttl"].is_u64(), "{got}");
    for params in [json!({"taskId": "no-server-part"}), json!({})] {
        let ask = rpc(31, "tasks/get", params);
        let (_, _, answer) =
            exchange(post(&app, &alice, Some(&alice_session), Some(V), &ask)).await;
        assert_eq!(answer["error"]["code"], -32602, "{answer}");
    }
    // The private methods the endpoint diverts to cannot be called directly.
    let private = rpc(
        32,
        "manifold/2025-11-25/tasks/get",
        json!({"taskId": task_id}),
    );
    let (_, _, answer) =
        exchange(post(&app, &alice, Some(&alice_session), Some(V), &private)).await;
    assert_eq!(answer["error"]["code"], -32601, "{answer}");

    // Revisions before tasks see neither the capability nor `execution`.
    let (old_session, old_init) = start_session(&app, "/mcp", &alice, "2025-06-18").await;
    assert!(
        old_init["result"]["capabilities"].get("tasks").is_none(),
        "{old_init}"
    );
    complete_handshake(&app, "/mcp", &alice, &old_session, "2025-06-18").await;
    let (_, _, tools) = exchange(post(
        &app,
        &alice,
        Some(&old_session),
        Some("2025-06-18"),
        &rpc(40, "tools/list", json!({})),
    ))
    .await;
    let research = tools["result"]["tools"]
        .as_array()
        .and_then(|t| {
            t.iter()
                .find(|t| t["name"] == "everything__simulate-research-query")
        })
        .unwrap_or_else(|| panic!("listed: {tools}"));
    assert!(research.get("execution").is_none(), "{research}");
    app.stop().await;
}

/// The `tools` of a `tools/list` in `session` on `path` under `version`.
async fn listed(app: &TestApp, path: &str, key: &str, session: &str, version: &str) -> Value {
    let (_, _, tools) = exchange(post_at(
        app,
        path,
        key,
        Some(session),
        Some(version),
        &rpc(1, "tools/list", json!({})),
    ))
    .await;
    tools["result"]["tools"].clone()
}

#[tokio::test]
async fn without_task_tools_a_2025_11_25_tools_list_is_the_one_of_earlier_revisions() {
    // A view with no `execution` is served by rmcp itself on 2025-11-25
    // (the tasks path rebuilds the answer only when it must add fields):
    // the answer is the same either way, on both routes.
    let app = spawn_app().await;
    crate::support::rest::add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    for path in ["/mcp", "/mcp/s/fx"] {
        let (new_session, _) = start_session(&app, path, &alice, V).await;
        complete_handshake(&app, path, &alice, &new_session, V).await;
        let (old_session, _) = start_session(&app, path, &alice, "2025-06-18").await;
        complete_handshake(&app, path, &alice, &old_session, "2025-06-18").await;
        let new = listed(&app, path, &alice, &new_session, V).await;
        let old = listed(&app, path, &alice, &old_session, "2025-06-18").await;
        assert!(
            new.as_array().is_some_and(|tools| tools.len() > 3),
            "{path}: {new}"
        );
        assert_eq!(new, old, "{path}");
    }
    app.stop().await;
}
