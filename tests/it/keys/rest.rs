//! `/api/v1/keys`: create, list, revoke, and who may do which.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{create_key, ids_in, key_of};
use crate::support::app::{code, spawn_app};
use crate::support::mcp::{call, mcp_client, text_of, tool_names};
use crate::support::rest::{add_fixture, connect};

#[tokio::test]
async fn a_key_created_over_rest_works_at_once_on_mcp_and_is_listed_used_without_its_secret() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let created = create_key(
        &app,
        &app.admin_key,
        json!({"user_id": "alice", "name": "alice's laptop"}),
    )
    .await;
    let fields: Vec<&str> = created
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "created_at",
            "id",
            "key",
            "last_used_at",
            "name",
            "prefix",
            "revoked_at",
            "role",
            "user_id"
        ],
        "{created}"
    );
    assert_eq!(created["user_id"], "alice");
    assert_eq!(created["role"], "user", "the default role");
    assert_eq!(created["name"], "alice's laptop");
    assert!(created["last_used_at"].is_null() && created["revoked_at"].is_null());
    let secret = created["key"].as_str().expect("key").to_owned();
    assert!(secret.starts_with(created["prefix"].as_str().expect("prefix")));

    // It works at once: REST, then /mcp (initialize, tools/list, tools/call).
    connect(&app, "fx", &secret).await;
    let client = mcp_client(&app, "/mcp", &secret).await;
    assert!(tool_names(&client).await.contains(&"fx__echo".to_owned()));
    let echoed = client
        .call_tool(call("fx__echo", json!({"text": "fresh key"})))
        .await
        .expect("tools/call");
    assert_eq!(text_of(&echoed), "fresh key");
    client.cancel().await.ok();

    // Listed by its owner and the admin, used, and never with the secret.
    for (who, path) in [
        (&secret, "/api/v1/keys"),
        (&app.admin_key, "/api/v1/keys?user=alice"),
    ] {
        let (status, list) = app.get(path, who).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(
            ids_in(&list),
            [created["id"].as_str().expect("id")],
            "{list}"
        );
        let listed = &list["items"][0];
        assert!(listed["last_used_at"].is_string(), "used: {listed}");
        assert_eq!(listed["name"], "alice's laptop");
        assert!(
            listed.get("key").is_none() && listed.get("hash").is_none(),
            "{listed}"
        );
        assert!(
            !list.to_string().contains(&secret),
            "the secret is listed: {list}"
        );
        assert!(list["next_cursor"].is_null(), "{list}");
    }
    // The admin's unfiltered list holds the bootstrap key too.
    let (_, all) = app.get("/api/v1/keys", &app.admin_key).await;
    assert_eq!(ids_in(&all).len(), 2, "{all}");
    assert_eq!(all["items"][0]["id"], created["id"], "newest first: {all}");
}

