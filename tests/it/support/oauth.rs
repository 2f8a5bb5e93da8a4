//! Upstream OAuth in tests: `mcp-fixture` in OAuth mode (`FIXTURE_OAUTH=1`),
//! a protected MCP server that is also its own authorization server, with
//! its test hooks; the end user's side of the authorization-code flow
//! through the gateway; and what the upstream saw of a call.

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use rmcp::service::{Peer, RoleClient};
use serde_json::{Value, json};

use crate::support::app::{TestApp, code};
use crate::support::mcp::{call, initialize};
use crate::support::upstreams::FixtureHttp;

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

    /// `/admin/counters` (revocations, metadata requests, …).
    pub async fn counters(&self) -> Value {
        self.get_json(&self.admin_url("counters")).await
    }

    /// `/admin/refreshes`: refresh grants `(granted, rejected)`.
    pub async fn refreshes(&self) -> (u64, u64) {
        let body = self.get_json(&self.admin_url("refreshes")).await;
        let count = |k: &str| body[k].as_u64().unwrap_or_else(|| panic!("{k}: {body}"));
        (count("granted"), count("rejected"))
    }

    /// The status of an `initialize` sent straight to the fixture's `/mcp`
    /// with `token` (none: no `Authorization`), and its `WWW-Authenticate`.
    pub async fn mcp_status(&self, token: Option<&str>) -> (StatusCode, Option<String>) {
        let mut req = self
            .client
            .post(self.mcp_url())
            .header("Accept", "application/json, text/event-stream")
            .json(&initialize("2025-06-18"));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request to the fixture sent");
        let challenge = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (resp.status(), challenge)
    }

    /// A form POST to the token endpoint: its status and JSON body.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self.form_post("token", form).await;
        let status = resp.status();
        (status, resp.json().await.expect("JSON"))
    }

    /// A form POST to the revocation endpoint: its status.
    pub async fn revoke(&self, form: &[(&str, &str)]) -> StatusCode {
        self.form_post("revoke", form).await.status()
    }

    async fn form_post(&self, endpoint: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.client
            .post(format!("{}/{endpoint}", self.origin()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /{endpoint}: {e}"))
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

/// `key`'s connect of `server` on `app` must answer 403 `oauth_required`;
/// returns the authorization URL it carries.
pub async fn oauth_required(app: &TestApp, server: &str, key: &str) -> String {
    let (status, body) = app.session_action("connect", server, key).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "oauth_required"),
        "{body}"
    );
    body["error"]["authorization_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no authorization_url: {body}"))
        .to_owned()
}

/// `user` approves `authorization_url` at the fixture and their browser
/// follows the redirect to `app`'s callback, which must answer 200. Returns
/// the callback's body.
pub async fn finish_authorization(app: &TestApp, authorization_url: &str, user: &str) -> Value {
    let (callback, status, body) = follow_to_callback(authorization_url, user).await;
    assert!(
        callback.starts_with(&app.url("/oauth/callback?")),
        "the authorization server sends {user} back to the gateway: {callback}"
    );
    assert_eq!(status, StatusCode::OK, "{user}'s callback: {body}");
    body
}

/// `user` (API key `key`) authorizes `server` through `app`: the connect
/// answers `oauth_required` with a URL, the user approves at the fixture, and
/// the gateway's callback answers 200. Returns the callback's body.
pub async fn authorize_through(app: &TestApp, server: &str, key: &str, user: &str) -> Value {
    let url = oauth_required(app, server, key).await;
    finish_authorization(app, &url, user).await
}

/// An admin-made public server `name` over the fixture's `/mcp` that needs
/// OAuth; its id.
pub async fn add_oauth_server(app: &TestApp, fx: &OAuthFixture, name: &str) -> String {
    let (status, created) = app
        .post(
            "/api/v1/servers",
            &app.admin_key,
            json!({"name": name, "transport": "streamable_http", "url": fx.mcp_url(),
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

/// `whoami`'s structured output through `client` (`tool`: its full name);
/// the call must succeed.
pub async fn whoami(client: &Peer<RoleClient>, tool: &str) -> Value {
    let result = client
        .call_tool(call(tool, json!({})))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    result.structured_content.expect("whoami answers JSON")
}

/// The bearer token a `whoami` answer saw.
pub fn bearer(seen: &Value) -> String {
    seen["authorization"]
        .as_str()
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("no bearer token reached the upstream: {seen}"))
        .to_owned()
}
