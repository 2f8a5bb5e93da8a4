//! `mcp.max_sessions_per_user`: a principal holds at most that many MCP
//! sessions on a replica (every MCP route together); one `initialize` more
//! is refused with 429 `too_many_sessions` and no session is closed behind a
//! client's back. Ending a session frees its place, and so does a session
//! the replica dropped after `mcp.session_idle_seconds` without requests
//! (whose client can still resume it: its binding is in the state store).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, code, spawn_app_with};
use crate::support::mcp::{exchange, initialize, open_session, post, post_at};
use crate::support::rest::{add_fixture, connect};

/// An `initialize` on `path` as `key`: the status, and the body as JSON.
async fn try_initialize(app: &TestApp, path: &str, key: &str) -> (StatusCode, Value) {
    let response = post_at(app, path, key, None, None, &initialize("2025-06-18"))
        .send()
        .await
        .expect("initialize sent");
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Ends `session` with DELETE; it must succeed.
async fn end(app: &TestApp, key: &str, session: &str) {
    let response = app
        .client
        .delete(app.url("/mcp"))
        .bearer_auth(key)
        .header("mcp-session-id", session)
        .send()
        .await
        .expect("DELETE sent");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "DELETE of a live session"
    );
}

#[tokio::test]
async fn one_session_more_than_the_limit_is_refused_until_one_ends() {
    let app = spawn_app_with(|s| s.mcp.max_sessions_per_user = 3).await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    connect(&app, "fx", &alice).await;
    // Both routes count: two on /mcp, one on the per-server route.
    let first = open_session(&app, "/mcp", &alice).await;
    let second = open_session(&app, "/mcp", &alice).await;
    let _third = open_session(&app, "/mcp/s/fx", &alice).await;

    for path in ["/mcp", "/mcp/s/fx"] {
        let (status, body) = try_initialize(&app, path, &alice).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{path}: {body}");
        assert_eq!(code(&body), "too_many_sessions", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("mcp.max_sessions_per_user") && message.contains('3'),
            "the refusal names the setting and the limit: {message}"
        );
    }
    // The refusals closed nothing: the first session still answers.
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    let (status, _, answer) = exchange(post(&app, &alice, Some(&first), None, &ping)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["id"], 7);
    // Another user has places of their own.
    open_session(&app, "/mcp", &bob).await;

    // Ending one session frees exactly one place.
    end(&app, &alice, &second).await;
    open_session(&app, "/mcp", &alice).await;
    let (status, body) = try_initialize(&app, "/mcp", &alice).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

    let metrics = app.metrics().await;
    let refused: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("manifold_mcp_sessions_refused_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("the refusals are counted");
    assert!(refused >= 3.0, "{refused} refusals counted");
}

#[tokio::test]
async fn a_session_dropped_when_idle_frees_its_place_and_can_still_be_resumed() {
    let app = spawn_app_with(|s| {
        s.mcp.max_sessions_per_user = 1;
        s.mcp.session_idle_seconds = 1;
    })
    .await;
    let alice = app.user_key("alice").await;
    let idle = open_session(&app, "/mcp", &alice).await;
    let (status, _) = try_initialize(&app, "/mcp", &alice).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // After a second without requests the replica drops the session.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let fresh = loop {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (status, session, _) =
            exchange(post(&app, &alice, None, None, &initialize("2025-06-18"))).await;
        if status == StatusCode::OK {
            break session.expect("a session id");
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            std::time::Instant::now() < deadline,
            "the idle session still holds its place after 10 s"
        );
    };
    assert_ne!(fresh, idle);
    // Its client resumes it (restored from the state store): nothing was
    // lost, and it counts again.
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let (status, _, answer) = exchange(post(&app, &alice, Some(&idle), None, &ping)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["id"], 1, "{answer}");
}

#[tokio::test]
async fn zero_means_no_limit() {
    let app = spawn_app_with(|s| s.mcp.max_sessions_per_user = 0).await;
    let alice = app.user_key("alice").await;
    for _ in 0..5 {
        let (status, body) = try_initialize(&app, "/mcp", &alice).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
