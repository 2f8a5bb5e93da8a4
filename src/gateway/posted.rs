//! What the `/mcp` endpoint checks in a request before rmcp sees it: the
//! `Accept` and `Content-Type` headers, and that a JSON POST body is one
//! JSON-RPC message (else the JSON-RPC error itself: -32700, -32600, or
//! -32602 for a standard method whose params do not fit), and which kind of
//! message it is ([`Posted`]).

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rmcp::model::{CallToolRequest, ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::error::ErrorCode;
use crate::gateway::direct::ToolCall;
use crate::gateway::tasks::contains;
use crate::http::ApiError;

/// What a POST carried, as far as the endpoint cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// `initialize`: its answer may carry the `tasks` capability.
    Initialize,
    /// A 2025-11-25 task request, diverted to a private method.
    Diverted,
    /// A 2025-11-25 `tools/list`, not diverted yet: only a view whose tools
    /// carry fields rmcp drops needs it (see `tasks::divert`).
    ToolsList,
    /// Anything else.
    Other,
}

/// Whether an `Accept` header takes any media type (`*/*`) without naming
/// the types MCP answers with.
pub fn accepts_anything(accept: Option<&HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .collect();
    types.contains(&"*/*")
        && !(types.contains(&"application/json") && types.contains(&"text/event-stream"))
}

/// Whether a `Content-Type` names JSON (rmcp answers 415 to anything else).
pub fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads a JSON POST body (413 past `limit` bytes) and checks that it is one
/// JSON-RPC message; hands it back for rmcp to serve (diverted when it is a
/// request of 2025-11-25's tasks and `tasks` is set; a 2025-11-25
/// `tools/list` comes back as [`Posted::ToolsList`] for the caller to
/// decide), or answers the JSON-RPC error itself.
pub async fn checked_json(
    body: Body,
    limit: usize,
    tasks: bool,
) -> Result<(Body, Posted, Option<ToolCall>), Response> {
    let mut collected = Vec::new();
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::code_response(
                ErrorCode::UnreadableBody,
                "the request body could not be read",
            )
        })?;
        if chunk.len() > limit.saturating_sub(collected.len()) {
            return Err(ApiError::code_response(
                ErrorCode::PayloadTooLarge,
                &format!("the request body exceeds {limit} bytes"),
            ));
        }
        collected.extend_from_slice(&chunk);
    }
    if !(tasks && contains(&collected, b"\"task\""))
        && let Some(call) = tool_call(&collected)
    {
        // What the whole parse below would make of it too: a plain
        // `tools/call`, neither diverted nor refused.
        return Ok((
            Body::from(Bytes::from(collected)),
            Posted::Other,
            Some(call),
        ));
    }
    if let Ok(message) = serde_json::from_slice::<ClientJsonRpcMessage>(&collected) {
        if tasks
            && let ClientJsonRpcMessage::Request(request) = &message
            && matches!(request.request, ClientRequest::ListToolsRequest(_))
        {
            return Ok((Body::from(Bytes::from(collected)), Posted::ToolsList, None));
        }
        if tasks && let Some(diverted) = crate::gateway::tasks::divert(&message, &collected) {
            return Ok((Body::from(diverted), Posted::Diverted, None));
        }
        // A standard method whose params do not fit it parses as a custom
        // request, which rmcp would answer "method not found" (or, for
        // `initialize`, "Session ID is required"): it is invalid params.
        if let ClientJsonRpcMessage::Request(request) = &message
            && let ClientRequest::CustomRequest(custom) = &request.request
            && STANDARD_METHODS.contains(&custom.method.as_str())
        {
            let id = serde_json::to_value(&request.id).unwrap_or(Value::Null);
            let body = json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": -32602,
                "message": format!("Invalid params: the params of {} do not fit the method", custom.method),
            }});
            return Err((StatusCode::OK, axum::Json(body)).into_response());
        }
        if let ClientJsonRpcMessage::Request(request) = &message
            && matches!(request.request, ClientRequest::InitializeRequest(_))
        {
            return Ok((Body::from(Bytes::from(collected)), Posted::Initialize, None));
        }
        return Ok((Body::from(Bytes::from(collected)), Posted::Other, None));
    }
    Err(match serde_json::from_slice::<Value>(&collected) {
        Err(err) => jsonrpc_error(
            Value::Null,
            -32700,
            &format!("Parse error: the body is not valid JSON ({err})"),
        ),
        Ok(value) => {
            // Echo the id when the message has a usable one.
            let id = match value.get("id") {
                Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
                _ => Value::Null,
            };
            jsonrpc_error(
                id,
                -32600,
                "Invalid Request: the body is not a JSON-RPC request, notification or response this server knows",
            )
        }
    })
}

