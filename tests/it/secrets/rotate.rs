//! `manifold secrets rotate --new-key …` on a catalog that two replicas
//! serve: every stored secret (a server's headers, a stdio server's env, an
//! OAuth client secret, a user's OAuth tokens) is re-sealed under the new
//! key; a replica configured `NEW,OLD` reads on throughout, without a
//! restart; once both are given the new key they read and connect
//! everything, and the old key alone is refused at start-up.

use std::io::Write;
use std::process::Stdio;

use manifold::ids::ServerId;
use manifold::secret::Secret;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{
    BOOTSTRAP_VAR, KEY_VAR, SharedCatalog, assert_refused_for_the_key, manifold, new_admin_key,
    new_key, run, start,
};
use crate::support::rest::fixture_server;
use crate::support::upstreams::FixtureHttp;

/// A replica's variables: the shared catalog, `keys`, the admin key.
fn settings<'a>(catalog: &'a str, keys: &'a str, admin: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("MANIFOLD_CATALOG__URL", catalog),
        (KEY_VAR, keys),
        (BOOTSTRAP_VAR, admin),
    ]
}

pub(super) async fn after_a_rotation_replicas_given_the_new_key_read_and_connect_everything(
    catalog: &SharedCatalog,
) {
    let upstream = FixtureHttp::start();
    let (old, new, admin) = (new_key(), new_key(), new_admin_key());
    let both = format!("{new},{old}");
    let url = catalog.url.as_str();
    let (a_dir, b_dir) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = start(a_dir.path(), &settings(url, &old, &admin)).expect("A starts");
    let b = start(b_dir.path(), &settings(url, &old, &admin)).expect("B starts");

    // One secret of every kind.
    let header = format!("header-{}", new_key());
    let vault = a
        .create_server(
            &admin,
            json!({"name": "vault", "transport": "streamable_http", "url": upstream.url(),
                   "headers": {"X-Vault-Token": header}, "is_public": true}),
        )
        .await;
    let client_secret = format!("client-{}", new_key());
    let authed = a
        .create_server(
            &admin,
            json!({"name": "authed", "transport": "streamable_http", "url": upstream.url(),
                   "requires_oauth2": true, "oauth_client_id": "manifold",
                   "oauth_client_secret": client_secret, "is_public": true}),
        )
        .await;
    let env_value = format!("env-{}", new_key());
    let mut tools = fixture_server("tools");
    tools["env"] = json!({"FIXTURE_TOKEN": env_value});
    tools["is_public"] = json!(true);
    let tools = a.create_server(&admin, tools).await;
    let id = |server: &serde_json::Value| {
        ServerId::parse(server["id"].as_str().expect("an id")).expect("a server id")
    };
    let tokens = format!("tokens-{}", new_key());
    catalog
        .open(&old)
        .await
        .put_oauth_credentials(
            "alice",
            &id(&vault),
            &Secret::new(tokens.clone()),
            chrono::Utc::now(),
        )
        .await
        .expect("alice's OAuth tokens stored");

    // B moves to `NEW,OLD` first (rolling restart): it opens the old seals.
    drop(b);
    let b = start(b_dir.path(), &settings(url, &both, &admin)).expect("B starts with NEW,OLD");
    let seen = b.connect_and_whoami(&admin, "vault").await;
    assert_eq!(seen["x-vault-token"], json!(header), "{seen}");

    // A malformed new key changes nothing.
    let rotate_dir = tempfile::tempdir().expect("dir");
    let bad = run(
        rotate_dir.path(),
        &["secrets", "rotate", "--new-key", "short"],
        &settings(url, &old, &admin),
    );
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("--new-key: must be base64"), "{said}");

    // The rotation, with the current key configured and the new one on stdin.
    let mut rotation = manifold(
        rotate_dir.path(),
        &["secrets", "rotate", "--new-key", "-"],
        &settings(url, &old, &admin),
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("rotate runs");
    rotation
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{new}\n").as_bytes())
        .expect("the new key written");
    let done = rotation.wait_with_output().expect("rotate ends");
    let (out, err) = (
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr),
    );
    assert!(done.status.success(), "{out}\n{err}");
    assert!(
        out.contains(
            "re-sealed 4 secrets with the new key (1 header values, 1 env values, \
             1 OAuth client secrets, 1 OAuth credentials) and the key check"
        ),
        "{out}"
    );
    assert!(
        out.contains("next: set secrets.encryption_key (MANIFOLD_SECRETS__ENCRYPTION_KEY)"),
        "{out}"
    );
    for key in [&old, &new] {
        assert!(!out.contains(key.as_str()) && !err.contains(key.as_str()));
    }

    // B (`NEW,OLD`) reads on without a restart; A, still on the old key
    // alone, can no longer open the secrets: why B moved first.
    for name in ["vault", "authed", "tools"] {
        b.read_server(&admin, name).await;
    }
    let (status, body) = a
        .send(Method::GET, "/api/v1/servers/vault", &admin, None)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");

    // Both given the new key: they read and connect everything.
    drop((a, b));
    let a = start(a_dir.path(), &settings(url, &new, &admin)).expect("A starts with NEW");
    let b = start(b_dir.path(), &settings(url, &new, &admin)).expect("B starts with NEW");
    for replica in [&a, &b] {
        for name in ["vault", "authed", "tools"] {
            replica.read_server(&admin, name).await;
        }
        let seen = replica.connect_and_whoami(&admin, "vault").await;
        assert_eq!(seen["x-vault-token"], json!(header), "{seen}");
    }

    // Every value is there under the new key, and under it only.
    let under_new = catalog.open(&new).await;
    let vault_now = under_new
        .get_server(&id(&vault))
        .await
        .expect("read")
        .expect("vault");
    assert_eq!(vault_now.headers["X-Vault-Token"].expose(), &header);
    let authed_now = under_new
        .get_server(&id(&authed))
        .await
        .expect("read")
        .expect("authed");
    assert_eq!(
        authed_now
            .oauth_client_secret
            .as_ref()
            .map(|s| s.expose().as_str()),
        Some(client_secret.as_str())
    );
    let tools_now = under_new
        .get_server(&id(&tools))
        .await
        .expect("read")
        .expect("tools");
    assert_eq!(tools_now.env["FIXTURE_TOKEN"].expose(), &env_value);
    let alice = under_new
        .get_oauth_credentials("alice", &id(&vault))
        .await
        .expect("read")
        .expect("alice's tokens");
    assert_eq!(alice.expose(), &tokens);
    let under_old = catalog.open(&old).await;
    assert!(under_old.get_server(&id(&vault)).await.is_err());
    assert!(
        under_old
            .get_oauth_credentials("alice", &id(&vault))
            .await
            .is_err()
    );

    // And the old key alone no longer starts a replica.
    let c_dir = tempfile::tempdir().expect("dir");
    let refused = start(c_dir.path(), &settings(url, &old, &admin)).expect_err("the old key");
    assert_refused_for_the_key(&refused, "the configured secrets.encryption_key");
    drop((a, b));
}
