//! Two replicas on one catalog, as a new user would start them (default
//! settings: each generates its own `data/secret.key`): the second refuses
//! to start with one line naming the key to set; given the first one's key,
//! it serves, and each replica reads and connects the servers with secret
//! headers the other created.

use reqwest::StatusCode;
use serde_json::json;

use super::{KEY_VAR, SharedCatalog, assert_refused_for_the_key, new_key, start};
use crate::support::upstreams::FixtureHttp;

pub(super) async fn a_replica_with_its_own_key_refuses_to_start_and_one_given_the_same_key_serves(
    catalog: &SharedCatalog,
) {
    let upstream = FixtureHttp::start();
    let on_catalog = [("MANIFOLD_CATALOG__URL", catalog.url.as_str())];
    let a_dir = tempfile::tempdir().expect("dir");
    let a = start(a_dir.path(), &on_catalog).expect("the first replica starts");
    let admin = std::fs::read_to_string(a_dir.path().join("data/admin.key"))
        .expect("the first replica wrote an admin key")
        .trim()
        .to_owned();
    let token_a = format!("from-a-{}", new_key());
    a.create_server(
        &admin,
        json!({"name": "vault-a", "transport": "streamable_http", "url": upstream.url(),
               "headers": {"X-Vault-Token": token_a}, "is_public": true}),
    )
    .await;

    // Its own generated key: refused, naming the key file it used.
    let b_dir = tempfile::tempdir().expect("dir");
    let refused = start(b_dir.path(), &on_catalog).expect_err("another generated key");
    assert_refused_for_the_key(&refused, "this process used the key in ./data/secret.key");

    // A configured key that does not fit: the same line.
    let wrong = new_key();
    let refused = start(b_dir.path(), &[on_catalog[0], (KEY_VAR, wrong.as_str())])
        .expect_err("another configured key");
    assert_refused_for_the_key(
        &refused,
        "this process used the configured secrets.encryption_key",
    );
    assert!(
        refused.stderr.iter().all(|l| !l.contains(&wrong)),
        "the key is never printed"
    );

    // Doing what the line says: B is given A's key.
    let a_key = std::fs::read_to_string(a_dir.path().join("data/secret.key"))
        .expect("A's key file")
        .trim()
        .to_owned();
    let b = start(b_dir.path(), &[on_catalog[0], (KEY_VAR, a_key.as_str())])
        .expect("the second replica starts with the first one's key");
    let token_b = format!("from-b-{}", new_key());
    b.create_server(
        &admin,
        json!({"name": "vault-b", "transport": "streamable_http", "url": upstream.url(),
               "headers": {"X-Vault-Token": token_b}, "is_public": true}),
    )
    .await;

    // Each reads and connects what the other created, secret header included.
    for (replica, name, token) in [(&b, "vault-a", &token_a), (&a, "vault-b", &token_b)] {
        let server = replica.read_server(&admin, name).await;
        assert_eq!(
            server["headers"],
            json!({"X-Vault-Token": "***"}),
            "{server}"
        );
        let seen = replica.connect_and_whoami(&admin, name).await;
        assert_eq!(seen["x-vault-token"], json!(token), "{seen}");
    }
    let (status, list) = a
        .send(reqwest::Method::GET, "/api/v1/servers", &admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    drop((a, b));
}
