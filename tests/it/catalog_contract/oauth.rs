//! Per-user OAuth credentials: one sealed value per (user, server).

use chrono::Utc;
use manifold::error::Error;
use manifold::ids::ServerId;
use manifold::secret::Secret;

use super::{TestDb, TestResult, server};

fn value(text: &str) -> Secret<String> {
    Secret::new(text.to_owned())
}

fn opened(found: Option<Secret<String>>) -> Option<String> {
    found.map(|s| s.expose().clone())
}

pub(super) async fn oauth_credentials_are_kept_per_user_and_server_sealed(
    db: &TestDb,
) -> TestResult {
    let c = &db.catalog;
    let github = server("github", "admin", true);
    let jira = server("jira", "admin", true);
    c.insert_server(&github).await?;
    c.insert_server(&jira).await?;

    c.put_oauth_credentials("alice", &github.id, &value("alice-gh-token-1"), Utc::now())
        .await?;
    c.put_oauth_credentials("bob", &github.id, &value("bob-gh-token-1"), Utc::now())
        .await?;
    assert_eq!(
        opened(c.get_oauth_credentials("alice", &github.id).await?).as_deref(),
        Some("alice-gh-token-1")
    );
    assert_eq!(
        opened(c.get_oauth_credentials("bob", &github.id).await?).as_deref(),
        Some("bob-gh-token-1")
    );
    // Another server, or another user, has nothing.
    assert!(c.get_oauth_credentials("alice", &jira.id).await?.is_none());
    assert!(
        c.get_oauth_credentials("carol", &github.id)
            .await?
            .is_none()
    );

    // A refresh replaces the value in place.
    c.put_oauth_credentials("alice", &github.id, &value("alice-gh-token-2"), Utc::now())
        .await?;
    assert_eq!(
        opened(c.get_oauth_credentials("alice", &github.id).await?).as_deref(),
        Some("alice-gh-token-2")
    );

    // Never plaintext in the table.
    let raw = db
        .raw_texts(
            "SELECT user_id || ' ' || sealed FROM oauth_credentials ORDER BY user_id",
            &[],
        )
        .await;
    assert_eq!(raw.len(), 2, "{raw:?}");
    for row in &raw {
        assert!(!row.contains("token"), "plaintext in {row}");
        assert!(row.contains(" v1:"), "not sealed: {row}");
    }

    // Revoking one user's leaves the other's.
    assert!(c.delete_oauth_credentials("alice", &github.id).await?);
    assert!(!c.delete_oauth_credentials("alice", &github.id).await?);
    assert!(
        c.get_oauth_credentials("alice", &github.id)
            .await?
            .is_none()
    );
    assert_eq!(
        opened(c.get_oauth_credentials("bob", &github.id).await?).as_deref(),
        Some("bob-gh-token-1")
    );
    Ok(())
}

pub(super) async fn oauth_credentials_go_with_their_server(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let github = server("github", "admin", true);
    c.insert_server(&github).await?;
    c.put_oauth_credentials("alice", &github.id, &value("t1"), Utc::now())
        .await?;
    assert!(c.delete_server(&github.id).await?);
    assert!(
        c.get_oauth_credentials("alice", &github.id)
            .await?
            .is_none()
    );
    // No credentials for a server that does not exist.
    let err = c
        .put_oauth_credentials("alice", &ServerId::generate(), &value("t2"), Utc::now())
        .await
        .expect_err("no such server");
    assert!(
        matches!(
            err,
            Error::NotFound {
                code: manifold::error::ErrorCode::ServerNotFound,
                ..
            }
        ),
        "{err:?}"
    );
    let raw = db
        .raw_texts("SELECT user_id FROM oauth_credentials", &[])
        .await;
    assert!(raw.is_empty(), "{raw:?}");
    Ok(())
}
