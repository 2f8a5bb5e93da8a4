//! The relay over a streamable-HTTP upstream, whose `tools/call`s the
//! gateway posts itself (`upstream::http_call`) rather than through rmcp's
//! client: progress under the client's own token, sampling / elicitation /
//! roots answered by the calling client, cancellation and timeouts that
//! reach the upstream (also for a call whose request the client closed),
//! an upstream that dies mid-call, and one that restarted and forgot the
//! session.
//!
//! The upstream is `mcp-fixture --transport streamable-http` with
//! `FIXTURE_RELAY=1`; the clients are rmcp's, on the running app's `/mcp`.

use std::time::{Duration, Instant};

use rmcp::model::{ProgressToken, ServerResult};
use serde_json::{Value, json};

use crate::mcp_relay::{
    call_text, cancelled_count, error_code, in_flight, relay_client, start_call, three_steps,
};
use crate::support::app::{TestApp, spawn_app, spawn_app_with};
use crate::support::mcp::{SESSION_REVISION, call, cancel_request, open_session, post};
use crate::support::rest::{add_public, connect, session_server};
use crate::support::upstreams::{FixtureHttp, Restartable};

/// A relay fixture over streamable HTTP, added as public server `name` and
/// connected by `key`.
async fn add_http_relay(app: &TestApp, name: &str, key: &str) -> FixtureHttp {
    let fixture = FixtureHttp::start_with_env(&[("FIXTURE_RELAY", "1")]);
    add_public(
        app,
        json!({"name": name, "transport": "streamable_http", "url": fixture.url()}),
    )
    .await;
    connect(app, name, key).await;
    fixture
}

