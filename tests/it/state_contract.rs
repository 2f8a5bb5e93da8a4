//! The `StateStore` contract: one suite, run against every backend
//! (`state_contract::memory::…`, `state_contract::redis::…`), plus checks only
//! Redis can show (raw key names and values, TTL on every key, outages) in
//! `state_contract::redis_only::…`.
//!
//! Every test uses its own key prefix, so tests never see each other's keys.

#![allow(clippy::unwrap_used)] // a test may unwrap: a panic is its failure report

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use chrono::{DateTime, TimeZone, Utc};
use manifold::session::{ConnectionState, ConnectionStatus, SessionId, State};
use serde_json::{Value, json};

use crate::support;

/// The TTL of tests that do not test expiry.
const LONG_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Memory,
    Redis,
}

/// A store under test, with what the Redis-aware checks need.
struct Backend {
    state: State,
    prefix: String,
    /// A plain connection to the same Redis (Redis only).
    raw: Option<MultiplexedConnection>,
}

impl Backend {
    async fn open(kind: Kind, ttl: Duration) -> Self {
        match kind {
            Kind::Memory => {
                let prefix = format!("{}:", support::unique("t:"));
                let state = manifold::session::memory::open(prefix.clone(), ttl)
                    .await
                    .expect("the memory store opens");
                Self {
                    state,
                    prefix,
                    raw: None,
                }
            }
            Kind::Redis => {
                let (state, prefix) = support::redis::fresh_redis(ttl).await;
                let raw = Some(support::redis::raw().await);
                Self { state, prefix, raw }
            }
        }
    }

    /// A second handle on the same data: for Redis a second store with its own
    /// connection (so its reads can land between the commands of a write that
    /// were not atomic), for memory the same store.
    async fn second_handle(&self) -> State {
        match self.raw {
            None => self.state.clone(),
            Some(_) => {
                let url = support::redis::redis_url();
                manifold::session::redis::connect(&url, self.prefix.clone(), LONG_TTL)
                    .await
                    .unwrap_or_else(|e| support::redis::unreachable(&url, format!("{e:#}")))
            }
        }
    }

    /// Every raw key of `session` (Redis only; empty for memory).
    async fn raw_keys(&mut self, session: &str) -> Vec<String> {
        let pattern = format!("{}mcp:session:{session}:*", self.prefix);
        match self.raw.as_mut() {
            Some(raw) => support::redis::scan_keys(raw, &pattern).await,
            None => Vec::new(),
        }
    }
}

fn sid(raw: &str) -> SessionId {
    SessionId::parse(raw).expect("a valid session id")
}

fn tools(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|name| json!({"name": name, "description": format!("the {name} tool"), "inputSchema": {"type": "object"}}))
        .collect()
}

/// A time with sub-second digits, to prove they survive the round trip.
fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9)
        .single()
        .expect("a valid time")
        + chrono::Duration::microseconds(123_456)
}

/// Instantiates every contract test for one backend.
macro_rules! contract {
    ($backend:ident, $kind:expr, [$($name:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($kind).await;
                }
            )*
        }
    };
}

macro_rules! contract_for_all {
    ($($name:ident),* $(,)?) => {
        contract!(memory, super::Kind::Memory, [$($name),*]);
        contract!(redis, super::Kind::Redis, [$($name),*]);
    };
}

contract_for_all![
    fresh_state_is_disconnected_with_no_tools,
    connecting_stores_status_tools_connected_at_and_the_set,
    connected_servers_are_sorted,
    a_failed_connect_stores_the_error_and_leaves_the_set,
    reconnecting_after_a_failure_clears_the_error,
    disconnecting_removes_tools_error_and_set_membership,
    sessions_are_isolated,
    sessions_whose_ids_extend_each_other_are_isolated,
    disconnect_all_disconnects_every_connected_server,
    clear_session_removes_every_key_of_the_session,
    clear_session_counts_keys_across_many_scan_pages,
    state_expires_after_the_ttl,
    each_write_refreshes_the_ttl_of_the_connections_set,
    no_reader_ever_sees_connected_without_tools,
    invalid_server_names_are_refused,
    health_is_ok,
];

