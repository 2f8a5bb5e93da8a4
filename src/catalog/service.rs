//! The catalog's rules: who may see and change categories and servers, and
//! what a valid record is. Every surface calls this with the [`Principal`];
//! no surface talks to the store directly.
//!
//! Visibility: admins see everything; a user sees public servers and their
//! own. A server a principal may not see answers `server_not_found` (404),
//! never 403, so ids of private servers do not leak.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;

use crate::auth::Principal;
use crate::catalog::events::{CatalogAction, CatalogEvent, CatalogEvents};
use crate::catalog::input::{CategoryPatch, NewCategory, NewServer, ServerPatch};
use crate::catalog::model::{Category, SecretMap, Server, ServerName, Transport};
use crate::catalog::{Catalog, CategoryQuery, ServerQuery, validate};
use crate::error::{Error, Result};
use crate::ids::{CategoryId, ServerId};
use crate::secret::{REDACTED, Secret};

/// Default page size of list operations.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size of list operations.
pub const MAX_LIMIT: u32 = 200;

/// Paging and filters of a list request, as the caller sent them.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub search: Option<String>,
    pub category_id: Option<String>,
}

/// One page of results and the cursor of the next one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Rules over the catalog store.
#[derive(Clone)]
pub struct CatalogService {
    store: Catalog,
    events: CatalogEvents,
}

fn now() -> DateTime<Utc> {
    // Microseconds: what PostgreSQL keeps, so a record reads back as written.
    Utc::now().trunc_subsecs(6)
}

fn limit(params: &ListParams) -> Result<u32> {
    match params.limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            "invalid_limit",
            "limit",
            format!("limit is between 1 and {MAX_LIMIT}"),
        )),
    }
}

fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(cursor: Option<&str>) -> Result<Option<String>> {
    cursor
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Error::BadRequest {
                    code: "invalid_cursor",
                    message: "the cursor is not one this API returned".into(),
                })
        })
        .transpose()
}

/// Keeps `limit` items and derives the next cursor from the extra one fetched.
fn page<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(&key(last)))
    } else {
        None
    };
    Page { items, next_cursor }
}

impl CatalogService {
    /// Rules over `store`.
    pub fn new(store: Catalog) -> Self {
        Self {
            store,
            events: CatalogEvents::default(),
        }
    }

    /// Where a [`CatalogEvent`] goes after every successful change.
    pub fn events(&self) -> &CatalogEvents {
        &self.events
    }

    fn changed(&self, event: CatalogEvent) {
        self.events.publish(event);
    }

    /// The underlying store (health checks, API keys).
    pub fn store(&self) -> &Catalog {
        &self.store
    }

    // ----- categories ---------------------------------------------------

    /// Creates a category (admins).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id))]
    pub async fn create_category(
        &self,
        principal: &Principal,
        input: NewCategory,
    ) -> Result<Category> {
        principal.require_admin("create categories")?;
        let at = now();
        let category = Category {
            id: CategoryId::generate(),
            name: validate::category_name(&input.name)?,
            icon: validate::icon(input.icon.as_deref())?,
            color: validate::color(input.color.as_deref())?,
            description: validate::text(
                "description",
                input.description.as_deref(),
                validate::MAX_DESCRIPTION,
            )?,
            created_at: at,
            updated_at: at,
        };
        self.store.insert_category(&category).await?;
        tracing::info!(category = %category.id, "category created");
        self.changed(CatalogEvent::category(&category.id, CatalogAction::Created));
        Ok(category)
    }

    /// One category (any principal).
    pub async fn get_category(&self, _principal: &Principal, id: &str) -> Result<Category> {
        let id = CategoryId::parse(id).map_err(|_| category_not_found())?;
        self.store
            .get_category(&id)
            .await?
            .ok_or_else(category_not_found)
    }

    /// A page of categories ordered by name (any principal).
    pub async fn list_categories(
        &self,
        _principal: &Principal,
        params: &ListParams,
    ) -> Result<Page<Category>> {
        let limit = limit(params)?;
        let query = CategoryQuery {
            search: params.search.clone().filter(|s| !s.trim().is_empty()),
            after: decode_cursor(params.cursor.as_deref())?,
            limit: limit + 1,
        };
        let items = self.store.list_categories(&query).await?;
        Ok(page(items, limit, |c| c.name.to_lowercase()))
    }

