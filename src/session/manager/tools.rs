//! What a session's tools are: the cached tools of its connected servers
//! that the principal may still see, less those each server's
//! `tool_filter` hides; and the session's own tool filter, which hides
//! tools from the session's MCP views (its patterns match [`qualified`]
//! names, `{server}__{tool}`).
//!
//! Both filters are applied when tools are read, never when they are
//! stored: a changed filter holds at once for every session on every
//! replica, in both directions (a loosened one needs no reconnect to show
//! the tools it lets through again).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::SessionManager;
use crate::catalog::Server;
use crate::catalog::tool_filter::ToolFilter;
use crate::error::{Error, Result};
use crate::principal::Principal;
use crate::session::bus::Change;
use crate::session::namespace::{DEFAULT_SEPARATOR, NameMap, candidate};
use crate::upstream::schema_patch::patch_input_schema;

/// The name a session's own tool filter matches for `tool` of `server`:
/// `{server}__{tool}`, as `/mcp` names it by default (before any
/// shortening of over-long names).
pub fn qualified(server: &str, tool: &str) -> String {
    format!("{server}__{tool}")
}

/// One cached tool of a session (the seed's `serialize_tools`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionTool {
    /// The owning server's name.
    pub server: String,
    /// The upstream's name for the tool.
    pub name: String,
    /// The name the session's `/mcp` clients (and their models) see:
    /// `{server}__{tool}`, kept within `^[A-Za-z0-9_-]{1,64}$` (see
    /// [`crate::session::namespace`]).
    pub namespaced_name: String,
    /// The upstream's display title, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub description: Option<String>,
    /// The upstream's MCP tool annotations (`title`, `readOnlyHint`,
    /// `destructiveHint`, `idempotentHint`, `openWorldHint`), as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<Value>,
    /// The patched input schema.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// Whether the session's own tool filter hides it from the session's
    /// MCP views (it is listed here so that it can be shown again).
    pub hidden: bool,
}

impl SessionTool {
    /// A tool as cached in the state store (MCP `Tool` JSON), its input
    /// schema patched.
    /// Its `namespaced_name` is the plain candidate name; [`SessionManager::tools`]
    /// names each tool as the session's `/mcp` does.
    pub fn from_cached(server: &str, tool: &Value) -> Self {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Self {
            server: server.to_owned(),
            namespaced_name: candidate(server, &name, DEFAULT_SEPARATOR),
            name,
            title: tool.get("title").and_then(Value::as_str).map(str::to_owned),
            description: tool
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            annotations: tool.get("annotations").filter(|a| a.is_object()).cloned(),
            input_schema: patch_input_schema(tool.get("inputSchema")),
            hidden: false,
        }
    }
}

impl SessionManager {
    /// Every cached tool of the session's connected servers, with no upstream
    /// round trip. Servers deleted from the catalog, or no longer visible to
    /// the principal, are left out even while their state lingers, and so
    /// are tools a server's `tool_filter` hides. Tools the session's own
    /// filter hides are listed, marked `hidden`. Each tool the session's
    /// `/mcp` shows carries the name it has there (a shortened or
    /// de-duplicated one included); the others carry the name they would
    /// have.
    pub async fn tools(&self, principal: &Principal) -> Result<Vec<SessionTool>> {
        let own = self.state.tool_filter(&principal.session).await?;
        let mut out = Vec::new();
        let mut enabled = Vec::new();
        for (server, tools) in self.connected_tools(principal, None).await? {
            let name = server.name.to_string();
            for tool in &tools {
                let mut listed = SessionTool::from_cached(&name, tool);
                listed.hidden = !own.admits(&qualified(&name, &listed.name));
                enabled.push(server.enabled && !listed.hidden);
                out.push(listed);
            }
        }
        let shown = out
            .iter()
            .zip(&enabled)
            .filter(|(_, shown)| **shown)
            .map(|(t, _)| (t.server.as_str(), t.name.as_str()));
        let names = NameMap::build(shown, DEFAULT_SEPARATOR);
        let by_pair: HashMap<(String, String), String> = names
            .names()
            .filter_map(|name| {
                let (server, tool) = names.resolve(name)?;
                Some(((server.to_owned(), tool.to_owned()), name.to_owned()))
            })
            .collect();
        for tool in &mut out {
            if let Some(name) = by_pair.get(&(tool.server.clone(), tool.name.clone())) {
                tool.namespaced_name.clone_from(name);
            }
        }
        Ok(out)
    }

