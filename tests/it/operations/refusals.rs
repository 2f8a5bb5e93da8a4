//! `/mcp` refuses in the gateway's shapes: an unsuitable `Accept` gets 406
//! with a JSON-RPC error body saying what to send, a refused `Host` the
//! JSON error naming `http.allowed_hosts`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::app::{code, spawn_app};
use crate::support::mcp::{SESSION_REVISION, initialize};

#[tokio::test]
async fn mcp_without_a_suitable_accept_answers_406_with_a_json_rpc_error() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&app.admin_key)
        .header("accept", "text/html")
        .json(&initialize(SESSION_REVISION))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("application/json"))
    );
    let body: Value = resp.json().await.expect("a JSON body");
    assert_eq!(body["jsonrpc"], "2.0");
    assert!(body["id"].is_null(), "{body}");
    assert_eq!(body["error"]["code"], -32600, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Accept: application/json, text/event-stream"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_refused_host_answers_the_json_error_naming_http_allowed_hosts() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&app.admin_key)
        .header("host", "rebind.example")
        .header("accept", "application/json, text/event-stream")
        .json(&initialize(SESSION_REVISION))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("a JSON body");
    assert_eq!(code(&body), "forbidden", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("http.allowed_hosts"), "{body}");
    assert!(message.contains("rebind.example"), "{body}");
    // The allowed names still work.
    let ok = app
        .mcp_post(
            "/mcp",
            Some(&app.admin_key),
            None,
            &initialize(SESSION_REVISION),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    app.stop().await;
}