    /// How many categories match `search`.
    pub async fn count_categories(
        &self,
        _principal: &Principal,
        search: Option<&str>,
    ) -> Result<u64> {
        self.store
            .count_categories(search.filter(|s| !s.trim().is_empty()))
            .await
    }

    /// Changes some fields of a category (admins).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id, category = id))]
    pub async fn update_category(
        &self,
        principal: &Principal,
        id: &str,
        patch: CategoryPatch,
    ) -> Result<Category> {
        principal.require_admin("change categories")?;
        let mut category = self.get_category(principal, id).await?;
        if let Some(name) = patch.name {
            category.name = validate::category_name(&name)?;
        }
        if let Some(icon) = patch.icon {
            category.icon = validate::icon(icon.as_deref())?;
        }
        if let Some(color) = patch.color {
            category.color = validate::color(color.as_deref())?;
        }
        if let Some(description) = patch.description {
            category.description =
                validate::text("description", Some(&description), validate::MAX_DESCRIPTION)?;
        }
        category.updated_at = now();
        self.store.update_category(&category).await?;
        self.changed(CatalogEvent::category(&category.id, CatalogAction::Updated));
        Ok(category)
    }

    /// Deletes a category; its servers become uncategorised (admins).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id, category = id))]
    pub async fn delete_category(&self, principal: &Principal, id: &str) -> Result<()> {
        principal.require_admin("delete categories")?;
        let id = CategoryId::parse(id).map_err(|_| category_not_found())?;
        if self.store.delete_category(&id).await? {
            tracing::info!("category deleted");
            self.changed(CatalogEvent::category(&id, CatalogAction::Deleted));
            Ok(())
        } else {
            Err(category_not_found())
        }
    }

    // ----- servers ------------------------------------------------------

    /// A server by id or name, if the principal may see it.
    pub async fn get_server(&self, principal: &Principal, id_or_name: &str) -> Result<Server> {
        let found = match ServerId::parse(id_or_name) {
            Ok(id) => self.store.get_server(&id).await?,
            Err(_) => None,
        };
        let found = match found {
            Some(server) => Some(server),
            None => match ServerName::parse(id_or_name) {
                Ok(name) => self.store.get_server_by_name(&name).await?,
                Err(_) => None,
            },
        };
        found
            .filter(|s| principal.is_admin() || s.visible_to(&principal.user_id))
            .ok_or_else(server_not_found)
    }

    /// A page of the servers the principal may see, ordered by name.
    pub async fn list_servers(
        &self,
        principal: &Principal,
        params: &ListParams,
    ) -> Result<Page<Server>> {
        let limit = limit(params)?;
        let category_id = params
            .category_id
            .as_deref()
            .map(|raw| {
                CategoryId::parse(raw).map_err(|_| {
                    Error::invalid(
                        "invalid_category_id",
                        "category_id",
                        format!("`{raw}` is not a category id"),
                    )
                })
            })
            .transpose()?;
        let query = ServerQuery {
            visible_to: (!principal.is_admin()).then(|| principal.user_id.clone()),
            category_id,
            after: decode_cursor(params.cursor.as_deref())?,
            limit: limit + 1,
        };
        let items = self.store.list_servers(&query).await?;
        Ok(page(items, limit, |s| s.name.as_str().to_owned()))
    }

    /// Names of the enabled `fail_closed` servers the principal may see,
    /// sorted (one query; the gateway checks them on every view rebuild).
    pub async fn fail_closed_servers(&self, principal: &Principal) -> Result<Vec<String>> {
        let visible_to = (!principal.is_admin()).then_some(principal.user_id.as_str());
        self.store.fail_closed_servers(visible_to).await
    }

    /// Creates a server owned by the principal. Users may create private
    /// network servers; only admins create public or stdio servers.
    #[tracing::instrument(skip_all, fields(user = %principal.user_id, server = %input.name))]
    pub async fn create_server(&self, principal: &Principal, input: NewServer) -> Result<Server> {
        let at = now();
        let server = build_server(
            input,
            ServerId::generate(),
            principal.user_id.clone(),
            at,
            at,
        )?;
        check_server_rights(principal, &server)?;
        self.store.insert_server(&server).await?;
        tracing::info!(id = %server.id, transport = %server.transport, "server created");
        self.changed(CatalogEvent::server_created(&server));
        Ok(server)
    }

