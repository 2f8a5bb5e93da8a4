//! MCP session bindings (`{prefix}mcp:binding:{id}`): who opened an MCP
//! session, on which route, and its handshake, shared by every replica.

use std::time::Duration;

use manifold::session::McpBinding;
use serde_json::json;

use super::{Backend, Kind, LONG_TTL};

fn binding(user: &str) -> McpBinding {
    McpBinding {
        user: user.to_owned(),
        route: String::new(),
        initialize: serde_json::value::to_raw_value(&json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "c", "version": "1"}
        }))
        .unwrap(),
    }
}

pub(super) async fn a_binding_reads_back_until_it_is_forgotten(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let id = "0b6e1f9e-7c1d-4bb4-8e7f-1a2b3c4d5e6f";
    assert_eq!(b.state.mcp_session(id).await.unwrap(), None);
    b.state
        .bind_mcp_session(id, &binding("alice"))
        .await
        .unwrap();
    assert_eq!(
        b.state.mcp_session(id).await.unwrap(),
        Some(binding("alice"))
    );
    // Another id is another session.
    assert_eq!(b.state.mcp_session("other").await.unwrap(), None);
    // Binding again replaces the record.
    let mut moved = binding("alice");
    moved.route = "github".into();
    b.state.bind_mcp_session(id, &moved).await.unwrap();
    assert_eq!(b.state.mcp_session(id).await.unwrap(), Some(moved));
    assert!(b.state.forget_mcp_session(id).await.unwrap());
    assert_eq!(b.state.mcp_session(id).await.unwrap(), None);
    assert!(!b.state.forget_mcp_session(id).await.unwrap());
}

pub(super) async fn bindings_are_apart_from_connection_state(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = super::sid("alice");
    b.connect(&s, "github", &["search"]).await;
    b.state
        .bind_mcp_session("m1", &binding("alice"))
        .await
        .unwrap();
    // Clearing the connection state of a session leaves MCP sessions alone.
    b.state.clear_session(&s).await.unwrap();
    assert!(b.state.mcp_session("m1").await.unwrap().is_some());
    if kind.is_redis() {
        let key = format!("{}mcp:binding:m1", b.prefix);
        let raw: String = ::redis::cmd("GET")
            .arg(&key)
            .query_async(b.raw())
            .await
            .unwrap();
        let stored: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(stored["user"], "alice", "{raw}");
        assert_eq!(stored["initialize"]["protocolVersion"], "2025-11-25");
    }
}

pub(super) async fn invalid_mcp_session_ids_are_refused(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    for bad in ["", "a b", "a*", "{x}", &"x".repeat(201)] {
        let err = b.state.mcp_session(bad).await.unwrap_err();
        assert_eq!(err.code(), "invalid_mcp_session_id", "{bad:?}");
        let err = b
            .state
            .bind_mcp_session(bad, &binding("a"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_mcp_session_id", "{bad:?}");
    }
}

pub(super) async fn garbage_in_a_binding_reads_as_no_session(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    if kind == Kind::Memory {
        return; // only this file writes the memory store: it holds no garbage
    }
    let key = format!("{}mcp:binding:junk", b.prefix);
    let _: () = ::redis::cmd("SET")
        .arg(&key)
        .arg("{not json")
        .query_async(b.raw())
        .await
        .unwrap();
    assert_eq!(b.state.mcp_session("junk").await.unwrap(), None);
}

pub(super) async fn a_binding_expires_unless_it_is_used(kind: Kind) {
    let mut b = Backend::open(kind, Duration::from_millis(1500)).await;
    b.state
        .bind_mcp_session("used", &binding("a"))
        .await
        .unwrap();
    b.state
        .bind_mcp_session("idle", &binding("a"))
        .await
        .unwrap();
    for _ in 0..3 {
        b.elapse(Duration::from_millis(700)).await;
        // Each read refreshes the TTL of the session in use.
        assert!(b.state.mcp_session("used").await.unwrap().is_some());
    }
    assert_eq!(b.state.mcp_session("idle").await.unwrap(), None);
    b.elapse(Duration::from_millis(1700)).await;
    assert_eq!(b.state.mcp_session("used").await.unwrap(), None);
}

pub(super) async fn an_oauth_flow_is_taken_once_and_expires(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let id = "a".repeat(64);
    b.state
        .put_oauth_flow(&id, "sealed-record", Duration::from_secs(60))
        .await
        .unwrap();
    // A second replica's handle sees it; taking it deletes it, so a
    // replayed callback finds nothing.
    let other = b.second_handle().await;
    assert_eq!(
        other.take_oauth_flow(&id).await.unwrap().as_deref(),
        Some("sealed-record")
    );
    assert_eq!(b.state.take_oauth_flow(&id).await.unwrap(), None);
    // Its own TTL, independent of the state TTL.
    let short = "b".repeat(64);
    b.state
        .put_oauth_flow(&short, "x", Duration::from_millis(200))
        .await
        .unwrap();
    b.elapse(Duration::from_millis(400)).await;
    assert_eq!(b.state.take_oauth_flow(&short).await.unwrap(), None);
    // Flow ids are hashes: anything else is refused before reaching a key.
    assert!(b.state.take_oauth_flow("not-a-hash").await.is_err());
    assert!(b.state.take_oauth_flow(&"g".repeat(64)).await.is_err());
}
