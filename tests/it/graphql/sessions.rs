//! Connections made through GraphQL are the ones REST sees and the
//! reverse; another user's private server is null with `server_not_found`;
//! secrets read back as `***`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{add_public_fixture, data, first_code, gql};
use crate::support::app::spawn_app;
use crate::support::mcp::{call, mcp_client, text_of};

const SERVER_STATE: &str = "query($name: String) {
    server(name: $name) { name status toolCount connectedAt lastError
      tools { name description schema } } }";

/// The status REST's session list reports for `name`.
async fn rest_status(app: &crate::support::app::TestApp, key: &str, name: &str) -> Value {
    let (status, body) = app.get("/api/v1/session/servers", key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|s| s["name"] == name))
        .map(|s| s["status"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_connect_through_graphql_is_visible_through_rest_and_the_reverse() {
    let app = spawn_app().await;
    add_public_fixture(&app).await;
    let alice = app.user_key("alice").await;

    let connected = data(
        &app,
        &alice,
        "mutation { connectMcpServer(name: \"fixture\") { success message code
            server { name status toolCount tools { name schema } } } }",
        Value::Null,
    )
    .await;
    let result = &connected["connectMcpServer"];
    assert_eq!(result["success"], true, "{result}");
    assert_eq!(result["code"], Value::Null);
    assert_eq!(result["server"]["status"], "CONNECTED");
    let tools = result["server"]["tools"].as_array().expect("tools");
    assert_eq!(result["server"]["toolCount"], tools.len());
    let echo = tools
        .iter()
        .find(|t| t["name"] == "echo")
        .expect("echo tool");
    let schema: Value =
        serde_json::from_str(echo["schema"].as_str().expect("schema is a JSON string"))
            .expect("schema parses");
    assert_eq!(schema["type"], "object", "{schema}");

    assert_eq!(rest_status(&app, &alice, "fixture").await, "CONNECTED");
    let (_, tools) = app.get("/api/v1/session/tools", &alice).await;
    assert!(
        tools["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "echo")),
        "{tools}"
    );
    // …and through /mcp: the session's tool list has the server's tools,
    // and a call reaches the upstream.
    let mcp = mcp_client(&app, "/mcp", &alice).await;
    let listed = mcp.list_all_tools().await.expect("tools/list");
    assert!(
        listed.iter().any(|t| t.name == "fixture__echo"),
        "{:?}",
        listed
            .iter()
            .map(|t| t.name.to_string())
            .collect::<Vec<_>>()
    );
    let echoed = mcp
        .call_tool(call("fixture__echo", json!({"text": "via graphql"})))
        .await
        .expect("tools/call");
    assert!(text_of(&echoed).contains("via graphql"), "{echoed:?}");
    mcp.cancel().await.ok();
    // Another user's session is untouched.
    let bob = app.user_key("bob").await;
    assert_eq!(rest_status(&app, &bob, "fixture").await, "DISCONNECTED");

    // The reverse: REST disconnects, GraphQL sees it.
    let (status, body) = app.session_action("disconnect", "fixture", &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let state = data(&app, &alice, SERVER_STATE, json!({"name": "fixture"})).await;
    assert_eq!(state["server"]["status"], "DISCONNECTED", "{state}");
    assert_eq!(state["server"]["toolCount"], 0);

    // REST connects, GraphQL lists it as connected.
    let (status, body) = app.session_action("connect", "fixture", &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = data(
        &app,
        &alice,
        "{ servers(connected: true) { edges { node { name status connectedAt } } } }",
        Value::Null,
    )
    .await;
    let edges = listed["servers"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1, "{listed}");
    assert_eq!(edges[0]["node"]["status"], "CONNECTED");
    assert!(edges[0]["node"]["connectedAt"].is_string());
    let idle = data(
        &app,
        &alice,
        "{ servers(connected: false) { edges { node { name } } } }",
        Value::Null,
    )
    .await;
    assert_eq!(idle["servers"]["edges"], json!([]));

    // GraphQL disconnects, REST sees it; disconnectAll clears the session.
    let done = data(
        &app,
        &alice,
        "mutation { disconnectMcpServer(name: \"fixture\") { success server { status } } }",
        Value::Null,
    )
    .await;
    assert_eq!(
        done,
        json!({"disconnectMcpServer": {"success": true, "server": {"status": "DISCONNECTED"}}})
    );
    assert_eq!(rest_status(&app, &alice, "fixture").await, "DISCONNECTED");
    let (status, _) = app.session_action("connect", "fixture", &alice).await;
    assert_eq!(status, StatusCode::OK);
    let all = data(
        &app,
        &alice,
        "mutation { disconnectAll { disconnected } }",
        Value::Null,
    )
    .await;
    assert_eq!(all, json!({"disconnectAll": {"disconnected": ["fixture"]}}));
    assert_eq!(rest_status(&app, &alice, "fixture").await, "DISCONNECTED");
    app.stop().await;
}

#[tokio::test]
async fn a_failed_connect_is_success_false_with_the_stable_code() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    // Nothing listens on port 9.
    let created = data(
        &app,
        &alice,
        "mutation { createServer(input: {name: \"down\", transport: \"streamable_http\",
            url: \"http://127.0.0.1:9/mcp\"}) { name } }",
        Value::Null,
    )
    .await;
    assert_eq!(created["createServer"]["name"], "down");
    let result = data(
        &app,
        &alice,
        "mutation { connectMcpServer(name: \"down\") { success message code
            server { status lastError } } }",
        Value::Null,
    )
    .await;
    let result = &result["connectMcpServer"];
    assert_eq!(result["success"], false, "{result}");
    assert!(
        result["code"]
            .as_str()
            .is_some_and(|c| c.starts_with("upstream_")),
        "{result}"
    );
    assert!(result["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(result["server"]["status"], "FAILED");
    assert!(result["server"]["lastError"].is_string());

    // A server that needs the user's OAuth authorization first; nothing
    // answers there, so discovering its authorization server fails.
    data(
        &app,
        &alice,
        "mutation { createServer(input: {name: \"needs-oauth\", transport: \"streamable_http\",
            url: \"http://127.0.0.1:9/mcp\", requiresOauth2: true}) { name } }",
        Value::Null,
    )
    .await;
    let result = data(
        &app,
        &alice,
        "mutation { connectMcpServer(name: \"needs-oauth\") { success code message
            server { status oauth } } }",
        Value::Null,
    )
    .await;
    let result = &result["connectMcpServer"];
    assert_eq!(result["success"], false, "{result}");
    assert_eq!(result["code"], "oauth_discovery_failed", "{result}");
    assert_eq!(result["server"]["oauth"], "REQUIRED", "{result}");
    app.stop().await;
}

