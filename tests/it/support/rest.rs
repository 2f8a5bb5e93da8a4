//! REST calls that set a test's scene, each asserting it worked: servers
//! created (the `mcp-fixture` ones, or any body), connected and
//! disconnected for a user, a server as the user's session lists it,
//! categories.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app};
use crate::support::upstreams::fixture_stdio;

/// A stdio server `name` running `mcp-fixture` (a server body to add to).
pub fn fixture_server(name: &str) -> Value {
    let (command, args) = fixture_stdio();
    json!({"name": name, "transport": "stdio", "command": command, "args": args})
}

/// `POST /api/v1/servers` of `body` as `key` must answer 201; the server.
pub async fn create_server(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, created) = app.post("/api/v1/servers", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// The admin creates `body` as a public server; the server.
pub async fn add_public(app: &TestApp, mut body: Value) -> Value {
    body["is_public"] = json!(true);
    create_server(app, &app.admin_key, body).await
}

/// A public stdio server `name` running `mcp-fixture`.
pub async fn add_fixture(app: &TestApp, name: &str) -> Value {
    add_public(app, fixture_server(name)).await
}

/// A fresh app where user `alice` connected the stdio fixture as `fx`; her key.
pub async fn app_with_connected_fixture() -> (TestApp, String) {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    (app, alice)
}

/// Connects `name` for `key`: 200 and `CONNECTED`; the answer.
pub async fn connect(app: &TestApp, name: &str, key: &str) -> Value {
    let (status, body) = app.session_action("connect", name, key).await;
    assert_eq!(status, StatusCode::OK, "connect {name}: {body}");
    assert_eq!(body["status"], "CONNECTED", "connect {name}: {body}");
    body
}

/// Disconnects `name` for `key`: 200; the answer.
pub async fn disconnect(app: &TestApp, name: &str, key: &str) -> Value {
    let (status, body) = app.session_action("disconnect", name, key).await;
    assert_eq!(status, StatusCode::OK, "disconnect {name}: {body}");
    body
}

/// `name`'s entry in `GET /api/v1/session/servers` as `key`.
pub async fn session_server(app: &TestApp, key: &str, name: &str) -> Value {
    let (status, body) = app.get("/api/v1/session/servers", key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("GET /session/servers is not a list: {body}"));
    list.iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} is not in GET /session/servers: {body}"))
}

/// The admin creates category `body`: 201; the category.
pub async fn create_category(app: &TestApp, body: Value) -> Value {
    let (status, created) = app.post("/api/v1/categories", &app.admin_key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}
