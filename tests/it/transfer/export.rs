//! Exports: secrets shown as `***`, only what the caller may see, and an
//! export that imports back into the same servers (both formats; the
//! Manifold one on PostgreSQL too).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, code, spawn_app, spawn_app_with};
use crate::support::db::{create_postgres_database, drop_postgres_database};
use crate::support::mcp::{call, mcp_client};
use crate::support::rest::{connect, create_category, create_server, fixture_server};
use crate::support::upstreams::FixtureHttp;

use super::{all_names, export, import, outcomes, servers};

/// A server as it reads back, less what an import makes anew (id, owner,
/// timestamps).
fn comparable(server: &Value) -> Value {
    let mut server = server.clone();
    if let Some(fields) = server.as_object_mut() {
        for field in ["id", "owner", "created_at", "updated_at"] {
            fields.remove(field);
        }
    }
    server
}

async fn delete_all(app: &TestApp) {
    for name in all_names(app).await {
        let (status, body) = app
            .delete(&format!("/api/v1/servers/{name}"), &app.admin_key)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
}

#[tokio::test]
async fn an_mcp_servers_export_hides_secrets_and_imports_back_once_they_are_filled_in() {
    let app = spawn_app().await;
    let http = FixtureHttp::start();
    let mut stdio = fixture_server("local");
    stdio["env"] = json!({"FIXTURE_TOOL_COUNT": "1"});
    stdio["is_public"] = json!(true);
    create_server(&app, &app.admin_key, stdio).await;
    create_server(
        &app,
        &app.admin_key,
        json!({"name": "web", "transport": "streamable_http",
        "url": http.url(), "headers": {"Authorization": "Bearer s3cret"}}),
    )
    .await;
    create_server(
        &app,
        &app.admin_key,
        json!({"name": "old", "transport": "sse",
        "url": "http://127.0.0.1:9/sse", "enabled": false}),
    )
    .await;
    let before: Vec<Value> = servers(&app, &app.admin_key)
        .await
        .iter()
        .map(comparable)
        .collect();

    let doc = export(&app, &app.admin_key, "mcp_servers").await;
    let text = doc.to_string();
    assert!(
        !text.contains("s3cret"),
        "a secret leaked into the export: {text}"
    );
    let entries = &doc["mcpServers"];
    assert_eq!(
        entries["local"]["env"],
        json!({"FIXTURE_TOOL_COUNT": "***"})
    );
    assert!(entries["local"]["command"].is_string() && entries["local"]["args"].is_array());
    assert!(entries["local"].get("type").is_none(), "{doc}");
    assert_eq!(
        entries["web"],
        json!({"type": "http", "url": http.url(), "headers": {"Authorization": "***"}})
    );
    assert_eq!(
        entries["old"],
        json!({"type": "sse", "url": "http://127.0.0.1:9/sse", "headers": {}, "disabled": true})
    );
    // The default format is this one.
    assert_eq!(
        app.get("/api/v1/export", &app.admin_key).await,
        (StatusCode::OK, doc.clone())
    );

    delete_all(&app).await;
    // `***` is no secret: the entries holding one are refused by name.
    let (status, refused) = import(&app, &app.admin_key, &doc, false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        outcomes(&refused),
        [
            ("error".to_owned(), "invalid_secret".to_owned()),
            ("create".to_owned(), String::new()),
            ("error".to_owned(), "invalid_secret".to_owned())
        ]
    );
    assert!(all_names(&app).await.is_empty());

    let mut filled = doc.clone();
    filled["mcpServers"]["local"]["env"]["FIXTURE_TOOL_COUNT"] = json!("1");
    filled["mcpServers"]["web"]["headers"]["Authorization"] = json!("Bearer s3cret");
    let (status, done) = import(&app, &app.admin_key, &filled, false).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let mut after: Vec<Value> = servers(&app, &app.admin_key)
        .await
        .iter()
        .map(comparable)
        .collect();
    // mcpServers has no `is_public`: the stdio server comes back private.
    assert_eq!(after[0]["is_public"], false);
    after[0]["is_public"] = json!(true);
    assert_eq!(after, before);

    let client = mcp_client(&app, "/mcp", &app.admin_key).await;
    connect(&app, "web", &app.admin_key).await;
    let whoami = client
        .call_tool(call("web__whoami", json!({})))
        .await
        .expect("web__whoami");
    let headers = whoami.structured_content.expect("headers");
    assert_eq!(headers["authorization"], "Bearer s3cret", "{headers}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_user_exports_public_servers_and_their_own_only() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    create_server(
        &app,
        &app.admin_key,
        json!({"name": "shared", "transport": "streamable_http",
        "url": "http://127.0.0.1:9/mcp", "is_public": true}),
    )
    .await;
    for (key, name) in [(&alice, "alice-own"), (&bob, "bob-own")] {
        create_server(
            &app,
            key,
            json!({"name": name, "transport": "streamable_http",
            "url": "http://127.0.0.1:9/mcp"}),
        )
        .await;
    }
    let mine = export(&app, &alice, "mcp_servers").await;
    let names: Vec<&String> = mine["mcpServers"]
        .as_object()
        .expect("servers")
        .keys()
        .collect();
    assert_eq!(names, ["alice-own", "shared"]);
    let every = export(&app, &app.admin_key, "manifold").await;
    assert_eq!(every["servers"].as_array().map(Vec::len), Some(3));

    let (status, body) = app.get("/api/v1/export?format=yaml", &alice).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_query"),
        "{body}"
    );
}

