//! The fixture's MCP handler: a fixed tool set, hand-written (not the macro
//! router) so `tools/list` can paginate and tools can appear at runtime.
//!
//! One [`Fixture`] serves one MCP session (stdio: the process; streamable
//! HTTP: each `Mcp-Session-Id`), so `add_tool` changes only its own session.

#[path = "server_relay.rs"]
mod relay;
#[path = "server_rich.rs"]
mod rich;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::http::request::Parts;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
// Resources, prompts and completions (content.rs).
use rmcp::model::{
    CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResponse,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ReadResourceRequestParams,
    ReadResourceResponse, SubscribeRequestParams, UnsubscribeRequestParams,
};
use serde_json::{Map, Value, json};

use relay::{is_relay_tool, relay_tools};
use rich::{call_rich, is_rich_tool, rich_tools};

/// `tools/list` page size unless `FIXTURE_PAGE_SIZE` says otherwise.
pub const PAGE_SIZE: usize = 50;

/// What the environment asked for.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `FIXTURE_TOOL_COUNT`: extra trivial tools `t0…`.
    pub tool_count: usize,
    /// `FIXTURE_NO_SCHEMA=1`: add the `broken_schema` tool.
    pub broken_schema: bool,
    /// `FIXTURE_RELAY=1`: add the tools that exercise a gateway's relay
    /// (`sample`, `elicit`, `roots`, `notify`, `die`, `cancelled_count`).
    pub relay: bool,
    /// `FIXTURE_RICH=1`: add the tools that exercise what a client shows of
    /// tools and results (`file_ticket`, `tiny_image`, `link_note`).
    pub rich: bool,
    /// `FIXTURE_PAGE_SIZE`: tools per `tools/list` page (default [`PAGE_SIZE`]).
    pub page_size: usize,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let tool_count = match std::env::var("FIXTURE_TOOL_COUNT") {
            Ok(raw) if !raw.trim().is_empty() => raw
                .trim()
                .parse()
                .with_context(|| format!("FIXTURE_TOOL_COUNT={raw:?} is not a number"))?,
            _ => 0,
        };
        let flag = |name: &str| {
            std::env::var(name)
                .map(|v| matches!(v.trim(), "1" | "true" | "yes"))
                .unwrap_or(false)
        };
        let page_size = match std::env::var("FIXTURE_PAGE_SIZE") {
            Ok(raw) if !raw.trim().is_empty() => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .with_context(|| format!("FIXTURE_PAGE_SIZE={raw:?} is not a positive number"))?,
            _ => PAGE_SIZE,
        };
        Ok(Self {
            tool_count,
            page_size,
            broken_schema: flag("FIXTURE_NO_SCHEMA"),
            relay: flag("FIXTURE_RELAY"),
            rich: flag("FIXTURE_RICH"),
        })
    }
}

/// The MCP handler of one session.
#[derive(Clone)]
pub struct Fixture {
    settings: Arc<Settings>,
    /// Set by `add_tool`: the `extra` tool is listed and callable.
    extra: Arc<AtomicBool>,
    /// How many `slow` calls were cancelled before they finished.
    cancelled: Arc<AtomicUsize>,
    /// What the last `sample_later` request got back, once it did.
    later: Arc<std::sync::Mutex<Option<String>>>,
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(Map::new()),
    }
}

fn tool(name: &'static str, description: &'static str, input: Value) -> Tool {
    Tool::new(name, description, schema(input))
}

fn no_args() -> Value {
    json!({"type": "object", "properties": {}})
}

fn text(value: impl Into<String>) -> ContentBlock {
    ContentBlock::text(value)
}

