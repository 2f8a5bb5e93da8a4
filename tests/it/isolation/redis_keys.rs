//! Redis: a disconnect or logout by one session never touches another
//! session's keys. Every key under the test's prefix is read with its type
//! and value before and after, and everything not bob's must come back
//! byte-identical (TTLs aside, which only tick down).

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::app::TestApp;
use crate::support::mcp::open_session;
use crate::support::redis::{raw, scan_keys};
use crate::support::rest::connect;

use super::{ALICE_PRIV, BOB_PRIV, PUB, world};

/// Raw bytes, compared exactly and shown as (lossy) text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Bytes(Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// A key's type and its value in a comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stored {
    String(Bytes),
    Set(Vec<Bytes>),
    Hash(Vec<(Bytes, Bytes)>),
    List(Vec<Bytes>),
    SortedSet(Vec<(Bytes, String)>),
    Other(String),
}

/// Every key under `prefix` with its type and value (SCAN, then TYPE and
/// GET / SMEMBERS / HGETALL / LRANGE / ZRANGE).
async fn snapshot(prefix: &str) -> BTreeMap<String, Stored> {
    let mut conn = raw().await;
    let mut out = BTreeMap::new();
    for key in scan_keys(&mut conn, &format!("{prefix}*")).await {
        let kind: String = ::redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("TYPE");
        let value = match kind.as_str() {
            "string" => Stored::String(Bytes(
                ::redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("GET"),
            )),
            "set" => {
                let members: Vec<Vec<u8>> = ::redis::cmd("SMEMBERS")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("SMEMBERS");
                let mut members: Vec<Bytes> = members.into_iter().map(Bytes).collect();
                members.sort();
                Stored::Set(members)
            }
            "hash" => {
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = ::redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("HGETALL");
                let mut pairs: Vec<(Bytes, Bytes)> = pairs
                    .into_iter()
                    .map(|(k, v)| (Bytes(k), Bytes(v)))
                    .collect();
                pairs.sort();
                Stored::Hash(pairs)
            }
            "list" => {
                let items: Vec<Vec<u8>> = ::redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await
                    .expect("LRANGE");
                Stored::List(items.into_iter().map(Bytes).collect())
            }
            "zset" => {
                let items: Vec<(Vec<u8>, String)> = ::redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(&mut conn)
                    .await
                    .expect("ZRANGE");
                Stored::SortedSet(items.into_iter().map(|(m, s)| (Bytes(m), s)).collect())
            }
            // Expired between SCAN and TYPE.
            "none" => continue,
            other => Stored::Other(other.to_owned()),
        };
        out.insert(key, value);
    }
    out
}

/// Whether `key` is one of `session`'s connection-state keys, by the
/// documented layout: `{prefix}mcp:session:{session}:connections`,
/// `…:tool_filter` or
/// `…:server:{name}:{field}` with a server name without `:`. (A plain
/// prefix match is not enough: session ids may contain `:`, so the key of
/// alice's server `pub` also starts with the prefix of a user named
/// `alice:server:pub`.)
fn belongs(prefix: &str, session: &str, key: &str) -> bool {
    let Some(rest) = key.strip_prefix(&format!("{prefix}mcp:session:{session}:")) else {
        return false;
    };
    if rest == "connections" || rest == "tool_filter" {
        return true;
    }
    rest.strip_prefix("server:")
        .and_then(|tail| tail.split_once(':'))
        .is_some_and(|(server, field)| {
            ["status", "tools", "connected_at", "error"].contains(&field) && !server.is_empty()
        })
}

