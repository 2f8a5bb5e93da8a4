//! A deleted, renamed or re-pointed server does not live on in sessions:
//! its state is forgotten and its links closed, on every replica, so a new
//! server given the same name starts out disconnected and reaches its own
//! upstream, and a changed URL is used from the next call on.

use std::future::Future;
use std::time::Duration;

use manifold::ids::SessionId;
use manifold::session::ConnectionStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app};
use crate::support::mcp::{Client, call, mcp_client, text_of, tool_names};
use crate::support::rest::{add_fixture, add_public, connect};
use crate::support::upstreams::FixtureHttp;

/// How long the clean-up after a catalog change may take before a test
/// reports it as never happening.
const SETTLE: Duration = Duration::from_secs(15);

/// Waits until `check` holds; panics naming `what` if it never does.
async fn settle<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The state-store session of the holder of `key`.
async fn session_of(app: &TestApp, key: &str) -> SessionId {
    app.state
        .api_keys()
        .authenticate(key)
        .await
        .expect("a valid key")
        .session
}

/// `GET /api/v1/session/servers` as `key`: the entry of `name`, if listed.
async fn listed(app: &TestApp, key: &str, name: &str) -> Option<Value> {
    let (status, body) = app.get("/api/v1/session/servers", key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
}

/// Waits until the state of `server` in the session of `key` is gone.
async fn forgotten(app: &TestApp, key: &str, server: &str) {
    let session = session_of(app, key).await;
    let store = app.state.state_store().clone();
    settle(&format!("{server} forgotten in {session}"), || {
        let (store, session) = (store.clone(), session.clone());
        async move {
            let connected = store.connected_servers(&session).await.expect("read");
            let status = store.status(&session, server).await.expect("read");
            !connected.iter().any(|n| n == server) && status == ConnectionStatus::Disconnected
        }
    })
    .await;
}

/// A public streamable-HTTP server `name` at `url`.
async fn add_http(app: &TestApp, name: &str, url: &str) {
    add_public(
        app,
        json!({"name": name, "transport": "streamable_http", "url": url}),
    )
    .await;
}

/// The `host` header `whoami` saw, through `/mcp` as the client's user.
async fn whoami_host(client: &Client) -> String {
    let result = client
        .call_tool(call("x__whoami", json!({})))
        .await
        .expect("whoami answers");
    let seen: Value = serde_json::from_str(&text_of(&result)).expect("whoami answers JSON");
    seen["host"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_server_deleted_and_created_again_under_its_name_starts_disconnected_on_its_new_upstream()
{
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    add_fixture(&app, "x").await; // stdio, 7 tools
    connect(&app, "x", &alice).await;
    assert_eq!(listed(&app, &alice, "x").await.expect("x")["tool_count"], 7);
    assert_eq!(app.state.sessions().pool().live(), (1, 1));

    let (status, body) = app.delete("/api/v1/servers/x", &app.admin_key).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let upstream = FixtureHttp::start_with_env(&[("FIXTURE_TOOL_COUNT", "1")]);
    add_http(&app, "x", &upstream.url()).await;
    forgotten(&app, &alice, "x").await;
    // The old stdio child is gone with its link.
    assert_eq!(app.state.sessions().pool().live(), (0, 0));

    let x = listed(&app, &alice, "x").await.expect("the new x");
    assert_eq!(x["status"], "DISCONNECTED", "{x}");
    assert_eq!(x["tool_count"], 0, "{x}");
    let client = mcp_client(&app, "/mcp", &alice).await;
    let names = tool_names(&client).await;
    assert!(!names.iter().any(|n| n.starts_with("x__")), "{names:?}");

    connect(&app, "x", &alice).await;
    let x = listed(&app, &alice, "x").await.expect("the new x");
    assert_eq!(x["status"], "CONNECTED", "{x}");
    assert_eq!(x["tool_count"], 8, "{x}");
    let names = tool_names(&client).await;
    assert!(names.contains(&"x__t0".to_owned()), "{names:?}");
    let host = whoami_host(&client).await;
    assert!(host.ends_with(&format!(":{}", upstream.port())), "{host}");
    client.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_public_server_removes_it_from_every_session_and_nothing_else() {
    let app = spawn_app().await;
    let (alice, bob) = (app.user_key("alice").await, app.user_key("bob").await);
    add_fixture(&app, "x").await;
    add_fixture(&app, "y").await;
    for key in [&alice, &bob] {
        connect(&app, "x", key).await;
        connect(&app, "y", key).await;
    }
    assert_eq!(app.state.sessions().pool().live(), (4, 4));

    let (status, body) = app.delete("/api/v1/servers/x", &app.admin_key).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for key in [&alice, &bob] {
        forgotten(&app, key, "x").await;
    }
    assert_eq!(app.state.sessions().pool().live(), (2, 2));
    for key in [&alice, &bob] {
        assert!(listed(&app, key, "x").await.is_none());
        let y = listed(&app, key, "y").await.expect("y");
        assert_eq!(y["status"], "CONNECTED", "{y}");
        assert_eq!(y["tool_count"], 7, "{y}");
        let session = session_of(&app, key).await;
        let connected = app.state.state_store().connected_servers(&session).await;
        assert_eq!(connected.expect("read"), ["y"]);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_renamed_server_leaves_no_state_under_its_old_name() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    add_fixture(&app, "x").await;
    connect(&app, "x", &alice).await;

    let patch = json!({"name": "z"});
    let (status, body) = app.patch("/api/v1/servers/x", &app.admin_key, patch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    forgotten(&app, &alice, "x").await;
    assert_eq!(app.state.sessions().pool().live(), (0, 0));
    let z = listed(&app, &alice, "z").await.expect("z");
    assert_eq!(z["status"], "DISCONNECTED", "{z}");

    // A new server taking the old name does not inherit anything either.
    add_fixture(&app, "x").await;
    let x = listed(&app, &alice, "x").await.expect("the new x");
    assert_eq!(x["status"], "DISCONNECTED", "{x}");
    app.stop().await;
}

#[tokio::test]
async fn disabling_a_server_closes_its_links_and_they_are_not_reopened() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    add_fixture(&app, "x").await;
    connect(&app, "x", &alice).await;
    assert_eq!(app.state.sessions().pool().live(), (1, 1));

    let patch = json!({"enabled": false});
    let (status, body) = app.patch("/api/v1/servers/x", &app.admin_key, patch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pool = app.state.sessions().pool().clone();
    settle("x's link closed", || {
        let pool = pool.clone();
        async move { pool.live() == (0, 0) }
    })
    .await;
    let principal = app
        .state
        .api_keys()
        .authenticate(&alice)
        .await
        .expect("alice");
    let err = app
        .state
        .sessions()
        .link(&principal, "x")
        .await
        .expect_err("a disabled server is not reopened");
    assert_eq!(err.code(), "server_disabled");
    assert_eq!(pool.live(), (0, 0));
    app.stop().await;
}

#[tokio::test]
async fn a_new_url_is_used_from_the_next_call_and_a_new_title_closes_nothing() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let (first, second) = (FixtureHttp::start(), FixtureHttp::start());
    add_http(&app, "x", &first.url()).await;
    connect(&app, "x", &alice).await;
    let session = session_of(&app, &alice).await;
    let name = manifold::catalog::ServerName::parse("x").expect("a name");
    let client = mcp_client(&app, "/mcp", &alice).await;
    let host = whoami_host(&client).await;
    assert!(host.ends_with(&format!(":{}", first.port())), "{host}");
    let pool = app.state.sessions().pool().clone();
    let link = pool.existing(&session, &name).expect("a live link");

    // A title change while a call runs: the call finishes on the same link.
    let slow = {
        let peer = client.peer().clone();
        tokio::spawn(async move { peer.call_tool(call("x__slow", json!({"seconds": 2}))).await })
    };
    settle("the slow call in flight", || {
        let link = link.clone();
        async move { link.relay().in_flight() > 0 }
    })
    .await;
    let patch = json!({"title": "Renamed title"});
    let (status, body) = app.patch("/api/v1/servers/x", &app.admin_key, patch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = slow.await.expect("joined").expect("the call survives");
    assert_eq!(text_of(&result), "slept 2 s");
    let still = pool.existing(&session, &name).expect("still a live link");
    assert!(std::sync::Arc::ptr_eq(&link, &still));

    // A URL change while a call runs: that call ends with `upstream_closed`,
    // the next one reaches the new upstream.
    let stuck = {
        let peer = client.peer().clone();
        tokio::spawn(async move {
            peer.call_tool(call("x__slow", json!({"seconds": 600})))
                .await
        })
    };
    settle("the long call in flight", || {
        let link = link.clone();
        async move { link.relay().in_flight() > 0 }
    })
    .await;
    let patch = json!({"url": second.url()});
    let (status, body) = app.patch("/api/v1/servers/x", &app.admin_key, patch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let err = tokio::time::timeout(SETTLE, stuck)
        .await
        .expect("the call in flight ends when its link closes")
        .expect("joined")
        .expect_err("the call fails");
    assert!(format!("{err:?}").contains("upstream_closed"), "{err:?}");
    let x = listed(&app, &alice, "x").await.expect("x");
    assert_eq!(x["status"], "CONNECTED", "{x}");
    let host = whoami_host(&client).await;
    assert!(host.ends_with(&format!(":{}", second.port())), "{host}");
    client.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn a_delete_on_one_replica_closes_the_other_replicas_links() {
    let replicas = crate::support::app::replicas_with("forget", |_| {}).await;
    let (a, b) = (replicas.a, replicas.b);
    add_fixture(&a, "x").await;
    let alice = a.user_key("alice").await;
    connect(&a, "x", &alice).await;
    // B opens its own link for the session on first use.
    let client = mcp_client(&b, "/mcp", &alice).await;
    let result = client
        .call_tool(call("x__echo", json!({"text": "on b"})))
        .await
        .expect("echo answers");
    assert_eq!(text_of(&result), "on b");
    assert_eq!(b.state.sessions().pool().live(), (1, 1));

    let (status, body) = a.delete("/api/v1/servers/x", &a.admin_key).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let pool = b.state.sessions().pool().clone();
    settle("B's link to x closed", || {
        let pool = pool.clone();
        async move { pool.live() == (0, 0) }
    })
    .await;
    forgotten(&b, &alice, "x").await;
    assert_eq!(a.state.sessions().pool().live(), (0, 0));
    let peer = client.peer().clone();
    settle("x's tools gone from the session's list on B", || {
        let peer = peer.clone();
        async move {
            let tools = peer.list_all_tools().await.expect("tools/list");
            !tools.iter().any(|t| t.name.starts_with("x__"))
        }
    })
    .await;
    client.cancel().await.expect("client closes");
    a.stop().await;
    b.stop().await;
    crate::support::db::drop_postgres_database(&replicas.catalog_url).await;
}
