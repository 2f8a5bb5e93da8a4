//! API keys over the API: made over REST or GraphQL they work at once on
//! `/mcp`, are listed without their secret, follow the user rules, and
//! revoked on one replica they stop working, and end their `/mcp` streams,
//! on another within a second.

mod graphql;
mod replicas;
mod rest;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::TestApp;

/// `POST /api/v1/keys` of `body` as `key` must answer 201; the answer.
async fn create_key(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, created) = app.post("/api/v1/keys", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        created["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("mfk_")),
        "{created}"
    );
    created
}

/// A key of `user` made by the admin over REST: `(id, secret)`.
async fn key_of(app: &TestApp, user: &str) -> (String, String) {
    let created = create_key(app, &app.admin_key, json!({"user_id": user})).await;
    (
        created["id"].as_str().expect("id").to_owned(),
        created["key"].as_str().expect("key").to_owned(),
    )
}

/// The ids of a key list's items.
fn ids_in(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a key list: {list}"))
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect()
}
