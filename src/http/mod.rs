//! What every HTTP edge (REST, GraphQL, `/mcp`, the admin page) shares: how
//! a domain [`Error`](crate::error::Error) becomes a response ([`error`])
//! and how a request becomes a [`Principal`](crate::principal::Principal)
//! ([`principal`]: authentication, then the principal's rate limit).
//! Edges use this module; it uses the services below and nothing beside it.

pub mod error;
pub mod principal;

pub use error::{ApiError, ErrorBody, ErrorDetail, with_error_headers};
pub use principal::authenticate;
