//! `[ui]`: the embedded admin page.

use serde::{Deserialize, Serialize};

/// The admin web page served at `/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// Serve the embedded admin page at `/` and its files under `/ui/`.
    pub enabled: bool,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self { enabled: true }
    }
}
