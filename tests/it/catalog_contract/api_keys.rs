//! API keys: found by hash, touched, revoked, counted and listed.

use anyhow::Context;
use manifold::ids::ApiKeyId;
use manifold::principal::Role;

use super::{TestDb, TestResult, api_key, at};

pub(super) async fn api_keys_are_found_touched_revoked_counted_and_listed(
    db: &TestDb,
) -> TestResult {
    let c = &db.catalog;
    let oldest = api_key("admin", Role::Admin, 0);
    let middle = api_key("alice", Role::User, 60);
    let newest = api_key("alice", Role::User, 120);
    for k in [&middle, &oldest, &newest] {
        c.insert_api_key(k).await?;
    }
    assert_eq!(c.find_api_key(&middle.hash).await?, Some(middle.clone()));
    assert_eq!(c.find_api_key(&"0".repeat(64)).await?, None);
    assert_eq!(c.count_active_api_keys().await?, 3);
    assert_eq!(
        c.list_api_keys().await?,
        vec![newest.clone(), middle.clone(), oldest.clone()],
        "newest first"
    );

    c.touch_api_key(&oldest.id, at(300)).await?;
    let touched = c.find_api_key(&oldest.hash).await?.context("still there")?;
    assert_eq!(touched.last_used_at, Some(at(300)));
    assert_eq!(touched.revoked_at, None);
    c.touch_api_key(&ApiKeyId::generate(), at(300)).await?;

    assert!(c.revoke_api_key(&middle.id, at(400)).await?);
    assert!(
        !c.revoke_api_key(&middle.id, at(500)).await?,
        "already revoked"
    );
    assert!(
        !c.revoke_api_key(&ApiKeyId::generate(), at(400)).await?,
        "absent"
    );
    let revoked = c
        .find_api_key(&middle.hash)
        .await?
        .context("revoked keys are found")?;
    assert_eq!(
        revoked.revoked_at,
        Some(at(400)),
        "the first revocation time stays"
    );
    assert_eq!(c.count_active_api_keys().await?, 2);

    let listed = c.list_api_keys().await?;
    assert_eq!(listed.len(), 3, "revoked keys are still listed");
    assert_eq!(listed.get(1), Some(&revoked));
    assert_eq!(listed.get(2).and_then(|k| k.last_used_at), Some(at(300)));
    Ok(())
}
