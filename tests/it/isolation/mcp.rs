//! `/mcp`: a session's tool list never shows another session's tools,
//! calling another user's namespaced tool is an MCP error (never a result,
//! on any protocol revision or route), and an `Mcp-Session-Id` is useless to
//! anyone but the principal that opened it (404 on POST, GET and DELETE).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{TestApp, code};
use crate::support::mcp::{
    SESSION_REVISION, STATELESS_REVISION as MODERN, call, exchange, initialize, mcp_client,
    names_in, open_session, post, stateless_meta, text_of,
};
use crate::support::rest::connect;

use super::{ALICE_PRIV, BOB_PRIV, PUB, world};

/// The MCP error code of a JSON-RPC answer (`data.code`), or `None` when it
/// is a result.
fn error_code(answer: &Value) -> Option<String> {
    answer.get("error").map(|e| {
        e["data"]["code"]
            .as_str()
            .unwrap_or("<no data.code>")
            .to_owned()
    })
}

/// A request on `path` in MCP session `session` with `key` (none: no
/// `Authorization`), as an MCP client sends it.
fn in_session(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    session: &str,
) -> reqwest::RequestBuilder {
    let accept = if method == Method::GET {
        "text/event-stream"
    } else {
        "application/json, text/event-stream"
    };
    let mut req = app
        .client
        .request(method.clone(), app.url(path))
        .header("accept", accept)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", SESSION_REVISION);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if method == Method::POST {
        req = req.json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {}}));
    }
    req
}

/// Asserts that `key` presenting `session` on `path` gets 404
/// `session_not_found` for POST, GET and DELETE.
async fn assert_foreign(app: &TestApp, who: &str, path: &str, key: Option<&str>, session: &str) {
    for method in [Method::POST, Method::GET, Method::DELETE] {
        let resp = in_session(app, method.clone(), path, key, session)
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{who}: {method} {path} with a foreign session: {body}"
        );
        assert_eq!(code(&body), "session_not_found", "{who}: {method}: {body}");
        assert!(
            !body.to_string().contains("alice"),
            "{who}: the 404 names the session's owner: {body}"
        );
    }
}

/// `tools/list` in `session` as `key`: the sorted tool names.
async fn listed_in(app: &TestApp, path: &str, key: &str, session: &str) -> Vec<String> {
    let (status, _, listed) =
        exchange(in_session(app, Method::POST, path, Some(key), session)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    names_in(&listed["result"]["tools"])
}

#[tokio::test]
async fn bobs_mcp_tool_list_never_shows_alices_tools_on_any_revision() {
    let w = world().await;
    let app = &w.app;
    connect(app, PUB, &w.alice).await;
    connect(app, ALICE_PRIV, &w.alice).await;
    connect(app, BOB_PRIV, &w.bob).await;

    for key in [&w.bob, &w.bob_jwt] {
        let client = mcp_client(app, "/mcp", key).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        assert!(!tools.is_empty());
        assert!(
            tools.iter().all(|t| t.name.starts_with("bob-priv__")),
            "{:?}",
            tools.iter().map(|t| t.name.to_string()).collect::<Vec<_>>()
        );
        client.cancel().await.ok();

        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list",
                          "params": {"_meta": stateless_meta()}});
        let (status, _, listed) = exchange(post(app, key, None, Some(MODERN), &list)).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        let listed = names_in(&listed["result"]["tools"]);
        assert!(!listed.is_empty());
        assert!(
            listed.iter().all(|n| n.starts_with("bob-priv__")),
            "{listed:?}"
        );
    }

    let client = mcp_client(app, "/mcp", &w.alice).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(
        tools
            .iter()
            .all(|t| t.name.starts_with("pub__") || t.name.starts_with("alice-priv__")),
        "{tools:?}"
    );
    assert!(tools.iter().any(|t| t.name == "alice-priv__echo"));
    client.cancel().await.ok();
}

