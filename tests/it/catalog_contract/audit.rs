//! The audit trail over each backend: batched inserts read back whole,
//! filters, pages newest first, retention, and the service's rule that
//! only admins read other users' events.

use chrono::{Duration, Utc};
use manifold::catalog::CatalogService;
use manifold::catalog::audit::{AuditEvent, AuditQuery, kind};
use manifold::catalog::service::AuditParams;
use manifold::error::ErrorCode;
use manifold::ids::SessionId;
use manifold::principal::{Credential, Principal, Role};
use serde_json::json;

use super::{TestDb, TestResult, at};

fn who(user: &str, role: Role) -> Principal {
    Principal {
        user_id: user.into(),
        role,
        session: SessionId::parse(user).expect("a session id"),
        credential: Credential::Jwt { issuer: None },
    }
}

/// A tool call of `user` to `server`'s `tool`, `secs` after the base time.
fn call(user: &str, server: &str, tool: &str, outcome: &str, secs: i64) -> AuditEvent {
    let mut event = AuditEvent::new(kind::TOOL_CALL, &who(user, Role::User), "mcp");
    event.at = at(secs);
    event.server = Some(server.into());
    event.target = Some(format!("{server}__{tool}"));
    event.outcome = outcome.into();
    event.duration_ms = 1.25;
    event.request_bytes = 17;
    event.response_bytes = 230;
    event.mcp_session_id = Some("0123abcd".into());
    event.client_name = Some("langchain".into());
    event
}

fn query(limit: u32) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

pub async fn audit_events_are_written_in_one_batch_and_read_back_whole(db: &TestDb) -> TestResult {
    let mut first = call("ada", "github", "search", "ok", 0);
    first.arguments = Some(json!({"q": "rust", "token": "***", "n": [1, 2]}));
    first.key_id = Some("key_0123456789abcdef".into());
    first.credential = "api_key".into();
    let mut second = AuditEvent::new(kind::CATALOG_CHANGE, &who("root", Role::Admin), "api");
    second.at = at(1);
    second.detail = Some("server created".into());
    db.catalog
        .insert_audit_events(&[first.clone(), second.clone()])
        .await?;
    db.catalog.insert_audit_events(&[]).await?;
    let rows = db.catalog.list_audit_events(&query(10)).await?;
    let events: Vec<AuditEvent> = rows.iter().map(|r| r.event.clone()).collect();
    // Newest written first; every field as written.
    assert_eq!(events, vec![second, first]);
    assert!(rows[0].seq > rows[1].seq);
    Ok(())
}

pub async fn audit_events_are_filtered_and_paged_newest_first(db: &TestDb) -> TestResult {
    let events = vec![
        call("ada", "github", "search", "ok", 0),
        call("ada", "github", "create_issue", "upstream_timeout", 1),
        call("bob", "github", "search", "ok", 2),
        call("ada", "jira", "search", "tool_error", 3),
        call("ada", "github", "search", "ok", 4),
    ];
    db.catalog.insert_audit_events(&events).await?;
    let targets = |q: AuditQuery| async move {
        let rows = db.catalog.list_audit_events(&q).await?;
        anyhow::Ok(
            rows.into_iter()
                .map(|r| {
                    (
                        r.event.user_id,
                        r.event.target.unwrap_or_default(),
                        r.event.outcome,
                    )
                })
                .collect::<Vec<_>>(),
        )
    };
    let ada_github = targets(AuditQuery {
        user: Some("ada".into()),
        server: Some("github".into()),
        ..query(10)
    })
    .await?;
    assert_eq!(
        ada_github,
        vec![
            ("ada".into(), "github__search".into(), "ok".into()),
            (
                "ada".into(),
                "github__create_issue".into(),
                "upstream_timeout".into()
            ),
            ("ada".into(), "github__search".into(), "ok".into()),
        ]
    );
    let errors = targets(AuditQuery {
        outcome: Some("error".into()),
        ..query(10)
    })
    .await?;
    assert_eq!(
        errors.iter().map(|e| e.2.as_str()).collect::<Vec<_>>(),
        vec!["tool_error", "upstream_timeout"]
    );
    let one_tool = targets(AuditQuery {
        tool: Some("github__search".into()),
        since: Some(at(1)),
        until: Some(at(4)),
        ..query(10)
    })
    .await?;
    assert_eq!(
        one_tool,
        vec![("bob".into(), "github__search".into(), "ok".into())]
    );
    // Pages continue below the last row seen, without gaps or repeats.
    let page1 = db.catalog.list_audit_events(&query(2)).await?;
    let page2 = db
        .catalog
        .list_audit_events(&AuditQuery {
            before: page1.last().map(|r| r.seq),
            ..query(10)
        })
        .await?;
    let mut seen: Vec<i64> = page1.iter().chain(&page2).map(|r| r.seq).collect();
    assert_eq!(seen.len(), 5);
    seen.dedup();
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0] > w[1]));
    Ok(())
}

pub async fn retention_deletes_only_events_older_than_the_limit(db: &TestDb) -> TestResult {
    let mut old = call("ada", "github", "search", "ok", 0);
    old.at = Utc::now() - Duration::days(31);
    let mut recent = call("ada", "github", "search", "ok", 0);
    recent.at = Utc::now() - Duration::days(29);
    db.catalog
        .insert_audit_events(&[old, recent.clone()])
        .await?;
    let deleted = db
        .catalog
        .delete_audit_events_before(Utc::now() - Duration::days(30))
        .await?;
    assert_eq!(deleted, 1);
    let left = db.catalog.list_audit_events(&query(10)).await?;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event.id, recent.id);
    Ok(())
}

pub async fn users_read_only_their_own_events_and_admins_everyone(db: &TestDb) -> TestResult {
    db.catalog
        .insert_audit_events(&[
            call("ada", "github", "search", "ok", 0),
            call("bob", "github", "search", "ok", 1),
            call("bob", "jira", "search", "ok", 2),
        ])
        .await?;
    let service = CatalogService::new(db.catalog.clone());
    let users = |page: manifold::catalog::service::Page<AuditEvent>| {
        page.items
            .into_iter()
            .map(|e| e.user_id)
            .collect::<Vec<_>>()
    };
    let ada = service
        .list_audit_events(&who("ada", Role::User), AuditParams::default())
        .await?;
    assert_eq!(users(ada), vec!["ada"]);
    let refused = service
        .list_audit_events(
            &who("ada", Role::User),
            AuditParams {
                user: Some("bob".into()),
                ..AuditParams::default()
            },
        )
        .await;
    let err = refused.expect_err("another user's events are refused");
    assert_eq!(err.code(), ErrorCode::Forbidden);
    let admin = service
        .list_audit_events(&who("root", Role::Admin), AuditParams::default())
        .await?;
    assert_eq!(users(admin), vec!["bob", "bob", "ada"]);
    let paged = service
        .list_audit_events(
            &who("root", Role::Admin),
            AuditParams {
                user: Some("bob".into()),
                limit: Some(1),
                ..AuditParams::default()
            },
        )
        .await?;
    assert_eq!(paged.items.len(), 1);
    let rest = service
        .list_audit_events(
            &who("root", Role::Admin),
            AuditParams {
                user: Some("bob".into()),
                cursor: paged.next_cursor,
                ..AuditParams::default()
            },
        )
        .await?;
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].server.as_deref(), Some("github"));
    assert!(rest.next_cursor.is_none());
    Ok(())
}
