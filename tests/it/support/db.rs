//! Catalog databases for tests: a SQLite file in its own temporary folder, or
//! a PostgreSQL database created for the test (`manifold_t_<random>`), so
//! tests never share state. PostgreSQL must be running: if it is not, the
//! helpers panic, they never skip.

use manifold::catalog::Catalog;
use manifold::config::CatalogBackend;
use manifold::secret::Cipher;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use tempfile::TempDir;

/// Server (and database) the PostgreSQL tests use unless
/// `MANIFOLD_TEST_DATABASE_URL` says otherwise.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Pool size of test catalogs.
const TEST_POOL: u32 = 4;

/// The cipher every test catalog is opened with.
pub fn test_cipher() -> Cipher {
    cipher(7)
}

/// A cipher with the key `[byte; 32]`.
pub fn cipher(byte: u8) -> Cipher {
    Cipher::from_key(&[byte; 32]).expect("a 32-byte key is accepted")
}

/// Where PostgreSQL tests connect to create their databases.
pub fn postgres_admin_url() -> String {
    std::env::var("MANIFOLD_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// A migrated SQLite catalog in a new temporary folder (deleted with the `TempDir`).
pub async fn fresh_sqlite() -> (Catalog, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = sqlite_url(&dir);
    let catalog = manifold::catalog::sqlite::connect(&url, TEST_POOL, test_cipher())
        .await
        .unwrap_or_else(|e| panic!("opening the SQLite catalog {url}: {e:#}"));
    (catalog, dir)
}

/// The URL of the catalog file [`fresh_sqlite`] creates in `dir`.
pub fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("catalog.db").display())
}

/// A migrated catalog on a new, empty PostgreSQL database, and that database's URL.
pub async fn fresh_postgres() -> (Catalog, String) {
    let url = create_postgres_database().await;
    let catalog = manifold::catalog::postgres::connect(&url, TEST_POOL, test_cipher())
        .await
        .unwrap_or_else(|e| panic!("opening the PostgreSQL catalog {url}: {e:#}"));
    (catalog, url)
}

/// Creates an empty database `manifold_t_<random>` and returns its URL.
pub async fn create_postgres_database() -> String {
    let admin = postgres_admin_url();
    let name = super::unique("manifold_t_");
    let mut conn = admin_connection(&admin).await;
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin}: {e}"));
    conn.close().await.ok();
    let mut url = url::Url::parse(&admin).expect("MANIFOLD_TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// Drops a database made by [`create_postgres_database`], closing its connections.
pub async fn drop_postgres_database(url: &str) {
    let name = url::Url::parse(url)
        .expect("a database URL")
        .path()
        .trim_start_matches('/')
        .to_owned();
    assert!(name.starts_with("manifold_t_"), "refusing to drop `{name}`");
    let admin = postgres_admin_url();
    let mut conn = admin_connection(&admin).await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("DROP DATABASE {name}: {e}"));
    conn.close().await.ok();
}

async fn admin_connection(admin: &str) -> PgConnection {
    PgConnection::connect(admin).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is unreachable at {admin}: {e}. The catalog tests need a running \
             PostgreSQL; start one or point MANIFOLD_TEST_DATABASE_URL at it."
        )
    })
}

/// A fresh catalog of either backend, with what tests need to look under it.
pub struct TestDb {
    pub catalog: Catalog,
    pub backend: CatalogBackend,
    /// The catalog URL (`sqlite://…` or `postgres://…`).
    pub url: String,
    /// Keeps the SQLite folder alive.
    dir: Option<TempDir>,
}

impl TestDb {
    /// A fresh SQLite catalog.
    pub async fn sqlite() -> Self {
        let (catalog, dir) = fresh_sqlite().await;
        Self {
            catalog,
            backend: CatalogBackend::Sqlite,
            url: sqlite_url(&dir),
            dir: Some(dir),
        }
    }

    /// A fresh PostgreSQL catalog on its own database.
    pub async fn postgres() -> Self {
        let (catalog, url) = fresh_postgres().await;
        Self {
            catalog,
            backend: CatalogBackend::Postgres,
            url,
            dir: None,
        }
    }

    /// Opens the same database again with `cipher`, applying migrations again.
    pub async fn reconnect(&self, cipher: Cipher) -> anyhow::Result<Catalog> {
        match self.backend {
            CatalogBackend::Sqlite => {
                manifold::catalog::sqlite::connect(&self.url, 2, cipher).await
            }
            CatalogBackend::Postgres => {
                manifold::catalog::postgres::connect(&self.url, 2, cipher).await
            }
        }
    }

    /// Runs `sql` (which must select one text column) on a separate raw
    /// connection, binding `params` as `$1`, `$2`, …, and returns every row.
    pub async fn raw_texts(&self, sql: &'static str, params: &[&str]) -> Vec<String> {
        let run = async {
            match self.backend {
                CatalogBackend::Sqlite => {
                    let mut conn = SqliteConnection::connect(&self.url).await?;
                    let mut query = sqlx::query_scalar::<_, String>(sql);
                    for p in params {
                        query = query.bind(*p);
                    }
                    query.fetch_all(&mut conn).await
                }
                CatalogBackend::Postgres => {
                    let mut conn = PgConnection::connect(&self.url).await?;
                    let mut query = sqlx::query_scalar::<_, String>(sql);
                    for p in params {
                        query = query.bind(*p);
                    }
                    query.fetch_all(&mut conn).await
                }
            }
        };
        run.await
            .unwrap_or_else(|e| panic!("raw query `{sql}` on {}: {e}", self.url))
    }

    /// Removes the database (PostgreSQL) or folder (SQLite).
    pub async fn destroy(self) {
        let Self {
            catalog, url, dir, ..
        } = self;
        drop(catalog);
        match dir {
            Some(dir) => dir.close().expect("removing the SQLite folder"),
            None => drop_postgres_database(&url).await,
        }
    }
}
