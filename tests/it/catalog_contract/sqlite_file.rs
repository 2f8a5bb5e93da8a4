//! What only the SQLite file can show (`catalog_contract::sqlite_file::…`).

use sqlx::Connection;

use crate::support::db;

#[tokio::test]
async fn creates_the_missing_folder_and_file_in_wal_mode() -> super::TestResult {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("not").join("yet").join("manifold.db");
    assert!(!file.parent().is_some_and(|p| p.exists()));
    let url = format!("sqlite://{}", file.display());

    let catalog = manifold::catalog::sqlite::connect(&url, 2, db::test_cipher()).await?;
    catalog.ping().await?;
    assert!(file.is_file(), "{} was not created", file.display());

    let mut raw = sqlx::SqliteConnection::connect(&url).await?;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await?;
    assert_eq!(mode, "wal");
    Ok(())
}
