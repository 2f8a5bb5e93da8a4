//! MCP tasks (protocol 2025-11-25) through the gateway.
//!
//! A client may call a tool "as a task" (`tools/call` with a `task`
//! param), get a task back at once, and follow it with `tasks/get`,
//! `tasks/result`, `tasks/list` and `tasks/cancel`. The upstream runs the
//! task; Manifold routes every one of these requests to the upstream link
//! that owns it and changes nothing else:
//!
//! - **Task ids** are the upstream's own on `/mcp/s/{server}`; on `/mcp`
//!   they are `{server}/{upstream id}` ([`wrap_id`]), unique across servers
//!   and reversible, as resource URIs are. Tasks live in the upstream
//!   session of the caller's link, so a session never reaches another
//!   session's tasks.
//! - **`notifications/tasks/status`** goes to the client that created the
//!   task (its GET stream), with the id it knows.
//! - **Tools** list with their `execution` (`taskSupport`), and the
//!   `tasks` capability is advertised: on `/mcp` always (servers come and
//!   go during a session, and `tasks/list` merges every connected server's
//!   tasks), on `/mcp/s/{server}` exactly as the upstream declared it.
//!
//! rmcp knows a different, later task design (the 2026-07-28 extension)
//! and would read these requests and answers as that. So the endpoint
//! diverts them ([`divert`]): a 2025-11-25 session's `tools/list`,
//! task-augmented `tools/call` and `tasks/*` reach the handler as private
//! methods, with the raw params, and are answered here with raw JSON; the
//! upstream's answers come through the link's raw lane
//! ([`crate::upstream::raw`]). The `initialize` answer carries the `tasks`
//! capability in a private `experimental` entry that the endpoint moves to
//! its place ([`advertise`]). Other protocol revisions are left to rmcp.

use std::sync::Arc;

use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, CustomResult, ErrorCode as RpcCode, JsonRpcMessage,
    ListToolsResult, ServerCapabilities, ServerResult,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::{Value, json};

use crate::catalog::audit::kind;
use crate::gateway::audit::Audit;
use crate::gateway::content;
use crate::gateway::exposure::Exposure;
use crate::gateway::handler::{Scope, TOOLS_PAGE};
use crate::gateway::namespace::wrap_content_uri;
use crate::gateway::view::ToolView;
use crate::principal::Principal;
use crate::state::AppState;
use crate::upstream::Link;
use crate::upstream::raw;

/// The protocol revision whose tasks Manifold relays.
pub const REVISION: &str = "2025-11-25";

/// The prefix of the private methods the endpoint diverts requests to.
pub const PREFIX: &str = "manifold/2025-11-25/";

/// The private `experimental` entry that carries the `tasks` capability
/// from the handler to the endpoint.
pub const CARRIER: &str = "manifold/tasks";

/// The `_meta` key naming a result's task.
const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";

/// Marks a request the endpoint diverted (a client cannot send one).
#[derive(Debug, Clone, Copy)]
pub struct Diverted;

/// The body a 2025-11-25 request is served with: `Some` with its method
/// renamed to `{PREFIX}{method}` for `tools/list`, a task-augmented
/// `tools/call` and the `tasks/*` methods; `None` for anything else.
pub fn divert(message: &ClientJsonRpcMessage, raw: &[u8]) -> Option<Vec<u8>> {
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    let method = match &request.request {
        ClientRequest::ListToolsRequest(_) => "tools/list",
        ClientRequest::GetTaskRequest(_) => "tasks/get",
        ClientRequest::CancelTaskRequest(_) => "tasks/cancel",
        ClientRequest::CustomRequest(custom)
            if matches!(custom.method.as_str(), "tasks/result" | "tasks/list") =>
        {
            custom.method.as_str()
        }
        // Only a call that asks for a task (cheap test first).
        ClientRequest::CallToolRequest(_) if contains(raw, b"\"task\"") => "tools/call",
        _ => return None,
    };
    let mut value: Value = serde_json::from_slice(raw).ok()?;
    if method == "tools/call" && !value["params"]["task"].is_object() {
        return None;
    }
    value["method"] = Value::String(format!("{PREFIX}{method}"));
    serde_json::to_vec(&value).ok()
}

