//! Forgetting an upstream authorization (`DELETE /api/v1/servers/{id}/oauth`)
//! revokes the user's tokens at the authorization server (RFC 7009) when its
//! metadata advertises a revocation endpoint, and deletes them locally even
//! when revocation is not offered or fails. Also: a server's discovery is
//! reused for a while (`auth.oauth.discovery_cache_seconds`).
//!
//! The first test checks the fixture's revocation endpoint itself with
//! rmcp's own OAuth client, so a failure in the others points at the gateway.

use reqwest::StatusCode;
use rmcp::service::{Peer, RoleClient};
use rmcp::transport::auth::{AuthorizationRequest, OAuthState};
use serde_json::{Value, json};

use crate::support::app::{TestApp, code, spawn_app, spawn_app_with};
use crate::support::mcp::mcp_client;
use crate::support::oauth::{
    OAuthFixture, add_oauth_server, approve, authorize_through, bearer, oauth_field, whoami,
};
use crate::support::rest::{connect, disconnect};

/// The status of an `initialize` sent straight to the fixture's `/mcp` with
/// `token`.
async fn upstream_status(fx: &OAuthFixture, token: &str) -> StatusCode {
    fx.mcp_status(Some(token)).await.0
}

#[tokio::test]
async fn the_oauth_fixture_revokes_a_refresh_token_with_its_grants_access_tokens() {
    let fx = OAuthFixture::start();
    let metadata: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        fx.origin()
    ))
    .await
    .expect("metadata requested")
    .json()
    .await
    .expect("JSON metadata");
    assert_eq!(
        metadata["revocation_endpoint"],
        format!("{}/revoke", fx.origin())
    );

    let mut oauth = OAuthState::new(fx.mcp_url(), None)
        .await
        .expect("OAuth state");
    oauth
        .start_authorization(
            AuthorizationRequest::new("http://127.0.0.1:9/callback").with_client_name("it"),
        )
        .await
        .expect("discovery and registration");
    let url = oauth
        .get_authorization_url()
        .await
        .expect("authorization URL");
    oauth
        .handle_callback_url(&approve(&url, "carol").await)
        .await
        .expect("code exchange");
    let manager = oauth.into_authorization_manager().expect("a manager");
    let (client_id, tokens) = manager.get_credentials().await.expect("credentials");
    let tokens = serde_json::to_value(tokens.expect("a token response")).expect("JSON");
    let access = tokens["access_token"].as_str().expect("access token");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    assert_eq!(upstream_status(&fx, access).await, StatusCode::OK);

    let hint = ("token_type_hint", "refresh_token");
    assert_eq!(
        fx.revoke(&[("token", refresh), hint]).await,
        StatusCode::UNAUTHORIZED,
        "a client must name itself"
    );
    let client = ("client_id", client_id.as_str());
    assert_eq!(
        fx.revoke(&[("token", refresh), hint, client]).await,
        StatusCode::OK
    );
    assert_eq!(
        upstream_status(&fx, access).await,
        StatusCode::UNAUTHORIZED,
        "the refresh token's grant ends with it"
    );
    let refreshed = manager.refresh_token().await;
    assert!(refreshed.is_err(), "a revoked refresh token cannot refresh");
    // Already invalid, or never issued: 200 all the same (RFC 7009 §2.2).
    let access_hint = ("token_type_hint", "access_token");
    assert_eq!(
        fx.revoke(&[("token", access), access_hint, client]).await,
        StatusCode::OK
    );
    assert_eq!(
        fx.revoke(&[("token", "fxat_never-issued"), client]).await,
        StatusCode::OK
    );
    assert_eq!(
        fx.counters().await["revocations"],
        json!({"refresh_token": 1, "access_token": 1, "unknown": 1})
    );
}

/// `user` (API key `key`) authorizes server `id` through the gateway: the
/// connect answers `oauth_required`, the user approves at the fixture, the
/// browser lands on the gateway's callback.
async fn authorize(app: &TestApp, id: &str, key: &str, user: &str) {
    authorize_through(app, id, key, user).await;
    assert_eq!(oauth_field(app, key, id).await, "authorized");
}

/// The bearer token the upstream saw on a `whoami` call through `client`,
/// checking it belongs to `user`.
async fn token_seen(client: &Peer<RoleClient>, tool: &str, user: &str) -> String {
    let seen = whoami(client, tool).await;
    assert_eq!(seen["oauth_user"], user, "{seen}");
    bearer(&seen)
}

