//! The `CatalogStore` contract: one suite, run against SQLite and PostgreSQL
//! (`catalog_contract::sqlite::…`, `catalog_contract::postgres::…`). Each test
//! gets a fresh database of its own.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use manifold::auth::Role;
use manifold::catalog::{
    ApiKey, Category, CategoryQuery, SecretMap, Server, ServerName, ServerQuery, Transport,
};
use manifold::error::Error;
use manifold::ids::{ApiKeyId, CategoryId, ServerId};
use manifold::secret::Secret;

use crate::support::db::{self, TestDb};

type TestResult = anyhow::Result<()>;

/// Instantiates every listed test once per backend; the database of a test
/// that passes is removed afterwards (a failing one is kept to look at).
macro_rules! contract_suite {
    ($($test:ident),* $(,)?) => {
        contract_suite!(@backend sqlite; $($test),*);
        contract_suite!(@backend postgres; $($test),*);
    };
    (@backend $backend:ident; $($test:ident),*) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() -> super::TestResult {
                    let db = super::TestDb::$backend().await;
                    super::$test(&db).await?;
                    db.destroy().await;
                    Ok(())
                }
            )*
        }
    };
}

contract_suite!(
    answers_ping_and_names_its_backend,
    categories_round_trip_through_insert_get_update_delete,
    updating_a_missing_category_is_not_found,
    category_names_are_unique_ignoring_case,
    unicode_category_names_round_trip_and_compare_ignoring_case,
    categories_are_searched_and_paged_by_lowercase_name,
    search_treats_like_wildcards_literally,
    servers_round_trip_every_field,
    updating_a_missing_server_is_not_found,
    server_secrets_are_sealed_at_rest,
    server_names_are_unique,
    a_server_in_an_unknown_category_is_rejected,
    deleting_a_category_uncategorises_its_servers,
    servers_are_filtered_by_visibility_and_category,
    servers_are_paged_by_name,
    api_keys_are_found_touched_revoked_counted_and_listed,
    timestamps_are_kept_to_the_microsecond,
    migrations_applied_twice_are_idempotent,
);

// ------------------------------------------------------------------ fixtures

/// A fixed instant with microseconds, `secs` seconds after a base time.
fn at(secs: i64) -> DateTime<Utc> {
    let base = Utc
        .with_ymd_and_hms(2025, 3, 14, 15, 9, 26)
        .single()
        .expect("a valid date");
    base + Duration::microseconds(535_897) + Duration::seconds(secs)
}

fn category(name: &str) -> Category {
    Category {
        id: CategoryId::generate(),
        name: name.to_owned(),
        icon: Some("🗂️".to_owned()),
        color: Some("#336699".to_owned()),
        description: format!("all about {name}"),
        created_at: at(0),
        updated_at: at(1),
    }
}

fn secrets(pairs: &[(&str, &str)]) -> SecretMap {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Secret::new((*v).to_owned())))
        .collect()
}

fn name(raw: &str) -> ServerName {
    ServerName::parse(raw).expect("a valid server name")
}

/// A network server with every optional field filled in.
fn server(raw_name: &str, owner: &str, is_public: bool) -> Server {
    Server {
        id: ServerId::generate(),
        name: name(raw_name),
        title: format!("The {raw_name} server"),
        description: "Talks to things".to_owned(),
        transport: Transport::StreamableHttp,
        url: Some(format!("https://{raw_name}.example.com/mcp")),
        query_params: BTreeMap::from([
            ("region".to_owned(), "eu-west".to_owned()),
            ("v".to_owned(), "2".to_owned()),
        ]),
        headers: secrets(&[("Authorization", "Bearer header-plaintext-1")]),
        command: Some("unused-for-http".to_owned()),
        args: vec!["--flag".to_owned(), "value with spaces".to_owned()],
        env: secrets(&[("API_TOKEN", "env-plaintext-1")]),
        cwd: Some("/srv/work".to_owned()),
        requires_oauth2: true,
        is_public,
        owner: owner.to_owned(),
        category_id: None,
        enabled: true,
        created_at: at(10),
        updated_at: at(11),
    }
}

fn api_key(user: &str, role: Role, created: i64) -> ApiKey {
    let id = ApiKeyId::generate();
    ApiKey {
        hash: manifold::secret::sha256_hex(id.as_str().as_bytes()),
        prefix: format!("mfk_{}", &id.as_str()[4..8]),
        id,
        user_id: user.to_owned(),
        role,
        created_at: at(created),
        last_used_at: None,
        revoked_at: None,
    }
}

fn page(after: Option<&str>, limit: u32) -> CategoryQuery {
    CategoryQuery {
        search: None,
        after: after.map(str::to_owned),
        limit,
    }
}

fn names_of_categories(list: &[Category]) -> Vec<&str> {
    list.iter().map(|c| c.name.as_str()).collect()
}

fn names_of_servers(list: &[Server]) -> Vec<&str> {
    list.iter().map(|s| s.name.as_str()).collect()
}

