//! Connect / disconnect against real upstreams over every transport, the
//! seed's Redis keys, session isolation, and the lifecycle of stdio children.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, code, spawn_app_with};
use crate::support::mcp::names_in;
use crate::support::python::PyServer;
use crate::support::rest::{add_fixture, add_public};
use crate::support::upstreams::{FIXTURE_TOOLS, FixtureHttp};
/// The Python fixture's tools, sorted.
const PY_TOOLS: [&str; 6] = ["add", "countdown", "echo", "fail", "headers", "slow"];

async fn redis_app(prefix: &str) -> TestApp {
    let prefix = prefix.to_owned();
    spawn_app_with(move |s| {
        s.state.url = manifold::config::StateUrl::parse(&crate::support::redis::redis_url())
            .expect("a state URL");
        s.state.key_prefix = prefix;
        s.state.ttl_seconds = 3600;
    })
    .await
}

/// The admin session's live link to `name`, reopened if needed.
async fn admin_link(app: &TestApp, name: &str) -> std::sync::Arc<manifold::upstream::Link> {
    let admin = app
        .state
        .api_keys()
        .authenticate(&app.admin_key)
        .await
        .expect("admin");
    app.state.sessions().link(&admin, name).await.expect("link")
}

fn pid_alive(pid: u32) -> bool {
    // A zombie still has /proc/<pid>; its state is `Z`.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().starts_with(|c| c != 'Z'))
        })
        .unwrap_or(false)
}

