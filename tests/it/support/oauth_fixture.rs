//! `mcp-fixture` in OAuth mode (`FIXTURE_OAUTH=1`): a protected MCP server
//! that is also its own authorization server, plus its test hooks and the
//! end user's side of the authorization-code flow.

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::upstreams::{FixtureHttp, ServerProcess};

/// A running OAuth-protected fixture; stopped on Drop.
#[derive(Debug)]
pub struct OAuthFixture {
    http: FixtureHttp,
    client: reqwest::Client,
}

impl OAuthFixture {
    /// Starts the fixture with access tokens valid for an hour.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts the fixture with extra environment
    /// (`FIXTURE_OAUTH_TOKEN_TTL`, `FIXTURE_LOG`, …).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let mut all = vec![("FIXTURE_OAUTH", "1")];
        all.extend_from_slice(env);
        Self {
            http: FixtureHttp::start_with_env(&all),
            client: reqwest::Client::new(),
        }
    }

    /// `http://127.0.0.1:PORT`: the issuer and origin of every endpoint.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.http.port())
    }

    /// `http://127.0.0.1:PORT/mcp`: the protected resource.
    pub fn mcp_url(&self) -> String {
        self.http.url()
    }

    /// `/admin/{hook}` (`expire-access-tokens`, `stats`, `issued`).
    pub fn admin_url(&self, hook: &str) -> String {
        format!("{}/admin/{hook}", self.origin())
    }

    pub fn process(&self) -> &ServerProcess {
        self.http.process()
    }

    /// `{"registrations":n,"authorizations":n,"token_exchanges":n,"refreshes":n}`.
    pub async fn stats(&self) -> Value {
        self.get_json(&self.admin_url("stats")).await
    }

    /// Every access token stops working; refresh tokens stay valid.
    pub async fn expire_access_tokens(&self) {
        let resp = self
            .client
            .post(self.admin_url("expire-access-tokens"))
            .send()
            .await
            .expect("expire-access-tokens sent");
        assert_eq!(resp.status(), StatusCode::OK, "expire-access-tokens");
    }

    /// Every access and refresh token the fixture ever issued.
    pub async fn issued_tokens(&self) -> Vec<String> {
        let issued = self.get_json(&self.admin_url("issued")).await;
        ["access_tokens", "refresh_tokens"]
            .iter()
            .flat_map(|kind| issued[kind].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect()
    }

    async fn get_json(&self, url: &str) -> Value {
        let resp = self.client.get(url).send().await.expect("request sent");
        assert_eq!(resp.status(), StatusCode::OK, "GET {url}");
        resp.json().await.expect("a JSON body")
    }
}

/// The end user `user` approves `authorization_url` at the fixture: a GET
/// with `login_hint` appended, redirects not followed. Returns the
/// `Location` the authorization server sends the browser to (the client's
/// redirect URI with `code`, `state` and `iss`).
pub async fn approve(authorization_url: &str, user: &str) -> String {
    let mut url = url::Url::parse(authorization_url)
        .unwrap_or_else(|e| panic!("authorization URL {authorization_url:?}: {e}"));
    url.query_pairs_mut().append_pair("login_hint", user);
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("HTTP client");
    let resp = browser
        .get(url.as_str())
        .send()
        .await
        .expect("authorization request sent");
    let status = resp.status();
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match location {
        Some(location) if status == StatusCode::FOUND => location,
        _ => panic!(
            "the authorization server answered {status} without a redirect: {}",
            resp.text().await.unwrap_or_default()
        ),
    }
}

/// The end user's browser finishing a gateway authorization: approve at
/// the fixture as `user`, then follow the redirect to the gateway's
/// callback (no `Authorization` header, asking for JSON). Returns where the
/// fixture sent the browser, and the callback's status and body.
pub async fn follow_to_callback(
    authorization_url: &str,
    user: &str,
) -> (String, StatusCode, Value) {
    let callback = approve(authorization_url, user).await;
    let resp = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
        .get(&callback)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("callback sent");
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (callback, status, body)
}

/// `user` (API key `key`) authorizes `server` through `app`: the connect
/// answers `oauth_required` with a URL, the user approves at the fixture, and
/// the gateway's callback answers 200. Returns the callback's body.
pub async fn authorize_through(app: &TestApp, server: &str, key: &str, user: &str) -> Value {
    let (status, body) = app.session_action("connect", server, key).await;
    assert_eq!(
        (status, crate::support::app::code(&body)),
        (StatusCode::FORBIDDEN, "oauth_required"),
        "{body}"
    );
    let url = body["error"]["authorization_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no authorization_url: {body}"));
    let (callback, status, body) = follow_to_callback(url, user).await;
    assert!(
        callback.starts_with(&app.url("/oauth/callback?")),
        "the authorization server sends {user} back to the gateway: {callback}"
    );
    assert_eq!(status, StatusCode::OK, "{user}'s callback: {body}");
    body
}

/// An admin-made public server `name` over the fixture's `/mcp` that needs
/// OAuth; its id.
pub async fn add_oauth_server(app: &TestApp, fx: &OAuthFixture, name: &str) -> String {
    let (status, created) = app
        .post(
            "/api/v1/servers",
            &app.admin_key,
            serde_json::json!({"name": name, "transport": "streamable_http", "url": fx.mcp_url(),
                   "requires_oauth2": true, "is_public": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

/// The `oauth` field of server `server` (its id or name) in `key`'s session
/// list on `app`.
pub async fn oauth_field(app: &TestApp, key: &str, server: &str) -> Value {
    let (status, list) = app.get("/api/v1/session/servers", key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|i| i["id"] == server || i["name"] == server)
        })
        .map(|item| item["oauth"].clone())
        .unwrap_or_else(|| panic!("{server} is not in the session list: {list}"))
}