async fn fresh_state_is_disconnected_with_no_tools(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    assert_eq!(
        b.state.get(&s, "github").await.unwrap(),
        ConnectionState::disconnected()
    );
    assert_eq!(
        b.state.status(&s, "github").await.unwrap(),
        ConnectionStatus::Disconnected
    );
    assert!(b.state.tools(&s, "github").await.unwrap().is_empty());
    assert!(b.state.connected_servers(&s).await.unwrap().is_empty());
    assert!(b.state.disconnect_all(&s).await.unwrap().is_empty());
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 0);
}

async fn connecting_stores_status_tools_connected_at_and_the_set(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    let list = tools(&["search", "fetch"]);
    b.state
        .set_connected(&s, "github", &list, at())
        .await
        .unwrap();

    let state = b.state.get(&s, "github").await.unwrap();
    assert_eq!(
        state,
        ConnectionState {
            status: ConnectionStatus::Connected,
            tools: list.clone(),
            connected_at: Some(at()),
            error: None,
        }
    );
    assert_eq!(
        b.state.status(&s, "github").await.unwrap(),
        ConnectionStatus::Connected
    );
    assert_eq!(b.state.tools(&s, "github").await.unwrap(), list);
    assert_eq!(b.state.connected_servers(&s).await.unwrap(), ["github"]);
    // Another server of the session is untouched.
    assert_eq!(
        b.state.get(&s, "gitlab").await.unwrap(),
        ConnectionState::disconnected()
    );

    // Connecting again replaces the tools and the time.
    let later = at() + chrono::Duration::seconds(5);
    b.state
        .set_connected(&s, "github", &tools(&["only"]), later)
        .await
        .unwrap();
    let state = b.state.get(&s, "github").await.unwrap();
    assert_eq!(state.tools, tools(&["only"]));
    assert_eq!(state.connected_at, Some(later));
    assert_eq!(b.state.connected_servers(&s).await.unwrap(), ["github"]);
}

async fn connected_servers_are_sorted(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    for name in ["zeta", "alpha", "mid-1", "mid_0", "0day"] {
        b.state
            .set_connected(&s, name, &tools(&["t"]), at())
            .await
            .unwrap();
    }
    assert_eq!(
        b.state.connected_servers(&s).await.unwrap(),
        ["0day", "alpha", "mid-1", "mid_0", "zeta"]
    );
}

async fn a_failed_connect_stores_the_error_and_leaves_the_set(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.state
        .set_connected(&s, "github", &tools(&["search"]), at())
        .await
        .unwrap();
    b.state
        .set_connected(&s, "jira", &tools(&["issue"]), at())
        .await
        .unwrap();
    b.state
        .set_failed(&s, "github", "connection refused")
        .await
        .unwrap();

    assert_eq!(
        b.state.get(&s, "github").await.unwrap(),
        ConnectionState {
            status: ConnectionStatus::Failed,
            tools: Vec::new(),
            connected_at: None,
            error: Some("connection refused".into()),
        }
    );
    assert_eq!(
        b.state.status(&s, "github").await.unwrap(),
        ConnectionStatus::Failed
    );
    assert!(b.state.tools(&s, "github").await.unwrap().is_empty());
    assert_eq!(b.state.connected_servers(&s).await.unwrap(), ["jira"]);

    // Failing a server never connected works too.
    b.state.set_failed(&s, "new", "timeout").await.unwrap();
    assert_eq!(
        b.state.get(&s, "new").await.unwrap().error.as_deref(),
        Some("timeout")
    );
    assert_eq!(b.state.connected_servers(&s).await.unwrap(), ["jira"]);
}

async fn reconnecting_after_a_failure_clears_the_error(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.state.set_failed(&s, "github", "boom").await.unwrap();
    b.state
        .set_connected(&s, "github", &tools(&["search"]), at())
        .await
        .unwrap();
    let state = b.state.get(&s, "github").await.unwrap();
    assert_eq!(state.status, ConnectionStatus::Connected);
    assert_eq!(state.error, None);
    assert_eq!(b.state.connected_servers(&s).await.unwrap(), ["github"]);
}

