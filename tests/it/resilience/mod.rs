//! Upstream resilience with real upstreams that die and come back on the
//! same port mid-session: a broken link is noticed without waiting for a
//! timeout, calls to it fail fast while the gateway reopens it
//! (`RECONNECTING`), it comes back by itself, and it gives up (`FAILED`)
//! when the upstream never returns.
//!
//! - [`transports`]: kill and restart per transport (streamable HTTP with
//!   the fixture answering 404 or 400 to its lost session, server-everything,
//!   legacy SSE, WebSocket, stdio);
//! - [`in_flight`]: calls in flight when the upstream dies, and 32 calls
//!   through an upstream restart;
//! - [`status`]: `serverStatusChanged`, health checks of idle links,
//!   giving up, and a disconnect that stops reconnection;
//! - [`loops`]: a server that leads back to the gateway is refused;
//! - [`upstreams`]: the upstreams themselves come back on their port, and
//!   the fixture answers a lost session with 404 or 400.
//!
//! Timings are printed (`--nocapture`) rather than asserted tightly; the
//! bounds asserted are generous.

mod in_flight;
mod loops;
mod renewal;
mod status;
mod transports;
mod upstreams;

use std::time::{Duration, Instant};

use manifold::Settings;
use manifold::catalog::ServerName;
use manifold::ids::SessionId;
use rmcp::service::{Peer, RoleClient};
use rmcp::{ErrorData as McpError, ServiceError};
use serde_json::Value;

use crate::support::app::{TestApp, spawn_app_with};
use crate::support::mcp::{call, text_of};
use crate::support::rest::session_server;
use crate::support::upstreams::Restartable;

/// The user whose session the tests break; API-key sessions are named
/// after the user.
const USER: &str = "alice";

/// Settings that make recovery quick enough to test: retries at most 1 s
/// apart, idle links pinged every second, and calls bounded well below the
/// default 120 s so a hang fails the test instead of stalling it.
fn quick(s: &mut Settings) {
    s.upstream.reconnect_max_delay_seconds = 1;
    s.upstream.health_interval_seconds = 1;
    s.upstream.connect_timeout_seconds = 5;
    s.upstream.tool_fetch_timeout_seconds = 5;
    s.upstream.call_timeout_seconds = 30;
}

/// A running gateway with [`quick`] settings, then `configure`.
async fn app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        quick(s);
        configure(s);
    })
    .await
}

/// How long one call may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(15);

/// What a `tools/call` through `/mcp` came to: the result's text, or the MCP
/// error's `data.code` with the error.
#[derive(Debug, Clone)]
enum Outcome {
    Ok(String),
    Err(String, McpError),
}

impl Outcome {
    fn code(&self) -> Option<&str> {
        match self {
            Self::Ok(_) => None,
            Self::Err(code, _) => Some(code),
        }
    }

    fn is_ok(&self) -> bool {
        matches!(self, Self::Ok(_))
    }
}

/// The `data.code` of an MCP error (`<no data.code>` when it has none).
fn data_code(err: &McpError) -> String {
    err.data
        .as_ref()
        .and_then(|d| d["code"].as_str())
        .unwrap_or("<no data.code>")
        .to_owned()
}

/// Calls `tool` with `args` through `client`; the outcome and how long it
/// took. A call that takes longer than [`HANG`] fails the test.
async fn timed_call(client: &Peer<RoleClient>, tool: &str, args: Value) -> (Outcome, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(HANG, client.call_tool(call(tool, args)))
        .await
        .unwrap_or_else(|_| panic!("{tool} hung for {HANG:?}"));
    let outcome = match answer {
        Ok(result) => Outcome::Ok(text_of(&result)),
        Err(ServiceError::McpError(err)) => Outcome::Err(data_code(&err), err),
        Err(other) => panic!("{tool}: expected a result or an MCP error, got {other:?}"),
    };
    (outcome, started.elapsed())
}

