//! The service's toolset rules over each backend: who may create, see,
//! change and delete a toolset, what its entries may name, and the events
//! a change publishes.

use manifold::catalog::events::{CatalogAction, CatalogKind};
use manifold::catalog::input::{NewToolset, ToolsetPatch};
use manifold::catalog::service::ListParams;
use manifold::catalog::{CatalogService, ToolsetEntry, ToolsetExposure};
use manifold::ids::SessionId;
use manifold::principal::{Credential, Principal, Role};

use super::{TestDb, TestResult, assert_error, server};

fn who(user: &str, role: Role) -> Principal {
    Principal {
        user_id: user.into(),
        role,
        session: SessionId::parse(user).expect("a session id"),
        credential: Credential::Jwt { issuer: None },
    }
}

fn entry(server: &str, tool: &str) -> ToolsetEntry {
    ToolsetEntry {
        server: server.into(),
        tool: tool.into(),
        expose_as: None,
        description: None,
        annotations: None,
    }
}

fn new(name: &str, entries: Vec<ToolsetEntry>) -> NewToolset {
    NewToolset {
        name: name.into(),
        entries,
        ..NewToolset::default()
    }
}

/// A service over `db` with servers `shared` (public, admin's), `mine`
/// (alice's) and `theirs` (bob's).
async fn service(db: &TestDb) -> anyhow::Result<CatalogService> {
    for (n, owner, public) in [
        ("shared", "admin", true),
        ("mine", "alice", false),
        ("theirs", "bob", false),
    ] {
        db.catalog.insert_server(&server(n, owner, public)).await?;
    }
    Ok(CatalogService::new(db.catalog.clone()))
}

pub(super) async fn users_create_private_toolsets_of_servers_they_can_see(
    db: &TestDb,
) -> TestResult {
    let svc = service(db).await?;
    let alice = who("alice", Role::User);
    let made = svc
        .create_toolset(
            &alice,
            new(
                " triage ",
                vec![entry("shared", "get_*"), entry("mine", "echo")],
            ),
        )
        .await?;
    assert_eq!(made.name.as_str(), "triage");
    assert_eq!(made.title, "triage", "the title defaults to the name");
    assert_eq!(made.owner, "alice");
    assert_eq!(made.exposure, ToolsetExposure::All);
    assert!(!made.is_public && !made.resources && !made.prompts);
    assert_eq!(db.catalog.get_toolset(&made.id).await?, Some(made.clone()));

    for (i, missing) in [(1, "theirs"), (1, "nowhere")] {
        assert_error(
            svc.create_toolset(
                &alice,
                new("other", vec![entry("mine", "x"), entry(missing, "x")]),
            )
            .await,
            "server_not_found",
            &format!("entries[{i}].server"),
        );
    }
    assert_error(
        svc.create_toolset(&alice, new("triage", Vec::new())).await,
        "toolset_name_taken",
        "name",
    );
    assert_error(
        svc.create_toolset(&alice, new("Bad Name", Vec::new()))
            .await,
        "invalid_toolset_name",
        "name",
    );
    assert_error(
        svc.create_toolset(&alice, new("glob", vec![entry("mine", "")]))
            .await,
        "invalid_toolset_entry",
        "entries[0].tool",
    );
    let public = NewToolset {
        is_public: true,
        ..new("public", Vec::new())
    };
    let err = svc
        .create_toolset(&alice, public.clone())
        .await
        .expect_err("users do not publish");
    assert_eq!(err.code(), "forbidden");
    let anonymous = who("anon_x", Role::Anonymous);
    let err = svc
        .create_toolset(&anonymous, new("anon", Vec::new()))
        .await
        .expect_err("anonymous callers make nothing");
    assert_eq!(err.code(), "forbidden");

    // An admin's own toolset may name any server, and be public.
    let admin = who("root", Role::Admin);
    let published = svc
        .create_toolset(
            &admin,
            NewToolset {
                entries: vec![entry("theirs", "x")],
                ..public
            },
        )
        .await?;
    assert!(published.is_public);
    Ok(())
}

