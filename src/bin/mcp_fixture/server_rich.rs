//! The tools `FIXTURE_RICH=1` adds, which exercise what a client shows of
//! a tool and its result: annotations and a title, an input schema with
//! nested objects, arrays and enums, an image result and a resource link.

use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Resource, Tool, ToolAnnotations};
use serde_json::{Value, json};

use super::{no_args, text, tool};

const RICH_TOOLS: [&str; 3] = ["file_ticket", "tiny_image", "link_note"];

/// A 4×4 PNG, one orange colour (`#b45309`).
pub(super) const TINY_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGPYEswJRwzEcQDE8xEBIo304AAAAABJRU5ErkJggg==";

pub(super) fn is_rich_tool(name: &str) -> bool {
    RICH_TOOLS.contains(&name)
}

/// The tools `FIXTURE_RICH=1` adds.
pub(super) fn rich_tools() -> Vec<Tool> {
    vec![
        tool(
            "file_ticket",
            "Files a ticket; answers with the ticket it filed as structuredContent and as text.",
            json!({
                "type": "object",
                "properties": {
                    "title": {"type": "string", "description": "One line."},
                    "priority": {"type": "string", "enum": ["low", "normal", "high"]},
                    "estimate": {"type": "integer", "minimum": 0},
                    "urgent": {"type": "boolean"},
                    "labels": {"type": "array", "items": {"type": "string"}},
                    "reporter": {
                        "type": "object",
                        "description": "Who reports it.",
                        "properties": {
                            "name": {"type": "string"},
                            "contact": {
                                "type": "object",
                                "properties": {"email": {"type": "string"}},
                                "required": ["email"]
                            }
                        },
                        "required": ["name"]
                    }
                },
                "required": ["title", "reporter"]
            }),
        )
        .with_title("File a ticket")
        .with_annotations(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(false)
                .idempotent(false)
                .open_world(false),
        ),
        tool(
            "tiny_image",
            "Answers with a 4×4 orange PNG image.",
            no_args(),
        )
        .with_annotations(ToolAnnotations::with_title("Tiny image").read_only(true)),
        tool(
            "link_note",
            "Answers with a resource link to the note `name` (`readme` or `todo`).",
            json!({
                "type": "object",
                "properties": {"name": {"type": "string", "enum": ["readme", "todo"]}},
                "required": ["name"]
            }),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).open_world(false)),
    ]
}

/// Answers a call of one of [`rich_tools`].
pub(super) fn call_rich(name: &str, args: &JsonObject) -> Result<CallToolResult, McpError> {
    match name {
        "file_ticket" => {
            let ticket = Value::Object(args.clone());
            let mut result = CallToolResult::success(vec![text(format!("filed {ticket}"))]);
            result.structured_content = Some(json!({"ticket": ticket}));
            Ok(result)
        }
        "tiny_image" => Ok(CallToolResult::success(vec![
            text("a tiny image"),
            ContentBlock::image(TINY_PNG, "image/png"),
        ])),
        "link_note" => {
            let note = args.get("name").and_then(Value::as_str).unwrap_or("readme");
            let link = Resource::new(format!("note://fixture/{note}"), note)
                .with_description("A note of the fixture");
            Ok(CallToolResult::success(vec![ContentBlock::resource_link(
                link,
            )]))
        }
        other => Err(McpError::invalid_params(
            format!("unknown tool: {other}"),
            None,
        )),
    }
}
