//! Per-user upstream OAuth against a real authorization server (the fixture's
//! OAuth mode): two users authorize the same public server, each call reaches
//! the upstream with that user's own token, tokens are refreshed after an
//! upstream 401, one user's revocation leaves the other alone, and no token
//! ends up in the catalog file or the logs.
//!
//! The first tests check the fixture itself with rmcp's own OAuth client and
//! raw requests, so a failure in the two-users test points at the gateway.

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use rmcp::transport::auth::{AuthorizationRequest, OAuthState};
use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app};
use crate::support::log::CapturedLog;
use crate::support::mcp::{Client, mcp_client, mcp_client_over};
use crate::support::oauth::{
    OAuthFixture, add_oauth_server, approve, bearer, finish_authorization, oauth_field,
    oauth_required, whoami,
};
use crate::support::rest::connect;

/// An MCP client straight to the fixture at `url` with `token`.
async fn upstream_client(url: &str, token: &str) -> Client {
    mcp_client_over(reqwest::Client::new(), url, Some(token)).await
}

#[tokio::test]
async fn the_oauth_fixture_completes_a_flow_with_rmcps_own_oauth_client() {
    let fx = OAuthFixture::start();
    let http = reqwest::Client::new();

    // Unauthenticated: 401 pointing at the RFC 9728 metadata, which names
    // the MCP URL and the fixture as its authorization server.
    let (status, challenge) = fx.mcp_status(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = challenge.expect("a WWW-Authenticate challenge");
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", fx.origin());
    assert_eq!(
        challenge,
        format!("Bearer resource_metadata=\"{metadata_url}\"")
    );
    let metadata: Value = http
        .get(&metadata_url)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(metadata["resource"], fx.mcp_url());
    assert_eq!(metadata["authorization_servers"], json!([fx.origin()]));

    // rmcp's client: discovery, dynamic registration, PKCE, code exchange.
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
    let location = approve(&url, "carol").await;
    assert!(
        location.starts_with("http://127.0.0.1:9/callback?"),
        "{location}"
    );
    oauth
        .handle_callback_url(&location)
        .await
        .expect("code exchange (with the RFC 9207 issuer check)");
    let manager = oauth.into_authorization_manager().expect("a manager");
    let token = manager.get_access_token().await.expect("access token");

    let client = upstream_client(&fx.mcp_url(), &token).await;
    let seen = whoami(&client, "whoami").await;
    assert_eq!(seen["oauth_user"], "carol", "{seen}");
    assert_eq!(bearer(&seen), token);
    client.cancel().await.expect("closed");

    // Expired access token: 401 with `invalid_token`; one refresh fixes it.
    fx.expire_access_tokens().await;
    let (status, challenge) = fx.mcp_status(Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = challenge.expect("a WWW-Authenticate challenge");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    manager.refresh_token().await.expect("refresh");
    let fresh = manager.get_access_token().await.expect("access token");
    assert_ne!(fresh, token);
    let client = upstream_client(&fx.mcp_url(), &fresh).await;
    assert_eq!(whoami(&client, "whoami").await["oauth_user"], "carol");
    client.cancel().await.expect("closed");

    assert_eq!(
        fx.stats().await,
        json!({"registrations": 1, "authorizations": 1, "token_exchanges": 1, "refreshes": 1})
    );
    let issued = fx.issued_tokens().await;
    assert_eq!(
        issued.len(),
        4,
        "two access and two refresh tokens: {issued:?}"
    );
    assert!(issued.contains(&token) && issued.contains(&fresh));
}

#[tokio::test]
async fn the_oauth_fixture_enforces_pkce_single_use_codes_and_refresh_rotation() {
    let fx = OAuthFixture::start_with_env(&[("FIXTURE_OAUTH_TOKEN_TTL", "120")]);
    let http = reqwest::Client::new();
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let redirect = "http://127.0.0.1:9/cb";
    let registered: Value = http
        .post(format!("{}/register", fx.origin()))
        .json(&json!({"client_name": "it", "redirect_uris": [redirect],
                      "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let client_id = registered["client_id"].as_str().expect("client_id");

    // RFC 7636, Appendix B.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let mcp = fx.mcp_url();
    let mut authorize = url::Url::parse(&format!("{}/authorize", fx.origin())).expect("url");
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", &mcp)
        .append_pair("state", "s1");
    // No end user: 400. The header names one as well as login_hint does.
    let resp = browser.get(authorize.as_str()).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let code_for = |location: &str| {
        let url = url::Url::parse(location).expect("location");
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs.get("state").map(String::as_str),
            Some("s1"),
            "{location}"
        );
        assert_eq!(pairs.get("iss"), Some(&fx.origin()), "{location}");
        pairs.get("code").cloned().expect("a code")
    };
    let resp = browser
        .get(authorize.as_str())
        .header("X-Fixture-User", "dave")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let first = code_for(resp.headers()["location"].to_str().expect("ascii"));

    let exchange = |code: &str, verifier: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("client_id", client_id.to_owned()),
            ("redirect_uri", redirect.to_owned()),
            ("resource", mcp.clone()),
            ("code", code.to_owned()),
            ("code_verifier", verifier.to_owned()),
        ]
    };
    let send = |form: Vec<(&'static str, String)>| {
        let fx = &fx;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            fx.token_request(&pairs).await
        }
    };
    // A wrong verifier burns the code (single use), as does a right one.
    let wrong = "x".repeat(43);
    let (status, body) = send(exchange(&first, &wrong)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = send(exchange(&first, verifier)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );

    let resp = browser
        .get(format!("{authorize}&login_hint=dave"))
        .send()
        .await
        .expect("sent");
    let second = code_for(resp.headers()["location"].to_str().expect("ascii"));
    let (status, tokens) = send(exchange(&second, verifier)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 120, "FIXTURE_OAUTH_TOKEN_TTL");
    let (status, _) = send(exchange(&second, verifier)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a code works once");

    // Refresh rotates: the old refresh token is spent.
    let old = tokens["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let refresh = |token: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", client_id.to_owned()),
            ("refresh_token", token.to_owned()),
        ]
    };
    let (status, rotated) = send(refresh(&old)).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);
    assert_ne!(rotated["access_token"], tokens["access_token"]);
    let (status, body) = send(refresh(&old)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        fx.stats().await,
        json!({"registrations": 1, "authorizations": 2, "token_exchanges": 1, "refreshes": 1})
    );
}

