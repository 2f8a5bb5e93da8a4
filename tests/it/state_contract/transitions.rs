//! The states of one server in one session: connect, fail, disconnect, and
//! what each leaves to read.

use manifold::session::{ConnectionState, ConnectionStatus};

use super::{Backend, Kind, LONG_TTL, at, sid, tools};

pub(super) async fn fresh_state_is_disconnected_with_no_tools(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.assert_disconnected(&s, "github").await;
    b.assert_status(&s, "github", ConnectionStatus::Disconnected)
        .await;
    assert!(b.state.tools(&s, "github").await.unwrap().is_empty());
    b.assert_connected(&s, &[]).await;
    assert!(b.state.disconnect_all(&s).await.unwrap().is_empty());
    assert_eq!(b.state.clear_session(&s).await.unwrap(), 0);
}

pub(super) async fn connecting_stores_status_tools_connected_at_and_the_set(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.connect(&s, "github", &["search", "fetch"]).await;

    let list = tools(&["search", "fetch"]);
    let state = b.state.get(&s, "github").await.unwrap();
    assert_eq!(
        state,
        ConnectionState {
            status: ConnectionStatus::Connected,
            tools: list.clone(),
            connected_at: Some(at()),
            error: None,
        }
    );
    b.assert_status(&s, "github", ConnectionStatus::Connected)
        .await;
    assert_eq!(b.state.tools(&s, "github").await.unwrap(), list);
    b.assert_connected(&s, &["github"]).await;
    // Another server of the session is untouched.
    b.assert_disconnected(&s, "gitlab").await;

    // Connecting again replaces the tools and the time.
    let later = at() + chrono::Duration::seconds(5);
    b.state
        .set_connected(&s, "github", &tools(&["only"]), later)
        .await
        .unwrap();
    let state = b.state.get(&s, "github").await.unwrap();
    assert_eq!(state.tools, tools(&["only"]));
    assert_eq!(state.connected_at, Some(later));
    b.assert_connected(&s, &["github"]).await;
}

pub(super) async fn connected_servers_are_sorted(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    for name in ["zeta", "alpha", "mid-1", "mid_0", "0day"] {
        b.connect(&s, name, &["t"]).await;
    }
    b.assert_connected(&s, &["0day", "alpha", "mid-1", "mid_0", "zeta"])
        .await;
}

pub(super) async fn a_failed_connect_stores_the_error_and_leaves_the_set(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.connect(&s, "github", &["search"]).await;
    b.connect(&s, "jira", &["issue"]).await;
    b.fail(&s, "github", "connection refused").await;

    assert_eq!(
        b.state.get(&s, "github").await.unwrap(),
        ConnectionState {
            status: ConnectionStatus::Failed,
            tools: Vec::new(),
            connected_at: None,
            error: Some("connection refused".into()),
        }
    );
    b.assert_status(&s, "github", ConnectionStatus::Failed)
        .await;
    assert!(b.state.tools(&s, "github").await.unwrap().is_empty());
    b.assert_connected(&s, &["jira"]).await;

    // Failing a server never connected works too.
    b.fail(&s, "new", "timeout").await;
    assert_eq!(
        b.state.get(&s, "new").await.unwrap().error.as_deref(),
        Some("timeout")
    );
    b.assert_connected(&s, &["jira"]).await;
}

pub(super) async fn reconnecting_after_a_failure_clears_the_error(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.fail(&s, "github", "boom").await;
    b.connect(&s, "github", &["search"]).await;
    let state = b.state.get(&s, "github").await.unwrap();
    assert_eq!(state.status, ConnectionStatus::Connected);
    assert_eq!(state.error, None);
    b.assert_connected(&s, &["github"]).await;
}

