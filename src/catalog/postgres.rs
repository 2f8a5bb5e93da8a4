//! The PostgreSQL catalog backend.
//!
//! The queries and the [`CatalogStore`](super::CatalogStore) implementation are
//! shared with SQLite (see `sql.rs`, `rows.rs` and `store_macro.rs`); this
//! file only opens the database.

use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::catalog::Catalog;
use crate::secret::Cipher;

/// The catalog in a PostgreSQL database.
pub struct PostgresCatalog {
    pool: PgPool,
    cipher: Cipher,
}

super::store_macro::sql_catalog_store!(PostgresCatalog, crate::config::CatalogBackend::Postgres);

/// Connects to the PostgreSQL catalog at `url` and applies pending migrations.
pub async fn connect(url: &str, max: u32, cipher: Cipher) -> anyhow::Result<Catalog> {
    // Parsed apart from connecting so a bad URL is not reported as "unreachable".
    let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL catalog URL")?;
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .connect_with(options)
        .await
        .context("connecting to the PostgreSQL catalog")?;
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .context("applying the PostgreSQL catalog migrations")?;
    Ok(Arc::new(PostgresCatalog { pool, cipher }))
}
