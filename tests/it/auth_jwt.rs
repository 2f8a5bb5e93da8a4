//! JWT bearer tokens beside API keys: HS256 with a shared secret and ES256
//! against a real JWKS served over HTTP (with key rotation), on REST and
//! `/mcp` alike; every broken token is a 401 `unauthorized`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, code, spawn_app_with};
use crate::support::mcp::{initialize, mcp_client};
use crate::support::rest::add_fixture;

const SECRET: &str = "test-shared-secret-of-reasonable-length";
const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "manifold";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims for `sub` that pass every check, with `roles`.
fn claims(sub: &str, roles: &[&str]) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 300, "roles": roles})
}

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token signs")
}

async fn hs256_app() -> TestApp {
    spawn_app_with(|s| {
        s.auth.jwt.hs256_secret = manifold::secret::Secret::new(SECRET.to_string());
        s.auth.jwt.issuer = ISSUER.into();
        s.auth.jwt.audience = AUDIENCE.into();
    })
    .await
}

/// Status and error code of an `initialize` POST to `/mcp` with `token`.
async fn mcp_initialize(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let resp = app
        .mcp_post("/mcp", Some(token), None, &initialize("2025-06-18"))
        .await;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn a_valid_hs256_token_names_the_user_on_rest_and_works_on_mcp() {
    let app = hs256_app().await;
    let token = hs256(&claims("alice", &["reader"]), SECRET);
    let (status, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], "alice");
    assert_eq!(me["role"], "user");
    assert_eq!(me["auth"], "jwt");
    assert_eq!(me["session"], "alice");

    // A user token cannot do admin things.
    let (status, _) = app
        .post("/api/v1/categories", &token, json!({"name": "c"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    add_fixture(&app, "fx").await;
    let (status, body) = app.session_action("connect", "fx", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let client = mcp_client(&app, "/mcp", &token).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "fx__echo"), "{tools:?}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn admin_in_the_roles_claim_makes_an_admin_as_array_or_string() {
    let app = hs256_app().await;
    let token = hs256(&claims("root", &["user", "admin"]), SECRET);
    let (_, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(me["role"], "admin");
    let (status, body) = app
        .post("/api/v1/categories", &token, json!({"name": "tools"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let mut spaced = claims("root2", &[]);
    spaced["roles"] = json!("ops admin");
    let (_, me) = app.get("/api/v1/me", &hs256(&spaced, SECRET)).await;
    assert_eq!(me["role"], "admin");
}

#[tokio::test]
async fn expired_forged_misaddressed_and_premature_tokens_get_401_everywhere() {
    let app = hs256_app().await;
    let with = |key: &str, value: Value| {
        let mut c = claims("alice", &[]);
        c[key] = value;
        hs256(&c, SECRET)
    };
    let cases = [
        ("expired", with("exp", json!(now() - 120)), "expired"),
        (
            "wrong signature",
            hs256(&claims("alice", &[]), "another-secret"),
            "signature",
        ),
        (
            "wrong audience",
            with("aud", json!("someone-else")),
            "audience",
        ),
        (
            "wrong issuer",
            with("iss", json!("https://evil.test")),
            "issuer",
        ),
        (
            "not yet valid",
            with("nbf", json!(now() + 600)),
            "not valid yet",
        ),
        (
            "no sub",
            {
                let mut c = claims("alice", &[]);
                c.as_object_mut().map(|m| m.remove("sub"));
                hs256(&c, SECRET)
            },
            "claim",
        ),
        (
            "anonymous-looking sub",
            with("sub", json!("anon_00")),
            "user id",
        ),
    ];
    for (what, token, reason) in cases {
        let (status, body) = app.get("/api/v1/me", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(code(&body), "unauthorized", "{what}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{what}: {message}");
        assert!(!body.to_string().contains(&token), "{what}: token echoed");
        let (status, body) = mcp_initialize(&app, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} on /mcp: {body}");
    }
    // API keys keep working beside JWTs.
    let (status, _) = app.get("/api/v1/me", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn without_jwt_settings_a_valid_looking_jwt_is_refused() {
    let app = spawn_app_with(|_| {}).await;
    let token = hs256(&claims("alice", &[]), SECRET);
    let (status, body) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

/// An ES256 key and its public JWK.
struct EcKey {
    kid: String,
    pkcs8: Vec<u8>,
    jwk: Value,
}

fn ec_key(kid: &str) -> EcKey {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("key generates");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .expect("key parses");
    // Uncompressed point: 0x04 ‖ x ‖ y.
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    EcKey {
        kid: kid.into(),
        pkcs8: pkcs8.as_ref().to_vec(),
        jwk,
    }
}

fn es256(key: &EcKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&key.pkcs8)).expect("signs")
}

/// A JWKS served over HTTP whose keys the test can replace; counts fetches.
struct Idp {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn idp(keys: Vec<Value>) -> Idp {
    let keys = Arc::new(Mutex::new(keys));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let (k, f) = (k.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                let keys = k.lock().map(|g| g.clone()).unwrap_or_default();
                axum::Json(json!({ "keys": keys }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    Idp {
        url: format!("http://{addr}/jwks.json"),
        keys,
        fetches,
    }
}

async fn jwks_app(idp: &Idp, refetch_seconds: u64) -> TestApp {
    let url = idp.url.clone();
    spawn_app_with(move |s| {
        s.auth.jwt.jwks_url = url;
        s.auth.jwt.issuer = ISSUER.into();
        s.auth.jwt.audience = AUDIENCE.into();
        s.auth.jwt.jwks_refetch_seconds = refetch_seconds;
    })
    .await
}

#[tokio::test]
async fn es256_tokens_verify_against_the_jwks_and_a_rotated_key_is_fetched() {
    let old = ec_key("k1");
    let idp = idp(vec![old.jwk.clone()]).await;
    let app = jwks_app(&idp, 0).await;

    let token = es256(&old, &old.kid, &claims("carol", &["admin"]));
    let (status, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (me["user_id"].as_str(), me["role"].as_str()),
        (Some("carol"), Some("admin"))
    );
    let client = mcp_client(&app, "/mcp", &token).await;
    client
        .list_all_tools()
        .await
        .expect("tools/list with an ES256 token");
    client.cancel().await.ok();

    // The provider rotates to a new key: its first token triggers a refetch.
    let new = ec_key("k2");
    *idp.keys.lock().expect("lock") = vec![new.jwk.clone()];
    let (status, me) = app
        .get("/api/v1/me", &es256(&new, &new.kid, &claims("carol", &[])))
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");

    // A kid the JWKS does not have, and a token signed with another key under a known kid.
    let stranger = ec_key("k9");
    for token in [
        es256(&stranger, "k9", &claims("carol", &[])),
        es256(&stranger, "k2", &claims("carol", &[])),
    ] {
        let (status, body) = app.get("/api/v1/me", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(code(&body), "unauthorized");
    }
    // HS256 is off when only a JWKS is configured.
    let (status, _) = app
        .get("/api/v1/me", &hs256(&claims("carol", &[]), SECRET))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_flood_of_unknown_key_ids_does_not_refetch_the_jwks() {
    let key = ec_key("k1");
    let idp = idp(vec![key.jwk.clone()]).await;
    let app = jwks_app(&idp, 30).await;
    let (status, _) = app
        .get("/api/v1/me", &es256(&key, "k1", &claims("dave", &[])))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);
    for i in 0..20 {
        let (status, body) = app
            .get(
                "/api/v1/me",
                &es256(&key, &format!("bogus{i}"), &claims("dave", &[])),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        1,
        "unknown kids within the refetch interval must not reach the provider"
    );
}

#[tokio::test]
async fn a_token_accepted_before_is_refused_once_it_expires() {
    let app = spawn_app_with(|s| {
        s.auth.jwt.hs256_secret = manifold::secret::Secret::new(SECRET.to_string());
        s.auth.jwt.leeway_seconds = 0;
    })
    .await;
    // `exp` is in whole seconds: this one ends within the next 2 s.
    let exp = now() + 2;
    let token = hs256(&json!({"sub": "erin", "exp": exp}), SECRET);
    for _ in 0..3 {
        let (status, me) = app.get("/api/v1/me", &token).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["user_id"], "erin");
    }
    while now() <= exp {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, body) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(code(&body), "unauthorized");
    assert!(
        body.to_string().contains("expired"),
        "the reason says why: {body}"
    );
}