/// The keys of `snapshot` that do not belong to session `session` (its
/// connection state and the MCP sessions it opened).
fn not_of(
    prefix: &str,
    session: &str,
    snapshot: &BTreeMap<String, Stored>,
) -> BTreeMap<String, Stored> {
    let marker = format!("\"user\":\"{session}\"");
    snapshot
        .iter()
        .filter(|(key, value)| {
            if belongs(prefix, session, key) {
                return false;
            }
            let binding = key.starts_with(&format!("{prefix}mcp:binding:"));
            let bound_to_session = matches!(value, Stored::String(v)
                if String::from_utf8_lossy(&v.0).contains(&marker));
            !(binding && bound_to_session)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The keys of `session`'s connection state in `snapshot`.
fn keys_of(prefix: &str, session: &str, snapshot: &BTreeMap<String, Stored>) -> Vec<String> {
    snapshot
        .keys()
        .filter(|k| belongs(prefix, session, k))
        .cloned()
        .collect()
}

/// The entries of `session`'s connection-state keys in `snapshot`.
fn entries_of(
    prefix: &str,
    session: &str,
    snapshot: &BTreeMap<String, Stored>,
) -> BTreeMap<String, Stored> {
    snapshot
        .iter()
        .filter(|(k, _)| belongs(prefix, session, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Every key's remaining TTL is positive (nothing lost its expiry).
async fn assert_all_expire(prefix: &str) {
    let mut conn = raw().await;
    for key in scan_keys(&mut conn, &format!("{prefix}*")).await {
        let ttl: i64 = ::redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("TTL");
        assert!(ttl > 0 || ttl == -2, "{key} has no TTL ({ttl})");
    }
}

/// Connects `servers` for `key`.
async fn connect_all(app: &TestApp, key: &str, servers: &[&str]) {
    for server in servers {
        connect(app, server, key).await;
    }
}

#[tokio::test]
async fn bobs_disconnect_and_logout_leave_every_other_redis_key_byte_identical() {
    let w = world().await;
    let app = &w.app;
    let prefix = &w.prefix;
    connect_all(app, &w.alice, &[PUB, ALICE_PRIV]).await;
    connect_all(app, &w.bob, &[PUB, BOB_PRIV]).await;
    connect_all(app, &app.admin_key, &[PUB]).await;
    // A failed connection leaves an `error` key for alice too.
    let (status, body) = app
        .post(
            "/api/v1/servers",
            &w.alice,
            json!({"name": "alice-dead", "transport": "streamable_http",
                   "url": format!("http://127.0.0.1:{}/mcp", crate::support::redis::free_port())}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app.session_action("connect", "alice-dead", &w.alice).await;
    assert!(!status.is_success());
    let alice_mcp = open_session(app, "/mcp", &w.alice).await;
    let bob_mcp = open_session(app, "/mcp", &w.bob).await;

    let before = snapshot(prefix).await;
    let alices = keys_of(prefix, "alice", &before);
    for expected in [
        format!("{prefix}mcp:session:alice:connections"),
        format!("{prefix}mcp:session:alice:server:{PUB}:tools"),
        format!("{prefix}mcp:session:alice:server:{ALICE_PRIV}:status"),
        format!("{prefix}mcp:session:alice:server:alice-dead:error"),
    ] {
        assert!(alices.contains(&expected), "{expected} missing: {alices:?}");
    }
    assert!(before.contains_key(&format!("{prefix}mcp:binding:{alice_mcp}")));
    assert!(before.contains_key(&format!("{prefix}mcp:binding:{bob_mcp}")));
    let others = not_of(prefix, "bob", &before);

    // Bob disconnects the public server both use.
    let (status, body) = app.session_action("disconnect", PUB, &w.bob).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after_disconnect = snapshot(prefix).await;
    assert_eq!(
        not_of(prefix, "bob", &after_disconnect),
        others,
        "bob's disconnect changed another session's keys"
    );
    assert_ne!(
        keys_of(prefix, "bob", &after_disconnect),
        Vec::<String>::new()
    );

    // Bob tries to disconnect alice's private server and the failed one.
    for server in [ALICE_PRIV, "alice-dead"] {
        let (status, _) = app.session_action("disconnect", server, &w.bob).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Bob ends his MCP session and logs out, by key and by JWT.
    let resp = app
        .client
        .request(Method::DELETE, app.url("/mcp"))
        .bearer_auth(&w.bob)
        .header("mcp-session-id", &bob_mcp)
        .send()
        .await
        .expect("sent");
    assert!(resp.status().is_success(), "{}", resp.status());
    for key in [&w.bob, &w.bob_jwt] {
        let (status, body) = app.delete("/api/v1/session", key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let after_logout = snapshot(prefix).await;
    assert_eq!(
        not_of(prefix, "bob", &after_logout),
        others,
        "bob's logout changed another session's keys"
    );
    assert_eq!(
        keys_of(prefix, "bob", &after_logout),
        Vec::<String>::new(),
        "bob's own state is gone"
    );
    assert!(!after_logout.contains_key(&format!("{prefix}mcp:binding:{bob_mcp}")));
    assert_all_expire(prefix).await;
}

#[tokio::test]
async fn an_anonymous_clients_logout_leaves_every_users_redis_keys_byte_identical() {
    let w = world().await;
    let app = &w.app;
    let prefix = &w.prefix;
    connect_all(app, &w.alice, &[PUB, ALICE_PRIV]).await;
    let anon = reqwest::Client::builder()
        .user_agent("anon-logout")
        .build()
        .expect("client");
    let resp = anon
        .post(app.url(&format!("/api/v1/servers/{PUB}/connect")))
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let me: serde_json::Value = anon
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let anon_session = me["session"].as_str().expect("session").to_owned();

    let before = snapshot(prefix).await;
    assert!(!keys_of(prefix, &anon_session, &before).is_empty());
    let others = not_of(prefix, &anon_session, &before);
    let resp = anon
        .delete(app.url("/api/v1/session"))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let after = snapshot(prefix).await;
    assert_eq!(not_of(prefix, &anon_session, &after), others);
    assert_eq!(keys_of(prefix, &anon_session, &after), Vec::<String>::new());
}

#[tokio::test]
async fn user_ids_that_extend_another_with_colons_neither_share_nor_clear_each_others_keys() {
    let w = world().await;
    let app = &w.app;
    let prefix = &w.prefix;
    // Session ids may contain `:`, the key separator: these users' key
    // prefixes extend alice's (`mcp:session:alice:…`).
    let lookalikes = ["alice:server:pub", "alice:x", "alice:connections"];
    let mut keys = Vec::new();
    for user in lookalikes {
        keys.push((user, app.user_key(user).await));
    }
    connect(app, PUB, &w.alice).await;
    for (_, key) in &keys {
        connect(app, PUB, key).await;
    }

    // Each sees exactly its own connection.
    let (_, tools) = app.get("/api/v1/session/tools", &w.alice).await;
    assert_eq!(super::tool_servers(&tools), [PUB]);

    // Logging out alice must leave every lookalike's keys alone, and each
    // lookalike's logout must leave alice's alone.
    let before = snapshot(prefix).await;
    let (status, cleared) = app.delete("/api/v1/session", &w.alice).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["disconnected"], json!([PUB]), "{cleared}");
    let after = snapshot(prefix).await;
    assert_eq!(
        keys_of(prefix, "alice", &after),
        Vec::<String>::new(),
        "alice's own keys are gone"
    );
    for (user, key) in &keys {
        let theirs = entries_of(prefix, user, &before);
        assert!(!theirs.is_empty(), "{user} has keys");
        assert_eq!(
            entries_of(prefix, user, &after),
            theirs,
            "alice's logout touched {user}'s keys"
        );
        let (_, tools) = app.get("/api/v1/session/tools", key).await;
        assert_eq!(super::tool_servers(&tools), [PUB], "{user}: {tools}");
    }

    // Now alice connects again and each lookalike logs out in turn.
    connect(app, ALICE_PRIV, &w.alice).await;
    let before = entries_of(prefix, "alice", &snapshot(prefix).await);
    assert!(!before.is_empty());
    for (user, key) in &keys {
        let (status, cleared) = app.delete("/api/v1/session", key).await;
        assert_eq!(status, StatusCode::OK, "{user}: {cleared}");
        assert_eq!(cleared["disconnected"], json!([PUB]), "{user}: {cleared}");
        assert_eq!(
            entries_of(prefix, "alice", &snapshot(prefix).await),
            before,
            "{user}'s logout touched alice's keys"
        );
    }
    let (_, tools) = app.get("/api/v1/session/tools", &w.alice).await;
    assert_eq!(super::tool_servers(&tools), [ALICE_PRIV]);
}
