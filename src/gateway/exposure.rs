//! How a route exposes a session's tools: all of them (the default), or,
//! with `?tools=search`, exactly two tools of the gateway's own that stand
//! for hundreds:
//!
//! - [`SEARCH_TOOL`] `{query, limit}` answers the best-matching tools of
//!   the session's view, with their full names, descriptions and input
//!   schemas, ranked by [`ToolIndex`](crate::gateway::search::ToolIndex);
//! - [`CALL_TOOL`] `{name, arguments}` calls one of them exactly as a
//!   `tools/call` of that name would (same errors, progress, cancellation).
//!
//! A plain `tools/call` of a real tool name still works on a search route.
//! The mode is read from each request's URL (clients send every request of
//! a session to the URL they were given), so nothing about it is stored
//! and any replica serves it.

use std::sync::{Arc, LazyLock};

use axum::http::request::Parts;
use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use crate::error::{Error, ErrorCode};
use crate::gateway::view::ToolView;

/// The search tool's name.
pub const SEARCH_TOOL: &str = "manifold__search_tools";
/// The call tool's name.
pub const CALL_TOOL: &str = "manifold__call_tool";
/// Matches answered when the client asks for no `limit`.
pub const DEFAULT_LIMIT: usize = 10;
/// Most matches one search answers.
pub const MAX_LIMIT: usize = 50;

/// How a route lists a session's tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Exposure {
    /// Every tool of the view (the default).
    #[default]
    All,
    /// [`SEARCH_TOOL`] and [`CALL_TOOL`] only.
    Search,
}

impl Exposure {
    /// The exposure a request's query string asks for: `tools=search` or
    /// `tools=all`; anything else for `tools` is `invalid_query`. Other
    /// parameters are not this module's.
    pub fn from_query(query: Option<&str>) -> Result<Self, Error> {
        let mut exposure = Exposure::All;
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if key != "tools" {
                continue;
            }
            exposure = match value.as_ref() {
                "search" => Exposure::Search,
                "all" => Exposure::All,
                other => {
                    return Err(Error::BadRequest {
                        code: ErrorCode::InvalidQuery,
                        message: format!(
                            "`tools={other}` is not a tool exposure; use `tools=search` or `tools=all`"
                        ),
                    });
                }
            };
        }
        Ok(exposure)
    }

    /// The exposure the HTTP request `parts` asks for with `tools=`, if it
    /// does (already checked by the `/mcp` middleware).
    pub fn requested(parts: Option<&Parts>) -> Option<Self> {
        let query = parts?.uri.query()?;
        url::form_urlencoded::parse(query.as_bytes())
            .any(|(key, _)| key == "tools")
            .then(|| Self::from_query(Some(query)).ok())
            .flatten()
    }

    /// The exposure of a request on a view: what it asks for, else the
    /// view's own (a toolset's `exposure`, else all tools).
    pub fn of(parts: Option<&Parts>, view: &ToolView) -> Self {
        Self::requested(parts).unwrap_or(view.exposure())
    }
}

/// The two tools a search route lists, sorted by name.
pub fn listed() -> &'static [Tool] {
    static TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
        let schema = |value: Value| -> Arc<JsonObject> {
            Arc::new(match value {
                Value::Object(object) => object,
                _ => JsonObject::new(),
            })
        };
        vec![
            Tool::new(
                CALL_TOOL,
                "Calls one of the tools that manifold__search_tools found, by its full name, \
                 with arguments that match its input schema. Returns exactly what the tool returns.",
                schema(json!({
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "description": "The tool's full name, as manifold__search_tools gave it."},
                        "arguments": {"type": "object", "description": "The tool's arguments, matching its input schema."}
                    },
                    "required": ["name"]
                })),
            )
            .with_annotations(ToolAnnotations::with_title("Call a tool")),
            Tool::new(
                SEARCH_TOOL,
                "Searches the tools available in this session by what they do. Returns the best \
                 matches with their full names, descriptions and input schemas; call one with \
                 manifold__call_tool. Search again with other words when none fits.",
                schema(json!({
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "What the tool should do, in a few words (e.g. \"create a github issue\")."},
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "How many matches to return (default 10)."}
                    },
                    "required": ["query"]
                })),
            )
            .with_annotations(
                ToolAnnotations::with_title("Search tools").read_only(true),
            ),
        ]
    });
    &TOOLS
}

