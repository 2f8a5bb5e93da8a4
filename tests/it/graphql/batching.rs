//! No N+1: the catalog queries a document costs do not grow with the
//! categories and servers it returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use manifold::catalog::{
    ApiKey, Catalog, CatalogStore, Category, CategoryQuery, Server, ServerName, ServerQuery,
    Toolset, ToolsetName, ToolsetQuery,
};
use manifold::config::CatalogBackend;
use manifold::error::Result;
use manifold::ids::{ApiKeyId, CategoryId, ServerId, ToolsetId};
use manifold::secret::{Cipher, Secret};
use serde_json::{Value, json};

use crate::support::app::{init_test_log, test_settings};
use crate::support::db::test_cipher;

/// A catalog that counts the queries reaching it.
struct Counting {
    inner: Catalog,
    queries: Arc<AtomicUsize>,
}

impl Counting {
    fn tick(&self) -> &Catalog {
        self.queries.fetch_add(1, Ordering::SeqCst);
        &self.inner
    }
}

#[async_trait]
impl CatalogStore for Counting {
    fn backend(&self) -> CatalogBackend {
        self.inner.backend()
    }
    async fn ping(&self) -> Result<()> {
        self.tick().ping().await
    }
    async fn insert_category(&self, c: &Category) -> Result<()> {
        self.tick().insert_category(c).await
    }
    async fn update_category(&self, c: &Category) -> Result<()> {
        self.tick().update_category(c).await
    }
    async fn delete_category(&self, id: &CategoryId) -> Result<bool> {
        self.tick().delete_category(id).await
    }
    async fn get_category(&self, id: &CategoryId) -> Result<Option<Category>> {
        self.tick().get_category(id).await
    }
    async fn list_categories(&self, q: &CategoryQuery) -> Result<Vec<Category>> {
        self.tick().list_categories(q).await
    }
    async fn count_categories(&self, search: Option<&str>) -> Result<u64> {
        self.tick().count_categories(search).await
    }
    async fn insert_server(&self, s: &Server) -> Result<()> {
        self.tick().insert_server(s).await
    }
    async fn update_server(&self, s: &Server) -> Result<()> {
        self.tick().update_server(s).await
    }
    async fn delete_server(&self, id: &ServerId) -> Result<bool> {
        self.tick().delete_server(id).await
    }
    async fn get_server(&self, id: &ServerId) -> Result<Option<Server>> {
        self.tick().get_server(id).await
    }
    async fn get_server_by_name(&self, name: &ServerName) -> Result<Option<Server>> {
        self.tick().get_server_by_name(name).await
    }
    async fn list_servers(&self, q: &ServerQuery) -> Result<Vec<Server>> {
        self.tick().list_servers(q).await
    }
    async fn fail_closed_servers(&self, visible_to: Option<&str>) -> Result<Vec<String>> {
        self.tick().fail_closed_servers(visible_to).await
    }
    async fn insert_toolset(&self, t: &Toolset) -> Result<()> {
        self.tick().insert_toolset(t).await
    }
    async fn update_toolset(&self, t: &Toolset) -> Result<()> {
        self.tick().update_toolset(t).await
    }
    async fn delete_toolset(&self, id: &ToolsetId) -> Result<bool> {
        self.tick().delete_toolset(id).await
    }
    async fn get_toolset(&self, id: &ToolsetId) -> Result<Option<Toolset>> {
        self.tick().get_toolset(id).await
    }
    async fn get_toolset_by_name(&self, name: &ToolsetName) -> Result<Option<Toolset>> {
        self.tick().get_toolset_by_name(name).await
    }
    async fn list_toolsets(&self, q: &ToolsetQuery) -> Result<Vec<Toolset>> {
        self.tick().list_toolsets(q).await
    }
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        self.tick().insert_api_key(key).await
    }
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        self.tick().find_api_key(hash).await
    }
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        self.tick().list_api_keys().await
    }
    async fn revoke_api_key(&self, id: &ApiKeyId, at: DateTime<Utc>) -> Result<bool> {
        self.tick().revoke_api_key(id, at).await
    }
    async fn touch_api_key(&self, id: &ApiKeyId, at: DateTime<Utc>) -> Result<()> {
        self.tick().touch_api_key(id, at).await
    }
    async fn count_active_api_keys(&self) -> Result<u64> {
        self.tick().count_active_api_keys().await
    }
    async fn get_oauth_credentials(
        &self,
        user_id: &str,
        server: &ServerId,
    ) -> Result<Option<Secret<String>>> {
        self.tick().get_oauth_credentials(user_id, server).await
    }
    async fn put_oauth_credentials(
        &self,
        user_id: &str,
        server: &ServerId,
        value: &Secret<String>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.tick()
            .put_oauth_credentials(user_id, server, value, at)
            .await
    }
    async fn delete_oauth_credentials(&self, user_id: &str, server: &ServerId) -> Result<bool> {
        self.tick().delete_oauth_credentials(user_id, server).await
    }
    fn cipher(&self) -> &Cipher {
        self.inner.cipher()
    }
    async fn key_check(&self) -> Result<Option<String>> {
        self.tick().key_check().await
    }
    async fn record_key_check(&self, sealed: &str, at: DateTime<Utc>) -> Result<String> {
        self.tick().record_key_check(sealed, at).await
    }
    async fn any_sealed_value(&self) -> Result<Option<String>> {
        self.tick().any_sealed_value().await
    }
    async fn reseal_all(
        &self,
        cipher: &Cipher,
        key_check: &str,
        at: DateTime<Utc>,
    ) -> Result<manifold::catalog::key_check::Resealed> {
        self.tick().reseal_all(cipher, key_check, at).await
    }
    // The audit writer's statements are not the GraphQL queries counted here.
    async fn insert_audit_events(
        &self,
        events: &[manifold::catalog::audit::AuditEvent],
    ) -> Result<()> {
        self.inner.insert_audit_events(events).await
    }
    async fn list_audit_events(
        &self,
        query: &manifold::catalog::audit::AuditQuery,
    ) -> Result<Vec<manifold::catalog::audit::StoredAuditEvent>> {
        self.tick().list_audit_events(query).await
    }
    async fn delete_audit_events_before(&self, before: DateTime<Utc>) -> Result<u64> {
        self.inner.delete_audit_events_before(before).await
    }
}

