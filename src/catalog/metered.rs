//! [`Metered`]: a catalog whose every operation is timed and counted in
//! [`crate::metrics`] (`store="catalog"`, the operation's name), whatever
//! the backend. [`super::connect`] wraps every catalog it opens.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    ApiKey, Catalog, CatalogStore, Category, CategoryQuery, Server, ServerName, ServerQuery,
    Toolset, ToolsetName, ToolsetQuery, key_check,
};
use crate::config::CatalogBackend;
use crate::error::Result;
use crate::ids::{ApiKeyId, CategoryId, ServerId, ToolsetId};
use crate::metrics::timed;
use crate::secret::{Cipher, Secret};

/// Times every operation of the catalog it holds.
pub struct Metered(Catalog);

impl Metered {
    /// `inner`, metered.
    pub fn wrap(inner: Catalog) -> Catalog {
        Arc::new(Self(inner))
    }
}

const STORE: &str = "catalog";

#[async_trait]
impl CatalogStore for Metered {
    fn backend(&self) -> CatalogBackend {
        self.0.backend()
    }
    async fn ping(&self) -> Result<()> {
        timed(STORE, "ping", self.0.ping()).await
    }

    async fn insert_category(&self, category: &Category) -> Result<()> {
        timed(STORE, "insert_category", self.0.insert_category(category)).await
    }
    async fn update_category(&self, category: &Category) -> Result<()> {
        timed(STORE, "update_category", self.0.update_category(category)).await
    }
    async fn delete_category(&self, id: &CategoryId) -> Result<bool> {
        timed(STORE, "delete_category", self.0.delete_category(id)).await
    }
    async fn get_category(&self, id: &CategoryId) -> Result<Option<Category>> {
        timed(STORE, "get_category", self.0.get_category(id)).await
    }
    async fn list_categories(&self, query: &CategoryQuery) -> Result<Vec<Category>> {
        timed(STORE, "list_categories", self.0.list_categories(query)).await
    }
    async fn count_categories(&self, search: Option<&str>) -> Result<u64> {
        timed(STORE, "count_categories", self.0.count_categories(search)).await
    }

    async fn insert_server(&self, server: &Server) -> Result<()> {
        timed(STORE, "insert_server", self.0.insert_server(server)).await
    }
    async fn update_server(&self, server: &Server) -> Result<()> {
        timed(STORE, "update_server", self.0.update_server(server)).await
    }
    async fn delete_server(&self, id: &ServerId) -> Result<bool> {
        timed(STORE, "delete_server", self.0.delete_server(id)).await
    }
    async fn get_server(&self, id: &ServerId) -> Result<Option<Server>> {
        timed(STORE, "get_server", self.0.get_server(id)).await
    }
    async fn get_server_by_name(&self, name: &ServerName) -> Result<Option<Server>> {
        timed(STORE, "get_server_by_name", self.0.get_server_by_name(name)).await
    }
    async fn list_servers(&self, query: &ServerQuery) -> Result<Vec<Server>> {
        timed(STORE, "list_servers", self.0.list_servers(query)).await
    }
    async fn fail_closed_servers(&self, visible_to: Option<&str>) -> Result<Vec<String>> {
        timed(
            STORE,
            "fail_closed_servers",
            self.0.fail_closed_servers(visible_to),
        )
        .await
    }

