//! Two replicas sharing one Redis and one catalog: a key revoked over REST
//! on replica A is refused on replica B within a second, and B ends the
//! key's open `/mcp` GET stream and its pending call within a second too,
//! leaving the streams of the user's other key alone.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::key_of;
use crate::support::app::{TestApp, replicas_with};
use crate::support::db::drop_postgres_database;
use crate::support::mcp::{SESSION_REVISION, open_session, post};
use crate::support::rest::{add_fixture, connect, disconnect};

/// The most a revocation may take to reach the other replica.
const WITHIN: Duration = Duration::from_secs(1);

/// What one open GET stream shows its reader.
struct Stream {
    /// The MCP session it belongs to.
    session: String,
    /// Fires when the body ends.
    ended: oneshot::Receiver<Instant>,
    /// Every chunk of text, as it comes.
    text: mpsc::UnboundedReceiver<String>,
}

/// Opens `/mcp`'s GET stream of a new MCP session of `key` on `app` and
/// reads it in a task of its own.
async fn open_stream(app: &TestApp, key: &str) -> Stream {
    let session = open_session(app, "/mcp", key).await;
    let resp = app
        .client
        .get(app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", SESSION_REVISION)
        .send()
        .await
        .expect("GET stream sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let (ended_tx, ended) = oneshot::channel();
    let (text_tx, text) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut body = resp.bytes_stream();
        while let Some(Ok(chunk)) = body.next().await {
            let _ = text_tx.send(String::from_utf8_lossy(&chunk).into_owned());
        }
        let _ = ended_tx.send(Instant::now());
    });
    Stream {
        session,
        ended,
        text,
    }
}

/// Whether `key` authenticates on `app` now.
async fn works(app: &TestApp, key: &str) -> bool {
    let (status, body) = app.get("/api/v1/me", key).await;
    match status {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("GET /api/v1/me answered {other}: {body}"),
    }
}

#[tokio::test]
async fn a_key_revoked_on_one_replica_fails_and_its_stream_ends_on_the_other_within_a_second() {
    let replicas = replicas_with("keys", |_| {}).await;
    let (a, b, catalog) = (replicas.a, replicas.b, replicas.catalog_url);
    add_fixture(&a, "fx").await;
    let (revoked_id, revoked) = key_of(&a, "alice").await;
    let (_, kept) = key_of(&a, "alice").await;

    connect(&a, "fx", &kept).await;

    // Both keys have a GET stream open on B, and B has both cached.
    let mut doomed = open_stream(&b, &revoked).await;
    let mut other = open_stream(&b, &kept).await;
    assert!(works(&b, &revoked).await && works(&b, &kept).await);
    assert!(doomed.ended.try_recv().is_err(), "the stream is open");
    // The revoked key also has a call pending on B, one that takes 60 s.
    let slow = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "fx__slow", "arguments": {"seconds": 60}}});
    let pending = post(
        &b,
        &revoked,
        Some(&doomed.session),
        Some(SESSION_REVISION),
        &slow,
    );
    let pending = tokio::spawn(async move {
        let resp = pending.send().await.expect("sent");
        let text = resp.text().await.unwrap_or_default();
        (Instant::now(), text)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "the call is pending");

    let (status, body) = a
        .delete(&format!("/api/v1/keys/{revoked_id}"), &a.admin_key)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let revoked_at = Instant::now();

    // B refuses it within a second (polled every 50 ms).
    let refused_after = loop {
        if !works(&b, &revoked).await {
            break revoked_at.elapsed();
        }
        assert!(
            revoked_at.elapsed() < WITHIN,
            "replica B still accepts the key revoked on A after {:?}",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("revoked on A, refused on B after {refused_after:?}");
    assert!(refused_after < WITHIN, "{refused_after:?}");

    // And B ended the key's open stream within a second of the revocation.
    let ended = tokio::time::timeout(WITHIN, &mut doomed.ended)
        .await
        .expect("replica B ends the revoked key's GET stream within 1 s")
        .expect("the reader ran");
    let ended_after = ended.saturating_duration_since(revoked_at);
    println!("revoked on A, its /mcp GET stream on B ended after {ended_after:?}");
    assert!(ended_after < WITHIN, "{ended_after:?}");
    let (call_ended, answer) = tokio::time::timeout(WITHIN, pending)
        .await
        .expect("replica B ends the revoked key's pending call within 1 s")
        .expect("the caller ran");
    let call_ended_after = call_ended.saturating_duration_since(revoked_at);
    println!("revoked on A, its pending tools/call on B ended after {call_ended_after:?}");
    assert!(
        !answer.contains("slept"),
        "the call was not answered: {answer}"
    );
    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}});
    let resp = post(&b, &revoked, None, None, &list)
        .send()
        .await
        .expect("sent");
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "/mcp refuses it too"
    );

    // The user's other key and its stream are untouched: it still hears
    // of a change made on A.
    assert!(works(&b, &kept).await);
    disconnect(&a, "fx", &kept).await;
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        let mut seen = String::new();
        while let Some(text) = other.text.recv().await {
            seen.push_str(&text);
            if seen.contains("notifications/tools/list_changed") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(heard, Ok(true), "the other key's stream hears list_changed");
    assert!(
        other.ended.try_recv().is_err(),
        "the other key's stream is still open"
    );

    a.stop().await;
    b.stop().await;
    drop_postgres_database(&catalog).await;
}
