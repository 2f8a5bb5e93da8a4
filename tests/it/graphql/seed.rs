//! The six documents of the seed's "Category Schema" section, verbatim,
//! and the shapes they answer; then Relay paging over categories.

use serde_json::{Value, json};

use super::{data, first_code, gql};
use crate::support::app::spawn_app;

const ALL_CATEGORIES: &str = r#"
query {
  categories {
    edges {
      node {
        id
        name
        icon
        color
        description
      }
    }
  }
}
"#;

const CATEGORIES_WITH_SERVERS: &str = r#"
query {
  categories {
    edges {
      node {
        name
        servers {
          id
          name
        }
      }
    }
  }
}
"#;

const ONE_CATEGORY: &str = r#"
query {
  category(id: "ctg_abc123") {
    name
    icon
    servers {
      name
    }
  }
}
"#;

const CREATE_CATEGORY: &str = r##"
mutation {
  createCategory(
    name: "Productivity"
    icon: "🚀"
    color: "#4CAF50"
    description: "Productivity tools"
  ) {
    id
    name
  }
}
"##;

const UPDATE_CATEGORY: &str = r##"
mutation {
  updateCategory(
    id: "ctg_abc123"
    color: "#FF5722"
  ) {
    id
    name
    color
  }
}
"##;

const DELETE_CATEGORY: &str = r#"
mutation {
  deleteCategory(id: "ctg_abc123")
}
"#;

/// A seed document with its placeholder id replaced by a real one.
fn with_id(document: &str, id: &str) -> String {
    document.replace("ctg_abc123", id)
}

