//! Per-user upstream OAuth: another user's private OAuth server is 404 on
//! every OAuth route, anonymous clients are refused OAuth servers, and the
//! callback answers a forged `state` with 400 without connecting anything.
//!
//! Two users each holding their own token for one public OAuth server (and
//! one revoking his without touching the other's) needs an authorization
//! server; that is covered beside the OAuth upstream fixture.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{TestApp, code};
use crate::support::upstreams::FixtureHttp;

use super::{PUB, assert_hidden, statuses, world};

/// Creates an OAuth server `name` at `upstream` as `key`; returns its id.
async fn oauth_server(
    app: &TestApp,
    key: &str,
    name: &str,
    upstream: &FixtureHttp,
    public: bool,
) -> String {
    let mut body = json!({"name": name, "transport": "streamable_http", "url": upstream.url(),
                          "requires_oauth2": true, "oauth_client_id": format!("{name}-client"),
                          "oauth_client_secret": format!("{name}-client-secret")});
    if public {
        body["is_public"] = json!(true);
    }
    let (status, created) = app.post("/api/v1/servers", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["oauth_client_secret"], "***", "{created}");
    created["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn another_users_private_oauth_server_is_404_on_every_oauth_route() {
    let w = world().await;
    let app = &w.app;
    let upstream = FixtureHttp::start();
    let id = oauth_server(app, &w.alice, "alice-oauth", &upstream, false).await;
    let (_, before) = app.get("/api/v1/servers/alice-oauth", &w.alice).await;

    let secrets = ["\"alice\"", id.as_str(), "alice-oauth-client"];
    for key in [&w.bob, &w.bob_jwt] {
        for target in [id.as_str(), "alice-oauth"] {
            let routes: [(Method, String); 4] = [
                (Method::DELETE, format!("/api/v1/servers/{target}/oauth")),
                (
                    Method::POST,
                    format!("/api/v1/servers/{target}/oauth/authorize"),
                ),
                (Method::POST, format!("/api/v1/servers/{target}/connect")),
                (Method::GET, format!("/api/v1/servers/{target}")),
            ];
            for (method, path) in routes {
                let body = (method == Method::POST).then(|| json!({}));
                let (status, answer) = app.call(method.clone(), &path, Some(key), body).await;
                assert_hidden(&format!("bob: {method} {path}"), status, &answer, &secrets);
            }
        }
        let (_, list) = app.get("/api/v1/session/servers?limit=200", key).await;
        assert!(!statuses(&list).contains_key("alice-oauth"), "{list}");
    }
    let (_, after) = app.get("/api/v1/servers/alice-oauth", &w.alice).await;
    assert_eq!(after, before, "bob's attempts changed alice's server");
}

#[tokio::test]
async fn anonymous_clients_are_refused_public_oauth_servers() {
    let w = world().await;
    let app = &w.app;
    let upstream = FixtureHttp::start();
    oauth_server(app, &app.admin_key, "pub-oauth", &upstream, true).await;
    let anon = reqwest::Client::builder()
        .user_agent("anon-oauth")
        .build()
        .expect("client");
    for path in [
        "/api/v1/servers/pub-oauth/connect",
        "/api/v1/servers/pub-oauth/oauth/authorize",
    ] {
        let resp = anon
            .post(app.url(path))
            .json(&json!({}))
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(code(&body), "forbidden", "{path}: {body}");
    }
    // It still sees and uses the public server that needs no OAuth.
    let resp = anon
        .post(app.url(&format!("/api/v1/servers/{PUB}/connect")))
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_forged_callback_state_connects_nothing_for_anyone() {
    let w = world().await;
    let app = &w.app;
    let upstream = FixtureHttp::start();
    oauth_server(app, &app.admin_key, "pub-oauth", &upstream, true).await;
    let (_, before_alice) = app.get("/api/v1/session/servers", &w.alice).await;
    let (_, before_bob) = app.get("/api/v1/session/servers", &w.bob).await;
    for query in [
        "code=stolen&state=forged-state",
        "code=stolen&state=",
        "code=stolen",
        "code=stolen&state=alice",
    ] {
        // No Authorization: the state alone would have to carry the user.
        let resp = app
            .client
            .get(app.url(&format!("/oauth/callback?{query}")))
            .header("accept", "application/json")
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(code(&body), "oauth_state_invalid", "{query}: {body}");
        // With bob's key it is no different: a callback never takes the caller.
        let resp = app
            .client
            .get(app.url(&format!("/oauth/callback?{query}")))
            .bearer_auth(&w.bob)
            .header("accept", "application/json")
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let (_, after_alice) = app.get("/api/v1/session/servers", &w.alice).await;
    let (_, after_bob) = app.get("/api/v1/session/servers", &w.bob).await;
    assert_eq!(after_alice, before_alice);
    assert_eq!(after_bob, before_bob);
    assert_eq!(
        statuses(&after_bob).get("pub-oauth").map(String::as_str),
        Some("DISCONNECTED")
    );
}
