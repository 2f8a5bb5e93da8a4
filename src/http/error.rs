//! How REST renders the domain [`Error`]: `{"error":{"code","message","field"}}`
//! with the error's status ([`Error::status`]). A 500 never shows its cause;
//! the log does ([`Error::public_message`]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{Error, ErrorCode, retry_after_seconds};

/// A REST error response.
#[derive(Debug)]
pub struct ApiError(pub Error);

/// The error body every REST error has.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code (`category_name_taken`, `invalid_color`, …).
    #[schema(value_type = String)]
    pub code: ErrorCode,
    /// For people; may change between versions.
    pub message: String,
    /// The input field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With `oauth_required`: where to send the user to authorize the
    /// upstream; the authorization server redirects back to `/oauth/callback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
}

impl<E: Into<Error>> From<E> for ApiError {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

impl ApiError {
    /// The response for `code` (with its own HTTP status) and `message`,
    /// for edge errors that are not domain errors (no route, no session).
    pub fn code_response(code: ErrorCode, message: &str) -> Response {
        let status = code.http_status().unwrap_or(StatusCode::BAD_REQUEST);
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
                field: None,
                authorization_url: None,
            },
        };
        (status, Json(body)).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        let body = ErrorBody {
            error: ErrorDetail {
                code: err.code(),
                message: err.public_message(),
                field: err.field().map(str::to_owned),
                authorization_url: err.authorization_url().map(str::to_owned),
            },
        };
        with_error_headers((err.status(), Json(body)).into_response(), &err)
    }
}

/// Adds what an error's status asks for: `WWW-Authenticate` on a 401,
/// `Retry-After` (whole seconds) on a 429. Shared by REST and GraphQL.
pub fn with_error_headers(mut response: Response, err: &Error) -> Response {
    if err.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"manifold\""),
        );
    }
    if let Error::RateLimited { retry_after } = err {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_seconds(*retry_after)),
        );
    }
    response
}
