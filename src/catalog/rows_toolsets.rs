//! The `toolsets` row, its conversion to a [`Toolset`], and the mapping of
//! a failed toolset write (see `rows.rs` for the other records).

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::catalog::rows::{corrupt, is_unique_violation_of};
use crate::catalog::toolset::{Toolset, ToolsetEntry, ToolsetExposure, ToolsetName};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::ToolsetId;

/// A `toolsets` row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ToolsetRow {
    id: String,
    name: String,
    title: String,
    description: String,
    owner: String,
    is_public: bool,
    exposure: String,
    resources: bool,
    prompts: bool,
    entries: Json<Vec<ToolsetEntry>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ToolsetRow {
    pub(super) fn into_model(self) -> Result<Toolset> {
        Ok(Toolset {
            id: ToolsetId::parse(&self.id).map_err(corrupt("toolsets.id"))?,
            name: ToolsetName::parse(&self.name).map_err(corrupt("toolsets.name"))?,
            title: self.title,
            description: self.description,
            owner: self.owner,
            is_public: self.is_public,
            exposure: ToolsetExposure::parse(&self.exposure).ok_or_else(|| {
                Error::internal(format!(
                    "catalog column toolsets.exposure holds an invalid value: `{}`",
                    self.exposure
                ))
            })?,
            resources: self.resources,
            prompts: self.prompts,
            entries: self.entries.0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Maps a failed toolset insert/update: a taken name is a 409.
pub(super) fn toolset_write_error(err: sqlx::Error, toolset: &Toolset) -> Error {
    if is_unique_violation_of(&err, "toolsets_name_unique", "toolsets.name") {
        Error::conflict(
            ErrorCode::ToolsetNameTaken,
            "name",
            format!("a toolset named `{}` already exists", toolset.name),
        )
    } else {
        err.into()
    }
}
