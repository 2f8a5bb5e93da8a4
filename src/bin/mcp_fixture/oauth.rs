//! `FIXTURE_OAUTH=1`: the fixture is its own OAuth 2.1 authorization server
//! and a protected MCP resource, so tests can drive a real authorization-code
//! flow (PKCE S256, dynamic client registration, refresh-token rotation)
//! against real HTTP without an identity provider.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /.well-known/oauth-protected-resource[/mcp]` | RFC 9728 metadata of `/mcp` |
//! | `GET /.well-known/oauth-authorization-server` | RFC 8414 metadata |
//! | `POST /register` | RFC 7591 registration of public clients |
//! | `GET /authorize` | auto-approves for the user named by `login_hint` or `X-Fixture-User` |
//! | `POST /token` | `authorization_code` and `refresh_token` grants |
//! | `POST /revoke` | RFC 7009 revocation (left out of the metadata with `FIXTURE_OAUTH_NO_REVOKE=1`) |
//! | `/mcp` | 401 + `WWW-Authenticate` without a live access token |
//! | `POST /admin/expire-access-tokens` | every access token stops working; refresh tokens stay |
//! | `GET /admin/stats` | counts of registrations, authorizations, exchanges, refreshes |
//! | `GET /admin/refreshes` | refreshes granted and refused (`invalid_grant`) |
//! | `GET /admin/issued` | every access and refresh token ever issued (leak checks) |
//! | `GET /admin/counters` | revocations per token type, metadata documents served |
//!
//! Tokens are opaque random strings kept in memory; the access-token
//! lifetime is `FIXTURE_OAUTH_TOKEN_TTL` seconds (default 3600).
//! `FIXTURE_OAUTH_REFRESH_DELAY_MS` holds every `refresh_token` grant that
//! long before it is looked at, so concurrent refreshes overlap. An
//! authorized `/mcp` request carries [`OAuthUser`] in its extensions, which
//! `whoami` reports as `oauth_user`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

#[path = "oauth_admin.rs"]
mod admin;
#[path = "oauth_grants.rs"]
mod grants;
#[path = "oauth_revoke.rs"]
mod revoke;

/// Default access-token lifetime in seconds.
const DEFAULT_TTL_SECS: u64 = 3600;
/// How long an authorization code may wait for its exchange.
const CODE_TTL: Duration = Duration::from_secs(300);

/// The end user an access token was issued to; set as a request extension
/// on every authorized `/mcp` request.
#[derive(Debug, Clone)]
pub struct OAuthUser(pub String);

/// `FIXTURE_OAUTH` and `FIXTURE_OAUTH_TOKEN_TTL`: `None` when OAuth is off.
pub fn ttl_from_env() -> anyhow::Result<Option<Duration>> {
    let on = std::env::var("FIXTURE_OAUTH")
        .map(|v| matches!(v.trim(), "1" | "true" | "yes"))
        .unwrap_or(false);
    if !on {
        return Ok(None);
    }
    let secs = match std::env::var("FIXTURE_OAUTH_TOKEN_TTL") {
        Ok(raw) if !raw.trim().is_empty() => raw
            .trim()
            .parse::<u64>()
            .with_context(|| format!("FIXTURE_OAUTH_TOKEN_TTL={raw:?} is not a number"))?,
        _ => DEFAULT_TTL_SECS,
    };
    Ok(Some(Duration::from_secs(secs)))
}

