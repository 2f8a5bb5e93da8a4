//! The admin page at `/`: its static files (no browser) and, in real
//! headless Chromium driven by `tests/browser/*.mjs`, the end-to-end flow,
//! live status updates, accessibility and what each role sees.
//!
//! The browser tests need `scripts/fixtures/browser.sh`; without it they
//! panic saying so. Screenshots land in `tests/artifacts/ui/`.

mod a11y;
mod activity;
mod catalog;
mod e2e;
mod isolation;
mod keys;
mod live;
mod oauth;
mod reconnect;
mod static_files;
mod tools;
mod toolsets;
mod transfer;
mod tryit;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::rest::{connect, create_server};
use crate::support::unique;

/// The fixture tool whose description and schema the tests look for.
pub const KNOWN_TOOL: &str = "echo";

/// How many tools the gateway reports for the upstream at `url`: connected
/// over REST in a throwaway session of its own (user `probe`), then removed.
pub async fn tool_count(app: &TestApp, url: &str) -> usize {
    let key = app.user_key("probe").await;
    let name = unique("probe-");
    create_server(
        app,
        &key,
        json!({"name": name, "transport": "streamable_http", "url": url}),
    )
    .await;
    let connected = connect(app, &name, &key).await;
    let tools = connected["tools"]
        .as_array()
        .expect("the connect answer lists tools");
    assert!(
        tools.iter().any(|t| t["name"] == KNOWN_TOOL),
        "the upstream has no `{KNOWN_TOOL}` tool: {connected}"
    );
    let count = connected["tool_count"].as_u64().expect("tool_count") as usize;
    assert_eq!(count, tools.len(), "{connected}");
    let (status, _) = app.delete(&format!("/api/v1/servers/{name}"), &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    count
}

/// `GET /api/v1/me`'s error message for a key that does not exist.
pub async fn bad_key_message(app: &TestApp, bad_key: &str) -> String {
    let (status, body) = app.get("/api/v1/me", bad_key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    body["error"]["message"]
        .as_str()
        .expect("an error message")
        .to_owned()
}

/// A validation error's `(field, message)` for `body` POSTed to `path`.
pub async fn field_error(app: &TestApp, path: &str, key: &str, body: Value) -> (String, String) {
    let (status, answer) = app.post(path, key, body).await;
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
        "POST {path} answered {status}: {answer}"
    );
    (
        answer["error"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        answer["error"]["message"]
            .as_str()
            .expect("an error message")
            .to_owned(),
    )
}