/// Whether `haystack` contains `needle`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `/mcp`'s id for task `id` of `server`.
pub fn wrap_id(server: &str, id: &str) -> String {
    format!("{server}/{id}")
}

/// The (server, upstream id) behind an id made by [`wrap_id`].
pub fn unwrap_id(id: &str) -> Option<(&str, &str)> {
    let (server, upstream) = id.split_once('/')?;
    crate::catalog::ServerName::parse(server).ok()?;
    Some((server, upstream))
}

/// Puts the `tasks` capability for a 2025-11-25 session of `scope` into
/// `capabilities` (in the private carrier [`advertise`] moves).
pub async fn offer(
    app: &AppState,
    principal: Option<&Principal>,
    scope: &Scope,
    capabilities: &mut ServerCapabilities,
) {
    let tasks = match (scope, principal) {
        (Scope::All | Scope::Toolset(_), _) => {
            Some(json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}))
        }
        (Scope::Server(server), Some(principal)) => {
            let wait =
                std::time::Duration::from_secs(app.settings().upstream.tool_fetch_timeout_seconds);
            match tokio::time::timeout(wait, content::link(app, principal, server)).await {
                Ok(Ok(link)) => link
                    .raw_capabilities()
                    .and_then(|c| c.get("tasks").cloned()),
                _ => None,
            }
        }
        (Scope::Server(_), None) => None,
    };
    if let Some(Value::Object(tasks)) = tasks {
        capabilities
            .experimental
            .get_or_insert_with(Default::default)
            .insert(CARRIER.to_owned(), tasks);
    }
}

/// The `initialize` answer in `response` (JSON or an event stream) with the
/// carried `tasks` capability moved to `capabilities.tasks`, where
/// 2025-11-25 clients look for it.
pub async fn advertise(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 4 << 20).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let text = String::from_utf8_lossy(&bytes);
    let event_stream = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let out = if event_stream {
        text.split_inclusive('\n')
            .map(|line| match line.strip_prefix("data:") {
                Some(data) => match move_carrier(data.trim()) {
                    Some(moved) => format!("data: {moved}\n"),
                    None => line.to_owned(),
                },
                None => line.to_owned(),
            })
            .collect::<String>()
    } else {
        move_carrier(&text).unwrap_or_else(|| text.into_owned())
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

/// `message` with the carrier moved, or `None` when it has none. The text
/// is edited in place, so everything else keeps its bytes and key order.
fn move_carrier(message: &str) -> Option<String> {
    // Quotes inside JSON strings are escaped: this can only match structure.
    let key = format!("\"experimental\":{{\"{CARRIER}\":");
    let start = message.find(&key)?;
    let value_start = start + "\"experimental\":".len();
    let mut values =
        serde_json::Deserializer::from_str(&message[value_start..]).into_iter::<Value>();
    let Value::Object(mut experimental) = values.next()?.ok()? else {
        return None;
    };
    let value_end = value_start + values.byte_offset();
    let tasks = experimental.remove(CARRIER)?;
    let replacement = if experimental.is_empty() {
        format!("\"tasks\":{tasks}")
    } else {
        format!(
            "\"experimental\":{},\"tasks\":{tasks}",
            Value::Object(experimental)
        )
    };
    Some(format!(
        "{}{replacement}{}",
        &message[..start],
        &message[value_end..]
    ))
}

/// Whether the endpoint diverted the request of `context`.
pub fn diverted(context: &RequestContext<RoleServer>) -> bool {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .is_some_and(|parts| parts.extensions.get::<Diverted>().is_some())
}

/// What serves a diverted request.
pub struct Tasks<'a> {
    pub app: &'a AppState,
    pub scope: &'a Scope,
    pub principal: &'a Principal,
    pub view: Arc<ToolView>,
    pub context: &'a RequestContext<RoleServer>,
}