async fn disconnecting_removes_tools_error_and_set_membership(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.state
        .set_connected(&s, "github", &tools(&["search"]), at())
        .await
        .unwrap();
    b.state.set_disconnected(&s, "github").await.unwrap();
    assert_eq!(
        b.state.get(&s, "github").await.unwrap(),
        ConnectionState::disconnected()
    );
    assert!(b.state.connected_servers(&s).await.unwrap().is_empty());

    b.state.set_failed(&s, "jira", "boom").await.unwrap();
    b.state.set_disconnected(&s, "jira").await.unwrap();
    assert_eq!(
        b.state.get(&s, "jira").await.unwrap(),
        ConnectionState::disconnected()
    );

    // Disconnecting a server never seen is fine.
    b.state.set_disconnected(&s, "never").await.unwrap();
    assert_eq!(
        b.state.status(&s, "never").await.unwrap(),
        ConnectionStatus::Disconnected
    );

    if kind == Kind::Redis {
        // Only the three DISCONNECTED status keys are left; the set is gone.
        let p = b.prefix.clone();
        assert_eq!(
            b.raw_keys("user-1").await,
            [
                format!("{p}mcp:session:user-1:server:github:status"),
                format!("{p}mcp:session:user-1:server:jira:status"),
                format!("{p}mcp:session:user-1:server:never:status"),
            ]
        );
    }
}

async fn sessions_are_isolated(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let (a, other) = (sid("alice"), sid("bob"));
    b.state
        .set_connected(&a, "github", &tools(&["search"]), at())
        .await
        .unwrap();
    assert_eq!(
        b.state.get(&other, "github").await.unwrap(),
        ConnectionState::disconnected()
    );
    assert!(b.state.connected_servers(&other).await.unwrap().is_empty());

    b.state.set_failed(&other, "github", "boom").await.unwrap();
    b.state
        .set_connected(&other, "jira", &tools(&["issue"]), at())
        .await
        .unwrap();
    assert_eq!(
        b.state.status(&a, "github").await.unwrap(),
        ConnectionStatus::Connected
    );
    assert_eq!(b.state.connected_servers(&a).await.unwrap(), ["github"]);

    assert_eq!(b.state.disconnect_all(&other).await.unwrap(), ["jira"]);
    assert_eq!(
        b.state.status(&a, "github").await.unwrap(),
        ConnectionStatus::Connected
    );

    assert!(b.state.clear_session(&other).await.unwrap() > 0);
    assert_eq!(
        b.state.get(&a, "github").await.unwrap().tools,
        tools(&["search"])
    );
    assert_eq!(b.state.connected_servers(&a).await.unwrap(), ["github"]);
    if kind == Kind::Redis {
        assert!(b.raw_keys("bob").await.is_empty());
        assert_eq!(b.raw_keys("alice").await.len(), 4);
    }
}

async fn sessions_whose_ids_extend_each_other_are_isolated(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    // `a:*` also matches the keys of these sessions: clearing `a` must not
    // touch them.
    let short = sid("a");
    let longer = [sid("a:b"), sid("a:server:x"), sid("a:server:x:server")];
    for s in &longer {
        b.state
            .set_connected(s, "x", &tools(&["t"]), at())
            .await
            .unwrap();
        b.state.set_failed(s, "y", "boom").await.unwrap();
    }
    b.state
        .set_connected(&short, "x", &tools(&["t"]), at())
        .await
        .unwrap();
    assert_eq!(b.state.connected_servers(&short).await.unwrap(), ["x"]);

    // x: status, tools, connected_at; the set.
    assert_eq!(b.state.clear_session(&short).await.unwrap(), 4);
    for s in &longer {
        assert_eq!(b.state.connected_servers(s).await.unwrap(), ["x"], "{s}");
        assert_eq!(
            b.state.status(s, "x").await.unwrap(),
            ConnectionStatus::Connected
        );
        assert_eq!(
            b.state.status(s, "y").await.unwrap(),
            ConnectionStatus::Failed
        );
    }
    assert_eq!(
        b.state.get(&short, "x").await.unwrap(),
        ConnectionState::disconnected()
    );
}

