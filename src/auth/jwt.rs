//! JWT bearer tokens beside API keys: HS256 with `auth.jwt.hs256_secret`,
//! or RS256/ES256 (and their 384/512 siblings) verified against the keys of
//! `auth.jwt.jwks_url`. `iss` and `aud` are checked when configured, `exp`
//! always and `nbf` when present, with `auth.jwt.leeway_seconds` of skew.
//! `sub` is the user id; `admin` among the roles claim makes an admin.
//!
//! The JWKS is fetched on first use and kept; it is fetched again when it is
//! older than [`JWKS_MAX_AGE`] or a token names an unknown `kid`, but never
//! more often than `auth.jwt.jwks_refetch_seconds`, so a flood of made-up
//! key ids cannot hammer the identity provider.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::verified::{self, Verified};
use crate::config::JwtSettings;
use crate::error::Error;
use crate::ids::SessionId;
use crate::principal::{Credential, Principal, Role, parse_user_id};

/// A fetched JWKS is refreshed on the next token after this long.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// Time allowed for one JWKS fetch.
const JWKS_TIMEOUT: Duration = Duration::from_secs(10);
/// Signature algorithms accepted from JWKS keys.
const ASYMMETRIC: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Checks JWTs and turns them into principals.
pub struct JwtVerifier {
    hs256: Option<DecodingKey>,
    jwks: Option<Jwks>,
    issuer: String,
    audience: String,
    roles_claim: String,
    leeway: u64,
    /// Tokens already verified, until they expire.
    verified: Verified,
}

impl JwtVerifier {
    /// A verifier for `settings`, or `None` when neither a secret nor a JWKS URL is set.
    pub fn new(settings: &JwtSettings) -> Option<Self> {
        let hs256 = (!settings.hs256_secret.is_empty())
            .then(|| DecodingKey::from_secret(settings.hs256_secret.expose().as_bytes()));
        let jwks = (!settings.jwks_url.is_empty()).then(|| Jwks {
            url: settings.jwks_url.clone(),
            client: reqwest::Client::new(),
            min_refetch: Duration::from_secs(settings.jwks_refetch_seconds),
            cache: tokio::sync::Mutex::default(),
            generation: AtomicU64::new(0),
        });
        if hs256.is_none() && jwks.is_none() {
            return None;
        }
        Some(Self {
            hs256,
            jwks,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            roles_claim: settings.roles_claim.clone(),
            leeway: settings.leeway_seconds,
            verified: Verified::default(),
        })
    }

    /// The principal a token stands for, or 401 with a short reason.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, Error> {
        let digest = verified::digest(token);
        let jwks_fetch = self.jwks.as_ref().map_or(0, Jwks::generation);
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(principal) = self.verified.get(&digest, now, self.leeway, jwks_fetch) {
            return Ok(principal);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("the bearer token is neither an API key nor a JWT"))?;
        let (key, keys) = if header.alg == Algorithm::HS256 {
            let key = self
                .hs256
                .clone()
                .ok_or_else(|| unauthorized("HS256 tokens are not accepted"))?;
            (key, None)
        } else if ASYMMETRIC.contains(&header.alg) {
            let jwks = self
                .jwks
                .as_ref()
                .ok_or_else(|| unauthorized("only HS256 tokens are accepted"))?;
            let (key, fetch) = jwks.key(header.kid.as_deref(), header.alg).await?;
            (key, Some(fetch))
        } else {
            return Err(unauthorized("the token's algorithm is not accepted"));
        };
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &self.validation(header.alg))
                .map_err(|e| unauthorized(reason(e.kind())))?;
        let principal = self.principal(&data.claims)?;
        // `exp` is required and checked above; a token whose `exp` is not
        // a whole number is verified every time.
        if let Some(exp) = data.claims.get("exp").and_then(Value::as_u64) {
            let (fetch, refresh_by) = match keys {
                Some(fetch) => (Some(fetch.generation), Some(fetch.refresh_by)),
                None => (None, None),
            };
            self.verified
                .put(digest, principal.clone(), exp, fetch, refresh_by);
        }
        Ok(principal)
    }

    /// The principal the verified `claims` stand for.
    fn principal(&self, claims: &Map<String, Value>) -> Result<Principal, Error> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| unauthorized("the token has no `sub` claim"))?;
        let user_id = parse_user_id(sub)
            .map_err(|_| unauthorized("the token's `sub` is not a valid user id"))?;
        if user_id == super::api_key::BOOTSTRAP_ADMIN {
            return Err(unauthorized(
                "the token's `sub` names the bootstrap admin, which only its API key may act as",
            ));
        }
        let role = if roles(claims, &self.roles_claim).any(|r| r == "admin") {
            Role::Admin
        } else {
            Role::User
        };
        let issuer = claims.get("iss").and_then(Value::as_str).map(str::to_owned);
        Ok(Principal {
            session: SessionId::parse(&user_id)?,
            user_id,
            role,
            credential: Credential::Jwt { issuer },
        })
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if self.issuer.is_empty() {
            v.iss = None;
        } else {
            v.set_issuer(&[&self.issuer]);
            required.push("iss");
        }
        if self.audience.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&[&self.audience]);
            required.push("aud");
        }
        v.set_required_spec_claims(&required);
        v
    }
}

