//! The whole [`CatalogStore`](super::CatalogStore) implementation as the
//! macro [`sql_catalog_store!`], which [`super::sqlite`] and
//! [`super::postgres`] each invoke on their own store type, so both run the
//! same queries (see `sql.rs`) and conversions (see `rows.rs`).

/// Implements [`CatalogStore`](super::CatalogStore) for a backend struct with
/// fields `pool` (an `sqlx::Pool` of that backend) and `cipher`. Every query
/// is a runtime `sqlx::query*` over the SQL of `sql.rs`, so one body serves
/// both.
macro_rules! sql_catalog_store {
    ($store:ty, $backend:expr) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::catalog::rows::{self, ApiKeyRow, CategoryRow, ServerRow};
            use $crate::catalog::rows_toolsets::{self, ToolsetRow};
            use $crate::catalog::{
                ApiKey, CatalogStore, Category, CategoryQuery, Server, ServerName, ServerQuery,
                Toolset, ToolsetName, ToolsetQuery,
            };
            use $crate::catalog::{sql, sql_toolsets};
            use $crate::config::CatalogBackend;
            use $crate::error::{Error, Result};
            use $crate::ids::{ApiKeyId, CategoryId, ServerId, ToolsetId};

            #[async_trait::async_trait]
            impl CatalogStore for $store {
                fn backend(&self) -> CatalogBackend {
                    $backend
                }

                async fn ping(&self) -> Result<()> {
                    sqlx::query(sql::PING).execute(&self.pool).await?;
                    Ok(())
                }

                async fn insert_category(&self, category: &Category) -> Result<()> {
                    let key = sql::name_key(&category.name);
                    $crate::catalog::sql::bind_category!(
                        sqlx::query(sql::INSERT_CATEGORY),
                        category,
                        key.as_str()
                    )
                    .bind(sql::stamp(category.created_at))
                    .bind(sql::stamp(category.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| rows::category_write_error(e, &category.name))?;
                    Ok(())
                }

                async fn update_category(&self, category: &Category) -> Result<()> {
                    let key = sql::name_key(&category.name);
                    let done = $crate::catalog::sql::bind_category!(
                        sqlx::query(sql::UPDATE_CATEGORY),
                        category,
                        key.as_str()
                    )
                    .bind(sql::stamp(category.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| rows::category_write_error(e, &category.name))?;
                    if done.rows_affected() == 0 {
                        return Err(Error::not_found(
                            crate::error::ErrorCode::CategoryNotFound,
                            "category",
                        ));
                    }
                    Ok(())
                }

                async fn delete_category(&self, id: &CategoryId) -> Result<bool> {
                    let done = sqlx::query(sql::DELETE_CATEGORY)
                        .bind(id.as_str())
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn get_category(&self, id: &CategoryId) -> Result<Option<Category>> {
                    sqlx::query_as::<_, CategoryRow>(sql::GET_CATEGORY)
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await?
                        .map(CategoryRow::into_model)
                        .transpose()
                }

                async fn list_categories(&self, query: &CategoryQuery) -> Result<Vec<Category>> {
                    let search = query.search.as_deref().map(sql::like_pattern);
                    let after = query.after.as_deref().map(sql::name_key);
                    sqlx::query_as::<_, CategoryRow>(sql::LIST_CATEGORIES)
                        .bind(search.as_deref())
                        .bind(after.as_deref())
                        .bind(sql::limit(query.limit))
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(CategoryRow::into_model)
                        .collect()
                }

                async fn count_categories(&self, search: Option<&str>) -> Result<u64> {
                    let search = search.map(sql::like_pattern);
                    let n: i64 = sqlx::query_scalar(sql::COUNT_CATEGORIES)
                        .bind(search.as_deref())
                        .fetch_one(&self.pool)
                        .await?;
                    sql::count(n)
                }

                async fn insert_server(&self, server: &Server) -> Result<()> {
                    let sealed = rows::SealedSecrets::new(&self.cipher, server)?;
                    $crate::catalog::sql::bind_server!(
                        sqlx::query(sql::INSERT_SERVER),
                        server,
                        sealed
                    )
                    .bind(sql::stamp(server.created_at))
                    .bind(sql::stamp(server.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| rows::server_write_error(e, server))?;
                    Ok(())
                }

                async fn update_server(&self, server: &Server) -> Result<()> {
                    let sealed = rows::SealedSecrets::new(&self.cipher, server)?;
                    let done = $crate::catalog::sql::bind_server!(
                        sqlx::query(sql::UPDATE_SERVER),
                        server,
                        sealed
                    )
                    .bind(sql::stamp(server.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| rows::server_write_error(e, server))?;
                    if done.rows_affected() == 0 {
                        return Err(Error::not_found(
                            crate::error::ErrorCode::ServerNotFound,
                            "server",
                        ));
                    }
                    Ok(())
                }

                async fn delete_server(&self, id: &ServerId) -> Result<bool> {
                    let done = sqlx::query(sql::DELETE_SERVER)
                        .bind(id.as_str())
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn get_server(&self, id: &ServerId) -> Result<Option<Server>> {
                    sqlx::query_as::<_, ServerRow>(sql::GET_SERVER)
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|row| row.into_model(&self.cipher))
                        .transpose()
                }

                async fn get_server_by_name(&self, name: &ServerName) -> Result<Option<Server>> {
                    sqlx::query_as::<_, ServerRow>(sql::GET_SERVER_BY_NAME)
                        .bind(name.as_str())
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|row| row.into_model(&self.cipher))
                        .transpose()
                }

                async fn list_servers(&self, query: &ServerQuery) -> Result<Vec<Server>> {
                    sqlx::query_as::<_, ServerRow>(sql::LIST_SERVERS)
                        .bind(query.visible_to.as_deref())
                        .bind(query.category_id.as_ref().map(|id| id.as_str()))
                        .bind(query.after.as_deref())
                        .bind(sql::limit(query.limit))
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(|row| row.into_model(&self.cipher))
                        .collect()
                }

                async fn fail_closed_servers(
                    &self,
                    visible_to: Option<&str>,
                ) -> Result<Vec<String>> {
                    Ok(sqlx::query_scalar::<_, String>(sql::LIST_FAIL_CLOSED)
                        .bind(visible_to)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn insert_toolset(&self, toolset: &Toolset) -> Result<()> {
                    $crate::catalog::sql_toolsets::bind_toolset!(
                        sqlx::query(sql_toolsets::INSERT_TOOLSET),
                        toolset
                    )
                    .bind(sql::stamp(toolset.created_at))
                    .bind(sql::stamp(toolset.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| rows_toolsets::toolset_write_error(e, toolset))?;
                    Ok(())
                }

                async fn update_toolset(&self, toolset: &Toolset) -> Result<()> {
                    let done = $crate::catalog::sql_toolsets::bind_toolset!(
                        sqlx::query(sql_toolsets::UPDATE_TOOLSET),
                        toolset
                    )
                    .bind(sql::stamp(toolset.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| rows_toolsets::toolset_write_error(e, toolset))?;
                    if done.rows_affected() == 0 {
                        return Err(Error::not_found(
                            crate::error::ErrorCode::ToolsetNotFound,
                            "toolset",
                        ));
                    }
                    Ok(())
                }

                async fn delete_toolset(&self, id: &ToolsetId) -> Result<bool> {
                    let done = sqlx::query(sql_toolsets::DELETE_TOOLSET)
                        .bind(id.as_str())
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn get_toolset(&self, id: &ToolsetId) -> Result<Option<Toolset>> {
                    sqlx::query_as::<_, ToolsetRow>(sql_toolsets::GET_TOOLSET)
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await?
                        .map(ToolsetRow::into_model)
                        .transpose()
                }

                async fn get_toolset_by_name(&self, name: &ToolsetName) -> Result<Option<Toolset>> {
                    sqlx::query_as::<_, ToolsetRow>(sql_toolsets::GET_TOOLSET_BY_NAME)
                        .bind(name.as_str())
                        .fetch_optional(&self.pool)
                        .await?
                        .map(ToolsetRow::into_model)
                        .transpose()
                }

                async fn list_toolsets(&self, query: &ToolsetQuery) -> Result<Vec<Toolset>> {
                    sqlx::query_as::<_, ToolsetRow>(sql_toolsets::LIST_TOOLSETS)
                        .bind(query.visible_to.as_deref())
                        .bind(query.after.as_deref())
                        .bind(sql::limit(query.limit))
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(ToolsetRow::into_model)
                        .collect()
                }

                async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
                    sqlx::query(sql::INSERT_API_KEY)
                        .bind(key.id.as_str())
                        .bind(key.user_id.as_str())
                        .bind(key.role.as_str())
                        .bind(key.hash.as_str())
                        .bind(key.prefix.as_str())
                        .bind(sql::stamp(key.created_at))
                        .bind(key.last_used_at.map(sql::stamp))
                        .bind(key.revoked_at.map(sql::stamp))
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
                    sqlx::query_as::<_, ApiKeyRow>(sql::FIND_API_KEY)
                        .bind(hash)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(ApiKeyRow::into_model)
                        .transpose()
                }

                async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
                    sqlx::query_as::<_, ApiKeyRow>(sql::LIST_API_KEYS)
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(ApiKeyRow::into_model)
                        .collect()
                }

                async fn revoke_api_key(&self, id: &ApiKeyId, at: DateTime<Utc>) -> Result<bool> {
                    let done = sqlx::query(sql::REVOKE_API_KEY)
                        .bind(id.as_str())
                        .bind(sql::stamp(at))
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn touch_api_key(&self, id: &ApiKeyId, at: DateTime<Utc>) -> Result<()> {
                    sqlx::query(sql::TOUCH_API_KEY)
                        .bind(id.as_str())
                        .bind(sql::stamp(at))
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn count_active_api_keys(&self) -> Result<u64> {
                    let n: i64 = sqlx::query_scalar(sql::COUNT_ACTIVE_API_KEYS)
                        .fetch_one(&self.pool)
                        .await?;
                    sql::count(n)
                }

                async fn get_oauth_credentials(
                    &self,
                    user_id: &str,
                    server: &ServerId,
                ) -> Result<Option<$crate::secret::Secret<String>>> {
                    let sealed: Option<String> = sqlx::query_scalar(sql::GET_OAUTH_CREDENTIALS)
                        .bind(user_id)
                        .bind(server.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                    sealed
                        .map(|s| self.cipher.open(&s).map($crate::secret::Secret::new))
                        .transpose()
                }

                async fn put_oauth_credentials(
                    &self,
                    user_id: &str,
                    server: &ServerId,
                    value: &$crate::secret::Secret<String>,
                    at: DateTime<Utc>,
                ) -> Result<()> {
                    let sealed = self.cipher.seal(value.expose())?;
                    sqlx::query(sql::PUT_OAUTH_CREDENTIALS)
                        .bind(user_id)
                        .bind(server.as_str())
                        .bind(sealed)
                        .bind(sql::stamp(at))
                        .execute(&self.pool)
                        .await
                        .map_err(|err| match &err {
                            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                                Error::not_found(crate::error::ErrorCode::ServerNotFound, "server")
                            }
                            _ => err.into(),
                        })?;
                    Ok(())
                }

                async fn delete_oauth_credentials(
                    &self,
                    user_id: &str,
                    server: &ServerId,
                ) -> Result<bool> {
                    let done = sqlx::query(sql::DELETE_OAUTH_CREDENTIALS)
                        .bind(user_id)
                        .bind(server.as_str())
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                }

                fn cipher(&self) -> &$crate::secret::Cipher {
                    &self.cipher
                }

                async fn key_check(&self) -> Result<Option<String>> {
                    self.stored_key_check().await
                }

                async fn record_key_check(
                    &self,
                    sealed: &str,
                    at: DateTime<Utc>,
                ) -> Result<String> {
                    self.record_first_key_check(sealed, at).await
                }

                async fn any_sealed_value(&self) -> Result<Option<String>> {
                    self.one_sealed_value().await
                }

                async fn reseal_all(
                    &self,
                    cipher: &$crate::secret::Cipher,
                    key_check: &str,
                    at: DateTime<Utc>,
                ) -> Result<$crate::catalog::key_check::Resealed> {
                    self.reseal_everything(cipher, key_check, at).await
                }

                async fn insert_audit_events(
                    &self,
                    events: &[$crate::catalog::audit::AuditEvent],
                ) -> Result<()> {
                    if events.is_empty() {
                        return Ok(());
                    }
                    let mut insert =
                        sqlx::QueryBuilder::new($crate::catalog::sql_audit::INSERT_AUDIT_PREFIX);
                    insert.push_values(events, |mut row, event| {
                        $crate::catalog::sql_audit::push_event!(row, event);
                    });
                    insert.build().execute(&self.pool).await?;
                    Ok(())
                }

                async fn list_audit_events(
                    &self,
                    query: &$crate::catalog::audit::AuditQuery,
                ) -> Result<Vec<$crate::catalog::audit::StoredAuditEvent>> {
                    use $crate::catalog::sql_audit::{AuditRow, LIST_AUDIT};
                    sqlx::query_as::<_, AuditRow>(LIST_AUDIT)
                        .bind(query.user.as_deref())
                        .bind(query.server.as_deref())
                        .bind(query.tool.as_deref())
                        .bind(query.outcome.as_deref())
                        .bind(query.kind.as_deref())
                        .bind(query.since.map(sql::stamp))
                        .bind(query.until.map(sql::stamp))
                        .bind(query.before)
                        .bind(sql::limit(query.limit))
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(AuditRow::into_model)
                        .collect()
                }

                async fn delete_audit_events_before(&self, before: DateTime<Utc>) -> Result<u64> {
                    let done = sqlx::query($crate::catalog::sql_audit::DELETE_AUDIT_BEFORE)
                        .bind(sql::stamp(before))
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected())
                }
            }
        };
        $crate::catalog::store_secrets::sql_secret_store!($store, $backend);
    };
}

pub(super) use sql_catalog_store;
