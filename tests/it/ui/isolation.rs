//! What each user's page shows: bob never sees alice's private server, a
//! user manages no category and no public server, a bad key is refused at
//! sign-in with the API's message, and a revoked key signs the page out.

use manifold::principal::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::bad_key_message;
use crate::support::app::spawn_app;
use crate::support::browser::BrowserRun;
use crate::support::unique;
use crate::support::upstreams::free_port;

#[tokio::test(flavor = "multi_thread")]
async fn each_users_page_shows_only_what_they_may_see_and_change() {
    let app = spawn_app().await;
    let (alice_key, alice) = app
        .state
        .api_keys()
        .create("alice", Role::User)
        .await
        .expect("alice's key");
    let alice = alice.expose().clone();
    let bob = app.user_key("bob").await;
    // Never connected: the servers need no upstream behind them.
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let server = |name: &str, title: &str| json!({"name": name, "title": title, "transport": "streamable_http", "url": url});

    let public = unique("shared-");
    let mut body = server(&public, "Shared tools");
    body["is_public"] = json!(true);
    let (status, created) = app.post("/api/v1/servers", &app.admin_key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let alice_server = unique("alice-secret-");
    let alice_title = format!("Alice only {alice_server}");
    let (status, created) = app
        .post(
            "/api/v1/servers",
            &alice,
            server(&alice_server, &alice_title),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let bob_server = unique("bob-own-");
    let (status, created) = app
        .post("/api/v1/servers", &bob, server(&bob_server, "Bob's tools"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // The API agrees: bob cannot see alice's server.
    let (status, _) = app
        .get(&format!("/api/v1/servers/{alice_server}"), &bob)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let bob_new = unique("bob-new-");
    let bad_key = "mfk_thisKeyDoesNotExist000000000000000000";
    let message = bad_key_message(&app, bad_key).await;
    let mut run = BrowserRun::start(
        "isolation",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("ALICE_KEY", alice.clone()),
            ("BOB_KEY", bob.clone()),
            ("ALICE_SERVER", alice_server),
            ("ALICE_TITLE", alice_title),
            ("BOB_SERVER", bob_server),
            ("PUBLIC_SERVER", public),
            ("BOB_NEW_SERVER", bob_new.clone()),
            ("UPSTREAM_URL", url.clone()),
            ("BAD_KEY", bad_key.into()),
            ("BAD_KEY_MESSAGE", message),
        ],
    )
    .await;
    // Made in bob's dialog: bob's, private, unseen by alice.
    run.wait_for("bob-created").await;
    let (status, made) = app.get(&format!("/api/v1/servers/{bob_new}"), &bob).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["is_public"], false, "{made}");
    assert_eq!(made["owner"], "bob", "{made}");
    let (status, _) = app.get(&format!("/api/v1/servers/{bob_new}"), &alice).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    run.reply(Value::Null).await;

    run.wait_for("revoke-alice").await;
    app.state
        .api_keys()
        .revoke(alice_key.id.as_str())
        .await
        .expect("alice's key revoked");
    let (status, _) = app.get("/api/v1/me", &alice).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    run.reply(Value::Null).await;
    run.finish().await;
    app.stop().await;
}
