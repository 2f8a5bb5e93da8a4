//! `[mcp]`: the MCP sessions of `/mcp` and `/mcp/s/{server}`.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// How many MCP sessions a principal may hold and how long an idle one lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpSettings {
    /// MCP sessions one principal may hold open on this replica (all MCP
    /// routes together); `initialize` beyond it is refused with 429
    /// `too_many_sessions`. 0 means no limit.
    pub max_sessions_per_user: usize,
    /// An MCP session that sees no request for this long leaves this
    /// replica's memory; its binding stays in the state store, so its
    /// client's next request resumes it. An open GET stream does not count
    /// as activity.
    pub session_idle_seconds: u64,
    /// An MCP session with no open stream and no request in rmcp's hands
    /// for this long is put to sleep: its rmcp worker and service end and
    /// it keeps a few hundred bytes on this replica; its next request wakes
    /// it (the handshake is replayed in-process). Tool calls are served
    /// without waking it. 0 keeps sessions awake until
    /// `session_idle_seconds`.
    pub session_warm_seconds: u64,
}

impl Default for McpSettings {
    fn default() -> Self {
        Self {
            max_sessions_per_user: 100,
            session_idle_seconds: 300,
            session_warm_seconds: 60,
        }
    }
}

impl McpSettings {
    /// Refuses an idle timeout of 0 (every session would end at once) or
    /// above a day (ended clients' sessions would pile up), and a warm
    /// period above a day.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=86_400).contains(&self.session_idle_seconds) {
            return Err(ConfigError::new(
                "mcp.session_idle_seconds",
                "must be 1 to 86400 (a day)",
            ));
        }
        if self.session_warm_seconds > 86_400 {
            return Err(ConfigError::new(
                "mcp.session_warm_seconds",
                "must be 0 to 86400 (a day)",
            ));
        }
        Ok(())
    }
}