pub(super) async fn a_broken_link_keeps_tools_and_membership_while_reconnecting(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    // Only a connected (or already reconnecting) server can be reconnecting.
    assert!(
        !b.state
            .set_reconnecting(&s, "github", "gone")
            .await
            .unwrap()
    );
    b.assert_disconnected(&s, "github").await;
    b.fail(&s, "github", "boom").await;
    assert!(
        !b.state
            .set_reconnecting(&s, "github", "gone")
            .await
            .unwrap()
    );
    b.assert_status(&s, "github", ConnectionStatus::Failed)
        .await;

    b.connect(&s, "github", &["search"]).await;
    assert!(
        b.state
            .set_reconnecting(&s, "github", "gone")
            .await
            .unwrap()
    );
    let state = b.state.get(&s, "github").await.unwrap();
    assert_eq!(
        state,
        ConnectionState {
            status: ConnectionStatus::Reconnecting,
            tools: tools(&["search"]),
            connected_at: Some(at()),
            error: Some("gone".into()),
        }
    );
    b.assert_connected(&s, &["github"]).await;
    // A later failed attempt replaces the error.
    assert!(
        b.state
            .set_reconnecting(&s, "github", "refused")
            .await
            .unwrap()
    );
    let state = b.state.get(&s, "github").await.unwrap();
    assert_eq!(state.error.as_deref(), Some("refused"));
    // Back: connected, no error.
    b.connect(&s, "github", &["search", "fetch"]).await;
    let state = b.state.get(&s, "github").await.unwrap();
    assert_eq!(state.status, ConnectionStatus::Connected);
    assert_eq!(state.error, None);
    // A disconnect while reconnecting wins over a late attempt.
    assert!(
        b.state
            .set_reconnecting(&s, "github", "gone")
            .await
            .unwrap()
    );
    b.state.set_disconnected(&s, "github").await.unwrap();
    assert!(
        !b.state
            .set_reconnecting(&s, "github", "late")
            .await
            .unwrap()
    );
    b.assert_disconnected(&s, "github").await;
    b.assert_connected(&s, &[]).await;
}

pub(super) async fn disconnecting_removes_tools_error_and_set_membership(kind: Kind) {
    let mut b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.connect(&s, "github", &["search"]).await;
    b.state.set_disconnected(&s, "github").await.unwrap();
    b.assert_disconnected(&s, "github").await;
    b.assert_connected(&s, &[]).await;

    b.fail(&s, "jira", "boom").await;
    b.state.set_disconnected(&s, "jira").await.unwrap();
    b.assert_disconnected(&s, "jira").await;

    // Disconnecting a server never seen is fine.
    b.state.set_disconnected(&s, "never").await.unwrap();
    b.assert_status(&s, "never", ConnectionStatus::Disconnected)
        .await;

    if kind.is_redis() {
        // Only the three DISCONNECTED status keys are left; the set is gone.
        let base = b.session_base("user-1");
        assert_eq!(
            b.raw_keys("user-1").await,
            [
                format!("{base}:server:github:status"),
                format!("{base}:server:jira:status"),
                format!("{base}:server:never:status"),
            ]
        );
    }
}

pub(super) async fn disconnect_all_disconnects_every_connected_server(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.connect(&s, "zeta", &["t"]).await;
    b.connect(&s, "alpha", &["t"]).await;
    b.fail(&s, "broken", "boom").await;

    assert_eq!(b.state.disconnect_all(&s).await.unwrap(), ["alpha", "zeta"]);
    for name in ["alpha", "zeta"] {
        b.assert_disconnected(&s, name).await;
    }
    // Only connected servers are touched.
    b.assert_status(&s, "broken", ConnectionStatus::Failed)
        .await;
    b.assert_connected(&s, &[]).await;
    assert!(b.state.disconnect_all(&s).await.unwrap().is_empty());
}

pub(super) async fn invalid_server_names_are_refused(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    for bad in ["", "a:b", "a b", "a*"] {
        let err = b
            .state
            .set_connected(&s, bad, &tools(&["t"]), at())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_server_name", "{bad:?}");
        let err = b.state.get(&s, bad).await.unwrap_err();
        assert_eq!(err.code(), "invalid_server_name", "{bad:?}");
    }
    b.assert_connected(&s, &[]).await;
}

pub(super) async fn health_is_ok(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    b.state.health().await.unwrap();
}

pub(super) async fn get_many_reads_several_servers_in_order(kind: Kind) {
    let b = Backend::open(kind, LONG_TTL).await;
    let s = sid("user-1");
    b.connect(&s, "github", &["search"]).await;
    b.state.set_failed(&s, "slack", "refused").await.unwrap();
    let many = b
        .state
        .get_many(&s, &["slack", "nothing", "github"])
        .await
        .unwrap();
    let one_by_one = vec![
        b.state.get(&s, "slack").await.unwrap(),
        b.state.get(&s, "nothing").await.unwrap(),
        b.state.get(&s, "github").await.unwrap(),
    ];
    assert_eq!(many, one_by_one);
    assert_eq!(many[0].status, ConnectionStatus::Failed);
    assert_eq!(many[1], ConnectionState::disconnected());
    assert_eq!(many[2].tools, tools(&["search"]));
    assert!(b.state.get_many(&s, &[]).await.unwrap().is_empty());
}