async fn disconnect_all_disconnects_every_connected_server(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.state
        .set_connected(&s, "zeta", &tools(&["t"]), at())
        .await
        .unwrap();
    b.state
        .set_connected(&s, "alpha", &tools(&["t"]), at())
        .await
        .unwrap();
    b.state.set_failed(&s, "broken", "boom").await.unwrap();

    assert_eq!(b.state.disconnect_all(&s).await.unwrap(), ["alpha", "zeta"]);
    for name in ["alpha", "zeta"] {
        assert_eq!(
            b.state.get(&s, name).await.unwrap(),
            ConnectionState::disconnected()
        );
    }
    // Only connected servers are touched.
    assert_eq!(
        b.state.status(&s, "broken").await.unwrap(),
        ConnectionStatus::Failed
    );
    assert!(b.state.connected_servers(&s).await.unwrap().is_empty());
    assert!(b.state.disconnect_all(&s).await.unwrap().is_empty());
}

async fn clear_session_removes_every_key_of_the_session(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let (s, other) = (sid("user-1"), sid("user-2"));
    b.state
        .set_connected(&s, "github", &tools(&["search"]), at())
        .await
        .unwrap();
    b.state
        .set_connected(&s, "jira", &tools(&["issue"]), at())
        .await
        .unwrap();
    b.state.set_failed(&s, "broken", "boom").await.unwrap();
    b.state.set_disconnected(&s, "gone").await.unwrap();
    b.state
        .set_connected(&other, "github", &tools(&["search"]), at())
        .await
        .unwrap();

    if kind == Kind::Redis {
        assert_eq!(b.raw_keys("user-1").await.len(), 10);
    }
    // 2 × 3 connected keys, the set, 2 failed keys, 1 disconnected key.
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 10);
    for name in ["github", "jira", "broken", "gone"] {
        assert_eq!(
            b.state.get(&s, name).await.unwrap(),
            ConnectionState::disconnected()
        );
    }
    assert!(b.state.connected_servers(&s).await.unwrap().is_empty());
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 0);
    if kind == Kind::Redis {
        assert_eq!(b.raw_keys("user-1").await, Vec::<String>::new());
        assert_eq!(b.raw_keys("user-2").await.len(), 4);
    }
    // The other session is untouched.
    assert_eq!(
        b.state.status(&other, "github").await.unwrap(),
        ConnectionStatus::Connected
    );
    assert_eq!(b.state.connected_servers(&other).await.unwrap(), ["github"]);
}

async fn clear_session_counts_keys_across_many_scan_pages(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = sid("big");
    let servers = 700;
    for i in 0..servers {
        b.state
            .set_connected(&s, &format!("s{i}"), &tools(&["t"]), at())
            .await
            .unwrap();
    }
    assert_eq!(b.state.connected_servers(&s).await.unwrap().len(), servers);
    assert_eq!(
        b.state.clear_session(&s).await.unwrap(),
        servers as u64 * 3 + 1
    );
    assert!(b.state.connected_servers(&s).await.unwrap().is_empty());
    if kind == Kind::Redis {
        assert!(b.raw_keys("big").await.is_empty());
    }
}

async fn state_expires_after_the_ttl(kind: Kind) {
    let ttl = Duration::from_secs(1);
    let mut b = Backend::open(kind, ttl).await;
    let s = sid("user-1");
    b.state
        .set_connected(&s, "github", &tools(&["search"]), at())
        .await
        .unwrap();
    b.state.set_failed(&s, "broken", "boom").await.unwrap();
    b.state.set_disconnected(&s, "gone").await.unwrap();

    if kind == Kind::Redis {
        let keys = b.raw_keys("user-1").await;
        // github: 3 keys, the set, broken: 2 keys, gone: 1 key.
        assert_eq!(keys.len(), 7, "{keys:?}");
        let raw = b.raw.as_mut().expect("a raw connection");
        for key in &keys {
            let left: i64 = ::redis::cmd("PTTL")
                .arg(key)
                .query_async(raw)
                .await
                .unwrap();
            assert!(left > 0 && left <= 1000, "{key} has a TTL of {left} ms");
            let secs: i64 = ::redis::cmd("TTL").arg(key).query_async(raw).await.unwrap();
            assert!(secs > 0 && secs <= 1, "{key} has a TTL of {secs} s");
        }
    }

    tokio::time::sleep(Duration::from_millis(2100)).await;
    for name in ["github", "broken", "gone"] {
        assert_eq!(
            b.state.get(&s, name).await.unwrap(),
            ConnectionState::disconnected()
        );
    }
    assert!(b.state.connected_servers(&s).await.unwrap().is_empty());
    assert!(b.state.disconnect_all(&s).await.unwrap().is_empty());
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 0);
    if kind == Kind::Redis {
        assert!(b.raw_keys("user-1").await.is_empty());
    }
}

