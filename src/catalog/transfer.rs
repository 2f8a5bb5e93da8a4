//! Import and export documents of servers, and the pure mapping from an
//! imported entry to a server draft ([`NewServer`]).
//!
//! Two formats are read and written:
//!
//! - `{"mcpServers": {"name": {...}}}`, the shape Claude Desktop, Claude
//!   Code, Cursor and VS Code keep their MCP servers in: stdio entries
//!   (`command`, `args`, `env`, `cwd`) and remote ones (`url` with `type` or
//!   `transport`, `headers`);
//! - Manifold's own `{"manifold": {"version": 1}, "servers": [...]}`, whose
//!   servers carry every field a server is created with (the category by
//!   name), so an export imports back into the same catalog.
//!
//! Secret values (every header and environment value, an OAuth client
//! secret) are exported as `***`. Such a placeholder is not a secret: an
//! imported entry holding one is refused with `invalid_secret` until the
//! real value is filled in, so a server is never created with `***` as its
//! token. What the catalog checks (rights, names taken, categories) is the
//! service's part ([`crate::catalog::service`]); this module only reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::input::NewServer;
use crate::catalog::model::{ServerName, Transport};
use crate::catalog::tool_filter::ToolFilter;
use crate::error::{Error, ErrorCode};
use crate::secret::REDACTED;

mod export;
mod report;

pub use export::{
    ExportDocument, ExportFormat, ManifoldExport, McpServerExport, McpServersExport,
    manifold_export, mcp_export,
};
pub use report::{EntryError, ImportAction, ImportEntry, ImportReport};

/// Most servers one document may hold.
pub const MAX_IMPORT_SERVERS: usize = 200;
/// The version of Manifold's own format this gateway writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What `POST /api/v1/import` reads: `mcpServers` or Manifold's `servers`
/// (one of them). Other top-level keys (a whole `claude_desktop_config.json`
/// has some) are ignored.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ImportDocument {
    /// Servers by name, as Claude Desktop, Cursor and VS Code keep them (at
    /// most 200).
    #[serde(rename = "mcpServers")]
    pub mcp_servers: Option<BTreeMap<String, McpServerEntry>>,
    /// Present in Manifold's own format.
    pub manifold: Option<FormatHeader>,
    /// Manifold's own format: servers with every field.
    #[schema(max_items = 200)]
    pub servers: Option<Vec<ManifoldServer>>,
}

/// `{"version": 1}`: which revision of Manifold's format a document is.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct FormatHeader {
    pub version: u32,
}

/// One `mcpServers` entry as clients write it. Unknown fields are ignored
/// with a warning in the answer.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct McpServerEntry {
    /// `stdio`, `http` (also `streamable-http`, `streamable_http`,
    /// `streamableHttp`), `sse`, `ws` or `websocket`; without it, a `url`
    /// means streamable HTTP (SSE when its path ends in `/sse`, WebSocket for
    /// a ws(s) URL) and a `command` means stdio.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Another name for `type` some clients use.
    pub transport: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    /// Cline's flag: imported as a disabled server.
    pub disabled: Option<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: BTreeMap<String, Value>,
}

/// A server in Manifold's own format: the fields a server is created with,
/// its category by name. Secret values are `***` in an export.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ManifoldServer {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `stdio`, `sse`, `websocket` or `streamable_http`.
    #[schema(value_type = Transport)]
    pub transport: String,
    pub url: Option<String>,
    #[serde(default)]
    pub query_params: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    #[serde(default)]
    pub requires_oauth2: bool,
    #[serde(default)]
    pub is_public: bool,
    /// A category's name; an import without such a category leaves the
    /// server uncategorised (with a warning).
    pub category: Option<String>,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub fail_closed: bool,
    #[serde(default)]
    pub tool_filter: ToolFilter,
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret: Option<String>,
    #[serde(default)]
    pub oauth_scopes: Vec<String>,
    #[serde(flatten, skip_serializing)]
    #[schema(ignore)]
    pub other: BTreeMap<String, Value>,
}

/// One entry of an import after reading: the name it gets, its draft (or
/// why it has none) and what the caller should know.
#[derive(Debug)]
pub struct ImportItem {
    /// The name in the document.
    pub source_name: String,
    /// The server name it becomes (the source name when none could be made).
    pub name: String,
    pub transport: Option<Transport>,
    pub draft: Result<NewServer, Error>,
    /// Manifold format: the category's name, resolved by the service.
    pub category: Option<String>,
    pub warnings: Vec<String>,
}

fn document_error(message: impl std::fmt::Display) -> Error {
    Error::invalid(ErrorCode::InvalidImportDocument, "mcpServers", message)
}

