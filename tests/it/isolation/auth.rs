//! Credentials: a JWT that is expired, wrongly signed, unsigned or for
//! another audience is a 401 on REST and on `/mcp`, even when it names a
//! real user and comes with that user's `Mcp-Session-Id`, and it changes
//! nothing; a subject that collides with the bootstrap admin's user id gets
//! no admin rights.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::support::app::code;
use crate::support::mcp::{SESSION_REVISION, initialize, open_session};
use crate::support::rest::connect;

use super::{ALICE_PRIV, PUB, claims, sign, statuses, world};

/// `header.claims.` with `alg: none` (no signature).
fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    format!("{header}.{body}.")
}

/// Broken tokens that all name alice.
fn broken_tokens_for_alice() -> Vec<(&'static str, String)> {
    let with = |key: &str, value: Value| {
        let mut c = claims("alice", &["admin"]);
        c[key] = value;
        sign(&c, super::SECRET)
    };
    let now = chrono::Utc::now().timestamp();
    vec![
        ("expired", with("exp", json!(now - 120))),
        (
            "wrongly signed",
            sign(
                &claims("alice", &["admin"]),
                "not-the-gateway-secret-at-all-0000",
            ),
        ),
        (
            "for another audience",
            with("aud", json!("another-service")),
        ),
        (
            "from another issuer",
            with("iss", json!("https://evil.test")),
        ),
        (
            "unsigned (alg none)",
            unsigned(&claims("alice", &["admin"])),
        ),
        ("signature stripped", {
            let token = sign(&claims("alice", &["admin"]), super::SECRET);
            let (head, _) = token.rsplit_once('.').expect("three parts");
            format!("{head}.")
        }),
    ]
}

#[tokio::test]
async fn expired_wrongly_signed_and_misaddressed_jwts_get_401_on_rest_and_mcp_and_change_nothing() {
    let w = world().await;
    let app = &w.app;
    connect(app, ALICE_PRIV, &w.alice).await;
    let session = open_session(app, "/mcp", &w.alice).await;
    let (_, before) = app.get("/api/v1/session/servers", &w.alice).await;

    for (what, token) in broken_tokens_for_alice() {
        let rest: [(Method, String, Option<Value>); 7] = [
            (Method::GET, "/api/v1/me".into(), None),
            (Method::GET, format!("/api/v1/servers/{ALICE_PRIV}"), None),
            (Method::GET, "/api/v1/session/tools".into(), None),
            (
                Method::POST,
                format!("/api/v1/servers/{ALICE_PRIV}/disconnect"),
                Some(json!({})),
            ),
            (Method::DELETE, "/api/v1/session".into(), None),
            (
                Method::POST,
                "/api/v1/categories".into(),
                Some(json!({"name": "by-forged-admin"})),
            ),
            (Method::DELETE, format!("/api/v1/servers/{PUB}"), None),
        ];
        for (method, path, body) in rest {
            let (status, answer) = app.call(method.clone(), &path, Some(&token), body).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{what}: {method} {path}: {answer}"
            );
            assert_eq!(code(&answer), "unauthorized", "{what}: {answer}");
            assert!(!answer.to_string().contains(&token), "{what}: token echoed");
        }

        let resp = app
            .mcp_post("/mcp", Some(&token), None, &initialize(SESSION_REVISION))
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "{what}: /mcp initialize"
        );
        assert!(resp.headers().contains_key("www-authenticate"), "{what}");
        for method in [Method::POST, Method::GET, Method::DELETE] {
            let mut req = app
                .client
                .request(method.clone(), app.url("/mcp"))
                .bearer_auth(&token)
                .header("mcp-session-id", &session)
                .header("accept", "application/json, text/event-stream");
            if method == Method::POST {
                req = req.json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
            }
            let resp = req.send().await.expect("sent");
            assert_eq!(
                resp.status(),
                StatusCode::UNAUTHORIZED,
                "{what}: {method} /mcp in alice's MCP session"
            );
        }
        let resp = app
            .mcp_post(
                &format!("/mcp/s/{ALICE_PRIV}"),
                Some(&token),
                None,
                &initialize(SESSION_REVISION),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what}: /mcp/s");
    }

    // Nothing happened: alice's state, her MCP session and the catalog stand.
    let (_, after) = app.get("/api/v1/session/servers", &w.alice).await;
    assert_eq!(after, before);
    assert_eq!(
        statuses(&after).get(ALICE_PRIV).map(String::as_str),
        Some("CONNECTED")
    );
    let (status, _) = app.get(&format!("/api/v1/servers/{PUB}"), &w.alice).await;
    assert_eq!(status, StatusCode::OK);
    let (_, categories) = app.get("/api/v1/categories", &app.admin_key).await;
    assert_eq!(categories["items"], json!([]), "{categories}");
    let resp = app
        .mcp_post(
            "/mcp",
            Some(&w.alice),
            Some(&session),
            &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "alice's MCP session survived"
    );
}

