//! What only a Redis Cluster can show: a session's keys carry its id as hash
//! tag (one slot per session), sessions spread over every master and the
//! SCAN-based clean-ups still reach them all, start-up errors, and change
//! events crossing between two processes over the cluster's pub/sub.

use std::time::Duration;

use ::redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
use ::redis::{Value, from_redis_value};
use manifold::config::StateBackend;
use manifold::session::bus::SessionNotifier;
use manifold::session::fanout;
use tokio_util::sync::CancellationToken;

use super::{Backend, Kind, LONG_TTL, Raw, at, sid, tools};
use crate::support;

/// The cluster connection under `b`.
fn cluster(b: &mut Backend) -> &mut ::redis::cluster_async::ClusterConnection {
    match b.raw() {
        Raw::Cluster(conn) => conn,
        Raw::Single(_) => panic!("not a cluster backend"),
    }
}

async fn keyslot(b: &mut Backend, key: &str) -> i64 {
    ::redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(b.raw())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_sessions_keys_carry_its_id_as_hash_tag_and_share_one_slot() {
    let mut b = Backend::open(Kind::Cluster, LONG_TTL).await;
    let s = sid("user-1");
    b.state
        .set_connected(&s, "github", &tools(&["search"]), at())
        .await
        .unwrap();
    b.fail(&s, "jira", "refused").await;
    b.state
        .bind_mcp_session(
            "m1",
            &serde_json::from_value(serde_json::json!({
                "user": "user-1", "route": "", "initialize": {}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let base = format!("{}mcp:session:{{user-1}}", b.prefix);
    let keys = b.raw_keys("user-1").await;
    assert_eq!(
        keys,
        [
            format!("{base}:connections"),
            format!("{base}:server:github:connected_at"),
            format!("{base}:server:github:status"),
            format!("{base}:server:github:tools"),
            format!("{base}:server:jira:error"),
            format!("{base}:server:jira:status"),
        ]
    );
    let slot = keyslot(&mut b, "user-1").await;
    for key in &keys {
        assert_eq!(keyslot(&mut b, key).await, slot, "{key}");
    }
    let status: String = ::redis::cmd("GET")
        .arg(format!("{base}:server:github:status"))
        .query_async(b.raw())
        .await
        .unwrap();
    assert_eq!(status, "CONNECTED");
    // Single keys keep their plain names.
    let binding = format!("{}mcp:binding:m1", b.prefix);
    assert_eq!(b.raw().keys(&binding).await, [binding]);
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 6);
}

/// `pattern`'s keys per master, by address.
async fn keys_per_master(b: &mut Backend, pattern: &str) -> Vec<(String, Vec<String>)> {
    let all = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    let answer = cluster(b)
        .route_command(::redis::cmd("KEYS").arg(pattern).clone(), all)
        .await
        .unwrap();
    let Value::Map(per_node) = answer else {
        panic!("not a map of nodes: {answer:?}")
    };
    per_node
        .into_iter()
        .map(|(node, keys)| {
            (
                from_redis_value(node).unwrap(),
                from_redis_value(keys).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sessions_spread_over_every_master_and_the_scans_reach_them_all() {
    let mut b = Backend::open(Kind::Cluster, LONG_TTL).await;
    let sessions: Vec<_> = (0..60).map(|i| sid(&format!("spread-{i:02}"))).collect();
    for s in &sessions {
        b.connect(s, "x", &["t"]).await;
        b.connect(s, "y", &["t"]).await;
    }
    let pattern = format!("{}*", b.prefix);
    let spread = keys_per_master(&mut b, &pattern).await;
    assert_eq!(spread.len(), 3, "three masters: {spread:?}");
    for (node, keys) in &spread {
        assert!(!keys.is_empty(), "master {node} holds none of the sessions");
    }

    assert_eq!(b.state.forget_server("x").await.unwrap(), sessions);
    let mut cleared = 0;
    for s in &sessions {
        b.assert_connected(s, &["y"]).await;
        cleared += b.state.clear_session(s).await.unwrap();
    }
    // Per session: y's status, tools and connected_at, and the set.
    assert_eq!(cleared, 4 * 60);
    assert!(b.raw().keys(&pattern).await.is_empty());
}

#[tokio::test]
async fn stored_garbage_reads_as_disconnected_and_never_panics() {
    super::redis_only::stored_garbage_reads_as_disconnected(Kind::Cluster).await;
}

#[tokio::test]
async fn start_up_fails_with_a_clear_message_when_the_cluster_is_unreachable() {
    let node = format!(
        "redis://user:hunter2@127.0.0.1:{}",
        support::redis::free_port()
    );
    let err = manifold::session::redis::connect_cluster(&[&node], "t:".into(), LONG_TTL)
        .await
        .err()
        .expect("connecting to a closed port fails");
    let message = format!("{err:#}");
    assert!(
        message
            .contains("cannot reach the Redis Cluster state store at redis://user:***@127.0.0.1:"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_events_cross_between_two_processes_over_the_cluster() {
    let nodes = support::redis::cluster_nodes();
    let backend = StateBackend::Cluster(nodes.iter().map(String::as_str).collect());
    let prefix = format!("{}:", support::unique("t:"));
    let stop = CancellationToken::new();
    let (a, b) = (SessionNotifier::new(), SessionNotifier::new());
    for notifier in [&a, &b] {
        let sender = fanout::start(&backend, &prefix, notifier.clone(), stop.child_token())
            .expect("the cluster fanout starts")
            .expect("a sender for the cluster");
        notifier.set_fanout(sender);
    }
    let mut heard = b.subscribe();
    let s = sid("alice");
    // B subscribes in the background: publish until it hears one.
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            a.publish(&s);
            match tokio::time::timeout(Duration::from_millis(200), heard.recv()).await {
                Ok(Ok(event)) => return event,
                Ok(Err(err)) => panic!("B's channel failed: {err}"),
                Err(_) => continue,
            }
        }
    })
    .await
    .expect("B heard A's event within 10 s");
    assert_eq!(got.session, s);
    stop.cancel();
}