async fn each_write_refreshes_the_ttl_of_the_connections_set(kind: Kind) {
    let ttl = Duration::from_millis(1500);
    let b = Backend::open(kind, ttl).await;
    let s = sid("user-1");
    b.state
        .set_connected(&s, "first", &tools(&["t"]), at())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // A write on another server, 1 s later, keeps the set alive…
    b.state
        .set_connected(&s, "second", &tools(&["t"]), at())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // …past the lifetime of the first write's keys.
    assert_eq!(
        b.state.get(&s, "first").await.unwrap(),
        ConnectionState::disconnected()
    );
    assert_eq!(
        b.state.status(&s, "second").await.unwrap(),
        ConnectionStatus::Connected
    );
    assert!(
        b.state
            .connected_servers(&s)
            .await
            .unwrap()
            .contains(&"second".to_owned())
    );
}

/// The tools written in `round`: their name says the round, and so does the
/// `connected_at` written with them, so a reader can tell a torn write.
fn round_tools(round: i64) -> Vec<Value> {
    tools(&[&format!("r{round}"), "b", "c"])
}

fn round_at(round: i64) -> DateTime<Utc> {
    at() + chrono::Duration::seconds(round)
}

async fn no_reader_ever_sees_connected_without_tools(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = sid("racer");
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));

    let mut readers = Vec::new();
    for i in 0..3 {
        let state = if i == 0 {
            b.state.clone()
        } else {
            b.second_handle().await
        };
        let (s, done, reads) = (s.clone(), done.clone(), reads.clone());
        readers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let state = state.get(&s, "github").await.unwrap();
                match state.status {
                    ConnectionStatus::Connected => {
                        let at = state.connected_at.expect("CONNECTED without connected_at");
                        let round = (at - self::at()).num_seconds();
                        assert_eq!(
                            state.tools,
                            round_tools(round),
                            "tools and time of different writes"
                        );
                        assert_eq!(state.error, None);
                    }
                    ConnectionStatus::Failed => {
                        assert!(state.tools.is_empty());
                        assert_eq!(state.error.as_deref(), Some("boom"));
                    }
                    ConnectionStatus::Disconnected => {
                        assert_eq!(state, ConnectionState::disconnected());
                    }
                }
                reads.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }));
    }
    // For Redis, also read the raw keys, which no decoding can tidy up.
    if let Some(mut raw) = b.raw.take() {
        let keys: Vec<String> = ["status", "tools", "connected_at", "error"]
            .iter()
            .map(|field| format!("{}mcp:session:racer:server:github:{field}", b.prefix))
            .collect();
        let (done, reads) = (done.clone(), reads.clone());
        readers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let values: Vec<Option<String>> = ::redis::cmd("MGET")
                    .arg(&keys)
                    .query_async(&mut raw)
                    .await
                    .unwrap();
                let present: Vec<bool> = values.iter().map(Option::is_some).collect();
                match values[0].as_deref() {
                    Some("CONNECTED") => assert_eq!(present, [true, true, true, false]),
                    Some("FAILED") => assert_eq!(present, [true, false, false, true]),
                    Some("DISCONNECTED") | None => assert_eq!(present[1..], [false, false, false]),
                    Some(other) => panic!("unexpected status {other}"),
                }
                reads.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }));
    }

    for round in 0..300 {
        // Connect twice in a row (a reconnect replaces tools and time), then
        // fail or disconnect.
        b.state
            .set_connected(&s, "github", &round_tools(round), round_at(round))
            .await
            .unwrap();
        let next = round + 1000;
        b.state
            .set_connected(&s, "github", &round_tools(next), round_at(next))
            .await
            .unwrap();
        if round % 3 == 0 {
            b.state.set_failed(&s, "github", "boom").await.unwrap();
        } else {
            b.state.set_disconnected(&s, "github").await.unwrap();
        }
        if round % 10 == 0 {
            tokio::task::yield_now().await;
        }
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("a reader saw a torn write");
    }
    assert!(reads.load(Ordering::Relaxed) > 0, "the readers ran");
}