#[tokio::test]
async fn progress_sampling_elicitation_and_roots_reach_the_calling_client() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let _fixture = add_http_relay(&app, "fx", &alice).await;
    let (client, mut seen) = relay_client(&app, &alice, true).await;

    let handle = start_call(&client, "fx__progress", json!({"steps": 3})).await;
    let token: ProgressToken = handle.progress_token.clone();
    let answer = handle.await_response().await.expect("progress answers");
    assert!(
        matches!(answer, ServerResult::CallToolResult(_)),
        "{answer:?}"
    );
    assert_eq!(three_steps(&mut seen, &token).await, vec![1.0, 2.0, 3.0]);

    let (sampled, is_error) = call_text(&client, "fx__sample", json!({"prompt": "hello"})).await;
    assert!(!is_error, "{sampled}");
    assert_eq!(sampled, "sampled: hello");
    let (elicited, is_error) =
        call_text(&client, "fx__elicit", json!({"message": "Your name?"})).await;
    assert!(!is_error, "{elicited}");
    let elicited: Value = serde_json::from_str(&elicited).expect("elicit answers JSON");
    assert_eq!(elicited["content"], json!({"name": "Ada"}));
    let (roots, is_error) = call_text(&client, "fx__roots", json!({})).await;
    assert!(!is_error, "{roots}");
    assert_eq!(roots, r#"["file:///work/project"]"#);

    // A client without the capabilities: its calls' requests are refused.
    let (plain, _plain_seen) = relay_client(&app, &alice, false).await;
    let (refusal, is_error) = call_text(&plain, "fx__sample", json!({"prompt": "x"})).await;
    assert!(is_error, "{refusal}");
    let refusal: Value = serde_json::from_str(&refusal).expect("the fixture reports JSON");
    assert_eq!(
        refusal["data"]["code"], "client_capability_missing",
        "{refusal}"
    );
    client.cancel().await.expect("client closes");
    plain.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn a_cancelled_or_timed_out_call_is_cancelled_upstream_and_unregistered() {
    let app = spawn_app_with(|s| s.upstream.call_timeout_seconds = 1).await;
    let alice = app.user_key("alice").await;
    let _fixture = add_http_relay(&app, "fx", &alice).await;
    let (client, _seen) = relay_client(&app, &alice, true).await;

    // Timed out: upstream_timeout within seconds, and cancelled upstream.
    let started = Instant::now();
    let err = client
        .call_tool(call("fx__slow", json!({"seconds": 30})))
        .await
        .expect_err("the call times out");
    assert_eq!(error_code(&err), "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        cancelled_count(&client, "1", 60).await,
        "1",
        "the timed-out call was cancelled upstream"
    );

    // Cancelled by the client (progress keeps it alive past the timeout).
    let doomed = start_call(&client, "fx__slow", json!({"seconds": 30})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    doomed
        .cancel(Some("test cancels".into()))
        .await
        .expect("cancel sent");
    assert_eq!(
        cancelled_count(&client, "2", 60).await,
        "2",
        "the cancelled call was cancelled upstream"
    );
    assert_eq!(
        in_flight(&app, "alice", "fx"),
        Some(0),
        "no call stays registered"
    );
    client.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn an_upstream_that_dies_mid_call_fails_it_at_once_and_one_that_restarted_is_met_again() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let mut fixture = add_http_relay(&app, "fx", &alice).await;
    let (client, _seen) = relay_client(&app, &alice, true).await;
    let (text, _) = call_text(&client, "fx__echo", json!({"text": "first"})).await;
    assert_eq!(text, "first");

    // The upstream restarts between two calls: it forgot the session, and
    // the next call still answers (the session is renewed under it).
    fixture.restart();
    let (text, is_error) = call_text(&client, "fx__echo", json!({"text": "after restart"})).await;
    assert!(!is_error, "{text}");
    assert_eq!(text, "after restart");

    // It dies under a call: that call fails at once, not at a timeout.
    let started = Instant::now();
    let err = client
        .call_tool(call("fx__die", json!({})))
        .await
        .expect_err("the call fails");
    assert!(
        matches!(
            error_code(&err).as_str(),
            "upstream_closed" | "upstream_unavailable"
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the dying call ended at once: {:?}",
        started.elapsed()
    );
    // Back on the same port: the link heals by itself.
    fixture.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let result = client
            .call_tool(call("fx__echo", json!({"text": "healed"})))
            .await;
        if let Ok(result) = result {
            assert_eq!(crate::support::mcp::text_of(&result), "healed");
            break;
        }
        assert!(Instant::now() < deadline, "not healed in time: {result:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fx = session_server(&app, &alice, "fx").await;
    assert_eq!(fx["status"], "CONNECTED", "{fx}");
    client.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn a_call_whose_request_is_closed_runs_on_until_its_client_cancels_it() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let _fixture = add_http_relay(&app, "fx", &alice).await;
    let (client, _seen) = relay_client(&app, &alice, true).await;
    let session = open_session(&app, "/mcp", &alice).await;

    // The client gives up on a slow call before its answer came: the
    // request is closed.
    let slow = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "fx__slow", "arguments": {"seconds": 30}},
    });
    let response = post(&app, &alice, Some(&session), Some(SESSION_REVISION), &slow)
        .send()
        .await
        .expect("the head of the call's stream");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let answer = tokio::time::timeout(Duration::from_millis(300), response.bytes()).await;
    assert!(answer.is_err(), "no answer within 300 ms: {answer:?}");
    // A disconnect is not a cancellation: the call runs on upstream.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(in_flight(&app, "alice", "fx"), Some(1));
    assert_eq!(cancelled_count(&client, "0", 1).await, "0");

    // Its cancellation, sent after the close, still reaches the upstream.
    assert_eq!(
        cancel_request(&app, &alice, &session, 7, "gave up").await,
        reqwest::StatusCode::ACCEPTED
    );
    assert_eq!(
        cancelled_count(&client, "1", 60).await,
        "1",
        "the closed call was cancelled upstream"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight(&app, "alice", "fx") != Some(0) {
        assert!(Instant::now() < deadline, "the call stays registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.cancel().await.expect("client closes");
    app.stop().await;
}
