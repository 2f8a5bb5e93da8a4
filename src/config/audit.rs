//! `[audit]`: the audit trail of tool calls, reads, connects and catalog
//! changes, kept in the catalog's `audit_events` table.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// What the audit trail records and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Record audit events at all.
    pub enabled: bool,
    /// Also record each call's arguments, with the server's secret header
    /// values and every key named like a secret (`token`, `password`,
    /// `authorization`, `api_key`, …) replaced by `***`. Results are never
    /// recorded.
    pub record_arguments: bool,
    /// Events older than this many days are deleted (checked hourly).
    pub retention_days: u32,
    /// Also write each event to the log as one JSON line, target
    /// `manifold::audit`.
    pub log: bool,
    /// Events waiting for the writer; past it, new events are dropped and
    /// counted (`manifold_audit_events_total{result="dropped"}`), never
    /// waited for.
    pub queue: usize,
    /// Most events written by one insert.
    pub batch: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            record_arguments: false,
            retention_days: 30,
            log: false,
            queue: 10_000,
            batch: 500,
        }
    }
}

impl AuditSettings {
    /// Refuses a retention of 0 days (every event deleted at once) or above
    /// ten years, and queue or batch sizes that cannot work.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=3650).contains(&self.retention_days) {
            return Err(ConfigError::new(
                "audit.retention_days",
                "must be 1 to 3650 (ten years)",
            ));
        }
        if !(1..=1_000_000).contains(&self.queue) {
            return Err(ConfigError::new("audit.queue", "must be 1 to 1000000"));
        }
        if !(1..=1000).contains(&self.batch) {
            return Err(ConfigError::new("audit.batch", "must be 1 to 1000"));
        }
        Ok(())
    }
}
