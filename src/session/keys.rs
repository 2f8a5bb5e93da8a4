//! Key names, built here and nowhere else, so both backends share one layout.
//!
//! For a key prefix `P`, a session `S` and a server `N`:
//!
//! - `{P}mcp:session:{S}:server:{N}:status`: `CONNECTED`, `DISCONNECTED` or `FAILED`
//! - `{P}mcp:session:{S}:server:{N}:tools`: the tool list as JSON array text
//! - `{P}mcp:session:{S}:server:{N}:connected_at`: an RFC 3339 time
//! - `{P}mcp:session:{S}:server:{N}:error`: the last connect error (text)
//! - `{P}mcp:session:{S}:connections`: the set of connected server names
//! - `{P}mcp:session:{S}:tool_filter`: the session's own
//!   [`ToolFilter`](crate::catalog::tool_filter::ToolFilter) as JSON (absent
//!   when it has none)
//! - `{P}mcp:binding:{M}`: the [`McpBinding`](super::McpBinding) of one MCP
//!   session id `M` (who opened it, on which route, its handshake) as JSON
//! - `{P}oauth:flow:{H}`: a pending OAuth authorization (`H`: hex SHA-256)
//! - `{P}lease:{L}`: the holder of lease `L` (see [`lease`])
//!
//! On a Redis Cluster ([`Layout::HashTagged`]) the session id in a session's
//! keys sits in braces, `{P}mcp:session:{{S}}:server:{N}:status` and so on:
//! Redis hashes only the text between the first `{` and the next `}`, so all
//! keys of one session share one hash slot, and the multi-key transactions,
//! scripts and `UNLINK`s of one session stay legal there. Session ids and
//! server names never contain braces, so the tag is exactly the id. Other
//! keys are single keys and keep their names; standalone Redis and the
//! memory store use the plain names above.
//!
//! A [`SessionId`] may contain `:`, so the SCAN pattern `{P}mcp:session:{S}:*`
//! alone could also match keys of a session named `{S}:x`. [`SessionKeys::owns`]
//! therefore decides exactly which keys belong to one session; server names
//! may not contain `:` (see [`check_server`]), which makes every key parse back
//! into one (session, server, field) or one (session, `connections` or
//! `tool_filter`) only: a server's keys always carry the `server:` segment
//! and end in one of [`FIELDS`], which `tool_filter` is not, so the filter
//! never reads as a server's key (nor a server named `tool_filter`'s keys
//! as the filter). The prefix is escaped in the SCAN
//! pattern (configuration forbids `*` and spaces in it, but `?`, `[`, `]` and
//! `\` are allowed), and session ids never contain glob characters.

use crate::error::{Error, ErrorCode, Result};
use crate::ids::SessionId;

/// How the keys of a session are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `{P}mcp:session:{S}:…`, the seed's names (memory, standalone Redis).
    #[default]
    Plain,
    /// `{P}mcp:session:{{S}}:…`: the session id is the Redis Cluster hash
    /// tag, so a session's keys share one slot.
    HashTagged,
}

/// The per-server fields, in the order [`ServerKeys::all`] lists them.
pub const FIELDS: [&str; 4] = ["status", "tools", "connected_at", "error"];

/// The last segment of a session's tool-filter key (a session-wide key, like
/// `connections`, never one of a server's [`FIELDS`]).
const TOOL_FILTER: &str = "tool_filter";

/// Longest accepted server name in a key.
pub const MAX_SERVER_LEN: usize = 128;

/// Accepts a server name usable in a key: 1-128 printable ASCII characters
/// other than `:` (the key separator), space and the glob characters
/// `*?[]{}\`. Catalog names (`^[a-z0-9][a-z0-9_-]{0,31}$`) always pass.
pub fn check_server(server: &str) -> Result<()> {
    if is_valid_server(server) {
        Ok(())
    } else {
        Err(Error::invalid(
            ErrorCode::InvalidServerName,
            "server",
            "a server name in connection state is 1-128 printable characters without spaces, `:` or *?[]{}\\",
        ))
    }
}

fn is_valid_server(server: &str) -> bool {
    !server.is_empty()
        && server.len() <= MAX_SERVER_LEN
        && server
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b":*?[]{}\\".contains(&b))
}

/// `{prefix}oauth:flow:{id}`, a pending OAuth authorization; `id` is the
/// hex SHA-256 of its `state`, so it is always 64 hex digits.
pub fn oauth_flow(prefix: &str, id: &str) -> Result<String> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("{prefix}oauth:flow:{id}"))
    } else {
        Err(Error::internal("an OAuth flow id is a hex SHA-256"))
    }
}

/// Longest accepted lease name.
pub const MAX_LEASE_LEN: usize = 200;

/// `{prefix}lease:{name}`, the key of one lease. Names are built by the
/// code that takes the lease (never from raw user input): 1-200 printable
/// ASCII characters other than space and `*?[]{}\`.
pub fn lease(prefix: &str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LEASE_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"*?[]{}\\".contains(&b));
    if ok {
        Ok(format!("{prefix}lease:{name}"))
    } else {
        Err(Error::internal(
            "a lease name is 1-200 printable characters without spaces or *?[]{}\\",
        ))
    }
}

