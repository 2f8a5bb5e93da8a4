//! Who is calling: the checks that turn credentials into a
//! [`Principal`](crate::principal::Principal). An `mfk_` bearer token is an
//! API key ([`api_key`]), any other bearer token a JWT ([`jwt`], when
//! configured), and no `Authorization` header an anonymous session
//! ([`anonymous`], when enabled). The edges' shared `http::authenticate` is
//! the one place a request is run through them, for every HTTP surface.
//!
//! Only inbound identity lives here: Manifold's own OAuth authorizations to
//! upstream servers are outbound, in [`crate::upstream::oauth`].

pub mod anonymous;
pub mod api_key;
pub mod jwt;
pub mod keys;
pub mod revocation;
mod verified;

/// The ways a request may authenticate besides API keys, built once from
/// the settings.
pub struct Authenticator {
    /// `None` when JWTs are off.
    pub jwt: Option<jwt::JwtVerifier>,
    /// `None` when anonymous sessions are off.
    pub anonymous: Option<anonymous::Anonymous>,
}

impl Authenticator {
    /// JWT and anonymous checks as configured. The anonymous key derives
    /// from the server secret; if that cannot be read, a random key is used
    /// (ids then change on restart) and a warning is logged.
    pub fn new(settings: &crate::config::Settings) -> Self {
        let auth = &settings.auth;
        let anonymous = auth
            .anonymous
            .enabled
            .then(|| anonymous_key(settings))
            .flatten()
            .map(|key| anonymous::Anonymous::new(&key, auth.trusted_proxies.clone()));
        Self {
            jwt: jwt::JwtVerifier::new(&auth.jwt),
            anonymous,
        }
    }
}

/// The anonymous-session key, derived from the server secret (a random one,
/// with a warning, if it is unreadable; `None`, so anonymous access stays
/// off, if even the random generator fails).
fn anonymous_key(settings: &crate::config::Settings) -> Option<[u8; 32]> {
    match crate::secret::derive_key(
        settings.secrets.encryption_key.expose(),
        &settings.data_dir,
        anonymous::KEY_PURPOSE,
    ) {
        Ok(key) => Some(key),
        Err(err) => {
            tracing::warn!(error = %err, "anonymous sessions use a random key: the server secret is unreadable");
            crate::secret::random_bytes::<32>().ok()
        }
    }
}
