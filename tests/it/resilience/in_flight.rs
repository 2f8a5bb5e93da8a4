//! Calls in flight when a streamable-HTTP upstream dies: they end at once
//! with `upstream_closed` instead of waiting for the call timeout, and a
//! crowd of calls through an upstream restart ends well and promptly.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Outcome, USER, app_with, first_success, killed, restarted, timed_call};
use crate::support::mcp::{mcp_client, tool_names};
use crate::support::rest::{add_public, connect};
use crate::support::upstreams::{FixtureHttp, kill_and_restart_after};

/// The codes a call may end with while its upstream restarts.
const RESTART_CODES: [&str; 4] = [
    "upstream_closed",
    "upstream_unavailable",
    "upstream_timeout",
    "too_many_requests",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_30_second_call_ends_with_upstream_closed_when_its_upstream_is_sigkilled() {
    let app = app_with(|s| s.upstream.call_timeout_seconds = 60).await;
    let fixture = FixtureHttp::start();
    add_public(
        &app,
        json!({"name": "midcall", "transport": "streamable_http", "url": fixture.url()}),
    )
    .await;
    let key = app.user_key(USER).await;
    connect(&app, "midcall", &key).await;
    let client = mcp_client(&app, "/mcp", &key).await;

    let peer = client.peer().clone();
    let call = tokio::spawn(async move {
        let (outcome, _) = timed_call(&peer, "midcall__slow", json!({"seconds": 30})).await;
        (outcome, Instant::now())
    });
    // Let the call reach the upstream and start sleeping there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!call.is_finished(), "the slow call is still running");
    let killed_at = Instant::now();
    let fixture = killed(fixture).await;
    let (outcome, ended) = call.await.expect("the call task");
    let took = ended.duration_since(killed_at);
    eprintln!("resilience in flight: the 30 s call ended {took:?} after the SIGKILL: {outcome:?}");
    assert_eq!(outcome.code(), Some("upstream_closed"), "{outcome:?}");
    assert!(
        took < Duration::from_secs(3),
        "ended {took:?} after the kill"
    );

    // Once the upstream is back, its tools are there without a connect.
    let (_fixture, back) = restarted(fixture).await;
    let (text, ok_at, _) = first_success(
        &client,
        "midcall__echo",
        json!({"text": "back"}),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(text, "back");
    eprintln!(
        "resilience in flight: first call {:?} after the upstream was back",
        ok_at.duration_since(back)
    );
    let tools = tool_names(&client).await;
    assert!(
        tools.contains(&"midcall__slow".to_owned()),
        "the upstream's tools are listed again: {tools:?}"
    );
    client.cancel().await.expect("the client closes");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_calls_through_an_upstream_restart_end_well_and_all_succeed_after_it() {
    let app = app_with(|_| {}).await;
    let fixture = FixtureHttp::start();
    add_public(
        &app,
        json!({"name": "crowd", "transport": "streamable_http", "url": fixture.url()}),
    )
    .await;
    let key = app.user_key(USER).await;
    connect(&app, "crowd", &key).await;
    let client = mcp_client(&app, "/mcp", &key).await;

    // 32 calls through one session, started 80 ms apart over 2.5 s: some
    // before the kill, some in flight at it, some while it is down, some
    // around its return.
    let started = Instant::now();
    let mut calls = Vec::new();
    for i in 0..32u32 {
        let peer = client.peer().clone();
        calls.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(80) * i).await;
            let (outcome, took) = timed_call(&peer, "crowd__slow", json!({"seconds": 0.2})).await;
            (i, outcome, took, Instant::now())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let comeback = kill_and_restart_after(fixture, Duration::from_secs(1));
    let (_fixture, back) = comeback.wait().await;

    let mut by_outcome: BTreeMap<String, usize> = BTreeMap::new();
    let mut latest_after_back = Duration::ZERO;
    for call in calls {
        let (i, outcome, took, ended) = call.await.expect("a call task");
        let key = outcome.code().unwrap_or("ok").to_owned();
        assert!(
            outcome.is_ok() || RESTART_CODES.contains(&key.as_str()),
            "call {i} ended with {outcome:?}"
        );
        if let Some(after) = ended.checked_duration_since(back) {
            assert!(
                after < Duration::from_secs(2),
                "call {i} ended {after:?} after the upstream was back (took {took:?}): {outcome:?}"
            );
            latest_after_back = latest_after_back.max(after);
        }
        *by_outcome.entry(key).or_default() += 1;
    }
    eprintln!(
        "resilience crowd: 32 calls over {:?}, upstream back at {:?}: {by_outcome:?}; \
         the last ended {latest_after_back:?} after the upstream was back",
        started.elapsed(),
        back.duration_since(started)
    );

    // Once a call gets through, every one of 32 concurrent calls does.
    first_success(
        &client,
        "crowd__echo",
        json!({"text": "ready"}),
        Duration::from_secs(5),
    )
    .await;
    let mut after = Vec::new();
    for i in 0..32 {
        let peer = client.peer().clone();
        after.push(tokio::spawn(async move {
            timed_call(&peer, "crowd__echo", json!({"text": format!("after {i}")})).await
        }));
    }
    for (i, call) in after.into_iter().enumerate() {
        let (outcome, _) = call.await.expect("a call task");
        assert!(
            matches!(&outcome, Outcome::Ok(text) if *text == format!("after {i}")),
            "call {i} after the restart: {outcome:?}"
        );
    }
    client.cancel().await.expect("the client closes");
    app.stop().await;
}
