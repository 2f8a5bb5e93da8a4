//! What a document may cost: list arguments multiply the complexity, the
//! response has a size cap, and errors never echo a whole document back.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{data, first_code};
use crate::support::app::{TestApp, spawn_app, spawn_app_with};
use crate::support::rest::{add_public, connect, fixture_server};

/// A public stdio fixture `big` with 3,000 extra tools, connected by the admin.
async fn app_with_a_3000_tool_server() -> TestApp {
    let app = spawn_app().await;
    let mut body = fixture_server("big");
    body["env"] = json!({"FIXTURE_TOOL_COUNT": "3000"});
    add_public(&app, body).await;
    connect(&app, "big", &app.admin_key.clone()).await;
    app
}

/// POSTs `document` as the admin; status, raw body length, JSON body, time.
async fn post_raw(app: &TestApp, document: &str) -> (StatusCode, usize, Value, Duration) {
    let started = Instant::now();
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.admin_key)
        .json(&json!({ "query": document }))
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let bytes = resp.bytes().await.expect("a body");
    let elapsed = started.elapsed();
    let body = serde_json::from_slice(&bytes).expect("GraphQL answers JSON");
    (status, bytes.len(), body, elapsed)
}

fn aliases(count: usize, selection: &str) -> String {
    let fields: Vec<String> = (0..count).map(|i| format!("a{i}: {selection}")).collect();
    format!("{{ {} }}", fields.join(" "))
}

#[tokio::test]
async fn list_arguments_multiply_the_cost_so_150_aliases_of_every_tool_are_refused_quickly() {
    let app = app_with_a_3000_tool_server().await;
    let document = aliases(
        150,
        "servers(first: 200) { edges { node { tools { name description schema } } } }",
    );
    assert!(document.len() > 10_000, "{}", document.len());
    let (status, size, body, elapsed) = post_raw(&app, &document).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(first_code(&body), "query_too_complex", "{body}");
    assert!(size < 2048, "a short refusal, not {size} bytes");
    assert!(elapsed < Duration::from_secs(2), "refused in {elapsed:?}");

    // One page of the same selection is fine, as is a large page of
    // plain fields.
    let one = data(
        &app,
        &app.admin_key,
        "{ servers { edges { node { name tools { name description schema } } } } }",
        Value::Null,
    )
    .await;
    let tools = &one["servers"]["edges"][0]["node"]["tools"];
    assert!(
        tools.as_array().is_some_and(|t| t.len() > 3000),
        "every tool of `big`"
    );
    data(
        &app,
        &app.admin_key,
        "{ servers(first: 200) { edges { cursor node { id name title description transport
             url command args isPublic owner categoryId enabled status toolCount connectedAt
             lastError retryAt reconnects lastCallAt protocolVersion oauth tools { name } } } } }",
        Value::Null,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_response_past_the_size_cap_is_refused_with_response_too_large() {
    let app = app_with_a_3000_tool_server().await;
    // Cheap by the cost model (one server each), large by the bytes.
    let document = aliases(
        100,
        r#"server(name: "big") { tools { name description schema } }"#,
    );
    let (status, size, body, elapsed) = post_raw(&app, &document).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(first_code(&body), "response_too_large", "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
    assert!(size < 2048, "a short refusal, not {size} bytes");
    assert!(elapsed < Duration::from_secs(10), "refused in {elapsed:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_huge_invalid_document_gets_a_short_error_with_a_code() {
    let app = spawn_app_with(|s| s.http.max_body_bytes = 4 << 20).await;
    // A syntax error at the end of a 1 MB line.
    let document = format!(
        "{{ me {{ userId }} }} # {}\n{{ me ( }}",
        "x".repeat(1 << 20)
    );
    let (status, size, body, _) = post_raw(&app, &document).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first_code(&body), "invalid_document", "{body}");
    assert!(size < 2048, "a short error, not {size} bytes");
    // A syntax error inside a 1 MB line.
    let document = format!("{{ me {{ userId }} {} ( }}", "y".repeat(1 << 20));
    let (_, size, body, _) = post_raw(&app, &document).await;
    assert_eq!(first_code(&body), "invalid_document", "{body}");
    assert!(size < 2048, "a short error, not {size} bytes");
    // A valid document that names a 1 MB field.
    let document = format!("{{ {} }}", "z".repeat(1 << 20));
    let (_, size, body, _) = post_raw(&app, &document).await;
    assert_eq!(first_code(&body), "invalid_document", "{body}");
    assert!(size < 2048, "a short error, not {size} bytes");
    app.stop().await;
}
