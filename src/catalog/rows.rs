//! What the two SQL backends share, so [`super::sqlite`] and [`super::postgres`]
//! stay thin: the SQL text, the row structs, row ↔ model conversion (sealing
//! and opening secrets), constraint-violation mapping, and the whole
//! [`CatalogStore`](super::CatalogStore) implementation as the macro
//! [`sql_catalog_store!`], which each backend invokes on its own store type.
//!
//! The SQL is identical on both backends: `$n` placeholders work on SQLite
//! too, optional filters are nullable parameters written
//! `(CAST($n AS TEXT) IS NULL OR …)` (a cast both dialects accept), and the
//! column types differ only in the migrations. Timestamps are truncated to
//! microseconds before they are stored, PostgreSQL's precision, so both
//! backends give back exactly what they stored.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::types::Json;

use crate::auth::Role;
use crate::catalog::model::{ApiKey, Category, SecretMap, Server, ServerName, Transport};
use crate::error::{Error, Result};
use crate::ids::{ApiKeyId, CategoryId, ServerId};
use crate::secret::{Cipher, Secret};

// ---------------------------------------------------------------- SQL text

macro_rules! category_columns {
    () => {
        "id, name, icon, color, description, created_at, updated_at"
    };
}

macro_rules! server_columns {
    () => {
        "id, name, title, description, transport, url, query_params, headers, command, args, \
         env, cwd, requires_oauth2, is_public, owner, category_id, enabled, created_at, updated_at"
    };
}

macro_rules! api_key_columns {
    () => {
        "id, user_id, role, hash, prefix, created_at, last_used_at, revoked_at"
    };
}

/// `WHERE` fragment: `$1` is an escaped `LIKE` pattern over `name_key`, or NULL.
macro_rules! category_search {
    () => {
        "(CAST($1 AS TEXT) IS NULL OR name_key LIKE $1 ESCAPE '\\')"
    };
}

pub(super) const PING: &str = "SELECT 1";

/// Binds [`bind_category!`] (`$1`-`$6`), then `created_at`, `updated_at`.
pub(super) const INSERT_CATEGORY: &str = "INSERT INTO categories \
     (id, name, name_key, icon, color, description, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// Binds [`bind_category!`] (`$1`-`$6`), then `updated_at`.
pub(super) const UPDATE_CATEGORY: &str = "UPDATE categories \
     SET name = $2, name_key = $3, icon = $4, color = $5, description = $6, updated_at = $7 \
     WHERE id = $1";
pub(super) const DELETE_CATEGORY: &str = "DELETE FROM categories WHERE id = $1";
pub(super) const GET_CATEGORY: &str = concat!(
    "SELECT ",
    category_columns!(),
    " FROM categories WHERE id = $1"
);
/// `$1` search pattern or NULL, `$2` lower-cased name to start after or NULL, `$3` limit.
pub(super) const LIST_CATEGORIES: &str = concat!(
    "SELECT ",
    category_columns!(),
    " FROM categories WHERE ",
    category_search!(),
    " AND (CAST($2 AS TEXT) IS NULL OR name_key > $2) ORDER BY name_key LIMIT $3"
);
/// `$1` search pattern or NULL.
pub(super) const COUNT_CATEGORIES: &str =
    concat!("SELECT COUNT(*) FROM categories WHERE ", category_search!());

/// Binds [`bind_server!`] (`$1`-`$17`), then `created_at`, `updated_at`.
pub(super) const INSERT_SERVER: &str = concat!(
    "INSERT INTO servers (",
    server_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
     $11, $12, $13, $14, $15, $16, $17, $18, $19)"
);
/// Binds [`bind_server!`] (`$1`-`$17`), then `updated_at`.
pub(super) const UPDATE_SERVER: &str = "UPDATE servers SET name = $2, title = $3, \
     description = $4, transport = $5, url = $6, query_params = $7, headers = $8, command = $9, \
     args = $10, env = $11, cwd = $12, requires_oauth2 = $13, is_public = $14, owner = $15, \
     category_id = $16, enabled = $17, updated_at = $18 WHERE id = $1";