pub(super) async fn private_toolsets_are_not_found_by_other_users(db: &TestDb) -> TestResult {
    let svc = service(db).await?;
    let (alice, bob, admin) = (
        who("alice", Role::User),
        who("bob", Role::User),
        who("root", Role::Admin),
    );
    let private = svc
        .create_toolset(&alice, new("a-private", Vec::new()))
        .await?;
    let public = svc
        .create_toolset(
            &admin,
            NewToolset {
                is_public: true,
                ..new("b-public", Vec::new())
            },
        )
        .await?;
    svc.create_toolset(&bob, new("c-bob", Vec::new())).await?;

    for key in [private.id.as_str(), "a-private"] {
        assert_eq!(svc.get_toolset(&alice, key).await?, private);
        assert_eq!(svc.get_toolset(&admin, key).await?, private);
        let err = svc.get_toolset(&bob, key).await.expect_err("hidden");
        assert_eq!(err.code(), "toolset_not_found");
    }
    assert_eq!(svc.get_toolset(&bob, "b-public").await?, public);
    let err = svc.get_toolset(&bob, "nope").await.expect_err("absent");
    assert_eq!(err.code(), "toolset_not_found");

    let names = |page: &manifold::catalog::service::Page<manifold::catalog::Toolset>| {
        page.items
            .iter()
            .map(|t| t.name.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let bobs = svc.list_toolsets(&bob, &ListParams::default()).await?;
    assert_eq!(names(&bobs), ["b-public", "c-bob"]);
    let first = svc
        .list_toolsets(
            &admin,
            &ListParams {
                limit: Some(2),
                ..ListParams::default()
            },
        )
        .await?;
    assert_eq!(names(&first), ["a-private", "b-public"]);
    let rest = svc
        .list_toolsets(
            &admin,
            &ListParams {
                limit: Some(2),
                cursor: first.next_cursor.clone(),
                ..ListParams::default()
            },
        )
        .await?;
    assert_eq!(names(&rest), ["c-bob"]);
    assert_eq!(rest.next_cursor, None);
    Ok(())
}

pub(super) async fn only_the_owner_or_an_admin_changes_a_toolset_and_only_admins_publish(
    db: &TestDb,
) -> TestResult {
    let svc = service(db).await?;
    let (alice, bob, admin) = (
        who("alice", Role::User),
        who("bob", Role::User),
        who("root", Role::Admin),
    );
    let made = svc
        .create_toolset(&alice, new("triage", vec![entry("mine", "echo")]))
        .await?;
    let patch = ToolsetPatch {
        title: Some("Triage".into()),
        exposure: Some(ToolsetExposure::Search),
        entries: Some(vec![ToolsetEntry {
            expose_as: Some("say".into()),
            ..entry("shared", "echo")
        }]),
        ..ToolsetPatch::default()
    };
    let changed = svc.update_toolset(&alice, "triage", patch).await?;
    assert_eq!(changed.title, "Triage");
    assert_eq!(changed.exposure, ToolsetExposure::Search);
    assert_eq!(changed.entries.len(), 1);
    assert_eq!(changed.name, made.name, "absent fields stay");
    assert_eq!(changed.created_at, made.created_at);

    let err = svc
        .update_toolset(
            &bob,
            "triage",
            ToolsetPatch {
                title: Some("Mine now".into()),
                ..ToolsetPatch::default()
            },
        )
        .await
        .expect_err("bob cannot see it");
    assert_eq!(err.code(), "toolset_not_found");
    let publish = ToolsetPatch {
        is_public: Some(true),
        ..ToolsetPatch::default()
    };
    let err = svc
        .update_toolset(&alice, "triage", publish.clone())
        .await
        .expect_err("users do not publish");
    assert_eq!(err.code(), "forbidden");
    // An admin changing alice's toolset checks servers against alice.
    assert_error(
        svc.update_toolset(
            &admin,
            "triage",
            ToolsetPatch {
                entries: Some(vec![entry("theirs", "x")]),
                ..ToolsetPatch::default()
            },
        )
        .await,
        "server_not_found",
        "entries[0].server",
    );
    let public = svc.update_toolset(&admin, "triage", publish).await?;
    assert!(public.is_public);

    // Now bob sees it, but may not change or delete it.
    let err = svc
        .update_toolset(&bob, "triage", ToolsetPatch::default())
        .await
        .expect_err("not bob's");
    assert_eq!(err.code(), "forbidden");
    let err = svc
        .delete_toolset(&bob, "triage")
        .await
        .expect_err("not bob's");
    assert_eq!(err.code(), "forbidden");
    let err = svc
        .delete_toolset(&alice, "triage")
        .await
        .expect_err("a public toolset is the admins'");
    assert_eq!(err.code(), "forbidden");
    svc.delete_toolset(&admin, made.id.as_str()).await?;
    let err = svc
        .get_toolset(&admin, "triage")
        .await
        .expect_err("deleted");
    assert_eq!(err.code(), "toolset_not_found");
    Ok(())
}

pub(super) async fn every_change_is_announced_to_its_audience(db: &TestDb) -> TestResult {
    let svc = service(db).await?;
    let mut rx = svc.events().subscribe();
    let (alice, bob) = (who("alice", Role::User), who("bob", Role::User));
    let made = svc
        .create_toolset(&alice, new("triage", Vec::new()))
        .await?;
    svc.update_toolset(
        &alice,
        "triage",
        ToolsetPatch {
            prompts: Some(true),
            ..ToolsetPatch::default()
        },
    )
    .await?;
    svc.delete_toolset(&alice, "triage").await?;
    for action in [
        CatalogAction::Created,
        CatalogAction::Updated,
        CatalogAction::Deleted,
    ] {
        let event = rx.try_recv()?;
        assert_eq!(event.kind, CatalogKind::Toolset);
        assert_eq!(event.id, made.id.as_str());
        assert_eq!(event.action, action);
        assert!(event.visible_to(&alice));
        assert!(
            !event.visible_to(&bob),
            "a private toolset's news is alice's"
        );
    }
    assert!(rx.try_recv().is_err(), "one event per change");
    Ok(())
}