    /// Changes a server (its owner, or an admin).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id, server = id_or_name))]
    pub async fn update_server(
        &self,
        principal: &Principal,
        id_or_name: &str,
        patch: ServerPatch,
    ) -> Result<Server> {
        let current = self.get_server(principal, id_or_name).await?;
        check_owner(principal, &current)?;
        let draft = apply_patch(&current, patch)?;
        let server = build_server(
            draft,
            current.id.clone(),
            current.owner.clone(),
            current.created_at,
            now(),
        )?;
        check_server_rights(principal, &server)?;
        self.store.update_server(&server).await?;
        self.changed(CatalogEvent::server_updated(&current, &server));
        Ok(server)
    }

    /// Deletes a server (its owner, or an admin).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id, server = id_or_name))]
    pub async fn delete_server(&self, principal: &Principal, id_or_name: &str) -> Result<()> {
        let server = self.get_server(principal, id_or_name).await?;
        check_owner(principal, &server)?;
        // Deleting is changing: a public or stdio server is the admins',
        // whoever created it.
        check_server_rights(principal, &server)?;
        if self.store.delete_server(&server.id).await? {
            tracing::info!(id = %server.id, "server deleted");
            self.changed(CatalogEvent::server_deleted(&server));
            Ok(())
        } else {
            Err(server_not_found())
        }
    }
}

fn category_not_found() -> Error {
    Error::not_found("category_not_found", "category")
}

fn server_not_found() -> Error {
    Error::not_found("server_not_found", "server")
}

fn check_owner(principal: &Principal, server: &Server) -> Result<()> {
    if principal.is_admin() || server.owner == principal.user_id {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only the owner or an admin may change this server".into(),
        ))
    }
}

fn check_server_rights(principal: &Principal, server: &Server) -> Result<()> {
    if principal.is_anonymous() {
        return Err(Error::Forbidden(
            "anonymous callers may not create or change servers".into(),
        ));
    }
    if server.transport == Transport::Stdio {
        principal.require_admin(
            "create or change stdio servers (they run a command on the gateway host)",
        )?;
    }
    if server.is_public {
        principal.require_admin("create or change public servers")?;
    }
    Ok(())
}

fn exposed(map: &SecretMap) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.expose().clone()))
        .collect()
}

/// Replaces a secret map, keeping the stored value where the caller sent `***`.
fn merge_secrets(
    field: &'static str,
    current: &SecretMap,
    new: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    new.into_iter()
        .map(|(k, v)| {
            if v == REDACTED {
                match current.get(&k) {
                    Some(old) => Ok((k, old.expose().clone())),
                    None => Err(Error::invalid(
                        "invalid_secret",
                        field,
                        format!("`{k}` is `***` but has no stored value to keep"),
                    )),
                }
            } else {
                Ok((k, v))
            }
        })
        .collect()
}

fn apply_patch(current: &Server, patch: ServerPatch) -> Result<NewServer> {
    Ok(NewServer {
        name: patch
            .name
            .unwrap_or_else(|| current.name.as_str().to_owned()),
        title: Some(patch.title.unwrap_or_else(|| current.title.clone())),
        description: Some(
            patch
                .description
                .unwrap_or_else(|| current.description.clone()),
        ),
        transport: patch
            .transport
            .unwrap_or_else(|| current.transport.as_str().to_owned()),
        url: patch.url.unwrap_or_else(|| current.url.clone()),
        query_params: patch
            .query_params
            .unwrap_or_else(|| current.query_params.clone()),
        headers: match patch.headers {
            Some(h) => merge_secrets("headers", &current.headers, h)?,
            None => exposed(&current.headers),
        },
        command: patch.command.unwrap_or_else(|| current.command.clone()),
        args: patch.args.unwrap_or_else(|| current.args.clone()),
        env: match patch.env {
            Some(e) => merge_secrets("env", &current.env, e)?,
            None => exposed(&current.env),
        },
        cwd: patch.cwd.unwrap_or_else(|| current.cwd.clone()),
        requires_oauth2: patch.requires_oauth2.unwrap_or(current.requires_oauth2),
        is_public: patch.is_public.unwrap_or(current.is_public),
        category_id: patch
            .category_id
            .unwrap_or_else(|| current.category_id.as_ref().map(|c| c.as_str().to_owned())),
        enabled: Some(patch.enabled.unwrap_or(current.enabled)),
        fail_closed: patch.fail_closed.unwrap_or(current.fail_closed),
        oauth_client_id: patch
            .oauth_client_id
            .unwrap_or_else(|| current.oauth_client_id.clone()),
        oauth_client_secret: match patch.oauth_client_secret {
            Some(Some(v)) if v == "***" => match &current.oauth_client_secret {
                Some(old) => Some(old.expose().clone()),
                None => {
                    return Err(Error::invalid(
                        "invalid_secret",
                        "oauth_client_secret",
                        "`***` keeps a stored secret, but there is none",
                    ));
                }
            },
            Some(other) => other,
            None => current
                .oauth_client_secret
                .as_ref()
                .map(|s| s.expose().clone()),
        },
        oauth_scopes: patch
            .oauth_scopes
            .unwrap_or_else(|| current.oauth_scopes.clone()),
    })
}

