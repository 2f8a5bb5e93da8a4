//! The secrets key check (a constant sealed with the catalog's key, recorded
//! the first time a key is used) and the re-sealing of every stored secret
//! under a new key.

use anyhow::Context;
use manifold::Settings;
use manifold::catalog::key_check::{self, Resealed};
use manifold::catalog::{SecretMap, Server};
use manifold::secret::Secret;

use super::{TestDb, TestResult, at, secrets, server};
use crate::support::db;

/// A server that holds no secret at all.
fn plain(raw_name: &str) -> Server {
    Server {
        headers: SecretMap::new(),
        env: SecretMap::new(),
        oauth_client_secret: None,
        ..server(raw_name, "alice", true)
    }
}

fn token(text: &str) -> Secret<String> {
    Secret::new(text.to_owned())
}

/// The one-line message of a refused key, checked for what it must name.
fn assert_names_the_key_to_set(err: &anyhow::Error) {
    let line = format!("{err:#}");
    assert!(!line.contains('\n'), "one line: {line}");
    for needle in [
        "secrets.encryption_key",
        "MANIFOLD_SECRETS__ENCRYPTION_KEY",
        "manifold secrets rotate --new-key",
    ] {
        assert!(line.contains(needle), "`{needle}` is not in: {line}");
    }
}

pub(super) async fn the_first_key_check_recorded_is_the_one_kept(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    assert_eq!(c.key_check().await?, None);
    let first = db::cipher(1).seal_key_check()?;
    assert_eq!(c.record_key_check(&first, at(0)).await?, first);
    let second = db::cipher(2).seal_key_check()?;
    assert_eq!(
        c.record_key_check(&second, at(1)).await?,
        first,
        "a later process gets the first key check back"
    );
    assert_eq!(c.key_check().await?, Some(first));
    Ok(())
}

pub(super) async fn a_key_that_does_not_open_the_key_check_is_refused(db: &TestDb) -> TestResult {
    let settings = Settings::default();
    key_check::verify(&db.catalog, &settings).await?;
    let stored = db.catalog.key_check().await?.context("recorded")?;
    assert!(db::test_cipher().opens_key_check(&stored));
    assert!(
        !stored.contains("manifold"),
        "the check is sealed: {stored}"
    );
    key_check::verify(&db.catalog, &settings).await?;
    assert_eq!(db.catalog.key_check().await?.as_ref(), Some(&stored));

    let other = db.reconnect(db::cipher(8)).await?;
    let err = key_check::verify(&other, &settings)
        .await
        .expect_err("another key is refused");
    assert_names_the_key_to_set(&err);

    // A key list that holds the catalog's key (as during a rotation) fits.
    let both = db
        .reconnect(db::cipher(8).also_opening(&db::test_cipher()))
        .await?;
    key_check::verify(&both, &settings).await?;
    assert_eq!(db.catalog.key_check().await?, Some(stored));
    Ok(())
}

pub(super) async fn a_catalog_with_secrets_and_no_key_check_takes_only_a_key_that_opens_them(
    db: &TestDb,
) -> TestResult {
    // A catalog written before key checks existed: secrets, no check.
    db.catalog
        .insert_server(&server("vault", "alice", false))
        .await?;
    let settings = Settings::default();
    let other = db.reconnect(db::cipher(8)).await?;
    let err = key_check::verify(&other, &settings)
        .await
        .expect_err("a key that opens no secret is refused");
    assert_names_the_key_to_set(&err);
    assert_eq!(db.catalog.key_check().await?, None, "nothing recorded");

    key_check::verify(&db.catalog, &settings).await?;
    let stored = db.catalog.key_check().await?.context("recorded")?;
    assert!(db::test_cipher().opens_key_check(&stored));
    Ok(())
}

pub(super) async fn any_sealed_value_finds_a_secret_of_every_kind(db: &TestDb) -> TestResult {
    let c = &db.catalog;
    let opened = |sealed: Option<String>| {
        sealed.map(|s| {
            db::test_cipher()
                .open(&s)
                .expect("sealed with the test key")
        })
    };
    assert_eq!(c.any_sealed_value().await?, None);
    let bare = plain("bare");
    c.insert_server(&bare).await?;
    assert_eq!(
        c.any_sealed_value().await?,
        None,
        "a server without secrets"
    );

    c.put_oauth_credentials("alice", &bare.id, &token("oauth-tok"), at(2))
        .await?;
    assert_eq!(
        opened(c.any_sealed_value().await?).as_deref(),
        Some("oauth-tok")
    );
    c.delete_oauth_credentials("alice", &bare.id).await?;

    let kinds = [
        Server {
            headers: secrets(&[("X-Key", "in-a-header")]),
            ..bare.clone()
        },
        Server {
            env: secrets(&[("TOKEN", "in-the-env")]),
            ..bare.clone()
        },
        Server {
            oauth_client_secret: Some(token("a-client-secret")),
            ..bare.clone()
        },
    ];
    for (kind, expected) in kinds
        .iter()
        .zip(["in-a-header", "in-the-env", "a-client-secret"])
    {
        c.update_server(kind).await?;
        assert_eq!(
            opened(c.any_sealed_value().await?).as_deref(),
            Some(expected)
        );
    }
    Ok(())
}