async fn invalid_server_names_are_refused(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    for bad in ["", "a:b", "a b", "a*"] {
        let err = b
            .state
            .set_connected(&s, bad, &tools(&["t"]), at())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_server_name", "{bad:?}");
        let err = b.state.get(&s, bad).await.unwrap_err();
        assert_eq!(err.code(), "invalid_server_name", "{bad:?}");
    }
    assert!(b.state.connected_servers(&s).await.unwrap().is_empty());
}

async fn health_is_ok(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    b.state.health().await.unwrap();
}

/// What only Redis can show: raw keys and values, start-up and outages.
mod redis_only {
    use super::*;
    use crate::support::redis::RedisServer;

    #[tokio::test]
    async fn keys_and_values_use_exactly_the_documented_names_and_formats() {
        let mut b = Backend::open(Kind::Redis, LONG_TTL).await;
        let s = sid("user-1");
        let list = tools(&["search"]);
        b.state
            .set_connected(&s, "github", &list, at())
            .await
            .unwrap();
        b.state.set_failed(&s, "jira", "refused").await.unwrap();
        let p = b.prefix.clone();
        let base = format!("{p}mcp:session:user-1");
        assert_eq!(
            b.raw_keys("user-1").await,
            [
                format!("{base}:connections"),
                format!("{base}:server:github:connected_at"),
                format!("{base}:server:github:status"),
                format!("{base}:server:github:tools"),
                format!("{base}:server:jira:error"),
                format!("{base}:server:jira:status"),
            ]
        );
        let raw = b.raw.as_mut().expect("a raw connection");
        let get = |key: String| ::redis::cmd("GET").arg(key).clone();
        let status: String = get(format!("{base}:server:github:status"))
            .query_async(raw)
            .await
            .unwrap();
        assert_eq!(status, "CONNECTED");
        let stored: String = get(format!("{base}:server:github:tools"))
            .query_async(raw)
            .await
            .unwrap();
        assert_eq!(serde_json::from_str::<Vec<Value>>(&stored).unwrap(), list);
        let when: String = get(format!("{base}:server:github:connected_at"))
            .query_async(raw)
            .await
            .unwrap();
        assert_eq!(DateTime::parse_from_rfc3339(&when).unwrap(), at());
        let status: String = get(format!("{base}:server:jira:status"))
            .query_async(raw)
            .await
            .unwrap();
        assert_eq!(status, "FAILED");
        let error: String = get(format!("{base}:server:jira:error"))
            .query_async(raw)
            .await
            .unwrap();
        assert_eq!(error, "refused");
        let members: Vec<String> = ::redis::cmd("SMEMBERS")
            .arg(format!("{base}:connections"))
            .query_async(raw)
            .await
            .unwrap();
        assert_eq!(members, ["github"]);
    }

