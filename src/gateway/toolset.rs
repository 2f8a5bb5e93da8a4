//! The tool view of `/mcp/t/{toolset}`: a virtual MCP server showing the
//! toolset's entries among the session's connected servers.
//!
//! - Each entry selects tools of one server by exact name or glob; a tool
//!   two entries select is shown once, as the first one says.
//! - A tool is exposed under the entry's `expose_as`, else under its own
//!   name; where two selected tools would share a name (two servers'
//!   `search`), both get `{server}__{tool}` instead, so nothing is lost or
//!   shadowed. Calls are routed back to (server, upstream name).
//! - An entry's `description` and `annotations` replace the upstream's.
//! - The server's own `tool_filter` and the session's filter (matching
//!   `{server}__{tool}`) apply first: a toolset never shows what they hide.
//! - Servers the session has not connected show nothing (connect them on
//!   `/mcp`, REST or the page); the toolset's owner chose the servers, the
//!   session still chooses which it connects and with whose credentials.

use std::collections::{HashMap, HashSet};

use rmcp::model::{Tool, ToolAnnotations};
use serde_json::Value;

use crate::catalog::tool_filter::glob_match;
use crate::catalog::{Toolset, ToolsetEntry, ToolsetExposure};
use crate::error::Result;
use crate::gateway::exposure::Exposure;
use crate::gateway::view::ToolView;
use crate::principal::Principal;
use crate::session::manager::qualified;
use crate::state::AppState;

/// The principal's view of toolset `name` (404 `toolset_not_found` when
/// the principal may not see it).
pub async fn view(app: &AppState, principal: &Principal, name: &str) -> Result<ToolView> {
    let toolset = app.catalog().get_toolset(principal, name).await?;
    let (_, shown) = app.sessions().shown_tools(principal, None).await?;
    let servers: HashMap<String, Vec<Value>> = shown
        .into_iter()
        .filter(|(server, _)| {
            toolset
                .entries
                .iter()
                .any(|e| e.server == server.name.as_str())
        })
        .map(|(server, tools)| (server.name.to_string(), tools))
        .collect();
    let exposure = match toolset.exposure {
        ToolsetExposure::All => Exposure::All,
        ToolsetExposure::Search => Exposure::Search,
    };
    Ok(select(&toolset, &servers).exposed_as(exposure))
}

fn tool_name(tool: &Value) -> Option<&str> {
    tool.get("name").and_then(Value::as_str)
}

