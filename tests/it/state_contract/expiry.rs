//! Every key lives for the TTL after its last write, and no longer.

use std::time::Duration;

use manifold::session::ConnectionStatus;

use super::{Backend, Kind, sid};

pub(super) async fn state_expires_after_the_ttl(kind: Kind) {
    let ttl = Duration::from_secs(1);
    let mut b = Backend::open(kind, ttl).await;
    let s = sid("user-1");
    b.connect(&s, "github", &["search"]).await;
    b.fail(&s, "broken", "boom").await;
    b.state.set_disconnected(&s, "gone").await.unwrap();

    if kind.is_redis() {
        let keys = b.raw_keys("user-1").await;
        // github: 3 keys, the set, broken: 2 keys, gone: 1 key.
        assert_eq!(keys.len(), 7, "{keys:?}");
        let raw = b.raw();
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

    b.elapse(Duration::from_millis(2100)).await;
    for name in ["github", "broken", "gone"] {
        b.assert_disconnected(&s, name).await;
    }
    b.assert_connected(&s, &[]).await;
    assert!(b.state.disconnect_all(&s).await.unwrap().is_empty());
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 0);
    if kind.is_redis() {
        assert!(b.raw_keys("user-1").await.is_empty());
    }
}

pub(super) async fn each_write_refreshes_the_ttl_of_the_connections_set(kind: Kind) {
    let ttl = Duration::from_millis(1500);
    let mut b = Backend::open(kind, ttl).await;
    let s = sid("user-1");
    b.connect(&s, "first", &["t"]).await;
    b.elapse(Duration::from_millis(1000)).await;
    // A write on another server, 1 s later, keeps the set alive…
    b.connect(&s, "second", &["t"]).await;
    b.elapse(Duration::from_millis(1000)).await;
    // …past the lifetime of the first write's keys.
    b.assert_disconnected(&s, "first").await;
    b.assert_status(&s, "second", ConnectionStatus::Connected)
        .await;
    assert!(
        b.state
            .connected_servers(&s)
            .await
            .unwrap()
            .contains(&"second".to_owned())
    );
}
