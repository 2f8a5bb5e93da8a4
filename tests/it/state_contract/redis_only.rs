//! What only Redis can show: raw keys and values, start-up and outages.

use std::time::Duration;

use chrono::DateTime;
use manifold::session::ConnectionStatus;
use serde_json::Value;

use super::{Backend, Kind, LONG_TTL, Raw, at, sid, tools};
use crate::support;
use crate::support::redis::RedisServer;

/// The string stored at `key`.
async fn get(raw: &mut Raw, key: String) -> String {
    ::redis::cmd("GET").arg(key).query_async(raw).await.unwrap()
}

#[tokio::test]
async fn keys_and_values_use_exactly_the_documented_names_and_formats() {
    let mut b = Backend::open(Kind::Redis, LONG_TTL).await;
    let s = sid("user-1");
    let list = tools(&["search"]);
    b.state
        .set_connected(&s, "github", &list, at())
        .await
        .unwrap();
    b.fail(&s, "jira", "refused").await;
    let base = format!("{}mcp:session:user-1", b.prefix);
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
    let raw = b.raw();
    let status = get(raw, format!("{base}:server:github:status")).await;
    assert_eq!(status, "CONNECTED");
    let stored = get(raw, format!("{base}:server:github:tools")).await;
    assert_eq!(serde_json::from_str::<Vec<Value>>(&stored).unwrap(), list);
    let when = get(raw, format!("{base}:server:github:connected_at")).await;
    assert_eq!(DateTime::parse_from_rfc3339(&when).unwrap(), at());
    let status = get(raw, format!("{base}:server:jira:status")).await;
    assert_eq!(status, "FAILED");
    let error = get(raw, format!("{base}:server:jira:error")).await;
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
    stored_garbage_reads_as_disconnected(Kind::Redis).await;
}

/// Garbage written straight into the keys of a session (Redis or cluster).
pub(super) async fn stored_garbage_reads_as_disconnected(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    let base = format!("{}:server", b.session_base("user-1"));
    let garbage: [(&str, &[u8]); 7] = [
        ("a:status", b"bogus"),
        ("b:status", b"CONNECTED"),
        ("b:tools", b"not json"),
        ("c:status", b"\xff\xfe"),
        ("d:status", b"CONNECTED"),
        ("d:tools", b"[1]"),
        ("d:connected_at", b"yesterday"),
    ];
    let raw = b.raw();
    for (key, value) in garbage {
        ::redis::cmd("SET")
            .arg(format!("{base}:{key}"))
            .arg(value)
            .exec_async(raw)
            .await
            .unwrap();
    }
    for name in ["a", "b", "c"] {
        b.assert_disconnected(&s, name).await;
    }
    let d = b.state.get(&s, "d").await.unwrap();
    assert_eq!(
        (d.status, d.connected_at),
        (ConnectionStatus::Connected, None)
    );
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 7);
}

/// The message of starting a store on `url`, where nothing listens.
async fn start_up_error(url: &str) -> String {
    let err = manifold::session::redis::connect(url, "t:".into(), LONG_TTL)
        .await
        .err()
        .expect("connecting to a closed port fails");
    format!("{err:#}")
}

#[tokio::test]
async fn start_up_fails_with_a_clear_message_when_redis_is_unreachable() {
    let url = format!("redis://127.0.0.1:{}", support::redis::free_port());
    let message = start_up_error(&url).await;
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
    let message = start_up_error(&url).await;
    assert!(!message.contains("hunter2"), "{message}");
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
            let err =
                err.unwrap_or_else(|| panic!("a call succeeded with Redis down (round {round})"));
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