/// `raw` read as a `tools/call` request, when rmcp reads it as one.
///
/// rmcp reads a client's request as one of twenty-two request types, each tried
/// in turn, and a `tools/call` only fits the fourteenth: thirteen failed
/// attempts, each building an error message. The same message read with
/// `tools/call` as its only request type takes one attempt through the same
/// parsing. The other request types ahead of it each name another method,
/// so a message that reads as a `tools/call` here reads as one there.
fn tool_call(raw: &[u8]) -> Option<ToolCall> {
    if !contains(raw, b"tools/call") {
        return None;
    }
    match serde_json::from_slice::<JsonRpcMessage<CallToolRequest, IgnoredAny, IgnoredAny>>(raw) {
        Ok(JsonRpcMessage::Request(call)) => Some(call),
        _ => None,
    }
}

/// The MCP request methods: a request for one of them that does not parse
/// has invalid params (-32602), not an unknown method.
const STANDARD_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
    "tasks/get",
    "tasks/cancel",
];

/// A JSON-RPC error response with HTTP 400.
fn jsonrpc_error(id: Value, code: i64, message: &str) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn answer(body: &'static str, limit: usize) -> (StatusCode, Value) {
        let response = checked_json(Body::from(body), limit, false)
            .await
            .unwrap_err();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn only_json_media_types_are_checked() {
        let json = |v: &'static str| is_json(Some(&HeaderValue::from_static(v)));
        assert!(json("application/json"));
        assert!(json("Application/JSON; charset=utf-8"));
        assert!(!json("text/plain"));
        assert!(!json("application/json-patch+json"));
        assert!(!is_json(None));
    }

    #[tokio::test]
    async fn a_json_rpc_message_passes_through_unchanged() {
        let raw = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let (body, _, _) = checked_json(Body::from(raw), 1024, false).await.unwrap();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(&bytes[..], raw.as_bytes());
    }

    #[tokio::test]
    async fn bad_bodies_get_json_rpc_errors() {
        let (status, parse) = answer("{oops", 1024).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(parse["error"]["code"], -32700);
        assert_eq!(parse["id"], Value::Null);
        let (status, invalid) = answer(r#"{"jsonrpc":"2.0","id":"q","method":7}"#, 1024).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(invalid["error"]["code"], -32600);
        assert_eq!(invalid["id"], "q");
        let (_, object_id) = answer(r#"{"id":{"a":1}}"#, 1024).await;
        assert_eq!(
            object_id["id"],
            Value::Null,
            "only strings and numbers are ids"
        );
    }

    #[test]
    fn a_tool_call_is_recognized_as_rmcp_reads_it() {
        let reads_as_a_call = |raw: &str| {
            matches!(
                serde_json::from_slice::<ClientJsonRpcMessage>(raw.as_bytes()),
                Ok(JsonRpcMessage::Request(r)) if matches!(r.request, ClientRequest::CallToolRequest(_))
            )
        };
        let calls = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#,
            r#"{"params":{"arguments":{"a":[1,{"b":null}]},"name":"x"},"method":"tools/call","id":"s","jsonrpc":"2.0"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"e","arguments":null,"_meta":{"progressToken":3}}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"e","_meta":null},"extra":true}"#,
            r#"{"jsonrpc":"2.0","id":4.0,"method":"tools/call","params":{"name":"e","requestState":"s","other":1}}"#,
        ];
        for raw in calls {
            assert!(reads_as_a_call(raw), "rmcp reads a call: {raw}");
            assert!(tool_call(raw.as_bytes()).is_some(), "recognized: {raw}");
        }
        let others = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"e"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","arguments":[1]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","_meta":"m"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e"},"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e"},"error":null}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"e"}}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"e"}}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/call","params":{"name":"e"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"tools/call"}]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e"}} x"#,
        ];
        for raw in others {
            assert!(tool_call(raw.as_bytes()).is_none(), "not recognized: {raw}");
            assert!(
                !reads_as_a_call(raw),
                "rmcp does not read a call either: {raw}"
            );
        }
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_payload_too_large() {
        let (status, body) = answer(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, 8).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], ErrorCode::PayloadTooLarge.as_str());
    }
}