/// Longest accepted MCP session id (rmcp issues 36-character UUIDs).
pub const MAX_MCP_SESSION_LEN: usize = 200;

/// `{prefix}mcp:binding:{id}`, the key of one MCP session's binding. The id
/// comes from a client's `Mcp-Session-Id` header, so it is checked: 1-200
/// printable ASCII characters other than space and `*?[]{}\\`.
pub fn mcp_binding(prefix: &str, id: &str) -> Result<String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_MCP_SESSION_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"*?[]{}\\".contains(&b));
    if ok {
        Ok(format!("{prefix}mcp:binding:{id}"))
    } else {
        Err(Error::invalid(
            ErrorCode::InvalidMcpSessionId,
            "mcp-session-id",
            "an MCP session id is 1-200 printable characters without spaces or *?[]{}\\",
        ))
    }
}

/// `text` as a literal in a SCAN `MATCH` pattern (glob characters escaped).
fn escape_glob(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// The SCAN `MATCH` pattern of every session's keys, `{prefix}mcp:session:*`
/// (the prefix escaped); filter the keys with [`session_of`].
pub fn sessions_scan_pattern(prefix: &str) -> String {
    let mut pattern = escape_glob(prefix);
    pattern.push_str("mcp:session:*");
    pattern
}

/// The session `key` belongs to when it is that session's connections set
/// or one of the fields of `server` in it, in `layout`; `None` for any other
/// key (a session's tool filter included: it belongs to no server).
///
/// Server names contain no `:`, so the suffix `:server:{server}:{field}`
/// (or `:connections`) names exactly one session: the rest of the key (in
/// braces with [`Layout::HashTagged`]).
pub fn session_of(layout: Layout, prefix: &str, key: &str, server: &str) -> Option<SessionId> {
    let rest = key.strip_prefix(prefix)?.strip_prefix("mcp:session:")?;
    let session = match rest.strip_suffix(":connections") {
        Some(session) => session,
        None => FIELDS.iter().find_map(|field| {
            rest.strip_suffix(field)?
                .strip_suffix(':')?
                .strip_suffix(server)?
                .strip_suffix(":server:")
        })?,
    };
    let session = match layout {
        Layout::Plain => session,
        Layout::HashTagged => session.strip_prefix('{')?.strip_suffix('}')?,
    };
    SessionId::parse(session).ok()
}

/// The keys of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// `{prefix}mcp:session:{sid}:`
    base: String,
}

impl SessionKeys {
    /// The keys of `session` under `prefix`, with the plain names.
    pub fn new(prefix: &str, session: &SessionId) -> Self {
        Self::in_layout(Layout::Plain, prefix, session)
    }

    /// The keys of `session` under `prefix`, named as `layout` says.
    pub fn in_layout(layout: Layout, prefix: &str, session: &SessionId) -> Self {
        let session = session.as_str();
        let base = match layout {
            Layout::Plain => format!("{prefix}mcp:session:{session}:"),
            Layout::HashTagged => format!("{prefix}mcp:session:{{{session}}}:"),
        };
        Self { base }
    }

    /// `{prefix}mcp:session:{sid}:connections`, the set of connected servers.
    pub fn connections(&self) -> String {
        format!("{}connections", self.base)
    }

    /// `{prefix}mcp:session:{sid}:tool_filter`, the session's own tool
    /// filter as JSON. No server's key: [`session_of`] never reads it as
    /// one, so `forget_server` leaves it alone, while [`Self::owns`] counts
    /// it, so `clear_session` removes it with the rest.
    pub fn tool_filter(&self) -> String {
        format!("{}{TOOL_FILTER}", self.base)
    }

    /// The four keys of one server (fails on a name [`check_server`] refuses).
    pub fn server(&self, server: &str) -> Result<ServerKeys> {
        check_server(server)?;
        let key = |field: &str| format!("{}server:{server}:{field}", self.base);
        Ok(ServerKeys {
            status: key("status"),
            tools: key("tools"),
            connected_at: key("connected_at"),
            error: key("error"),
        })
    }

    /// The SCAN `MATCH` pattern `{prefix}mcp:session:{sid}:*`, with glob
    /// characters of the literal part escaped. It may match keys of other
    /// sessions whose id extends this one with `:`; filter with [`Self::owns`].
    pub fn scan_pattern(&self) -> String {
        let mut pattern = escape_glob(&self.base);
        pattern.push('*');
        pattern
    }

    /// Whether `key` is exactly one of this session's keys: its connections
    /// set, its tool filter or a field of a valid server name.
    pub fn owns(&self, key: &str) -> bool {
        let Some(rest) = key.strip_prefix(self.base.as_str()) else {
            return false;
        };
        if rest == "connections" || rest == TOOL_FILTER {
            return true;
        }
        rest.strip_prefix("server:")
            .and_then(|tail| tail.rsplit_once(':'))
            .is_some_and(|(server, field)| FIELDS.contains(&field) && is_valid_server(server))
    }
}

/// The keys of one (session, server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKeys {
    pub status: String,
    pub tools: String,
    pub connected_at: String,
    pub error: String,
}

impl ServerKeys {
    /// The four keys in [`FIELDS`] order (the order `get` reads them in).
    pub fn all(&self) -> [&str; 4] {
        [&self.status, &self.tools, &self.connected_at, &self.error]
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
