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
}

impl Default for McpSettings {
    fn default() -> Self {
        Self {
            max_sessions_per_user: 100,
            session_idle_seconds: 300,
        }
    }
}

impl McpSettings {
    /// Refuses an idle timeout of 0 (every session would end at once) or
    /// above a day (ended clients' sessions would pile up).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=86_400).contains(&self.session_idle_seconds) {
            return Err(ConfigError::new(
                "mcp.session_idle_seconds",
                "must be 1 to 86400 (a day)",
            ));
        }
        Ok(())
    }
}
