//! How GraphQL renders the domain [`Error`]: a GraphQL error whose
//! `extensions.code` is the same stable code REST answers, plus `field` and
//! `authorizationUrl` when they apply. An internal error never shows its
//! cause; the log does.
//!
//! async-graphql converts anything `Display` into an error without a code,
//! so resolvers map domain errors explicitly with [`GqlResult::gql`].

use async_graphql::ErrorExtensions;
use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;
use crate::http::with_error_headers;

/// The GraphQL error for a domain error.
pub(crate) fn to_gql(err: Error) -> async_graphql::Error {
    let message = err.public_message();
    let code = err.code().as_str();
    let field = err.field().map(str::to_owned);
    let authorization_url = err.authorization_url().map(str::to_owned);
    async_graphql::Error::new(message).extend_with(move |_, ext| {
        ext.set("code", code);
        if let Some(field) = &field {
            ext.set("field", field.as_str());
        }
        if let Some(url) = &authorization_url {
            ext.set("authorizationUrl", url.as_str());
        }
    })
}

/// `.gql()` on a service result: the domain error with its code.
pub(crate) trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for Result<T, Error> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(to_gql)
    }
}

/// An error answered before the document runs (authentication, rate limit,
/// body size): a GraphQL response body with no `data`, and REST's status.
pub(crate) fn http_error(err: Error) -> Response {
    let status = err.status();
    let body = json!({
        "errors": [{
            "message": err.public_message(),
            "extensions": { "code": err.code() },
        }]
    });
    with_error_headers((status, Json(body)).into_response(), &err)
}