/// `invalid_arguments` for one of the gateway's own tools.
fn bad_arguments(tool: &str, message: &str) -> McpError {
    ErrorCode::InvalidArguments.mcp_error(format!("{tool}: {message}"), &[("tool", json!(tool))])
}

/// Answers [`SEARCH_TOOL`] over `view`: the matches as structured content
/// (`{"tools": [...], "total": N}`) and the same JSON as text.
pub fn search(view: &ToolView, arguments: Option<&JsonObject>) -> Result<CallToolResult, McpError> {
    let query = arguments
        .and_then(|args| args.get("query"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad_arguments(SEARCH_TOOL, "`query` must be a string"))?;
    let limit = match arguments.and_then(|args| args.get("limit")) {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=MAX_LIMIT as u64).contains(n))
            .map(|n| n as usize)
            .ok_or_else(|| {
                bad_arguments(
                    SEARCH_TOOL,
                    &format!("`limit` must be an integer from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let found: Vec<Value> = view
        .search(query, limit)
        .into_iter()
        .map(|tool| {
            let mut entry = json!({
                "name": tool.name,
                "description": tool.description,
                "inputSchema": tool.input_schema,
            });
            if let Some(title) = &tool.title {
                entry["title"] = json!(title);
            }
            if let Some(annotations) = &tool.annotations {
                entry["annotations"] = json!(annotations);
            }
            entry
        })
        .collect();
    Ok(CallToolResult::structured(
        json!({"tools": found, "total": view.len()}),
    ))
}

/// The real call [`CALL_TOOL`] stands for: its `name` and `arguments`,
/// with the outer request's `_meta` (progress token) kept.
pub fn unwrap_call(request: CallToolRequestParams) -> Result<CallToolRequestParams, McpError> {
    let arguments = request.arguments.unwrap_or_default();
    let name = arguments
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_arguments(CALL_TOOL, "`name` must be a string"))?;
    let inner = match arguments.get("arguments") {
        None | Some(Value::Null) => None,
        Some(Value::Object(object)) => Some(object.clone()),
        Some(_) => return Err(bad_arguments(CALL_TOOL, "`arguments` must be an object")),
    };
    let mut call = CallToolRequestParams::new(name.to_owned());
    call.arguments = inner;
    call.meta = request.meta;
    Ok(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_string_chooses_the_exposure_and_refuses_unknown_values() {
        assert_eq!(Exposure::from_query(None).ok(), Some(Exposure::All));
        assert_eq!(
            Exposure::from_query(Some("tools=search")).ok(),
            Some(Exposure::Search)
        );
        assert_eq!(
            Exposure::from_query(Some("x=1&tools=all")).ok(),
            Some(Exposure::All)
        );
        assert_eq!(Exposure::requested(None), None);
        let err = Exposure::from_query(Some("tools=some")).expect_err("unknown");
        assert_eq!(err.code(), ErrorCode::InvalidQuery);
    }

    #[test]
    fn a_search_route_lists_two_tools_with_object_schemas() {
        let names: Vec<&str> = listed().iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, [CALL_TOOL, SEARCH_TOOL]);
        for tool in listed() {
            assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
        }
    }

    #[test]
    fn the_call_tool_unwraps_to_the_real_call_and_checks_its_arguments() {
        let mut outer = CallToolRequestParams::new(CALL_TOOL);
        outer.arguments = json!({"name": "fx__echo", "arguments": {"text": "hi"}})
            .as_object()
            .cloned();
        let inner = unwrap_call(outer).expect("a good call");
        assert_eq!(inner.name, "fx__echo");
        assert_eq!(inner.arguments, json!({"text": "hi"}).as_object().cloned());
        for bad in [
            json!({}),
            json!({"name": 7}),
            json!({"name": "x", "arguments": [1]}),
        ] {
            let mut outer = CallToolRequestParams::new(CALL_TOOL);
            outer.arguments = bad.as_object().cloned();
            let err = unwrap_call(outer).expect_err("bad arguments");
            assert_eq!(
                err.data.as_ref().and_then(|d| d.get("code")),
                Some(&json!("invalid_arguments")),
                "{bad}"
            );
        }
    }
}