const CATEGORIES_WITH_SERVER_STATE: &str = "{ categories { edges { node { name
    servers { name status toolCount connectedAt } } } }
    servers(first: 100) { edges { node { name status toolCount } } } }";

/// A running app over a counting catalog.
struct App {
    base: String,
    admin_key: String,
    client: reqwest::Client,
}

/// `data` of a document that must succeed.
async fn data(app: &App, key: &str, query: &str, variables: Value) -> Value {
    let body: Value = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(key)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// Adds `n` categories with two public servers each.
async fn add_rows(app: &App, from: usize, n: usize) {
    for i in from..from + n {
        let created = data(
            app,
            &app.admin_key,
            "mutation($n: String!) { createCategory(name: $n) { id } }",
            json!({"n": format!("Category {i}")}),
        )
        .await;
        let category = created["createCategory"]["id"].clone();
        for j in 0..2 {
            data(
                app,
                &app.admin_key,
                "mutation($input: CreateServerInput!) { createServer(input: $input) { id } }",
                json!({"input": {"name": format!("srv-{i}-{j}"), "transport": "streamable_http",
                        "url": "http://127.0.0.1:9/mcp", "isPublic": true,
                        "categoryId": category}}),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn a_documents_catalog_queries_do_not_grow_with_its_rows() {
    init_test_log();
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = test_settings(&dir);
    let data_dir = settings.data_dir.clone();
    let inner = manifold::catalog::connect(&settings, test_cipher())
        .await
        .expect("catalog");
    let queries = Arc::new(AtomicUsize::new(0));
    let catalog: Catalog = Arc::new(Counting {
        inner,
        queries: queries.clone(),
    });
    let state = manifold::session::connect(&settings.state)
        .await
        .expect("state");
    let built = manifold::Application::build_with(settings, catalog, state)
        .await
        .expect("application builds");
    let base = format!("http://{}", built.local_addr().expect("address"));
    let app_state = built.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(built.run_until(async move {
        let _ = stopped.await;
    }));
    let admin_key = std::fs::read_to_string(data_dir.join("admin.key"))
        .expect("admin key")
        .trim()
        .to_owned();
    let _state = app_state;
    let app = App {
        base,
        admin_key,
        client: reqwest::Client::new(),
    };
    let cost = async |app: &App| {
        let before = queries.load(Ordering::SeqCst);
        let answer = data(
            app,
            &app.admin_key,
            CATEGORIES_WITH_SERVER_STATE,
            Value::Null,
        )
        .await;
        (queries.load(Ordering::SeqCst) - before, answer)
    };
    add_rows(&app, 0, 2).await;
    let (small, answer) = cost(&app).await;
    assert_eq!(
        answer["categories"]["edges"].as_array().map(Vec::len),
        Some(2)
    );
    add_rows(&app, 2, 6).await;
    let (large, answer) = cost(&app).await;
    let edges = answer["categories"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 8);
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["servers"].as_array().map(Vec::len) == Some(2))
    );
    assert_eq!(
        answer["servers"]["edges"].as_array().map(Vec::len),
        Some(16)
    );
    assert_eq!(
        small, large,
        "2 categories cost {small} catalog queries, 8 cost {large}"
    );
    let _ = stop.send(());
    task.await
        .expect("server task")
        .expect("server ran cleanly");
}