/// Asserts the variant, code and field of a failed call.
fn assert_error<T: std::fmt::Debug>(result: manifold::error::Result<T>, code: &str, field: &str) {
    let err = result.expect_err("the call must fail");
    assert_eq!(err.code(), code, "unexpected error: {err}");
    assert_eq!(err.field(), Some(field), "unexpected field in: {err}");
}

// ------------------------------------------------------------------ tests

async fn answers_ping_and_names_its_backend(db: &TestDb) -> TestResult {
    db.catalog.ping().await?;
    assert_eq!(db.catalog.backend(), db.backend);
    Ok(())
}

async fn categories_round_trip_through_insert_get_update_delete(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let original = category("Productivity");
    c.insert_category(&original).await?;
    assert_eq!(c.get_category(&original.id).await?, Some(original.clone()));
    assert_eq!(c.get_category(&CategoryId::generate()).await?, None);

    let updated = Category {
        name: "Deep Work".to_owned(),
        icon: None,
        color: Some("#000000".to_owned()),
        description: String::new(),
        // Ignored: created_at is never rewritten.
        created_at: at(500),
        updated_at: at(600),
        ..original.clone()
    };
    c.update_category(&updated).await?;
    let stored = c.get_category(&original.id).await?.context("still there")?;
    assert_eq!(
        stored,
        Category {
            created_at: original.created_at,
            ..updated
        }
    );
    // The old name is free again, the new one is taken.
    c.insert_category(&category("productivity")).await?;
    assert_error(
        c.insert_category(&category("DEEP WORK")).await,
        "category_name_taken",
        "name",
    );

    assert!(c.delete_category(&original.id).await?);
    assert_eq!(c.get_category(&original.id).await?, None);
    assert!(
        !c.delete_category(&original.id).await?,
        "a second delete finds nothing"
    );
    assert_eq!(c.count_categories(None).await?, 1);
    Ok(())
}

async fn updating_a_missing_category_is_not_found(db: &TestDb) -> TestResult {
    let result = db.catalog.update_category(&category("Ghost")).await;
    let err = result.expect_err("nothing to update");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.code(), "category_not_found");
    assert_eq!(
        db.catalog.count_categories(None).await?,
        0,
        "update must not insert"
    );
    Ok(())
}

async fn category_names_are_unique_ignoring_case(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    c.insert_category(&category("Productivity")).await?;
    let err = c
        .insert_category(&category("productivity"))
        .await
        .expect_err("same name, other case");
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(err.code(), "category_name_taken");
    assert_eq!(err.field(), Some("name"));
    assert!(err.to_string().contains("productivity"), "{err}");

    // Renaming another category onto a taken name is the same conflict.
    let other = category("Games");
    c.insert_category(&other).await?;
    let renamed = Category {
        name: "PRODUCTIVITY".to_owned(),
        ..other.clone()
    };
    assert_error(
        c.update_category(&renamed).await,
        "category_name_taken",
        "name",
    );
    assert_eq!(
        c.get_category(&other.id).await?.map(|x| x.name),
        Some("Games".to_owned())
    );
    // Changing only the case of one's own name is fine.
    let recased = Category {
        name: "GAMES".to_owned(),
        ..other
    };
    c.update_category(&recased).await?;
    assert_eq!(c.count_categories(None).await?, 2);
    Ok(())
}

async fn unicode_category_names_round_trip_and_compare_ignoring_case(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let original = category("Éducation Ärger 日本語 🎓");
    c.insert_category(&original).await?;
    assert_eq!(c.get_category(&original.id).await?, Some(original.clone()));
    // Non-ASCII letters fold too (SQL's own LOWER/LIKE would not on SQLite).
    assert_error(
        c.insert_category(&category("éducation ärger 日本語 🎓"))
            .await,
        "category_name_taken",
        "name",
    );
    c.insert_category(&category("Straße")).await?;
    let found = c
        .list_categories(&CategoryQuery {
            search: Some("ÄRGER".to_owned()),
            after: None,
            limit: 10,
        })
        .await?;
    assert_eq!(found, vec![original]);
    assert_eq!(
        c.count_categories(Some("STRASSE")).await?,
        0,
        "no full case folding"
    );
    assert_eq!(c.count_categories(Some("STRAẞE")).await?, 1);
    Ok(())
}

