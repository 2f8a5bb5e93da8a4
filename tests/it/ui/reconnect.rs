//! A broken upstream link on the page: a user's open page follows a
//! connected server through its upstream's death (`RECONNECTING`, with the
//! last error) and return (`CONNECTED`, one reconnect counted), with no
//! reload, in real headless Chromium.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::tool_count;
use crate::support::app::{TestApp, spawn_app_with};
use crate::support::browser::BrowserRun;
use crate::support::rest::{connect, create_server, disconnect, session_server};
use crate::support::unique;
use crate::support::upstreams::{FixtureHttp, Restartable};

#[tokio::test(flavor = "multi_thread")]
async fn a_users_page_shows_a_link_reconnecting_and_back_without_a_reload() {
    // A broken link is noticed within a second (the fixture's event stream
    // also breaks at once) and retried at most a second apart.
    let app = spawn_app_with(|s| {
        s.upstream.health_interval_seconds = 1;
        s.upstream.reconnect_max_delay_seconds = 1;
        s.upstream.connect_timeout_seconds = 5;
        s.upstream.tool_fetch_timeout_seconds = 5;
    })
    .await;
    let upstream = FixtureHttp::start();
    let expected_tools = tool_count(&app, &upstream.url()).await;
    let key = app.user_key("dana").await;
    let server = unique("flaky-");
    create_server(
        &app,
        &key,
        json!({"name": server, "transport": "streamable_http", "url": upstream.url()}),
    )
    .await;
    connect(&app, &server, &key).await;

    let mut run = BrowserRun::start(
        "reconnect",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("USER_KEY", key.clone()),
            ("USER_ID", "dana".into()),
            ("SERVER_NAME", server.clone()),
            ("EXPECTED_TOOLS", expected_tools.to_string()),
        ],
    )
    .await;

    run.wait_for("connected-seen").await;
    let upstream = blocking(upstream, |u| u.kill()).await;
    run.reply(Value::Null).await;

    // The upstream stays down until the page has shown RECONNECTING.
    let shown = run.wait_for("reconnecting-seen").await;
    let entry = session_server(&app, &key, &server).await;
    assert_eq!(
        entry["status"], "RECONNECTING",
        "the page showed {shown} while the API says {entry}"
    );
    let started = Instant::now();
    let _upstream = blocking(upstream, |u| u.restart()).await;
    eprintln!("the upstream listens again after {:?}", started.elapsed());
    run.reply(Value::Null).await;

    let finished = run.finish().await;
    let report = &finished.summary["report"];
    let back = wait_for_status(&app, &key, &server, "CONNECTED").await;
    assert_eq!(back["reconnects"], 1, "{back}");
    assert_eq!(back["tool_count"], expected_tools, "{back}");
    let mut statuses: Vec<&str> = report["statuses"]
        .as_array()
        .map(|all| all.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    statuses.dedup();
    assert!(
        statuses.ends_with(&["RECONNECTING", "CONNECTED"]),
        "the page's serverStatusChanged frames: {report}"
    );
    disconnect(&app, &server, &key).await;
    app.stop().await;
}

/// Runs `act` on `upstream` off the async threads (a kill reaps, a restart
/// waits for the port); the upstream afterwards.
async fn blocking(
    mut upstream: FixtureHttp,
    act: impl FnOnce(&mut FixtureHttp) + Send + 'static,
) -> FixtureHttp {
    tokio::task::spawn_blocking(move || {
        act(&mut upstream);
        upstream
    })
    .await
    .expect("the upstream's kill or restart finished")
}

/// `server`'s session entry once its status is `want` (within 10 s).
async fn wait_for_status(app: &TestApp, key: &str, server: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let entry = session_server(app, key, server).await;
        if entry["status"] == want || Instant::now() > deadline {
            assert_eq!(entry["status"], want, "{entry}");
            return entry;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
