//! A database that stops taking audit rows (its table locked by another
//! session) costs calls nothing: they all answer, the events that do not
//! fit in the queue are dropped and counted, and once the table is free
//! again the queued events are written and recording goes on.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};

use crate::support::app::spawn_app_with;
use crate::support::mcp::{call, mcp_client};
use crate::support::rest::{add_fixture, connect};

use super::events;

const QUEUE: usize = 20;
const CALLS: usize = 120;

/// `manifold_audit_events_total{result}` as `/metrics` shows it.
async fn counted(app: &crate::support::app::TestApp, result: &str) -> u64 {
    let text = app.metrics().await;
    let prefix = format!("manifold_audit_events_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_stalled_database_drops_audit_events_without_slowing_calls() {
    let (_catalog, url) = crate::support::db::fresh_postgres().await;
    let app = spawn_app_with(|s| {
        s.catalog.url = manifold::secret::SecretUrl::new(url.clone());
        s.audit.queue = QUEUE;
        s.audit.batch = 10;
    })
    .await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    // Every event so far is written before the table is locked.
    events(&app, &alice, "kind=connect", 1).await;

    let mut lock = PgConnection::connect(&url).await.expect("a second session");
    lock.execute("BEGIN").await.expect("begin");
    lock.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("the audit table is locked");

    let mut took = Vec::with_capacity(CALLS);
    let all = Instant::now();
    for i in 0..CALLS {
        let started = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            client.call_tool(call("fx__echo", json!({"text": format!("{i}")}))),
        )
        .await
        .expect("a call never waits for the audit trail")
        .expect("echo");
        assert_ne!(answer.is_error, Some(true));
        took.push(started.elapsed());
    }
    took.sort();
    eprintln!(
        "{CALLS} calls with the audit table locked: {:?} in all, p50 {:?}, max {:?}",
        all.elapsed(),
        took[CALLS / 2],
        took[CALLS - 1]
    );
    let dropped = counted(&app, "dropped").await;
    // At most the queue and one batch in the writer's hands were kept.
    assert!(
        dropped >= (CALLS - QUEUE - 10) as u64,
        "{dropped} of {CALLS} events dropped"
    );

    lock.execute("ROLLBACK")
        .await
        .expect("the table is free again");
    // Every event that was kept is written, none twice ...
    let kept = (CALLS as u64 - dropped) as usize;
    let written = events(&app, &alice, "kind=tools/call&limit=200", kept).await;
    assert_eq!(written.len(), kept, "{kept} kept, {dropped} dropped");
    // ... and then new calls are recorded again.
    client
        .call_tool(call("fx__echo", json!({"text": "after"})))
        .await
        .expect("echo");
    let written = events(&app, &alice, "kind=tools/call&limit=200", kept + 1).await;
    // `{"text":"after"}` is 16 bytes; the calls during the stall sent less.
    assert_eq!(written[0]["request_bytes"], 16, "{:#?}", written[0]);
    client.cancel().await.expect("client closes");
    app.stop().await;
    crate::support::db::drop_postgres_database(&url).await;
}
