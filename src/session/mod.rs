//! Connection state: per session and server, the status (`CONNECTED`,
//! `RECONNECTING`, `DISCONNECTED`, `FAILED`), the cached tool list, when it
//! connected and the last error — the seed's MCPRedisManager.
//!
//! [`StateStore`] has two backends: [`memory`] (the embedded default,
//! expiring entries with a purge task) and [`redis`] (standalone or Redis
//! Cluster). Key names are built in [`keys`] only. A write is atomic: no
//! reader ever sees `CONNECTED` without its tools.

pub mod bus;
pub mod fanout;
pub mod keys;
pub mod manager;
pub mod memory;
pub mod metered;
pub mod namespace;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::tool_filter::ToolFilter;
use crate::config::{StateBackend, StateSettings};
use crate::error::{Error, Result};
use crate::ids::SessionId;
use crate::upstream::oauth::FlowStore;

/// A shared handle on the state-store backend.
pub type State = Arc<dyn StateStore>;

/// Where a session stands with one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionStatus {
    Connected,
    /// The link broke and the gateway is reopening it; the tools stay listed
    /// and calls fail fast with `upstream_unavailable` until it is back.
    Reconnecting,
    Disconnected,
    Failed,
}

impl ConnectionStatus {
    /// The stored text (`CONNECTED`, `RECONNECTING`, `DISCONNECTED`, `FAILED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "CONNECTED",
            Self::Reconnecting => "RECONNECTING",
            Self::Disconnected => "DISCONNECTED",
            Self::Failed => "FAILED",
        }
    }

    /// Parses the stored text; anything else reads as `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "CONNECTED" => Some(Self::Connected),
            "RECONNECTING" => Some(Self::Reconnecting),
            "DISCONNECTED" => Some(Self::Disconnected),
            "FAILED" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Everything stored for one (session, server).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionState {
    pub status: ConnectionStatus,
    /// The cached tool list (MCP `Tool` objects as JSON); empty unless
    /// `CONNECTED` or `RECONNECTING`.
    pub tools: Vec<serde_json::Value>,
    pub connected_at: Option<DateTime<Utc>>,
    /// Why the last connect failed or the link broke (already redacted);
    /// only when `FAILED` or `RECONNECTING`.
    pub error: Option<String>,
}

impl ConnectionState {
    /// The state of a server never touched in this session.
    pub fn disconnected() -> Self {
        Self {
            status: ConnectionStatus::Disconnected,
            tools: Vec::new(),
            connected_at: None,
            error: None,
        }
    }
}

/// What the state store keeps for one MCP session (one `Mcp-Session-Id` on
/// `/mcp`), so that any replica can check who may use it and rebuild it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct McpBinding {
    /// The user who opened the MCP session; anyone else gets 404.
    pub user: String,
    /// The route it was opened on: empty for `/mcp`, the server name for
    /// `/mcp/s/{server}` (a session never moves between routes).
    pub route: String,
    /// The client's `initialize` params, replayed when another replica
    /// restores the session. Kept as the JSON text they were stored as:
    /// every request of the session reads its binding, and few need more
    /// of these than the client's name.
    pub initialize: Box<serde_json::value::RawValue>,
}

impl PartialEq for McpBinding {
    /// Equal owner and route, and the same `initialize` text.
    fn eq(&self, other: &Self) -> bool {
        self.user == other.user
            && self.route == other.route
            && self.initialize.get() == other.initialize.get()
    }
}