/// `DELETE /api/v1/servers/{id}/oauth` as `key` must answer 204.
async fn forget(app: &TestApp, id: &str, key: &str) {
    let (status, body) = app
        .delete(&format!("/api/v1/servers/{id}/oauth"), key)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn forgetting_an_authorization_revokes_the_users_tokens_upstream_and_no_one_elses() {
    let fx = OAuthFixture::start();
    let app = spawn_app().await;
    let id = add_oauth_server(&app, &fx, "revokefx").await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    authorize(&app, &id, &alice, "alice").await;
    authorize(&app, &id, &bob, "bob").await;
    let tool = "revokefx__whoami";
    let alice_mcp = mcp_client(&app, "/mcp", &alice).await;
    let bob_mcp = mcp_client(&app, "/mcp", &bob).await;
    let alice_token = token_seen(&alice_mcp, tool, "alice").await;
    let bob_token = token_seen(&bob_mcp, tool, "bob").await;
    assert_eq!(
        fx.counters().await["revocations"],
        json!({"refresh_token": 0, "access_token": 0, "unknown": 0})
    );

    forget(&app, &id, &alice).await;
    assert_eq!(
        fx.counters().await["revocations"],
        json!({"refresh_token": 1, "access_token": 1, "unknown": 0}),
        "alice's refresh token, then her access token"
    );
    assert_eq!(
        upstream_status(&fx, &alice_token).await,
        StatusCode::UNAUTHORIZED,
        "alice's access token is dead at the authorization server"
    );
    assert_eq!(oauth_field(&app, &alice, &id).await, "required");
    let (status, body) = app.session_action("connect", &id, &alice).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "oauth_required"),
        "{body}"
    );

    // Bob keeps his authorization and the very same token.
    assert_eq!(oauth_field(&app, &bob, &id).await, "authorized");
    assert_eq!(token_seen(&bob_mcp, tool, "bob").await, bob_token);
    assert_eq!(upstream_status(&fx, &bob_token).await, StatusCode::OK);
    assert_eq!(
        fx.counters().await["revocations"],
        json!({"refresh_token": 1, "access_token": 1, "unknown": 0}),
        "none of bob's tokens was revoked"
    );
    alice_mcp.cancel().await.expect("closed");
    bob_mcp.cancel().await.expect("closed");
    app.stop().await;
}

#[tokio::test]
async fn without_a_revocation_endpoint_forgetting_deletes_the_tokens_locally_only() {
    let fx = OAuthFixture::start_with_env(&[("FIXTURE_OAUTH_NO_REVOKE", "1")]);
    let app = spawn_app().await;
    let id = add_oauth_server(&app, &fx, "norevoke").await;
    let alice = app.user_key("alice").await;
    authorize(&app, &id, &alice, "alice").await;
    let alice_mcp = mcp_client(&app, "/mcp", &alice).await;
    let token = token_seen(&alice_mcp, "norevoke__whoami", "alice").await;

    forget(&app, &id, &alice).await;
    assert_eq!(oauth_field(&app, &alice, &id).await, "required");
    assert_eq!(
        fx.counters().await["revocations"],
        json!({"refresh_token": 0, "access_token": 0, "unknown": 0}),
        "nothing was sent to an endpoint the metadata does not advertise"
    );
    assert_eq!(
        upstream_status(&fx, &token).await,
        StatusCode::OK,
        "the token was not revoked upstream"
    );
    alice_mcp.cancel().await.expect("closed");
    app.stop().await;
}

#[tokio::test]
async fn when_the_authorization_server_is_down_forgetting_still_deletes_the_tokens() {
    let fx = OAuthFixture::start();
    let app = spawn_app().await;
    let id = add_oauth_server(&app, &fx, "downfx").await;
    let alice = app.user_key("alice").await;
    authorize(&app, &id, &alice, "alice").await;

    drop(fx);
    forget(&app, &id, &alice).await;
    assert_eq!(oauth_field(&app, &alice, &id).await, "required");
    let (status, _) = app
        .delete(&format!("/api/v1/servers/{id}/oauth"), &alice)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "forgetting twice is fine");
    app.stop().await;
}

/// The fixture's metadata documents served so far.
async fn metadata_requests(fx: &OAuthFixture) -> (u64, u64) {
    let served = fx.counters().await["metadata_requests"].clone();
    let count = |kind: &str| {
        served[kind]
            .as_u64()
            .unwrap_or_else(|| panic!("no {kind} count: {served}"))
    };
    (count("protected_resource"), count("authorization_server"))
}

/// Disconnects and connects server `id` for `key`: one link open.
async fn reopen(app: &TestApp, id: &str, key: &str) {
    disconnect(app, id, key).await;
    connect(app, id, key).await;
}

#[tokio::test]
async fn one_discovery_serves_an_authorization_and_the_link_opens_after_it() {
    let fx = OAuthFixture::start();
    let app = spawn_app().await;
    let id = add_oauth_server(&app, &fx, "cachedfx").await;
    let alice = app.user_key("alice").await;
    authorize(&app, &id, &alice, "alice").await;
    reopen(&app, &id, &alice).await;
    reopen(&app, &id, &alice).await;
    assert_eq!(
        metadata_requests(&fx).await,
        (1, 1),
        "one protected-resource and one authorization-server document in all"
    );
    app.stop().await;
}

#[tokio::test]
async fn with_the_discovery_cache_off_every_link_open_discovers_again() {
    let fx = OAuthFixture::start();
    let app = spawn_app_with(|s| s.auth.oauth.discovery_cache_seconds = 0).await;
    let id = add_oauth_server(&app, &fx, "uncachedfx").await;
    let alice = app.user_key("alice").await;
    authorize(&app, &id, &alice, "alice").await;
    let before = metadata_requests(&fx).await;
    reopen(&app, &id, &alice).await;
    let once = metadata_requests(&fx).await;
    reopen(&app, &id, &alice).await;
    let twice = metadata_requests(&fx).await;
    assert!(
        once.0 > before.0 && once.1 > before.1,
        "{before:?} → {once:?}"
    );
    assert_eq!(
        (twice.0 - once.0, twice.1 - once.1),
        (once.0 - before.0, once.1 - before.1),
        "each link open discovers the same way"
    );
    app.stop().await;
}
