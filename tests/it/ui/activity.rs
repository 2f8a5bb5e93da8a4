//! Activity in the page (Chromium): a tool call made through `/mcp` while
//! the page is open shows in alice's Activity without a reload, with its
//! tool, outcome and duration; the outcome filter narrows the list; bob's
//! calls never show in alice's page.

use serde_json::{Value, json};

use crate::support::app::spawn_app;
use crate::support::browser::BrowserRun;
use crate::support::mcp::{call, mcp_client};
use crate::support::rest::{add_fixture, connect};

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_a_tool_call_in_activity_live() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    connect(&app, "fx", &alice).await;
    connect(&app, "fx", &bob).await;
    let mut run = BrowserRun::start(
        "activity",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("ALICE_KEY", alice.clone()),
        ],
    )
    .await;
    run.wait_for("watching").await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    let others = mcp_client(&app, "/mcp", &bob).await;
    others
        .call_tool(call("fx__echo", json!({"text": "from bob"})))
        .await
        .expect("bob's call");
    let answer = client
        .call_tool(call("fx__echo", json!({"text": "live"})))
        .await
        .expect("alice's echo");
    assert_ne!(answer.is_error, Some(true), "{answer:?}");
    let failed = client
        .call_tool(call("fx__fail", json!({})))
        .await
        .expect("alice's fail");
    assert_eq!(failed.is_error, Some(true), "{failed:?}");
    run.reply(Value::Null).await;
    run.finish().await;
    client.cancel().await.expect("close");
    others.cancel().await.expect("close");
    app.stop().await;
}