/// Reads a document into one item per server, in document order (by name
/// for `mcpServers`). Fails only for the document as a whole: neither or
/// both of `mcpServers` and `servers`, an unknown format version, more than
/// [`MAX_IMPORT_SERVERS`] servers.
pub fn read_document(doc: ImportDocument) -> Result<Vec<ImportItem>, Error> {
    if let Some(header) = &doc.manifold
        && header.version != FORMAT_VERSION
    {
        return Err(Error::invalid(
            ErrorCode::InvalidImportDocument,
            "manifold.version",
            format!(
                "format version {} is not one this gateway reads ({FORMAT_VERSION})",
                header.version
            ),
        ));
    }
    let mut items: Vec<ImportItem> = match (doc.mcp_servers, doc.servers) {
        (Some(_), Some(_)) => {
            return Err(document_error(
                "send either `mcpServers` or Manifold's `servers`, not both",
            ));
        }
        (None, None) => {
            return Err(document_error(
                "the document has no `mcpServers` object (nor Manifold's `servers` list)",
            ));
        }
        (Some(map), None) => {
            check_count(map.len())?;
            map.into_iter()
                .map(|(name, entry)| mcp_item(name, entry))
                .collect()
        }
        (None, Some(list)) => {
            check_count(list.len())?;
            list.into_iter().map(manifold_item).collect()
        }
    };
    mark_duplicates(&mut items);
    Ok(items)
}

fn check_count(n: usize) -> Result<(), Error> {
    if n > MAX_IMPORT_SERVERS {
        return Err(document_error(format!(
            "the document holds {n} servers; import at most {MAX_IMPORT_SERVERS} at a time"
        )));
    }
    Ok(())
}

/// A second entry that normalises to a name already used in the document
/// is refused (the first keeps it).
fn mark_duplicates(items: &mut [ImportItem]) {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for item in items.iter_mut() {
        if item.draft.is_err() {
            continue;
        }
        if let Some(first) = seen.get(&item.name) {
            item.draft = Err(Error::conflict(
                ErrorCode::ServerNameTaken,
                "name",
                format!("`{first}` in this document is named `{}` too", item.name),
            ));
        } else {
            seen.insert(item.name.clone(), item.source_name.clone());
        }
    }
}

/// A valid server name made from any text: lower case, every other
/// character `-` (runs of them once), no leading `-`/`_` nor trailing `-`,
/// at most [`ServerName::MAX_LEN`] characters. `None` when nothing is left.
pub fn normalise_name(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.trim().chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let out = out.trim_start_matches(['-', '_']);
    let mut out: String = out.chars().take(ServerName::MAX_LEN).collect();
    while out.ends_with('-') {
        out.pop();
    }
    ServerName::parse(&out).ok().map(|n| n.as_str().to_owned())
}

/// The name an entry gets, a warning when it differs from the source, and
/// the title to show the source name by.
fn entry_name(source: &str, warnings: &mut Vec<String>) -> Result<(String, Option<String>), Error> {
    if ServerName::parse(source).is_ok() {
        return Ok((source.to_owned(), None));
    }
    let Some(name) = normalise_name(source) else {
        return Err(Error::invalid(
            ErrorCode::InvalidServerName,
            "name",
            format!("`{source}` cannot be made into a server name (1-32 of a-z, 0-9, `_`, `-`)"),
        ));
    };
    warnings.push(format!(
        "renamed `{source}` to `{name}` (a server name is 1-32 of a-z, 0-9, `_` and `-`)"
    ));
    let printable = source.chars().count() <= 200 && !source.chars().any(char::is_control);
    Ok((name, printable.then(|| source.to_owned())))
}

/// Reads a `type`/`transport` word of an `mcpServers` entry.
fn transport_word(raw: &str) -> Option<Transport> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "stdio" => Some(Transport::Stdio),
        "http" | "streamable-http" | "streamable_http" | "streamablehttp" => {
            Some(Transport::StreamableHttp)
        }
        "sse" => Some(Transport::Sse),
        "ws" | "websocket" => Some(Transport::Websocket),
        _ => None,
    }
}

/// The transport of a remote entry without `type`: by URL scheme and path.
fn transport_of_url(url: &str) -> Transport {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("ws://") || lower.starts_with("wss://") {
        return Transport::Websocket;
    }
    let path = url::Url::parse(url.trim())
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    if path.trim_end_matches('/').ends_with("/sse") {
        Transport::Sse
    } else {
        Transport::StreamableHttp
    }
}

