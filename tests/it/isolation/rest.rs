//! REST: another user's private server does not exist for you (404 on
//! every route, by id and by name, with a body that names nobody), your
//! session lists never show another session's servers or tools, and a
//! logout clears only your own session.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::mcp::{call, mcp_client, names_in, text_of};
use crate::support::rest::connect;

use super::{ALICE_PRIV, BOB_PRIV, PUB, assert_hidden, statuses, tool_servers, world};

#[tokio::test]
async fn another_users_private_server_is_404_on_every_rest_route_by_id_and_name_for_keys_and_jwts()
{
    let w = world().await;
    let app = &w.app;
    connect(app, ALICE_PRIV, &w.alice).await;
    let (_, before) = app
        .get(&format!("/api/v1/servers/{ALICE_PRIV}"), &w.alice)
        .await;

    // What a 404 looks like for a server that never existed: alice's must
    // be indistinguishable from it.
    let ghost = manifold::ids::ServerId::generate().as_str().to_owned();
    let (status, nothing) = app.get(&format!("/api/v1/servers/{ghost}"), &w.bob).await;
    assert_hidden("a server that never existed", status, &nothing, &[]);

    let secrets = ["alice", &w.alice_priv_id, ALICE_PRIV, "secret-value"];
    for (who, key) in [("bob's key", &w.bob), ("bob's JWT", &w.bob_jwt)] {
        for id in [w.alice_priv_id.as_str(), ALICE_PRIV] {
            let routes: [(Method, String, Option<Value>); 6] = [
                (Method::GET, format!("/api/v1/servers/{id}"), None),
                (
                    Method::PATCH,
                    format!("/api/v1/servers/{id}"),
                    Some(json!({"description": "pwned", "is_public": true})),
                ),
                (Method::DELETE, format!("/api/v1/servers/{id}"), None),
                (
                    Method::POST,
                    format!("/api/v1/servers/{id}/connect"),
                    Some(json!({})),
                ),
                (
                    Method::POST,
                    format!("/api/v1/servers/{id}/disconnect"),
                    Some(json!({})),
                ),
                (
                    Method::GET,
                    "/api/v1/session/servers?limit=200".to_owned(),
                    None,
                ),
            ];
            for (method, path, body) in routes {
                let (status, answer) = app.call(method.clone(), &path, Some(key), body).await;
                if path.starts_with("/api/v1/session/servers") {
                    assert_eq!(status, StatusCode::OK, "{who} {path}: {answer}");
                    assert!(
                        !answer.to_string().contains(ALICE_PRIV),
                        "{who}: bob's session servers show alice's: {answer}"
                    );
                    continue;
                }
                let what = format!("{who}: {method} {path}");
                assert_hidden(&what, status, &answer, &secrets);
                assert_eq!(
                    answer["error"]["message"], nothing["error"]["message"],
                    "{what}: a hidden server must read like one that does not exist"
                );
            }
        }
        let (status, list) = app.get("/api/v1/servers?limit=200", key).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(names_in(&list["items"]), [BOB_PRIV, PUB], "{who}: {list}");
    }

    // And the other way round: bob's server is as invisible to alice.
    for id in [w.bob_priv_id.as_str(), BOB_PRIV] {
        let (status, body) = app.get(&format!("/api/v1/servers/{id}"), &w.alice).await;
        assert_hidden(
            "alice reading bob's server",
            status,
            &body,
            &["\"bob\"", &w.bob_priv_id],
        );
    }

    // Nothing changed for alice: same record, still connected, still usable.
    let (status, after) = app
        .get(&format!("/api/v1/servers/{ALICE_PRIV}"), &w.alice)
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after, before, "bob's attempts changed alice's server");
    let (_, mine) = app.get("/api/v1/session/servers", &w.alice).await;
    assert_eq!(
        statuses(&mine).get(ALICE_PRIV).map(String::as_str),
        Some("CONNECTED"),
        "{mine}"
    );
    let (_, tools) = app.get("/api/v1/session/tools", &w.alice).await;
    assert_eq!(tool_servers(&tools), [ALICE_PRIV], "{tools}");
}

#[tokio::test]
async fn an_admin_sees_a_private_server_but_never_its_secret_header() {
    let w = world().await;
    let (status, seen) = w
        .app
        .get(
            &format!("/api/v1/servers/{}", w.alice_priv_id),
            &w.app.admin_key,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["owner"], "alice", "{seen}");
    assert_eq!(seen["headers"], json!({"X-Owner-Secret": "***"}), "{seen}");
    let (_, own) = w
        .app
        .get(&format!("/api/v1/servers/{ALICE_PRIV}"), &w.alice)
        .await;
    assert_eq!(own["headers"], json!({"X-Owner-Secret": "***"}), "{own}");
}

