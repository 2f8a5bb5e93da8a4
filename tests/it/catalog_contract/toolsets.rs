//! Toolsets in the store: round trips of every field, unique names,
//! listing by visibility and pages by name.

use manifold::catalog::{Toolset, ToolsetEntry, ToolsetExposure, ToolsetName, ToolsetQuery};
use manifold::error::Error;
use manifold::ids::ToolsetId;
use serde_json::json;

use super::{TestDb, TestResult, assert_error, at};

fn toolset_name(raw: &str) -> ToolsetName {
    ToolsetName::parse(raw).expect("a valid toolset name")
}

/// A toolset with every optional field filled in.
pub(super) fn toolset(raw_name: &str, owner: &str, is_public: bool) -> Toolset {
    Toolset {
        id: ToolsetId::generate(),
        name: toolset_name(raw_name),
        title: format!("The {raw_name} toolset"),
        description: "Tools for triage\n\twith a tab".to_owned(),
        owner: owner.to_owned(),
        is_public,
        exposure: ToolsetExposure::Search,
        resources: true,
        prompts: true,
        entries: vec![
            ToolsetEntry {
                server: "github".to_owned(),
                tool: "search_issues".to_owned(),
                expose_as: Some("find-issues".to_owned()),
                description: Some("Finds issues. ünïcødé 🔎".to_owned()),
                annotations: Some(json!({"readOnlyHint": true, "title": "Find"})),
            },
            ToolsetEntry {
                server: "files".to_owned(),
                tool: "read_*".to_owned(),
                expose_as: None,
                description: None,
                annotations: None,
            },
        ],
        created_at: at(20),
        updated_at: at(21),
    }
}

fn names_of_toolsets(list: &[Toolset]) -> Vec<&str> {
    list.iter().map(|t| t.name.as_str()).collect()
}

fn query(visible_to: Option<&str>, after: Option<&str>, limit: u32) -> ToolsetQuery {
    ToolsetQuery {
        visible_to: visible_to.map(str::to_owned),
        after: after.map(str::to_owned),
        limit,
    }
}

pub(super) async fn toolsets_round_trip_every_field(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let original = toolset("triage", "alice", false);
    c.insert_toolset(&original).await?;
    assert_eq!(c.get_toolset(&original.id).await?, Some(original.clone()));
    assert_eq!(
        c.get_toolset_by_name(&toolset_name("triage")).await?,
        Some(original.clone())
    );
    assert_eq!(c.get_toolset(&ToolsetId::generate()).await?, None);
    assert_eq!(c.get_toolset_by_name(&toolset_name("other")).await?, None);

    // Every column but id and created_at changes.
    let updated = Toolset {
        id: original.id.clone(),
        name: toolset_name("review"),
        title: "Review".to_owned(),
        description: String::new(),
        owner: "bob".to_owned(),
        is_public: true,
        exposure: ToolsetExposure::All,
        resources: false,
        prompts: false,
        entries: Vec::new(),
        created_at: at(900),
        updated_at: at(901),
    };
    c.update_toolset(&updated).await?;
    let expected = Toolset {
        created_at: original.created_at,
        ..updated
    };
    assert_eq!(c.get_toolset(&original.id).await?, Some(expected.clone()));
    assert_eq!(
        c.get_toolset_by_name(&toolset_name("review")).await?,
        Some(expected)
    );
    assert_eq!(
        c.get_toolset_by_name(&toolset_name("triage")).await?,
        None,
        "renamed"
    );

    assert!(c.delete_toolset(&original.id).await?);
    assert_eq!(c.get_toolset(&original.id).await?, None);
    assert!(!c.delete_toolset(&original.id).await?);
    Ok(())
}

pub(super) async fn updating_a_missing_toolset_is_not_found(db: &TestDb) -> TestResult {
    let ghost = toolset("ghost", "alice", true);
    let err = db
        .catalog
        .update_toolset(&ghost)
        .await
        .expect_err("nothing to update");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.code(), "toolset_not_found");
    assert_eq!(
        db.catalog.get_toolset(&ghost.id).await?,
        None,
        "update must not insert"
    );
    Ok(())
}

pub(super) async fn toolset_names_are_unique(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let first = toolset("triage", "alice", false);
    c.insert_toolset(&first).await?;
    let err = assert_error(
        c.insert_toolset(&toolset("triage", "bob", true)).await,
        "toolset_name_taken",
        "name",
    );
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");

    let second = toolset("review", "bob", false);
    c.insert_toolset(&second).await?;
    let renamed = Toolset {
        name: toolset_name("triage"),
        ..second.clone()
    };
    assert_error(
        c.update_toolset(&renamed).await,
        "toolset_name_taken",
        "name",
    );
    assert_eq!(c.get_toolset(&second.id).await?, Some(second), "unchanged");
    assert_eq!(c.get_toolset(&first.id).await?, Some(first), "unchanged");
    Ok(())
}

pub(super) async fn toolsets_are_listed_by_visibility_and_paged_by_name(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    for (n, owner, public) in [
        ("e-public", "admin", true),
        ("a-alice", "alice", false),
        ("d-bob", "bob", false),
        ("c-alice", "alice", false),
        ("b-public", "bob", true),
    ] {
        c.insert_toolset(&toolset(n, owner, public)).await?;
    }
    let all = c.list_toolsets(&query(None, None, 10)).await?;
    assert_eq!(
        names_of_toolsets(&all),
        ["a-alice", "b-public", "c-alice", "d-bob", "e-public"]
    );
    let alice = c.list_toolsets(&query(Some("alice"), None, 10)).await?;
    assert_eq!(
        names_of_toolsets(&alice),
        ["a-alice", "b-public", "c-alice", "e-public"]
    );
    let carol = c.list_toolsets(&query(Some("carol"), None, 10)).await?;
    assert_eq!(names_of_toolsets(&carol), ["b-public", "e-public"]);

    let first = c.list_toolsets(&query(Some("alice"), None, 2)).await?;
    assert_eq!(names_of_toolsets(&first), ["a-alice", "b-public"]);
    let next = c
        .list_toolsets(&query(Some("alice"), Some("b-public"), 2))
        .await?;
    assert_eq!(names_of_toolsets(&next), ["c-alice", "e-public"]);
    let last = c
        .list_toolsets(&query(Some("alice"), Some("e-public"), 2))
        .await?;
    assert!(last.is_empty());
    let admin_page = c.list_toolsets(&query(None, Some("b-public"), 2)).await?;
    assert_eq!(names_of_toolsets(&admin_page), ["c-alice", "d-bob"]);
    Ok(())
}
