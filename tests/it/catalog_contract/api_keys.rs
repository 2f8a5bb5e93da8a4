//! API keys: found by hash or id, touched, revoked, counted (in all and
//! per user), listed and paged.

use anyhow::Context;
use manifold::catalog::{ApiKey, ApiKeyQuery};
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

pub(super) async fn api_keys_are_got_by_id_paged_per_user_and_counted_per_user(
    db: &TestDb,
) -> TestResult {
    let c = &db.catalog;
    let mut named = api_key("alice", Role::User, 0);
    named.name = Some("laptop — ünïcode".to_owned());
    let mut keys = vec![named.clone()];
    for n in 1..5 {
        keys.push(api_key("alice", Role::User, n * 10));
    }
    // Two keys created in the same microsecond: ordered by id.
    keys.push(api_key("alice", Role::User, 40));
    keys.push(api_key("bob", Role::Admin, 25));
    for k in &keys {
        c.insert_api_key(k).await?;
    }
    assert_eq!(
        c.get_api_key(&named.id).await?,
        Some(named.clone()),
        "the name round-trips"
    );
    assert_eq!(c.get_api_key(&ApiKeyId::generate()).await?, None);
    assert_eq!(c.count_active_api_keys_of("alice").await?, 6);
    assert_eq!(c.count_active_api_keys_of("bob").await?, 1);
    assert_eq!(c.count_active_api_keys_of("carol").await?, 0);
    assert!(c.revoke_api_key(&keys[2].id, at(100)).await?);
    assert_eq!(c.count_active_api_keys_of("alice").await?, 5);
    assert!(
        c.get_api_key(&keys[2].id)
            .await?
            .is_some_and(|k| k.revoked_at == Some(at(100)))
    );

    // Alice's keys, revoked too, newest first (ties by id, descending), in pages of 2.
    let expected: Vec<&ApiKey> = keys.iter().filter(|k| k.user_id == "alice").collect();
    let mut query = ApiKeyQuery {
        user_id: Some("alice".to_owned()),
        include_revoked: true,
        after: None,
        limit: 2,
    };
    let mut seen = Vec::new();
    loop {
        let page = c.page_api_keys(&query).await?;
        let Some(last) = page.last() else { break };
        query.after = Some((last.created_at, last.id.clone()));
        seen.extend(page);
    }
    // Ties are ordered by id in the database's collation: compare as sets,
    // and the order by time.
    let mut expected_ids: Vec<&str> = expected.iter().map(|k| k.id.as_str()).collect();
    let mut seen_ids: Vec<&str> = seen.iter().map(|k| k.id.as_str()).collect();
    assert!(
        seen.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "newest first: {seen:?}"
    );
    assert_eq!(seen.len(), expected.len(), "each key once");
    expected_ids.sort_unstable();
    seen_ids.sort_unstable();
    assert_eq!(seen_ids, expected_ids);

    // Active only, everyone's.
    let active = c
        .page_api_keys(&ApiKeyQuery {
            user_id: None,
            include_revoked: false,
            after: None,
            limit: 50,
        })
        .await?;
    assert_eq!(active.len(), 6, "{active:?}");
    assert!(active.iter().all(|k| k.revoked_at.is_none()));
    assert!(active.iter().any(|k| k.user_id == "bob"));
    Ok(())
}