#[tokio::test]
async fn another_users_private_server_is_null_with_not_found_and_secrets_read_as_stars() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    let created = data(
        &app,
        &alice,
        "mutation($input: CreateServerInput!) { createServer(input: $input) {
            id name isPublic owner headers queryParams } }",
        json!({"input": {"name": "alice-notes", "transport": "streamable_http",
                "url": "http://127.0.0.1:9/mcp",
                "headers": {"Authorization": "Bearer s3cr3t-token"},
                "queryParams": {"team": "blue"}}}),
    )
    .await;
    let server = &created["createServer"];
    assert_eq!(server["owner"], "alice");
    assert_eq!(server["isPublic"], false);
    assert_eq!(server["headers"], json!({"Authorization": "***"}));
    assert_eq!(server["queryParams"], json!({"team": "blue"}));
    let id = server["id"].as_str().expect("id").to_owned();

    // Secrets never come back, through any read.
    let (_, raw) = gql(
        &app,
        Some(&alice),
        "query($id: ID) { server(id: $id) { headers env } }",
        json!({"id": id}),
    )
    .await;
    assert!(!raw.to_string().contains("s3cr3t"), "{raw}");
    let updated = data(
        &app,
        &alice,
        "mutation($id: ID!) { updateServer(id: $id, input: {title: \"Notes\",
            headers: {Authorization: \"***\"}}) { title headers } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        updated,
        json!({"updateServer": {"title": "Notes", "headers": {"Authorization": "***"}}})
    );

    // Bob: by id, by name, in lists, connect, change, delete.
    for (doc, vars, field) in [
        (
            "query($id: ID) { server(id: $id) { name headers } }",
            json!({"id": id}),
            "server",
        ),
        (
            "query($n: String) { server(name: $n) { name } }",
            json!({"n": "alice-notes"}),
            "server",
        ),
        (
            "mutation { connectMcpServer(name: \"alice-notes\") { success } }",
            Value::Null,
            "connectMcpServer",
        ),
        (
            "mutation($id: ID!) { updateServer(id: $id, input: {title: \"x\"}) { name } }",
            json!({"id": id}),
            "updateServer",
        ),
    ] {
        let (status, body) = gql(&app, Some(&bob), doc, vars).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"][field], Value::Null, "{doc}: {body}");
        assert_eq!(first_code(&body), "server_not_found", "{doc}: {body}");
        assert!(!body.to_string().contains("alice"), "{body}");
    }
    let (_, body) = gql(
        &app,
        Some(&bob),
        "mutation($id: ID!) { deleteServer(id: $id) }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(first_code(&body), "server_not_found", "{body}");
    let listed = data(
        &app,
        &bob,
        "{ servers { edges { node { name } } } }",
        Value::Null,
    )
    .await;
    assert_eq!(listed["servers"]["edges"], json!([]));
    // Still there for alice.
    let mine = data(
        &app,
        &alice,
        "{ servers { edges { node { name } } } }",
        Value::Null,
    )
    .await;
    assert_eq!(
        mine["servers"]["edges"],
        json!([{"node": {"name": "alice-notes"}}])
    );
    app.stop().await;
}
