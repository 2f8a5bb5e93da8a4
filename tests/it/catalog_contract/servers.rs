//! Servers one at a time: round trips, sealed secrets, unique names and
//! their category.

use std::collections::BTreeMap;

use anyhow::Context;
use manifold::catalog::tool_filter::ToolFilter;
use manifold::catalog::{SecretMap, Server, ServerQuery, Transport};
use manifold::error::Error;
use manifold::ids::{CategoryId, ServerId};
use manifold::secret::Secret;

use super::{TestDb, TestResult, assert_error, at, category, name, secrets, server};
use crate::support::db;

pub(super) async fn servers_round_trip_every_field(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let tools = category("Tools");
    c.insert_category(&tools).await?;
    let original = Server {
        category_id: Some(tools.id.clone()),
        ..server("github", "alice", false)
    };
    c.insert_server(&original).await?;
    assert_eq!(c.get_server(&original.id).await?, Some(original.clone()));
    assert_eq!(
        c.get_server_by_name(&name("github")).await?,
        Some(original.clone())
    );
    assert_eq!(c.get_server(&ServerId::generate()).await?, None);
    assert_eq!(c.get_server_by_name(&name("gitlab")).await?, None);

    // Every column but id and created_at changes.
    let updated = Server {
        id: original.id.clone(),
        name: name("local-files"),
        title: "Local files".to_owned(),
        description: String::new(),
        transport: Transport::Stdio,
        url: None,
        query_params: BTreeMap::new(),
        headers: SecretMap::new(),
        command: Some("npx".to_owned()),
        args: vec!["-y".to_owned(), "@mcp/files".to_owned(), String::new()],
        env: secrets(&[("HOME", "/home/mcp"), ("TOKEN", "t0k3n")]),
        cwd: None,
        requires_oauth2: false,
        is_public: true,
        owner: "bob".to_owned(),
        category_id: None,
        enabled: false,
        fail_closed: true,
        tool_filter: ToolFilter::default(),
        oauth_client_id: None,
        oauth_client_secret: None,
        oauth_scopes: Vec::new(),
        created_at: at(900),
        updated_at: at(901),
    };
    c.update_server(&updated).await?;
    let expected = Server {
        created_at: original.created_at,
        ..updated
    };
    assert_eq!(c.get_server(&original.id).await?, Some(expected.clone()));
    assert_eq!(
        c.get_server_by_name(&name("local-files")).await?,
        Some(expected)
    );
    assert_eq!(
        c.get_server_by_name(&name("github")).await?,
        None,
        "renamed"
    );

    // The other transports round-trip as well.
    for (n, transport) in [("ws", Transport::Websocket), ("sse", Transport::Sse)] {
        let s = Server {
            transport,
            ..server(n, "carol", true)
        };
        c.insert_server(&s).await?;
        assert_eq!(
            c.get_server(&s.id).await?.map(|x| x.transport),
            Some(transport)
        );
    }

    assert!(c.delete_server(&original.id).await?);
    assert_eq!(c.get_server(&original.id).await?, None);
    assert_eq!(c.get_server_by_name(&name("local-files")).await?, None);
    assert!(!c.delete_server(&original.id).await?);
    assert_eq!(
        c.get_category(&tools.id).await?,
        Some(tools),
        "the category stays"
    );
    Ok(())
}

pub(super) async fn servers_stored_before_fail_closed_existed_read_as_fail_open(
    db: &TestDb,
) -> TestResult {
    // A row written by a writer that knows nothing of `fail_closed`, as every
    // row stored before migration 2 was.
    let ids = db
        .raw_texts(
            "INSERT INTO servers (id, name, title, transport, url, owner, created_at, updated_at) \
             VALUES ('mcp_legacy0000000000', 'legacy', 'Legacy', 'streamable_http', \
             'https://legacy.example.com/mcp', 'alice', '2025-01-02T03:04:05Z', \
             '2025-01-02T03:04:05Z') RETURNING id",
            &[],
        )
        .await;
    assert_eq!(ids, ["mcp_legacy0000000000"]);
    let legacy = db
        .catalog
        .get_server_by_name(&name("legacy"))
        .await?
        .context("the legacy row reads back")?;
    assert!(!legacy.fail_closed, "old rows default to fail-open");
    assert!(legacy.enabled);

    let closed = Server {
        fail_closed: true,
        ..legacy.clone()
    };
    db.catalog.update_server(&closed).await?;
    assert_eq!(db.catalog.get_server(&legacy.id).await?, Some(closed));
    Ok(())
}

pub(super) async fn updating_a_missing_server_is_not_found(db: &TestDb) -> TestResult {
    let ghost = server("ghost", "alice", true);
    let err = db
        .catalog
        .update_server(&ghost)
        .await
        .expect_err("nothing to update");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.code(), "server_not_found");
    assert_eq!(
        db.catalog.get_server(&ghost.id).await?,
        None,
        "update must not insert"
    );
    Ok(())
}

