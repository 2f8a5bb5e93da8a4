//! The catalog: durable configuration in SQL (categories, servers,
//! toolsets, API keys).
//!
//! [`CatalogStore`] is the raw storage contract with two backends, one file
//! each: [`sqlite`] (the embedded default, a file in WAL mode) and
//! [`postgres`]. The backend is chosen by the URL scheme in [`connect`].
//! Business rules (who may see or change what, validation) live in
//! [`service`], never here. Secret values are sealed by the store with the
//! [`Cipher`] it was opened with, so nothing reaches
//! a table in clear text; [`key_check`] makes sure every process that shares
//! a catalog holds the key its secrets were sealed with, and re-seals them
//! all under a new key (`manifold secrets rotate`).

pub mod audit;
pub mod events;
pub mod input;
pub mod key_check;
mod metered;
pub mod model;
pub mod postgres;
mod rows;
mod rows_toolsets;
pub mod service;
mod sql;
mod sql_audit;
mod sql_toolsets;
pub mod sqlite;
mod store_macro;
mod store_secrets;
pub mod tool_filter;
pub mod toolset;
pub mod url;
pub mod validate;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::{CatalogBackend, Settings};
use crate::error::Result;
use crate::ids::{ApiKeyId, CategoryId, ServerId, ToolsetId};
use crate::secret::{Cipher, Secret};

pub use model::{ApiKey, Category, SecretMap, Server, ServerName, Transport};
pub use service::CatalogService;
pub use toolset::{Toolset, ToolsetEntry, ToolsetExposure, ToolsetName};

/// A shared handle on the catalog backend.
pub type Catalog = Arc<dyn CatalogStore>;

/// One page of categories, ordered by lower-cased name.
#[derive(Debug, Clone, Default)]
pub struct CategoryQuery {
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Return categories whose lower-cased name sorts after this one.
    pub after: Option<String>,
    pub limit: u32,
}

/// One page of servers, ordered by name.
#[derive(Debug, Clone, Default)]
pub struct ServerQuery {
    /// `Some(user)`: only public servers and servers owned by `user`.
    /// `None`: every server (admins).
    pub visible_to: Option<String>,
    pub category_id: Option<CategoryId>,
    /// Return servers whose name sorts after this one.
    pub after: Option<String>,
    pub limit: u32,
}

/// One page of toolsets, ordered by name.
#[derive(Debug, Clone, Default)]
pub struct ToolsetQuery {
    /// `Some(user)`: only public toolsets and toolsets owned by `user`.
    /// `None`: every toolset (admins).
    pub visible_to: Option<String>,
    /// Return toolsets whose name sorts after this one.
    pub after: Option<String>,
    pub limit: u32,
}

