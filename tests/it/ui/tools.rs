//! Choosing tools in the page (Chromium): the server form's "Hide" list
//! becomes the server's `tool_filter` and another user's open page counts
//! the tool away live; a user's "Shown to models" toggle edits their own
//! session filter, which `/mcp` follows.

use serde_json::{Value, json};

use crate::support::app::spawn_app;
use crate::support::browser::BrowserRun;
use crate::support::mcp::{mcp_client, tool_names};
use crate::support::rest::{add_fixture, connect};
use crate::support::upstreams::FIXTURE_TOOLS;

#[tokio::test(flavor = "multi_thread")]
async fn the_page_hides_tools_for_everyone_and_for_one_session() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let mut run = BrowserRun::start(
        "tools",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("ADMIN_KEY", app.admin_key.clone()),
            ("ALICE_KEY", alice.clone()),
            ("SERVER", "fx".into()),
            ("TOOL_COUNT", FIXTURE_TOOLS.len().to_string()),
            ("SERVER_HIDDEN", "fail".into()),
            ("SESSION_HIDDEN", "slow".into()),
        ],
    )
    .await;

    run.wait_for("server-filtered").await;
    let (_, server) = app.get("/api/v1/servers/fx", &app.admin_key).await;
    assert_eq!(
        server["tool_filter"],
        json!({"allow": [], "deny": ["fail"]})
    );
    run.reply(Value::Null).await;

    run.wait_for("session-hidden").await;
    let (_, filter) = app.get("/api/v1/session/tool-filter", &alice).await;
    assert_eq!(filter["deny"], json!(["fx__slow"]), "{filter}");
    let client = mcp_client(&app, "/mcp", &alice).await;
    let names = tool_names(&client).await;
    assert!(!names.contains(&"fx__slow".to_owned()), "{names:?}");
    assert!(!names.contains(&"fx__fail".to_owned()), "{names:?}");
    assert_eq!(names.len(), FIXTURE_TOOLS.len() - 2, "{names:?}");
    run.reply(Value::Null).await;

    run.wait_for("session-shown").await;
    let (_, filter) = app.get("/api/v1/session/tool-filter", &alice).await;
    assert_eq!(filter["deny"], json!([]), "{filter}");
    assert!(tool_names(&client).await.contains(&"fx__slow".to_owned()));
    run.reply(Value::Null).await;
    client.cancel().await.expect("close");
    run.finish().await;
    app.stop().await;
}
