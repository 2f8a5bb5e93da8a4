//! The [`Principal`] extractor: a handler that takes a `Principal` argument
//! only runs for an authenticated caller. Missing or bad credentials answer
//! 401 with `WWW-Authenticate: Bearer`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::auth::Principal;
use crate::error::Error;
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

impl FromRequestParts<AppState> for Principal {
    type Rejection = crate::admin::rest::ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let token = bearer_token(parts)?;
        let principal = state.api_keys().authenticate(token).await?;
        tracing::Span::current().record("user", principal.user_id.as_str());
        crate::ratelimit::check(state, &principal)?;
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}