/// Every field a server has, in Manifold's format, on `app`: export,
/// delete, import gives the same servers.
async fn manifold_round_trip(app: &TestApp) {
    let category = create_category(app, json!({"name": "Dev tools"})).await;
    create_server(app, &app.admin_key, json!({
        "name": "kit", "title": "The kit", "description": "Everything a developer needs",
        "transport": "streamable_http", "url": "https://kit.example.com/mcp",
        "query_params": {"region": "eu"}, "headers": {"X-Team": "blue"},
        "is_public": true, "category_id": category["id"], "fail_closed": true,
        "tool_filter": {"allow": ["get_*"], "deny": ["get_secret"]},
        "requires_oauth2": true, "oauth_client_id": "manifold", "oauth_scopes": ["read", "write"],
    })).await;
    let mut stdio = fixture_server("local");
    stdio["enabled"] = json!(false);
    stdio["cwd"] = json!("/tmp");
    create_server(app, &app.admin_key, stdio).await;
    create_server(
        app,
        &app.admin_key,
        json!({"name": "feed", "transport": "websocket",
        "url": "ws://127.0.0.1:9/ws", "description": "live"}),
    )
    .await;
    let before: Vec<Value> = servers(app, &app.admin_key)
        .await
        .iter()
        .map(comparable)
        .collect();

    let doc = export(app, &app.admin_key, "manifold").await;
    assert_eq!(doc["manifold"], json!({"version": 1}));
    let kit = &doc["servers"][1];
    assert_eq!(kit["category"], "Dev tools");
    assert_eq!(kit["headers"], json!({"X-Team": "***"}));
    assert!(
        kit.get("category_id").is_none() && kit.get("id").is_none(),
        "{kit}"
    );

    delete_all(app).await;
    let mut filled = doc.clone();
    filled["servers"][1]["headers"]["X-Team"] = json!("blue");
    let (status, preview) = import(app, &app.admin_key, &filled, true).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert!(all_names(app).await.is_empty());
    let (status, done) = import(app, &app.admin_key, &filled, false).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["created"], 3);
    assert_eq!(done["servers"][1]["warnings"], json!([]));
    let after: Vec<Value> = servers(app, &app.admin_key)
        .await
        .iter()
        .map(comparable)
        .collect();
    assert_eq!(after, before);

    // A category that does not exist here is a warning, not an error.
    delete_all(app).await;
    let (status, body) = app
        .delete(
            &format!(
                "/api/v1/categories/{}",
                category["id"].as_str().unwrap_or_default()
            ),
            &app.admin_key,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, done) = import(app, &app.admin_key, &filled, false).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let warnings = done["servers"][1]["warnings"].to_string();
    assert!(warnings.contains("no category `Dev tools`"), "{warnings}");
    assert_eq!(done["servers"][1]["server"]["category_id"], Value::Null);
}

#[tokio::test]
async fn a_manifold_export_imports_back_into_the_same_servers_on_sqlite() {
    let app = spawn_app().await;
    manifold_round_trip(&app).await;
}

#[tokio::test]
async fn a_manifold_export_imports_back_into_the_same_servers_on_postgres() {
    let database = create_postgres_database().await;
    let url = database.clone();
    let app = spawn_app_with(move |s| {
        s.catalog.url = manifold::secret::SecretUrl::new(url);
    })
    .await;
    manifold_round_trip(&app).await;
    app.stop().await;
    drop_postgres_database(&database).await;
}
