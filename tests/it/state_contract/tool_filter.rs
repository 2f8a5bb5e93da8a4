//! A session's own tool filter (`{prefix}mcp:session:{sid}:tool_filter`):
//! stored per session with the TTL, refreshed by every read, removed by an
//! empty filter and by `clear_session`, and never mistaken for a server's
//! keys.
//!
//! The memory store has no raw keys to look at; there `clear_session`'s
//! count shows whether the key is there.

use std::time::Duration;

use manifold::catalog::tool_filter::ToolFilter;
use manifold::session::ConnectionStatus;

use super::{Backend, Kind, LONG_TTL, sid};

fn filter(allow: &[&str], deny: &[&str]) -> ToolFilter {
    let list = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
    ToolFilter::new(list(allow), list(deny)).unwrap()
}

impl Backend {
    /// The raw key of `session`'s tool filter.
    fn tool_filter_key(&self, session: &str) -> String {
        format!("{}:tool_filter", self.session_base(session))
    }

    /// Asserts the tool filter `session` reads.
    async fn assert_filter(&self, session: &str, expected: &ToolFilter) {
        assert_eq!(
            &self.state.tool_filter(&sid(session)).await.unwrap(),
            expected,
            "{session}"
        );
    }
}

pub(super) async fn a_session_without_a_filter_reads_the_empty_one(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = sid("alice");
    let read = b.state.tool_filter(&s).await.unwrap();
    assert!(read.is_empty(), "{read:?}");
    assert_eq!(read, ToolFilter::default());
    // Reading writes nothing.
    if kind.is_redis() {
        assert!(b.raw_keys("alice").await.is_empty());
    }
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 0);
}

pub(super) async fn a_stored_filter_reads_back_equal(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = sid("alice");
    let first = filter(&["get-*", "search"], &["get-secret"]);
    b.state.set_tool_filter(&s, &first).await.unwrap();
    b.assert_filter("alice", &first).await;
    // A read changes nothing.
    b.assert_filter("alice", &first).await;
    // Storing again replaces it whole.
    let second = filter(&[], &["delete_*"]);
    b.state.set_tool_filter(&s, &second).await.unwrap();
    b.assert_filter("alice", &second).await;
    if kind.is_redis() {
        let key = b.tool_filter_key("alice");
        assert_eq!(b.raw_keys("alice").await, std::slice::from_ref(&key));
        let raw: String = ::redis::cmd("GET")
            .arg(&key)
            .query_async(b.raw())
            .await
            .unwrap();
        let stored: ToolFilter = serde_json::from_str(&raw).unwrap();
        assert_eq!(stored, second, "{raw}");
    }
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 1);
}

pub(super) async fn an_empty_filter_removes_the_key(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = sid("alice");
    b.state
        .set_tool_filter(&s, &filter(&["a"], &[]))
        .await
        .unwrap();
    b.state
        .set_tool_filter(&s, &ToolFilter::default())
        .await
        .unwrap();
    b.assert_filter("alice", &ToolFilter::default()).await;
    if kind.is_redis() {
        assert!(b.raw_keys("alice").await.is_empty());
    }
    // Nothing left for clear_session to count, on every backend.
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 0);
    // Removing a filter that is not there is fine.
    b.state
        .set_tool_filter(&s, &ToolFilter::default())
        .await
        .unwrap();
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 0);
}

pub(super) async fn sessions_do_not_see_each_others_filters(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    // Ids that extend each other share a SCAN pattern, and `a:tool_filter`
    // is `a`'s filter key with the prefix stripped.
    let ids = ["a", "a:b", "a:tool_filter", "a:server:tool_filter", "bob"];
    let own = |id: &str| filter(&[format!("{id}-*").as_str()], &[]);
    for id in &ids[..4] {
        b.state.set_tool_filter(&sid(id), &own(id)).await.unwrap();
    }
    for id in &ids[..4] {
        b.assert_filter(id, &own(id)).await;
    }
    b.assert_filter("bob", &ToolFilter::default()).await;
    // Removing one session's filter leaves the others'.
    b.state
        .set_tool_filter(&sid("a"), &ToolFilter::default())
        .await
        .unwrap();
    b.assert_filter("a", &ToolFilter::default()).await;
    for id in &ids[1..4] {
        b.assert_filter(id, &own(id)).await;
    }
    // So does clearing one, whose SCAN pattern `a:*` matches them all.
    b.state.set_tool_filter(&sid("a"), &own("a")).await.unwrap();
    assert_eq!(b.state.clear_session(&sid("a")).await.unwrap(), 1);
    assert_eq!(b.state.clear_session(&sid("a:b")).await.unwrap(), 1);
    b.assert_filter("a", &ToolFilter::default()).await;
    b.assert_filter("a:b", &ToolFilter::default()).await;
    for id in &ids[2..4] {
        b.assert_filter(id, &own(id)).await;
    }
    // No filter reads as the keys of a server named `tool_filter`.
    assert!(
        b.state
            .forget_server("tool_filter")
            .await
            .unwrap()
            .is_empty()
    );
    for id in &ids[2..4] {
        b.assert_filter(id, &own(id)).await;
    }
}