    /// The session's own tool filter (empty when it has none).
    pub async fn session_tool_filter(&self, principal: &Principal) -> Result<ToolFilter> {
        self.state.tool_filter(&principal.session).await
    }

    /// Replaces the session's own tool filter (checked; `invalid_tool_filter`
    /// otherwise) and tells the session's MCP clients on every replica that
    /// its tools changed. Its patterns match `{server}__{tool}`.
    #[tracing::instrument(skip_all, fields(session = %principal.session))]
    pub async fn set_session_tool_filter(
        &self,
        principal: &Principal,
        filter: ToolFilter,
    ) -> Result<ToolFilter> {
        let filter = filter.validated()?;
        self.state
            .set_tool_filter(&principal.session, &filter)
            .await?;
        self.notifier
            .publish_change(&principal.session, None, Change::Tools);
        tracing::info!(
            allow = filter.allow.len(),
            deny = filter.deny.len(),
            "session tool filter set"
        );
        Ok(filter)
    }

    /// The session's connected servers the principal may see (only
    /// the one named `only`, when given), each with its cached tools that
    /// its `tool_filter` lets through: what every view of the session's
    /// tools is built from (the session's own filter is the view's to
    /// apply, see [`qualified`]).
    ///
    /// The filter is applied here, when tools are read, rather than when
    /// they are stored: a changed filter then holds at once for every
    /// session on every replica, in both directions (a loosened one needs
    /// no reconnect to show the tools it lets through again).
    pub async fn connected_tools(
        &self,
        principal: &Principal,
        only: Option<&str>,
    ) -> Result<Vec<(Server, Vec<Value>)>> {
        let mut out = Vec::new();
        for server in self.visible_connected(principal, only).await? {
            let mut tools = self
                .state
                .tools(&principal.session, server.name.as_str())
                .await?;
            if !server.tool_filter.is_empty() {
                tools.retain(|tool| server.tool_filter.admits_tool(tool));
            }
            out.push((server, tools));
        }
        Ok(out)
    }

    /// The session's connected servers (only the one named `only`, when
    /// given) that the principal may still see, in the state store's order:
    /// servers deleted from the catalog, or hidden from the principal, since
    /// they were connected are left out.
    pub async fn visible_connected(
        &self,
        principal: &Principal,
        only: Option<&str>,
    ) -> Result<Vec<Server>> {
        let mut out = Vec::new();
        for name in self.state.connected_servers(&principal.session).await? {
            if only.is_some_and(|only| only != name) {
                continue;
            }
            match self.catalog.get_server(principal, &name).await {
                Ok(server) => out.push(server),
                Err(Error::NotFound { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(out)
    }

    /// What the session's MCP views show: the enabled servers of
    /// [`SessionManager::connected_tools`], each less the tools the
    /// session's own filter hides, and that filter (a per-server view also
    /// checks names the upstream did not list against it).
    pub async fn shown_tools(
        &self,
        principal: &Principal,
        only: Option<&str>,
    ) -> Result<(ToolFilter, Vec<(Server, Vec<Value>)>)> {
        let own = self.session_tool_filter(principal).await?;
        let mut out = Vec::new();
        for (server, mut tools) in self.connected_tools(principal, only).await? {
            if !server.enabled {
                continue;
            }
            if !own.is_empty() {
                let name = server.name.as_str();
                tools.retain(|tool| {
                    tool.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|tool| own.admits(&qualified(name, tool)))
                });
            }
            out.push((server, tools));
        }
        Ok((own, out))
    }
}