impl Tasks<'_> {
    /// Answers the diverted `method` (without [`PREFIX`]).
    pub async fn serve(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<CustomResult, McpError> {
        let params = params.unwrap_or_else(|| json!({}));
        let answer = match method {
            "tools/list" => self.list_tools(&params)?,
            "tools/call" => {
                let parts = self.context.extensions.get::<axum::http::request::Parts>();
                let mut audit =
                    Audit::begin(self.app, kind::TASK_CALL, self.principal, self.scope, parts);
                if let Some(name) = params.get("name").and_then(Value::as_str) {
                    audit.target(name);
                }
                audit.request(&params.get("arguments"));
                let answer = self.call_tool(params, &mut audit).await;
                audit.finish(self.app, &answer);
                answer?
            }
            "tasks/get" | "tasks/result" | "tasks/cancel" => {
                self.about_task(method, params).await?
            }
            "tasks/list" => self.list_tasks(params).await?,
            _ => return Err(method_not_found(&format!("{PREFIX}{method}"))),
        };
        Ok(CustomResult(answer))
    }

    /// `tools/list` with each tool's fields rmcp does not carry
    /// (`execution`) put back.
    fn list_tools(&self, params: &Value) -> Result<Value, McpError> {
        let cursor = params
            .get("cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let after = content::list::decode_cursor(cursor)?;
        let parts = self.context.extensions.get::<axum::http::request::Parts>();
        let search = Exposure::of(parts, &self.view) == Exposure::Search;
        let (tools, more) = if search {
            (crate::gateway::exposure::listed(), false)
        } else {
            self.view.page(after.as_deref(), TOOLS_PAGE)
        };
        let next_cursor = more.then(|| tools.last()).flatten().map(|t| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t.name.as_bytes())
        });
        let mut page = ListToolsResult::with_all_items(tools.to_vec());
        page.next_cursor = next_cursor;
        // The shape rmcp gives a pre-2026-07-28 client.
        let mut result = ServerResult::ListToolsResult(page);
        result.strip_result_type_for_legacy_peer();
        result.strip_non_object_output_for_legacy_peer();
        let mut value = serde_json::to_value(result).map_err(internal)?;
        if let Some(Value::Array(tools)) = value.get_mut("tools") {
            for tool in tools {
                let extras = tool
                    .get("name")
                    .and_then(Value::as_str)
                    .and_then(|name| self.view.extras(name));
                if let (Some(extras), Some(object)) = (extras, tool.as_object_mut()) {
                    for (key, field) in extras {
                        object.entry(key.clone()).or_insert_with(|| field.clone());
                    }
                }
            }
        }
        Ok(value)
    }

    /// A task-augmented `tools/call`: forwarded with the upstream's tool
    /// name; a task in the answer is watched for its creator and named for
    /// this scope. An upstream that runs the call at once answers a plain
    /// result, passed on as `tools/call` would.
    async fn call_tool(&self, mut params: Value, audit: &mut Audit) -> Result<Value, McpError> {
        self.view.check_open()?;
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_params("tools/call needs a tool name"))?
            .to_owned();
        let (server, tool) = self
            .view
            .route(self.scope, &name)
            .map(|(server, tool)| (server.to_owned(), tool.to_owned()))?;
        audit.server(&server);
        let arguments = params.get("arguments").and_then(Value::as_object);
        audit.arguments(self.app, &server, arguments).await;
        params["name"] = Value::String(tool);
        strip_progress_token(&mut params);
        let link = self.link(&server).await?;
        let mut answer = self.forward(&link, &server, "tools/call", params).await?;
        if let Some(task) = answer.get_mut("task") {
            self.adopt(&link, &server, task);
        } else {
            self.rewrite_result(&server, &mut answer);
        }
        Ok(answer)
    }

    /// `tasks/get`, `tasks/result` and `tasks/cancel`: to the server that
    /// owns the task, the answer's task ids named for this scope.
    async fn about_task(&self, method: &str, mut params: Value) -> Result<Value, McpError> {
        let id = params
            .get("taskId")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_params(&format!("{method} needs a taskId")))?
            .to_owned();
        let (server, upstream_id) = match self.scope {
            Scope::Server(server) => (server.clone(), id.clone()),
            Scope::All | Scope::Toolset(_) => match unwrap_id(&id) {
                Some((server, upstream)) => (server.to_owned(), upstream.to_owned()),
                None => return Err(invalid_params(&format!("Task not found: {id}"))),
            },
        };
        if !content::servers_in_scope(self.app, self.principal, self.scope, content::Kind::Any)
            .await?
            .contains(&server)
        {
            return Err(invalid_params(&format!("Task not found: {id}")));
        }
        params["taskId"] = Value::String(upstream_id);
        let link = self.link(&server).await?;
        let mut answer = self.forward(&link, &server, method, params).await?;
        match method {
            "tasks/result" => self.rewrite_result(&server, &mut answer),
            _ => self.rename(&server, &mut answer),
        }
        Ok(answer)
    }

    /// `tasks/list`: the upstream's list on a per-server route (cursor
    /// passed through); on `/mcp` the tasks of every connected server that
    /// lists tasks, merged (no further page).
    async fn list_tasks(&self, params: Value) -> Result<Value, McpError> {
        if let Scope::Server(server) = self.scope {
            let link = self.link(server).await?;
            return self.forward(&link, server, "tasks/list", params).await;
        }
        let servers =
            content::servers_in_scope(self.app, self.principal, self.scope, content::Kind::Any)
                .await?;
        let lists = futures::future::join_all(servers.iter().map(|server| async move {
            let link = self.link(server).await.ok()?;
            let lists_tasks = link
                .raw_capabilities()
                .is_some_and(|c| c["tasks"].get("list").is_some());
            if !lists_tasks {
                return None;
            }
            match self.forward(&link, server, "tasks/list", json!({})).await {
                Ok(mut answer) => {
                    let tasks = answer.get_mut("tasks").map(Value::take);
                    Some((server.clone(), tasks))
                }
                Err(err) => {
                    tracing::debug!(%server, error = %err.message, "tasks/list left this server out");
                    None
                }
            }
        }))
        .await;
        let mut merged = Vec::new();
        for (server, tasks) in lists.into_iter().flatten() {
            if let Some(Value::Array(tasks)) = tasks {
                for mut task in tasks {
                    rename_task(&server, &mut task);
                    merged.push(task);
                }
            }
        }
        Ok(json!({"tasks": merged}))
    }

    /// The session's live link to `server`.
    async fn link(&self, server: &str) -> Result<Arc<Link>, McpError> {
        content::link(self.app, self.principal, server).await
    }

    /// Sends `method` with raw `params` through `link` and returns the
    /// upstream's raw answer.
    async fn forward(
        &self,
        link: &Arc<Link>,
        server: &str,
        method: &str,
        params: Value,
    ) -> Result<Value, McpError> {
        let request = raw::request(method, Some(params));
        let answer = crate::gateway::forward::forward(
            self.app,
            link,
            server,
            method,
            request,
            &crate::gateway::forward::Origin::of(self.context),
        )
        .await?;
        Ok(raw::unwrap(answer))
    }

    /// Watches a task just created through `link` for this client and
    /// names it for this scope.
    fn adopt(&self, link: &Arc<Link>, server: &str, task: &mut Value) {
        let Some(upstream_id) = task
            .get("taskId")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return;
        };
        let exposed = self.exposed_id(server, &upstream_id);
        link.relay()
            .watch_task(&upstream_id, self.context.peer.clone(), exposed.clone());
        task["taskId"] = Value::String(exposed);
    }

    /// The id this scope's clients know task `id` of `server` by.
    fn exposed_id(&self, server: &str, id: &str) -> String {
        match self.scope {
            Scope::All | Scope::Toolset(_) => wrap_id(server, id),
            Scope::Server(_) => id.to_owned(),
        }
    }

    /// A task object (`tasks/get`, `tasks/cancel`) named for this scope.
    fn rename(&self, server: &str, task: &mut Value) {
        if self.scope.is_aggregate() {
            rename_task(server, task);
        }
    }

    /// A tool result: its related-task id named and, on `/mcp`, its
    /// resource URIs wrapped as `tools/call` wraps them.
    fn rewrite_result(&self, server: &str, result: &mut Value) {
        if !self.scope.is_aggregate() {
            return;
        }
        if let Some(related) = result
            .get_mut("_meta")
            .and_then(|meta| meta.get_mut(RELATED_TASK))
        {
            rename_task(server, related);
        }
        if let Some(Value::Array(blocks)) = result.get_mut("content") {
            for block in blocks {
                if let Ok(mut content) = serde_json::from_value(block.clone()) {
                    wrap_content_uri(server, &mut content);
                    if let Ok(wrapped) = serde_json::to_value(&content) {
                        *block = wrapped;
                    }
                }
            }
        }
    }
}