pub(super) async fn a_filter_and_a_server_named_tool_filter_live_apart(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("alice");
    let mine = filter(&["search"], &[]);
    b.state.set_tool_filter(&s, &mine).await.unwrap();
    // The filter is no server: nothing is connected, nothing to disconnect,
    // nothing of it for `forget_server` to find.
    b.assert_connected(&s, &[]).await;
    b.assert_disconnected(&s, "tool_filter").await;
    assert!(b.state.disconnect_all(&s).await.unwrap().is_empty());
    assert!(
        b.state
            .forget_server("tool_filter")
            .await
            .unwrap()
            .is_empty()
    );
    b.assert_filter("alice", &mine).await;

    // A server may be called `tool_filter`; its state and the filter stay
    // apart through every transition.
    b.connect(&s, "tool_filter", &["t"]).await;
    b.assert_status(&s, "tool_filter", ConnectionStatus::Connected)
        .await;
    b.assert_connected(&s, &["tool_filter"]).await;
    b.assert_filter("alice", &mine).await;
    assert_eq!(b.state.disconnect_all(&s).await.unwrap(), ["tool_filter"]);
    b.assert_filter("alice", &mine).await;
    b.connect(&s, "tool_filter", &["t"]).await;
    assert_eq!(
        b.state.forget_server("tool_filter").await.unwrap(),
        std::slice::from_ref(&s)
    );
    b.assert_disconnected(&s, "tool_filter").await;
    b.assert_filter("alice", &mine).await;
    // Removing the filter leaves the server alone.
    b.connect(&s, "tool_filter", &["t"]).await;
    b.state
        .set_tool_filter(&s, &ToolFilter::default())
        .await
        .unwrap();
    b.assert_status(&s, "tool_filter", ConnectionStatus::Connected)
        .await;
    b.assert_connected(&s, &["tool_filter"]).await;
}

pub(super) async fn clear_session_removes_the_filter(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = sid("alice");
    b.connect(&s, "github", &["search"]).await;
    b.state
        .set_tool_filter(&s, &filter(&[], &["search"]))
        .await
        .unwrap();
    if kind.is_redis() {
        let keys = b.raw_keys("alice").await;
        assert!(keys.contains(&b.tool_filter_key("alice")), "{keys:?}");
    }
    // github: status, tools, connected_at; the set; the filter.
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 5);
    b.assert_filter("alice", &ToolFilter::default()).await;
    b.assert_disconnected(&s, "github").await;
    if kind.is_redis() {
        assert!(b.raw_keys("alice").await.is_empty());
    }
}

pub(super) async fn garbage_under_the_filter_key_reads_as_the_empty_filter(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    if kind == Kind::Memory {
        return; // only the store writes the memory store: it holds no garbage
    }
    let s = sid("alice");
    let key = b.tool_filter_key("alice");
    let garbage: [&[u8]; 5] = [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        br#"{"allow":"get-*"}"#,
        br#"{"allow":[],"deny":[],"extra":1}"#,
    ];
    for value in garbage {
        let _: () = ::redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .query_async(b.raw())
            .await
            .unwrap();
        b.assert_filter("alice", &ToolFilter::default()).await;
    }
    // A filter stored afterwards replaces the garbage.
    let good = filter(&["a"], &[]);
    b.state.set_tool_filter(&s, &good).await.unwrap();
    b.assert_filter("alice", &good).await;
}

pub(super) async fn a_filter_expires_unless_it_is_read(kind: Kind) {
    let ttl = Duration::from_millis(1500);
    let mut b = Backend::open(kind, ttl).await;
    let (used, idle) = (sid("used"), sid("idle"));
    let mine = filter(&["t"], &[]);
    b.state.set_tool_filter(&used, &mine).await.unwrap();
    b.state.set_tool_filter(&idle, &mine).await.unwrap();
    if kind.is_redis() {
        let key = b.tool_filter_key("used");
        let left: i64 = ::redis::cmd("PTTL")
            .arg(&key)
            .query_async(b.raw())
            .await
            .unwrap();
        assert!(left > 0 && left <= 1500, "{key} has a TTL of {left} ms");
    }
    for _ in 0..3 {
        b.elapse(Duration::from_millis(700)).await;
        // Each read refreshes the TTL of the filter in use.
        b.assert_filter("used", &mine).await;
    }
    if kind.is_redis() {
        let key = b.tool_filter_key("used");
        let left: i64 = ::redis::cmd("PTTL")
            .arg(&key)
            .query_async(b.raw())
            .await
            .unwrap();
        assert!(left > 1000 && left <= 1500, "a read left {left} ms");
    }
    b.assert_filter("idle", &ToolFilter::default()).await;
    b.elapse(Duration::from_millis(1700)).await;
    b.assert_filter("used", &ToolFilter::default()).await;
    if kind.is_redis() {
        assert!(b.raw_keys("used").await.is_empty());
        assert!(b.raw_keys("idle").await.is_empty());
    }
    assert_eq!(b.state.clear_session(&used).await.unwrap(), 0);
}
