//! Toolset operations of [`CatalogService`]: lookup by id or name, listing,
//! create, change and delete, with the visibility and ownership rules.
//!
//! Anyone but an anonymous caller may make private toolsets; a public one
//! is the admins' (creating, changing or deleting it), as a public server
//! is. Every server an entry names must exist and be visible to the
//! toolset's owner when the toolset is written (422 `server_not_found` on
//! `entries[i].server` otherwise); a server deleted or hidden later is
//! skipped when the toolset is served, which is the gateway's business.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::catalog::ToolsetQuery;
use crate::catalog::events::CatalogEvent;
use crate::catalog::input::{NewToolset, ToolsetPatch};
use crate::catalog::model::ServerName;
use crate::catalog::toolset::{Toolset, ToolsetName, check_entries};
use crate::catalog::validate;
use crate::error::{Error, ErrorCode, Result};
use crate::ids::ToolsetId;
use crate::principal::Principal;

use super::{CatalogService, ListParams, Page, decode_cursor, limit, now, page, toolset_not_found};

impl CatalogService {
    /// A toolset by id or name, if the principal may see it (a private
    /// toolset of another user is `toolset_not_found`, as an absent one).
    pub async fn get_toolset(&self, principal: &Principal, id_or_name: &str) -> Result<Toolset> {
        let found = match ToolsetId::parse(id_or_name) {
            Ok(id) => self.store.get_toolset(&id).await?,
            Err(_) => None,
        };
        let found = match found {
            Some(toolset) => Some(toolset),
            None => match ToolsetName::parse(id_or_name) {
                Ok(name) => self.store.get_toolset_by_name(&name).await?,
                Err(_) => None,
            },
        };
        found
            .filter(|t| principal.is_admin() || t.visible_to(&principal.user_id))
            .ok_or_else(toolset_not_found)
    }

    /// A page of the toolsets the principal may see, ordered by name
    /// (`search` and `category_id` of `params` do not apply).
    pub async fn list_toolsets(
        &self,
        principal: &Principal,
        params: &ListParams,
    ) -> Result<Page<Toolset>> {
        let limit = limit(params)?;
        let query = ToolsetQuery {
            visible_to: (!principal.is_admin()).then(|| principal.user_id.clone()),
            after: decode_cursor(params.cursor.as_deref())?,
            limit: limit + 1,
        };
        let items = self.store.list_toolsets(&query).await?;
        Ok(page(items, limit, |t| t.name.as_str().to_owned()))
    }

    /// Creates a toolset owned by the principal (not anonymous; a public
    /// one needs an admin).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id, toolset = %input.name))]
    pub async fn create_toolset(
        &self,
        principal: &Principal,
        input: NewToolset,
    ) -> Result<Toolset> {
        let at = now();
        let toolset = build_toolset(
            input,
            ToolsetId::generate(),
            principal.user_id.clone(),
            at,
            at,
        )?;
        check_toolset_rights(principal, &toolset)?;
        self.check_entry_servers(principal, &toolset).await?;
        self.store.insert_toolset(&toolset).await?;
        tracing::info!(id = %toolset.id, entries = toolset.entries.len(), "toolset created");
        self.changed(principal, CatalogEvent::toolset_created(&toolset));
        Ok(toolset)
    }

    /// Changes a toolset (its owner, or an admin); absent fields stay,
    /// `entries` replaces the whole list.
    #[tracing::instrument(skip_all, fields(user = %principal.user_id, toolset = id_or_name))]
    pub async fn update_toolset(
        &self,
        principal: &Principal,
        id_or_name: &str,
        patch: ToolsetPatch,
    ) -> Result<Toolset> {
        let current = self.get_toolset(principal, id_or_name).await?;
        check_owner(principal, &current)?;
        let toolset = build_toolset(
            apply_patch(&current, patch),
            current.id.clone(),
            current.owner.clone(),
            current.created_at,
            now(),
        )?;
        check_toolset_rights(principal, &toolset)?;
        self.check_entry_servers(principal, &toolset).await?;
        self.store.update_toolset(&toolset).await?;
        self.changed(principal, CatalogEvent::toolset_updated(&current, &toolset));
        Ok(toolset)
    }