/// `task.taskId` as `/mcp` shows it.
fn rename_task(server: &str, task: &mut Value) {
    if let Some(id) = task.get("taskId").and_then(Value::as_str) {
        task["taskId"] = Value::String(wrap_id(server, id));
    }
}

/// Drops the client's progress token from raw params: the upstream's
/// progress for a raw request has no call to be relayed to.
fn strip_progress_token(params: &mut Value) {
    if let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.remove("progressToken");
        if meta.is_empty()
            && let Some(object) = params.as_object_mut()
        {
            object.remove("_meta");
        }
    }
}

/// JSON-RPC -32601 for `method`.
pub fn method_not_found(method: &str) -> McpError {
    McpError::new(RpcCode::METHOD_NOT_FOUND, method.to_owned(), None)
}

fn invalid_params(message: &str) -> McpError {
    McpError::invalid_params(message.to_owned(), None)
}

fn internal(err: serde_json::Error) -> McpError {
    McpError::internal_error(format!("encoding an answer failed: {err}"), None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_wrap_and_unwrap_with_any_upstream_id() {
        let id = "c532793b:c59c5f6f-7a31/x";
        let wrapped = wrap_id("py", id);
        assert_eq!(wrapped, "py/c532793b:c59c5f6f-7a31/x");
        assert_eq!(unwrap_id(&wrapped), Some(("py", id)));
        assert_eq!(unwrap_id("no-server-part"), None);
        assert_eq!(unwrap_id("Bad Name/x"), None);
    }

    fn parsed(text: &str) -> ClientJsonRpcMessage {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn only_task_traffic_is_diverted() {
        let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","task":{"ttl":1000}}}"#;
        let diverted: Value =
            serde_json::from_slice(&divert(&parsed(call), call.as_bytes()).unwrap()).unwrap();
        assert_eq!(diverted["method"], "manifold/2025-11-25/tools/call");
        assert_eq!(diverted["params"]["task"]["ttl"], 1000);
        let plain = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"task":"x"}}}"#;
        assert_eq!(divert(&parsed(plain), plain.as_bytes()), None);
        for method in ["tasks/get", "tasks/cancel", "tasks/result"] {
            let text = format!(
                r#"{{"jsonrpc":"2.0","id":2,"method":"{method}","params":{{"taskId":"t"}}}}"#
            );
            let diverted: Value =
                serde_json::from_slice(&divert(&parsed(&text), text.as_bytes()).unwrap()).unwrap();
            assert_eq!(diverted["method"], format!("{PREFIX}{method}"));
        }
        let ping = r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#;
        assert_eq!(divert(&parsed(ping), ping.as_bytes()), None);
    }

    #[test]
    fn the_carrier_moves_to_capabilities_tasks() {
        let tasks = json!({"list": {}, "requests": {"tools": {"call": {}}}});
        let answer = json!({"jsonrpc": "2.0", "id": 0, "result": {"capabilities":
            {"tools": {}, "experimental": {CARRIER: tasks}}}});
        let moved: Value =
            serde_json::from_str(&move_carrier(&answer.to_string()).unwrap()).unwrap();
        assert_eq!(
            moved["result"]["capabilities"],
            json!({"tools": {}, "tasks": tasks})
        );
        let without = json!({"jsonrpc": "2.0", "id": 0, "result": {"capabilities": {}}});
        assert_eq!(move_carrier(&without.to_string()), None);
    }
}
