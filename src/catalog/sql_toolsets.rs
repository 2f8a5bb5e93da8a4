//! The SQL text of toolsets, which both backends run (see `sql.rs` for the
//! conventions: `$n` placeholders, nullable filters written
//! `(CAST($n AS TEXT) IS NULL OR …)`), and the macro that binds a
//! toolset's fields to its placeholders.

macro_rules! toolset_columns {
    () => {
        "id, name, title, description, owner, is_public, exposure, resources, prompts, \
         entries, created_at, updated_at"
    };
}

/// Binds [`bind_toolset!`] (`$1`-`$10`), then `created_at`, `updated_at`.
pub(super) const INSERT_TOOLSET: &str = concat!(
    "INSERT INTO toolsets (",
    toolset_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);
/// Binds [`bind_toolset!`] (`$1`-`$10`), then `updated_at`.
pub(super) const UPDATE_TOOLSET: &str = "UPDATE toolsets SET name = $2, title = $3, \
     description = $4, owner = $5, is_public = $6, exposure = $7, resources = $8, \
     prompts = $9, entries = $10, updated_at = $11 WHERE id = $1";
pub(super) const DELETE_TOOLSET: &str = "DELETE FROM toolsets WHERE id = $1";
pub(super) const GET_TOOLSET: &str = concat!(
    "SELECT ",
    toolset_columns!(),
    " FROM toolsets WHERE id = $1"
);
pub(super) const GET_TOOLSET_BY_NAME: &str = concat!(
    "SELECT ",
    toolset_columns!(),
    " FROM toolsets WHERE name = $1"
);
/// `$1` user who sees public + own toolsets or NULL (all), `$2` name to
/// start after or NULL, `$3` limit.
pub(super) const LIST_TOOLSETS: &str = concat!(
    "SELECT ",
    toolset_columns!(),
    " FROM toolsets \
     WHERE (CAST($1 AS TEXT) IS NULL OR is_public OR owner = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR name > $2) \
     ORDER BY name LIMIT $3"
);

/// Binds `$1`-`$10` of [`INSERT_TOOLSET`] / [`UPDATE_TOOLSET`].
macro_rules! bind_toolset {
    ($query:expr, $toolset:expr) => {
        $query
            .bind($toolset.id.as_str())
            .bind($toolset.name.as_str())
            .bind($toolset.title.as_str())
            .bind($toolset.description.as_str())
            .bind($toolset.owner.as_str())
            .bind($toolset.is_public)
            .bind($toolset.exposure.as_str())
            .bind($toolset.resources)
            .bind($toolset.prompts)
            .bind(sqlx::types::Json(&$toolset.entries))
    };
}

pub(super) use bind_toolset;