/// The toolset's selection from `servers` (server → its visible raw tools).
pub fn select(toolset: &Toolset, servers: &HashMap<String, Vec<Value>>) -> ToolView {
    // (entry, server, raw tool), first selection of each tool only.
    let mut chosen: Vec<(&ToolsetEntry, &str, &Value)> = Vec::new();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for entry in &toolset.entries {
        let Some(tools) = servers.get(&entry.server) else {
            continue;
        };
        for raw in tools {
            let Some(name) = tool_name(raw) else { continue };
            if glob_match(&entry.tool, name) && seen.insert((entry.server.as_str(), name)) {
                chosen.push((entry, entry.server.as_str(), raw));
            }
        }
    }
    // Names wanted by more than one tool are qualified.
    let wanted = |(entry, _, raw): &(&ToolsetEntry, &str, &Value)| -> String {
        entry
            .expose_as
            .clone()
            .unwrap_or_else(|| tool_name(raw).unwrap_or_default().to_owned())
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for choice in &chosen {
        *counts.entry(wanted(choice)).or_default() += 1;
    }
    let mut entries = Vec::with_capacity(chosen.len());
    for choice in &chosen {
        let (entry, server, raw) = *choice;
        let original = tool_name(raw).unwrap_or_default().to_owned();
        let mut exposed = wanted(choice);
        if counts.get(&exposed).copied().unwrap_or(0) > 1 {
            exposed = qualified(server, &original);
        }
        let mut tool: Tool = match serde_json::from_value(raw.clone()) {
            Ok(tool) => tool,
            Err(err) => {
                tracing::warn!(%server, tool = %original, error = %err, "skipping a cached tool that is not a valid MCP tool");
                continue;
            }
        };
        tool.name = exposed.into();
        if let Some(description) = &entry.description {
            tool.description = Some(description.clone().into());
        }
        if let Some(annotations) = &entry.annotations {
            match serde_json::from_value::<ToolAnnotations>(annotations.clone()) {
                Ok(annotations) => tool.annotations = Some(annotations),
                Err(err) => {
                    tracing::warn!(toolset = %toolset.name.as_str(), %server, tool = %original, error = %err, "ignoring annotations that are not MCP tool annotations")
                }
            }
        }
        entries.push((tool, server.to_owned(), original));
    }
    ToolView::assembled(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(server: &str, tool: &str) -> ToolsetEntry {
        ToolsetEntry {
            server: server.into(),
            tool: tool.into(),
            expose_as: None,
            description: None,
            annotations: None,
        }
    }

    fn toolset(entries: Vec<ToolsetEntry>) -> Toolset {
        let now = chrono::Utc::now();
        Toolset {
            id: crate::ids::ToolsetId::generate(),
            name: crate::catalog::ToolsetName::parse("ts").expect("a name"),
            title: String::new(),
            description: String::new(),
            owner: "alice".into(),
            is_public: false,
            exposure: Default::default(),
            resources: false,
            prompts: false,
            entries,
            created_at: now,
            updated_at: now,
        }
    }

    fn servers() -> HashMap<String, Vec<Value>> {
        let tool = |name: &str| json!({"name": name, "description": format!("upstream {name}"), "inputSchema": {"type": "object"}});
        HashMap::from([
            (
                "gh".to_owned(),
                vec![tool("search"), tool("create_issue"), tool("get_user")],
            ),
            (
                "jira".to_owned(),
                vec![tool("search"), tool("create_issue")],
            ),
        ])
    }

    fn names(view: &ToolView) -> Vec<String> {
        view.page(None, 100)
            .0
            .iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    #[test]
    fn a_rename_routes_back_and_overrides_replace_the_upstreams() {
        let mut renamed = entry("gh", "create_issue");
        renamed.expose_as = Some("open_bug".into());
        renamed.description = Some("Opens a bug.".into());
        renamed.annotations = Some(json!({"destructiveHint": false}));
        let view = select(&toolset(vec![renamed, entry("jira", "search")]), &servers());
        assert_eq!(names(&view), ["open_bug", "search"]);
        assert_eq!(view.resolve("open_bug"), Some(("gh", "create_issue")));
        assert_eq!(view.resolve("search"), Some(("jira", "search")));
        let tool = &view.page(None, 10).0[0];
        assert_eq!(tool.description.as_deref(), Some("Opens a bug."));
        assert_eq!(
            tool.annotations.as_ref().and_then(|a| a.destructive_hint),
            Some(false)
        );
        assert_eq!(
            view.resolve("create_issue"),
            None,
            "only the new name resolves"
        );
    }

    #[test]
    fn globs_select_and_clashing_names_are_qualified() {
        let view = select(
            &toolset(vec![entry("gh", "*"), entry("jira", "search")]),
            &servers(),
        );
        assert_eq!(
            names(&view),
            ["create_issue", "get_user", "gh__search", "jira__search"]
        );
        assert_eq!(view.resolve("gh__search"), Some(("gh", "search")));
    }

    #[test]
    fn a_tool_two_entries_select_is_shown_once_as_the_first_says() {
        let mut first = entry("gh", "get_user");
        first.expose_as = Some("who".into());
        let view = select(&toolset(vec![first, entry("gh", "get_*")]), &servers());
        assert_eq!(names(&view), ["who"]);
    }

    #[test]
    fn servers_the_session_has_not_connected_show_nothing() {
        let view = select(&toolset(vec![entry("slack", "*")]), &servers());
        assert!(view.is_empty());
    }
}