/// Raw storage operations; every backend passes the same contract tests.
///
/// Unique violations come back as `Error::Conflict` with the codes
/// `category_name_taken` / `server_name_taken` / `toolset_name_taken`; a
/// server whose `category_id` names no category as `Error::Invalid` with
/// code `category_not_found`.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// Which backend this is.
    fn backend(&self) -> CatalogBackend;
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<()>;

    async fn insert_category(&self, category: &Category) -> Result<()>;
    /// Replaces every field but `id` and `created_at`; `NotFound` if absent.
    async fn update_category(&self, category: &Category) -> Result<()>;
    /// Deletes; the category's servers become uncategorised. `false` if absent.
    async fn delete_category(&self, id: &CategoryId) -> Result<bool>;
    async fn get_category(&self, id: &CategoryId) -> Result<Option<Category>>;
    async fn list_categories(&self, query: &CategoryQuery) -> Result<Vec<Category>>;
    async fn count_categories(&self, search: Option<&str>) -> Result<u64>;

    async fn insert_server(&self, server: &Server) -> Result<()>;
    /// Replaces every field but `id` and `created_at`; `NotFound` if absent.
    async fn update_server(&self, server: &Server) -> Result<()>;
    async fn delete_server(&self, id: &ServerId) -> Result<bool>;
    async fn get_server(&self, id: &ServerId) -> Result<Option<Server>>;
    async fn get_server_by_name(&self, name: &ServerName) -> Result<Option<Server>>;
    async fn list_servers(&self, query: &ServerQuery) -> Result<Vec<Server>>;
    /// Names of the enabled `fail_closed` servers, sorted; `Some(user)`: only
    /// public ones and those `user` owns, `None`: all. One query, whatever
    /// the size of the catalog.
    async fn fail_closed_servers(&self, visible_to: Option<&str>) -> Result<Vec<String>>;

    async fn insert_toolset(&self, toolset: &Toolset) -> Result<()>;
    /// Replaces every field but `id` and `created_at`; `NotFound` if absent.
    async fn update_toolset(&self, toolset: &Toolset) -> Result<()>;
    async fn delete_toolset(&self, id: &ToolsetId) -> Result<bool>;
    async fn get_toolset(&self, id: &ToolsetId) -> Result<Option<Toolset>>;
    async fn get_toolset_by_name(&self, name: &ToolsetName) -> Result<Option<Toolset>>;
    async fn list_toolsets(&self, query: &ToolsetQuery) -> Result<Vec<Toolset>>;

    async fn insert_api_key(&self, key: &ApiKey) -> Result<()>;
    /// The key with this hash, revoked or not.
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>>;
    /// Every key, newest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>>;
    /// Marks a key revoked; `false` if absent or already revoked.
    async fn revoke_api_key(&self, id: &ApiKeyId, at: DateTime<Utc>) -> Result<bool>;
    async fn touch_api_key(&self, id: &ApiKeyId, at: DateTime<Utc>) -> Result<()>;
    /// Number of keys not revoked.
    async fn count_active_api_keys(&self) -> Result<u64>;

    /// Writes `events` with one statement (nothing when empty).
    async fn insert_audit_events(&self, events: &[audit::AuditEvent]) -> Result<()>;
    /// One page of events, newest written first.
    async fn list_audit_events(
        &self,
        query: &audit::AuditQuery,
    ) -> Result<Vec<audit::StoredAuditEvent>>;
    /// Deletes events that arrived before `before`; how many.
    async fn delete_audit_events_before(&self, before: DateTime<Utc>) -> Result<u64>;

    /// One user's OAuth credentials for one server (opened), if stored.
    async fn get_oauth_credentials(
        &self,
        user_id: &str,
        server: &ServerId,
    ) -> Result<Option<Secret<String>>>;
    /// Stores (sealed) or replaces one user's OAuth credentials for one
    /// server; `not_found` when the server is gone.
    async fn put_oauth_credentials(
        &self,
        user_id: &str,
        server: &ServerId,
        value: &Secret<String>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Forgets one user's OAuth credentials for one server; whether there were any.
    async fn delete_oauth_credentials(&self, user_id: &str, server: &ServerId) -> Result<bool>;
    /// The catalog's cipher, for other short-lived secrets (OAuth flows).
    fn cipher(&self) -> &Cipher;

    /// The stored key check (a constant sealed with the catalog's key), if
    /// a key was ever recorded; see [`key_check`].
    async fn key_check(&self) -> Result<Option<String>>;
    /// Records `sealed` as the key check unless one exists; returns the
    /// stored one: this one, or the one another process recorded first.
    async fn record_key_check(&self, sealed: &str, at: DateTime<Utc>) -> Result<String>;
    /// One sealed value stored in the catalog, if there is any.
    async fn any_sealed_value(&self) -> Result<Option<String>>;
    /// In one transaction: opens every stored secret (server headers and
    /// env values, OAuth client secrets, users' OAuth credentials) with
    /// `cipher`, seals it again with `cipher`'s sealing key, and replaces
    /// the key check with `key_check`. Writers of secrets wait until it
    /// commits; readers go on reading the committed values. When one value
    /// does not open, nothing changes.
    async fn reseal_all(
        &self,
        cipher: &Cipher,
        key_check: &str,
        at: DateTime<Utc>,
    ) -> Result<key_check::Resealed>;
}

/// Opens the catalog named by `catalog.url`, creating the SQLite file and its
/// folder when needed, and applies pending migrations. Every operation of
/// the catalog it returns is timed in [`crate::metrics`].
pub async fn connect(settings: &Settings, cipher: Cipher) -> anyhow::Result<Catalog> {
    let url = settings.catalog_url();
    let max = settings.catalog.max_connections;
    let catalog = match settings.catalog_backend()? {
        CatalogBackend::Sqlite => sqlite::connect(&url, max, cipher).await,
        CatalogBackend::Postgres => postgres::connect(&url, max, cipher).await,
    }?;
    Ok(metered::Metered::wrap(catalog))
}
