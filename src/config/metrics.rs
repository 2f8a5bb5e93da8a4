//! `[metrics]`: the Prometheus endpoint.

use serde::{Deserialize, Serialize};

/// Prometheus metrics at `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve `/metrics` (unauthenticated, OpenMetrics text).
    pub enabled: bool,
    /// `host:port` of a separate listener for `/metrics` alone; empty
    /// serves it on the main listener.
    pub listen: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: String::new(),
        }
    }
}
