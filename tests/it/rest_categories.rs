//! The categories REST API, end to end over HTTP.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{code, spawn_app};

#[tokio::test]
async fn an_admin_creates_a_category_and_reads_it_back() {
    let app = spawn_app().await;
    let (status, body) = app
        .post("/api/v1/categories", &app.admin_key, json!({"name": "Productivity", "icon": "🚀", "color": "#4CAF50", "description": "Productivity tools"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("id");
    assert!(id.starts_with("ctg_") && id.len() == 20, "{id}");
    assert_eq!(body["icon"], "🚀");
    let (status, got) = app
        .get(&format!("/api/v1/categories/{id}"), &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["name"], "Productivity");
    assert_eq!(got["color"], "#4CAF50");
    assert_eq!(got["description"], "Productivity tools");
    assert!(
        got.get("servers").is_none(),
        "servers only on include=servers"
    );
}

#[tokio::test]
async fn the_same_name_in_any_case_is_a_conflict() {
    let app = spawn_app().await;
    let body = json!({"name": "Productivity", "icon": "🚀", "color": "#4CAF50"});
    assert_eq!(
        app.post("/api/v1/categories", &app.admin_key, body.clone())
            .await
            .0,
        StatusCode::CREATED
    );
    let (status, err) = app.post("/api/v1/categories", &app.admin_key, body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "category_name_taken");
    assert_eq!(err["error"]["field"], "name");
    let (status, err) = app
        .post(
            "/api/v1/categories",
            &app.admin_key,
            json!({"name": "  PRODUCTIVITY "}),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::CONFLICT, "category_name_taken")
    );
}

#[tokio::test]
async fn a_bad_colour_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let (status, err) = app
        .post(
            "/api/v1/categories",
            &app.admin_key,
            json!({"name": "Dev", "color": "green!"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&err), "invalid_color");
    assert_eq!(err["error"]["field"], "color");
    let (_, list) = app.get("/api/v1/categories", &app.admin_key).await;
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(0),
        "nothing half-written"
    );
}

#[tokio::test]
async fn requests_without_a_valid_key_get_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    for key in [None, Some("mfk_not-a-real-key"), Some("garbage")] {
        let mut req = app
            .client
            .post(app.url("/api/v1/categories"))
            .json(&json!({"name": "X"}));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(code(&body), "unauthorized");
    }
}

#[tokio::test]
async fn users_read_categories_but_only_admins_change_them() {
    let app = spawn_app().await;
    let user = app.user_key("alice").await;
    let (_, cat) = app
        .post(
            "/api/v1/categories",
            &app.admin_key,
            json!({"name": "Data"}),
        )
        .await;
    let id = cat["id"].as_str().expect("id");
    assert_eq!(
        app.get(&format!("/api/v1/categories/{id}"), &user).await.0,
        StatusCode::OK
    );
    let (status, err) = app
        .post("/api/v1/categories", &user, json!({"name": "Mine"}))
        .await;
    assert_eq!((status, code(&err)), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(
        app.patch(
            &format!("/api/v1/categories/{id}"),
            &user,
            json!({"name": "X"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&format!("/api/v1/categories/{id}"), &user)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (_, still) = app.get(&format!("/api/v1/categories/{id}"), &user).await;
    assert_eq!(still["name"], "Data");
}

#[tokio::test]
async fn patch_changes_only_the_given_fields_and_null_clears_the_icon() {
    let app = spawn_app().await;
    let (_, cat) = app
        .post(
            "/api/v1/categories",
            &app.admin_key,
            json!({"name": "Ops", "icon": "🛠", "color": "#fff", "description": "d"}),
        )
        .await;
    let id = cat["id"].as_str().expect("id");
    let (status, updated) = app
        .patch(
            &format!("/api/v1/categories/{id}"),
            &app.admin_key,
            json!({"color": "#FF5722", "icon": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["color"], "#FF5722");
    assert_eq!(updated["icon"], serde_json::Value::Null);
    assert_eq!(updated["name"], "Ops");
    assert_eq!(updated["description"], "d");
    assert_eq!(updated["created_at"], cat["created_at"]);
    assert_ne!(updated["updated_at"], cat["updated_at"]);
}

#[tokio::test]
async fn deleting_a_category_leaves_its_servers_uncategorised() {
    let app = spawn_app().await;
    let (_, cat) = app
        .post("/api/v1/categories", &app.admin_key, json!({"name": "Dev"}))
        .await;
    let id = cat["id"].as_str().expect("id");
    let (status, server) = app
        .post("/api/v1/servers", &app.admin_key, json!({"name": "gh", "transport": "streamable_http", "url": "https://example.com/mcp", "category_id": id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{server}");
    let (_, with) = app
        .get(
            &format!("/api/v1/categories/{id}?include=servers"),
            &app.admin_key,
        )
        .await;
    assert_eq!(with["servers"][0]["name"], "gh");
    assert_eq!(
        app.delete(&format!("/api/v1/categories/{id}"), &app.admin_key)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, err) = app
        .get(&format!("/api/v1/categories/{id}"), &app.admin_key)
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::NOT_FOUND, "category_not_found")
    );
    assert_eq!(
        app.delete(&format!("/api/v1/categories/{id}"), &app.admin_key)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, server) = app.get("/api/v1/servers/gh", &app.admin_key).await;
    assert_eq!(server["category_id"], serde_json::Value::Null);
}

#[tokio::test]
async fn lists_page_through_every_category_exactly_once() {
    let app = spawn_app().await;
    let names = ["alpha", "Bravo", "charlie", "Delta", "echo"];
    for name in names {
        assert_eq!(
            app.post("/api/v1/categories", &app.admin_key, json!({"name": name}))
                .await
                .0,
            StatusCode::CREATED
        );
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/categories?limit=2".to_owned();
    loop {
        let (status, page) = app.get(&path, &app.admin_key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|c| c["name"].as_str().unwrap_or_default().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/categories?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen, names,
        "ordered by name, case-insensitively, no repeats"
    );
    let (_, found) = app
        .get("/api/v1/categories?search=HAR", &app.admin_key)
        .await;
    assert_eq!(found["items"][0]["name"], "charlie");
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1));
    let (status, err) = app.get("/api/v1/categories?limit=0", &app.admin_key).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit")
    );
    let (status, err) = app
        .get("/api/v1/categories?cursor=%%%", &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_kept() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(id.starts_with("req_") && id.len() > 8, "{id}");
    let other = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_ne!(
        other
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(id.as_str())
    );
    let traced = app
        .client
        .get(app.url("/api/v1/me"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .expect("sent");
    assert_eq!(traced.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        traced
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-42")
    );
}
