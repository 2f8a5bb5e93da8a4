//! Toolsets in the page (Chromium): created in the "New toolset" dialog
//! after an entry the API refuses, served at once at `/mcp/t/{name}` with
//! the rename, and deleted from its card.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::app::spawn_app;
use crate::support::browser::BrowserRun;
use crate::support::mcp::{mcp_client, tool_names};
use crate::support::rest::{add_fixture, connect};

#[tokio::test(flavor = "multi_thread")]
async fn a_user_creates_uses_and_deletes_a_toolset_in_the_page() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let mut run = BrowserRun::start(
        "toolsets",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("ALICE_KEY", alice.clone()),
            ("SERVER", "fx".into()),
            ("RENAMED", "add".into()),
            ("NEW_NAME", "plus".into()),
        ],
    )
    .await;
    run.wait_for("created").await;
    let client = mcp_client(&app, "/mcp/t/kit", &alice).await;
    assert_eq!(tool_names(&client).await, ["echo", "plus"]);
    client.cancel().await.expect("close");
    run.reply(Value::Null).await;
    run.wait_for("deleted").await;
    let (status, _) = app.get("/api/v1/toolsets/kit", &alice).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    run.reply(Value::Null).await;
    run.finish().await;
    app.stop().await;
}