#[tokio::test]
async fn the_seeds_six_category_documents_run_verbatim_and_answer_the_documented_shapes() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();

    // Create category.
    let created = data(&app, &admin, CREATE_CATEGORY, Value::Null).await;
    let category = &created["createCategory"];
    assert_eq!(category["name"], "Productivity");
    let id = category["id"].as_str().expect("an id").to_owned();
    assert!(id.starts_with("ctg_"), "{id}");
    assert_eq!(category.as_object().map(|o| o.len()), Some(2), "{category}");

    // A server in it, and one outside it.
    for (name, category_id) in [("notes", Some(id.as_str())), ("other", None)] {
        let (status, body) = app
            .post(
                "/api/v1/servers",
                &admin,
                json!({"name": name, "transport": "streamable_http",
                       "url": "http://127.0.0.1:9/mcp", "is_public": true,
                       "category_id": category_id}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    }

    // Get all categories.
    let all = data(&app, &admin, ALL_CATEGORIES, Value::Null).await;
    assert_eq!(
        all,
        json!({"categories": {"edges": [{"node": {
            "id": id, "name": "Productivity", "icon": "🚀",
            "color": "#4CAF50", "description": "Productivity tools"
        }}]}})
    );

    // Get categories with their servers.
    let with_servers = data(&app, &admin, CATEGORIES_WITH_SERVERS, Value::Null).await;
    let node = &with_servers["categories"]["edges"][0]["node"];
    assert_eq!(node["name"], "Productivity");
    let servers = node["servers"].as_array().expect("a list");
    assert_eq!(servers.len(), 1, "{node}");
    assert_eq!(servers[0]["name"], "notes");
    assert!(
        servers[0]["id"]
            .as_str()
            .is_some_and(|s| s.starts_with("mcp_"))
    );

    // Get single category: verbatim, the placeholder id does not exist.
    let (_, missing) = gql(&app, Some(&admin), ONE_CATEGORY, Value::Null).await;
    assert_eq!(missing["data"]["category"], Value::Null, "{missing}");
    assert_eq!(first_code(&missing), "category_not_found");
    assert_eq!(missing["errors"][0]["path"], json!(["category"]));
    let one = data(&app, &admin, &with_id(ONE_CATEGORY, &id), Value::Null).await;
    assert_eq!(
        one,
        json!({"category": {"name": "Productivity", "icon": "🚀", "servers": [{"name": "notes"}]}})
    );

    // Update category.
    let (_, missing) = gql(&app, Some(&admin), UPDATE_CATEGORY, Value::Null).await;
    assert_eq!(first_code(&missing), "category_not_found", "{missing}");
    let updated = data(&app, &admin, &with_id(UPDATE_CATEGORY, &id), Value::Null).await;
    assert_eq!(
        updated,
        json!({"updateCategory": {"id": id, "name": "Productivity", "color": "#FF5722"}})
    );
    let (_, rest) = app.get(&format!("/api/v1/categories/{id}"), &admin).await;
    assert_eq!(rest["color"], "#FF5722", "REST sees the GraphQL change");

    // Delete category.
    let (_, missing) = gql(&app, Some(&admin), DELETE_CATEGORY, Value::Null).await;
    assert_eq!(first_code(&missing), "category_not_found", "{missing}");
    let deleted = data(&app, &admin, &with_id(DELETE_CATEGORY, &id), Value::Null).await;
    assert_eq!(deleted, json!({"deleteCategory": true}));
    let after = data(&app, &admin, ALL_CATEGORIES, Value::Null).await;
    assert_eq!(after, json!({"categories": {"edges": []}}));
    let (_, server) = app.get("/api/v1/servers/notes", &admin).await;
    assert_eq!(
        server["category_id"],
        Value::Null,
        "its server is uncategorised"
    );
    app.stop().await;
}

#[tokio::test]
async fn category_connections_page_forward_and_backward_with_cursors_and_a_total_count() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();
    let names = ["Alpha", "Bravo", "Charlie", "Delta", "Echo"];
    for name in names {
        data(
            &app,
            &admin,
            "mutation($name: String!) { createCategory(name: $name) { id } }",
            json!({"name": name}),
        )
        .await;
    }
    let page = |v: &Value| -> Vec<String> {
        v["categories"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    const DOC: &str =
        "query($first: Int, $after: String, $last: Int, $before: String, $search: String) {
        categories(first: $first, after: $after, last: $last, before: $before, search: $search) {
          totalCount
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          edges { cursor node { name } }
        } }";

    let first = data(&app, &admin, DOC, json!({"first": 2})).await;
    assert_eq!(page(&first), ["Alpha", "Bravo"]);
    assert_eq!(first["categories"]["totalCount"], 5);
    let info = &first["categories"]["pageInfo"];
    assert_eq!(info["hasNextPage"], true);
    assert_eq!(info["hasPreviousPage"], false);
    assert_eq!(info["endCursor"], first["categories"]["edges"][1]["cursor"]);

    let second = data(
        &app,
        &admin,
        DOC,
        json!({"first": 2, "after": info["endCursor"]}),
    )
    .await;
    assert_eq!(page(&second), ["Charlie", "Delta"]);
    let info2 = &second["categories"]["pageInfo"];
    let third = data(
        &app,
        &admin,
        DOC,
        json!({"first": 2, "after": info2["endCursor"]}),
    )
    .await;
    assert_eq!(page(&third), ["Echo"]);
    assert_eq!(third["categories"]["pageInfo"]["hasNextPage"], false);

    let last = data(&app, &admin, DOC, json!({"last": 2})).await;
    assert_eq!(page(&last), ["Delta", "Echo"]);
    assert_eq!(last["categories"]["pageInfo"]["hasPreviousPage"], true);
    let before = data(
        &app,
        &admin,
        DOC,
        json!({"last": 2, "before": last["categories"]["pageInfo"]["startCursor"]}),
    )
    .await;
    assert_eq!(page(&before), ["Bravo", "Charlie"]);

    let search = data(&app, &admin, DOC, json!({"search": "ha"})).await;
    assert_eq!(page(&search), ["Alpha", "Charlie"]);
    assert_eq!(search["categories"]["totalCount"], 2);

    let (_, bad) = gql(&app, Some(&admin), DOC, json!({"first": 500})).await;
    assert_eq!(first_code(&bad), "invalid_limit", "{bad}");
    let (_, bad) = gql(&app, Some(&admin), DOC, json!({"after": "not-a-cursor!"})).await;
    assert_eq!(first_code(&bad), "invalid_cursor", "{bad}");
    app.stop().await;
}
