//! `mcp.session_warm_seconds`: an MCP session with no open stream and no
//! request for that long is put to sleep (rmcp's worker and service end, a
//! small entry stays). A client cannot tell: tool calls are served asleep,
//! anything else wakes the session with its handshake replayed, a GET
//! stream keeps it awake and gets the session's notifications, DELETE ends
//! it, and it keeps its place under `mcp.max_sessions_per_user`. The log
//! tells when a session sleeps and wakes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app_with};
use crate::support::log::CapturedLog;
use crate::support::mcp::{
    SESSION_REVISION, exchange, initialize, listen, names_in, open_session, post, post_at,
    until_list_changed,
};
use crate::support::rest::{add_fixture, connect};

/// The log line of `session` put to sleep.
fn slept(session: &str) -> String {
    format!("put an MCP session to sleep mcp_session={session}")
}

/// The log line of `session` woken.
fn woke(session: &str) -> String {
    format!("woke a sleeping MCP session mcp_session={session}")
}

/// How often `needle` is in the log.
fn times(log: &CapturedLog, needle: &str) -> usize {
    log.text().matches(needle).count()
}

/// Waits until `session` has been put to sleep `n` times.
async fn asleep(log: &CapturedLog, session: &str, n: usize) {
    log.wait_for(&slept(session), n, Duration::from_secs(10))
        .await;
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A `ping` (no params, as clients send it).
fn ping(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "ping"})
}

/// Sends `message` in `session` and returns the answer, which must be 200.
async fn ask(app: &TestApp, key: &str, session: &str, message: &Value) -> Value {
    let (status, _, answer) = exchange(post(
        app,
        key,
        Some(session),
        Some(SESSION_REVISION),
        message,
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{message}: {answer}");
    answer
}

#[tokio::test]
async fn an_idle_session_sleeps_and_serves_calls_and_lists_as_before() {
    let log = CapturedLog::default();
    let _capture = log.install();
    let app = spawn_app_with(|s| s.mcp.session_warm_seconds = 1).await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let session = open_session(&app, "/mcp", &alice).await;
    let listed = ask(&app, &alice, &session, &request(1, "tools/list", json!({}))).await;
    let tools = names_in(&listed["result"]["tools"]);
    assert!(tools.contains(&"fx__echo".to_owned()), "{listed}");
    asleep(&log, &session, 1).await;

    // A tool call is served asleep, and keeps it asleep.
    let call = request(
        2,
        "tools/call",
        json!({"name": "fx__echo", "arguments": {"text": "asleep"}}),
    );
    let answer = ask(&app, &alice, &session, &call).await;
    assert_eq!(answer["result"]["content"][0]["text"], "asleep", "{answer}");
    assert_eq!(
        times(&log, &woke(&session)),
        0,
        "a tool call woke the session"
    );

    // Anything rmcp serves wakes it, with the session's handshake: the
    // same tools, the same shapes.
    let again = ask(&app, &alice, &session, &request(3, "tools/list", json!({}))).await;
    assert_eq!(again["result"], listed["result"], "woken, the list changed");
    assert_eq!(again["id"], 3);
    assert_eq!(
        times(&log, &woke(&session)),
        1,
        "tools/list did not wake it"
    );
    let pong = ask(&app, &alice, &session, &ping(4)).await;
    assert_eq!(pong["result"], json!({}), "{pong}");

    // Asleep again, it ends with DELETE like any session.
    asleep(&log, &session, 2).await;
    let response = app
        .client
        .delete(app.url("/mcp"))
        .bearer_auth(&alice)
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("DELETE sent");
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _, answer) = exchange(post(
        &app,
        &alice,
        Some(&session),
        Some(SESSION_REVISION),
        &call,
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("\nmanifold_mcp_sessions_awake "),
        "operators see how many sessions are awake: {metrics}"
    );
}

#[tokio::test]
async fn a_get_stream_keeps_its_session_awake_and_gets_its_notifications() {
    let log = CapturedLog::default();
    let _capture = log.install();
    let app = spawn_app_with(|s| s.mcp.session_warm_seconds = 1).await;
    add_fixture(&app, "fx").await;
    add_fixture(&app, "fy").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let session = open_session(&app, "/mcp", &alice).await;
    asleep(&log, &session, 1).await;

    // Opening the stream wakes the session; open, it stays awake.
    let mut listen = listen(&app, &alice, &session).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        times(&log, &woke(&session)),
        1,
        "the GET stream did not wake it"
    );
    assert_eq!(
        times(&log, &slept(&session)),
        1,
        "put to sleep under an open GET stream"
    );

    // The woken session was registered for changes as the caller.
    connect(&app, "fy", &alice).await;
    until_list_changed(&mut listen).await;
    // Closed, the stream no longer holds the session awake.
    drop(listen);
    asleep(&log, &session, 2).await;
}

#[tokio::test]
async fn a_sleeping_session_keeps_its_place_under_the_session_limit() {
    let log = CapturedLog::default();
    let _capture = log.install();
    let app = spawn_app_with(|s| {
        s.mcp.session_warm_seconds = 1;
        s.mcp.max_sessions_per_user = 2;
    })
    .await;
    let alice = app.user_key("alice").await;
    let first = open_session(&app, "/mcp", &alice).await;
    let second = open_session(&app, "/mcp", &alice).await;
    asleep(&log, &first, 1).await;
    asleep(&log, &second, 1).await;
    let (status, _, answer) = exchange(post_at(
        &app,
        "/mcp",
        &alice,
        None,
        None,
        &initialize("2025-06-18"),
    ))
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    // Still served: the limit refused the third, it closed none.
    let pong = ask(&app, &alice, &first, &ping(1)).await;
    assert_eq!(pong["id"], 1, "{pong}");
}

#[tokio::test]
async fn many_sessions_woken_at_once_each_answer_once() {
    let log = CapturedLog::default();
    let _capture = log.install();
    let app = spawn_app_with(|s| s.mcp.session_warm_seconds = 1).await;
    let alice = app.user_key("alice").await;
    let mut sessions = Vec::new();
    for _ in 0..8 {
        sessions.push(open_session(&app, "/mcp", &alice).await);
    }
    for session in &sessions {
        asleep(&log, session, 1).await;
    }
    // Four concurrent requests per session: one wakes it, the others wait
    // for that and are served by the same woken session.
    let mut asks = Vec::new();
    for (n, session) in sessions.iter().enumerate() {
        for k in 0..4u64 {
            let (app, alice, session) = (&app, &alice, session.clone());
            let id = n as u64 * 10 + k;
            asks.push(async move {
                let answer = ask(app, alice, &session, &ping(id)).await;
                assert_eq!(answer["id"], id, "{answer}");
            });
        }
    }
    futures::future::join_all(asks).await;
    for session in &sessions {
        assert_eq!(
            times(&log, &woke(session)),
            1,
            "{session} woke more than once"
        );
    }
}