#[tokio::test]
async fn bob_calling_alices_namespaced_tools_gets_an_error_never_a_result() {
    let w = world().await;
    let app = &w.app;
    connect(app, PUB, &w.alice).await;
    connect(app, ALICE_PRIV, &w.alice).await;
    connect(app, BOB_PRIV, &w.bob).await;

    // Over an initialize-era session (rmcp's client).
    let client = mcp_client(app, "/mcp", &w.bob).await;
    // What calling a tool that exists nowhere looks like: alice's must be
    // indistinguishable from it (the message only echoes the name sent).
    let unknown = |tool: &str, err: rmcp::ServiceError| match err {
        rmcp::ServiceError::McpError(err) => {
            assert_eq!(
                err.data,
                Some(json!({"code": "unknown_tool"})),
                "{tool}: {err:?}"
            );
            (err.code, err.message.replace(tool, "<tool>"))
        }
        other => panic!("{tool}: expected an MCP error, got {other:?}"),
    };
    let ghost = "nobody-priv__echo";
    let err = client
        .call_tool(call(ghost, json!({"text": "x"})))
        .await
        .expect_err("no such tool");
    let nowhere = unknown(ghost, err);
    for tool in ["alice-priv__echo", "alice-priv__whoami", "pub__echo"] {
        let err = client
            .call_tool(call(tool, json!({"text": "steal"})))
            .await
            .expect_err("another session's tool is no tool of bob's");
        assert_eq!(unknown(tool, err), nowhere, "{tool}");
    }
    // Bob's own tool still works in the same session.
    let own = client
        .call_tool(call("bob-priv__echo", json!({"text": "mine"})))
        .await
        .expect("bob's own tool");
    assert_eq!(text_of(&own), "mine");
    client.cancel().await.ok();

    // Over the stateless revision, by key and by JWT.
    for key in [&w.bob, &w.bob_jwt] {
        let steal = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                           "params": {"name": "alice-priv__echo", "arguments": {"text": "steal"},
                                      "_meta": stateless_meta()}});
        let (_, _, answer) = exchange(post(app, key, None, Some(MODERN), &steal)).await;
        assert_eq!(
            error_code(&answer).as_deref(),
            Some("unknown_tool"),
            "{answer}"
        );
        assert!(answer.get("result").is_none(), "{answer}");
    }

    // Alice's server's own route does not exist for bob.
    for path in [
        format!("/mcp/s/{ALICE_PRIV}"),
        format!("/mcp/s/{}", w.alice_priv_id),
    ] {
        let resp = app
            .mcp_post(&path, Some(&w.bob), None, &initialize(SESSION_REVISION))
            .await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        super::assert_hidden(
            &path,
            StatusCode::NOT_FOUND,
            &body,
            &["alice\"", &w.alice_priv_id],
        );
    }
    // On the public server's route bob sees only his own (empty) connection.
    let pub_route = format!("/mcp/s/{PUB}");
    let client = mcp_client(app, &pub_route, &w.bob).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.is_empty(), "alice's pub connection leaked: {tools:?}");
    let err = client
        .call_tool(call("echo", json!({"text": "steal"})))
        .await
        .expect_err("pub is not connected in bob's session");
    assert!(matches!(err, rmcp::ServiceError::McpError(_)), "{err:?}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn another_principals_mcp_session_id_is_404_on_post_get_and_delete() {
    let w = world().await;
    let app = &w.app;
    connect(app, ALICE_PRIV, &w.alice).await;
    let session = open_session(app, "/mcp", &w.alice).await;
    let per_server = open_session(app, &format!("/mcp/s/{ALICE_PRIV}"), &w.alice).await;

    let admin = app.admin_key.clone();
    let intruders: [(&str, Option<&str>); 4] = [
        ("bob's key", Some(&w.bob)),
        ("bob's JWT", Some(&w.bob_jwt)),
        ("the admin", Some(&admin)),
        ("an anonymous client", None),
    ];
    for (who, key) in intruders {
        assert_foreign(app, who, "/mcp", key, &session).await;
        // A session of alice's per-server route, presented on bob's reachable routes.
        assert_foreign(app, who, "/mcp", key, &per_server).await;
    }
    for (who, key) in [("bob's key", &w.bob), ("bob's JWT", &w.bob_jwt)] {
        assert_foreign(app, who, &format!("/mcp/s/{PUB}"), Some(key), &per_server).await;
    }

    // Alice's sessions survived every attempt, the DELETEs included; her
    // JWT is the same principal, so it may use them too.
    assert!(
        listed_in(app, "/mcp", &w.alice, &session)
            .await
            .contains(&"alice-priv__echo".to_owned())
    );
    assert!(
        listed_in(app, "/mcp", &w.alice_jwt, &session)
            .await
            .contains(&"alice-priv__echo".to_owned())
    );
    let per_server_path = format!("/mcp/s/{ALICE_PRIV}");
    assert!(
        listed_in(app, &per_server_path, &w.alice, &per_server)
            .await
            .contains(&"echo".to_owned())
    );

    // Once alice ends it, nobody (alice included) can use it.
    let resp = in_session(app, Method::DELETE, "/mcp", Some(&w.alice), &session)
        .send()
        .await
        .expect("sent");
    assert!(resp.status().is_success(), "{}", resp.status());
    let resp = in_session(app, Method::POST, "/mcp", Some(&w.alice), &session)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_session_opened_on_one_route_is_not_found_on_another() {
    let w = world().await;
    let app = &w.app;
    connect(app, PUB, &w.alice).await;
    let aggregate = open_session(app, "/mcp", &w.alice).await;
    let scoped = open_session(app, &format!("/mcp/s/{PUB}"), &w.alice).await;
    for (path, session) in [
        (format!("/mcp/s/{PUB}"), &aggregate),
        ("/mcp".to_owned(), &scoped),
    ] {
        let resp = in_session(app, Method::POST, &path, Some(&w.alice), session)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn bob_never_reaches_alices_upstream_session_of_a_shared_public_server() {
    let w = world().await;
    let upstream = crate::support::upstreams::FixtureHttp::start();
    let (status, body) = w
        .app
        .post(
            "/api/v1/servers",
            &w.app.admin_key,
            json!({"name": "shared-http", "transport": "streamable_http",
                   "url": upstream.url(), "is_public": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut seen = Vec::new();
    for key in [&w.alice, &w.bob] {
        connect(&w.app, "shared-http", key).await;
        let client = mcp_client(&w.app, "/mcp", key).await;
        let who = client
            .call_tool(call("shared-http__whoami", json!({})))
            .await
            .expect("whoami");
        client.cancel().await.ok();
        let headers: Value = serde_json::from_str(&text_of(&who)).unwrap_or(Value::Null);
        let upstream_session = headers["mcp-session-id"]
            .as_str()
            .unwrap_or_else(|| panic!("the upstream saw no session id: {headers}"))
            .to_owned();
        seen.push(upstream_session);
    }
    assert_ne!(
        seen[0], seen[1],
        "alice and bob share one upstream MCP session of a public server"
    );
}

#[tokio::test]
async fn a_public_server_made_private_disappears_from_other_users_sessions_and_calls() {
    let w = world().await;
    let app = &w.app;
    connect(app, PUB, &w.bob).await;
    let client = mcp_client(app, "/mcp", &w.bob).await;
    let echoed = client
        .call_tool(call("pub__echo", json!({"text": "before"})))
        .await
        .expect("bob's call while pub is public");
    assert_eq!(text_of(&echoed), "before");

    let (status, body) = app
        .patch(
            &format!("/api/v1/servers/{PUB}"),
            &app.admin_key,
            json!({"is_public": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // REST reads the catalog on every request: hidden at once.
    let (_, tools) = app.get("/api/v1/session/tools", &w.bob).await;
    assert_eq!(tools["tools"], json!([]), "{tools}");
    let (status, body) = app.get(&format!("/api/v1/servers/{PUB}"), &w.bob).await;
    super::assert_hidden("pub after unpublishing", status, &body, &[]);
    let (status, _) = app.session_action("connect", PUB, &w.bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // `/mcp` caches a session's tool view for a bounded time (VIEW_TTL);
    // wait for the rebuild, then the tool is gone and calls fail.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let tools = client.list_all_tools().await.expect("tools/list");
        if tools.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pub's tools are still listed 15 s after it became private: {tools:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let err = client
        .call_tool(call("pub__echo", json!({"text": "after"})))
        .await
        .expect_err("a hidden server's tool is no tool");
    assert!(matches!(err, rmcp::ServiceError::McpError(_)), "{err:?}");
    client.cancel().await.ok();
}
