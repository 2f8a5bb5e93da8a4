//! Fail-closed servers: while a server marked `fail_closed` is `FAILED` or
//! `RECONNECTING` in a session (it died and is not back yet, or failed to
//! connect), that session's `/mcp` refuses every `tools/call`,
//! `resources/read` and `prompts/get` with `server_failed` naming it, until
//! it is back, connected again or disconnected;
//! `tools/list`, `/mcp/s/{other}` and other sessions keep working; another
//! replica sees the block within the view TTL. The
//! default (fail-open) is covered in `mcp_relay`.

use reqwest::StatusCode;
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};
use rmcp::{ErrorData as McpError, ServiceError};
use serde_json::{Value, json};

use crate::support::app::{TestApp, code, spawn_app, spawn_app_with};
use crate::support::mcp::{Client, call, mcp_client, text_of, tool_names};
use crate::support::redis::free_port;
use crate::support::rest::{add_public, connect, fixture_server, session_server};
use crate::support::upstreams::fixture_stdio;

/// A public stdio `mcp-fixture` with the relay tools (`die`) and notes and
/// prompts, created by the admin.
async fn create_fixture(app: &TestApp, name: &str, fail_closed: bool) {
    let mut body = fixture_server(name);
    body["env"] = json!({"FIXTURE_RELAY": "1", "FIXTURE_CONTENT": "notes"});
    body["fail_closed"] = json!(fail_closed);
    let created = add_public(app, body).await;
    assert_eq!(created["fail_closed"], fail_closed, "{created}");
}

/// Calls `name` (an echo tool) and returns the echoed text.
async fn echoed(client: &Client, name: &str, text: &str) -> Result<String, McpError> {
    match client.call_tool(call(name, json!({"text": text}))).await {
        Ok(result) => Ok(text_of(&result)),
        Err(ServiceError::McpError(err)) => Err(err),
        Err(other) => panic!("{name}: expected a result or an MCP error, got {other:?}"),
    }
}

fn mcp_err<T: std::fmt::Debug>(outcome: Result<T, ServiceError>) -> McpError {
    match outcome {
        Err(ServiceError::McpError(err)) => err,
        other => panic!("expected an MCP error, got {other:?}"),
    }
}

/// Asserts that `err` is `server_failed` naming `server`.
fn assert_server_failed(err: &McpError, server: &str) {
    let data = err.data.clone().unwrap_or(Value::Null);
    assert_eq!(data["code"], "server_failed", "{err:?}");
    assert_eq!(data["server"], server, "{err:?}");
    assert!(err.message.contains(server), "{err:?}");
}

/// Asserts that `client`'s `tools/call`, `resources/read` and `prompts/get`
/// on `/mcp` are all refused because `server` failed, while `tools/list`
/// still answers with the live tools of `live`.
async fn assert_blocked_by(client: &Client, server: &str, live: &str) {
    let err = echoed(client, &format!("{live}__echo"), "hello")
        .await
        .expect_err("the call is refused");
    assert_server_failed(&err, server);
    let read = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "manifold://{live}/note://fixture/readme"
        )))
        .await;
    assert_server_failed(&mcp_err(read), server);
    let prompt = client
        .get_prompt(GetPromptRequestParams::new(format!("{live}__greet")))
        .await;
    assert_server_failed(&mcp_err(prompt), server);
    let listed = tool_names(client).await;
    assert!(
        listed.contains(&format!("{live}__echo")),
        "the live server's tools stay listed: {listed:?}"
    );
}

