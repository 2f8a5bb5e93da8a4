//! `[limits]`: request rate limits per principal, enforced by the rate limiter.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Request rate limits per principal, a token bucket per user id with a
/// quota per role. `*_per_second = 0` means unlimited for that role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// Sustained requests per second of one admin user.
    pub admin_per_second: u32,
    /// Requests one admin user may make at once before the rate applies.
    pub admin_burst: u32,
    pub user_per_second: u32,
    pub user_burst: u32,
    pub anonymous_per_second: u32,
    pub anonymous_burst: u32,
    /// Sustained `/mcp` requests per second of one signed-in user (any
    /// role): agents fan out, so the gateway endpoint has its own bucket,
    /// apart from the admin API's. Anonymous callers keep the anonymous
    /// limits on `/mcp` too.
    pub mcp_per_second: u32,
    /// `/mcp` requests one user may send at once before the rate applies.
    pub mcp_burst: u32,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            admin_per_second: 100,
            admin_burst: 500,
            user_per_second: 50,
            user_burst: 200,
            anonymous_per_second: 10,
            anonymous_burst: 50,
            mcp_per_second: 1_000,
            mcp_burst: 2_000,
        }
    }
}

impl LimitsSettings {
    /// Every rate at most 1,000,000/s; a burst of at least 1 where a rate is set.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (role, per_second, burst) in [
            ("admin", self.admin_per_second, self.admin_burst),
            ("user", self.user_per_second, self.user_burst),
            ("anonymous", self.anonymous_per_second, self.anonymous_burst),
            ("mcp", self.mcp_per_second, self.mcp_burst),
        ] {
            if per_second > 1_000_000 {
                return Err(ConfigError::new(
                    &format!("limits.{role}_per_second"),
                    "must be at most 1000000 (0 means unlimited)",
                ));
            }
            if per_second > 0 && burst == 0 {
                return Err(ConfigError::new(
                    &format!("limits.{role}_burst"),
                    format!(
                        "must be at least 1 while limits.{role}_per_second is set (0 there means unlimited)"
                    ),
                ));
            }
        }
        Ok(())
    }
}
