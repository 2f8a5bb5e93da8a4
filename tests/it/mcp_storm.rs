//! An upstream that announces `tools/list_changed` in a storm: the gateway
//! coalesces the refreshes of the link (at most one per 250 ms floor, plus
//! the first), loses no change and does not flood its log.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::app::spawn_app;
use crate::support::log::CapturedLog;
use crate::support::mcp::{call, mcp_client, text_of, tool_names};
use crate::support::rest::{add_public, connect, fixture_server};

#[tokio::test]
async fn a_storm_of_list_changed_costs_a_few_refreshes_and_loses_no_change() {
    const REFRESHED: &str = "tools re-read after the upstream's list_changed";
    let log = CapturedLog::default();
    let _guard = log.install();
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let mut server = fixture_server("fx");
    server["env"] = json!({"FIXTURE_RELAY": "1"});
    add_public(&app, server).await;
    connect(&app, "fx", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;

    let started = Instant::now();
    let sent = client
        .call_tool(call("fx__notify", json!({"kind": "tools", "count": 1000})))
        .await
        .expect("the notify call answers");
    assert_eq!(text_of(&sent), "sent");
    // Wait until the refreshes settle: none new for two floors.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut count = log.text().matches(REFRESHED).count();
    loop {
        assert!(
            Instant::now() < deadline,
            "refreshes never settled: {count}"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        let now = log.text().matches(REFRESHED).count();
        if now == count && now > 0 {
            break;
        }
        count = now;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // At most one refresh per 250 ms floor, plus the first.
    let bound = 2 + (elapsed / 0.25).ceil() as usize;
    assert!(
        (1..=bound).contains(&count),
        "{count} refreshes for 1000 announcements in {elapsed:.2} s (bound {bound})"
    );
    // The last announcement is not lost: the tool it added is listed.
    let names = tool_names(&client).await;
    assert!(names.contains(&"fx__extra".to_owned()), "{names:?}");
    // And the log does not grow with the storm.
    let lines = log
        .text()
        .lines()
        .filter(|l| l.contains("list_changed"))
        .count();
    assert!(lines <= count + 5, "{lines} log lines about list_changed");
    client.cancel().await.expect("client closes");
    app.stop().await;
}
