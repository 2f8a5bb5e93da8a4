//! Writing servers out: `mcpServers` entries as Claude Desktop, Cursor and
//! VS Code read them, and Manifold's own format with every field. Every
//! secret value is written as `***`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::model::{SecretMap, Server, Transport};
use crate::secret::REDACTED;

use super::{FormatHeader, ManifoldServer};

/// Which format `GET /api/v1/export` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// `{"mcpServers": {...}}` for Claude Desktop, Cursor and VS Code.
    #[default]
    McpServers,
    /// `{"manifold": {"version": 1}, "servers": [...]}`, every field.
    Manifold,
}

/// An exported catalog, in one of the two formats.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ExportDocument {
    McpServers(McpServersExport),
    Manifold(ManifoldExport),
}

/// `{"mcpServers": {...}}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct McpServersExport {
    #[serde(rename = "mcpServers")]
    pub mcp_servers: BTreeMap<String, McpServerExport>,
}

/// One exported `mcpServers` entry: stdio `command`/`args`/`env`, or remote
/// `type`/`url`/`headers`; secret values as `***`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct McpServerExport {
    /// `http`, `sse` or `ws`; absent for stdio.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The URL with the server's query parameters merged in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Present (true) for a disabled server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// `{"manifold": {"version": 1}, "servers": [...]}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ManifoldExport {
    pub manifold: FormatHeader,
    pub servers: Vec<ManifoldServer>,
}

fn redacted(map: &SecretMap) -> BTreeMap<String, String> {
    map.keys()
        .map(|k| (k.clone(), REDACTED.to_owned()))
        .collect()
}

/// A server as an `mcpServers` entry (secrets as `***`).
pub fn mcp_export(server: &Server) -> McpServerExport {
    let disabled = (!server.enabled).then_some(true);
    if server.transport == Transport::Stdio {
        return McpServerExport {
            kind: None,
            url: None,
            headers: None,
            command: server.command.clone(),
            args: Some(server.args.clone()),
            env: Some(redacted(&server.env)),
            cwd: server.cwd.clone(),
            disabled,
        };
    }
    let url = server.url.as_deref().map(|raw| {
        url::Url::parse(raw).map_or_else(
            |_| raw.to_owned(),
            |base| crate::catalog::url::build_server_url(&base, &server.query_params).to_string(),
        )
    });
    let kind = match server.transport {
        Transport::Sse => "sse",
        Transport::Websocket => "ws",
        _ => "http",
    };
    McpServerExport {
        kind: Some(kind.to_owned()),
        url,
        headers: Some(redacted(&server.headers)),
        command: None,
        args: None,
        env: None,
        cwd: None,
        disabled,
    }
}

/// A server in Manifold's format (secrets as `***`), with its category's
/// name from `categories` (id → name).
pub fn manifold_export(server: &Server, categories: &BTreeMap<String, String>) -> ManifoldServer {
    ManifoldServer {
        name: server.name.as_str().to_owned(),
        title: Some(server.title.clone()),
        description: Some(server.description.clone()),
        transport: server.transport.as_str().to_owned(),
        url: server.url.clone(),
        query_params: server.query_params.clone(),
        headers: redacted(&server.headers),
        command: server.command.clone(),
        args: server.args.clone(),
        env: redacted(&server.env),
        cwd: server.cwd.clone(),
        requires_oauth2: server.requires_oauth2,
        is_public: server.is_public,
        category: server
            .category_id
            .as_ref()
            .and_then(|id| categories.get(id.as_str()).cloned()),
        enabled: Some(server.enabled),
        fail_closed: server.fail_closed,
        tool_filter: server.tool_filter.clone(),
        oauth_client_id: server.oauth_client_id.clone(),
        oauth_client_secret: server
            .oauth_client_secret
            .as_ref()
            .map(|_| REDACTED.to_owned()),
        oauth_scopes: server.oauth_scopes.clone(),
        other: BTreeMap::new(),
    }
}
