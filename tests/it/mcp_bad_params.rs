//! Malformed params are invalid params (-32602), never "method not found":
//! a table over every method that takes params × the usual mistakes, on a
//! real session; plus `initialize` without valid params and `Accept: */*`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::mcp::{SESSION_REVISION, exchange, open_session, post};
use crate::support::rest::app_with_connected_fixture;

#[tokio::test]
async fn malformed_params_answer_invalid_params_for_every_method() {
    let (app, alice) = app_with_connected_fixture().await;
    let session = open_session(&app, "/mcp", &alice).await;
    let cases: Vec<(&str, Value)> = vec![
        ("tools/call", Value::Null),
        ("tools/call", json!({})),
        ("tools/call", json!({"name": null})),
        ("tools/call", json!({"name": 5})),
        (
            "tools/call",
            json!({"name": "fx__echo", "arguments": "text"}),
        ),
        (
            "tools/call",
            json!({"name": "fx__echo", "arguments": [1, 2]}),
        ),
        ("resources/read", json!({})),
        ("resources/read", Value::Null),
        ("prompts/get", json!({})),
        ("completion/complete", json!({})),
        ("resources/subscribe", json!({})),
        ("logging/setLevel", json!({})),
    ];
    let mut wrong = Vec::new();
    for (n, (method, params)) in cases.iter().enumerate() {
        let mut body = json!({"jsonrpc": "2.0", "id": n + 10, "method": method});
        if !params.is_null() {
            body["params"] = params.clone();
        }
        let (status, _, answer) = exchange(post(
            &app,
            &alice,
            Some(&session),
            Some(SESSION_REVISION),
            &body,
        ))
        .await;
        let code = answer["error"]["code"].as_i64();
        if status != StatusCode::OK || code != Some(-32602) {
            wrong.push(format!("{method} {params}: HTTP {status}, {answer}"));
        }
    }
    assert!(wrong.is_empty(), "not -32602:\n{}", wrong.join("\n"));
    app.stop().await;
}

#[tokio::test]
async fn initialize_without_valid_params_is_invalid_params_and_accept_any_is_json() {
    let (app, alice) = app_with_connected_fixture().await;
    for params in [json!({}), json!({"protocolVersion": 5}), Value::Null] {
        let mut body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize"});
        if !params.is_null() {
            body["params"] = params.clone();
        }
        let resp = post(&app, &alice, None, None, &body)
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        let text = resp.text().await.expect("a body");
        let answer: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("initialize {params}: not JSON: HTTP {status} {text}"));
        assert_eq!(
            answer["error"]["code"], -32602,
            "initialize {params}: {answer}"
        );
        assert_eq!(answer["id"], 1, "{answer}");
    }
    // A client that accepts anything gets JSON.
    let resp = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&alice)
        .header("accept", "*/*")
        .json(&crate::support::mcp::initialize(SESSION_REVISION))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK, "Accept: */*");
    app.stop().await;
}
