//! Client mistakes are not the gateway's faults: an unknown tool, bad
//! arguments, an unknown resource, a refused `Host` or protocol version
//! leave no `WARN` or `ERROR` line in the log (they are answered, and
//! rmcp's own warnings about them are kept at debug).

use reqwest::StatusCode;
use rmcp::model::ReadResourceRequestParams;
use serde_json::json;

use crate::support::log::CapturedLog;
use crate::support::mcp::{call, initialize, mcp_client};
use crate::support::rest::app_with_connected_fixture;

#[tokio::test]
async fn client_mistakes_leave_no_warn_or_error_lines() {
    let log = CapturedLog::default();
    let _capture = log.install();
    let (app, alice) = app_with_connected_fixture().await;
    let client = mcp_client(&app, "/mcp", &alice).await;

    let unknown = client.call_tool(call("fx__nope", json!({}))).await;
    assert!(unknown.is_err(), "{unknown:?}");
    let bad_args = client.call_tool(call("fx__echo", json!({"text": 5}))).await;
    assert!(bad_args.is_err() || bad_args.is_ok_and(|r| r.is_error == Some(true)));
    let missing = client
        .read_resource(ReadResourceRequestParams::new("manifold://fx/none"))
        .await;
    assert!(missing.is_err(), "{missing:?}");

    let refused_host = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&alice)
        .header("host", "evil.example")
        .header("accept", "application/json, text/event-stream")
        .json(&initialize("2025-11-25"))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused_host.status(), StatusCode::FORBIDDEN);
    let bad_version = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&alice)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "1999-01-01")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .expect("sent");
    assert!(
        bad_version.status().is_client_error(),
        "{}",
        bad_version.status()
    );

    client.cancel().await.expect("the client closes");
    app.stop().await;
    let text = log.text();
    let loud: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
        // The stdio fixture's own stderr is logged at debug by the gateway.
        .filter(|line| !line.contains("stderr:"))
        .collect();
    assert!(
        loud.is_empty(),
        "client mistakes logged loudly:\n{}",
        loud.join("\n")
    );
}
