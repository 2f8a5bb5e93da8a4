//! The database itself: it answers, keeps time to the microsecond, and its
//! migrations apply once.

use anyhow::Context;
use chrono::{Duration, SubsecRound};
use manifold::catalog::Category;

use super::{TestDb, TestResult, at, category};
use crate::support::db;

pub(super) async fn answers_ping_and_names_its_backend(db: &TestDb) -> TestResult {
    db.catalog.ping().await?;
    assert_eq!(db.catalog.backend(), db.backend);
    Ok(())
}

pub(super) async fn timestamps_are_kept_to_the_microsecond(db: &TestDb) -> TestResult {
    let precise = at(0) + Duration::nanoseconds(789);
    let cat = Category {
        created_at: precise,
        updated_at: precise,
        ..category("Precise")
    };
    db.catalog.insert_category(&cat).await?;
    let back = db.catalog.get_category(&cat.id).await?.context("stored")?;
    assert_eq!(back.created_at, precise.trunc_subsecs(6));
    assert_eq!(back.created_at, at(0));
    assert_ne!(back.created_at, precise);
    Ok(())
}

pub(super) async fn migrations_applied_twice_are_idempotent(db: &TestDb) -> TestResult {
    let cat = category("Survivor");
    db.catalog.insert_category(&cat).await?;
    for _ in 0..2 {
        let again = db.reconnect(db::test_cipher()).await?;
        assert_eq!(again.get_category(&cat.id).await?, Some(cat.clone()));
    }
    let versions = db
        .raw_texts(
            "SELECT CAST(version AS TEXT) FROM _sqlx_migrations ORDER BY version",
            &[],
        )
        .await;
    assert_eq!(
        versions,
        ["1", "2", "3", "4", "5", "6", "8"],
        "each migration is recorded once"
    );
    Ok(())
}
