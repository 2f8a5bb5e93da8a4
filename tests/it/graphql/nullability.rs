//! Null propagation as the GraphQL spec has it: a nullable field that fails
//! (a server or category the caller may not see) is `null` inside `data`
//! with its error and `extensions.code`; only a failing non-null root field
//! turns the whole `data` into `null`.

use serde_json::{Value, json};

use super::{add_public_fixture, first_code, gql};
use crate::support::app::{TestApp, spawn_app};

/// Bob's private streamable-HTTP server `bobs` (never connected); its id.
async fn bobs_private_server(app: &TestApp) -> String {
    let bob = app.user_key("bob").await;
    let created = crate::support::rest::create_server(
        app,
        &bob,
        json!({"name": "bobs", "transport": "streamable_http",
               "url": "http://127.0.0.1:9/mcp"}),
    )
    .await;
    created["id"].as_str().expect("an id").to_owned()
}

/// `document` as `key` answers HTTP 200, exactly `data`, and one error with
/// `code` at `path`.
async fn assert_null_with(
    app: &TestApp,
    key: &str,
    document: &str,
    data: Value,
    code: &str,
    path: Value,
) {
    let (status, body) = gql(app, Some(key), document, Value::Null).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{document}: {body}");
    assert_eq!(body["data"], data, "{document}: {body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{document}: {body}");
    assert_eq!(first_code(&body), code, "{document}: {body}");
    assert_eq!(errors[0]["path"], path, "{document}: {body}");
}

#[tokio::test]
async fn a_server_the_caller_may_not_see_is_null_inside_data_with_server_not_found() {
    let app = spawn_app().await;
    let id = bobs_private_server(&app).await;
    add_public_fixture(&app).await;
    let alice = app.user_key("alice").await;

    assert_null_with(
        &app,
        &alice,
        r#"query { server(name: "bobs") { id } }"#,
        json!({"server": null}),
        "server_not_found",
        json!(["server"]),
    )
    .await;
    assert_null_with(
        &app,
        &alice,
        &format!(r#"query {{ server(id: "{id}") {{ id name }} }}"#),
        json!({"server": null}),
        "server_not_found",
        json!(["server"]),
    )
    .await;
    // Beside fields that succeed, and under aliases.
    assert_null_with(
        &app,
        &alice,
        r#"{ me { userId } theirs: server(name: "bobs") { id } mine: server(name: "fixture") { name } }"#,
        json!({"me": {"userId": "alice"}, "theirs": null, "mine": {"name": "fixture"}}),
        "server_not_found",
        json!(["theirs"]),
    )
    .await;
    // Bob sees his own.
    let bob = app.user_key("bob").await;
    let (_, body) = gql(
        &app,
        Some(&bob),
        r#"{ server(name: "bobs") { name } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(body, json!({"data": {"server": {"name": "bobs"}}}));
    app.stop().await;
}

#[tokio::test]
async fn nullable_mutation_fields_on_a_hidden_server_are_null_inside_data() {
    let app = spawn_app().await;
    bobs_private_server(&app).await;
    let alice = app.user_key("alice").await;
    for (field, document) in [
        (
            "connectMcpServer",
            r#"mutation { connectMcpServer(name: "bobs") { success } }"#,
        ),
        (
            "disconnectMcpServer",
            r#"mutation { disconnectMcpServer(name: "bobs") { success } }"#,
        ),
        (
            "updateServer",
            r#"mutation { updateServer(id: "bobs", input: {title: "mine now"}) { id } }"#,
        ),
    ] {
        assert_null_with(
            &app,
            &alice,
            document,
            json!({ field: null }),
            "server_not_found",
            json!([field]),
        )
        .await;
    }
    let (_, rest) = app.get("/api/v1/servers/bobs", &app.admin_key).await;
    assert_ne!(
        rest["title"], "mine now",
        "the hidden server is unchanged: {rest}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_seeds_category_documents_on_a_missing_id_keep_data_for_nullable_fields() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();
    // The seed's "Get single category" and "Update category", verbatim.
    assert_null_with(
        &app,
        &admin,
        "query {\n  category(id: \"ctg_abc123\") {\n    name\n    icon\n    servers {\n      name\n    }\n  }\n}",
        json!({"category": null}),
        "category_not_found",
        json!(["category"]),
    )
    .await;
    assert_null_with(
        &app,
        &admin,
        "mutation {\n  updateCategory(\n    id: \"ctg_abc123\"\n    color: \"#FF5722\"\n  ) {\n    id\n    name\n    color\n  }\n}",
        json!({"updateCategory": null}),
        "category_not_found",
        json!(["updateCategory"]),
    )
    .await;
    // "Delete category" answers `Boolean!`: a failing non-null root field
    // nulls the whole `data`, as the spec says.
    let (_, body) = gql(
        &app,
        Some(&admin),
        "mutation {\n  deleteCategory(id: \"ctg_abc123\")\n}",
        Value::Null,
    )
    .await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(first_code(&body), "category_not_found", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_failing_non_null_root_field_nulls_data_even_beside_fields_that_succeed() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    // `servers` is `ServerConnection!`: its error cannot stop at the field.
    let (_, body) = gql(
        &app,
        Some(&alice),
        "{ me { userId } servers(first: 500) { edges { cursor } } }",
        Value::Null,
    )
    .await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(first_code(&body), "invalid_limit", "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
    // A failing nullable field beside it does not save `data` either.
    let (_, body) = gql(
        &app,
        Some(&alice),
        r#"{ server(name: "nope") { id } categories(first: 0) { totalCount } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(body["data"], Value::Null, "{body}");
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["extensions"]["code"].as_str())
        .collect();
    assert!(codes.contains(&"server_not_found"), "{body}");
    assert!(codes.contains(&"invalid_limit"), "{body}");
    app.stop().await;
}
