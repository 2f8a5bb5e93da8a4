//! The audit trail end to end: real tool calls through `/mcp` leave one
//! event each with who, what, how long and how it ended, on SQLite and on
//! PostgreSQL ([`calls`]); arguments are kept only when asked and then
//! without secrets, users read only their own events, and retention
//! deletes old ones ([`access`]); a stalled database drops events instead
//! of slowing calls ([`stalled`]); events reach subscribers live
//! ([`live`]).

mod access;
mod calls;
mod live;
mod stalled;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::app::TestApp;

/// The events `key` reads at `GET /api/v1/audit?{query}`, once at least
/// `n` are there (the writer is asynchronous); fails after 10 s.
pub async fn events(app: &TestApp, key: &str, query: &str, n: usize) -> Vec<Value> {
    let path = format!("/api/v1/audit?{query}");
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, body) = app.get(&path, key).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n {
            return items;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path}: fewer than {n} events after 10 s: {last}");
}