pub(super) async fn server_secrets_are_sealed_at_rest(db: &TestDb) -> TestResult {
    let s = Server {
        headers: secrets(&[
            ("Authorization", "Bearer hunter2-very-secret"),
            ("X-Api-Key", "key-plain-42"),
        ]),
        env: secrets(&[("GITHUB_TOKEN", "ghp_plaintextvalue")]),
        oauth_client_secret: Some(Secret::new("oauth-secret-plain-7".to_owned())),
        ..server("vault", "alice", false)
    };
    db.catalog.insert_server(&s).await?;

    let raw = db
        .raw_texts(
            "SELECT CAST(headers AS TEXT) || ' ' || CAST(env AS TEXT) || ' ' || CAST(oauth_client AS TEXT) \
             FROM servers WHERE id = $1",
            &[s.id.as_str()],
        )
        .await;
    let [raw] = raw.as_slice() else {
        panic!("one row expected, got {raw:?}")
    };
    for plain in [
        "hunter2-very-secret",
        "key-plain-42",
        "ghp_plaintextvalue",
        "oauth-secret-plain-7",
    ] {
        assert!(
            !raw.contains(plain),
            "plaintext `{plain}` in the table: {raw}"
        );
    }
    // Names stay readable; values are sealed text.
    for key in ["Authorization", "X-Api-Key", "GITHUB_TOKEN"] {
        assert!(raw.contains(key), "{raw}");
    }
    assert_eq!(raw.matches("\"v1:").count(), 4, "{raw}");

    // The store opens them again...
    let back = db.catalog.get_server(&s.id).await?.context("stored")?;
    assert_eq!(back.headers, s.headers);
    assert_eq!(back.env, s.env);
    assert_eq!(
        back.headers
            .get("Authorization")
            .map(|v| v.expose().as_str()),
        Some("Bearer hunter2-very-secret")
    );
    // ...but only with the right key.
    let wrong_key = db.reconnect(db::cipher(99)).await?;
    let err = wrong_key.get_server(&s.id).await.expect_err("wrong key");
    assert_eq!(err.code(), "internal");
    Ok(())
}

pub(super) async fn server_names_are_unique(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let first = server("github", "alice", true);
    c.insert_server(&first).await?;
    let duplicate = c.insert_server(&server("github", "bob", false)).await;
    let err = assert_error(duplicate, "server_name_taken", "name");
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");

    let other = server("gitlab", "bob", false);
    c.insert_server(&other).await?;
    let renamed = Server {
        name: name("github"),
        ..other.clone()
    };
    assert_error(c.update_server(&renamed).await, "server_name_taken", "name");
    assert_eq!(c.get_server(&other.id).await?, Some(other));
    assert_eq!(c.get_server_by_name(&name("github")).await?, Some(first));
    Ok(())
}

pub(super) async fn a_server_in_an_unknown_category_is_rejected(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let lost = Server {
        category_id: Some(CategoryId::generate()),
        ..server("lost", "alice", true)
    };
    let err = assert_error(
        c.insert_server(&lost).await,
        "category_not_found",
        "category_id",
    );
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert_eq!(c.get_server(&lost.id).await?, None);

    let placed = server("placed", "alice", true);
    c.insert_server(&placed).await?;
    let moved = Server {
        category_id: Some(CategoryId::generate()),
        ..placed.clone()
    };
    assert_error(
        c.update_server(&moved).await,
        "category_not_found",
        "category_id",
    );
    assert_eq!(c.get_server(&placed.id).await?, Some(placed));
    Ok(())
}

pub(super) async fn deleting_a_category_uncategorises_its_servers(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let doomed = category("Doomed");
    let kept = category("Kept");
    c.insert_category(&doomed).await?;
    c.insert_category(&kept).await?;
    let in_doomed = |n: &str| Server {
        category_id: Some(doomed.id.clone()),
        ..server(n, "alice", true)
    };
    let (a, b) = (in_doomed("a"), in_doomed("b"));
    let other = Server {
        category_id: Some(kept.id.clone()),
        ..server("c", "alice", true)
    };
    for s in [&a, &b, &other] {
        c.insert_server(s).await?;
    }

    assert!(c.delete_category(&doomed.id).await?);
    for s in [&a, &b] {
        let now = c.get_server(&s.id).await?.context("the server survives")?;
        assert_eq!(
            now,
            Server {
                category_id: None,
                ..s.clone()
            }
        );
    }
    assert_eq!(c.get_server(&other.id).await?, Some(other));
    let listed = c
        .list_servers(&ServerQuery {
            category_id: Some(doomed.id.clone()),
            limit: 10,
            ..ServerQuery::default()
        })
        .await?;
    assert!(listed.is_empty());
    Ok(())
}
