//! Toolsets in GraphQL: the `Toolset` type, its inputs, and what the query
//! and mutation roots' `toolsets`, `toolset`, `createToolset`,
//! `updateToolset` and `deleteToolset` do (the same service calls as REST
//! `/api/v1/toolsets`).

use async_graphql::{Enum, ID, InputObject, Json, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use crate::catalog::input::{NewToolset, ToolsetPatch};
use crate::catalog::{ToolsetEntry as CatalogEntry, ToolsetExposure};

/// A toolset: a virtual MCP server at `/mcp/t/{name}` showing chosen tools
/// of several servers, renamed and re-described as it says.
#[derive(SimpleObject)]
pub(crate) struct Toolset {
    pub id: ID,
    pub name: String,
    pub title: String,
    pub description: String,
    /// User id of the creator; a private toolset is visible to them only.
    pub owner: String,
    pub is_public: bool,
    /// How `/mcp/t/{name}` lists the tools unless a request asks
    /// (`?tools=`): all of them, or the two search tools.
    pub exposure: Exposure,
    /// Whether the entries' servers' resources are shown too.
    pub resources: bool,
    /// Whether the entries' servers' prompts are shown too.
    pub prompts: bool,
    pub entries: Vec<ToolsetEntry>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<crate::catalog::Toolset> for Toolset {
    fn from(t: crate::catalog::Toolset) -> Self {
        Self {
            id: ID(t.id.to_string()),
            name: t.name.as_str().to_owned(),
            title: t.title,
            description: t.description,
            owner: t.owner,
            is_public: t.is_public,
            exposure: t.exposure.into(),
            resources: t.resources,
            prompts: t.prompts,
            entries: t.entries.into_iter().map(Into::into).collect(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// How a toolset lists its tools.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exposure {
    All,
    Search,
}

impl From<ToolsetExposure> for Exposure {
    fn from(e: ToolsetExposure) -> Self {
        match e {
            ToolsetExposure::All => Self::All,
            ToolsetExposure::Search => Self::Search,
        }
    }
}

impl From<Exposure> for ToolsetExposure {
    fn from(e: Exposure) -> Self {
        match e {
            Exposure::All => Self::All,
            Exposure::Search => Self::Search,
        }
    }
}

/// One selection: a tool (or a glob over tools) of a server.
#[derive(SimpleObject)]
pub(crate) struct ToolsetEntry {
    pub server: String,
    /// An upstream tool name or a glob (`get_*`).
    pub tool: String,
    /// The name clients see instead.
    pub expose_as: Option<String>,
    /// Replaces the upstream's description.
    pub description: Option<String>,
    /// Replaces the upstream's annotations.
    pub annotations: Option<Json<serde_json::Value>>,
}

impl From<CatalogEntry> for ToolsetEntry {
    fn from(e: CatalogEntry) -> Self {
        Self {
            server: e.server,
            tool: e.tool,
            expose_as: e.expose_as,
            description: e.description,
            annotations: e.annotations.map(Json),
        }
    }
}

/// One selection of a new or changed toolset.
#[derive(InputObject)]
pub(crate) struct ToolsetEntryInput {
    pub server: String,
    pub tool: String,
    pub expose_as: Option<String>,
    pub description: Option<String>,
    /// An object of MCP tool annotations.
    pub annotations: Option<Json<serde_json::Value>>,
}

impl From<ToolsetEntryInput> for CatalogEntry {
    fn from(i: ToolsetEntryInput) -> Self {
        Self {
            server: i.server,
            tool: i.tool,
            expose_as: i.expose_as,
            description: i.description,
            annotations: i.annotations.map(|j| j.0),
        }
    }
}

/// A new toolset, owned by the caller (a public one: admins).
#[derive(InputObject)]
pub(crate) struct CreateToolsetInput {
    /// Slug `^[a-z0-9][a-z0-9_-]{0,31}$`; the route `/mcp/t/{name}`.
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
    pub exposure: Option<Exposure>,
    pub resources: Option<bool>,
    pub prompts: Option<bool>,
    #[graphql(default)]
    pub entries: Vec<ToolsetEntryInput>,
}

impl From<CreateToolsetInput> for NewToolset {
    fn from(i: CreateToolsetInput) -> Self {
        Self {
            name: i.name,
            title: i.title,
            description: i.description,
            is_public: i.is_public.unwrap_or(false),
            exposure: i.exposure.map(Into::into),
            resources: i.resources.unwrap_or(false),
            prompts: i.prompts.unwrap_or(false),
            entries: i.entries.into_iter().map(Into::into).collect(),
        }
    }
}

/// Changes to a toolset: absent fields stay; `entries` replaces the list.
#[derive(InputObject)]
pub(crate) struct UpdateToolsetInput {
    pub name: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
    pub exposure: Option<Exposure>,
    pub resources: Option<bool>,
    pub prompts: Option<bool>,
    pub entries: MaybeUndefined<Vec<ToolsetEntryInput>>,
}

impl From<UpdateToolsetInput> for ToolsetPatch {
    fn from(i: UpdateToolsetInput) -> Self {
        Self {
            name: i.name,
            title: i.title,
            description: i.description,
            is_public: i.is_public,
            exposure: i.exposure.map(Into::into),
            resources: i.resources,
            prompts: i.prompts,
            entries: match i.entries {
                MaybeUndefined::Value(entries) => {
                    Some(entries.into_iter().map(Into::into).collect())
                }
                MaybeUndefined::Null => Some(Vec::new()),
                MaybeUndefined::Undefined => None,
            },
        }
    }
}

/// A page of toolsets, by name.
#[derive(SimpleObject)]
pub(crate) struct ToolsetPage {
    pub items: Vec<Toolset>,
    /// Pass as `after` for the next page; null on the last.
    pub next_cursor: Option<String>,
}