/// `POST /api/v1/servers/{id}/connect` must answer `oauth_required` with an
/// authorization URL at the fixture; returns that URL.
async fn expect_oauth_required(app: &TestApp, id: &str, key: &str, fx: &OAuthFixture) -> String {
    let url = oauth_required(app, id, key).await;
    assert!(
        url.starts_with(&format!("{}/authorize?", fx.origin())),
        "{url}"
    );
    url
}

/// The end user's browser: approve at the fixture as `user`, then follow the
/// redirect to the gateway's callback (no `Authorization` header), which
/// connected `server`.
async fn complete(app: &TestApp, authorization_url: &str, user: &str, server: &str) {
    let body = finish_authorization(app, authorization_url, user).await;
    assert_eq!(body["server"], server, "{body}");
    // The API notes say `connected`; connection statuses elsewhere are `CONNECTED`.
    assert!(
        body["status"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("connected")),
        "{body}"
    );
    assert_eq!(body["tool_count"], 7, "{body}");
}

#[tokio::test]
async fn two_users_authorize_one_oauth_server_and_each_reaches_it_with_their_own_token() {
    let log = CapturedLog::default();
    let _capture = log.install();
    let fx = OAuthFixture::start();
    let app = spawn_app().await;
    let name = "oauthfx";
    let id = add_oauth_server(&app, &fx, name).await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;

    // Both start before either finishes: each state is bound to its user.
    let alice_url = expect_oauth_required(&app, &id, &alice, &fx).await;
    let bob_url = expect_oauth_required(&app, &id, &bob, &fx).await;
    assert_eq!(oauth_field(&app, &alice, name).await, "required");
    complete(&app, &bob_url, "bob", name).await;
    complete(&app, &alice_url, "alice", name).await;
    for key in [&alice, &bob] {
        connect(&app, &id, key).await;
        assert_eq!(oauth_field(&app, key, name).await, "authorized");
    }

    let tool = format!("{name}__whoami");
    let alice_mcp = mcp_client(&app, "/mcp", &alice).await;
    let bob_mcp = mcp_client(&app, "/mcp", &bob).await;
    let seen_by_alice = whoami(&alice_mcp, &tool).await;
    let seen_by_bob = whoami(&bob_mcp, &tool).await;
    assert_eq!(seen_by_alice["oauth_user"], "alice", "{seen_by_alice}");
    assert_eq!(seen_by_bob["oauth_user"], "bob", "{seen_by_bob}");
    let (alice_token, bob_token) = (bearer(&seen_by_alice), bearer(&seen_by_bob));
    assert_ne!(alice_token, bob_token);
    let stats = fx.stats().await;
    assert_eq!(stats["authorizations"], 2, "{stats}");
    assert_eq!(stats["token_exchanges"], 2, "{stats}");
    assert_eq!(stats["refreshes"], 0, "{stats}");
    // The gateway registered itself once for this server, not per user.
    assert_eq!(stats["registrations"], 1, "{stats}");

    // Every access token dies upstream: the next call refreshes once and succeeds.
    fx.expire_access_tokens().await;
    let again_alice = whoami(&alice_mcp, &tool).await;
    let again_bob = whoami(&bob_mcp, &tool).await;
    assert_eq!(again_alice["oauth_user"], "alice", "{again_alice}");
    assert_eq!(again_bob["oauth_user"], "bob", "{again_bob}");
    assert_ne!(
        bearer(&again_alice),
        alice_token,
        "alice's token was refreshed"
    );
    assert_ne!(bearer(&again_bob), bob_token, "bob's token was refreshed");
    let stats = fx.stats().await;
    assert_eq!(stats["refreshes"], 2, "one refresh each: {stats}");
    assert_eq!(stats["token_exchanges"], 2, "no new authorization: {stats}");

    // Bob forgets his tokens: he must authorize again; alice is untouched.
    let (status, body) = app
        .delete(&format!("/api/v1/servers/{id}/oauth"), &bob)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    expect_oauth_required(&app, &id, &bob, &fx).await;
    assert_eq!(oauth_field(&app, &bob, name).await, "required");
    assert_eq!(oauth_field(&app, &alice, name).await, "authorized");
    let still_alice = whoami(&alice_mcp, &tool).await;
    assert_eq!(still_alice["oauth_user"], "alice", "{still_alice}");
    connect(&app, &id, &alice).await;

    // No token the authorization server issued is stored or logged in clear.
    let issued = fx.issued_tokens().await;
    assert!(issued.len() >= 8, "{issued:?}");
    let (_, server) = app
        .get(&format!("/api/v1/servers/{id}"), &app.admin_key)
        .await;
    let (_, alices_list) = app.get("/api/v1/session/servers", &alice).await;
    alice_mcp.cancel().await.expect("closed");
    bob_mcp.cancel().await.expect("closed");
    // Read while the app runs: its data folder goes away with it (the WAL
    // file is read too).
    let data_dir = app.dir.path().join("data");
    let mut catalog = Vec::new();
    for entry in std::fs::read_dir(&data_dir).expect("data folder") {
        let path = entry.expect("entry").path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if file.starts_with("manifold.db") {
            catalog.extend(std::fs::read(&path).expect("catalog file"));
        }
    }
    app.stop().await;
    assert!(
        catalog.windows(name.len()).any(|w| w == name.as_bytes()),
        "the SQLite catalog (with the server's name) is in {data_dir:?}"
    );
    let logged = log.text();
    if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
        eprintln!("{logged}");
    }
    assert!(logged.contains("manifold"), "the app's log was captured");
    // `whoami` answers with the headers it saw, bearer token included, and
    // rmcp logs every message at debug level: those echoes are the
    // upstream's own output, not the gateway handling a token.
    let logged: Vec<&str> = logged
        .lines()
        .filter(|line| !line.contains("oauth_user"))
        .collect();
    for token in &issued {
        let bytes = token.as_bytes();
        assert!(
            !catalog.windows(bytes.len()).any(|w| w == bytes),
            "a token is stored in clear in the catalog"
        );
        let leaks: Vec<&str> = logged
            .iter()
            .copied()
            .filter(|line| line.contains(token.as_str()))
            .collect();
        assert!(
            leaks.is_empty(),
            "a token is in the log:\n{}",
            leaks.join("\n")
        );
        assert!(!server.to_string().contains(token.as_str()), "{server}");
        assert!(
            !alices_list.to_string().contains(token.as_str()),
            "{alices_list}"
        );
    }
}