pub(super) const DELETE_SERVER: &str = "DELETE FROM servers WHERE id = $1";
pub(super) const GET_SERVER: &str =
    concat!("SELECT ", server_columns!(), " FROM servers WHERE id = $1");
pub(super) const GET_SERVER_BY_NAME: &str = concat!(
    "SELECT ",
    server_columns!(),
    " FROM servers WHERE name = $1"
);
/// `$1` user who sees public + own servers or NULL (all), `$2` category id or
/// NULL, `$3` name to start after or NULL, `$4` limit.
pub(super) const LIST_SERVERS: &str = concat!(
    "SELECT ",
    server_columns!(),
    " FROM servers \
     WHERE (CAST($1 AS TEXT) IS NULL OR is_public OR owner = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR category_id = $2) \
     AND (CAST($3 AS TEXT) IS NULL OR name > $3) \
     ORDER BY name LIMIT $4"
);

pub(super) const INSERT_API_KEY: &str = concat!(
    "INSERT INTO api_keys (",
    api_key_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);
pub(super) const FIND_API_KEY: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM api_keys WHERE hash = $1"
);
pub(super) const LIST_API_KEYS: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM api_keys ORDER BY created_at DESC, id DESC"
);
pub(super) const REVOKE_API_KEY: &str =
    "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
pub(super) const TOUCH_API_KEY: &str = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1";
pub(super) const COUNT_ACTIVE_API_KEYS: &str =
    "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL";

// ---------------------------------------------------------------- values