#[tokio::test]
async fn users_manage_only_their_own_user_keys_and_another_users_key_is_not_found() {
    let app = spawn_app().await;
    let (_, alice) = key_of(&app, "alice").await;
    let (bob_key_id, bob) = key_of(&app, "bob").await;

    // Her own key, with the user role: yes. Anything more: no.
    let own = create_key(&app, &alice, json!({"name": "ci"})).await;
    assert_eq!(
        (own["user_id"].as_str(), own["role"].as_str()),
        (Some("alice"), Some("user"))
    );
    for body in [
        json!({"role": "admin"}),
        json!({"user_id": "bob"}),
        json!({"user_id": "bob", "role": "user"}),
    ] {
        let (status, answer) = app.post("/api/v1/keys", &alice, body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {answer}");
        assert_eq!(code(&answer), "forbidden");
    }
    for (body, expected) in [
        (json!({"name": ""}), "invalid_key_name"),
        (json!({"name": "x".repeat(65)}), "invalid_key_name"),
        (json!({"name": "bell\u{7}"}), "invalid_key_name"),
        (json!({"role": "anonymous"}), "invalid_role"),
        (json!({"user_id": "anon_x"}), "invalid_user_id"),
        (json!({"secret": "mine"}), "invalid_body"),
    ] {
        let (status, answer) = app.post("/api/v1/keys", &app.admin_key, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(code(&answer), expected, "{body}: {answer}");
    }

    // She sees only her keys, and asking for bob's is refused.
    let (status, list) = app.get("/api/v1/keys", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids_in(&list).len(), 2, "{list}");
    assert!(!ids_in(&list).contains(&bob_key_id.as_str()));
    let (status, answer) = app.get("/api/v1/keys?user=bob", &alice).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, "forbidden")
    );

    // Bob's key is "not found" to her, exactly like a key that never was.
    let (status, mine_missing) = app
        .delete("/api/v1/keys/key_AAAAAAAAAAAAAAAA", &alice)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, his) = app
        .delete(&format!("/api/v1/keys/{bob_key_id}"), &alice)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&his), "api_key_not_found");
    assert_eq!(his, mine_missing, "the same answer: no existence leak");
    let (status, _) = app.get("/api/v1/me", &bob).await;
    assert_eq!(status, StatusCode::OK, "bob's key still works");

    // Her own revocation: 204, then the key is refused and 404 the next time.
    let own_id = own["id"].as_str().expect("id");
    let own_secret = own["key"].as_str().expect("key");
    let (status, _) = app.get("/api/v1/me", own_secret).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.delete(&format!("/api/v1/keys/{own_id}"), &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = app.get("/api/v1/me", own_secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked at once");
    let (status, again) = app.delete(&format!("/api/v1/keys/{own_id}"), &alice).await;
    assert_eq!(
        (status, code(&again)),
        (StatusCode::NOT_FOUND, "api_key_not_found")
    );
    let (_, active) = app.get("/api/v1/keys", &alice).await;
    assert!(!ids_in(&active).contains(&own_id), "{active}");
    let (_, all) = app.get("/api/v1/keys?include_revoked=true", &alice).await;
    let revoked = all["items"]
        .as_array()
        .and_then(|items| items.iter().find(|k| k["id"] == own_id))
        .unwrap_or_else(|| panic!("the revoked key is listed on request: {all}"));
    assert!(revoked["revoked_at"].is_string(), "{revoked}");

    // The admin revokes anyone's key.
    let (status, _) = app
        .delete(&format!("/api/v1/keys/{bob_key_id}"), &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get("/api/v1/me", &bob).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // And no credentials at all: 401.
    let (status, answer) = app.call(Method::GET, "/api/v1/keys", None, None).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
}

#[tokio::test]
async fn a_user_holds_at_most_fifty_active_keys_listed_in_pages() {
    let app = spawn_app().await;
    let (_, alice) = key_of(&app, "alice").await;
    for n in 1..50 {
        create_key(&app, &alice, json!({"name": format!("key {n}")})).await;
    }
    let (status, refused) = app.post("/api/v1/keys", &alice, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(code(&refused), "too_many_api_keys");
    let (status, refused) = app
        .post("/api/v1/keys", &app.admin_key, json!({"user_id": "alice"}))
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::CONFLICT, "too_many_api_keys"),
        "the bound is the user's, whoever asks"
    );

    // Pages of 20, newest first, cover all 50 once.
    let mut seen: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut path = "/api/v1/keys?limit=20".to_owned();
    loop {
        let (status, page) = app.get(&path, &alice).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for key in page["items"].as_array().expect("items") {
            seen.push(key["id"].as_str().expect("id").to_owned());
            names.push(key["name"].as_str().unwrap_or("").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/keys?limit=20&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 50);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 50, "no key twice");
    assert_eq!(
        names.first().map(String::as_str),
        Some("key 49"),
        "newest first"
    );
    let (status, bad) = app.get("/api/v1/keys?cursor=bm9waXBl", &alice).await;
    assert_eq!(
        (status, code(&bad)),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );

    // Revoking one makes room for one.
    let (_, page) = app.get("/api/v1/keys?limit=1", &alice).await;
    let newest = page["items"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = app.delete(&format!("/api/v1/keys/{newest}"), &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    create_key(&app, &alice, json!({})).await;
}

#[tokio::test]
async fn a_key_revoked_by_another_process_without_fanout_is_refused_within_the_cache_ttl() {
    let app = spawn_app().await;
    let (id, alice) = key_of(&app, "alice").await;
    let (status, _) = app.get("/api/v1/me", &alice).await;
    assert_eq!(status, StatusCode::OK, "checked, so cached");
    // What `manifold keys revoke` does: its own process, no fanout.
    let cli = manifold::auth::api_key::ApiKeys::new(app.state.catalog().store().clone());
    cli.revoke(&id).await.expect("revoked");
    let revoked_at = std::time::Instant::now();
    loop {
        let (status, body) = app.get("/api/v1/me", &alice).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(3),
            "still accepted {:?} after the revocation",
            revoked_at.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let took = revoked_at.elapsed();
    println!("revoked by another process, refused after {took:?} (cache TTL 1 s)");
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
}
