//! A streamable-HTTP upstream that forgets its sessions without going away
//! (as a server whose sessions expire does): the link starts a new session
//! under the next call and re-sends it, so the call succeeds at the first
//! try; the link is never torn down (still `CONNECTED`, no reconnect).
//! Both answers to a forgotten session are covered: the spec's 404 and the
//! TypeScript SDK's 400 with a JSON-RPC error body.

use std::time::Duration;

use serde_json::json;

use super::{Outcome, USER, app_with, timed_call};
use crate::support::mcp::mcp_client;
use crate::support::rest::{add_public, connect, session_server};
use crate::support::upstreams::FixtureHttp;

async fn a_forgotten_session_is_renewed_under_the_next_call(mode: &str) {
    let fixture = FixtureHttp::start_with_env(&[("FIXTURE_UNKNOWN_SESSION", mode)]);
    // No pings: only the call may find out that the session is gone.
    let app = app_with(|s| s.upstream.health_interval_seconds = 0).await;
    add_public(
        &app,
        json!({"name": "fx", "transport": "streamable_http", "url": fixture.url()}),
    )
    .await;
    let key = app.user_key(USER).await;
    connect(&app, "fx", &key).await;
    let client = mcp_client(&app, "/mcp", &key).await;
    let (before, _) = timed_call(&client, "fx__echo", json!({"text": "one"})).await;
    assert!(
        matches!(&before, Outcome::Ok(t) if t == "one"),
        "{before:?}"
    );

    let forgot = reqwest::Client::new()
        .post(fixture.url().replace("/mcp", "/admin/forget-sessions"))
        .send()
        .await
        .expect("the fixture answers")
        .text()
        .await
        .expect("a body");
    assert_eq!(forgot, "1", "the fixture held the gateway's one session");
    // Let the gateway's event stream notice and give up its retries.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (after, took) = timed_call(&client, "fx__echo", json!({"text": "two"})).await;
    assert!(
        matches!(&after, Outcome::Ok(t) if t == "two"),
        "{mode}: the call after the session was forgotten: {after:?}"
    );
    eprintln!("resilience renewal ({mode}): the call that renewed the session took {took:?}");
    let entry = session_server(&app, &key, "fx").await;
    assert_eq!(entry["status"], "CONNECTED", "{entry}");
    assert_eq!(entry["reconnects"], 0, "renewed, not reopened: {entry}");
    let (again, _) = timed_call(&client, "fx__echo", json!({"text": "three"})).await;
    assert!(
        matches!(&again, Outcome::Ok(t) if t == "three"),
        "{again:?}"
    );

    client.cancel().await.expect("the client closes");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_forgotten_with_404_is_renewed_and_the_call_resent() {
    a_forgotten_session_is_renewed_under_the_next_call("404").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_forgotten_with_the_typescript_400_is_renewed_and_the_call_resent() {
    a_forgotten_session_is_renewed_under_the_next_call("400").await;
}