/// Puts `/mcp` (the only route of `mcp`) behind bearer tokens and adds the
/// authorization server's routes. `local` is the bound address; an
/// unspecified one is published as loopback.
pub fn protect(mcp: Router, local: SocketAddr, ttl: Duration) -> Router {
    let mut public = local;
    if public.ip().is_unspecified() {
        public.set_ip(match local {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let state = AuthServer::new(format!("http://{public}"), ttl, !revoke::disabled_by_env());
    let mcp = mcp.layer(middleware::from_fn_with_state(state.clone(), require_token));
    let oauth = Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(server_metadata),
        )
        .route("/register", post(grants::register))
        .route("/authorize", get(grants::authorize))
        .route("/token", post(grants::token))
        .route("/revoke", post(revoke::revoke))
        .route(
            "/admin/expire-access-tokens",
            post(admin::expire_access_tokens),
        )
        .route("/admin/stats", get(admin::stats))
        .route("/admin/refreshes", get(admin::refreshes))
        .route("/admin/issued", get(admin::issued))
        .route("/admin/counters", get(revoke::counters))
        .with_state(state);
    mcp.merge(oauth)
}

/// The authorization server's state: a cheap handle.
#[derive(Clone)]
struct AuthServer {
    shared: Arc<Shared>,
}

struct Shared {
    /// `http://host:port`: the issuer and the origin of every endpoint.
    origin: String,
    ttl: Duration,
    /// `FIXTURE_OAUTH_REFRESH_DELAY_MS`: the pause before a refresh grant.
    refresh_delay: Duration,
    /// Whether the metadata advertises `revocation_endpoint`.
    revocation: bool,
    rng: SystemRandom,
    store: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    /// client_id → registered redirect URIs.
    clients: HashMap<String, Vec<String>>,
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, AccessGrant>,
    refresh: HashMap<String, RefreshGrant>,
    issued_access: Vec<String>,
    issued_refresh: Vec<String>,
    stats: Stats,
    counters: revoke::Counters,
}

#[derive(Default, Clone, Copy)]
struct Stats {
    registrations: u64,
    authorizations: u64,
    token_exchanges: u64,
    refreshes: u64,
    /// Refresh grants refused with `invalid_grant`.
    refresh_rejections: u64,
}

/// What an authorization code stands for until its (single) exchange.
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    user: String,
    scope: Option<String>,
    expires: Instant,
}

/// Tokens of one authorization grant share its `grant` id (kept across
/// refreshes), so revoking a refresh token can end its access tokens too.
struct AccessGrant {
    client_id: String,
    grant: String,
    user: String,
    expires: Instant,
}

struct RefreshGrant {
    client_id: String,
    grant: String,
    user: String,
    scope: Option<String>,
}

impl AuthServer {
    fn new(origin: String, ttl: Duration, revocation: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                origin,
                ttl,
                refresh_delay: refresh_delay_from_env(),
                revocation,
                rng: SystemRandom::new(),
                store: Mutex::default(),
            }),
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// The protected resource: the MCP endpoint's URL.
    fn resource(&self) -> String {
        format!("{}/mcp", self.shared.origin)
    }

    /// An opaque random token: `prefix` + 32 random bytes, base64url.
    fn random(&self, prefix: &str) -> String {
        let mut bytes = [0u8; 32];
        if self.shared.rng.fill(&mut bytes).is_err() {
            // The system RNG does not fail on Linux; make it loud if it does.
            tracing::error!("system random generator failed");
        }
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Issues an access token and a refresh token to `user` under `grant`;
    /// the token response.
    fn issue(
        &self,
        store: &mut Store,
        client_id: &str,
        grant: &str,
        user: &str,
        scope: Option<String>,
    ) -> Value {
        let access = self.random("fxat_");
        let refresh = self.random("fxrt_");
        store.access.insert(
            access.clone(),
            AccessGrant {
                client_id: client_id.to_owned(),
                grant: grant.to_owned(),
                user: user.to_owned(),
                expires: Instant::now() + self.shared.ttl,
            },
        );
        store.refresh.insert(
            refresh.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                grant: grant.to_owned(),
                user: user.to_owned(),
                scope: scope.clone(),
            },
        );
        store.issued_access.push(access.clone());
        store.issued_refresh.push(refresh.clone());
        let mut body = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.shared.ttl.as_secs(),
            "refresh_token": refresh,
        });
        if let Some(scope) = scope {
            body["scope"] = Value::String(scope);
        }
        body
    }
}

/// True when `verifier` is a well-formed RFC 7636 code verifier whose
/// S256 transform is `challenge`.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref()) == challenge
}

/// Two resource indicators name the same resource (a trailing `/` aside).
fn same_resource(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.as_str().trim_end_matches('/') == b.as_str().trim_end_matches('/'),
        _ => false,
    }
}

/// An OAuth error body (RFC 6749 §5.2) with `status`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    (status, no_store(), axum::Json(body)).into_response()
}

fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

fn seconds_since_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Middleware on `/mcp`: a live access token or 401 with the RFC 9728 pointer.
async fn require_token(
    State(server): State<AuthServer>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let user = presented.as_deref().and_then(|token| {
        let store = server.store();
        store
            .access
            .get(token)
            .filter(|grant| grant.expires > Instant::now())
            .map(|grant| grant.user.clone())
    });
    match user {
        Some(user) => {
            request.extensions_mut().insert(OAuthUser(user));
            next.run(request).await
        }
        None => {
            let metadata = format!(
                "{}/.well-known/oauth-protected-resource/mcp",
                server.origin()
            );
            let challenge = match presented {
                Some(_) => format!(
                    "Bearer error=\"invalid_token\", error_description=\"unknown or expired access token\", resource_metadata=\"{metadata}\""
                ),
                None => format!("Bearer resource_metadata=\"{metadata}\""),
            };
            let mut response = (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "invalid_token"})),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            response
        }
    }
}

async fn resource_metadata(State(server): State<AuthServer>) -> axum::Json<Value> {
    server.store().counters.resource_metadata += 1;
    axum::Json(json!({
        "resource": server.resource(),
        "authorization_servers": [server.origin()],
        "bearer_methods_supported": ["header"],
        "resource_name": "mcp-fixture",
    }))
}

async fn server_metadata(State(server): State<AuthServer>) -> axum::Json<Value> {
    server.store().counters.server_metadata += 1;
    let origin = server.origin();
    let mut metadata = json!({
        "issuer": origin,
        "authorization_endpoint": format!("{origin}/authorize"),
        "token_endpoint": format!("{origin}/token"),
        "registration_endpoint": format!("{origin}/register"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "authorization_response_iss_parameter_supported": true,
    });
    if server.shared.revocation {
        metadata["revocation_endpoint"] = Value::String(format!("{origin}/revoke"));
    }
    axum::Json(metadata)
}

/// The client a token-endpoint-style request names: `client_id` in the
/// form (public clients) or the HTTP Basic user.
fn client_of(form: &HashMap<String, String>, headers: &HeaderMap) -> Option<String> {
    form.get("client_id")
        .filter(|v| !v.is_empty())
        .cloned()
        .or_else(|| basic_user(headers))
}

/// The answer to a request that names no client.
fn client_required() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client_id is required",
    )
}

/// The user part of an HTTP Basic `Authorization` header.
fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let user = decoded.split(':').next()?;
    let user = url::form_urlencoded::parse(format!("u={user}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    (!user.is_empty()).then_some(user)
}

/// `FIXTURE_OAUTH_REFRESH_DELAY_MS`, zero when unset or unreadable.
fn refresh_delay_from_env() -> Duration {
    std::env::var("FIXTURE_OAUTH_REFRESH_DELAY_MS")
        .ok()
        .and_then(|raw| raw.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;
