//! The hot path: a plain `tools/call` in an MCP session is served without
//! rmcp's session worker (`gateway::direct`). What a client sees must not
//! change: the answer on the call's SSE stream in the shape the session's
//! protocol version has, progress on that stream under the client's token,
//! `notifications/cancelled` honoured, and a session busy only with tool
//! calls is not idle.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::spawn_app_with;
use crate::support::mcp::{
    SESSION_REVISION, cancel_request, exchange, exchange_all, listen, open_session, post,
    until_list_changed,
};
use crate::support::rest::{add_fixture, connect};

fn tool_call(id: u64, name: &str, arguments: Value, progress: Option<&str>) -> Value {
    let mut params = json!({"name": name, "arguments": arguments});
    if let Some(token) = progress {
        params["_meta"] = json!({"progressToken": token});
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

#[tokio::test]
async fn a_tool_call_answers_on_its_stream_in_the_sessions_own_shape_with_progress_first() {
    let app = spawn_app_with(|_| {}).await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let session = open_session(&app, "/mcp", &alice).await;

    // A plain call: one SSE response, one message, the upstream's result
    // without the `resultType` a 2025-11-25 client does not know.
    let response = exchange_all(post(
        &app,
        &alice,
        Some(&session),
        Some(SESSION_REVISION),
        &tool_call(41, "fx__add", json!({"a": 2, "b": 3}), None),
    ))
    .await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        response.content_type.starts_with("text/event-stream"),
        "{}",
        response.content_type
    );
    let messages = response.messages;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let answer = &messages[0];
    assert_eq!(answer["id"], 41, "{answer}");
    assert_eq!(answer["result"]["structuredContent"], json!({"sum": 5}));
    assert_eq!(answer["result"]["content"][0]["text"], "5");
    assert!(
        answer["result"].get("resultType").is_none(),
        "a legacy session gets no resultType: {answer}"
    );

    // With a progress token: every step arrives under the client's own
    // token, before the answer, on the same stream.
    let response = exchange_all(post(
        &app,
        &alice,
        Some(&session),
        Some(SESSION_REVISION),
        &tool_call(42, "fx__progress", json!({"steps": 3}), Some("mine")),
    ))
    .await;
    assert_eq!(response.status, StatusCode::OK);
    let messages = response.messages;
    let (answer, progress) = messages.split_last().expect("messages");
    assert_eq!(answer["id"], 42, "the answer comes last: {messages:?}");
    assert_eq!(progress.len(), 3, "{messages:?}");
    for (step, note) in progress.iter().enumerate() {
        assert_eq!(note["method"], "notifications/progress", "{note}");
        assert_eq!(note["params"]["progressToken"], "mine", "{note}");
        assert_eq!(
            note["params"]["progress"].as_f64(),
            Some(step as f64 + 1.0),
            "{note}"
        );
    }

    // An unknown tool is the gateway's error, with its code.
    let (status, _, answer) = exchange(post(
        &app,
        &alice,
        Some(&session),
        Some(SESSION_REVISION),
        &tool_call(43, "fx__nope", json!({}), None),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["id"], 43, "{answer}");
    assert_eq!(answer["error"]["data"]["code"], "unknown_tool", "{answer}");
}

#[tokio::test]
async fn notifications_cancelled_ends_a_call_in_flight_at_once() {
    let app = spawn_app_with(|_| {}).await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let session = open_session(&app, "/mcp", &alice).await;

    let started = Instant::now();
    let slow = {
        let request = post(
            &app,
            &alice,
            Some(&session),
            Some(SESSION_REVISION),
            &tool_call(7, "fx__slow", json!({"seconds": 30}), None),
        );
        tokio::spawn(exchange(request))
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cancel_request(&app, &alice, &session, 7, "changed my mind").await,
        StatusCode::ACCEPTED
    );
    let (status, _, answer) = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("the cancelled call ends at once")
        .expect("the call task");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["id"], 7, "{answer}");
    assert_eq!(answer["error"]["data"]["code"], "cancelled", "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // The session goes on.
    let (_, _, answer) = exchange(post(
        &app,
        &alice,
        Some(&session),
        Some(SESSION_REVISION),
        &tool_call(8, "fx__echo", json!({"text": "after"}), None),
    ))
    .await;
    assert_eq!(answer["result"]["content"][0]["text"], "after", "{answer}");
}

#[tokio::test]
async fn a_session_busy_with_tool_calls_is_not_dropped_as_idle() {
    // A one-second idle timeout: if the replica took a session that only
    // makes tool calls for idle, it would drop it, and its GET stream with
    // it.
    let app = spawn_app_with(|s| s.mcp.session_idle_seconds = 1).await;
    add_fixture(&app, "fx").await;
    add_fixture(&app, "fy").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let session = open_session(&app, "/mcp", &alice).await;
    let mut listen = listen(&app, &alice, &session).await;

    let until = Instant::now() + Duration::from_millis(2500);
    let mut id = 100;
    while Instant::now() < until {
        id += 1;
        let (status, _, answer) = exchange(post(
            &app,
            &alice,
            Some(&session),
            Some(SESSION_REVISION),
            &tool_call(id, "fx__echo", json!({"text": "busy"}), None),
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["result"]["content"][0]["text"], "busy", "{answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The GET stream is still the session's: a change reaches it.
    connect(&app, "fy", &alice).await;
    until_list_changed(&mut listen).await;
}