#[tokio::test]
async fn a_public_server_is_visible_to_users_but_changing_it_is_403_not_404() {
    let w = world().await;
    let (_, before) = w
        .app
        .get(&format!("/api/v1/servers/{PUB}"), &w.app.admin_key)
        .await;
    for key in [&w.bob, &w.bob_jwt] {
        let (status, body) = w
            .app
            .patch(
                &format!("/api/v1/servers/{PUB}"),
                key,
                json!({"description": "mine now"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = w.app.delete(&format!("/api/v1/servers/{PUB}"), key).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, after) = w
        .app
        .get(&format!("/api/v1/servers/{PUB}"), &w.app.admin_key)
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after, before, "a refused change changed the server");
}

#[tokio::test]
async fn session_lists_tools_and_client_configs_show_only_the_callers_own_connections() {
    let w = world().await;
    let app = &w.app;
    for server in [PUB, ALICE_PRIV] {
        connect(app, server, &w.alice).await;
    }
    connect(app, BOB_PRIV, &w.bob).await;

    let (_, bobs) = app.get("/api/v1/session/servers?limit=200", &w.bob).await;
    let bobs = statuses(&bobs);
    assert_eq!(
        bobs.keys().map(String::as_str).collect::<Vec<_>>(),
        [BOB_PRIV, PUB],
        "{bobs:?}"
    );
    assert_eq!(
        bobs[PUB], "DISCONNECTED",
        "alice's connection leaked into bob's list"
    );
    assert_eq!(bobs[BOB_PRIV], "CONNECTED");
    let (_, tools) = app.get("/api/v1/session/tools", &w.bob).await;
    assert_eq!(tool_servers(&tools), [BOB_PRIV], "{tools}");
    let (_, config) = app.get("/api/v1/session/langchain-config", &w.bob).await;
    let configured: Vec<&String> = config
        .as_object()
        .map(|c| c.keys().collect())
        .unwrap_or_default();
    assert_eq!(configured, [BOB_PRIV], "{config}");

    let (_, alices) = app.get("/api/v1/session/servers?limit=200", &w.alice).await;
    let alices = statuses(&alices);
    assert_eq!(
        alices.keys().map(String::as_str).collect::<Vec<_>>(),
        [ALICE_PRIV, PUB]
    );
    let (_, tools) = app.get("/api/v1/session/tools", &w.alice).await;
    assert_eq!(tool_servers(&tools), [ALICE_PRIV, PUB], "{tools}");

    // The same user by JWT is the same session: same view, nothing more.
    let (_, by_jwt) = app.get("/api/v1/session/tools", &w.bob_jwt).await;
    assert_eq!(tool_servers(&by_jwt), [BOB_PRIV], "{by_jwt}");
}

#[tokio::test]
async fn bobs_disconnect_and_logout_leave_alices_connections_of_the_same_servers_intact() {
    let w = world().await;
    let app = &w.app;
    connect(app, PUB, &w.alice).await;
    connect(app, ALICE_PRIV, &w.alice).await;
    connect(app, PUB, &w.bob).await;
    connect(app, BOB_PRIV, &w.bob).await;
    let (_, alice_before) = app.get("/api/v1/session/servers", &w.alice).await;

    let (status, gone) = app.session_action("disconnect", PUB, &w.bob).await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    let (status, cleared) = app.delete("/api/v1/session", &w.bob).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["disconnected"], json!([BOB_PRIV]), "{cleared}");
    // Alice's private server is not bob's to disconnect, even by logout.
    let (status, cleared) = app.delete("/api/v1/session", &w.bob_jwt).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["disconnected"], json!([]), "{cleared}");

    let (_, alice_after) = app.get("/api/v1/session/servers", &w.alice).await;
    assert_eq!(
        alice_after, alice_before,
        "bob's logout changed alice's session"
    );
    let (_, tools) = app.get("/api/v1/session/tools", &w.alice).await;
    assert_eq!(tool_servers(&tools), [ALICE_PRIV, PUB], "{tools}");
    let (_, bobs) = app.get("/api/v1/session/tools", &w.bob).await;
    assert_eq!(bobs["tools"], json!([]), "{bobs}");

    // Alice's upstream links still answer.
    let client = mcp_client(app, "/mcp", &w.alice).await;
    for server in [PUB, ALICE_PRIV] {
        let echoed = client
            .call_tool(call(
                &format!("{server}__echo"),
                json!({"text": "still here"}),
            ))
            .await
            .expect("alice's call after bob's logout");
        assert_eq!(text_of(&echoed), "still here");
    }
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_name_taken_by_a_private_server_conflicts_without_naming_its_owner() {
    let w = world().await;
    let (status, body) = w
        .app
        .post(
            "/api/v1/servers",
            &w.bob,
            json!({"name": ALICE_PRIV, "transport": "streamable_http",
                   "url": "http://127.0.0.1:9/mcp"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let text = body.to_string();
    assert!(!text.contains("alice\""), "{text}");
    assert!(!text.contains(&w.alice_priv_id), "{text}");
    assert!(!text.contains("secret-value"), "{text}");
}

#[tokio::test]
async fn a_user_cannot_delete_or_change_their_server_once_an_admin_made_it_public() {
    let w = world().await;
    let app = &w.app;
    let (status, body) = app
        .patch(
            &format!("/api/v1/servers/{ALICE_PRIV}"),
            &app.admin_key,
            json!({"is_public": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["owner"], "alice", "{body}");
    // Bob now relies on it.
    connect(app, ALICE_PRIV, &w.bob).await;

    // Users hold public servers read-only (`Role::User`: "public servers
    // read-only"; DESIGN: public servers are the admin's).
    let (status, body) = app
        .patch(
            &format!("/api/v1/servers/{ALICE_PRIV}"),
            &w.alice,
            json!({"url": "http://127.0.0.1:9/mcp"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .delete(&format!("/api/v1/servers/{ALICE_PRIV}"), &w.alice)
        .await;
    let (_, bobs) = app.get("/api/v1/session/tools", &w.bob).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a user deleted a public server others use ({body}); bob's tools now: {bobs}"
    );
}
