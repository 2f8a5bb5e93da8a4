//! Request extractors that fail with REST's error body instead of axum's
//! plain-text rejections: JSON bodies (400/413/415/422) and query strings.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorCode};
use crate::http::ApiError;

/// A JSON body: `application/json` (or `…+json`), within `http.max_body_bytes`.
pub struct ApiJson<T>(pub T);

fn bad_request(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError(Error::BadRequest {
        code,
        message: message.into(),
    })
}

fn is_json(parts: &axum::http::HeaderMap) -> bool {
    parts
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Turns a serde error at `path` into a REST error naming the field.
fn body_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        return bad_request(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {inner}"),
        );
    }
    let message = inner.to_string();
    // `missing field `name`` is reported at the parent; name the field itself.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let field = match (path.as_str(), missing) {
        (".", Some(name)) => Some(name),
        (p, Some(name)) => Some(format!("{p}.{name}")),
        (".", None) => None,
        (p, None) => Some(p.to_owned()),
    };
    // Strip serde's " at line 1 column 9" suffix: the field says where.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    ApiError(Error::Invalid {
        code: ErrorCode::InvalidBody,
        field,
        message,
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(bad_request(
                ErrorCode::UnsupportedMediaType,
                "send the body as `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                bad_request(
                    ErrorCode::PayloadTooLarge,
                    "the body is larger than http.max_body_bytes",
                )
            } else {
                bad_request(ErrorCode::InvalidBody, "the body could not be read")
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(body_error)?;
        de.end().map_err(|e| {
            bad_request(
                ErrorCode::InvalidJson,
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        Ok(Self(value))
    }
}

/// A query string, failing with `invalid_query` (400).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded_query(query)
            .map(Self)
            .map_err(|e| bad_request(ErrorCode::InvalidQuery, format!("bad query string: {e}")))
    }
}

fn serde_urlencoded_query<T: DeserializeOwned>(query: &str) -> Result<T, String> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| "not a valid query".to_owned())?,
    )
    .map(|q| q.0)
    .map_err(|e| e.body_text())
}
