//! Links that lead back to the gateway are refused with `upstream_loop`: a
//! user's server pointing at the gateway's own `/mcp`, and two gateways
//! whose users point each at the other.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{USER, app_with, has_link};
use crate::support::app::{TestApp, code};
use crate::support::rest::{connect, create_server, session_server};

/// A private streamable-HTTP server `name` of the user with `key`, pointing
/// at `gateway`'s `/mcp` with `bearer` as its key there.
async fn add_gateway_server(app: &TestApp, key: &str, name: &str, gateway: &TestApp, bearer: &str) {
    create_server(
        app,
        key,
        json!({
            "name": name,
            "transport": "streamable_http",
            "url": gateway.url("/mcp"),
            "headers": {"Authorization": format!("Bearer {bearer}")},
        }),
    )
    .await;
}

/// Connecting `name` as `key` is refused with `upstream_loop`, opens no
/// link, and leaves the server not `CONNECTED`; the refusal.
async fn assert_loop_refused(app: &TestApp, user: &str, key: &str, name: &str) -> Value {
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(20),
        app.session_action("connect", name, key),
    )
    .await
    .expect("the connect answers");
    assert_ne!(status, StatusCode::OK, "the loop was connected: {body}");
    assert_eq!(code(&body), "upstream_loop", "{status}: {body}");
    assert!(!has_link(app, user, name), "no link stays open");
    let entry = session_server(app, key, name).await;
    assert_ne!(entry["status"], "CONNECTED", "{entry}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_pointing_at_the_gateways_own_mcp_is_refused_with_upstream_loop() {
    let app = app_with(|_| {}).await;
    let key = app.user_key(USER).await;
    add_gateway_server(&app, &key, "myself", &app, &key).await;
    let refused = assert_loop_refused(&app, USER, &key, "myself").await;
    eprintln!("resilience loop: {refused}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_pointing_at_each_other_refuse_the_second_connect_with_upstream_loop() {
    let a = app_with(|_| {}).await;
    let b = app_with(|_| {}).await;
    let alice = a.user_key("alice").await;
    let bob = b.user_key("bob").await;
    add_gateway_server(&a, &alice, "to-b", &b, &bob).await;
    add_gateway_server(&b, &bob, "to-a", &a, &alice).await;

    // A → B is fine on its own: B's session leads nowhere yet.
    connect(&a, "to-b", &alice).await;
    // B → A would close the circle B → A → B.
    let refused = assert_loop_refused(&b, "bob", &bob, "to-a").await;
    eprintln!("resilience loop through two gateways: {refused}");
    // A's link to B still works.
    let entry = session_server(&a, &alice, "to-b").await;
    assert_eq!(entry["status"], "CONNECTED", "{entry}");
    a.stop().await;
    b.stop().await;
}
