//! How REST renders the domain [`Error`]: `{"error":{"code","message","field"}}`
//! with the matching status. A 500 never shows its cause; the log does.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Error;

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
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
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
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"manifold\""),
            );
        }
        response
    }
}
