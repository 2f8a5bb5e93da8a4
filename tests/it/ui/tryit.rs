//! Search, tool names and Try it in the page (Chromium): the search box
//! narrows the cards and tool lists; tools show the name models see and
//! their annotations; Try it calls `echo`, a tool with a nested-object
//! schema and one with an image result through `/mcp` as the signed-in
//! user, and shows a tool's error and a JSON-RPC error with its code; a
//! failed server's whole error can be read.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{code, spawn_app};
use crate::support::browser::BrowserRun;
use crate::support::rest::{add_public, connect, create_server, session_server};
use crate::support::upstreams::{FixtureHttp, free_port};

#[tokio::test(flavor = "multi_thread")]
async fn the_page_searches_names_tools_and_tries_them_through_mcp() {
    let app = spawn_app().await;
    let upstream = FixtureHttp::start_with_env(&[("FIXTURE_RICH", "1")]);
    add_public(
        &app,
        json!({"name": "rich", "transport": "streamable_http", "url": upstream.url()}),
    )
    .await;
    let alice = app.user_key("alice").await;
    connect(&app, "rich", &alice).await;

    // The REST tool list names each tool as /mcp does, with its annotations.
    let (status, tools) = app.get("/api/v1/session/tools", &alice).await;
    assert_eq!(status, StatusCode::OK, "{tools}");
    let ticket = tools["tools"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["name"] == "file_ticket"))
        .unwrap_or_else(|| panic!("no file_ticket in {tools}"));
    assert_eq!(ticket["namespaced_name"], "rich__file_ticket", "{ticket}");
    assert_eq!(ticket["title"], "File a ticket", "{ticket}");
    assert_eq!(ticket["annotations"]["destructiveHint"], false, "{ticket}");

    // Alice's own server, failed: nothing listens at its port.
    let down = "down";
    create_server(
        &app,
        &alice,
        json!({"name": down, "transport": "streamable_http",
               "url": format!("http://127.0.0.1:{}/mcp", free_port())}),
    )
    .await;
    let (status, failed) = app.session_action("connect", down, &alice).await;
    assert_eq!(
        (status, code(&failed)),
        (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
        "{failed}"
    );
    let last_error = session_server(&app, &alice, down).await["last_error"]
        .as_str()
        .expect("a failed server's last_error")
        .to_owned();

    // `rich` is connected in alice's session only: a call as anyone else
    // would find no `rich__echo` there.
    let run = BrowserRun::start(
        "tryit",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("ALICE_KEY", alice.clone()),
            ("SERVER", "rich".into()),
            ("FAILED_SERVER", down.into()),
            ("FAILED_ERROR", last_error),
        ],
    )
    .await;
    run.finish().await;
    app.stop().await;
}