fn entry_transport(entry: &McpServerEntry, warnings: &mut Vec<String>) -> Result<Transport, Error> {
    let (field, word) = match (&entry.kind, &entry.transport) {
        (Some(kind), Some(other)) => {
            if transport_word(kind) != transport_word(other) {
                warnings.push(format!(
                    "used `type` `{kind}`; ignored `transport` `{other}`"
                ));
            }
            ("type", Some(kind))
        }
        (Some(kind), None) => ("type", Some(kind)),
        (None, Some(other)) => ("transport", Some(other)),
        (None, None) => ("type", None),
    };
    match (word, &entry.url, &entry.command) {
        (Some(word), _, _) => transport_word(word).ok_or_else(|| {
            Error::invalid(
                ErrorCode::InvalidTransport,
                field,
                format!("`{word}` is not one of stdio, http, streamable-http, sse, ws, websocket"),
            )
        }),
        (None, Some(url), _) => Ok(transport_of_url(url)),
        (None, None, Some(_)) => Ok(Transport::Stdio),
        (None, None, None) => Err(Error::invalid(
            ErrorCode::InvalidTransport,
            "command",
            "an entry needs a `command` (stdio) or a `url` (remote)",
        )),
    }
}

/// `***` is what an export shows for a secret: refuse it as a value.
fn check_placeholders(field: &str, values: &BTreeMap<String, String>) -> Result<(), Error> {
    match values.iter().find(|(_, v)| v.as_str() == REDACTED) {
        Some((key, _)) => Err(placeholder(&format!("{field}.{key}"), &format!("`{key}`"))),
        None => Ok(()),
    }
}

fn placeholder(field: &str, what: &str) -> Error {
    Error::invalid(
        ErrorCode::InvalidSecret,
        field,
        format!(
            "{what} is `***`, the placeholder an export shows for a secret: fill in the real value"
        ),
    )
}

fn unknown_fields(other: &BTreeMap<String, Value>, warnings: &mut Vec<String>) {
    for key in other.keys() {
        warnings.push(format!("ignored the unknown field `{key}`"));
    }
}

fn mcp_item(source_name: String, entry: McpServerEntry) -> ImportItem {
    let mut warnings = Vec::new();
    unknown_fields(&entry.other, &mut warnings);
    let named = entry_name(&source_name, &mut warnings);
    let transport = entry_transport(&entry, &mut warnings);
    let kind = transport.as_ref().ok().copied();
    let name = named
        .as_ref()
        .map_or_else(|_| source_name.clone(), |(n, _)| n.clone());
    let draft = named.and_then(|(name, title)| {
        let transport = transport?;
        check_placeholders("headers", &entry.headers)?;
        check_placeholders("env", &entry.env)?;
        Ok(NewServer {
            name,
            title,
            transport: transport.as_str().to_owned(),
            url: entry.url,
            headers: entry.headers,
            command: entry.command,
            args: entry.args,
            env: entry.env,
            cwd: entry.cwd,
            enabled: entry.disabled.map(|d| !d),
            ..NewServer::default()
        })
    });
    ImportItem {
        source_name,
        name,
        transport: kind,
        draft,
        category: None,
        warnings,
    }
}

fn manifold_item(server: ManifoldServer) -> ImportItem {
    let mut warnings = Vec::new();
    unknown_fields(&server.other, &mut warnings);
    let source_name = server.name.clone();
    let named = entry_name(&source_name, &mut warnings);
    let transport = Transport::parse(server.transport.trim());
    let name = named
        .as_ref()
        .map_or_else(|_| source_name.clone(), |(n, _)| n.clone());
    let category = server
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let draft = named.and_then(|(name, title)| {
        check_placeholders("headers", &server.headers)?;
        check_placeholders("env", &server.env)?;
        if server.oauth_client_secret.as_deref() == Some(REDACTED) {
            return Err(placeholder(
                "oauth_client_secret",
                "the OAuth client secret",
            ));
        }
        Ok(NewServer {
            name,
            title: server.title.or(title),
            description: server.description,
            transport: server.transport,
            url: server.url,
            query_params: server.query_params,
            headers: server.headers,
            command: server.command,
            args: server.args,
            env: server.env,
            cwd: server.cwd,
            requires_oauth2: server.requires_oauth2,
            is_public: server.is_public,
            category_id: None,
            enabled: server.enabled,
            fail_closed: server.fail_closed,
            tool_filter: server.tool_filter,
            oauth_client_id: server.oauth_client_id,
            oauth_client_secret: server.oauth_client_secret,
            oauth_scopes: server.oauth_scopes,
        })
    });
    ImportItem {
        source_name,
        name,
        transport: transport.ok(),
        draft,
        category,
        warnings,
    }
}

#[cfg(test)]
mod tests;
