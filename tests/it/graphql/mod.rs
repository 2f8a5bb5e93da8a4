//! The GraphQL admin API over real HTTP: the seed's documents verbatim,
//! connections shared with REST, isolation, errors and limits, and the
//! committed SDL.

mod batching;
mod cost;
mod http;
mod nullability;
mod schema;
mod seed;
mod sessions;
mod subscriptions;
mod toolsets;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::TestApp;

/// POSTs a document (with `variables`) to `/graphql` as `key` (none: no
/// `Authorization`); returns the status and the JSON body.
pub async fn gql(
    app: &TestApp,
    key: Option<&str>,
    query: &str,
    variables: Value,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({"query": query, "variables": variables}));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.expect("GraphQL request sent");
    let status = resp.status();
    let body = resp.json().await.expect("GraphQL answers JSON");
    (status, body)
}

/// `data` of a document that must succeed without errors.
pub async fn data(app: &TestApp, key: &str, query: &str, variables: Value) -> Value {
    let (status, body) = gql(app, Some(key), query, variables).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// The `extensions.code` of the first error.
pub fn first_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no extensions.code>")
}

/// A public stdio `mcp-fixture` server named `fixture`, made by the admin.
pub async fn add_public_fixture(app: &TestApp) {
    crate::support::rest::add_fixture(app, "fixture").await;
}