#[tokio::test]
async fn a_valid_user_jwt_claiming_admin_elsewhere_than_the_roles_claim_stays_a_user() {
    let w = world().await;
    let mut c = claims("mallory", &[]);
    c["role"] = json!("admin");
    c["admin"] = json!(true);
    c["scope"] = json!("admin");
    let token = sign(&c, super::SECRET);
    let (_, me) = w.app.get("/api/v1/me", &token).await;
    assert_eq!(me["role"], "user", "{me}");
    let (status, body) = w
        .app
        .get(&format!("/api/v1/servers/{ALICE_PRIV}"), &token)
        .await;
    super::assert_hidden("mallory", status, &body, &["alice\""]);
}

/// The bootstrap admin key's user id.
const BOOTSTRAP_ADMIN: &str = "admin";

/// A user-role token for an IdP subject that happens to be `admin`.
fn impostor() -> String {
    super::jwt(BOOTSTRAP_ADMIN, &[])
}

#[tokio::test]
async fn a_jwt_naming_the_bootstrap_admin_is_refused_on_rest_and_mcp_and_changes_nothing() {
    let w = world().await;
    let app = &w.app;
    // The admin's own private server, with a secret header, connected in
    // the admin's session.
    let upstream = crate::support::upstreams::FixtureHttp::start();
    let (status, body) = app
        .post(
            "/api/v1/servers",
            &app.admin_key,
            json!({"name": "admin-priv", "transport": "streamable_http",
                   "url": upstream.url(), "is_public": false,
                   "headers": {"X-Admin-Secret": "admin-upstream-secret"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["owner"], BOOTSTRAP_ADMIN, "{body}");
    connect(app, "admin-priv", &app.admin_key).await;

    // With or without an admin role: only the bootstrap key acts as `admin`.
    for token in [impostor(), super::jwt(BOOTSTRAP_ADMIN, &["admin"])] {
        let (status, body) = app.get("/api/v1/me", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(code(&body), "unauthorized");
        let (status, _) = app.get("/api/v1/servers/admin-priv", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = app.get("/api/v1/session/tools", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = app.delete(&format!("/api/v1/servers/{PUB}"), &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let response = app
            .mcp_post("/mcp", Some(&token), None, &initialize(SESSION_REVISION))
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Nothing moved: the public server is there, the admin's session intact.
    let (status, _) = app
        .get(&format!("/api/v1/servers/{PUB}"), &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, tools) = app.get("/api/v1/session/tools", &app.admin_key).await;
    assert!(
        super::tool_servers(&tools).contains(&"admin-priv".to_owned()),
        "{tools}"
    );
}

#[tokio::test]
async fn a_user_token_cannot_change_or_delete_public_servers() {
    let w = world().await;
    let app = &w.app;
    let token = super::jwt("mallory", &[]);
    let (status, body) = app
        .post("/api/v1/categories", &token, json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // DESIGN: "Admin role: categories, public servers, stdio servers".
    let (status, body) = app
        .patch(
            &format!("/api/v1/servers/{PUB}"),
            &token,
            json!({"description": "taken over"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app.delete(&format!("/api/v1/servers/{PUB}"), &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app
        .get(&format!("/api/v1/servers/{PUB}"), &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::OK, "the public server is still there");
}

#[tokio::test]
async fn one_users_exhausted_rate_limit_never_throttles_another_and_forged_tokens_spend_nothing() {
    let app = crate::support::app::spawn_app_with(|s| {
        s.auth.jwt.hs256_secret = manifold::secret::Secret::new(super::SECRET.to_string());
        s.auth.jwt.issuer = super::ISSUER.into();
        s.auth.jwt.audience = super::AUDIENCE.into();
        s.auth.anonymous.enabled = true;
        s.limits.user_per_second = 1;
        s.limits.user_burst = 3;
        s.limits.anonymous_per_second = 1;
        s.limits.anonymous_burst = 3;
    })
    .await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;

    // Bob (by key and JWT: one bucket) and an anonymous client run dry.
    let bob_jwt = super::jwt("bob", &[]);
    let mut throttled = false;
    for i in 0..10 {
        let key = if i % 2 == 0 { &bob } else { &bob_jwt };
        let (status, _) = app.get("/api/v1/me", key).await;
        throttled |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(throttled, "bob was never throttled");
    let mut anon_throttled = false;
    for _ in 0..10 {
        let (status, _) = app.call(Method::GET, "/api/v1/me", None, None).await;
        anon_throttled |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(anon_throttled, "the anonymous client was never throttled");
    // Forged and expired tokens naming alice are refused before any bucket.
    for (what, token) in broken_tokens_for_alice() {
        for _ in 0..3 {
            let (status, _) = app.get("/api/v1/me", &token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        }
    }

    // Alice still has her whole burst, on REST and on /mcp.
    for _ in 0..2 {
        let (status, body) = app.get("/api/v1/me", &alice).await;
        assert_eq!(status, StatusCode::OK, "alice throttled by others: {body}");
    }
    let resp = app
        .mcp_post("/mcp", Some(&alice), None, &initialize(SESSION_REVISION))
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "alice throttled on /mcp");
}
