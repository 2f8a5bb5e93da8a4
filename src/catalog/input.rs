//! What a caller may send to create or change catalog records. Surfaces
//! (REST, GraphQL) deserialize into these and hand them to the service, which
//! validates them; nothing here is trusted yet.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::catalog::model::Transport;
use crate::catalog::tool_filter::ToolFilter;
use crate::catalog::toolset::{ToolsetEntry, ToolsetExposure};

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
    /// 1-100 characters after trimming, without control characters,
    /// unique regardless of case (the pattern says so: a maximum length
    /// would count the blanks around it, which are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    /// An http(s) URL (at most 2048 characters) or a short emoji/text (at
    /// most 32 characters); the pattern counts without surrounding blanks.
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(|(?=[\s\S]{0,2047}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$)[Hh][Tt][Tt][Pp][Ss]?://[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*(:[1-9][0-9]{0,3})?([/?#][\s\S]*)?|(?!.*://)(?![Jj][Aa][Vv][Aa][Ss][Cc][Rr][Ii][Pp][Tt]:)(?![Dd][Aa][Tt][Aa]:)[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]{0,31})[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub icon: Option<String>,
    /// `#RGB`, `#RRGGBB`, `rgb(r, g, b)` or `rgba(r, g, b, a)`.
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(|#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6}|[Rr][Gg][Bb]\( *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *, *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *, *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *\)|[Rr][Gg][Bb][Aa]\( *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *, *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *, *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *, *(0+(\.[0-9]*)?|0*\.[0-9]+|0*1(\.0*)?) *\))[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub color: Option<String>,
    /// At most 2000 characters; no control characters but newlines and tabs.
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]{0,2000}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
}

/// Changes to a category; absent fields stay, `null` clears icon and colour.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    /// As in [`NewCategory::name`].
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: Option<String>,
    /// As in [`NewCategory::icon`]; `null` or blank clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(|(?=[\s\S]{0,2047}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$)[Hh][Tt][Tt][Pp][Ss]?://[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*(:[1-9][0-9]{0,3})?([/?#][\s\S]*)?|(?!.*://)(?![Jj][Aa][Vv][Aa][Ss][Cc][Rr][Ii][Pp][Tt]:)(?![Dd][Aa][Tt][Aa]:)[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]{0,31})[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$")]
    pub icon: Option<Option<String>>,
    /// As in [`NewCategory::color`]; `null` or blank clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(|#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6}|[Rr][Gg][Bb]\( *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *, *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *, *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *\)|[Rr][Gg][Bb][Aa]\( *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *, *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *, *([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]) *, *(0+(\.[0-9]*)?|0*\.[0-9]+|0*1(\.0*)?) *\))[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$")]
    pub color: Option<Option<String>>,
    /// As in [`NewCategory::description`].
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]{0,2000}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
}

/// A new upstream server.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServer {
    /// Slug `^[a-z0-9][a-z0-9_-]{0,31}$`; the tool namespace.
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub name: String,
    /// Display title (defaults to the name), at most 200 characters.
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]{0,200}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub title: Option<String>,
    /// At most 2000 characters.
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]{0,2000}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    /// `stdio`, `sse`, `websocket` or `streamable_http`.
    #[schema(value_type = Transport)]
    pub transport: String,
    /// http(s) for `sse`/`streamable_http`, ws(s) for `websocket`; none for
    /// stdio. At most 2048 bytes.
    pub url: Option<String>,
    #[serde(default)]
    pub query_params: BTreeMap<String, String>,
    /// Sent to the upstream; values are secret (stored encrypted, shown as `***`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub command: Option<String>,
    #[serde(default)]
    #[schema(max_items = 100)]
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
    /// An existing category's id (`ctg_…`); blank for none.
    #[schema(pattern = r"^(ctg_[0-9a-z]{16})?$")]
    pub category_id: Option<String>,
    /// Defaults to true.
    pub enabled: Option<bool>,
    /// Block the session's aggregate `/mcp` calls while this server is
    /// `FAILED` in it (defaults to false: fail-open).
    #[serde(default)]
    pub fail_closed: bool,
    /// Which of the upstream's tools sessions see: `allow` and `deny`
    /// globs over the upstream's tool names (deny wins; empty: all).
    #[serde(default)]
    pub tool_filter: ToolFilter,
    /// Pre-registered OAuth client id (with `requires_oauth2`); without one,
    /// Manifold registers itself with the authorization server (RFC 7591).
    pub oauth_client_id: Option<String>,
    /// Secret of that client; write-only (shown as `***`).
    pub oauth_client_secret: Option<String>,
    /// Scopes to request (at most 32); empty = what the server advertises.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub oauth_scopes: Vec<String>,
}

/// Changes to a server; absent fields stay, `null` clears nullable ones.
///
/// `headers` and `env` replace the whole map; a value of `"***"` keeps the
/// stored secret for that name, so a read-modify-write never erases secrets.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerPatch {
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub name: Option<String>,
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]{0,200}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub title: Option<String>,
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]{0,2000}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    #[schema(value_type = Option<Transport>)]
    pub transport: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub url: Option<Option<String>>,
    pub query_params: Option<BTreeMap<String, String>>,
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub command: Option<Option<String>>,
    #[schema(max_items = 100)]
    pub args: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub cwd: Option<Option<String>>,
    pub requires_oauth2: Option<bool>,
    pub is_public: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^(ctg_[0-9a-z]{16})?$")]
    pub category_id: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub fail_closed: Option<bool>,
    /// Replaces the whole filter; `{}` passes every tool.
    pub tool_filter: Option<ToolFilter>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub oauth_client_id: Option<Option<String>>,
    /// `"***"` keeps the stored secret; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub oauth_client_secret: Option<Option<String>>,
    #[schema(max_items = 32)]
    pub oauth_scopes: Option<Vec<String>>,
}

/// A new toolset.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToolset {
    /// Slug `^[a-z0-9][a-z0-9_-]{0,31}$`; served at `/mcp/t/{name}`.
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub name: String,
    /// Display title (defaults to the name), at most 200 characters.
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]{0,200}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub title: Option<String>,
    /// At most 2000 characters.
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]{0,2000}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    /// Visible to every user (admins only).
    #[serde(default)]
    pub is_public: bool,
    /// `all` (the default) or `search`.
    pub exposure: Option<ToolsetExposure>,
    /// Serve the entries' servers' resources too.
    #[serde(default)]
    pub resources: bool,
    /// Serve the entries' servers' prompts too.
    #[serde(default)]
    pub prompts: bool,
    /// The selected tools; each `server` must exist and be visible to the
    /// toolset's owner.
    #[serde(default)]
    #[schema(max_items = 200)]
    pub entries: Vec<ToolsetEntry>,
}

/// Changes to a toolset; absent fields stay, `entries` replaces the whole list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolsetPatch {
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub name: Option<String>,
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]{0,200}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub title: Option<String>,
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]{0,2000}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    pub is_public: Option<bool>,
    pub exposure: Option<ToolsetExposure>,
    pub resources: Option<bool>,
    pub prompts: Option<bool>,
    #[schema(max_items = 200)]
    pub entries: Option<Vec<ToolsetEntry>>,
}
