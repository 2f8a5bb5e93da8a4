//! `MANIFOLD_BOOTSTRAP_ADMIN_KEY` (or `MANIFOLD_BOOTSTRAP_ADMIN_KEY_FILE`)
//! gives a cluster's first admin key: every replica started with it accepts
//! it, the catalog holds it once, and no process writes it (or anything
//! else) to its disk. Once keys exist another bootstrap key is not taken; a
//! malformed one, or a revoked one on a catalog left without keys, stops
//! start-up with one line that never shows the value.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{
    BOOTSTRAP_VAR, KEY_VAR, SharedCatalog, files_under, new_admin_key, new_key, run, start,
    the_error_line,
};

pub(super) async fn the_bootstrap_admin_key_is_the_first_admin_on_every_replica_and_never_written(
    catalog: &SharedCatalog,
) {
    let (secrets_key, admin) = (new_key(), new_admin_key());
    let on_catalog = [
        ("MANIFOLD_CATALOG__URL", catalog.url.as_str()),
        (KEY_VAR, secrets_key.as_str()),
    ];
    let with = |var: &'static str, value: &str| {
        let mut env: Vec<(&str, String)> = on_catalog
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        env.push((var, value.to_owned()));
        env
    };

    // A: the key in the variable.
    let a_dir = tempfile::tempdir().expect("dir");
    let env_a = with(BOOTSTRAP_VAR, &admin);
    let a = start(a_dir.path(), &pairs(&env_a)).expect("A starts");
    let (status, created) = a
        .send(
            Method::POST,
            "/api/v1/categories",
            &admin,
            Some(json!({"name": "Bootstrapped"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // B: the same key from a mounted file.
    let mounted = tempfile::tempdir().expect("dir");
    let key_file = mounted.path().join("admin-key");
    std::fs::write(&key_file, format!("{admin}\n")).expect("key file written");
    let b_dir = tempfile::tempdir().expect("dir");
    let env_b = with(
        "MANIFOLD_BOOTSTRAP_ADMIN_KEY_FILE",
        &key_file.display().to_string(),
    );
    let b = start(b_dir.path(), &pairs(&env_b)).expect("B starts");
    let (status, list) = b
        .send(Method::GET, "/api/v1/categories", &admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["name"], "Bootstrapped", "{list}");

    // Nothing on either replica's disk: no admin.key, no secret.key, and
    // (the catalog living elsewhere) no file at all.
    for dir in [&a_dir, &b_dir] {
        let files = files_under(dir.path());
        assert!(files.is_empty(), "written to disk: {files:?}");
    }
    assert_eq!(
        std::fs::read_to_string(&key_file).expect("still there"),
        format!("{admin}\n"),
        "the mounted file is only read"
    );

    // The catalog holds that one key, as the bootstrap admin.
    let cli_dir = tempfile::tempdir().expect("dir");
    let listed = run(cli_dir.path(), &["keys", "list"], &on_catalog);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let keys: Vec<&str> = listed.lines().skip(1).collect();
    let [line] = keys.as_slice() else {
        panic!("one key expected:\n{listed}")
    };
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns.get(1..3), Some(&["admin", "admin"][..]), "{line}");
    assert!(line.ends_with("active"), "{line}");
    assert!(!listed.contains(&admin), "the key itself is never listed");

    // Keys exist: another bootstrap key is not taken.
    let other = new_admin_key();
    let c_dir = tempfile::tempdir().expect("dir");
    let env_c = with(BOOTSTRAP_VAR, &other);
    let c = start(c_dir.path(), &pairs(&env_c)).expect("C starts");
    let (status, _) = c
        .send(Method::GET, "/api/v1/categories", &other, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    drop((a, b, c));

    // A malformed key stops start-up, in one line that does not echo it.
    let malformed = "mfk_not-long-enough";
    let env_d = with(BOOTSTRAP_VAR, malformed);
    let refused = start(c_dir.path(), &pairs(&env_d)).expect_err("malformed");
    let said = the_error_line(&refused);
    assert!(said.contains(BOOTSTRAP_VAR), "{said}");
    assert!(!said.contains(malformed), "{said}");

    // Revoked, with no other key left: refused rather than revived.
    let id = line.split_whitespace().next().expect("a key id");
    let revoked = run(cli_dir.path(), &["keys", "revoke", id], &on_catalog);
    assert!(revoked.status.success());
    let refused = start(a_dir.path(), &pairs(&env_a)).expect_err("revoked");
    let said = the_error_line(&refused);
    assert!(said.contains("this key was revoked"), "{said}");
    assert!(!said.contains(&admin), "{said}");
    assert!(
        files_under(a_dir.path()).is_empty(),
        "a refused start writes no key file"
    );
}

/// Borrowed pairs of owned variables.
fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
