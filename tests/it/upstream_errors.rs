//! An upstream that is not an MCP server answers with its own body; none of
//! that body may reach a client, the stored `last_error` or the log. The
//! error names the failure class, the HTTP status and the content type.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::any;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{code, spawn_app};
use crate::support::log::CapturedLog;
use crate::support::rest::{add_public, session_server};

/// A marker only the upstream's body carries.
const MARKER: &str = "INTERNAL-PW-42";

/// A plain JSON HTTP service (a search index, say) on a free port: every
/// request gets `status` and a JSON body carrying [`MARKER`]; its URL.
async fn json_service(status: StatusCode) -> String {
    let body = json!({"hits": [{"user": "ops", "password": MARKER}], "total": 1}).to_string();
    let router = Router::new().fallback(any(move || {
        let body = body.clone();
        async move { (status, [(CONTENT_TYPE, "application/json")], body) }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/search")
}

#[tokio::test]
async fn a_json_service_behind_a_server_url_never_shows_its_body() {
    let log = CapturedLog::default();
    let _guard = log.install();
    let app = spawn_app().await;
    for (name, status) in [
        ("ok200", StatusCode::OK),
        ("bad400", StatusCode::BAD_REQUEST),
    ] {
        let url = json_service(status).await;
        add_public(
            &app,
            json!({"name": name, "transport": "streamable_http", "url": url}),
        )
        .await;
        let alice = app.user_key("alice").await;
        let (status_code, answer) = app.session_action("connect", name, &alice).await;
        assert_eq!(status_code, StatusCode::BAD_GATEWAY, "{name}: {answer}");
        assert_eq!(code(&answer), "upstream_protocol_error", "{name}: {answer}");
        assert!(!answer.to_string().contains(MARKER), "{name}: {answer}");
        let listed = session_server(&app, &alice, name).await;
        assert_eq!(listed["status"], "FAILED", "{name}: {listed}");
        let last_error = listed["last_error"].as_str().unwrap_or_default().to_owned();
        assert!(!last_error.contains(MARKER), "{name}: {last_error}");
        assert!(!last_error.is_empty(), "{name}: a failure says why");
    }
    let text = log.text();
    assert!(
        !text.contains(MARKER),
        "the log shows the upstream's body:\n{text}"
    );
}
