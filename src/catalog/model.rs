//! Catalog records: categories, servers and API keys, as the rest of the code
//! sees them (secrets decrypted but boxed in [`Secret`]).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::catalog::tool_filter::ToolFilter;
use crate::error::{Error, ErrorCode};
use crate::ids::{ApiKeyId, CategoryId, ServerId};
use crate::principal::Role;
use crate::secret::Secret;

/// A group of servers shown together (icon and colour are for the UI).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Category {
    /// `ctg_` + 16 characters.
    #[schema(value_type = String, example = "ctg_k3j5h2n4q8r1s0t2")]
    pub id: CategoryId,
    pub name: String,
    pub icon: Option<String>,
    pub color: Option<String>,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How Manifold talks to an upstream server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// A child process speaking JSON-RPC on stdin/stdout.
    Stdio,
    /// Legacy HTTP+SSE (protocol 2024-11-05).
    Sse,
    /// One JSON-RPC message per WebSocket text frame, subprotocol `mcp`.
    Websocket,
    /// Streamable HTTP (protocol 2025-03-26 and later).
    StreamableHttp,
}

impl Transport {
    /// The wire name (`stdio`, `sse`, `websocket`, `streamable_http`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdio => "stdio",
            Self::Sse => "sse",
            Self::Websocket => "websocket",
            Self::StreamableHttp => "streamable_http",
        }
    }

    /// Parses the wire name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "stdio" => Ok(Self::Stdio),
            "sse" => Ok(Self::Sse),
            "websocket" => Ok(Self::Websocket),
            "streamable_http" => Ok(Self::StreamableHttp),
            other => Err(Error::invalid(
                ErrorCode::InvalidTransport,
                "transport",
                format!("`{other}` is not one of stdio, sse, websocket, streamable_http"),
            )),
        }
    }

    /// URL schemes a server of this transport may use (none for stdio).
    pub fn url_schemes(self) -> &'static [&'static str] {
        match self {
            Self::Stdio => &[],
            Self::Sse | Self::StreamableHttp => &["http", "https"],
            Self::Websocket => &["ws", "wss"],
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server's unique name: a slug `^[a-z0-9][a-z0-9_-]{0,31}$`. It becomes the
/// tool namespace (`{name}__{tool}`) and appears in URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ServerName(String);

impl ServerName {
    /// Longest accepted name.
    pub const MAX_LEN: usize = 32;

    /// Accepts only the slug form.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if first_ok && rest_ok && raw.len() <= Self::MAX_LEN {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid(
                ErrorCode::InvalidServerName,
                "name",
                format!(
                    "`{raw}` is not a valid server name: use 1-32 of a-z, 0-9, `_` and `-`, starting with a letter or digit"
                ),
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ServerName {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(de)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Secret values by name (upstream headers, stdio environment).
pub type SecretMap = BTreeMap<String, Secret<String>>;

/// An upstream MCP server in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Server {
    /// `mcp_` + 16 characters.
    #[schema(value_type = String, example = "mcp_a1b2c3d4e5f6g7h8")]
    pub id: ServerId,
    /// Unique slug; the tool namespace.
    #[schema(value_type = String, example = "github")]
    pub name: ServerName,
    pub title: String,
    pub description: String,
    pub transport: Transport,
    /// Base URL for network transports, without `query_params` merged in.
    pub url: Option<String>,
    /// Extra query parameters merged into `url` (see [`crate::catalog::url::build_server_url`]).
    pub query_params: BTreeMap<String, String>,
    /// Header names with values shown as `***`.
    #[schema(value_type = BTreeMap<String, String>)]
    pub headers: SecretMap,
    pub command: Option<String>,
    pub args: Vec<String>,
    /// Variable names with values shown as `***`.
    #[schema(value_type = BTreeMap<String, String>)]
    pub env: SecretMap,
    pub cwd: Option<String>,
    pub requires_oauth2: bool,
    pub is_public: bool,
    /// User id of the creator; private servers are visible to them only.
    pub owner: String,
    #[schema(value_type = Option<String>)]
    pub category_id: Option<CategoryId>,
    pub enabled: bool,
    /// While this server is `FAILED` in a session, that session's aggregate
    /// `/mcp` refuses `tools/call`, `resources/read` and `prompts/get` with
    /// `server_failed` (fail-closed); when false, the other servers keep
    /// working (fail-open).
    pub fail_closed: bool,
    /// Pre-registered OAuth client id at the server's authorization server;
    /// `None` = Manifold registers itself dynamically (RFC 7591).
    pub oauth_client_id: Option<String>,
    /// Its secret, shown as `***`.
    #[schema(value_type = Option<String>)]
    pub oauth_client_secret: Option<Secret<String>>,
    /// Scopes to request; empty = what the server advertises.
    pub oauth_scopes: Vec<String>,
    /// Which of the upstream's tools sessions see (empty: all). Hidden
    /// tools are left out of every view and listing and cannot be called.
    pub tool_filter: ToolFilter,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Server {
    /// Whether a user (not an admin) may see this server.
    pub fn visible_to(&self, user_id: &str) -> bool {
        self.is_public || self.owner == user_id
    }
}

/// An API key as stored: only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    #[schema(value_type = String, example = "key_a1b2c3d4e5f6g7h8")]
    pub id: ApiKeyId,
    /// The label its owner gave it (1-64 printable characters), if any.
    pub name: Option<String>,
    pub user_id: String,
    pub role: Role,
    /// Hex SHA-256 of the full key text; never shown.
    #[serde(skip)]
    #[schema(ignore)]
    pub hash: String,
    /// The first characters of the key (`mfk_AbCdEf`), to recognise it in lists.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn server_names_are_exactly_the_slug_pattern(s in "\\PC{0,40}") {
            let mut chars = s.chars();
            let expected = s.len() <= 32
                && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            prop_assert_eq!(ServerName::parse(&s).is_ok(), expected);
        }

        #[test]
        fn generated_slugs_are_accepted(s in "[a-z0-9][a-z0-9_-]{0,31}") {
            prop_assert!(ServerName::parse(&s).is_ok());
        }
    }

    #[test]
    fn transports_round_trip_their_wire_names() {
        for t in [
            Transport::Stdio,
            Transport::Sse,
            Transport::Websocket,
            Transport::StreamableHttp,
        ] {
            assert_eq!(Transport::parse(t.as_str()).ok(), Some(t));
        }
        assert_eq!(
            Transport::parse("http").err().map(|e| e.code()),
            Some(ErrorCode::InvalidTransport)
        );
    }
}
