//! What a session sees of a broken link: `serverStatusChanged` events
//! through a restart, an idle link noticed by its health check, giving up
//! after `reconnect_give_up_seconds`, and a deliberate disconnect that stops
//! reconnection.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::{USER, app_with, has_link, killed, restarted, wait_status};
use crate::support::app::TestApp;
use crate::support::rest::{add_public, connect, disconnect, session_server};
use crate::support::upstreams::FixtureHttp;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A public streamable-HTTP server `name` pointing at `fixture`.
async fn add_http(app: &TestApp, name: &str, fixture: &FixtureHttp) {
    add_public(
        app,
        json!({"name": name, "transport": "streamable_http", "url": fixture.url()}),
    )
    .await;
}

/// A `graphql-transport-ws` socket authenticated as `key`, subscribed (id
/// `1`) to `serverStatusChanged` once the subscription listens.
async fn status_events(app: &TestApp, key: &str) -> Socket {
    let (mut ws, _) = tokio_tungstenite::connect_async(app.graphql_ws_request())
        .await
        .expect("the GraphQL socket upgrades");
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}});
    ws.send(Message::text(init.to_string()))
        .await
        .expect("init");
    let ack = next_message(&mut ws, Duration::from_secs(10))
        .await
        .expect("connection_ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let notifier = app.state.notifier();
    let before = notifier.subscribers();
    let query = "subscription { serverStatusChanged { name status lastError } }";
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    ws.send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(5);
    while notifier.subscribers() <= before {
        assert!(Instant::now() < deadline, "the subscription listens");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ws
}

/// The next protocol message within `limit` (`None` when none came).
async fn next_message(ws: &mut Socket, limit: Duration) -> Option<Value> {
    let next = async {
        loop {
            match ws.next().await.expect("socket open").expect("frame") {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Close(frame) => panic!("socket closed: {frame:?}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(limit, next).await.ok()
}

/// Reads events until `name` reaches `want`; every status of `name` seen
/// on the way, in order.
async fn statuses_until(ws: &mut Socket, name: &str, want: &str, seen: &mut Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = next_message(ws, left)
            .await
            .unwrap_or_else(|| panic!("no {want} event for {name} within 15 s; seen: {seen:?}"));
        assert_eq!(message["type"], "next", "{message}");
        let change = &message["payload"]["data"]["serverStatusChanged"];
        if change["name"] != name {
            continue;
        }
        seen.push(change.clone());
        if change["status"] == want {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_status_changed_shows_connected_reconnecting_connected_across_a_restart() {
    let app = app_with(|_| {}).await;
    let fixture = FixtureHttp::start();
    add_http(&app, "watched", &fixture).await;
    let key = app.user_key(USER).await;
    let mut ws = status_events(&app, &key).await;

    let mut seen = Vec::new();
    connect(&app, "watched", &key).await;
    statuses_until(&mut ws, "watched", "CONNECTED", &mut seen).await;
    let fixture = killed(fixture).await;
    statuses_until(&mut ws, "watched", "RECONNECTING", &mut seen).await;
    let reconnecting = seen.last().cloned().unwrap_or_default();
    assert!(
        reconnecting["lastError"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "the RECONNECTING event says why: {reconnecting}"
    );
    let (_fixture, _) = restarted(fixture).await;
    statuses_until(&mut ws, "watched", "CONNECTED", &mut seen).await;

    let mut statuses: Vec<&str> = seen.iter().filter_map(|c| c["status"].as_str()).collect();
    statuses.dedup();
    assert_eq!(
        statuses,
        ["CONNECTED", "RECONNECTING", "CONNECTED"],
        "events: {seen:?}"
    );
    let _ = ws.close(None).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_link_whose_upstream_dies_is_reconnecting_within_the_health_interval() {
    let app = app_with(|s| s.upstream.health_interval_seconds = 1).await;
    let fixture = FixtureHttp::start();
    add_http(&app, "idle", &fixture).await;
    let key = app.user_key(USER).await;
    connect(&app, "idle", &key).await;
    // Idle for longer than one health interval before the kill.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let _fixture = killed(fixture).await;
    // Only reads of the status: no call goes through the link.
    let (entry, noticed) =
        wait_status(&app, &key, "idle", "RECONNECTING", Duration::from_secs(3)).await;
    eprintln!("resilience idle: RECONNECTING {noticed:?} after the kill, with no call: {entry}");
    assert!(
        entry["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{entry}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_that_never_returns_is_failed_after_the_give_up_time_and_no_longer_retried() {
    let app = app_with(|s| {
        s.upstream.reconnect_give_up_seconds = 3;
        s.upstream.reconnect_max_delay_seconds = 1;
    })
    .await;
    let fixture = FixtureHttp::start();
    add_http(&app, "gone", &fixture).await;
    let key = app.user_key(USER).await;
    connect(&app, "gone", &key).await;

    let killed_at = Instant::now();
    let fixture = killed(fixture).await;
    wait_status(&app, &key, "gone", "RECONNECTING", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(killed_at.elapsed())).await;
    let early = session_server(&app, &key, "gone").await;
    assert_eq!(
        early["status"], "RECONNECTING",
        "still retrying 1.5 s after the kill (give-up is 3 s): {early}"
    );
    let (failed, _) = wait_status(&app, &key, "gone", "FAILED", Duration::from_secs(8)).await;
    let gave_up = killed_at.elapsed();
    eprintln!("resilience give-up: FAILED {gave_up:?} after the kill: {failed}");
    assert!(
        gave_up >= Duration::from_secs(2),
        "gave up after {gave_up:?}, before the 3 s give-up time"
    );
    assert!(
        failed["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "FAILED says why: {failed}"
    );

    // It stopped retrying: the upstream coming back changes nothing.
    let (_fixture, _) = restarted(fixture).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = session_server(&app, &key, "gone").await;
    assert_eq!(
        later["status"], "FAILED",
        "no retry after giving up: {later}"
    );
    assert!(!has_link(&app, USER, "gone"), "no link was reopened");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disconnect_while_reconnecting_stops_reconnection() {
    let app = app_with(|s| s.upstream.reconnect_max_delay_seconds = 1).await;
    let fixture = FixtureHttp::start();
    add_http(&app, "leaving", &fixture).await;
    let key = app.user_key(USER).await;
    connect(&app, "leaving", &key).await;

    let fixture = killed(fixture).await;
    wait_status(
        &app,
        &key,
        "leaving",
        "RECONNECTING",
        Duration::from_secs(5),
    )
    .await;
    let gone = disconnect(&app, "leaving", &key).await;
    assert_eq!(gone["status"], "DISCONNECTED", "{gone}");

    // The upstream returns; the gateway must not bring the link back.
    let (_fixture, _) = restarted(fixture).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let entry = session_server(&app, &key, "leaving").await;
    assert_eq!(entry["status"], "DISCONNECTED", "{entry}");
    assert!(entry["retry_at"].is_null(), "{entry}");
    assert!(!has_link(&app, USER, "leaving"), "no link was reopened");
    let (status, tools) = app.get("/api/v1/session/tools", &key).await;
    assert_eq!(status, StatusCode::OK, "{tools}");
    assert!(
        !tools.to_string().contains("leaving__"),
        "no tools of a disconnected server: {tools}"
    );
    app.stop().await;
}
