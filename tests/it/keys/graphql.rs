//! `apiKeys`, `createApiKey` and `revokeApiKey`: the REST rules, in GraphQL.

use reqwest::StatusCode;
use serde_json::json;

use super::key_of;
use crate::graphql::{data, first_code, gql};
use crate::support::app::spawn_app;

const CREATE: &str = "mutation($input: CreateApiKeyInput!) {
    createApiKey(input: $input) { id name userId role prefix createdAt lastUsedAt revokedAt key }
}";
const LIST: &str = "query($user: String, $all: Boolean) {
    apiKeys(user: $user, includeRevoked: $all, first: 10) {
        items { id name userId role prefix lastUsedAt revokedAt } nextCursor
    }
}";
const REVOKE: &str = "mutation($id: ID!) { revokeApiKey(id: $id) }";

#[tokio::test]
async fn graphql_creates_lists_and_revokes_keys_with_the_rest_rules() {
    let app = spawn_app().await;
    let (_, alice) = key_of(&app, "alice").await;

    let made = data(
        &app,
        &app.admin_key,
        CREATE,
        json!({"input": {"userId": "bob", "name": "bob's CI", "role": "admin"}}),
    )
    .await;
    let made = &made["createApiKey"];
    assert_eq!(
        (made["userId"].as_str(), made["role"].as_str()),
        (Some("bob"), Some("admin"))
    );
    assert_eq!(made["name"], "bob's CI");
    let secret = made["key"].as_str().expect("the key, once").to_owned();
    let bob_id = made["id"].as_str().expect("id").to_owned();
    let (status, me) = app.get("/api/v1/me", &secret).await;
    assert_eq!(status, StatusCode::OK, "works at once: {me}");
    assert_eq!(
        (me["user_id"].as_str(), me["role"].as_str()),
        (Some("bob"), Some("admin"))
    );

    let listed = data(&app, &app.admin_key, LIST, json!({"user": "bob"})).await;
    let items = listed["apiKeys"]["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["id"], bob_id.as_str());
    assert!(items[0]["lastUsedAt"].is_string(), "used: {listed}");
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is listed"
    );

    // A user: own keys only, `user` role only; bob's key is not found.
    let (_, refused) = gql(
        &app,
        Some(&alice),
        CREATE,
        json!({"input": {"role": "admin"}}),
    )
    .await;
    assert_eq!(first_code(&refused), "forbidden", "{refused}");
    let own = data(&app, &alice, CREATE, json!({"input": {"name": "phone"}})).await;
    assert_eq!(own["createApiKey"]["userId"], "alice");
    let mine = data(&app, &alice, LIST, json!({})).await;
    let ids: Vec<&str> = mine["apiKeys"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{mine}");
    assert!(!ids.contains(&bob_id.as_str()));
    let (_, foreign) = gql(&app, Some(&alice), REVOKE, json!({"id": bob_id})).await;
    assert_eq!(first_code(&foreign), "api_key_not_found", "{foreign}");
    let (_, name) = gql(&app, Some(&alice), CREATE, json!({"input": {"name": " "}})).await;
    assert_eq!(first_code(&name), "invalid_key_name", "{name}");

    // The admin revokes bob's key: refused at once, listed as revoked.
    let done = data(&app, &app.admin_key, REVOKE, json!({"id": bob_id})).await;
    assert_eq!(done["revokeApiKey"], true);
    let (status, _) = app.get("/api/v1/me", &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let active = data(&app, &app.admin_key, LIST, json!({"user": "bob"})).await;
    assert_eq!(active["apiKeys"]["items"], json!([]), "{active}");
    let all = data(
        &app,
        &app.admin_key,
        LIST,
        json!({"user": "bob", "all": true}),
    )
    .await;
    assert!(all["apiKeys"]["items"][0]["revokedAt"].is_string(), "{all}");
    let (_, again) = gql(&app, Some(&app.admin_key), REVOKE, json!({"id": bob_id})).await;
    assert_eq!(first_code(&again), "api_key_not_found", "{again}");
}
