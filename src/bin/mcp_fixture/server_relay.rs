//! The tools `FIXTURE_RELAY=1` adds, which exercise a gateway's relay:
//! sampling (in a call and outside any), elicitation, roots, change
//! notifications, dying mid-call and counting cancelled `slow` calls.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rmcp::model::{
    CallToolResult, ClientResult, ElicitRequest, JsonObject, ResourceUpdatedNotificationParam,
    ServerRequest, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::json;

use super::{Fixture, no_args, str_arg, text, tool};

const RELAY_TOOLS: [&str; 8] = [
    "sample",
    "sample_later",
    "later_result",
    "elicit",
    "roots",
    "notify",
    "die",
    "cancelled_count",
];

pub(super) fn is_relay_tool(name: &str) -> bool {
    RELAY_TOOLS.contains(&name)
}

/// The tools `FIXTURE_RELAY=1` adds.
pub(super) fn relay_tools() -> Vec<Tool> {
    vec![
        tool(
            "sample",
            "Asks the client to sample (sampling/createMessage) with `prompt`; answers with the sampled text, or isError with the client's error as JSON.",
            json!({
                "type": "object",
                "properties": {"prompt": {"type": "string"}},
                "required": ["prompt"]
            }),
        ),
        tool(
            "sample_later",
            "Answers at once, then asks the client to sample 200 ms later, outside any call; `later_result` tells the outcome.",
            no_args(),
        ),
        tool(
            "later_result",
            "The outcome of the last `sample_later` request as JSON (`pending` until it has one).",
            no_args(),
        ),
        tool(
            "elicit",
            "Asks the client for a `name` (elicitation/create, form mode); answers with {action, content} as JSON, or isError with the client's error.",
            json!({
                "type": "object",
                "properties": {"message": {"type": "string"}},
                "required": ["message"]
            }),
        ),
        tool(
            "roots",
            "Lists the client's roots (roots/list); answers with the URIs as a JSON array, or isError with the client's error.",
            no_args(),
        ),
        tool(
            "notify",
            "Sends a notification `count` times (default 1): `kind` is tools (also adds `extra`), resources, prompts or updated (resources/updated for `uri`).",
            json!({
                "type": "object",
                "properties": {
                    "kind": {"type": "string"},
                    "uri": {"type": "string"},
                    "count": {"type": "integer", "minimum": 1, "maximum": 100000}
                },
                "required": ["kind"]
            }),
        ),
        tool(
            "die",
            "Exits the process without answering (exit status 3).",
            no_args(),
        ),
        tool(
            "cancelled_count",
            "How many `slow` calls of this session were cancelled before they finished.",
            no_args(),
        ),
    ]
}

/// An MCP error from the client as a tool error whose text is the error as JSON.
fn client_error(err: rmcp::ServiceError) -> CallToolResult {
    let body = match err {
        rmcp::ServiceError::McpError(e) => {
            json!({"code": e.code.0, "message": e.message, "data": e.data})
        }
        other => json!({"message": other.to_string()}),
    };
    CallToolResult::error(vec![text(body.to_string())])
}

impl Fixture {
    #[expect(deprecated, reason = "sampling and roots are still part of 2025-11-25")]
    pub(super) async fn call_relay(
        &self,
        name: &str,
        args: &JsonObject,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let peer = &context.peer;
        match name {
            "sample" => {
                let prompt = str_arg(args, "prompt")?;
                let params = serde_json::from_value(json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                    "maxTokens": 64
                }))
                .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                let answer = peer.create_message(params).await;
                match answer {
                    Ok(result) => {
                        let value = serde_json::to_value(&result)
                            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                        let sampled = value["content"]["text"].as_str().unwrap_or_default();
                        Ok(CallToolResult::success(vec![text(sampled)]))
                    }
                    Err(err) => Ok(client_error(err)),
                }
            }
            "sample_later" => {
                let params: rmcp::model::CreateMessageRequestParams = serde_json::from_value(json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": "later"}}],
                    "maxTokens": 8
                }))
                .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                let peer = peer.clone();
                let later = self.later.clone();
                if let Ok(mut slot) = later.lock() {
                    *slot = None;
                }
                // Ends by itself: one request, answered or failed.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let outcome = match peer.create_message(params).await {
                        Ok(_) => json!({"answered": true}),
                        Err(rmcp::ServiceError::McpError(e)) => {
                            json!({"code": e.code.0, "message": e.message, "data": e.data})
                        }
                        Err(other) => json!({"message": other.to_string()}),
                    };
                    if let Ok(mut slot) = later.lock() {
                        *slot = Some(outcome.to_string());
                    }
                });
                Ok(CallToolResult::success(vec![text("scheduled")]))
            }
            "later_result" => {
                let outcome = self
                    .later
                    .lock()
                    .ok()
                    .and_then(|slot| slot.clone())
                    .unwrap_or_else(|| "pending".to_owned());
                Ok(CallToolResult::success(vec![text(outcome)]))
            }
            "elicit" => {
                let message = str_arg(args, "message")?;
                let params = serde_json::from_value(json!({
                    "mode": "form",
                    "message": message,
                    "requestedSchema": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"]
                    }
                }))
                .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
                match peer.send_request(request).await {
                    Ok(ClientResult::ElicitResult(result)) => {
                        let value = serde_json::to_value(&result)
                            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                        Ok(CallToolResult::success(vec![text(value.to_string())]))
                    }
                    Ok(_) => Err(McpError::internal_error("elicit: wrong result type", None)),
                    Err(err) => Ok(client_error(err)),
                }
            }
            "roots" => {
                let answer = peer.list_roots().await;
                match answer {
                    Ok(result) => {
                        let uris: Vec<&str> = result.roots.iter().map(|r| r.uri.as_str()).collect();
                        Ok(CallToolResult::success(vec![text(json!(uris).to_string())]))
                    }
                    Err(err) => Ok(client_error(err)),
                }
            }
            "notify" => {
                let count = args
                    .get("count")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(1)
                    .clamp(1, 100_000);
                let kind = str_arg(args, "kind")?;
                if kind == "tools" {
                    self.extra.store(true, Ordering::SeqCst);
                }
                for _ in 0..count {
                    let sent = match kind {
                        "tools" => peer.notify_tool_list_changed().await,
                        "resources" => peer.notify_resource_list_changed().await,
                        "prompts" => peer.notify_prompt_list_changed().await,
                        "updated" => {
                            let uri = str_arg(args, "uri")?;
                            peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                                .await
                        }
                        other => {
                            return Err(McpError::invalid_params(
                                format!("kind: unknown kind {other}"),
                                None,
                            ));
                        }
                    };
                    sent.map_err(|e| McpError::internal_error(format!("notify: {e}"), None))?;
                }
                Ok(CallToolResult::success(vec![text("sent")]))
            }
            "die" => {
                tracing::info!("die: exiting without an answer");
                std::process::exit(3)
            }
            "cancelled_count" => {
                let count = self.cancelled.load(Ordering::SeqCst);
                Ok(CallToolResult::success(vec![text(count.to_string())]))
            }
            other => Err(McpError::invalid_params(
                format!("unknown tool: {other}"),
                None,
            )),
        }
    }
}