/// A timestamp as stored: truncated to microseconds (PostgreSQL's precision).
pub(super) fn stamp(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// The case-insensitive key a category name is unique and sorted by.
pub(super) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// A `LIKE` pattern matching `name_key` values that contain `search`
/// (case-insensitively), with `%`, `_` and `\` taken literally.
pub(super) fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for ch in name_key(search).chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// A page size as SQL wants it.
pub(super) fn limit(limit: u32) -> i64 {
    i64::from(limit)
}

/// A `COUNT(*)` as the trait returns it.
pub(super) fn count(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(Error::internal)
}

/// A stored value that does not parse: the table was changed behind our back.
fn corrupt(column: &'static str) -> impl FnOnce(Error) -> Error {
    move |err| {
        Error::internal(format!(
            "catalog column {column} holds an invalid value: {err}"
        ))
    }
}

/// Header and environment values of a server, sealed for storage.
pub(super) struct SealedSecrets {
    pub headers: Json<BTreeMap<String, String>>,
    pub env: Json<BTreeMap<String, String>>,
}

impl SealedSecrets {
    pub(super) fn new(cipher: &Cipher, server: &Server) -> Result<Self> {
        Ok(Self {
            headers: Json(seal_map(cipher, &server.headers)?),
            env: Json(seal_map(cipher, &server.env)?),
        })
    }
}

fn seal_map(cipher: &Cipher, map: &SecretMap) -> Result<BTreeMap<String, String>> {
    map.iter()
        .map(|(name, value)| Ok((name.clone(), cipher.seal(value.expose())?)))
        .collect()
}

fn open_map(cipher: &Cipher, map: BTreeMap<String, String>) -> Result<SecretMap> {
    map.into_iter()
        .map(|(name, sealed)| Ok((name, Secret::new(cipher.open(&sealed)?))))
        .collect()
}

// ---------------------------------------------------------------- rows

/// A `categories` row (without `name_key`, derived from `name`).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct CategoryRow {
    id: String,
    name: String,
    icon: Option<String>,
    color: Option<String>,
    description: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl CategoryRow {
    pub(super) fn into_model(self) -> Result<Category> {
        Ok(Category {
            id: CategoryId::parse(&self.id).map_err(corrupt("categories.id"))?,
            name: self.name,
            icon: self.icon,
            color: self.color,
            description: self.description,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A `servers` row; `headers` and `env` values are sealed.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ServerRow {
    id: String,
    name: String,
    title: String,
    description: String,
    transport: String,
    url: Option<String>,
    query_params: Json<BTreeMap<String, String>>,
    headers: Json<BTreeMap<String, String>>,
    command: Option<String>,
    args: Json<Vec<String>>,
    env: Json<BTreeMap<String, String>>,
    cwd: Option<String>,
    requires_oauth2: bool,
    is_public: bool,
    owner: String,
    category_id: Option<String>,
    enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ServerRow {
    /// The server with its secrets opened.
    pub(super) fn into_model(self, cipher: &Cipher) -> Result<Server> {
        Ok(Server {
            id: ServerId::parse(&self.id).map_err(corrupt("servers.id"))?,
            name: ServerName::parse(&self.name).map_err(corrupt("servers.name"))?,
            title: self.title,
            description: self.description,
            transport: Transport::parse(&self.transport).map_err(corrupt("servers.transport"))?,
            url: self.url,
            query_params: self.query_params.0,
            headers: open_map(cipher, self.headers.0)?,
            command: self.command,
            args: self.args.0,
            env: open_map(cipher, self.env.0)?,
            cwd: self.cwd,
            requires_oauth2: self.requires_oauth2,
            is_public: self.is_public,
            owner: self.owner,
            category_id: self
                .category_id
                .as_deref()
                .map(CategoryId::parse)
                .transpose()
                .map_err(corrupt("servers.category_id"))?,
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// An `api_keys` row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ApiKeyRow {
    id: String,
    user_id: String,
    role: String,
    hash: String,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRow {
    pub(super) fn into_model(self) -> Result<ApiKey> {
        Ok(ApiKey {
            id: ApiKeyId::parse(&self.id).map_err(corrupt("api_keys.id"))?,
            user_id: self.user_id,
            role: Role::parse(&self.role).map_err(corrupt("api_keys.role"))?,
            hash: self.hash,
            prefix: self.prefix,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        })
    }
}

// ---------------------------------------------------------------- errors

/// Maps a failed category insert/update: a taken (case-insensitive) name is a 409.
pub(super) fn category_write_error(err: sqlx::Error, name: &str) -> Error {
    if is_unique_violation_of(&err, "categories_name_key_unique", "categories.name_key") {
        Error::conflict(
            "category_name_taken",
            "name",
            format!("a category named `{name}` already exists"),
        )
    } else {
        err.into()
    }
}

/// Maps a failed server insert/update: a taken name is a 409, an unknown
/// category a 422.
pub(super) fn server_write_error(err: sqlx::Error, server: &Server) -> Error {
    if is_unique_violation_of(&err, "servers_name_unique", "servers.name") {
        return Error::conflict(
            "server_name_taken",
            "name",
            format!("a server named `{}` already exists", server.name),
        );
    }
    // The only foreign key on `servers` is `category_id`.
    if let (sqlx::Error::Database(db), Some(category)) = (&err, &server.category_id)
        && db.is_foreign_key_violation()
    {
        return Error::invalid(
            "category_not_found",
            "category_id",
            format!("there is no category `{category}`"),
        );
    }
    err.into()
}

/// Whether `err` breaks the unique constraint named `constraint` (PostgreSQL
/// reports the name) on `table.column` (SQLite names the column in its message:
/// `UNIQUE constraint failed: table.column`).
fn is_unique_violation_of(err: &sqlx::Error, constraint: &str, table_column: &str) -> bool {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            db.constraint() == Some(constraint) || db.message().ends_with(table_column)
        }
        _ => false,
    }
}

// ---------------------------------------------------------------- the store

/// Binds `$1`-`$6` of [`INSERT_CATEGORY`] / [`UPDATE_CATEGORY`].
macro_rules! bind_category {
    ($query:expr, $category:expr, $name_key:expr) => {
        $query
            .bind($category.id.as_str())
            .bind($category.name.as_str())
            .bind($name_key)
            .bind($category.icon.as_deref())
            .bind($category.color.as_deref())
            .bind($category.description.as_str())
    };
}

/// Binds `$1`-`$17` of [`INSERT_SERVER`] / [`UPDATE_SERVER`].
macro_rules! bind_server {
    ($query:expr, $server:expr, $sealed:expr) => {
        $query
            .bind($server.id.as_str())
            .bind($server.name.as_str())
            .bind($server.title.as_str())
            .bind($server.description.as_str())
            .bind($server.transport.as_str())
            .bind($server.url.as_deref())
            .bind(sqlx::types::Json(&$server.query_params))
            .bind(&$sealed.headers)
            .bind($server.command.as_deref())
            .bind(sqlx::types::Json(&$server.args))
            .bind(&$sealed.env)
            .bind($server.cwd.as_deref())
            .bind($server.requires_oauth2)
            .bind($server.is_public)
            .bind($server.owner.as_str())
            .bind($server.category_id.as_ref().map(|id| id.as_str()))
            .bind($server.enabled)
    };
}

/// Implements [`CatalogStore`](super::CatalogStore) for a backend struct with
/// fields `pool` (an `sqlx::Pool` of that backend) and `cipher`. Every query
/// is a runtime `sqlx::query*` over the SQL above, so one body serves both.
macro_rules! sql_catalog_store {
    ($store:ty, $backend:expr) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::catalog::rows::{self as sql, ApiKeyRow, CategoryRow, ServerRow};
            use $crate::catalog::{
                ApiKey, CatalogStore, Category, CategoryQuery, Server, ServerName, ServerQuery,
            };
            use $crate::config::CatalogBackend;
            use $crate::error::{Error, Result};
            use $crate::ids::{ApiKeyId, CategoryId, ServerId};

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
                    $crate::catalog::rows::bind_category!(
                        sqlx::query(sql::INSERT_CATEGORY),
                        category,
                        key.as_str()
                    )
                    .bind(sql::stamp(category.created_at))
                    .bind(sql::stamp(category.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| sql::category_write_error(e, &category.name))?;
                    Ok(())
                }

                async fn update_category(&self, category: &Category) -> Result<()> {
                    let key = sql::name_key(&category.name);
                    let done = $crate::catalog::rows::bind_category!(
                        sqlx::query(sql::UPDATE_CATEGORY),
                        category,
                        key.as_str()
                    )
                    .bind(sql::stamp(category.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| sql::category_write_error(e, &category.name))?;
                    if done.rows_affected() == 0 {
                        return Err(Error::not_found("category_not_found", "category"));
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
                    let sealed = sql::SealedSecrets::new(&self.cipher, server)?;
                    $crate::catalog::rows::bind_server!(
                        sqlx::query(sql::INSERT_SERVER),
                        server,
                        sealed
                    )
                    .bind(sql::stamp(server.created_at))
                    .bind(sql::stamp(server.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| sql::server_write_error(e, server))?;
                    Ok(())
                }

                async fn update_server(&self, server: &Server) -> Result<()> {
                    let sealed = sql::SealedSecrets::new(&self.cipher, server)?;
                    let done = $crate::catalog::rows::bind_server!(
                        sqlx::query(sql::UPDATE_SERVER),
                        server,
                        sealed
                    )
                    .bind(sql::stamp(server.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| sql::server_write_error(e, server))?;
                    if done.rows_affected() == 0 {
                        return Err(Error::not_found("server_not_found", "server"));
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
            }
        };
    };
}

pub(super) use {bind_category, bind_server, sql_catalog_store};

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    #[test]
    fn like_patterns_lowercase_and_escape_wildcards() {
        assert_eq!(like_pattern("ÄbC"), "%äbc%");
        assert_eq!(like_pattern("100%_\\"), "%100\\%\\_\\\\%");
        assert_eq!(like_pattern(""), "%%");
    }

    #[test]
    fn stamps_keep_microseconds_and_drop_nanoseconds() {
        let base = Utc
            .with_ymd_and_hms(2025, 1, 2, 3, 4, 5)
            .single()
            .map(|t| t + Duration::microseconds(123_456));
        let precise = base.map(|t| t + Duration::nanoseconds(999));
        assert_eq!(precise.map(stamp), base);
        assert_eq!(base.map(stamp), base);
    }

    #[test]
    fn sealed_secrets_open_back_and_hide_values() -> Result<()> {
        let cipher = Cipher::from_key(&[3; 32])?;
        let map: SecretMap = [(
            "Authorization".to_owned(),
            Secret::new("Bearer t".to_owned()),
        )]
        .into_iter()
        .collect();
        let sealed = seal_map(&cipher, &map)?;
        assert!(
            sealed
                .values()
                .all(|v| v.starts_with("v1:") && !v.contains("Bearer"))
        );
        assert_eq!(open_map(&cipher, sealed)?, map);
        Ok(())
    }
}