    async fn insert_toolset(&self, toolset: &Toolset) -> Result<()> {
        timed(STORE, "insert_toolset", self.0.insert_toolset(toolset)).await
    }
    async fn update_toolset(&self, toolset: &Toolset) -> Result<()> {
        timed(STORE, "update_toolset", self.0.update_toolset(toolset)).await
    }
    async fn delete_toolset(&self, id: &ToolsetId) -> Result<bool> {
        timed(STORE, "delete_toolset", self.0.delete_toolset(id)).await
    }
    async fn get_toolset(&self, id: &ToolsetId) -> Result<Option<Toolset>> {
        timed(STORE, "get_toolset", self.0.get_toolset(id)).await
    }
    async fn get_toolset_by_name(&self, name: &ToolsetName) -> Result<Option<Toolset>> {
        timed(
            STORE,
            "get_toolset_by_name",
            self.0.get_toolset_by_name(name),
        )
        .await
    }
    async fn list_toolsets(&self, query: &ToolsetQuery) -> Result<Vec<Toolset>> {
        timed(STORE, "list_toolsets", self.0.list_toolsets(query)).await
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        timed(STORE, "insert_api_key", self.0.insert_api_key(key)).await
    }
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        timed(STORE, "find_api_key", self.0.find_api_key(hash)).await
    }
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        timed(STORE, "list_api_keys", self.0.list_api_keys()).await
    }
    async fn revoke_api_key(&self, id: &ApiKeyId, at: DateTime<Utc>) -> Result<bool> {
        timed(STORE, "revoke_api_key", self.0.revoke_api_key(id, at)).await
    }
    async fn touch_api_key(&self, id: &ApiKeyId, at: DateTime<Utc>) -> Result<()> {
        timed(STORE, "touch_api_key", self.0.touch_api_key(id, at)).await
    }
    async fn count_active_api_keys(&self) -> Result<u64> {
        timed(
            STORE,
            "count_active_api_keys",
            self.0.count_active_api_keys(),
        )
        .await
    }

    async fn get_oauth_credentials(
        &self,
        user_id: &str,
        server: &ServerId,
    ) -> Result<Option<Secret<String>>> {
        timed(
            STORE,
            "get_oauth_credentials",
            self.0.get_oauth_credentials(user_id, server),
        )
        .await
    }
    async fn put_oauth_credentials(
        &self,
        user_id: &str,
        server: &ServerId,
        value: &Secret<String>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        timed(
            STORE,
            "put_oauth_credentials",
            self.0.put_oauth_credentials(user_id, server, value, at),
        )
        .await
    }
    async fn delete_oauth_credentials(&self, user_id: &str, server: &ServerId) -> Result<bool> {
        timed(
            STORE,
            "delete_oauth_credentials",
            self.0.delete_oauth_credentials(user_id, server),
        )
        .await
    }
    fn cipher(&self) -> &Cipher {
        self.0.cipher()
    }

    async fn key_check(&self) -> Result<Option<String>> {
        timed(STORE, "key_check", self.0.key_check()).await
    }
    async fn record_key_check(&self, sealed: &str, at: DateTime<Utc>) -> Result<String> {
        timed(
            STORE,
            "record_key_check",
            self.0.record_key_check(sealed, at),
        )
        .await
    }
    async fn any_sealed_value(&self) -> Result<Option<String>> {
        timed(STORE, "any_sealed_value", self.0.any_sealed_value()).await
    }
    async fn reseal_all(
        &self,
        cipher: &Cipher,
        key_check: &str,
        at: DateTime<Utc>,
    ) -> Result<key_check::Resealed> {
        timed(
            STORE,
            "reseal_all",
            self.0.reseal_all(cipher, key_check, at),
        )
        .await
    }

    async fn insert_audit_events(&self, events: &[super::audit::AuditEvent]) -> Result<()> {
        timed(
            STORE,
            "insert_audit_events",
            self.0.insert_audit_events(events),
        )
        .await
    }
    async fn list_audit_events(
        &self,
        query: &super::audit::AuditQuery,
    ) -> Result<Vec<super::audit::StoredAuditEvent>> {
        timed(STORE, "list_audit_events", self.0.list_audit_events(query)).await
    }
    async fn delete_audit_events_before(&self, before: DateTime<Utc>) -> Result<u64> {
        timed(
            STORE,
            "delete_audit_events_before",
            self.0.delete_audit_events_before(before),
        )
        .await
    }
}