impl Fixture {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings: Arc::new(settings),
            extra: Arc::new(AtomicBool::new(false)),
            cancelled: Arc::new(AtomicUsize::new(0)),
            later: Arc::default(),
        }
    }

    /// Every tool, in a stable order.
    fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![
            tool(
                "echo",
                "Returns `text` unchanged.",
                json!({
                    "type": "object",
                    "properties": {"text": {"type": "string", "description": "What to echo."}},
                    "required": ["text"]
                }),
            ),
            tool(
                "add",
                "Adds two numbers; the sum as text and as structuredContent {\"sum\": n}.",
                json!({
                    "type": "object",
                    "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                    "required": ["a", "b"]
                }),
            )
            .with_raw_output_schema(schema(json!({
                "type": "object",
                "properties": {"sum": {"type": "number"}},
                "required": ["sum"]
            }))),
            tool(
                "slow",
                "Sleeps `seconds`, then answers; stops early when cancelled.",
                json!({
                    "type": "object",
                    "properties": {"seconds": {"type": "number", "minimum": 0}},
                    "required": ["seconds"]
                }),
            ),
            tool("fail", "Always answers with isError: true.", no_args()),
            tool(
                "progress",
                "Sends notifications/progress for each of `steps` steps (when the request has a progress token), `interval_ms` apart (default 10), then answers.",
                json!({
                    "type": "object",
                    "properties": {
                        "steps": {"type": "integer", "minimum": 0},
                        "interval_ms": {"type": "integer", "minimum": 0}
                    },
                    "required": ["steps"]
                }),
            ),
            tool(
                "add_tool",
                "Adds the tool `extra` and sends notifications/tools/list_changed.",
                no_args(),
            ),
            tool(
                "whoami",
                "The HTTP request headers this call arrived with, as a JSON object ({} on stdio); with FIXTURE_OAUTH also `oauth_user`, the token's end user.",
                no_args(),
            ),
        ];
        if self.extra.load(Ordering::SeqCst) {
            tools.push(tool("extra", "Added at runtime by add_tool.", no_args()));
        }
        if self.settings.relay {
            tools.extend(relay_tools());
        }
        if self.settings.rich {
            tools.extend(rich_tools());
        }
        if self.settings.broken_schema {
            // Requires a property it never declares: schema patching must fix it.
            tools.push(tool(
                "broken_schema",
                "A tool whose input schema is broken.",
                json!({"type": "object", "required": ["ghost"]}),
            ));
        }
        for i in 0..self.settings.tool_count {
            tools.push(Tool::new(
                format!("t{i}"),
                format!("Trivial tool number {i}."),
                schema(no_args()),
            ));
        }
        tools
    }

    fn is_counted_tool(&self, name: &str) -> bool {
        name.strip_prefix('t')
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n < self.settings.tool_count && name == format!("t{n}"))
    }

    async fn call(
        &self,
        name: &str,
        args: &JsonObject,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        match name {
            "echo" => {
                let value = str_arg(args, "text")?;
                Ok(CallToolResult::success(vec![text(value)]))
            }
            "add" => {
                let (a, b) = (num_arg(args, "a")?, num_arg(args, "b")?);
                let sum = match (a.as_i64(), b.as_i64()) {
                    (Some(a), Some(b)) => a.checked_add(b).map(Value::from),
                    _ => None,
                }
                .unwrap_or_else(|| json!(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)));
                let mut result = CallToolResult::success(vec![text(sum.to_string())]);
                result.structured_content = Some(json!({"sum": sum}));
                Ok(result)
            }
            "slow" => {
                let seconds = num_arg(args, "seconds")?.as_f64().unwrap_or(0.0);
                let duration = Duration::try_from_secs_f64(seconds)
                    .map_err(|e| McpError::invalid_params(format!("seconds: {e}"), None))?;
                tokio::select! {
                    () = tokio::time::sleep(duration) => {
                        Ok(CallToolResult::success(vec![text(format!("slept {seconds} s"))]))
                    }
                    () = context.ct.cancelled() => {
                        self.cancelled.fetch_add(1, Ordering::SeqCst);
                        tracing::info!("slow: cancelled after less than {seconds} s");
                        Err(McpError::internal_error("cancelled", None))
                    }
                }
            }
            "fail" => Ok(CallToolResult::error(vec![text(
                "fail: this tool always fails",
            )])),
            "progress" => {
                let steps = num_arg(args, "steps")?
                    .as_u64()
                    .ok_or_else(|| McpError::invalid_params("steps: not a whole number", None))?;
                let interval = args
                    .get("interval_ms")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(10);
                let token = context.meta.get_progress_token();
                for step in 1..=steps {
                    if context.ct.is_cancelled() {
                        return Err(McpError::internal_error("cancelled", None));
                    }
                    if let Some(token) = &token {
                        let param = ProgressNotificationParam::new(token.clone(), step as f64)
                            .with_total(steps as f64)
                            .with_message(format!("step {step} of {steps}"));
                        if let Err(err) = context.peer.notify_progress(param).await {
                            tracing::warn!("progress: cannot notify: {err}");
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(interval)).await;
                }
                Ok(CallToolResult::success(vec![text(format!(
                    "done {steps} steps"
                ))]))
            }
            "add_tool" => {
                self.extra.store(true, Ordering::SeqCst);
                if let Err(err) = context.peer.notify_tool_list_changed().await {
                    tracing::warn!("add_tool: cannot notify: {err}");
                }
                Ok(CallToolResult::success(vec![text("added extra")]))
            }
            "extra" if self.extra.load(Ordering::SeqCst) => {
                Ok(CallToolResult::success(vec![text("extra")]))
            }
            "whoami" => {
                let parts = context.extensions.get::<Parts>();
                let mut headers = parts
                    .map(|parts| headers_json(&parts.headers))
                    .unwrap_or_default();
                // FIXTURE_OAUTH: the end user the bearer token was issued to.
                if let Some(user) =
                    parts.and_then(|p| p.extensions.get::<crate::oauth::OAuthUser>())
                {
                    headers.insert("oauth_user".to_owned(), Value::String(user.0.clone()));
                }
                let headers = Value::Object(headers);
                let mut result = CallToolResult::success(vec![text(headers.to_string())]);
                result.structured_content = Some(headers);
                Ok(result)
            }
            "broken_schema" if self.settings.broken_schema => {
                Ok(CallToolResult::success(vec![text("broken_schema called")]))
            }
            name if self.settings.rich && is_rich_tool(name) => call_rich(name, args),
            name if self.settings.relay && is_relay_tool(name) => {
                self.call_relay(name, args, context).await
            }
            name if self.is_counted_tool(name) => Ok(CallToolResult::success(vec![text(name)])),
            other => Err(McpError::invalid_params(
                format!("unknown tool: {other}"),
                None,
            )),
        }
    }
}

