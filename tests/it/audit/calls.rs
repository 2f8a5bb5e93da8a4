//! N real calls through `/mcp` leave N events with the right user, server,
//! tool, outcome and a duration within the call's own measured time; a
//! failing call records its code; connects and catalog changes are
//! recorded too. On SQLite (the default) and PostgreSQL.

use std::time::Instant;

use serde_json::json;

use crate::support::app::{TestApp, spawn_app, spawn_app_with};
use crate::support::mcp::{call, mcp_client};
use crate::support::rest::{add_fixture, connect};

use super::events;

const CALLS: usize = 5;

async fn calls_are_recorded(app: &TestApp) {
    add_fixture(app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(app, "fx", &alice).await;
    let client = mcp_client(app, "/mcp", &alice).await;
    let mut took_ms = Vec::new();
    for i in 0..CALLS {
        let started = Instant::now();
        client
            .call_tool(call("fx__echo", json!({"text": format!("hi {i}")})))
            .await
            .expect("echo");
        took_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let failed = client
        .call_tool(call("fx__fail", json!({})))
        .await
        .expect("fail answers");
    assert_eq!(failed.is_error, Some(true));
    client
        .call_tool(call("fx__nope", json!({})))
        .await
        .expect_err("unknown tool");
    client.cancel().await.expect("client closes");

    let calls = events(app, &alice, "kind=tools/call", CALLS + 2).await;
    assert_eq!(calls.len(), CALLS + 2, "one event per call: {calls:#?}");
    // Newest first: the unknown tool, the failing tool, then the echoes.
    assert_eq!(calls[0]["target"], "fx__nope");
    assert_eq!(calls[0]["outcome"], "unknown_tool");
    assert_eq!(calls[0]["server"], json!(null), "no server was reached");
    assert_eq!(calls[1]["target"], "fx__fail");
    assert_eq!(calls[1]["outcome"], "tool_error");
    assert_eq!(calls[1]["server"], "fx");
    let echoes: Vec<_> = calls[2..].iter().rev().collect();
    for (event, took) in echoes.iter().zip(&took_ms) {
        assert_eq!(event["user_id"], "alice");
        assert_eq!(event["role"], "user");
        assert_eq!(event["credential"], "api_key");
        assert!(
            event["key_id"]
                .as_str()
                .is_some_and(|k| k.starts_with("key_"))
        );
        assert_eq!(event["server"], "fx");
        assert_eq!(event["target"], "fx__echo");
        assert_eq!(event["outcome"], "ok");
        assert_eq!(event["surface"], "mcp");
        assert!(
            event["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("aud_"))
        );
        assert!(
            event["mcp_session_id"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        assert!(
            event["client_name"].as_str().is_some_and(|s| !s.is_empty()),
            "{event}"
        );
        assert!(
            event["arguments"].is_null(),
            "arguments are not kept by default"
        );
        let duration = event["duration_ms"].as_f64().expect("a duration");
        assert!(
            duration > 0.0 && duration <= *took,
            "the gateway's {duration} ms lies within the client's {took} ms"
        );
        // {"text":"hi 0"} and a result that carries it.
        assert_eq!(event["request_bytes"], 15);
        assert!(
            event["response_bytes"].as_i64().is_some_and(|n| n > 15),
            "{event}"
        );
    }
    let connects = events(app, &alice, "kind=connect", 1).await;
    assert_eq!(connects[0]["server"], "fx");
    assert_eq!(connects[0]["outcome"], "ok");
    assert_eq!(connects[0]["surface"], "api");
    // The admin's catalog change, which alice may not read.
    let changes = events(app, &app.admin_key, "kind=catalog_change", 1).await;
    assert_eq!(changes[0]["server"], "fx");
    assert_eq!(changes[0]["detail"], "server created");
    assert_eq!(changes[0]["user_id"], "admin");
    let filtered = events(app, &alice, "outcome=error", 2).await;
    assert_eq!(
        filtered.len(),
        2,
        "only the two failed calls: {filtered:#?}"
    );
}

#[tokio::test]
async fn tool_calls_are_recorded_with_who_what_and_how_long_on_sqlite() {
    let app = spawn_app().await;
    calls_are_recorded(&app).await;
}

#[tokio::test]
async fn tool_calls_are_recorded_with_who_what_and_how_long_on_postgres() {
    let (_catalog, url) = crate::support::db::fresh_postgres().await;
    let app = spawn_app_with(|s| {
        s.catalog.url = manifold::secret::SecretUrl::new(url.clone());
    })
    .await;
    calls_are_recorded(&app).await;
    app.stop().await;
    crate::support::db::drop_postgres_database(&url).await;
}

#[tokio::test]
async fn the_audit_trail_can_be_turned_off() {
    let app = spawn_app_with(|s| s.audit.enabled = false).await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    client
        .call_tool(call("fx__echo", json!({"text": "hi"})))
        .await
        .expect("echo");
    client.cancel().await.expect("client closes");
    // Give a writer, if there were one, time to write.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, body) = app.get("/api/v1/audit", &app.admin_key).await;
    assert_eq!(body["items"], json!([]), "nothing is recorded: {body}");
}
