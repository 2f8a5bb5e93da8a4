//! Sessions never see each other's state, and clearing one session removes
//! exactly its keys.

use manifold::session::ConnectionStatus;

use super::{Backend, Kind, LONG_TTL, sid, tools};

pub(super) async fn sessions_are_isolated(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let (a, other) = (sid("alice"), sid("bob"));
    b.connect(&a, "github", &["search"]).await;
    b.assert_disconnected(&other, "github").await;
    b.assert_connected(&other, &[]).await;

    b.fail(&other, "github", "boom").await;
    b.connect(&other, "jira", &["issue"]).await;
    b.assert_status(&a, "github", ConnectionStatus::Connected)
        .await;
    b.assert_connected(&a, &["github"]).await;

    assert_eq!(b.state.disconnect_all(&other).await.unwrap(), ["jira"]);
    b.assert_status(&a, "github", ConnectionStatus::Connected)
        .await;

    assert!(b.state.clear_session(&other).await.unwrap() > 0);
    assert_eq!(
        b.state.get(&a, "github").await.unwrap().tools,
        tools(&["search"])
    );
    b.assert_connected(&a, &["github"]).await;
    if kind.is_redis() {
        assert!(b.raw_keys("bob").await.is_empty());
        assert_eq!(b.raw_keys("alice").await.len(), 4);
    }
}

pub(super) async fn sessions_whose_ids_extend_each_other_are_isolated(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    // `a:*` also matches the keys of these sessions: clearing `a` must not
    // touch them.
    let short = sid("a");
    let longer = [sid("a:b"), sid("a:server:x"), sid("a:server:x:server")];
    for s in &longer {
        b.connect(s, "x", &["t"]).await;
        b.fail(s, "y", "boom").await;
    }
    b.connect(&short, "x", &["t"]).await;
    b.assert_connected(&short, &["x"]).await;

    // x: status, tools, connected_at; the set.
    assert_eq!(b.state.clear_session(&short).await.unwrap(), 4);
    for s in &longer {
        b.assert_connected(s, &["x"]).await;
        b.assert_status(s, "x", ConnectionStatus::Connected).await;
        b.assert_status(s, "y", ConnectionStatus::Failed).await;
    }
    b.assert_disconnected(&short, "x").await;
}

pub(super) async fn clear_session_removes_every_key_of_the_session(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let (s, other) = (sid("user-1"), sid("user-2"));
    b.connect(&s, "github", &["search"]).await;
    b.connect(&s, "jira", &["issue"]).await;
    b.fail(&s, "broken", "boom").await;
    b.state.set_disconnected(&s, "gone").await.unwrap();
    b.connect(&other, "github", &["search"]).await;

    if kind.is_redis() {
        assert_eq!(b.raw_keys("user-1").await.len(), 10);
    }
    // 2 × 3 connected keys, the set, 2 failed keys, 1 disconnected key.
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 10);
    for name in ["github", "jira", "broken", "gone"] {
        b.assert_disconnected(&s, name).await;
    }
    b.assert_connected(&s, &[]).await;
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 0);
    if kind.is_redis() {
        assert_eq!(b.raw_keys("user-1").await, Vec::<String>::new());
        assert_eq!(b.raw_keys("user-2").await.len(), 4);
    }
    // The other session is untouched.
    b.assert_status(&other, "github", ConnectionStatus::Connected)
        .await;
    b.assert_connected(&other, &["github"]).await;
}

pub(super) async fn clear_session_counts_keys_across_many_scan_pages(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = sid("big");
    let servers = 700;
    for i in 0..servers {
        b.connect(&s, &format!("s{i}"), &["t"]).await;
    }
    assert_eq!(b.state.connected_servers(&s).await.unwrap().len(), servers);
    assert_eq!(
        b.state.clear_session(&s).await.unwrap(),
        servers as u64 * 3 + 1
    );
    b.assert_connected(&s, &[]).await;
    if kind.is_redis() {
        assert!(b.raw_keys("big").await.is_empty());
    }
}
