//! The SQL text both backends run, the macros that bind a model's fields to
//! its placeholders, and the conversions of bound values.
//!
//! The SQL is identical on both backends: `$n` placeholders work on SQLite
//! too, optional filters are nullable parameters written
//! `(CAST($n AS TEXT) IS NULL OR …)` (a cast both dialects accept), and the
//! column types differ only in the migrations. Timestamps are truncated to
//! microseconds before they are stored, PostgreSQL's precision, so both
//! backends give back exactly what they stored.

use chrono::{DateTime, SubsecRound, Utc};

use crate::config::CatalogBackend;
use crate::error::{Error, Result};

// ---------------------------------------------------------------- SQL text

macro_rules! category_columns {
    () => {
        "id, name, icon, color, description, created_at, updated_at"
    };
}

macro_rules! server_columns {
    () => {
        "id, name, title, description, transport, url, query_params, headers, command, args, \
         env, cwd, requires_oauth2, is_public, owner, category_id, enabled, fail_closed, \
         oauth_client, tool_filter, created_at, updated_at"
    };
}

macro_rules! api_key_columns {
    () => {
        "id, user_id, role, hash, prefix, created_at, last_used_at, revoked_at, name"
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

/// Binds [`bind_server!`] (`$1`-`$20`), then `created_at`, `updated_at`.
pub(super) const INSERT_SERVER: &str = concat!(
    "INSERT INTO servers (",
    server_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
     $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
);
/// Binds [`bind_server!`] (`$1`-`$20`), then `updated_at`.
pub(super) const UPDATE_SERVER: &str = "UPDATE servers SET name = $2, title = $3, \
     description = $4, transport = $5, url = $6, query_params = $7, headers = $8, command = $9, \
     args = $10, env = $11, cwd = $12, requires_oauth2 = $13, is_public = $14, owner = $15, \
     category_id = $16, enabled = $17, fail_closed = $18, oauth_client = $19, tool_filter = $20, \
     updated_at = $21 WHERE id = $1";
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
/// `$1` user who sees public + own servers or NULL (all): names of the
/// enabled servers marked `fail_closed`.
pub(super) const LIST_FAIL_CLOSED: &str = "SELECT name FROM servers \
     WHERE fail_closed AND enabled \
     AND (CAST($1 AS TEXT) IS NULL OR is_public OR owner = $1) \
     ORDER BY name";

pub(super) const INSERT_API_KEY: &str = concat!(
    "INSERT INTO api_keys (",
    api_key_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
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
pub(super) const GET_API_KEY: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM api_keys WHERE id = $1"
);
/// `$1` user or NULL (all), `$2` include revoked keys, `$3`/`$4` the id and
/// creation time of the last key of the previous page or NULL, `$5` limit:
/// newest first, ties by id.
pub(super) const PAGE_API_KEYS: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM api_keys \
     WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1) \
     AND ($2 OR revoked_at IS NULL) \
     AND (CAST($3 AS TEXT) IS NULL OR created_at < $4 OR (created_at = $4 AND id < $3)) \
     ORDER BY created_at DESC, id DESC LIMIT $5"
);
/// `$1` user.
pub(super) const COUNT_ACTIVE_API_KEYS_OF: &str =
    "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL";
pub(super) const REVOKE_API_KEY: &str =
    "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
pub(super) const TOUCH_API_KEY: &str = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1";
pub(super) const COUNT_ACTIVE_API_KEYS: &str =
    "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL";

/// `$1` user, `$2` server.
pub(super) const GET_OAUTH_CREDENTIALS: &str =
    "SELECT sealed FROM oauth_credentials WHERE user_id = $1 AND server_id = $2";
/// `$1` user, `$2` server, `$3` sealed value, `$4` time.
pub(super) const PUT_OAUTH_CREDENTIALS: &str = "INSERT INTO oauth_credentials \
     (user_id, server_id, sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (user_id, server_id) DO UPDATE SET sealed = excluded.sealed, \
     updated_at = excluded.updated_at";
/// `$1` user, `$2` server.
pub(super) const DELETE_OAUTH_CREDENTIALS: &str =
    "DELETE FROM oauth_credentials WHERE user_id = $1 AND server_id = $2";

/// The stored key check (see `key_check.rs`).
pub(super) const GET_KEY_CHECK: &str = "SELECT sealed FROM secrets_key_check WHERE id = 1";
/// `$1` sealed key check, `$2` time: recorded unless one exists already.
pub(super) const INSERT_KEY_CHECK: &str = "INSERT INTO secrets_key_check \
     (id, sealed, created_at, updated_at) VALUES (1, $1, $2, $2) ON CONFLICT (id) DO NOTHING";
/// `$1` sealed key check, `$2` time: recorded, replacing any earlier one.
pub(super) const PUT_KEY_CHECK: &str = "INSERT INTO secrets_key_check \
     (id, sealed, created_at, updated_at) VALUES (1, $1, $2, $2) \
     ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at";
/// One OAuth credential, sealed, if any.
pub(super) const ANY_SEALED_OAUTH_CREDENTIAL: &str = "SELECT sealed FROM oauth_credentials LIMIT 1";
/// The sealed columns of one server that holds a secret, if any.
pub(super) const ANY_SERVER_WITH_SECRETS: &str = "SELECT id, name, headers, env, oauth_client \
     FROM servers WHERE CAST(headers AS TEXT) <> '{}' OR CAST(env AS TEXT) <> '{}' \
     OR CAST(oauth_client AS TEXT) LIKE '%\"client_secret\"%' LIMIT 1";
/// The sealed columns of every server.
pub(super) const SERVER_SECRETS: &str =
    "SELECT id, name, headers, env, oauth_client FROM servers ORDER BY id";
/// `$1` id, `$2` headers, `$3` env, `$4` oauth_client; `updated_at` stays:
/// re-sealing changes no setting.
pub(super) const RESEAL_SERVER: &str =
    "UPDATE servers SET headers = $2, env = $3, oauth_client = $4 WHERE id = $1";
/// Every user's OAuth credentials, sealed.
pub(super) const OAUTH_CREDENTIALS: &str =
    "SELECT user_id, server_id, sealed FROM oauth_credentials ORDER BY server_id, user_id";
/// `$1` user, `$2` server, `$3` sealed value; `updated_at` stays.
pub(super) const RESEAL_OAUTH_CREDENTIALS: &str =
    "UPDATE oauth_credentials SET sealed = $3 WHERE user_id = $1 AND server_id = $2";

/// The first statement of a rotation's transaction: it makes writers of
/// secrets wait until the rotation commits (so none is lost or left sealed
/// with the old key by a write that raced it), while readers go on reading
/// the committed values. PostgreSQL: a table lock that still admits plain
/// `SELECT`s; SQLite: a write, which takes the database's one write lock
/// before the transaction reads anything.
pub(super) fn rotation_lock(backend: CatalogBackend) -> &'static str {
    match backend {
        CatalogBackend::Postgres => {
            "LOCK TABLE servers, oauth_credentials, secrets_key_check IN EXCLUSIVE MODE"
        }
        CatalogBackend::Sqlite => "UPDATE secrets_key_check SET updated_at = updated_at",
    }
}

// ---------------------------------------------------------------- binding

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

/// Binds `$1`-`$20` of [`INSERT_SERVER`] / [`UPDATE_SERVER`].
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
            .bind($server.fail_closed)
            .bind(&$sealed.oauth_client)
            .bind(sqlx::types::Json(&$server.tool_filter))
    };
}

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

pub(super) use {bind_category, bind_server};

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
}
