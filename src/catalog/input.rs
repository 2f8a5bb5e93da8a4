//! What a caller may send to create or change catalog records. Surfaces
//! (REST, GraphQL) deserialize into these and hand them to the service, which
//! validates them; nothing here is trusted yet.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// Treats a present `null` as `Some(None)` (clear the field) and an absent
/// field as `None` (leave it alone).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

/// A new category.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    /// 1-100 characters, unique regardless of case.
    pub name: String,
    /// An http(s) URL or a short emoji/text.
    pub icon: Option<String>,
    /// `#RGB`, `#RRGGBB`, `rgb(r, g, b)` or `rgba(r, g, b, a)`.
    pub color: Option<String>,
    pub description: Option<String>,
}

/// Changes to a category; absent fields stay, `null` clears icon and colour.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub icon: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub color: Option<Option<String>>,
    pub description: Option<String>,
}

/// A new upstream server.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServer {
    /// Slug `^[a-z0-9][a-z0-9_-]{0,31}$`; the tool namespace.
    pub name: String,
    /// Display title (defaults to the name).
    pub title: Option<String>,
    pub description: Option<String>,
    /// `stdio`, `sse`, `websocket` or `streamable_http`.
    pub transport: String,
    /// http(s) for `sse`/`streamable_http`, ws(s) for `websocket`; none for stdio.
    pub url: Option<String>,
    #[serde(default)]
    pub query_params: BTreeMap<String, String>,
    /// Sent to the upstream; values are secret (stored encrypted, shown as `***`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// stdio environment; values are secret.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    #[serde(default)]
    pub requires_oauth2: bool,
    /// Visible to every user (admins only).
    #[serde(default)]
    pub is_public: bool,
    pub category_id: Option<String>,
    /// Defaults to true.
    pub enabled: Option<bool>,
    /// Block the session's aggregate `/mcp` calls while this server is
    /// `FAILED` in it (defaults to false: fail-open).
    #[serde(default)]
    pub fail_closed: bool,
    /// Pre-registered OAuth client id (with `requires_oauth2`); without one,
    /// Manifold registers itself with the authorization server (RFC 7591).
    pub oauth_client_id: Option<String>,
    /// Secret of that client; write-only (shown as `***`).
    pub oauth_client_secret: Option<String>,
    /// Scopes to request; empty = what the server advertises.
    #[serde(default)]
    pub oauth_scopes: Vec<String>,
}

/// Changes to a server; absent fields stay, `null` clears nullable ones.
///
/// `headers` and `env` replace the whole map; a value of `"***"` keeps the
/// stored secret for that name, so a read-modify-write never erases secrets.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerPatch {
    pub name: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub transport: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub url: Option<Option<String>>,
    pub query_params: Option<BTreeMap<String, String>>,
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub command: Option<Option<String>>,
    pub args: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub cwd: Option<Option<String>>,
    pub requires_oauth2: Option<bool>,
    pub is_public: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub category_id: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub fail_closed: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub oauth_client_id: Option<Option<String>>,
    /// `"***"` keeps the stored secret; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub oauth_client_secret: Option<Option<String>>,
    pub oauth_scopes: Option<Vec<String>>,
}
