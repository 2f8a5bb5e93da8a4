//! JSON-RPC batches on `/mcp`, which protocol 2025-03-26 (and only it)
//! allows: a POST whose body is an array of messages is answered with an
//! array of the responses to its requests, each message handled exactly as
//! if it had been posted alone (same credentials, session and headers).
//! rmcp has no batch support, so the batch is split here, in front of the
//! whole endpoint.
//!
//! A request is taken as 2025-03-26 when it carries no
//! `MCP-Protocol-Version` header (that revision had none) or names
//! 2025-03-26. Later revisions removed batches: there a batch is refused
//! with JSON-RPC -32600 (HTTP 400), as is an empty batch or one that
//! contains `initialize` (which the 2025-03-26 revision keeps out of
//! batches).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The one revision with batches.
const BATCH_REVISION: &str = "2025-03-26";

/// `inner` with batches split in front of it; bodies over `limit` bytes are
/// refused with 413 (`payload_too_large`).
pub fn with_batches(inner: Router, limit: usize) -> Router {
    let service = tower::service_fn(move |request: Request| {
        let inner = inner.clone();
        async move { Ok::<_, std::convert::Infallible>(dispatch(inner, request, limit).await) }
    });
    Router::new().fallback_service(service)
}

/// Passes anything but a batch POST through; splits a batch.
async fn dispatch(inner: Router, request: Request, limit: usize) -> Response {
    if request.method() != axum::http::Method::POST {
        return pass(inner, request).await;
    }
    let (parts, body) = request.into_parts();
    // Only the first chunk is looked at: a body that does not start with
    // `[` streams on untouched (the hot path pays for no second copy).
    let mut chunks = body.into_data_stream();
    let first = match chunks.next().await {
        None => Bytes::new(),
        Some(Ok(chunk)) => chunk,
        Some(Err(_)) => {
            return crate::http::ApiError::code_response(
                crate::error::ErrorCode::UnreadableBody,
                "the request body could not be read",
            );
        }
    };
    let starts_with = first.iter().copied().find(|b| !b.is_ascii_whitespace());
    if starts_with.is_some_and(|b| b != b'[') {
        let rest = futures::stream::once(async move { Ok::<_, axum::Error>(first) }).chain(chunks);
        return pass(inner, Request::from_parts(parts, Body::from_stream(rest))).await;
    }
    if first.len() > limit {
        return crate::http::ApiError::code_response(
            crate::error::ErrorCode::PayloadTooLarge,
            &format!("the request body exceeds {limit} bytes"),
        );
    }
    let rest = Body::from_stream(chunks);
    let bytes = match read(rest, limit - first.len()).await {
        Ok(rest) => [first, rest].concat(),
        Err(response) => return response,
    };
    let is_batch = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[');
    if !is_batch {
        return pass(inner, Request::from_parts(parts, Body::from(bytes))).await;
    }
    let version = parts
        .headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok());
    if version.is_some_and(|v| v != BATCH_REVISION) {
        return refuse(&format!(
            "Invalid Request: JSON-RPC batches are part of MCP {BATCH_REVISION} only, not {}",
            version.unwrap_or_default()
        ));
    }
    let items: Vec<Value> = match serde_json::from_slice(&bytes) {
        Ok(items) => items,
        Err(err) => {
            let body = json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32700, "message": format!("Parse error: {err}")}});
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
    };
    if items.is_empty() {
        return refuse("Invalid Request: an empty batch");
    }
    if items.iter().any(|m| m["method"] == "initialize") {
        return refuse("Invalid Request: initialize must not be part of a batch");
    }
    let mut answers = Vec::new();
    for item in items {
        let mut one = Request::from_parts(parts.clone(), Body::from(item.to_string()));
        one.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let response = pass(inner.clone(), one).await;
        if let Some(answer) = answer_of(&item, response, limit).await {
            answers.push(answer);
        }
    }
    if answers.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    (StatusCode::OK, axum::Json(Value::Array(answers))).into_response()
}

/// Runs one request through the endpoint.
async fn pass(inner: Router, request: Request) -> Response {
    match inner.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The body, at most `limit` bytes.
async fn read(body: Body, limit: usize) -> Result<Bytes, Response> {
    let mut collected = Vec::new();
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| {
            crate::http::ApiError::code_response(
                crate::error::ErrorCode::UnreadableBody,
                "the request body could not be read",
            )
        })?;
        if chunk.len() > limit.saturating_sub(collected.len()) {
            return Err(crate::http::ApiError::code_response(
                crate::error::ErrorCode::PayloadTooLarge,
                &format!("the request body exceeds {limit} bytes"),
            ));
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(collected))
}

/// The JSON-RPC response to `item` in `response` (a JSON body or an event
/// stream); `None` for a notification or response the endpoint accepted.
/// A failure without a JSON-RPC body becomes an internal error for the item.
async fn answer_of(item: &Value, response: Response, limit: usize) -> Option<Value> {
    let id = item.get("id").filter(|id| !id.is_null()).cloned();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = read(response.into_body(), limit.max(16 << 20))
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let messages: Vec<Value> = if content_type.starts_with("text/event-stream") {
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .collect()
    } else {
        serde_json::from_str(&text).into_iter().collect()
    };
    let id = id?;
    let found = messages
        .into_iter()
        .find(|m| m.get("id") == Some(&id) && m.get("method").is_none());
    Some(found.unwrap_or_else(|| {
        json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": -32603,
            "message": format!("the request was not answered (HTTP {status})"),
        }})
    }))
}

/// A batch the endpoint will not take: JSON-RPC -32600 with HTTP 400.
fn refuse(message: &str) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": message}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}