    /// Deletes a toolset (its owner, or an admin; a public one, an admin).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id, toolset = id_or_name))]
    pub async fn delete_toolset(&self, principal: &Principal, id_or_name: &str) -> Result<()> {
        let toolset = self.get_toolset(principal, id_or_name).await?;
        check_owner(principal, &toolset)?;
        check_toolset_rights(principal, &toolset)?;
        if self.store.delete_toolset(&toolset.id).await? {
            tracing::info!(id = %toolset.id, "toolset deleted");
            self.changed(principal, CatalogEvent::toolset_deleted(&toolset));
            Ok(())
        } else {
            Err(toolset_not_found())
        }
    }

    /// Every server the entries name exists and is visible to the toolset's
    /// owner (all servers when the owner is the admin making the change).
    async fn check_entry_servers(&self, principal: &Principal, toolset: &Toolset) -> Result<()> {
        let owner_is_admin = principal.is_admin() && principal.user_id == toolset.owner;
        let mut seen: HashMap<&str, bool> = HashMap::new();
        for (i, entry) in toolset.entries.iter().enumerate() {
            let visible = match seen.get(entry.server.as_str()) {
                Some(&visible) => visible,
                None => {
                    let server = match ServerName::parse(&entry.server) {
                        Ok(name) => self.store.get_server_by_name(&name).await?,
                        Err(_) => None,
                    };
                    let visible =
                        server.is_some_and(|s| owner_is_admin || s.visible_to(&toolset.owner));
                    seen.insert(&entry.server, visible);
                    visible
                }
            };
            if !visible {
                return Err(Error::invalid(
                    ErrorCode::ServerNotFound,
                    &format!("entries[{i}].server"),
                    format!("there is no server `{}`", entry.server),
                ));
            }
        }
        Ok(())
    }
}

fn apply_patch(current: &Toolset, patch: ToolsetPatch) -> NewToolset {
    NewToolset {
        name: patch
            .name
            .unwrap_or_else(|| current.name.as_str().to_owned()),
        title: Some(patch.title.unwrap_or_else(|| current.title.clone())),
        description: Some(
            patch
                .description
                .unwrap_or_else(|| current.description.clone()),
        ),
        is_public: patch.is_public.unwrap_or(current.is_public),
        exposure: Some(patch.exposure.unwrap_or(current.exposure)),
        resources: patch.resources.unwrap_or(current.resources),
        prompts: patch.prompts.unwrap_or(current.prompts),
        entries: patch.entries.unwrap_or_else(|| current.entries.clone()),
    }
}

/// Validates a whole draft into a toolset record.
fn build_toolset(
    draft: NewToolset,
    id: ToolsetId,
    owner: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<Toolset> {
    let name = ToolsetName::parse(draft.name.trim())?;
    let title = validate::text("title", draft.title.as_deref(), validate::MAX_TITLE)?;
    let title = if title.is_empty() {
        name.as_str().to_owned()
    } else {
        title
    };
    let description = validate::text(
        "description",
        draft.description.as_deref(),
        validate::MAX_DESCRIPTION,
    )?;
    Ok(Toolset {
        id,
        name,
        title,
        description,
        owner,
        is_public: draft.is_public,
        exposure: draft.exposure.unwrap_or_default(),
        resources: draft.resources,
        prompts: draft.prompts,
        entries: check_entries(draft.entries)?,
        created_at,
        updated_at,
    })
}

fn check_owner(principal: &Principal, toolset: &Toolset) -> Result<()> {
    if principal.is_admin() || toolset.owner == principal.user_id {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only the owner or an admin may change this toolset".into(),
        ))
    }
}

fn check_toolset_rights(principal: &Principal, toolset: &Toolset) -> Result<()> {
    if principal.is_anonymous() {
        return Err(Error::Forbidden(
            "anonymous callers may not create or change toolsets".into(),
        ));
    }
    if toolset.is_public {
        principal.require_admin("create or change public toolsets")?;
    }
    Ok(())
}
