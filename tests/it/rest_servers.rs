//! The servers REST API: validation, secrets, and who may see or change what.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, code, spawn_app};
use crate::support::rest::create_server;

fn http_server(name: &str) -> Value {
    json!({"name": name, "transport": "streamable_http", "url": "https://mcp.example.com/mcp?v=1"})
}

#[tokio::test]
async fn a_server_round_trips_with_secrets_shown_as_stars() {
    let app = spawn_app().await;
    let server = create_server(&app, &app.admin_key, json!({
        "name": "github", "title": "GitHub", "transport": "sse", "url": "https://api.example.com/sse?foo=1",
        "query_params": {"bar": "2"}, "headers": {"Authorization": "Bearer ghp_secret"},
        "requires_oauth2": true, "is_public": true,
    })).await;
    let id = server["id"].as_str().expect("id");
    assert!(id.starts_with("mcp_"));
    assert_eq!(server["headers"], json!({"Authorization": "***"}));
    assert_eq!(server["owner"], "admin");
    assert_eq!(server["enabled"], true);
    let (_, by_name) = app.get("/api/v1/servers/github", &app.admin_key).await;
    assert_eq!(by_name["id"], id);
    assert_eq!(by_name["query_params"], json!({"bar": "2"}));
    assert!(!by_name.to_string().contains("ghp_secret"));
    let stored = app
        .state
        .catalog()
        .get_server(&admin(&app).await, id)
        .await
        .expect("stored");
    assert_eq!(
        stored.headers["Authorization"].expose(),
        "Bearer ghp_secret"
    );
    let url = url::Url::parse(stored.url.as_deref().expect("url")).expect("url");
    assert_eq!(
        manifold::catalog::url::build_server_url(&url, &stored.query_params).as_str(),
        "https://api.example.com/sse?foo=1&bar=2"
    );
}

async fn admin(app: &TestApp) -> manifold::principal::Principal {
    app.state
        .api_keys()
        .authenticate(&app.admin_key)
        .await
        .expect("admin principal")
}

#[tokio::test]
async fn patching_with_stars_keeps_the_stored_secret() {
    let app = spawn_app().await;
    create_server(&app, &app.admin_key, json!({"name": "s1", "transport": "websocket", "url": "wss://h/ws", "headers": {"X-Key": "k1", "X-Other": "o1"}})).await;
    let (status, patched) = app
        .patch(
            "/api/v1/servers/s1",
            &app.admin_key,
            json!({"headers": {"X-Key": "***", "X-New": "n1"}, "title": "S one"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["headers"], json!({"X-Key": "***", "X-New": "***"}));
    let stored = app
        .state
        .catalog()
        .get_server(&admin(&app).await, "s1")
        .await
        .expect("stored");
    assert_eq!(stored.headers["X-Key"].expose(), "k1");
    assert_eq!(stored.headers["X-New"].expose(), "n1");
    assert!(!stored.headers.contains_key("X-Other"));
    let (status, err) = app
        .patch(
            "/api/v1/servers/s1",
            &app.admin_key,
            json!({"headers": {"X-Unknown": "***"}}),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_secret")
    );
}

#[tokio::test]
async fn invalid_servers_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"name": "Bad Name", "transport": "sse", "url": "https://h"}),
            "invalid_server_name",
            "name",
        ),
        (
            json!({"name": "a", "transport": "carrier-pigeon", "url": "https://h"}),
            "invalid_transport",
            "transport",
        ),
        (
            json!({"name": "a", "transport": "websocket", "url": "https://h"}),
            "invalid_url",
            "url",
        ),
        (
            json!({"name": "a", "transport": "sse"}),
            "missing_url",
            "url",
        ),
        (
            json!({"name": "a", "transport": "stdio"}),
            "missing_command",
            "command",
        ),
        (
            json!({"name": "a", "transport": "stdio", "command": "x", "url": "https://h"}),
            "field_not_allowed",
            "url",
        ),
        (
            json!({"name": "a", "transport": "sse", "url": "https://h", "command": "x"}),
            "field_not_allowed",
            "command",
        ),
        (
            json!({"name": "a", "transport": "sse", "url": "https://h", "headers": {"Host": "x"}}),
            "invalid_headers",
            "headers",
        ),
        (
            json!({"name": "a", "transport": "stdio", "command": "x", "env": {"1BAD": "x"}}),
            "invalid_env",
            "env",
        ),
        (
            json!({"name": "a", "transport": "sse", "url": "https://h", "category_id": "ctg_0000000000000000"}),
            "category_not_found",
            "category_id",
        ),
        (
            json!({"name": "a", "transport": "sse", "url": "https://h", "category_id": "nope"}),
            "category_not_found",
            "category_id",
        ),
        (
            json!({"name": "a".repeat(33), "transport": "sse", "url": "https://h"}),
            "invalid_server_name",
            "name",
        ),
    ];
    for (body, want_code, field) in cases {
        let (status, err) = app
            .post("/api/v1/servers", &app.admin_key, body.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {err}");
        assert_eq!(code(&err), want_code, "{body}");
        assert_eq!(err["error"]["field"], field, "{body}");
    }
    let (_, list) = app.get("/api/v1/servers", &app.admin_key).await;
    assert_eq!(list["items"], json!([]), "no refused server was stored");
}

#[tokio::test]
async fn a_duplicate_server_name_is_a_conflict() {
    let app = spawn_app().await;
    create_server(&app, &app.admin_key, http_server("dup")).await;
    let (status, err) = app
        .post("/api/v1/servers", &app.admin_key, http_server("dup"))
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::CONFLICT, "server_name_taken")
    );
}

