//! Categories: round trips, case-insensitive unique names, search and pages.

use anyhow::Context;
use manifold::catalog::{Category, CategoryQuery};
use manifold::error::Error;
use manifold::ids::CategoryId;

use super::{TestDb, TestResult, assert_error, at, category, names_of_categories, page};

pub(super) async fn categories_round_trip_through_insert_get_update_delete(
    db: &TestDb,
) -> TestResult {
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

pub(super) async fn updating_a_missing_category_is_not_found(db: &TestDb) -> TestResult {
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

pub(super) async fn category_names_are_unique_ignoring_case(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    c.insert_category(&category("Productivity")).await?;
    // Same name, other case.
    let err = assert_error(
        c.insert_category(&category("productivity")).await,
        "category_name_taken",
        "name",
    );
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
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

pub(super) async fn unicode_category_names_round_trip_and_compare_ignoring_case(
    db: &TestDb,
) -> TestResult {
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

pub(super) async fn categories_are_searched_and_paged_by_lowercase_name(db: &TestDb) -> TestResult {
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

pub(super) async fn search_treats_like_wildcards_literally(db: &TestDb) -> TestResult {
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
