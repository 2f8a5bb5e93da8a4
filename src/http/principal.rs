//! [`authenticate`]: the one function that turns a request into a
//! [`Principal`], used by the REST extractor below, by GraphQL and by the `/mcp`
//! middleware, so every surface sees the same principal. A handler that
//! takes a `Principal` argument only runs for an authenticated caller;
//! missing or bad credentials answer 401 with `WWW-Authenticate: Bearer`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::auth::api_key::KEY_PREFIX;
use crate::error::Error;
use crate::principal::Principal;
use crate::state::AppState;

/// The bearer token of a request, if it has a well-formed one.
pub fn bearer_token(parts: &Parts) -> Result<&str, Error> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| Error::Unauthorized("send `Authorization: Bearer <API key>`".into()))?;
    let value = header
        .to_str()
        .map_err(|_| Error::Unauthorized("the Authorization header is not valid text".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| Error::Unauthorized("expected `Authorization: Bearer <API key>`".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Error::Unauthorized(
            "expected `Authorization: Bearer <API key>`".into(),
        ));
    }
    Ok(token.trim())
}

/// Who sent the request: an API key (`mfk_…`), else a JWT when JWTs are
/// configured; without an `Authorization` header, an anonymous session when
/// those are enabled. Anything else is 401 `unauthorized`.
pub async fn authenticate(app: &AppState, parts: &Parts) -> Result<Principal, Error> {
    let auth = app.auth();
    if !parts.headers.contains_key(AUTHORIZATION)
        && let Some(anonymous) = &auth.anonymous
    {
        return anonymous.principal(parts, &app.settings().http.allowed_origins);
    }
    let token = bearer_token(parts)?;
    match &auth.jwt {
        Some(jwt) if !token.starts_with(KEY_PREFIX) => jwt.authenticate(token).await,
        _ => app.api_keys().authenticate(token).await,
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = crate::http::ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let principal = authenticate(state, parts).await?;
        tracing::Span::current().record("user", principal.user_id.as_str());
        state.rate_limits().check(&principal)?;
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}
