//! The one domain error every service returns, with a stable snake_case code.
//!
//! Each edge renders it its own way (REST: `{"error":{"code","message","field"}}`);
//! the code is the contract, the message is for humans. An `Internal` error never
//! shows its cause to a client: the edge logs it and answers a generic message.

use std::fmt;
use std::time::Duration;

/// Result alias used across services and stores.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, classified by how a client should react.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is well-formed but not acceptable (422).
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    /// The request itself is malformed (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The thing does not exist, or the caller may not see it (404).
    #[error("{what} not found")]
    NotFound {
        code: &'static str,
        what: &'static str,
    },
    /// A uniqueness rule was broken (409).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    /// No or bad credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Known caller, action not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// An upstream MCP server could not be reached or used (`upstream_unreachable`,
    /// `upstream_timeout`, `upstream_protocol_error`, `egress_denied`, …).
    #[error("{message}")]
    Upstream { code: &'static str, message: String },
    /// The server needs the caller's own OAuth authorization first (403,
    /// `oauth_required`): send the user to `authorization_url`.
    #[error("{server} needs your OAuth authorization first")]
    OAuthRequired {
        server: String,
        authorization_url: Option<String>,
    },
    /// The caller sent more requests than its role's rate limit allows (429);
    /// it may try again after `retry_after`.
    #[error("too many requests; retry in {}s", retry_after_seconds(*retry_after))]
    RateLimited { retry_after: Duration },
    /// A dependency (catalog, state store) is not reachable (503).
    #[error("{what} is unavailable")]
    Unavailable {
        what: &'static str,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A bug or an unexpected failure; the cause goes to the log only (500).
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A 422 naming the field at fault.
    pub fn invalid(code: &'static str, field: &str, message: impl fmt::Display) -> Self {
        Self::Invalid {
            code,
            field: Some(field.to_owned()),
            message: message.to_string(),
        }
    }

    /// A 409 naming the field at fault.
    pub fn conflict(code: &'static str, field: &str, message: impl fmt::Display) -> Self {
        Self::Conflict {
            code,
            field: Some(field.to_owned()),
            message: message.to_string(),
        }
    }

    /// A 404 for a kind of thing (`category`, `server`, `api key`).
    pub fn not_found(code: &'static str, what: &'static str) -> Self {
        Self::NotFound { code, what }
    }

    /// Wraps an unexpected failure.
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }

    /// A dependency is down.
    pub fn unavailable(
        what: &'static str,
        err: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            what,
            source: Some(err.into()),
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. }
            | Self::BadRequest { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Upstream { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::OAuthRequired { .. } => "oauth_required",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The input field at fault, when one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } | Self::Conflict { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

/// A wait as an HTTP `Retry-After` value: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::unavailable("catalog", err)
            }
            other => Self::internal(other),
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(err: redis::RedisError) -> Self {
        if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() {
            Self::unavailable("state store", err)
        } else {
            Self::internal(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(30)), 30);
    }
}