/// The roles in `claim` (exact name first, then a dotted path such as
/// `realm_access.roles`): an array of strings or a space-separated string.
fn roles<'a>(claims: &'a Map<String, Value>, claim: &str) -> impl Iterator<Item = &'a str> {
    let value = claims.get(claim).or_else(|| {
        let mut parts = claim.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |v, p| v.get(p))
    });
    let list: Vec<&str> = match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => s.split_whitespace().collect(),
        _ => Vec::new(),
    };
    list.into_iter()
}

fn unauthorized(reason: &str) -> Error {
    Error::Unauthorized(reason.to_owned())
}

/// A short reason for a failed check (never the token).
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidSignature => "the token's signature is not valid",
        ErrorKind::InvalidAudience => "the token is meant for another audience",
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
        ErrorKind::MissingRequiredClaim(_) => {
            "the token lacks a required claim (exp, sub, iss, aud)"
        }
        ErrorKind::InvalidAlgorithm => "the token's algorithm does not match its key",
        _ => "the token is not valid",
    }
}

/// The identity provider's keys, fetched lazily.
struct Jwks {
    url: String,
    client: reqwest::Client,
    min_refetch: Duration,
    cache: tokio::sync::Mutex<JwksCache>,
    /// Counts the successful fetches: tokens verified with an earlier
    /// fetch's keys are verified again.
    generation: AtomicU64,
}

/// Which fetch of the JWKS gave a key, and when it is due again.
struct Fetch {
    generation: u64,
    refresh_by: Instant,
}

#[derive(Default)]
struct JwksCache {
    /// Keys by `kid`, with the algorithm the JWKS pins them to, if any.
    keys: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    /// The only key, when the set has exactly one (tokens may omit `kid`).
    single: Option<(DecodingKey, Option<Algorithm>)>,
    /// When a fetch was last attempted (successful or not).
    attempted: Option<Instant>,
    fetched: Option<Instant>,
}

impl Jwks {
    /// The current fetch (0 before the first).
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The key for `kid` (refetching at most once per `min_refetch`), and
    /// the fetch it came from.
    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<(DecodingKey, Fetch), Error> {
        let mut cache = self.cache.lock().await;
        let may_fetch = cache
            .attempted
            .is_none_or(|at| at.elapsed() >= self.min_refetch);
        let stale = cache.fetched.is_none_or(|at| at.elapsed() >= JWKS_MAX_AGE);
        let known = lookup(&cache, kid).is_some();
        if may_fetch && (stale || !known) {
            self.fetch(&mut cache).await;
        }
        let (key, pinned) = lookup(&cache, kid).ok_or_else(|| {
            if cache.fetched.is_none() {
                Error::unavailable("identity provider", "the JWKS could not be fetched")
            } else {
                unauthorized("the token's key id (kid) is not known")
            }
        })?;
        if pinned.is_some_and(|p| p != alg) {
            return Err(unauthorized("the token's algorithm does not match its key"));
        }
        // Fetched, since a key was found.
        let fetched = cache.fetched.unwrap_or_else(Instant::now);
        Ok((
            key,
            Fetch {
                generation: self.generation(),
                refresh_by: fetched + JWKS_MAX_AGE,
            },
        ))
    }

    /// Fetches the set; on failure keeps the keys it had.
    async fn fetch(&self, cache: &mut JwksCache) {
        cache.attempted = Some(Instant::now());
        let set = match self.download().await {
            Ok(set) => set,
            Err(err) => {
                tracing::warn!(url = %self.url, error = %err, "could not fetch the JWKS");
                return;
            }
        };
        let mut keys = HashMap::new();
        let mut all = Vec::new();
        for jwk in &set.keys {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let pinned = jwk
                .common
                .key_algorithm
                .and_then(|a| Algorithm::try_from(a).ok());
            if let Some(kid) = &jwk.common.key_id {
                keys.insert(kid.clone(), (key.clone(), pinned));
            }
            all.push((key, pinned));
        }
        tracing::info!(url = %self.url, keys = all.len(), "fetched the JWKS");
        cache.single = if all.len() == 1 { all.pop() } else { None };
        cache.keys = keys;
        cache.fetched = Some(Instant::now());
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    async fn download(&self) -> Result<JwkSet, reqwest::Error> {
        self.client
            .get(&self.url)
            .timeout(JWKS_TIMEOUT)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
}

fn lookup(cache: &JwksCache, kid: Option<&str>) -> Option<(DecodingKey, Option<Algorithm>)> {
    match kid {
        Some(kid) => cache.keys.get(kid).cloned(),
        None => cache.single.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_come_from_an_array_a_string_or_a_dotted_path() {
        let claims = |v: Value| v.as_object().unwrap().clone();
        let a = claims(json!({"roles": ["user", "admin"]}));
        assert_eq!(roles(&a, "roles").collect::<Vec<_>>(), ["user", "admin"]);
        let s = claims(json!({"scope": "read admin"}));
        assert!(roles(&s, "scope").any(|r| r == "admin"));
        let nested = claims(json!({"realm_access": {"roles": ["admin"]}}));
        assert!(roles(&nested, "realm_access.roles").any(|r| r == "admin"));
        assert_eq!(roles(&a, "missing").count(), 0);
    }
}