async fn wait_gone(pid: u32) -> bool {
    for _ in 0..100 {
        if !pid_alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Connects `name` for `key`, checks the answer, the tool list and (with
/// Redis) the seed's keys, then disconnects and checks they are gone.
async fn connect_round_trip(app: &TestApp, prefix: &str, name: &str, expected: &[&str]) {
    let (status, connected) = app.session_action("connect", name, &app.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{connected}");
    assert_eq!(connected["status"], "CONNECTED");
    assert_eq!(connected["tool_count"], expected.len());
    assert_eq!(names_in(&connected["tools"]), expected);
    assert!(connected["connected_at"].is_string());

    let (_, tools) = app.get("/api/v1/session/tools", &app.admin_key).await;
    let mine: Vec<&Value> = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter(|t| t["server"] == name)
        .collect();
    assert_eq!(mine.len(), expected.len(), "{tools}");
    assert!(mine.iter().all(|t| t["input_schema"]["type"] == "object"));

    let mut redis = crate::support::redis::raw().await;
    let base = format!("{prefix}mcp:session:admin:server:{name}");
    for suffix in ["status", "tools", "connected_at"] {
        let ttl: i64 = ::redis::cmd("TTL")
            .arg(format!("{base}:{suffix}"))
            .query_async(&mut redis)
            .await
            .expect("ttl");
        assert!(ttl > 0 && ttl <= 3600, "{base}:{suffix} ttl {ttl}");
    }
    let members: Vec<String> = ::redis::cmd("SMEMBERS")
        .arg(format!("{prefix}mcp:session:admin:connections"))
        .query_async(&mut redis)
        .await
        .expect("smembers");
    assert!(members.contains(&name.to_owned()));

    let (status, gone) = app.session_action("disconnect", name, &app.admin_key).await;
    assert_eq!(
        (status, &gone["status"]),
        (StatusCode::OK, &json!("DISCONNECTED")),
        "{gone}"
    );
    assert_eq!(gone["tool_count"], 0);
    let exists: i64 = ::redis::cmd("EXISTS")
        .arg(format!("{base}:tools"))
        .query_async(&mut redis)
        .await
        .expect("exists");
    assert_eq!(exists, 0, "tools key removed on disconnect");
    let status: String = ::redis::cmd("GET")
        .arg(format!("{base}:status"))
        .query_async(&mut redis)
        .await
        .expect("get");
    assert_eq!(status, "DISCONNECTED");
}

#[tokio::test]
async fn every_transport_connects_lists_tools_and_disconnects() {
    let prefix = crate::support::unique("conn:");
    let app = redis_app(&prefix).await;
    add_fixture(&app, "fx-stdio").await;
    let http = FixtureHttp::start();
    add_public(
        &app,
        json!({"name": "fx-http", "transport": "streamable_http", "url": http.url()}),
    )
    .await;
    let sse = PyServer::start("sse");
    add_public(
        &app,
        json!({"name": "py-sse", "transport": "sse", "url": sse.url().to_string()}),
    )
    .await;
    let ws = PyServer::start("websocket");
    add_public(
        &app,
        json!({"name": "py-ws", "transport": "websocket", "url": ws.url().to_string()}),
    )
    .await;

    connect_round_trip(&app, &prefix, "fx-stdio", &FIXTURE_TOOLS).await;
    connect_round_trip(&app, &prefix, "fx-http", &FIXTURE_TOOLS).await;
    connect_round_trip(&app, &prefix, "py-sse", &PY_TOOLS).await;
    connect_round_trip(&app, &prefix, "py-ws", &PY_TOOLS).await;
    assert_eq!(
        app.state.sessions().pool().live(),
        (0, 0),
        "every link closed"
    );
}

#[tokio::test]
async fn two_sessions_hold_separate_links_and_one_disconnect_leaves_the_other() {
    let app = spawn_app_with(|_| {}).await;
    add_fixture(&app, "shared").await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    for key in [&alice, &bob] {
        let (status, body) = app.session_action("connect", "shared", key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let pool = app.state.sessions().pool();
    let name = manifold::catalog::ServerName::parse("shared").expect("name");
    let sid = |s: &str| manifold::ids::SessionId::parse(s).expect("sid");
    let a = pool.existing(&sid("alice"), &name).expect("alice's link");
    let b = pool.existing(&sid("bob"), &name).expect("bob's link");
    let (pa, pb) = (a.pid.expect("pid"), b.pid.expect("pid"));
    assert_ne!(pa, pb, "one child per session");
    drop((a, b));

    let (_, gone) = app.session_action("disconnect", "shared", &alice).await;
    assert_eq!(gone["status"], "DISCONNECTED");
    assert!(
        wait_gone(pa).await,
        "alice's child {pa} ended and was reaped"
    );
    assert!(pid_alive(pb), "bob's child still runs");
    let (_, bobs) = app.get("/api/v1/session/tools", &bob).await;
    assert_eq!(
        bobs["tools"].as_array().map(Vec::len),
        Some(FIXTURE_TOOLS.len())
    );
    let (_, alices) = app.get("/api/v1/session/tools", &alice).await;
    assert_eq!(alices["tools"], json!([]));
    app.stop().await;
    assert!(
        wait_gone(pb).await,
        "shutdown ends and reaps bob's child {pb}"
    );
}

#[tokio::test]
async fn concurrent_connects_in_one_session_open_one_link() {
    let app = spawn_app_with(|_| {}).await;
    add_fixture(&app, "once").await;
    let calls = (0..5).map(|_| app.session_action("connect", "once", &app.admin_key));
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["tool_count"], FIXTURE_TOOLS.len());
    }
    assert_eq!(app.state.sessions().pool().live(), (1, 1));
}

#[tokio::test]
async fn idle_links_are_evicted_and_reopened_on_use_while_state_stays_connected() {
    let app = spawn_app_with(|s| s.upstream.idle_timeout_seconds = 1).await;
    add_fixture(&app, "idle").await;
    let (status, _) = app.session_action("connect", "idle", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK);
    let admin = app
        .state
        .api_keys()
        .authenticate(&app.admin_key)
        .await
        .expect("admin");
    let pid = app
        .state
        .sessions()
        .link(&admin, "idle")
        .await
        .expect("link")
        .pid
        .expect("pid");
    assert!(
        wait_gone(pid).await,
        "the idle child {pid} was evicted and reaped"
    );
    let mut live = app.state.sessions().pool().live();
    for _ in 0..100 {
        if live == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        live = app.state.sessions().pool().live();
    }
    assert_eq!(live, (0, 0), "the evicted link no longer counts");
    let (_, listed) = app.get("/api/v1/session/servers", &app.admin_key).await;
    assert_eq!(listed["items"][0]["status"], "CONNECTED");
    assert_eq!(listed["items"][0]["tool_count"], FIXTURE_TOOLS.len());
    let link = app
        .state
        .sessions()
        .link(&admin, "idle")
        .await
        .expect("reopened");
    assert_ne!(link.pid, Some(pid));
    let tools = link
        .peer()
        .list_all_tools()
        .await
        .expect("tools from the reopened link");
    assert_eq!(tools.len(), FIXTURE_TOOLS.len());
}

#[tokio::test]
async fn connecting_again_refreshes_the_tools_and_logout_clears_everything() {
    let app = spawn_app_with(|_| {}).await;
    let http = FixtureHttp::start();
    add_public(
        &app,
        json!({"name": "grow", "transport": "streamable_http", "url": http.url()}),
    )
    .await;
    let (_, first) = app.session_action("connect", "grow", &app.admin_key).await;
    assert_eq!(first["tool_count"], FIXTURE_TOOLS.len());
    let link = admin_link(&app, "grow").await;
    let added = link
        .peer()
        .call_tool(rmcp::model::CallToolRequestParams::new("add_tool"))
        .await
        .expect("add_tool");
    assert_ne!(added.is_error, Some(true));
    let (_, again) = app.session_action("connect", "grow", &app.admin_key).await;
    assert_eq!(again["tool_count"], FIXTURE_TOOLS.len() + 1, "{again}");
    let (status, cleared) = app.delete("/api/v1/session", &app.admin_key).await;
    assert_eq!(
        (status, &cleared["disconnected"]),
        (StatusCode::OK, &json!(["grow"]))
    );
    let (_, listed) = app.get("/api/v1/session/servers", &app.admin_key).await;
    assert_eq!(listed["items"][0]["status"], "DISCONNECTED");
    let (status, err) = app.session_action("connect", "nope", &app.admin_key).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::NOT_FOUND, "server_not_found")
    );
}

#[tokio::test]
async fn connection_state_survives_a_gateway_restart_with_redis() {
    let prefix = crate::support::unique("restart:");
    let (_catalog, pg_url) = crate::support::db::fresh_postgres().await;
    let http = FixtureHttp::start();
    let settings = |s: &mut manifold::Settings| {
        s.catalog.url = manifold::secret::SecretUrl::new(pg_url.clone());
        s.state.url = manifold::config::StateUrl::parse(&crate::support::redis::redis_url())
            .expect("a state URL");
        s.state.key_prefix = prefix.clone();
        // Both processes need the catalog's secrets key (each has its own data_dir).
        s.secrets.encryption_key =
            manifold::secret::Secret::new("CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=".into());
    };
    let first = spawn_app_with(settings).await;
    add_public(
        &first,
        json!({"name": "durable", "transport": "streamable_http", "url": http.url()}),
    )
    .await;
    let (status, _) = first
        .post(
            "/api/v1/servers/durable/connect",
            &first.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let key = first.admin_key.clone();
    first.stop().await;

    let second = spawn_app_with(settings).await;
    let (_, listed) = second.get("/api/v1/session/servers", &key).await;
    assert_eq!(listed["items"][0]["status"], "CONNECTED", "{listed}");
    let (_, tools) = second.get("/api/v1/session/tools", &key).await;
    assert_eq!(
        tools["tools"].as_array().map(Vec::len),
        Some(FIXTURE_TOOLS.len())
    );
    let admin = second
        .state
        .api_keys()
        .authenticate(&key)
        .await
        .expect("same key, same catalog");
    let link = second
        .state
        .sessions()
        .link(&admin, "durable")
        .await
        .expect("reopened after restart");
    let echoed = link
        .peer()
        .call_tool(
            rmcp::model::CallToolRequestParams::new("echo").with_arguments(
                serde_json::Map::from_iter([("text".to_owned(), json!("hi"))]),
            ),
        )
        .await
        .expect("echo");
    assert!(
        serde_json::to_string(&echoed.content)
            .expect("json")
            .contains("hi")
    );
}

#[tokio::test]
async fn server_everything_connects_over_stdio_sse_and_streamable_http() {
    use crate::support::upstreams::{Everything, EverythingMode, everything_stdio};
    let app = spawn_app_with(|_| {}).await;
    let (command, args) = everything_stdio();
    add_public(
        &app,
        json!({"name": "ev-stdio", "transport": "stdio", "command": command, "args": args}),
    )
    .await;
    let sse = Everything::start(EverythingMode::Sse);
    add_public(
        &app,
        json!({"name": "ev-sse", "transport": "sse", "url": sse.url()}),
    )
    .await;
    let http = Everything::start(EverythingMode::StreamableHttp);
    add_public(
        &app,
        json!({"name": "ev-http", "transport": "streamable_http", "url": http.url()}),
    )
    .await;
    let mut lists = Vec::new();
    for name in ["ev-stdio", "ev-sse", "ev-http"] {
        let (status, body) = app.session_action("connect", name, &app.admin_key).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        let names = names_in(&body["tools"]);
        assert!(
            names.contains(&"echo".to_owned()) && names.len() >= 5,
            "{name}: {names:?}"
        );
        assert_eq!(body["tool_count"], names.len());
        lists.push(names);
    }
    assert!(
        lists.windows(2).all(|w| w[0] == w[1]),
        "the same server lists the same tools on every transport: {lists:?}"
    );
}

#[tokio::test]
async fn the_stdio_child_cap_refuses_one_more_with_too_many_links() {
    let app = spawn_app_with(|s| s.upstream.max_stdio_children = 1).await;
    add_fixture(&app, "capped").await;
    let alice = app.user_key("alice").await;
    let (status, _) = app
        .session_action("connect", "capped", &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = app.session_action("connect", "capped", &alice).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::SERVICE_UNAVAILABLE, "too_many_links")
    );
    let (status, _) = app
        .session_action("disconnect", "capped", &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.session_action("connect", "capped", &alice).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "room again after a disconnect: {body}"
    );
}

#[tokio::test]
async fn a_connect_reads_every_page_patches_schemas_and_sends_the_servers_headers() {
    let app = spawn_app_with(|_| {}).await;
    let http =
        FixtureHttp::start_with_env(&[("FIXTURE_TOOL_COUNT", "120"), ("FIXTURE_NO_SCHEMA", "1")]);
    add_public(
        &app,
        json!({"name": "big", "transport": "streamable_http", "url": http.url(),
               "headers": {"X-Team": "blue", "Authorization": "Bearer upstream-token"}, "query_params": {"tenant": "t1"}}),
    )
    .await;
    let (status, body) = app.session_action("connect", "big", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["tool_count"],
        FIXTURE_TOOLS.len() + 120 + 1,
        "all pages of 50 were read"
    );
    let broken = body["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "broken_schema"))
        .expect("broken_schema listed");
    assert_eq!(
        broken["inputSchema"],
        json!({"type": "object", "properties": {}}),
        "required:[ghost] patched away"
    );

    let link = admin_link(&app, "big").await;
    let seen = link
        .peer()
        .call_tool(rmcp::model::CallToolRequestParams::new("whoami"))
        .await
        .expect("whoami")
        .structured_content
        .expect("headers as structured content");
    assert_eq!(seen["x-team"], "blue", "{seen}");
    assert_eq!(seen["authorization"], "Bearer upstream-token", "{seen}");
}

#[tokio::test]
async fn tools_of_a_deleted_or_hidden_server_are_no_longer_listed() {
    let app = spawn_app_with(|_| {}).await;
    add_fixture(&app, "fleeting").await;
    let alice = app.user_key("alice").await;
    let (status, _) = app.session_action("connect", "fleeting", &alice).await;
    assert_eq!(status, StatusCode::OK);
    let (_, before) = app.get("/api/v1/session/tools", &alice).await;
    assert_eq!(
        before["tools"].as_array().map(Vec::len),
        Some(FIXTURE_TOOLS.len())
    );
    let (status, _) = app
        .patch(
            "/api/v1/servers/fleeting",
            &app.admin_key,
            json!({"is_public": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = app.get("/api/v1/session/tools", &alice).await;
    assert_eq!(
        after["tools"],
        json!([]),
        "a server alice can no longer see gives her no tools"
    );
}
