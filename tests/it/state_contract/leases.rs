//! Leases: held by one holder at a time, released only by their holder,
//! freed by expiry.

use std::time::Duration;

use super::{Backend, Kind, LONG_TTL};

const NAME: &str = "oauth-refresh:0123abcd";

pub(super) async fn a_lease_is_held_by_one_holder_at_a_time(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let state = &b.state;
    assert!(state.try_lease(NAME, "a", LONG_TTL).await.unwrap());
    assert!(!state.try_lease(NAME, "b", LONG_TTL).await.unwrap());
    assert!(
        !state.try_lease(NAME, "a", LONG_TTL).await.unwrap(),
        "not reentrant"
    );
    // Another name is another lease.
    assert!(state.try_lease("other", "b", LONG_TTL).await.unwrap());
}

pub(super) async fn only_its_holder_releases_a_lease(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let state = &b.state;
    assert!(state.try_lease(NAME, "a", LONG_TTL).await.unwrap());
    assert!(!state.release_lease(NAME, "b").await.unwrap());
    assert!(!state.try_lease(NAME, "b", LONG_TTL).await.unwrap());
    assert!(state.release_lease(NAME, "a").await.unwrap());
    assert!(!state.release_lease(NAME, "a").await.unwrap(), "once");
    assert!(state.try_lease(NAME, "b", LONG_TTL).await.unwrap());
    assert!(!state.release_lease("never-taken", "b").await.unwrap());
}

pub(super) async fn an_expired_lease_is_free_and_its_old_holder_cannot_release_it(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let ttl = Duration::from_millis(400);
    assert!(b.state.try_lease(NAME, "a", ttl).await.unwrap());
    if kind.is_redis() {
        let key = format!("{}lease:{NAME}", b.prefix);
        let raw = b.raw();
        let holder: String = ::redis::cmd("GET")
            .arg(&key)
            .query_async(raw)
            .await
            .unwrap();
        assert_eq!(holder, "a");
        let left: i64 = ::redis::cmd("PTTL")
            .arg(&key)
            .query_async(raw)
            .await
            .unwrap();
        assert!(left > 0 && left <= 400, "{key} has a TTL of {left} ms");
    }
    b.elapse(Duration::from_millis(900)).await;
    assert!(b.state.try_lease(NAME, "b", LONG_TTL).await.unwrap());
    assert!(!b.state.release_lease(NAME, "a").await.unwrap());
    assert!(
        !b.state.try_lease(NAME, "c", LONG_TTL).await.unwrap(),
        "b holds it"
    );
}

pub(super) async fn of_many_racing_holders_one_takes_a_lease(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let mut racers = Vec::new();
    for i in 0..8 {
        let state = if i % 2 == 0 {
            b.state.clone()
        } else {
            b.second_handle().await
        };
        racers.push(tokio::spawn(async move {
            state
                .try_lease(NAME, &format!("h{i}"), LONG_TTL)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.unwrap());
    }
    assert_eq!(won, 1);
}

pub(super) async fn bad_lease_requests_are_refused(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let state = &b.state;
    for name in ["", "a b", "a*", "{a}"] {
        assert!(
            state.try_lease(name, "a", LONG_TTL).await.is_err(),
            "{name:?}"
        );
        assert!(state.release_lease(name, "a").await.is_err(), "{name:?}");
    }
    assert!(state.try_lease(NAME, "", LONG_TTL).await.is_err());
    assert!(state.try_lease(NAME, "a", Duration::ZERO).await.is_err());
    // None of these took it.
    assert!(state.try_lease(NAME, "a", LONG_TTL).await.unwrap());
}
