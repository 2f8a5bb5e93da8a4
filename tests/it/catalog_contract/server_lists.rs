//! Listing servers: who sees what, by category, page by page.

use manifold::catalog::{Server, ServerQuery};
use manifold::ids::CategoryId;

use super::{TestDb, TestResult, category, names_of_servers, secrets, server};

pub(super) async fn servers_are_filtered_by_visibility_and_category(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let dev = category("Dev");
    c.insert_category(&dev).await?;
    let in_dev = |s: Server| Server {
        category_id: Some(dev.id.clone()),
        ..s
    };
    for s in [
        server("alice-private", "alice", false),
        in_dev(server("alice-dev", "alice", false)),
        server("bob-private", "bob", false),
        in_dev(server("bob-public-dev", "bob", true)),
        server("carol-public", "carol", true),
    ] {
        c.insert_server(&s).await?;
    }
    let list = |visible_to: Option<&str>, category_id: Option<&CategoryId>| ServerQuery {
        visible_to: visible_to.map(str::to_owned),
        category_id: category_id.cloned(),
        after: None,
        limit: 100,
    };

    let all = c.list_servers(&list(None, None)).await?;
    assert_eq!(
        names_of_servers(&all),
        [
            "alice-dev",
            "alice-private",
            "bob-private",
            "bob-public-dev",
            "carol-public"
        ]
    );
    let alice = c.list_servers(&list(Some("alice"), None)).await?;
    assert_eq!(
        names_of_servers(&alice),
        [
            "alice-dev",
            "alice-private",
            "bob-public-dev",
            "carol-public"
        ]
    );
    assert!(alice.iter().all(|s| s.visible_to("alice")));
    let stranger = c.list_servers(&list(Some("mallory"), None)).await?;
    assert_eq!(
        names_of_servers(&stranger),
        ["bob-public-dev", "carol-public"]
    );

    let dev_all = c.list_servers(&list(None, Some(&dev.id))).await?;
    assert_eq!(names_of_servers(&dev_all), ["alice-dev", "bob-public-dev"]);
    let dev_bob = c.list_servers(&list(Some("bob"), Some(&dev.id))).await?;
    assert_eq!(names_of_servers(&dev_bob), ["bob-public-dev"]);
    let dev_alice = c.list_servers(&list(Some("alice"), Some(&dev.id))).await?;
    assert_eq!(
        names_of_servers(&dev_alice),
        ["alice-dev", "bob-public-dev"]
    );
    // Listed servers come back whole, secrets opened.
    assert_eq!(
        dev_alice.first().map(|s| s.env.clone()),
        Some(secrets(&[("API_TOKEN", "env-plaintext-1")]))
    );
    Ok(())
}

pub(super) async fn servers_are_paged_by_name(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let names = ["m1", "a-9", "z", "b", "a_1", "k", "0start", "a"];
    for n in names {
        c.insert_server(&server(n, if n < "k" { "alice" } else { "bob" }, false))
            .await?;
    }
    let mut expected: Vec<&str> = names.to_vec();
    expected.sort_unstable(); // byte order, as both backends sort

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let batch = c
            .list_servers(&ServerQuery {
                after: after.clone(),
                limit: 3,
                ..ServerQuery::default()
            })
            .await?;
        assert!(batch.len() <= 3);
        let Some(last) = batch.last() else { break };
        after = Some(last.name.as_str().to_owned());
        seen.extend(batch.iter().map(|s| s.name.as_str().to_owned()));
        assert!(
            seen.len() <= names.len(),
            "paging does not advance: {seen:?}"
        );
    }
    assert_eq!(seen, expected);

    // Paging composes with visibility.
    let alice_page = c
        .list_servers(&ServerQuery {
            visible_to: Some("alice".to_owned()),
            after: Some("a-9".to_owned()),
            limit: 2,
            ..ServerQuery::default()
        })
        .await?;
    assert_eq!(names_of_servers(&alice_page), ["a_1", "b"]);
    Ok(())
}

pub(super) async fn fail_closed_servers_are_the_enabled_visible_ones_by_name(
    db: &TestDb,
) -> TestResult {
    let c = &db.catalog;
    let closed = |s: Server| Server {
        fail_closed: true,
        ..s
    };
    for s in [
        closed(server("z-public", "carol", true)),
        closed(server("alice-own", "alice", false)),
        closed(server("bob-own", "bob", false)),
        Server {
            enabled: false,
            ..closed(server("off", "carol", true))
        },
        server("open-public", "carol", true),
        server("alice-open", "alice", false),
    ] {
        c.insert_server(&s).await?;
    }
    assert_eq!(
        c.fail_closed_servers(None).await?,
        ["alice-own", "bob-own", "z-public"]
    );
    assert_eq!(
        c.fail_closed_servers(Some("alice")).await?,
        ["alice-own", "z-public"]
    );
    assert_eq!(c.fail_closed_servers(Some("mallory")).await?, ["z-public"]);
    Ok(())
}