async fn categories_are_searched_and_paged_by_lowercase_name(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    // Inserted out of order and in mixed case.
    for n in [
        "echo", "Bravo", "golf", "alpha", "Foxtrot", "Delta", "charlie",
    ] {
        c.insert_category(&category(n)).await?;
    }
    let expected = [
        "alpha", "Bravo", "charlie", "Delta", "echo", "Foxtrot", "golf",
    ];

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let batch = c.list_categories(&page(after.as_deref(), 3)).await?;
        assert!(batch.len() <= 3);
        let Some(last) = batch.last() else { break };
        after = Some(last.name.to_lowercase());
        seen.extend(batch.iter().map(|x| x.name.clone()));
        pages += 1;
        assert!(pages <= 7, "paging does not advance: {seen:?}");
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3, "3 + 3 + 1");
    assert_eq!(c.count_categories(None).await?, 7);

    // The cursor is compared case-insensitively too.
    let rest = c.list_categories(&page(Some("DELTA"), 10)).await?;
    assert_eq!(names_of_categories(&rest), ["echo", "Foxtrot", "golf"]);

    // Search: case-insensitive substring, with its own count and cursor.
    let query = |search: &str, after: Option<&str>, limit| CategoryQuery {
        search: Some(search.to_owned()),
        after: after.map(str::to_owned),
        limit,
    };
    let hits = c.list_categories(&query("O", None, 10)).await?;
    assert_eq!(
        names_of_categories(&hits),
        ["Bravo", "echo", "Foxtrot", "golf"]
    );
    assert_eq!(c.count_categories(Some("O")).await?, 4);
    let second = c.list_categories(&query("o", Some("bravo"), 2)).await?;
    assert_eq!(names_of_categories(&second), ["echo", "Foxtrot"]);
    assert_eq!(c.count_categories(Some("zz")).await?, 0);
    assert!(c.list_categories(&query("zz", None, 10)).await?.is_empty());
    Ok(())
}

async fn search_treats_like_wildcards_literally(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    for n in ["100% Pure", "snake_case", "back\\slash", "plain"] {
        c.insert_category(&category(n)).await?;
    }
    let search = |s: &str| CategoryQuery {
        search: Some(s.to_owned()),
        after: None,
        limit: 10,
    };
    assert_eq!(
        names_of_categories(&c.list_categories(&search("%")).await?),
        ["100% Pure"]
    );
    assert_eq!(
        names_of_categories(&c.list_categories(&search("_")).await?),
        ["snake_case"]
    );
    assert_eq!(
        names_of_categories(&c.list_categories(&search("\\")).await?),
        ["back\\slash"]
    );
    assert_eq!(c.count_categories(Some("%")).await?, 1);
    assert_eq!(c.count_categories(Some("_")).await?, 1);
    assert_eq!(
        c.count_categories(Some("")).await?,
        4,
        "an empty search matches all"
    );
    Ok(())
}

async fn servers_round_trip_every_field(db: &TestDb) -> TestResult {
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

async fn updating_a_missing_server_is_not_found(db: &TestDb) -> TestResult {
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

async fn server_secrets_are_sealed_at_rest(db: &TestDb) -> TestResult {
    let s = Server {
        headers: secrets(&[
            ("Authorization", "Bearer hunter2-very-secret"),
            ("X-Api-Key", "key-plain-42"),
        ]),
        env: secrets(&[("GITHUB_TOKEN", "ghp_plaintextvalue")]),
        ..server("vault", "alice", false)
    };
    db.catalog.insert_server(&s).await?;

    let raw = db
        .raw_texts(
            "SELECT CAST(headers AS TEXT) || ' ' || CAST(env AS TEXT) FROM servers WHERE id = $1",
            &[s.id.as_str()],
        )
        .await;
    let [raw] = raw.as_slice() else {
        panic!("one row expected, got {raw:?}")
    };
    for plain in ["hunter2-very-secret", "key-plain-42", "ghp_plaintextvalue"] {
        assert!(
            !raw.contains(plain),
            "plaintext `{plain}` in the table: {raw}"
        );
    }
    // Names stay readable; values are sealed text.
    for key in ["Authorization", "X-Api-Key", "GITHUB_TOKEN"] {
        assert!(raw.contains(key), "{raw}");
    }
    assert_eq!(raw.matches("\"v1:").count(), 3, "{raw}");

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

async fn server_names_are_unique(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let first = server("github", "alice", true);
    c.insert_server(&first).await?;
    let err = c
        .insert_server(&server("github", "bob", false))
        .await
        .expect_err("duplicate name");
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(err.code(), "server_name_taken");
    assert_eq!(err.field(), Some("name"));

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

async fn a_server_in_an_unknown_category_is_rejected(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let lost = Server {
        category_id: Some(CategoryId::generate()),
        ..server("lost", "alice", true)
    };
    let err = c.insert_server(&lost).await.expect_err("unknown category");
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert_eq!(err.code(), "category_not_found");
    assert_eq!(err.field(), Some("category_id"));
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

async fn deleting_a_category_uncategorises_its_servers(db: &TestDb) -> TestResult {
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

async fn servers_are_filtered_by_visibility_and_category(db: &TestDb) -> TestResult {
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

async fn servers_are_paged_by_name(db: &TestDb) -> TestResult {
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

async fn api_keys_are_found_touched_revoked_counted_and_listed(db: &TestDb) -> TestResult {
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

async fn timestamps_are_kept_to_the_microsecond(db: &TestDb) -> TestResult {
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

async fn migrations_applied_twice_are_idempotent(db: &TestDb) -> TestResult {
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
    assert_eq!(versions, ["1"], "the one migration is recorded once");
    Ok(())
}

// ------------------------------------------------------------------ SQLite only

mod sqlite_file {
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
}