#[tokio::test]
async fn a_user_cannot_see_change_or_delete_another_users_private_server() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    let private = create_server(&app, &alice, http_server("alices")).await;
    assert_eq!(private["owner"], "alice");
    assert_eq!(private["is_public"], false);
    let id = private["id"].as_str().expect("id");
    for path in [
        format!("/api/v1/servers/{id}"),
        "/api/v1/servers/alices".to_owned(),
    ] {
        let (status, err) = app.get(&path, &bob).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::NOT_FOUND, "server_not_found"),
            "{path}"
        );
        let (status, _) = app.patch(&path, &bob, json!({"title": "mine now"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let (status, _) = app.delete(&path, &bob).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (_, bobs_list) = app.get("/api/v1/servers", &bob).await;
    assert_eq!(bobs_list["items"], json!([]));
    let (_, still) = app.get(&format!("/api/v1/servers/{id}"), &alice).await;
    assert_eq!(still["title"], "alices");
    let (_, admin_list) = app.get("/api/v1/servers", &app.admin_key).await;
    assert_eq!(
        admin_list["items"][0]["name"], "alices",
        "admins see every server"
    );
}

#[tokio::test]
async fn a_user_cannot_create_stdio_or_public_servers_or_publish_their_own() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let (status, err) = app
        .post(
            "/api/v1/servers",
            &alice,
            json!({"name": "local", "transport": "stdio", "command": "/bin/sh"}),
        )
        .await;
    assert_eq!((status, code(&err)), (StatusCode::FORBIDDEN, "forbidden"));
    let mut public = http_server("pub");
    public["is_public"] = json!(true);
    let (status, _) = app.post("/api/v1/servers", &alice, public).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    create_server(&app, &alice, http_server("mine")).await;
    let (status, _) = app
        .patch("/api/v1/servers/mine", &alice, json!({"is_public": true}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, list) = app.get("/api/v1/servers", &app.admin_key).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["mine"]);
    assert_eq!(list["items"][0]["is_public"], false);
}

#[tokio::test]
async fn users_see_public_servers_but_cannot_change_them() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let mut public = http_server("shared");
    public["is_public"] = json!(true);
    create_server(&app, &app.admin_key, public).await;
    let (status, got) = app.get("/api/v1/servers/shared", &alice).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let (status, err) = app
        .patch("/api/v1/servers/shared", &alice, json!({"title": "x"}))
        .await;
    assert_eq!((status, code(&err)), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(
        app.delete("/api/v1/servers/shared", &alice).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_admin_creates_a_stdio_server_whose_env_is_secret() {
    let app = spawn_app().await;
    let server = create_server(&app, &app.admin_key, json!({
        "name": "local-fs", "transport": "stdio", "command": "python3", "args": ["-m", "server"],
        "env": {"API_TOKEN": "s3cr3t"}, "cwd": "/tmp",
    })).await;
    assert_eq!(server["env"], json!({"API_TOKEN": "***"}));
    assert_eq!(server["args"], json!(["-m", "server"]));
    assert_eq!(server["url"], Value::Null);
    assert!(!server.to_string().contains("s3cr3t"));
}

#[tokio::test]
async fn server_lists_filter_by_category_and_page() {
    let app = spawn_app().await;
    let (_, cat) = app
        .post("/api/v1/categories", &app.admin_key, json!({"name": "Dev"}))
        .await;
    let cat_id = cat["id"].as_str().expect("id");
    for i in 0..5 {
        let mut body = http_server(&format!("s{i}"));
        if i % 2 == 0 {
            body["category_id"] = json!(cat_id);
        }
        create_server(&app, &app.admin_key, body).await;
    }
    let (_, in_cat) = app
        .get(
            &format!("/api/v1/servers?category_id={cat_id}"),
            &app.admin_key,
        )
        .await;
    let names: Vec<&str> = in_cat["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["s0", "s2", "s4"]);
    let (_, first) = app.get("/api/v1/servers?limit=3", &app.admin_key).await;
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let (_, second) = app
        .get(
            &format!("/api/v1/servers?limit=3&cursor={cursor}"),
            &app.admin_key,
        )
        .await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(second["items"][0]["name"], "s3");
    assert_eq!(second["next_cursor"], Value::Null);
    let (status, err) = app
        .get("/api/v1/servers?category_id=bogus", &app.admin_key)
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_category_id")
    );
}

#[tokio::test]
async fn me_tells_who_is_calling() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let (_, me) = app.get("/api/v1/me", &alice).await;
    assert_eq!(
        me,
        json!({"user_id": "alice", "role": "user", "session": "alice", "auth": "api_key"})
    );
    let (_, me) = app.get("/api/v1/me", &app.admin_key).await;
    assert_eq!(me["role"], "admin");
}

#[tokio::test]
async fn a_revoked_key_stops_working() {
    let app = spawn_app().await;
    let (key, secret) = app
        .state
        .api_keys()
        .create("carol", manifold::principal::Role::User)
        .await
        .expect("key");
    assert_eq!(
        app.get("/api/v1/me", secret.expose()).await.0,
        StatusCode::OK
    );
    app.state
        .api_keys()
        .revoke(key.id.as_str())
        .await
        .expect("revoked");
    assert_eq!(
        app.get("/api/v1/me", secret.expose()).await.0,
        StatusCode::UNAUTHORIZED
    );
}
