//! [`Metered`]: a state store whose every operation is timed and counted in
//! [`crate::metrics`] (`store="state"`, the operation's name), whatever
//! the backend. [`super::connect`] wraps every store it opens.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::catalog::tool_filter::ToolFilter;
use crate::error::Result;
use crate::ids::SessionId;
use crate::metrics::timed;
use crate::session::{ConnectionState, ConnectionStatus, McpBinding, State, StateStore};
use crate::upstream::oauth::FlowStore;

/// Times every operation of `inner`.
pub struct Metered(pub State);

impl Metered {
    /// `inner`, metered.
    pub fn wrap(inner: State) -> State {
        Arc::new(Self(inner))
    }
}

const STORE: &str = "state";

#[async_trait]
impl FlowStore for Metered {
    async fn put_oauth_flow(&self, id: &str, record: &str, ttl: Duration) -> Result<()> {
        timed(
            STORE,
            "put_oauth_flow",
            self.0.put_oauth_flow(id, record, ttl),
        )
        .await
    }
    async fn take_oauth_flow(&self, id: &str) -> Result<Option<String>> {
        timed(STORE, "take_oauth_flow", self.0.take_oauth_flow(id)).await
    }
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        timed(STORE, "try_lease", self.0.try_lease(name, holder, ttl)).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<bool> {
        timed(STORE, "release_lease", self.0.release_lease(name, holder)).await
    }
}

#[async_trait]
impl StateStore for Metered {
    async fn get(&self, session: &SessionId, server: &str) -> Result<ConnectionState> {
        timed(STORE, "get", self.0.get(session, server)).await
    }
    async fn get_many(
        &self,
        session: &SessionId,
        servers: &[&str],
    ) -> Result<Vec<ConnectionState>> {
        timed(STORE, "get_many", self.0.get_many(session, servers)).await
    }
    async fn status(&self, session: &SessionId, server: &str) -> Result<ConnectionStatus> {
        timed(STORE, "status", self.0.status(session, server)).await
    }
    async fn tools(&self, session: &SessionId, server: &str) -> Result<Vec<serde_json::Value>> {
        timed(STORE, "tools", self.0.tools(session, server)).await
    }
    async fn set_connected(
        &self,
        session: &SessionId,
        server: &str,
        tools: &[serde_json::Value],
        connected_at: DateTime<Utc>,
    ) -> Result<()> {
        let work = self.0.set_connected(session, server, tools, connected_at);
        timed(STORE, "set_connected", work).await
    }
    async fn set_reconnecting(
        &self,
        session: &SessionId,
        server: &str,
        error: &str,
    ) -> Result<bool> {
        let work = self.0.set_reconnecting(session, server, error);
        timed(STORE, "set_reconnecting", work).await
    }
    async fn set_failed(&self, session: &SessionId, server: &str, error: &str) -> Result<()> {
        timed(
            STORE,
            "set_failed",
            self.0.set_failed(session, server, error),
        )
        .await
    }
    async fn set_disconnected(&self, session: &SessionId, server: &str) -> Result<()> {
        timed(
            STORE,
            "set_disconnected",
            self.0.set_disconnected(session, server),
        )
        .await
    }
    async fn connected_servers(&self, session: &SessionId) -> Result<Vec<String>> {
        timed(
            STORE,
            "connected_servers",
            self.0.connected_servers(session),
        )
        .await
    }
    async fn disconnect_all(&self, session: &SessionId) -> Result<Vec<String>> {
        timed(STORE, "disconnect_all", self.0.disconnect_all(session)).await
    }
    async fn clear_session(&self, session: &SessionId) -> Result<u64> {
        timed(STORE, "clear_session", self.0.clear_session(session)).await
    }
    async fn forget_server(&self, server: &str) -> Result<Vec<SessionId>> {
        timed(STORE, "forget_server", self.0.forget_server(server)).await
    }
    async fn bind_mcp_session(&self, id: &str, binding: &McpBinding) -> Result<()> {
        timed(
            STORE,
            "bind_mcp_session",
            self.0.bind_mcp_session(id, binding),
        )
        .await
    }
    async fn mcp_session(&self, id: &str) -> Result<Option<McpBinding>> {
        timed(STORE, "mcp_session", self.0.mcp_session(id)).await
    }
    async fn forget_mcp_session(&self, id: &str) -> Result<bool> {
        timed(STORE, "forget_mcp_session", self.0.forget_mcp_session(id)).await
    }
    async fn tool_filter(&self, session: &SessionId) -> Result<ToolFilter> {
        timed(STORE, "tool_filter", self.0.tool_filter(session)).await
    }
    async fn set_tool_filter(&self, session: &SessionId, filter: &ToolFilter) -> Result<()> {
        timed(
            STORE,
            "set_tool_filter",
            self.0.set_tool_filter(session, filter),
        )
        .await
    }
    async fn health(&self) -> Result<()> {
        timed(STORE, "health", self.0.health()).await
    }
}