/// Calls `tool` every 25 ms until one succeeds, within `limit`; the result
/// text, the moment it came back, and the codes of the failures before it.
async fn first_success(
    client: &Peer<RoleClient>,
    tool: &str,
    args: Value,
    limit: Duration,
) -> (String, Instant, Vec<String>) {
    let started = Instant::now();
    let mut failures = Vec::new();
    loop {
        let (outcome, _) = timed_call(client, tool, args.clone()).await;
        match outcome {
            Outcome::Ok(text) => return (text, Instant::now(), failures),
            Outcome::Err(code, err) => {
                assert!(
                    started.elapsed() < limit,
                    "{tool} did not succeed within {limit:?}; failures: {failures:?}; last: {err:?}"
                );
                failures.push(code);
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `name`'s entry in the user's `GET /api/v1/session/servers` every
/// 20 ms until its `status` is `want`, within `limit`; the entry and how long
/// it took.
async fn wait_status(
    app: &TestApp,
    key: &str,
    name: &str,
    want: &str,
    limit: Duration,
) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let entry = session_server(app, key, name).await;
        if entry["status"] == want {
            return (entry, started.elapsed());
        }
        assert!(
            started.elapsed() < limit,
            "{name} was not {want} within {limit:?}; last seen: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts what a `RECONNECTING` entry shows: why (`last_error`) and, at
/// least once within 2 s of polling, when the next attempt is (`retry_at`).
async fn assert_reconnecting_entry(app: &TestApp, key: &str, name: &str, entry: &Value) {
    assert!(
        entry["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "a RECONNECTING server says why: {entry}"
    );
    let started = Instant::now();
    let mut seen = entry.clone();
    while !seen["retry_at"].is_string() && seen["status"] == "RECONNECTING" {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a RECONNECTING server says when it retries (retry_at): {seen}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = session_server(app, key, name).await;
    }
    if let Some(at) = seen["retry_at"].as_str() {
        chrono::DateTime::parse_from_rfc3339(at)
            .unwrap_or_else(|e| panic!("retry_at {at:?} is not RFC 3339: {e}"));
    }
}

/// Asserts what a `CONNECTED` entry shows after a recovery: at least one
/// reconnect, the negotiated protocol version and the last call's time.
fn assert_recovered_entry(entry: &Value) {
    assert_eq!(entry["status"], "CONNECTED", "{entry}");
    assert!(
        entry["reconnects"].as_u64().is_some_and(|n| n >= 1),
        "the reconnect is counted: {entry}"
    );
    assert!(
        entry["protocol_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "the negotiated protocol version is shown: {entry}"
    );
    let last_call = entry["last_call_at"]
        .as_str()
        .unwrap_or_else(|| panic!("the last successful call is shown: {entry}"));
    chrono::DateTime::parse_from_rfc3339(last_call)
        .unwrap_or_else(|e| panic!("last_call_at {last_call:?} is not RFC 3339: {e}"));
    assert!(entry["retry_at"].is_null(), "no retry once back: {entry}");
}

/// Restarts `server` on its port off the async threads; the server and the
/// moment it listened again.
async fn restarted<S: Restartable>(mut server: S) -> (S, Instant) {
    tokio::task::spawn_blocking(move || {
        server.restart();
        (server, Instant::now())
    })
    .await
    .expect("the restart finished")
}

/// Kills `server` off the async threads.
async fn killed<S: Restartable>(mut server: S) -> S {
    tokio::task::spawn_blocking(move || {
        server.kill();
        server
    })
    .await
    .expect("the kill finished")
}

/// The pid of the stdio child behind `name` in `user`'s session.
fn stdio_pid(app: &TestApp, user: &str, name: &str) -> u32 {
    let session = SessionId::parse(user).expect("a session id");
    let server = ServerName::parse(name).expect("a server name");
    app.state
        .sessions()
        .pool()
        .existing(&session, &server)
        .unwrap_or_else(|| panic!("{user} has a live link to {name}"))
        .pid
        .unwrap_or_else(|| panic!("{name}'s link has a child pid"))
}

/// Whether `user`'s session holds a live link to `name`.
fn has_link(app: &TestApp, user: &str, name: &str) -> bool {
    let session = SessionId::parse(user).expect("a session id");
    let server = ServerName::parse(name).expect("a server name");
    app.state
        .sessions()
        .pool()
        .existing(&session, &server)
        .is_some()
}
