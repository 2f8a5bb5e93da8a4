//! Readers racing writers never see half a write: a CONNECTED state always
//! comes with the tools and time of one and the same write.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use manifold::session::{ConnectionState, ConnectionStatus};
use serde_json::Value;

use super::{Backend, Kind, LONG_TTL, at, sid, tools};

/// The tools written in `round`: their name says the round, and so does the
/// `connected_at` written with them, so a reader can tell a torn write.
fn round_tools(round: i64) -> Vec<Value> {
    tools(&[&format!("r{round}"), "b", "c"])
}

fn round_at(round: i64) -> DateTime<Utc> {
    at() + chrono::Duration::seconds(round)
}

pub(super) async fn no_reader_ever_sees_connected_without_tools(kind: Kind) {
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
                    ConnectionStatus::Reconnecting => {
                        let at = state
                            .connected_at
                            .expect("RECONNECTING without connected_at");
                        let round = (at - self::at()).num_seconds();
                        assert_eq!(state.tools, round_tools(round), "tools of another write");
                        assert_eq!(state.error.as_deref(), Some("lost"));
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
        let base = b.session_base("racer");
        let keys: Vec<String> = ["status", "tools", "connected_at", "error"]
            .iter()
            .map(|field| format!("{base}:server:github:{field}"))
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
                    Some("RECONNECTING") => assert_eq!(present, [true, true, true, true]),
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
        if round % 2 == 0 {
            assert!(
                b.state
                    .set_reconnecting(&s, "github", "lost")
                    .await
                    .unwrap()
            );
        }
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
