//! The adversarial isolation suite: an admin, two users (alice and bob, by
//! API key and by JWT) and anonymous clients share one gateway with a Redis
//! state store, real upstreams, and try to reach each other's servers,
//! sessions, connection state, tools and OAuth authorizations over REST and
//! `/mcp`.
//!
//! Every test gets a [`World`]: its own SQLite catalog and Redis key prefix,
//! a public stdio server `pub` (the admin's), and one private
//! streamable-HTTP server each for alice (`alice-priv`) and bob
//! (`bob-priv`), each backed by its own `mcp-fixture` process.

mod anonymous;
mod anonymous_contract;
mod auth;
mod mcp;
mod oauth;
mod redis_keys;
mod rest;

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app_with};
use crate::support::rest::{add_fixture, create_server};
use crate::support::upstreams::FixtureHttp;

/// The HS256 secret, issuer and audience the world's JWTs use.
pub(crate) const SECRET: &str = "isolation-suite-shared-secret-0123456789";
pub(crate) const ISSUER: &str = "https://idp.isolation.test";
pub(crate) const AUDIENCE: &str = "manifold-isolation";

/// The public server every principal may see.
pub(crate) const PUB: &str = "pub";
/// Alice's private server.
pub(crate) const ALICE_PRIV: &str = "alice-priv";
/// Bob's private server.
pub(crate) const BOB_PRIV: &str = "bob-priv";

/// One gateway and everyone who uses it.
pub(crate) struct World {
    pub app: TestApp,
    /// The Redis key prefix of this world (`t:…:`).
    pub prefix: String,
    pub alice: String,
    pub bob: String,
    pub alice_jwt: String,
    pub bob_jwt: String,
    /// `alice-priv`'s `mcp_…` id.
    pub alice_priv_id: String,
    /// `bob-priv`'s `mcp_…` id.
    pub bob_priv_id: String,
    _alice_upstream: FixtureHttp,
    _bob_upstream: FixtureHttp,
}

/// Settings shared by every world: Redis state under `prefix`, anonymous
/// sessions on (believing forwarded headers from `trusted`), HS256 JWTs.
pub(crate) async fn spawn_world_app(prefix: &str, trusted: &[&str]) -> TestApp {
    let prefix = prefix.to_owned();
    let trusted: Vec<String> = trusted.iter().map(|t| (*t).to_owned()).collect();
    spawn_app_with(move |s| {
        s.state.url = manifold::config::StateUrl::parse(&crate::support::redis::redis_url())
            .expect("a state URL");
        s.state.key_prefix = prefix;
        s.state.ttl_seconds = 3600;
        s.auth.anonymous.enabled = true;
        s.auth.trusted_proxies = trusted
            .iter()
            .map(|p| p.parse().expect("an IP range"))
            .collect();
        s.auth.jwt.hs256_secret = manifold::secret::Secret::new(SECRET.to_string());
        s.auth.jwt.issuer = ISSUER.into();
        s.auth.jwt.audience = AUDIENCE.into();
    })
    .await
}

/// A world whose anonymous sessions trust no proxy.
pub(crate) async fn world() -> World {
    world_trusting(&[]).await
}

/// A world whose anonymous sessions believe forwarded headers from `trusted`.
pub(crate) async fn world_trusting(trusted: &[&str]) -> World {
    let prefix = format!("{}:", crate::support::unique("t:iso"));
    let app = spawn_world_app(&prefix, trusted).await;
    add_fixture(&app, PUB).await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    let alice_upstream = FixtureHttp::start();
    let bob_upstream = FixtureHttp::start();
    let alice_priv_id = create_private(&app, &alice, ALICE_PRIV, &alice_upstream).await;
    let bob_priv_id = create_private(&app, &bob, BOB_PRIV, &bob_upstream).await;
    World {
        alice_jwt: jwt("alice", &[]),
        bob_jwt: jwt("bob", &[]),
        app,
        prefix,
        alice,
        bob,
        alice_priv_id,
        bob_priv_id,
        _alice_upstream: alice_upstream,
        _bob_upstream: bob_upstream,
    }
}

/// Creates a private streamable-HTTP server `name` as `key`, with a secret
/// header; returns its id.
async fn create_private(app: &TestApp, key: &str, name: &str, upstream: &FixtureHttp) -> String {
    let body = create_server(
        app,
        key,
        json!({"name": name, "transport": "streamable_http", "url": upstream.url(),
               "headers": {"X-Owner-Secret": format!("{name}-secret-value")}}),
    )
    .await;
    assert_eq!(body["is_public"], false, "{body}");
    body["id"].as_str().expect("a server id").to_owned()
}

/// Claims for `sub` that pass every check of the world's verifier.
pub(crate) fn claims(sub: &str, roles: &[&str]) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE,
           "exp": chrono::Utc::now().timestamp() + 300, "roles": roles})
}

/// An HS256 token over `claims` signed with `secret`.
pub(crate) fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token signs")
}

/// A valid token for `sub` with `roles`.
pub(crate) fn jwt(sub: &str, roles: &[&str]) -> String {
    sign(&claims(sub, roles), SECRET)
}

/// The `server` field of every item of `GET /api/v1/session/tools`, deduplicated.
pub(crate) fn tool_servers(tools: &Value) -> Vec<String> {
    let mut servers: Vec<String> = tools["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["server"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    servers.sort();
    servers.dedup();
    servers
}

/// `(name, status)` of every item of `GET /api/v1/session/servers`.
pub(crate) fn statuses(list: &Value) -> BTreeMap<String, String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some((
                        i["name"].as_str()?.to_owned(),
                        i["status"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts a 404 `server_not_found` whose body names none of `secrets`.
pub(crate) fn assert_hidden(what: &str, status: StatusCode, body: &Value, secrets: &[&str]) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {body}");
    assert_eq!(
        crate::support::app::code(body),
        "server_not_found",
        "{what}: {body}"
    );
    let text = body.to_string();
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what}: the 404 body names {secret:?}: {text}"
        );
    }
}
