//! The embedded catalog backend: one SQLite file in WAL mode.
//!
//! The queries and the [`CatalogStore`](super::CatalogStore) implementation are
//! shared with PostgreSQL (see `sql.rs`, `rows.rs` and `store_macro.rs`); this
//! file only opens the database.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::catalog::Catalog;
use crate::secret::Cipher;

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The catalog in a SQLite database.
pub struct SqliteCatalog {
    pool: SqlitePool,
    cipher: Cipher,
}

super::store_macro::sql_catalog_store!(SqliteCatalog, crate::config::CatalogBackend::Sqlite);

/// Opens (creating the file and its folder when missing) the SQLite catalog at
/// `url` (`sqlite://PATH`) and applies pending migrations.
pub async fn connect(url: &str, max: u32, cipher: Cipher) -> anyhow::Result<Catalog> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("invalid SQLite catalog URL `{url}`"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Normal);
    if let Some(folder) = options.get_filename().parent()
        && !folder.as_os_str().is_empty()
    {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating the catalog folder {}", folder.display()))?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(max)
        .connect_with(options)
        .await
        .with_context(|| format!("opening the SQLite catalog `{url}`"))?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .context("applying the SQLite catalog migrations")?;
    Ok(Arc::new(SqliteCatalog { pool, cipher }))
}
