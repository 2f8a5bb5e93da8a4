//! JSON-RPC batches: answered for 2025-03-26 clients (the one revision that
//! has them), refused with -32600 on later revisions, when empty, or when
//! they carry `initialize`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::mcp::{complete_handshake, initialize, start_session};
use crate::support::rest::app_with_connected_fixture;

const OLD: &str = "2025-03-26";

/// POSTs `body` in `session`, with `MCP-Protocol-Version: version` when given.
async fn post_batch(
    app: &crate::support::app::TestApp,
    key: &str,
    session: &str,
    version: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .json(body);
    if let Some(version) = version {
        req = req.header("mcp-protocol-version", version);
    }
    let resp = req.send().await.expect("sent");
    let status = resp.status();
    let text = resp.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn a_2025_03_26_batch_is_answered_in_one_array_and_later_revisions_refuse_it() {
    let (app, alice) = app_with_connected_fixture().await;
    let (session, hello) = start_session(&app, "/mcp", &alice, OLD).await;
    assert_eq!(hello["result"]["protocolVersion"], OLD, "{hello}");
    complete_handshake(&app, "/mcp", &alice, &session, OLD).await;

    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
        {"jsonrpc": "2.0", "id": "two", "method": "tools/call",
         "params": {"name": "fx__echo", "arguments": {"text": "batched"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {}},
    ]);
    // 2025-03-26 clients send no version header.
    let (status, answers) = post_batch(&app, &alice, &session, None, &batch).await;
    assert_eq!(status, StatusCode::OK, "{answers}");
    let answers = answers.as_array().expect("an array of responses");
    assert_eq!(
        answers.len(),
        3,
        "one per request, none for the notification: {answers:?}"
    );
    let by_id = |id: Value| {
        answers
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no answer for {id}: {answers:?}"))
    };
    let tools = by_id(json!(1))["result"]["tools"]
        .as_array()
        .expect("tools")
        .len();
    assert!(tools > 0);
    assert_eq!(
        by_id(json!("two"))["result"]["content"][0]["text"],
        "batched"
    );
    assert_eq!(by_id(json!(3))["error"]["code"], -32602);

    // The same with the header naming 2025-03-26.
    let (status, _) = post_batch(&app, &alice, &session, Some(OLD), &batch).await;
    assert_eq!(status, StatusCode::OK);

    // Later revisions have no batches; nor may a batch be empty or initialize.
    let refused = [
        (Some("2025-11-25"), batch.clone()),
        (None, json!([])),
        (None, json!([initialize(OLD)])),
    ];
    for (version, body) in refused {
        let (status, answer) = post_batch(&app, &alice, &session, version, &body).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{version:?} {body}: {answer}"
        );
        assert_eq!(answer["error"]["code"], -32600, "{answer}");
    }
    app.stop().await;
}
