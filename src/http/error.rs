//! How REST renders the domain [`Error`]: `{"error":{"code","message","field"}}`
//! with the matching status. A 500 never shows its cause; the log does.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{Error, retry_after_seconds};

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
    pub code: String,
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
    /// A response with an explicit status, code and message.
    pub fn status_response(status: StatusCode, code: &str, message: &str) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                field: None,
                authorization_url: None,
            },
        };
        (status, Json(body)).into_response()
    }
}

/// The status a domain error maps to.
pub fn status_of(err: &Error) -> StatusCode {
    match err {
        Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::BadRequest { code, .. } => match *code {
            "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        },
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) | Error::OAuthRequired { .. } => StatusCode::FORBIDDEN,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Upstream { code, .. } => match *code {
            "upstream_timeout" => StatusCode::GATEWAY_TIMEOUT,
            "egress_denied" => StatusCode::FORBIDDEN,
            "server_disabled" => StatusCode::CONFLICT,
            "too_many_links" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        },
        Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        let status = status_of(&err);
        let message = match &err {
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                "internal error; the server log has the details".to_owned()
            }
            Error::Unavailable { what, source } => {
                tracing::warn!(what, error = ?source, "dependency unavailable");
                err.to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: err.code().to_owned(),
                message,
                field: err.field().map(str::to_owned),
                authorization_url: match &err {
                    Error::OAuthRequired {
                        authorization_url, ..
                    } => authorization_url.clone(),
                    _ => None,
                },
            },
        };
        with_error_headers((status, Json(body)).into_response(), &err)
    }
}

/// Adds what an error's status asks for: `WWW-Authenticate` on a 401,
/// `Retry-After` (whole seconds) on a 429. Shared by REST and GraphQL.
pub fn with_error_headers(mut response: Response, err: &Error) -> Response {
    if status_of(err) == StatusCode::UNAUTHORIZED {
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