/// Header name → value; repeated headers are joined with ", ".
fn headers_json(headers: &axum::http::HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        out.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
    }
    out
}

fn str_arg<'a>(args: &'a JsonObject, key: &str) -> Result<&'a str, McpError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| McpError::invalid_params(format!("{key}: a string is required"), None))
}

fn num_arg<'a>(args: &'a JsonObject, key: &str) -> Result<&'a serde_json::Number, McpError> {
    match args.get(key) {
        Some(Value::Number(n)) => Ok(n),
        _ => Err(McpError::invalid_params(
            format!("{key}: a number is required"),
            None,
        )),
    }
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        crate::content::advertise(&mut capabilities);
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                "mcp-fixture",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions("A deterministic MCP server for Manifold's tests.")
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = self.tools();
        let start = match request.and_then(|r| r.cursor) {
            None => 0,
            Some(cursor) => cursor
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= tools.len())
                .ok_or_else(|| {
                    McpError::invalid_params(format!("invalid cursor: {cursor}"), None)
                })?,
        };
        let end = (start + self.settings.page_size).min(tools.len());
        let mut result = ListToolsResult::with_all_items(tools[start..end].to_vec());
        if end < tools.len() {
            result.next_cursor = Some(end.to_string());
        }
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        let name: Cow<'static, str> = request.name;
        tracing::debug!("tools/call {name}");
        self.call(&name, &args, context).await.map(Into::into)
    }
    // Resources, prompts and completions: see `content.rs` (FIXTURE_CONTENT).

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        crate::content::list_resources().await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        crate::content::list_resource_templates().await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        crate::content::read_resource(&request)
            .await
            .map(Into::into)
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        crate::content::subscription(&request.uri)
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        crate::content::subscription(&request.uri)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        crate::content::list_prompts().await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        crate::content::get_prompt(&request).map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        crate::content::complete(&request)
    }
}