    #[tokio::test]
    async fn stored_garbage_reads_as_disconnected_and_never_panics() {
        let mut b = Backend::open(Kind::Redis, LONG_TTL).await;
        let s = sid("user-1");
        let base = format!("{}mcp:session:user-1:server", b.prefix);
        let raw = b.raw.as_mut().expect("a raw connection");
        let set = |key: String, value: &[u8]| ::redis::cmd("SET").arg(key).arg(value).clone();
        set(format!("{base}:a:status"), b"bogus")
            .exec_async(raw)
            .await
            .unwrap();
        set(format!("{base}:b:status"), b"CONNECTED")
            .exec_async(raw)
            .await
            .unwrap();
        set(format!("{base}:b:tools"), b"not json")
            .exec_async(raw)
            .await
            .unwrap();
        set(format!("{base}:c:status"), b"\xff\xfe")
            .exec_async(raw)
            .await
            .unwrap();
        set(format!("{base}:d:status"), b"CONNECTED")
            .exec_async(raw)
            .await
            .unwrap();
        set(format!("{base}:d:tools"), b"[1]")
            .exec_async(raw)
            .await
            .unwrap();
        set(format!("{base}:d:connected_at"), b"yesterday")
            .exec_async(raw)
            .await
            .unwrap();
        for name in ["a", "b", "c"] {
            assert_eq!(
                b.state.get(&s, name).await.unwrap(),
                ConnectionState::disconnected()
            );
        }
        let d = b.state.get(&s, "d").await.unwrap();
        assert_eq!(
            (d.status, d.connected_at),
            (ConnectionStatus::Connected, None)
        );
        assert_eq!(b.state.clear_session(&s).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn start_up_fails_with_a_clear_message_when_redis_is_unreachable() {
        let url = format!("redis://127.0.0.1:{}", support::redis::free_port());
        let err = manifold::session::redis::connect(&url, "t:".into(), LONG_TTL)
            .await
            .err()
            .expect("connecting to a closed port fails");
        let message = format!("{err:#}");
        assert!(
            message.contains("cannot reach the Redis state store at"),
            "{message}"
        );
        assert!(message.contains(&url), "{message}");
    }

    #[tokio::test]
    async fn start_up_never_shows_the_password() {
        let url = format!(
            "redis://user:hunter2@127.0.0.1:{}",
            support::redis::free_port()
        );
        let err = manifold::session::redis::connect(&url, "t:".into(), LONG_TTL)
            .await
            .err()
            .expect("connecting to a closed port fails");
        assert!(!format!("{err:#}").contains("hunter2"), "{err:#}");
    }

    /// Runs `call` with a generous guard so a hang fails instead of blocking.
    async fn bounded<T>(what: &str, call: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .unwrap_or_else(|_| panic!("{what} hung during a Redis outage"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outage_gives_unavailable_and_the_same_store_recovers() {
        let mut server = RedisServer::start();
        let prefix = format!("{}:", support::unique("t:"));
        let state = manifold::session::redis::connect(&server.url(), prefix, LONG_TTL)
            .await
            .expect("the private Redis answers");
        let s = sid("user-1");
        state
            .set_connected(&s, "github", &tools(&["t"]), at())
            .await
            .unwrap();

        server.stop();
        let outage = std::time::Instant::now();
        for round in 0..3 {
            let errors = [
                bounded("health", state.health()).await.err(),
                bounded("get", state.get(&s, "github")).await.err(),
                bounded(
                    "set_connected",
                    state.set_connected(&s, "x", &tools(&["t"]), at()),
                )
                .await
                .err(),
                bounded("connected_servers", state.connected_servers(&s))
                    .await
                    .err(),
                bounded("clear_session", state.clear_session(&s))
                    .await
                    .err(),
            ];
            for err in errors {
                let err = err
                    .unwrap_or_else(|| panic!("a call succeeded with Redis down (round {round})"));
                assert_eq!(err.code(), "unavailable", "round {round}: {err:?}");
            }
        }

        // Not asserted (timings vary); shown with --nocapture.
        println!("15 calls during the outage took {:?}", outage.elapsed());
        server.start_again();
        let back = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while state.health().await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the store never reconnected"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "the store answered again {:?} after Redis restarted",
            back.elapsed()
        );
        state
            .set_connected(&s, "github", &tools(&["t"]), at())
            .await
            .unwrap();
        assert_eq!(
            state.status(&s, "github").await.unwrap(),
            ConnectionStatus::Connected
        );
        assert_eq!(state.connected_servers(&s).await.unwrap(), ["github"]);
        assert_eq!(state.clear_session(&s).await.unwrap(), 4);
    }
}