/// Raw state operations; both backends pass the same contract tests.
///
/// Every key is written with the configured TTL, and each write of a
/// server's state refreshes the TTL of the session's connections set (a
/// session's tool filter and MCP bindings keep TTLs of their own).
#[async_trait]
pub trait StateStore: FlowStore {
    /// The full state of one server in a session (`disconnected()` if none).
    async fn get(&self, session: &SessionId, server: &str) -> Result<ConnectionState>;
    /// Just the status (`Disconnected` if none).
    /// The states of several servers of one session, in order. Backends
    /// answer in one round trip where they can.
    async fn get_many(
        &self,
        session: &SessionId,
        servers: &[&str],
    ) -> Result<Vec<ConnectionState>> {
        let mut out = Vec::with_capacity(servers.len());
        for server in servers {
            out.push(self.get(session, server).await?);
        }
        Ok(out)
    }
    async fn status(&self, session: &SessionId, server: &str) -> Result<ConnectionStatus> {
        Ok(self.get(session, server).await?.status)
    }
    /// Just the cached tools (empty if none).
    async fn tools(&self, session: &SessionId, server: &str) -> Result<Vec<serde_json::Value>> {
        Ok(self.get(session, server).await?.tools)
    }
    /// Atomically: status `CONNECTED`, the tools, `connected_at`, no error, and
    /// the server added to the session's connections set.
    async fn set_connected(
        &self,
        session: &SessionId,
        server: &str,
        tools: &[serde_json::Value],
        connected_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Atomically, and only while the status is `CONNECTED` or
    /// `RECONNECTING`: status `RECONNECTING` with the error; the tools,
    /// `connected_at` and the membership of the connections set stay.
    /// Whether it was written (a server disconnected meanwhile is left alone).
    async fn set_reconnecting(
        &self,
        session: &SessionId,
        server: &str,
        error: &str,
    ) -> Result<bool>;
    /// Atomically: status `FAILED` with the error, tools and `connected_at`
    /// removed, the server removed from the connections set.
    async fn set_failed(&self, session: &SessionId, server: &str, error: &str) -> Result<()>;
    /// Atomically: status `DISCONNECTED`, tools, `connected_at` and error
    /// removed, the server removed from the connections set.
    async fn set_disconnected(&self, session: &SessionId, server: &str) -> Result<()>;
    /// Names in the session's connections set, sorted.
    async fn connected_servers(&self, session: &SessionId) -> Result<Vec<String>>;
    /// Disconnects every connected server of the session; returns their names.
    async fn disconnect_all(&self, session: &SessionId) -> Result<Vec<String>>;
    /// Deletes every key of the session (SCAN, never KEYS); returns how many.
    async fn clear_session(&self, session: &SessionId) -> Result<u64>;
    /// Removes everything stored about `server` in every session (its
    /// four keys and its membership of the connections set), for a server
    /// deleted or renamed in the catalog; other servers stay as they are,
    /// TTLs included. Returns the sessions that had any of it, sorted.
    /// Each session's part goes in one atomic step (SCAN, never KEYS).
    async fn forget_server(&self, server: &str) -> Result<Vec<SessionId>>;
    /// Stores the binding of MCP session `id` (`{prefix}mcp:binding:{id}`)
    /// with the TTL, replacing any earlier one.
    async fn bind_mcp_session(&self, id: &str, binding: &McpBinding) -> Result<()>;
    /// The binding of MCP session `id`, refreshing its TTL (a session in use
    /// never expires); `None` if there is none or it is unreadable.
    async fn mcp_session(&self, id: &str) -> Result<Option<McpBinding>>;
    /// Removes the binding of MCP session `id`; whether there was one.
    async fn forget_mcp_session(&self, id: &str) -> Result<bool>;
    /// The session's own tool filter, or the empty filter when it has none (or
    /// what is stored does not read as one: logged, and treated as none).
    /// Reading refreshes the filter's TTL, so a filter in use never expires.
    async fn tool_filter(&self, session: &SessionId) -> Result<ToolFilter>;
    /// Stores the session's tool filter with the TTL, replacing any earlier
    /// one; an empty filter removes it.
    async fn set_tool_filter(&self, session: &SessionId, filter: &ToolFilter) -> Result<()>;
    /// Round trip to the backend.
    async fn health(&self) -> Result<()>;
}

/// Refuses a lease request no backend could honour.
fn check_lease(holder: &str, ttl: Duration) -> Result<()> {
    if holder.is_empty() {
        return Err(Error::internal("a lease holder is not empty"));
    }
    if ttl.is_zero() {
        return Err(Error::internal("a lease lasts longer than zero"));
    }
    Ok(())
}

/// Reads a stored binding; garbage reads as absent (the session is then
/// unknown, and the client initializes again).
fn decode_binding(raw: &str) -> Option<McpBinding> {
    serde_json::from_str(raw)
        .inspect_err(|err| tracing::warn!(error = %err, "unreadable MCP session binding"))
        .ok()
}

/// A binding as stored text.
fn encode_binding(binding: &McpBinding) -> Result<String> {
    serde_json::to_string(binding).map_err(Error::internal)
}

/// Reads a stored tool filter; garbage reads as the empty filter (the
/// session then sees every tool until its user sets a filter again).
fn decode_tool_filter(raw: &str) -> ToolFilter {
    serde_json::from_str(raw)
        .inspect_err(|err| {
            tracing::warn!(error = %err, "unreadable session tool filter; reading it as none")
        })
        .unwrap_or_default()
}

/// A tool filter as stored text.
fn encode_tool_filter(filter: &ToolFilter) -> Result<String> {
    serde_json::to_string(filter).map_err(Error::internal)
}

/// Reads the four stored values of one server (status, tools, connected_at,
/// error) back into a state; both backends use it so they agree on garbage.
///
/// Stored values never make a read fail:
/// - no status, or a status that is not one of the four texts: `disconnected()`;
/// - `CONNECTED` or `RECONNECTING` whose tools are missing or not a JSON
///   array: `disconnected()` (a reader never sees either without its tools;
///   the caller connects again and overwrites it);
/// - an unparsable `connected_at` reads as `None`;
/// - tools and `connected_at` only count when `CONNECTED` or
///   `RECONNECTING`, the error only when `FAILED` or `RECONNECTING`.
fn decode(
    status: Option<&str>,
    tools: Option<&str>,
    connected_at: Option<&str>,
    error: Option<&str>,
) -> ConnectionState {
    let Some(raw) = status else {
        return ConnectionState::disconnected();
    };
    match ConnectionStatus::parse(raw) {
        Some(status @ (ConnectionStatus::Connected | ConnectionStatus::Reconnecting)) => {
            let parsed = tools.map(serde_json::from_str::<Vec<serde_json::Value>>);
            let Some(Ok(tools)) = parsed else {
                tracing::warn!(
                    status = status.as_str(),
                    "stored state has no readable tool list; reading it as DISCONNECTED"
                );
                return ConnectionState::disconnected();
            };
            let connected_at = connected_at.and_then(|raw| {
                DateTime::parse_from_rfc3339(raw)
                    .map(|at| at.with_timezone(&Utc))
                    .inspect_err(|_| {
                        tracing::warn!("stored connected_at is not RFC 3339; ignoring it")
                    })
                    .ok()
            });
            ConnectionState {
                status,
                tools,
                connected_at,
                error: (status == ConnectionStatus::Reconnecting)
                    .then(|| error.map(str::to_owned))
                    .flatten(),
            }
        }
        Some(ConnectionStatus::Failed) => ConnectionState {
            status: ConnectionStatus::Failed,
            tools: Vec::new(),
            connected_at: None,
            error: error.map(str::to_owned),
        },
        Some(ConnectionStatus::Disconnected) => ConnectionState::disconnected(),
        None => {
            tracing::warn!(
                "stored status is not CONNECTED, RECONNECTING, DISCONNECTED or FAILED; reading it as DISCONNECTED"
            );
            ConnectionState::disconnected()
        }
    }
}

/// Opens the store `options` name (the `[state]` settings): in memory, in
/// Redis, or in a Redis Cluster.
pub async fn connect(options: &StateSettings) -> anyhow::Result<State> {
    let ttl = std::time::Duration::from_secs(options.ttl_seconds);
    let prefix = options.key_prefix.clone();
    let store = match options.backend() {
        StateBackend::Memory => memory::open(prefix, ttl).await,
        StateBackend::Redis(url) => redis::connect(url, prefix, ttl).await,
        StateBackend::Cluster(nodes) => redis::connect_cluster(&nodes, prefix, ttl).await,
    }?;
    Ok(metered::Metered::wrap(store))
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    #[test]
    fn garbage_reads_as_disconnected_never_as_an_error() {
        let gone = ConnectionState::disconnected();
        assert_eq!(decode(None, Some("[1]"), None, None), gone);
        assert_eq!(decode(Some("connected"), Some("[1]"), None, None), gone);
        assert_eq!(decode(Some("CONNECTED"), None, None, None), gone);
        assert_eq!(decode(Some("CONNECTED"), Some("{}"), None, None), gone);
        assert_eq!(
            decode(Some("CONNECTED"), Some("not json"), None, None),
            gone
        );
        assert_eq!(
            decode(Some("DISCONNECTED"), Some("[1]"), None, Some("e")),
            gone
        );
    }

    #[test]
    fn a_tool_filter_reads_back_and_garbage_reads_as_none() {
        let filter = ToolFilter::new(vec!["get-*".into()], vec!["get-secret".into()]).unwrap();
        let stored = encode_tool_filter(&filter).unwrap();
        assert_eq!(decode_tool_filter(&stored), filter);
        for garbage in [
            "",
            "{not json",
            "[]",
            "null",
            r#"{"allow":"x"}"#,
            r#"{"nope":[]}"#,
        ] {
            assert_eq!(
                decode_tool_filter(garbage),
                ToolFilter::default(),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn fields_count_only_for_their_status() {
        let connected = decode(Some("CONNECTED"), Some("[1]"), Some("garbage"), Some("e"));
        assert_eq!(connected.status, ConnectionStatus::Connected);
        assert_eq!(connected.tools, vec![serde_json::json!(1)]);
        assert_eq!(connected.connected_at, None);
        assert_eq!(connected.error, None);
        let failed = decode(
            Some("FAILED"),
            Some("[1]"),
            Some("2024-01-01T00:00:00Z"),
            Some("e"),
        );
        assert_eq!(failed.status, ConnectionStatus::Failed);
        assert!(failed.tools.is_empty());
        assert_eq!(failed.connected_at, None);
        assert_eq!(failed.error.as_deref(), Some("e"));
        let reconnecting = decode(
            Some("RECONNECTING"),
            Some("[1]"),
            Some("2024-01-01T00:00:00Z"),
            Some("e"),
        );
        assert_eq!(reconnecting.status, ConnectionStatus::Reconnecting);
        assert_eq!(reconnecting.tools, vec![serde_json::json!(1)]);
        assert!(reconnecting.connected_at.is_some());
        assert_eq!(reconnecting.error.as_deref(), Some("e"));
        assert_eq!(
            decode(Some("RECONNECTING"), None, None, Some("e")),
            ConnectionState::disconnected()
        );
    }
}