pub(super) async fn a_rotation_reseals_every_secret_and_the_key_check_under_the_new_key(
    db: &TestDb,
) -> TestResult {
    let c = &db.catalog;
    key_check::verify(c, &Settings::default()).await?;
    let vault = server("vault", "alice", false);
    let tools = Server {
        headers: secrets(&[("Authorization", "Bearer h1"), ("X-Key", "h2")]),
        env: secrets(&[("A_TOKEN", "e1"), ("B_TOKEN", "e2")]),
        oauth_client_secret: None,
        ..server("tools", "bob", true)
    };
    let bare = plain("bare");
    for s in [&vault, &tools, &bare] {
        c.insert_server(s).await?;
    }
    c.put_oauth_credentials("alice", &vault.id, &token("alice-tok"), at(20))
        .await?;
    c.put_oauth_credentials("bob", &vault.id, &token("bob-tok"), at(21))
        .await?;

    let new = db::cipher(8);
    let rotation = new.also_opening(&db::test_cipher());
    let expected = Resealed {
        header_values: 3,
        env_values: 3,
        client_secrets: 1,
        oauth_credentials: 2,
    };
    let counts = c
        .reseal_all(&rotation, &new.seal_key_check()?, at(50))
        .await?;
    assert_eq!(counts, expected);
    assert_eq!(counts.total(), 9);

    // The new key reads everything as it was (updated_at included: a
    // re-seal changes no setting) ...
    let after = db.reconnect(new.clone()).await?;
    for s in [&vault, &tools, &bare] {
        assert_eq!(after.get_server(&s.id).await?.as_ref(), Some(s));
    }
    for (user, value) in [("alice", "alice-tok"), ("bob", "bob-tok")] {
        let got = after.get_oauth_credentials(user, &vault.id).await?;
        assert_eq!(got.map(|s| s.expose().clone()).as_deref(), Some(value));
    }
    let check = after.key_check().await?.context("key check")?;
    assert!(new.opens_key_check(&check));
    assert!(!db::test_cipher().opens_key_check(&check));
    key_check::verify(&after, &Settings::default()).await?;

    // ... and the old key nothing.
    let before = db.reconnect(db::test_cipher()).await?;
    assert!(before.get_server(&vault.id).await.is_err());
    assert!(before.get_server(&tools.id).await.is_err());
    assert!(
        before
            .get_oauth_credentials("bob", &vault.id)
            .await
            .is_err()
    );
    assert!(
        key_check::verify(&before, &Settings::default())
            .await
            .is_err()
    );

    // Running it again (the new key is among the openers) is harmless.
    let again = after
        .reseal_all(&new, &new.seal_key_check()?, at(60))
        .await?;
    assert_eq!(again, expected);
    assert_eq!(after.get_server(&vault.id).await?.as_ref(), Some(&vault));
    Ok(())
}

pub(super) async fn a_rotation_that_meets_a_value_no_key_opens_changes_nothing(
    db: &TestDb,
) -> TestResult {
    let c = &db.catalog;
    key_check::verify(c, &Settings::default()).await?;
    let vault = server("vault", "alice", false);
    c.insert_server(&vault).await?;
    c.put_oauth_credentials("alice", &vault.id, &token("alice-tok"), at(20))
        .await?;
    // Sealed with a key neither side of the rotation holds.
    let stranger = Server {
        oauth_client_secret: None,
        ..server("stranger", "carol", false)
    };
    db.reconnect(db::cipher(9))
        .await?
        .insert_server(&stranger)
        .await?;
    let snapshot = || async {
        let mut rows = db
            .raw_texts(
                "SELECT id || ' ' || CAST(headers AS TEXT) || ' ' || CAST(env AS TEXT) || ' ' \
                 || CAST(oauth_client AS TEXT) FROM servers ORDER BY id",
                &[],
            )
            .await;
        rows.extend(
            db.raw_texts("SELECT sealed FROM oauth_credentials", &[])
                .await,
        );
        rows.extend(
            db.raw_texts("SELECT sealed FROM secrets_key_check", &[])
                .await,
        );
        rows
    };
    let before = snapshot().await;

    let new = db::cipher(8);
    let err = c
        .reseal_all(
            &new.also_opening(&db::test_cipher()),
            &new.seal_key_check()?,
            at(50),
        )
        .await
        .expect_err("a value no key opens stops the rotation");
    let message = err.to_string();
    assert!(message.contains("server `stranger`"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    assert_eq!(snapshot().await, before, "the transaction was rolled back");
    assert_eq!(c.get_server(&vault.id).await?.as_ref(), Some(&vault));
    key_check::verify(c, &Settings::default()).await?;
    Ok(())
}