#[tokio::test]
async fn a_fail_closed_server_dying_mid_call_blocks_the_session_until_it_is_back() {
    // The guard runs through a wrapper that starts it only while `allow`
    // exists, so it stays down until the test lets it come back.
    let dir = tempfile::tempdir().expect("a temp dir");
    let allow = dir.path().join("allow");
    std::fs::write(&allow, "").expect("write the marker");
    let (fixture, args) = fixture_stdio();
    let script = format!(
        "[ -e '{}' ] || {{ echo 'not allowed' >&2; exit 3; }}; exec '{fixture}' {}",
        allow.display(),
        args.join(" ")
    );
    let app = spawn_app_with(|s| s.upstream.reconnect_max_delay_seconds = 1).await;
    add_public(
        &app,
        json!({"name": "guard", "transport": "stdio", "command": "sh",
               "args": ["-c", script], "fail_closed": true,
               "env": {"FIXTURE_RELAY": "1", "FIXTURE_CONTENT": "notes"}}),
    )
    .await;
    create_fixture(&app, "work", false).await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    connect(&app, "guard", &alice).await;
    connect(&app, "work", &alice).await;
    connect(&app, "work", &bob).await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    assert_eq!(
        echoed(&client, "work__echo", "before").await,
        Ok("before".into())
    );

    std::fs::remove_file(&allow).expect("remove the marker");
    let died = echoed(&client, "guard__die", "")
        .await
        .expect_err("the call fails");
    let died_code = died.data.as_ref().and_then(|d| d["code"].as_str());
    assert_eq!(
        died_code,
        Some("upstream_closed"),
        "the dying call reports the upstream, not the block: {died:?}"
    );
    let guard = wait_status(&app, &alice, "guard", "RECONNECTING").await;
    assert!(
        guard["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("the process exited (exit status: 3)")),
        "the exit is named with its status: {guard}"
    );
    // A failed restart replaces the error with its own status and stderr.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let guard = session_server(&app, &alice, "guard").await;
        assert_eq!(guard["status"], "RECONNECTING", "{guard}");
        if guard["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("not allowed"))
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{guard}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    assert_blocked_by(&client, "guard", "work").await;

    // The per-server route of another server, and other sessions, are not blocked.
    let direct = mcp_client(&app, "/mcp/s/work", &alice).await;
    assert_eq!(echoed(&direct, "echo", "direct").await, Ok("direct".into()));
    let bobs = mcp_client(&app, "/mcp", &bob).await;
    assert_eq!(echoed(&bobs, "work__echo", "bob").await, Ok("bob".into()));

    // Once the guard can start again, the gateway brings it back by itself.
    std::fs::write(&allow, "").expect("write the marker");
    wait_status(&app, &alice, "guard", "CONNECTED").await;
    assert_eq!(
        echoed(&client, "work__echo", "after").await,
        Ok("after".into())
    );
    assert_eq!(
        echoed(&client, "guard__echo", "back").await,
        Ok("back".into())
    );

    for c in [client, direct, bobs] {
        c.cancel().await.expect("client closes");
    }
    app.stop().await;
}

/// Polls the session's view of `server` until its status is `want` (10 s).
async fn wait_status(app: &TestApp, key: &str, server: &str, want: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let body = session_server(app, key, server).await;
        if body["status"] == want {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{server} never became {want}: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_fail_closed_server_that_fails_to_connect_blocks_until_it_is_disconnected() {
    let app = spawn_app_with(|s| s.upstream.connect_timeout_seconds = 2).await;
    create_fixture(&app, "work", false).await;
    let alice = app.user_key("alice").await;
    // Users may mark their own servers fail-closed.
    let down = json!({
        "name": "down", "transport": "streamable_http",
        "url": format!("http://127.0.0.1:{}/mcp", free_port()), "fail_closed": true,
    });
    let (status, created) = app.post("/api/v1/servers", &alice, down).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    connect(&app, "work", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    assert_eq!(
        echoed(&client, "work__echo", "open").await,
        Ok("open".into())
    );

    let (status, err) = app.session_action("connect", "down", &alice).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
        "{err}"
    );
    assert_blocked_by(&client, "down", "work").await;

    // Bob's session never saw `down` (alice's private server) and is not blocked.
    let bob = app.user_key("bob").await;
    connect(&app, "work", &bob).await;
    let bobs = mcp_client(&app, "/mcp", &bob).await;
    assert_eq!(echoed(&bobs, "work__echo", "bob").await, Ok("bob".into()));

    let (status, body) = app.session_action("disconnect", "down", &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        echoed(&client, "work__echo", "again").await,
        Ok("again".into())
    );

    // Switched to fail-open, a new failure no longer blocks.
    let (status, patched) = app
        .patch(
            "/api/v1/servers/down",
            &alice,
            json!({"fail_closed": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (status, _) = app.session_action("connect", "down", &alice).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        echoed(&client, "work__echo", "open").await,
        Ok("open".into())
    );

    for c in [client, bobs] {
        c.cancel().await.expect("client closes");
    }
    app.stop().await;
}

#[tokio::test]
async fn fail_closed_is_created_patched_and_read_through_rest() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    let server = |name: &str| json!({"name": name, "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"});

    let (status, plain) = app.post("/api/v1/servers", &alice, server("plain")).await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    assert_eq!(plain["fail_closed"], false, "fail-open by default: {plain}");

    let mut body = server("strict");
    body["fail_closed"] = json!(true);
    let (status, strict) = app.post("/api/v1/servers", &alice, body).await;
    assert_eq!(status, StatusCode::CREATED, "{strict}");
    assert_eq!(strict["fail_closed"], true);
    let (_, read) = app.get("/api/v1/servers/strict", &alice).await;
    assert_eq!(read["fail_closed"], true, "{read}");

    // A patch of another field keeps it; a patch of it changes it.
    let (status, renamed) = app
        .patch("/api/v1/servers/strict", &alice, json!({"title": "Strict"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["fail_closed"], true);
    let (status, opened) = app
        .patch(
            "/api/v1/servers/strict",
            &alice,
            json!({"fail_closed": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(opened["fail_closed"], false);
    let (_, listed) = app.get("/api/v1/servers", &alice).await;
    let flags: Vec<(&str, &Value)> = listed["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|s| (s["name"].as_str().unwrap_or_default(), &s["fail_closed"]))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(flags, [("plain", &json!(false)), ("strict", &json!(false))]);

    // Same rules as the other fields: only the owner (or an admin) changes
    // it, and it must be a boolean.
    let (status, err) = app
        .patch("/api/v1/servers/plain", &bob, json!({"fail_closed": true}))
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::NOT_FOUND, "server_not_found"),
        "{err}"
    );
    let (status, err) = app
        .patch(
            "/api/v1/servers/plain",
            &alice,
            json!({"fail_closed": "yes"}),
        )
        .await;
    assert!(status.is_client_error(), "{status} {err}");
    let (_, still) = app.get("/api/v1/servers/plain", &alice).await;
    assert_eq!(still["fail_closed"], false);
    let (status, admin) = app
        .patch(
            "/api/v1/servers/plain",
            &app.admin_key,
            json!({"fail_closed": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{admin}");
    assert_eq!(admin["fail_closed"], true);

    let (_, doc) = app.get("/api/v1/openapi.json", &app.admin_key).await;
    let schemas = &doc["components"]["schemas"];
    for schema in ["Server", "NewServer", "ServerPatch"] {
        let kind = &schemas[schema]["properties"]["fail_closed"]["type"];
        let boolean = kind == "boolean"
            || kind
                .as_array()
                .is_some_and(|kinds| kinds.contains(&json!("boolean")));
        assert!(boolean, "{schema}: {}", schemas[schema]);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_failure_on_one_replica_blocks_the_session_on_the_other_within_the_view_ttl() {
    // Two replicas on one PostgreSQL catalog and one Redis key prefix.
    let replicas = crate::support::app::replicas_with("failclosed", |s| {
        s.upstream.connect_timeout_seconds = 2;
    })
    .await;
    let (a, b) = (replicas.a, replicas.b);
    create_fixture(&a, "work", false).await;
    let alice = a.user_key("alice").await;
    let down = json!({
        "name": "down", "transport": "streamable_http",
        "url": format!("http://127.0.0.1:{}/mcp", free_port()), "fail_closed": true,
    });
    let (status, created) = a.post("/api/v1/servers", &alice, down).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    connect(&a, "work", &alice).await;
    let on_b = mcp_client(&b, "/mcp", &alice).await;
    assert_eq!(echoed(&on_b, "work__echo", "open").await, Ok("open".into()));

    let (status, _) = a.session_action("connect", "down", &alice).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let limit = manifold::gateway::view::VIEW_TTL + std::time::Duration::from_secs(2);
    let started = std::time::Instant::now();
    loop {
        match echoed(&on_b, "work__echo", "probe").await {
            Err(err) => {
                assert_server_failed(&err, "down");
                break;
            }
            Ok(_) if started.elapsed() < limit => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Ok(_) => panic!("replica b still forwards calls after {limit:?}"),
        }
    }
    assert_blocked_by(&on_b, "down", "work").await;

    let (status, body) = a.session_action("disconnect", "down", &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let started = std::time::Instant::now();
    while echoed(&on_b, "work__echo", "again").await.is_err() {
        assert!(started.elapsed() < limit, "replica b stays blocked");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    on_b.cancel().await.expect("client closes");
    a.stop().await;
    b.stop().await;
    crate::support::db::drop_postgres_database(&replicas.catalog_url).await;
}
