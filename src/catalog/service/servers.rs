//! Server operations of [`CatalogService`]: lookup by id or name, listing,
//! create, change and delete, with the visibility and ownership rules
//! (public and stdio servers are the admins').

use crate::catalog::ServerQuery;
use crate::catalog::events::CatalogEvent;
use crate::catalog::input::{NewServer, ServerPatch};
use crate::catalog::model::{Server, ServerName, Transport};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{CategoryId, ServerId};
use crate::principal::Principal;

use super::draft::{apply_patch, build_server};
use super::{CatalogService, ListParams, Page, decode_cursor, limit, now, page, server_not_found};

impl CatalogService {
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
                        ErrorCode::InvalidCategoryId,
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
        self.changed(principal, CatalogEvent::server_created(&server));
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
        self.changed(principal, CatalogEvent::server_updated(&current, &server));
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
            self.changed(principal, CatalogEvent::server_deleted(&server));
            Ok(())
        } else {
            Err(server_not_found())
        }
    }
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
