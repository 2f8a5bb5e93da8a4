//! What a client learns at `initialize` (and `server/discover`), read by the
//! official Python SDK 2.x (`tests/fixtures/mcp_info_client.py`, venv
//! `py2`): on `/mcp/s/{server}` the upstream's own capabilities,
//! instructions and `serverInfo`; on `/mcp` the connected servers'
//! instructions composed under their names.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app};
use crate::support::python::{python2, run_client};
use crate::support::rest::{add_fixture, add_public, connect};
use crate::support::upstreams::{Everything, EverythingMode};

/// Runs `mcp_info_client.py CONNECT URL KEY` (killed after 60 s); the JSON
/// object it prints last.
async fn server_says(connect: &str, url: String, key: &str) -> Value {
    let args = vec![connect.to_owned(), url, key.to_owned()];
    run_client(
        python2(),
        "mcp_info_client.py",
        args,
        Duration::from_secs(60),
    )
    .await
}

/// An app where `alice` connected server-everything (streamable HTTP, `http`)
/// as `everything`; her key.
async fn app_with_everything(http: &Everything) -> (TestApp, String) {
    let app = spawn_app().await;
    add_public(
        &app,
        json!({"name": "everything", "transport": "streamable_http", "url": http.url()}),
    )
    .await;
    let alice = app.user_key("alice").await;
    connect(&app, "everything", &alice).await;
    (app, alice)
}

#[tokio::test]
async fn the_per_server_route_of_a_plain_stdio_server_advertises_no_subscribe_completions_or_logging()
 {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;

    for mode in ["session", "auto"] {
        let said = server_says(mode, app.url("/mcp/s/fx"), &alice).await;
        assert_eq!(
            said["capabilities"],
            json!({"tools": {"listChanged": true}}),
            "{mode}: only what mcp-fixture (tools, no content) offers: {said}"
        );
        assert_eq!(
            said["server_info"]["name"], "manifold/mcp-fixture",
            "{said}"
        );
        assert_eq!(
            said["instructions"], "A deterministic MCP server for Manifold's tests.",
            "{mode}: the fixture's own instructions: {said}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_per_server_route_passes_server_everythings_instructions_and_capabilities_through() {
    let http = Everything::start(EverythingMode::StreamableHttp);
    let direct = server_says("session", http.url(), "unused").await;
    let (app, alice) = app_with_everything(&http).await;

    let through = server_says("session", app.url("/mcp/s/everything"), &alice).await;
    let instructions = direct["instructions"]
        .as_str()
        .expect("everything has instructions");
    assert!(instructions.len() > 1000, "{direct}");
    assert_eq!(through["instructions"], direct["instructions"]);
    // Each capability is present through the gateway exactly when it is
    // present directly, with the same `subscribe`.
    for capability in ["tools", "resources", "prompts", "completions", "logging"] {
        assert_eq!(
            through["capabilities"].get(capability).is_some(),
            direct["capabilities"].get(capability).is_some(),
            "{capability}: direct {direct}, through {through}"
        );
    }
    assert_eq!(
        through["capabilities"]["resources"]["subscribe"],
        direct["capabilities"]["resources"]["subscribe"]
    );
    let name = direct["server_info"]["name"].as_str().expect("a name");
    assert_eq!(through["server_info"]["name"], format!("manifold/{name}"));
    assert_eq!(
        through["server_info"]["version"],
        direct["server_info"]["version"]
    );
    assert_eq!(
        through["server_info"]["title"],
        direct["server_info"]["title"]
    );
    app.stop().await;
}

#[tokio::test]
async fn the_endpoint_composes_the_connected_servers_instructions_under_their_names() {
    let http = Everything::start(EverythingMode::StreamableHttp);
    let direct = server_says("session", http.url(), "unused").await;
    let (app, alice) = app_with_everything(&http).await;
    add_fixture(&app, "fx").await;
    connect(&app, "fx", &alice).await;

    for mode in ["session", "auto"] {
        let said = server_says(mode, app.url("/mcp"), &alice).await;
        let text = said["instructions"].as_str().expect("instructions");
        assert!(text.starts_with("Manifold: "), "{mode}: {text}");
        assert!(text.contains("{server}__{tool}"), "{text}");
        let everything = format!(
            "\n\n## everything\n{}",
            direct["instructions"]
                .as_str()
                .expect("instructions")
                .trim()
        );
        assert!(text.contains(&everything), "{mode}: {text}");
        assert!(
            text.contains("\n\n## fx\nA deterministic MCP server for Manifold's tests."),
            "{mode}: {text}"
        );
        assert!(text.len() <= 8 * 1024, "{}", text.len());
    }
    app.stop().await;
}

#[tokio::test]
async fn a_per_server_route_initialized_before_its_server_is_connected_advertises_only_tools() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;

    let said = server_says("session", app.url("/mcp/s/fx"), &alice).await;
    assert_eq!(
        said["capabilities"],
        json!({"tools": {"listChanged": true}}),
        "{said}"
    );
    assert_eq!(said["server_info"]["name"], "manifold/fx", "{said}");
    assert!(
        said["instructions"]
            .as_str()
            .is_some_and(|t| t.contains("not connected")),
        "{said}"
    );
    app.stop().await;
}
