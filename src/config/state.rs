//! [`StateUrl`]: where `[state]` keeps per-session connection state,
//! parsed once when the settings are read.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::secret::SecretUrl;

/// Where per-session connection state lives: in this process, or in Redis.
#[derive(Clone, PartialEq, Eq)]
pub enum StateUrl {
    /// `memory`: the embedded default, per process.
    Memory,
    /// `redis://…` or `rediss://…` (standalone Redis); its password never prints.
    Redis(SecretUrl),
}

impl StateUrl {
    /// Parses `memory` or a Redis URL the redis client accepts.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw == "memory" {
            return Ok(Self::Memory);
        }
        let url = SecretUrl::new(raw);
        if !raw.starts_with("redis://") && !raw.starts_with("rediss://") {
            return Err(format!(
                "expected `memory` or a redis:// URL, got `{}`",
                url.redacted()
            ));
        }
        redis::Client::open(raw).map_err(|e| format!("not a valid Redis URL: {e}"))?;
        Ok(Self::Redis(url))
    }

    /// The Redis URL (with its password), when the state lives in Redis.
    pub fn redis(&self) -> Option<&str> {
        match self {
            Self::Memory => None,
            Self::Redis(url) => Some(url.expose()),
        }
    }
}

impl fmt::Display for StateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Redis(url) => fmt::Display::fmt(url, f),
        }
    }
}

impl fmt::Debug for StateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl Serialize for StateUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StateUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}
