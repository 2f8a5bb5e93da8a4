//! Two Manifold processes sharing one Redis and one catalog serve the same
//! MCP session: a session opened on one replica is usable on the other with
//! the same key, refused to anyone else, and ended everywhere by a DELETE.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{TestApp, replicas_with};
use crate::support::mcp::{SESSION_REVISION, exchange, names_in, open_session, post, post_at};
use crate::support::rest::{add_fixture, connect};

/// Two apps on one PostgreSQL catalog and one Redis key prefix.
async fn replicas() -> (TestApp, TestApp, String) {
    let r = replicas_with("replicas", |_| {}).await;
    (r.a, r.b, r.catalog_url)
}

#[tokio::test]
async fn an_mcp_session_opened_on_one_replica_is_served_by_the_other() {
    let (a, b, pg_url) = replicas().await;
    add_fixture(&a, "fx").await;
    let alice = a.user_key("alice").await;
    let bob = a.user_key("bob").await;
    connect(&a, "fx", &alice).await;

    let session = open_session(&a, "/mcp", &alice).await;
    let version = Some(SESSION_REVISION);

    // B never saw the handshake; it restores the session from Redis.
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let (status, _, listed) = exchange(post(&b, &alice, Some(&session), version, &list)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let listed = names_in(&listed["result"]["tools"]);
    assert!(listed.contains(&"fx__echo".to_owned()), "{listed:?}");
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                      "params": {"name": "fx__echo", "arguments": {"text": "on b"}}});
    let (status, _, called) = exchange(post(&b, &alice, Some(&session), version, &call)).await;
    assert_eq!(status, StatusCode::OK, "{called}");
    assert_eq!(called["result"]["content"][0]["text"], "on b", "{called}");

    // B also opens the session's GET stream for server-sent notifications.
    let stream = b
        .client
        .get(b.url("/mcp"))
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("sent");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream")),
        "{:?}",
        stream.headers()
    );
    drop(stream);

    // Bob presenting Alice's id gets 404 on either replica.
    for app in [&a, &b] {
        let resp = post(app, &bob, Some(&session), version, &list)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body: serde_json::Value = resp.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "session_not_found");
    }
    // The id belongs to `/mcp`: the per-server route does not know it.
    let resp = post_at(&b, "/mcp/s/fx", &alice, Some(&session), version, &list)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // DELETE on A ends the session on B too.
    let resp = a
        .client
        .delete(a.url("/mcp"))
        .bearer_auth(&alice)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK, "the session ended");
    for app in [&b, &a] {
        let resp = post(app, &alice, Some(&session), version, &list)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    a.stop().await;
    b.stop().await;
    crate::support::db::drop_postgres_database(&pg_url).await;
}

#[tokio::test]
async fn a_session_id_no_replica_issued_is_not_found() {
    let (a, b, pg_url) = replicas().await;
    let alice = a.user_key("alice").await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    for id in [
        "5d1c7a56-0000-4000-8000-000000000000",
        "not a valid id",
        "*",
    ] {
        let resp = post(&b, &alice, Some(id), Some("2025-11-25"), &list)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{id:?}");
    }
    a.stop().await;
    b.stop().await;
    crate::support::db::drop_postgres_database(&pg_url).await;
}
