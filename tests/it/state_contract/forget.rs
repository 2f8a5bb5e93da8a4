//! `forget_server`: a server deleted (or renamed) in the catalog loses its
//! state in every session, and nothing else changes.

use std::collections::BTreeMap;

use manifold::session::ConnectionStatus;

use super::{Backend, Kind, LONG_TTL, Raw, sid, tools};

/// Every raw key under `prefix` with its `DUMP` (value bytes, no TTL).
async fn dump_all(raw: &mut Raw, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for key in raw.keys(&format!("{prefix}*")).await {
        let dump: Vec<u8> = ::redis::cmd("DUMP")
            .arg(&key)
            .query_async(raw)
            .await
            .unwrap();
        out.insert(key, dump);
    }
    out
}

async fn pttl(raw: &mut Raw, key: &str) -> i64 {
    ::redis::cmd("PTTL")
        .arg(key)
        .query_async(raw)
        .await
        .unwrap()
}

pub(super) async fn forget_server_removes_one_server_from_every_session_and_nothing_else(
    kind: Kind,
) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let (alice, bob, carol, tricky) = (sid("alice"), sid("bob"), sid("carol"), sid("a:server:x"));
    b.connect(&alice, "x", &["old"]).await;
    b.connect(&alice, "y", &["keep"]).await;
    b.fail(&bob, "x", "boom").await;
    b.connect(&bob, "y", &["keep"]).await;
    b.connect(&carol, "y", &["keep"]).await;
    b.connect(&carol, "xx", &["other"]).await;
    b.connect(&tricky, "x", &["old"]).await;
    b.fail(&tricky, "y", "down").await;

    // What must survive byte for byte: every key but x's and the sets that hold x.
    let prefix = b.prefix.clone();
    let (alice_set, carol_set, tricky_set) = (
        format!("{}:connections", b.session_base("alice")),
        format!("{}:connections", b.session_base("carol")),
        format!("{}:connections", b.session_base("a:server:x")),
    );
    let before = match b.raw.as_mut() {
        Some(raw) => dump_all(raw, &prefix).await,
        None => BTreeMap::new(),
    };
    let ttl_before = match b.raw.as_mut() {
        Some(raw) => pttl(raw, &alice_set).await,
        None => 0,
    };

    let forgot = b.state.forget_server("x").await.unwrap();
    assert_eq!(forgot, [tricky.clone(), alice.clone(), bob.clone()]);

    for s in [&alice, &bob, &tricky] {
        b.assert_disconnected(s, "x").await;
    }
    b.assert_connected(&alice, &["y"]).await;
    b.assert_connected(&bob, &["y"]).await;
    b.assert_connected(&carol, &["xx", "y"]).await;
    b.assert_connected(&tricky, &[]).await;
    assert_eq!(
        b.state.get(&alice, "y").await.unwrap().tools,
        tools(&["keep"])
    );
    assert_eq!(
        b.state.get(&carol, "xx").await.unwrap().tools,
        tools(&["other"])
    );
    b.assert_status(&bob, "y", ConnectionStatus::Connected)
        .await;
    let failed = b.state.get(&tricky, "y").await.unwrap();
    assert_eq!(failed.status, ConnectionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("down"));

    // Forgetting again finds nothing.
    assert!(b.state.forget_server("x").await.unwrap().is_empty());

    if let Some(raw) = b.raw.as_mut() {
        let after = dump_all(raw, &prefix).await;
        let fields = ["status", "tools", "connected_at", "error"];
        let gone = |key: &String| {
            fields
                .iter()
                .any(|f| key.ends_with(&format!(":server:x:{f}")))
        };
        let sets = |key: &String| key.ends_with(":connections");
        let kept: Vec<_> = before.keys().filter(|k| !gone(k) && !sets(k)).collect();
        for key in &kept {
            assert_eq!(before.get(*key), after.get(*key), "{key} changed");
        }
        assert!(after.keys().all(|k| !gone(k)), "{after:?}");
        // Carol's set never held x: untouched too.
        assert_eq!(before.get(&carol_set), after.get(&carol_set));
        // The TTLs of the sets it left were not refreshed.
        let ttl_after = pttl(raw, &alice_set).await;
        assert!(
            0 < ttl_after && ttl_after <= ttl_before,
            "{ttl_before} → {ttl_after}"
        );
        // The emptied set of the tricky session is gone.
        assert!(before.contains_key(&tricky_set) && !after.contains_key(&tricky_set));
    }
}

pub(super) async fn forget_server_reaches_sessions_across_many_scan_pages(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let sessions: Vec<_> = (0..300).map(|i| sid(&format!("user-{i:03}"))).collect();
    for s in &sessions {
        b.connect(s, "x", &["t"]).await;
        b.connect(s, "y", &["t"]).await;
    }
    let forgot = b.state.forget_server("x").await.unwrap();
    assert_eq!(forgot, sessions);
    for s in &sessions {
        b.assert_connected(s, &["y"]).await;
        b.assert_disconnected(s, "x").await;
    }
}

pub(super) async fn forget_server_refuses_names_that_could_match_other_keys(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("alice");
    b.connect(&s, "x", &["t"]).await;
    for bad in ["*", "x*", "?", "[x]", "a:b", ""] {
        let err = b.state.forget_server(bad).await.unwrap_err();
        assert_eq!(err.code(), "invalid_server_name", "{bad:?}");
    }
    b.assert_connected(&s, &["x"]).await;
}
