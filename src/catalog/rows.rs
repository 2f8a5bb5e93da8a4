//! What the two SQL backends share besides the SQL text (`sql.rs`) and the
//! store itself (`store_macro.rs`): the row structs, row ↔ model conversion
//! (sealing and opening secrets) and constraint-violation mapping.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::catalog::key_check::Resealed;
use crate::catalog::model::{ApiKey, Category, SecretMap, Server, ServerName, Transport};
use crate::catalog::tool_filter::ToolFilter;
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{ApiKeyId, CategoryId, ServerId};
use crate::principal::Role;
use crate::secret::{Cipher, Secret};

// ---------------------------------------------------------------- values

/// A stored value that does not parse: the table was changed behind our back.
pub(super) fn corrupt(column: &'static str) -> impl FnOnce(Error) -> Error {
    move |err| {
        Error::internal(format!(
            "catalog column {column} holds an invalid value: {err}"
        ))
    }
}

/// Header and environment values of a server, and its OAuth client, sealed
/// for storage.
pub(super) struct SealedSecrets {
    pub headers: Json<BTreeMap<String, String>>,
    pub env: Json<BTreeMap<String, String>>,
    pub oauth_client: Json<StoredOAuthClient>,
}

impl SealedSecrets {
    pub(super) fn new(cipher: &Cipher, server: &Server) -> Result<Self> {
        Ok(Self {
            headers: Json(seal_map(cipher, &server.headers)?),
            env: Json(seal_map(cipher, &server.env)?),
            oauth_client: Json(StoredOAuthClient {
                client_id: server.oauth_client_id.clone(),
                client_secret: server
                    .oauth_client_secret
                    .as_ref()
                    .map(|s| cipher.seal(s.expose()))
                    .transpose()?,
                scopes: server.oauth_scopes.clone(),
            }),
        })
    }
}

/// The `servers.oauth_client` column: `client_secret` is sealed.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct StoredOAuthClient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
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
    fail_closed: bool,
    oauth_client: Json<StoredOAuthClient>,
    tool_filter: Json<ToolFilter>,
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
            fail_closed: self.fail_closed,
            oauth_client_id: self.oauth_client.0.client_id,
            oauth_client_secret: self
                .oauth_client
                .0
                .client_secret
                .map(|sealed| cipher.open(&sealed).map(Secret::new))
                .transpose()?,
            oauth_scopes: self.oauth_client.0.scopes,
            tool_filter: self.tool_filter.0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The sealed columns of a `servers` row, for trying a key and re-sealing.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ServerSecretsRow {
    pub id: String,
    name: String,
    headers: Json<BTreeMap<String, String>>,
    env: Json<BTreeMap<String, String>>,
    oauth_client: Json<StoredOAuthClient>,
}

/// A server's sealed columns after a re-seal, to bind to `RESEAL_SERVER`.
pub(super) struct ResealedServer {
    pub headers: Json<BTreeMap<String, String>>,
    pub env: Json<BTreeMap<String, String>>,
    pub oauth_client: Json<StoredOAuthClient>,
}

impl ServerSecretsRow {
    /// One of the row's sealed values, if it holds any.
    pub(super) fn first_sealed(self) -> Option<String> {
        let Self {
            headers,
            env,
            oauth_client,
            ..
        } = self;
        headers
            .0
            .into_values()
            .chain(env.0.into_values())
            .chain(oauth_client.0.client_secret)
            .next()
    }

    /// Every sealed value opened with `cipher` and sealed again with its
    /// sealing key; `counts` grows by what was re-sealed. A value no key
    /// opens is an error naming the server and the value's name.
    pub(super) fn reseal(self, cipher: &Cipher, counts: &mut Resealed) -> Result<ResealedServer> {
        let name = self.name;
        let headers = reseal_map(cipher, self.headers.0, &mut counts.header_values, |k| {
            format!("header `{k}` of server `{name}`")
        })?;
        let env = reseal_map(cipher, self.env.0, &mut counts.env_values, |k| {
            format!("env `{k}` of server `{name}`")
        })?;
        let mut oauth_client = self.oauth_client.0;
        if let Some(sealed) = oauth_client.client_secret.take() {
            oauth_client.client_secret = Some(reseal_value(cipher, &sealed, || {
                format!("the OAuth client secret of server `{name}`")
            })?);
            counts.client_secrets += 1;
        }
        Ok(ResealedServer {
            headers: Json(headers),
            env: Json(env),
            oauth_client: Json(oauth_client),
        })
    }
}

fn reseal_map(
    cipher: &Cipher,
    map: BTreeMap<String, String>,
    count: &mut u64,
    what: impl Fn(&str) -> String,
) -> Result<BTreeMap<String, String>> {
    map.into_iter()
        .map(|(name, sealed)| {
            let resealed = reseal_value(cipher, &sealed, || what(&name))?;
            *count += 1;
            Ok((name, resealed))
        })
        .collect()
}

/// `sealed` opened with any of `cipher`'s keys and sealed with its first.
pub(super) fn reseal_value(
    cipher: &Cipher,
    sealed: &str,
    what: impl FnOnce() -> String,
) -> Result<String> {
    let plain = cipher.open(sealed).map_err(|_| {
        Error::internal(format!(
            "{} does not open with the current key or the new one; nothing was changed",
            what()
        ))
    })?;
    cipher.seal(&plain)
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
    name: Option<String>,
}

impl ApiKeyRow {
    pub(super) fn into_model(self) -> Result<ApiKey> {
        Ok(ApiKey {
            id: ApiKeyId::parse(&self.id).map_err(corrupt("api_keys.id"))?,
            name: self.name,
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
            ErrorCode::CategoryNameTaken,
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
            ErrorCode::ServerNameTaken,
            "name",
            format!("a server named `{}` already exists", server.name),
        );
    }
    // The only foreign key on `servers` is `category_id`.
    if let (sqlx::Error::Database(db), Some(category)) = (&err, &server.category_id)
        && db.is_foreign_key_violation()
    {
        return Error::invalid(
            ErrorCode::CategoryNotFound,
            "category_id",
            format!("there is no category `{category}`"),
        );
    }
    err.into()
}

/// Whether `err` breaks the unique constraint named `constraint` (PostgreSQL
/// reports the name) on `table.column` (SQLite names the column in its message:
/// `UNIQUE constraint failed: table.column`).
pub(super) fn is_unique_violation_of(
    err: &sqlx::Error,
    constraint: &str,
    table_column: &str,
) -> bool {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            db.constraint() == Some(constraint) || db.message().ends_with(table_column)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
