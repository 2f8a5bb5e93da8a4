//! The `[auth]` settings: JWT bearer tokens, anonymous sessions and the
//! proxies whose forwarded headers are believed.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Settings};
use crate::net::IpRange;
use crate::secret::Secret;

/// How callers authenticate beside API keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Peers (IPs or CIDRs) whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: Vec<IpRange>,
    pub jwt: JwtSettings,
    pub anonymous: AnonymousSettings,
    pub oauth: OAuthSettings,
}

/// Manifold as an OAuth client of upstream servers (per-user authorization).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthSettings {
    /// How long a started authorization waits for its callback.
    pub flow_ttl_seconds: u64,
    /// `client_name` sent when registering with an authorization server.
    pub client_name: String,
    /// How long a server's authorization-server discovery is reused; 0 = off.
    pub discovery_cache_seconds: u64,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            flow_ttl_seconds: 600,
            client_name: "Manifold".into(),
            discovery_cache_seconds: 300,
        }
    }
}

/// JWT bearer tokens; accepted only when a secret or a JWKS URL is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtSettings {
    /// Shared secret for HS256 tokens; empty = HS256 off.
    #[serde(serialize_with = "crate::secret::redacted_unless_empty")]
    pub hs256_secret: Secret<String>,
    /// URL of the identity provider's JWKS (RS256/ES256 keys); empty = off.
    pub jwks_url: String,
    /// Required `iss`; empty = not checked.
    pub issuer: String,
    /// Required `aud`; empty = not checked.
    pub audience: String,
    /// Claim holding the roles (array of strings or a space-separated string).
    pub roles_claim: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// A token with an unknown `kid` refetches the JWKS at most this often.
    pub jwks_refetch_seconds: u64,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            hs256_secret: Secret::default(),
            jwks_url: String::new(),
            issuer: String::new(),
            audience: String::new(),
            roles_claim: "roles".into(),
            leeway_seconds: 30,
            jwks_refetch_seconds: 30,
        }
    }
}

/// Anonymous sessions for callers without credentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnonymousSettings {
    /// Requests without `Authorization` get an anonymous principal (public servers only).
    pub enabled: bool,
}

impl Settings {
    /// Checks the `auth` section.
    pub(super) fn validate_auth(&self) -> Result<(), ConfigError> {
        let jwt = &self.auth.jwt;
        if !jwt.jwks_url.is_empty() {
            let ok = url::Url::parse(&jwt.jwks_url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(ConfigError::new(
                    "auth.jwt.jwks_url",
                    "must be an http(s) URL, e.g. https://idp.example.com/.well-known/jwks.json",
                ));
            }
        }
        if jwt.roles_claim.trim().is_empty() {
            return Err(ConfigError::new(
                "auth.jwt.roles_claim",
                "must not be empty",
            ));
        }
        let oauth = &self.auth.oauth;
        if !(60..=86_400).contains(&oauth.flow_ttl_seconds) {
            return Err(ConfigError::new(
                "auth.oauth.flow_ttl_seconds",
                "must be between 60 and 86400",
            ));
        }
        if oauth.discovery_cache_seconds > 86_400 {
            return Err(ConfigError::new(
                "auth.oauth.discovery_cache_seconds",
                "must be between 0 (off) and 86400",
            ));
        }
        let name = oauth.client_name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(ConfigError::new(
                "auth.oauth.client_name",
                "must be 1-100 printable characters",
            ));
        }
        Ok(())
    }
}
