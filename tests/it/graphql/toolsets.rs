//! Toolsets over GraphQL: created, read, listed, changed and deleted with
//! the same rules as REST; another user's private toolset is not found.

use serde_json::json;

use super::{data, first_code, gql};
use crate::support::rest::{add_fixture, connect};

#[tokio::test]
async fn toolsets_are_made_read_changed_and_deleted_and_private_ones_stay_private() {
    let app = crate::support::app::spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    connect(&app, "fx", &alice).await;

    let made = data(
        &app,
        &alice,
        "mutation($input: CreateToolsetInput!) { createToolset(input: $input) { id name owner isPublic exposure entries { server tool exposeAs description annotations } } }",
        json!({"input": {
            "name": "kit",
            "exposure": "SEARCH",
            "entries": [{"server": "fx", "tool": "add", "exposeAs": "plus",
                         "description": "Adds.", "annotations": {"readOnlyHint": true}}],
        }}),
    )
    .await;
    let toolset = &made["createToolset"];
    assert!(
        toolset["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("tls_")),
        "{made}"
    );
    assert_eq!(toolset["owner"], "alice");
    assert_eq!(toolset["isPublic"], false);
    assert_eq!(toolset["exposure"], "SEARCH");
    assert_eq!(
        toolset["entries"],
        json!([{"server": "fx", "tool": "add", "exposeAs": "plus", "description": "Adds.",
                "annotations": {"readOnlyHint": true}}])
    );

    let read = data(
        &app,
        &alice,
        "{ toolsets { items { name } nextCursor } toolset(name: \"kit\") { name } }",
        json!({}),
    )
    .await;
    assert_eq!(read["toolsets"]["items"], json!([{"name": "kit"}]));
    assert_eq!(read["toolset"]["name"], "kit");

    // Bob sees nothing of it.
    let (_, body) = gql(
        &app,
        Some(&bob),
        "{ toolset(name: \"kit\") { name } }",
        json!({}),
    )
    .await;
    assert_eq!(body["data"]["toolset"], json!(null), "{body}");
    assert_eq!(first_code(&body), "toolset_not_found", "{body}");
    let listed = data(&app, &bob, "{ toolsets { items { name } } }", json!({})).await;
    assert_eq!(listed["toolsets"]["items"], json!([]));
    let (_, body) = gql(
        &app,
        Some(&bob),
        "mutation { deleteToolset(id: \"kit\") }",
        json!({}),
    )
    .await;
    assert_eq!(first_code(&body), "toolset_not_found", "{body}");

    // A bad entry is refused with its field named.
    let (_, body) = gql(
        &app,
        Some(&alice),
        "mutation { updateToolset(id: \"kit\", input: {entries: [{server: \"fx\", tool: \"get_*\", exposeAs: \"one\"}]}) { name } }",
        json!({}),
    )
    .await;
    assert_eq!(first_code(&body), "invalid_toolset_entry", "{body}");

    let changed = data(
        &app,
        &alice,
        "mutation { updateToolset(id: \"kit\", input: {title: \"Kit\", exposure: ALL}) { title exposure entries { tool } } }",
        json!({}),
    )
    .await;
    assert_eq!(changed["updateToolset"]["title"], "Kit");
    assert_eq!(changed["updateToolset"]["exposure"], "ALL");
    assert_eq!(
        changed["updateToolset"]["entries"],
        json!([{"tool": "add"}]),
        "entries stay when not sent"
    );
    let deleted = data(
        &app,
        &alice,
        "mutation { deleteToolset(id: \"kit\") }",
        json!({}),
    )
    .await;
    assert_eq!(deleted["deleteToolset"], true);
    let (status, _) = app.get("/api/v1/toolsets/kit", &alice).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    app.stop().await;
}
