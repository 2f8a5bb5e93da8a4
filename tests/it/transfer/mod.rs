//! Import and export of servers (`POST /api/v1/import`, `GET
//! /api/v1/export`): an `mcpServers` document with a stdio and a streamable
//! HTTP server previewed, imported and connected; the usual rights and
//! checks per entry with nothing created when one fails; exports that hide
//! secrets and import back, in both formats and on both catalogs.

mod export;
mod import;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::app::TestApp;

/// `POST /api/v1/import` (with `?dry_run=true` when `dry_run`) as `key`.
async fn import(app: &TestApp, key: &str, doc: &Value, dry_run: bool) -> (StatusCode, Value) {
    let path = if dry_run {
        "/api/v1/import?dry_run=true"
    } else {
        "/api/v1/import"
    };
    app.post(path, key, doc.clone()).await
}

/// Every server `key` may see, by name.
async fn servers(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, page) = app.get("/api/v1/servers?limit=200", key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

/// The names of every server the admin sees.
async fn all_names(app: &TestApp) -> Vec<String> {
    servers(app, &app.admin_key)
        .await
        .iter()
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect()
}

/// `(action, error code)` of each entry of an import answer.
fn outcomes(answer: &Value) -> Vec<(String, String)> {
    answer["servers"]
        .as_array()
        .unwrap_or_else(|| panic!("no `servers` in {answer}"))
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["error"]["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// `GET /api/v1/export?format=…` as `key`: 200 offered as a download; the document.
async fn export(app: &TestApp, key: &str, format: &str) -> Value {
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/export?format={format}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("export sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let disposition = resp
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(
        disposition.as_deref(),
        Some("attachment; filename=\"manifold-servers.json\"")
    );
    resp.json().await.expect("the export is JSON")
}
