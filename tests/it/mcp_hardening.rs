//! `/mcp` checks `Host` and `Origin` against `http.allowed_hosts` /
//! `http.allowed_origins` (DNS-rebinding protection), loopback by default.

use reqwest::StatusCode;

use crate::mcp_endpoint::initialize_body;
use crate::support::app::{TestApp, spawn_app, spawn_app_with};

/// POSTs an initialize to `/mcp` with the admin key and extra headers.
async fn init_with(app: &TestApp, headers: &[(&str, &str)]) -> StatusCode {
    let mut req = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&app.admin_key)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize_body());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("sent").status()
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused_by_default() {
    let app = spawn_app().await;
    assert_eq!(init_with(&app, &[]).await, StatusCode::OK);
    assert_eq!(
        init_with(&app, &[("host", "evil.example")]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        init_with(&app, &[("origin", "http://evil.example")]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        init_with(&app, &[("origin", "http://localhost:5173")]).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn configured_public_names_are_accepted() {
    let app = spawn_app_with(|s| {
        s.http.allowed_hosts = vec!["mcp.example.com".into()];
        s.http.allowed_origins = vec!["https://app.example.com:443".into()];
    })
    .await;
    assert_eq!(
        init_with(&app, &[("host", "mcp.example.com")]).await,
        StatusCode::OK
    );
    assert_eq!(
        init_with(
            &app,
            &[
                ("host", "mcp.example.com"),
                ("origin", "https://app.example.com")
            ]
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        init_with(
            &app,
            &[
                ("host", "mcp.example.com"),
                ("origin", "https://evil.example")
            ]
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        init_with(&app, &[("host", "127.0.0.1")]).await,
        StatusCode::FORBIDDEN,
        "loopback is no longer listed"
    );
}

#[tokio::test]
async fn a_star_accepts_any_host() {
    let app = spawn_app_with(|s| s.http.allowed_hosts = vec!["*".into()]).await;
    assert_eq!(
        init_with(&app, &[("host", "anything.example")]).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_requests_get_4xx_never_5xx() {
    let app = spawn_app().await;
    let send = |content_type: &'static str, body: &'static str| {
        app.client
            .post(app.url("/mcp"))
            .bearer_auth(&app.admin_key)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let wrong_type = send("text/plain", "{}").await.expect("sent");
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for body in ["{not json", "", "[]", "{\"jsonrpc\":\"2.0\"}", "null"] {
        let resp = send("application/json", body).await.expect("sent");
        assert!(
            resp.status().is_client_error(),
            "{body:?} → {}",
            resp.status()
        );
    }
}

#[tokio::test]
async fn a_body_over_http_max_body_bytes_is_refused() {
    let app = spawn_app_with(|s| s.http.max_body_bytes = 4096).await;
    let mut body = initialize_body();
    body["params"]["clientInfo"]["name"] = serde_json::Value::String("x".repeat(8192));
    let resp = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&app.admin_key)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        init_with(&app, &[]).await,
        StatusCode::OK,
        "a normal body still passes"
    );
}