fn not_for(transport: Transport, field: &'static str) -> Error {
    Error::invalid(
        "field_not_allowed",
        field,
        format!("`{field}` does not apply to {transport} servers"),
    )
}

/// Validates a whole draft into a server record.
fn build_server(
    draft: NewServer,
    id: ServerId,
    owner: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<Server> {
    let name = ServerName::parse(draft.name.trim())?;
    let transport = Transport::parse(draft.transport.trim())?;
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
    let url = draft
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let command = draft
        .command
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let cwd = draft
        .cwd
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let (url, command, cwd) = if transport == Transport::Stdio {
        if url.is_some() {
            return Err(not_for(transport, "url"));
        }
        if !draft.query_params.is_empty() {
            return Err(not_for(transport, "query_params"));
        }
        if !draft.headers.is_empty() {
            return Err(not_for(transport, "headers"));
        }
        if draft.requires_oauth2 {
            return Err(not_for(transport, "requires_oauth2"));
        }
        let command = command.ok_or_else(|| {
            Error::invalid(
                "missing_command",
                "command",
                "a stdio server needs a `command`",
            )
        })?;
        validate::args(&draft.args)?;
        validate::env(draft.env.iter().map(|(k, v)| (k, v.as_str())))?;
        (
            None,
            Some(validate::command(command)?),
            cwd.map(validate::cwd).transpose()?,
        )
    } else {
        if command.is_some() {
            return Err(not_for(transport, "command"));
        }
        if !draft.args.is_empty() {
            return Err(not_for(transport, "args"));
        }
        if !draft.env.is_empty() {
            return Err(not_for(transport, "env"));
        }
        if cwd.is_some() {
            return Err(not_for(transport, "cwd"));
        }
        let url = url.ok_or_else(|| {
            Error::invalid(
                "missing_url",
                "url",
                format!("a {transport} server needs a `url`"),
            )
        })?;
        validate::query_params(&draft.query_params)?;
        validate::headers(draft.headers.iter().map(|(k, v)| (k, v.as_str())))?;
        (Some(validate::upstream_url(transport, url)?), None, None)
    };
    let category_id = draft
        .category_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|raw| {
            CategoryId::parse(raw).map_err(|_| {
                Error::invalid(
                    "category_not_found",
                    "category_id",
                    format!("no category `{raw}`"),
                )
            })
        })
        .transpose()?;
    let (oauth_client_id, oauth_client_secret, oauth_scopes) = validate::oauth_client(
        draft.requires_oauth2,
        draft.oauth_client_id,
        draft.oauth_client_secret,
        draft.oauth_scopes,
    )?;
    let secrets =
        |m: BTreeMap<String, String>| m.into_iter().map(|(k, v)| (k, Secret::new(v))).collect();
    Ok(Server {
        id,
        name,
        title,
        description,
        transport,
        url,
        query_params: draft.query_params,
        headers: secrets(draft.headers),
        command,
        args: draft.args,
        env: secrets(draft.env),
        cwd,
        requires_oauth2: draft.requires_oauth2,
        is_public: draft.is_public,
        owner,
        category_id,
        enabled: draft.enabled.unwrap_or(true),
        fail_closed: draft.fail_closed,
        oauth_client_id,
        oauth_client_secret: oauth_client_secret.map(Secret::new),
        oauth_scopes,
        created_at,
        updated_at,
    })
}
