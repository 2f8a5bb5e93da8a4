//! What upstreams send back through `/mcp`: progress under the client's own
//! token, cancellation of exactly one upstream request, sampling /
//! elicitation / roots requests answered by the calling client (or refused
//! when it lacks the capability), an upstream's own `list_changed` and
//! resource updates, call timeouts, and an upstream that dies mid-call.
//!
//! The upstream is `mcp-fixture` over stdio with `FIXTURE_RELAY=1`; the
//! clients are rmcp's, talking to the running app's `/mcp`. A test that must
//! know a call reached the upstream waits for the fixture's own log line
//! (`tools/call slow`), which the app logs from the child's stderr.

#![allow(deprecated, reason = "sampling and roots are still part of 2025-11-25")]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rmcp::model::{
    CallToolRequest, ClientCapabilities, ClientConfig, ClientRequest, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationCapability,
    FormElicitationCapability, Implementation, ListRootsResult, ProgressNotificationParam,
    ProgressToken, ResourceUpdatedNotificationParam, RootsCapabilities, SamplingCapability,
    ServerResult,
};
use rmcp::service::{
    NotificationContext, PeerRequestOptions, RequestContext, RoleClient, RunningService,
};
use rmcp::{ClientHandler, ErrorData as McpError, ServiceError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::app::{TestApp, spawn_app, spawn_app_with};
use crate::support::log::CapturedLog;
use crate::support::mcp::{call, mcp_client_with, text_of, tool_names};
use crate::support::rest::{add_public, connect, fixture_server, session_server};

/// What the fixture logs (at debug level) as it starts a `slow` call.
const SLOW_CALL_STARTED: &str = "tools/call slow";
/// How long a call may take to reach the upstream.
const REACH: Duration = Duration::from_secs(10);

/// What a test client saw arrive from the gateway.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seen {
    Progress(ProgressNotificationParam),
    ToolsChanged,
    ResourcesChanged,
    PromptsChanged,
    Updated(String),
}

/// An rmcp client that answers sampling, elicitation and roots (when
/// `capable`) and reports every notification it receives.
pub(crate) struct TestClient {
    capable: bool,
    seen: mpsc::UnboundedSender<Seen>,
}

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        if self.capable {
            capabilities.sampling = Some(SamplingCapability::default());
            capabilities.roots = Some(RootsCapabilities::default());
            let mut elicitation = ElicitationCapability::new();
            elicitation.form = Some(FormElicitationCapability::new());
            capabilities.elicitation = Some(elicitation);
        }
        ClientConfig::new(capabilities, Implementation::new("relay-test", "1.0.0"))
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        let asked = serde_json::to_value(&params.messages).expect("messages serialize");
        let prompt = asked[0]["content"]["text"].as_str().unwrap_or_default();
        Ok(serde_json::from_value(json!({
            "model": "test-model",
            "role": "assistant",
            "content": {"type": "text", "text": format!("sampled: {prompt}")}
        }))
        .expect("a valid sampling result"))
    }

    async fn create_elicitation(
        &self,
        _request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        Ok(
            serde_json::from_value(json!({"action": "accept", "content": {"name": "Ada"}}))
                .expect("a valid elicitation result"),
        )
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        Ok(
            serde_json::from_value(json!({"roots": [{"uri": "file:///work/project"}]}))
                .expect("a valid roots result"),
        )
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.seen.send(Seen::Progress(params));
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.seen.send(Seen::ToolsChanged);
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.seen.send(Seen::ResourcesChanged);
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.seen.send(Seen::PromptsChanged);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.seen.send(Seen::Updated(params.uri));
    }
}

pub(crate) type Client = RunningService<RoleClient, TestClient>;

/// An rmcp client on `/mcp` with `key`, and what it sees.
pub(crate) async fn relay_client(
    app: &TestApp,
    key: &str,
    capable: bool,
) -> (Client, mpsc::UnboundedReceiver<Seen>) {
    let (seen, rx) = mpsc::unbounded_channel();
    let client = mcp_client_with(app, "/mcp", key, TestClient { capable, seen }).await;
    (client, rx)
}

/// A public stdio server `name` running `mcp-fixture` with the relay tools
/// (and a debug log naming each call), connected for `key`.
async fn add_and_connect(app: &TestApp, name: &str, key: &str) {
    let mut body = fixture_server(name);
    body["env"] = json!({"FIXTURE_RELAY": "1", "FIXTURE_LOG": "warn,mcp_fixture=debug"});
    add_public(app, body).await;
    connect(app, name, key).await;
}

/// Calls a tool and returns its text and whether it is an error result
/// (panics on an MCP error).
pub(crate) async fn call_text(client: &Client, name: &str, args: Value) -> (String, bool) {
    let result = client
        .call_tool(call(name, args))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    (text_of(&result), result.is_error == Some(true))
}

/// The `data.code` of a failed call.
pub(crate) fn error_code(err: &ServiceError) -> String {
    match err {
        ServiceError::McpError(e) => e
            .data
            .as_ref()
            .and_then(|d| d["code"].as_str())
            .unwrap_or("<no data.code>")
            .to_owned(),
        other => panic!("expected an MCP error, got {other:?}"),
    }
}

/// Sends `tools/call` and returns rmcp's handle (id and progress token).
pub(crate) async fn start_call(
    client: &Client,
    name: &str,
    args: Value,
) -> rmcp::service::RequestHandle<RoleClient> {
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(call(name, args)));
    client
        .peer()
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await
        .expect("request sent")
}

/// The next thing seen that `pick` accepts, within `limit`.
pub(crate) async fn wait_for<T>(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    limit: Duration,
    mut pick: impl FnMut(Seen) -> Option<T>,
) -> Option<T> {
    tokio::time::timeout(limit, async {
        while let Some(seen) = rx.recv().await {
            if let Some(found) = pick(seen) {
                return Some(found);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// The calls in flight on the live link of session `session` to `server`
/// (`None` without one).
pub(crate) fn in_flight(app: &TestApp, session: &str, server: &str) -> Option<usize> {
    app.state
        .sessions()
        .pool()
        .existing(
            &manifold::ids::SessionId::parse(session).expect("session id"),
            &manifold::catalog::ServerName::parse(server).expect("server name"),
        )
        .map(|link| link.relay().in_flight())
}

/// The relay fixture `fx`'s count of cancelled calls, asked every 50 ms
/// until it is `expected` or `tries` answers were something else; the last
/// answer.
pub(crate) async fn cancelled_count(client: &Client, expected: &str, tries: usize) -> String {
    let mut count = String::new();
    for _ in 0..tries {
        count = call_text(client, "fx__cancelled_count", json!({})).await.0;
        if count == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    count
}

/// The steps of the (at most three) progress notifications of a
/// three-step `progress` call seen next, sorted; each must come under the
/// client's own `token`, out of 3.
pub(crate) async fn three_steps(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    token: &ProgressToken,
) -> Vec<f64> {
    let mut steps = Vec::new();
    while let Some(p) = wait_for(seen, Duration::from_millis(500), |s| match s {
        Seen::Progress(p) => Some(p),
        _ => None,
    })
    .await
    {
        assert_eq!(
            p.progress_token, *token,
            "progress under the client's token"
        );
        assert_eq!(p.total, Some(3.0));
        steps.push(p.progress);
        if steps.len() == 3 {
            break;
        }
    }
    steps.sort_by(f64::total_cmp);
    steps
}

#[tokio::test]
async fn upstream_progress_arrives_under_the_clients_own_progress_token() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    add_and_connect(&app, "fx", &alice).await;
    let (client, mut seen) = relay_client(&app, &alice, true).await;

    let handle = start_call(&client, "fx__progress", json!({"steps": 3})).await;
    let token: ProgressToken = handle.progress_token.clone();
    let answer = handle.await_response().await.expect("progress answers");
    assert!(
        matches!(answer, ServerResult::CallToolResult(_)),
        "{answer:?}"
    );
    assert_eq!(three_steps(&mut seen, &token).await, vec![1.0, 2.0, 3.0]);

    client.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn cancelling_one_of_two_slow_calls_cancels_only_that_one_upstream() {
    let log = CapturedLog::default();
    let _capture = log.install();
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    add_and_connect(&app, "fx", &alice).await;
    let (client, _seen) = relay_client(&app, &alice, true).await;

    let doomed = start_call(&client, "fx__slow", json!({"seconds": 30})).await;
    let survivor = start_call(&client, "fx__slow", json!({"seconds": 1.5})).await;
    // Both calls run upstream before one is cancelled.
    log.wait_for(SLOW_CALL_STARTED, 2, REACH).await;
    let started = Instant::now();
    doomed
        .cancel(Some("test cancels".into()))
        .await
        .expect("cancel sent");

    // The upstream sees exactly one cancellation, soon.
    let mut count = String::new();
    while started.elapsed() < Duration::from_secs(5) {
        count = call_text(&client, "fx__cancelled_count", json!({})).await.0;
        if count != "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count, "1", "the upstream saw the cancellation");

    let answer = survivor
        .await_response()
        .await
        .expect("the other call answers");
    let ServerResult::CallToolResult(result) = answer else {
        panic!("expected a tool result, got {answer:?}");
    };
    let content = serde_json::to_value(&result.content).expect("content serializes");
    assert_eq!(content[0]["text"], "slept 1.5 s");
    assert_eq!(
        call_text(&client, "fx__cancelled_count", json!({})).await.0,
        "1",
        "only the cancelled call was cancelled upstream"
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
async fn sampling_elicitation_and_roots_reach_the_calling_client_and_only_a_capable_one() {
    let log = CapturedLog::default();
    let _capture = log.install();
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    add_and_connect(&app, "fx", &alice).await;
    let (capable, _seen) = relay_client(&app, &alice, true).await;
    let (plain, _plain_seen) = relay_client(&app, &alice, false).await;

    let (sampled, is_error) = call_text(&capable, "fx__sample", json!({"prompt": "hello"})).await;
    assert!(!is_error, "{sampled}");
    assert_eq!(sampled, "sampled: hello");

    let (elicited, is_error) =
        call_text(&capable, "fx__elicit", json!({"message": "Your name?"})).await;
    assert!(!is_error, "{elicited}");
    let elicited: Value = serde_json::from_str(&elicited).expect("elicit answers JSON");
    assert_eq!(elicited["action"], "accept");
    assert_eq!(elicited["content"], json!({"name": "Ada"}));

    let (roots, is_error) = call_text(&capable, "fx__roots", json!({})).await;
    assert!(!is_error, "{roots}");
    assert_eq!(roots, r#"["file:///work/project"]"#);

    // The same session's other client declared none of these: its calls'
    // requests go to it (not to the capable client) and are refused, except
    // roots, which it simply has none of.
    let (roots, is_error) = call_text(&plain, "fx__roots", json!({})).await;
    assert!(!is_error, "{roots}");
    assert_eq!(roots, "[]", "never another client's roots");
    for tool in ["fx__sample", "fx__elicit"] {
        let args = json!({"prompt": "x", "message": "x"});
        let (refusal, is_error) = call_text(&plain, tool, args).await;
        assert!(is_error, "{tool}: {refusal}");
        let refusal: Value = serde_json::from_str(&refusal).expect("the fixture reports JSON");
        assert_eq!(
            refusal["data"]["code"], "client_capability_missing",
            "{tool}: {refusal}"
        );
    }
    // A request outside any call has no caller to go to.
    let refusals = log.text().matches("no_caller").count();
    let (text, _) = call_text(&capable, "fx__sample_later", json!({})).await;
    assert_eq!(text, "scheduled");
    // Asking for the outcome while the request is under way would make that
    // call its caller: wait until the app has refused the request (rmcp logs
    // the error it answers the upstream with).
    log.wait_for("no_caller", refusals + 1, REACH).await;
    let mut outcome = String::from("pending");
    for _ in 0..40 {
        outcome = call_text(&plain, "fx__later_result", json!({})).await.0;
        if outcome != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let outcome: Value = serde_json::from_str(&outcome).expect("an outcome as JSON");
    assert_eq!(outcome["data"]["code"], "no_caller", "{outcome}");
    capable.cancel().await.expect("client closes");
    plain.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn an_upstreams_own_list_changed_refreshes_the_tools_and_reaches_open_streams() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    add_and_connect(&app, "fx", &alice).await;
    let (client, mut seen) = relay_client(&app, &alice, true).await;
    let (listener, mut listener_seen) = relay_client(&app, &alice, false).await;
    let before = session_server(&app, &alice, "fx").await;
    assert!(!tool_names(&client).await.contains(&"fx__extra".into()));

    let started = Instant::now();
    let (text, _) = call_text(&client, "fx__notify", json!({"kind": "tools"})).await;
    assert_eq!(text, "sent");
    for rx in [&mut seen, &mut listener_seen] {
        wait_for(rx, Duration::from_secs(2), |s| {
            (s == Seen::ToolsChanged).then_some(())
        })
        .await
        .expect("tools/list_changed reaches every open stream of the session");
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    let listed = tool_names(&listener).await;
    assert!(listed.contains(&"fx__extra".to_owned()), "{listed:?}");
    let (text, _) = call_text(&client, "fx__extra", json!({})).await;
    assert_eq!(text, "extra");
    let after = session_server(&app, &alice, "fx").await;
    assert_eq!(after["status"], "CONNECTED");
    assert_eq!(
        after["connected_at"], before["connected_at"],
        "a refresh keeps when the server connected"
    );
    assert_eq!(
        after["tool_count"],
        before["tool_count"].as_u64().unwrap_or(0) + 1
    );

    let (text, _) = call_text(&client, "fx__notify", json!({"kind": "resources"})).await;
    assert_eq!(text, "sent");
    wait_for(&mut listener_seen, Duration::from_secs(2), |s| {
        (s == Seen::ResourcesChanged).then_some(())
    })
    .await
    .expect("resources/list_changed passes through");
    call_text(&client, "fx__notify", json!({"kind": "prompts"})).await;
    wait_for(&mut listener_seen, Duration::from_secs(2), |s| {
        (s == Seen::PromptsChanged).then_some(())
    })
    .await
    .expect("prompts/list_changed passes through");
    call_text(
        &client,
        "fx__notify",
        json!({"kind": "updated", "uri": "file:///notes.txt"}),
    )
    .await;
    let uri = wait_for(&mut listener_seen, Duration::from_secs(2), |s| match s {
        Seen::Updated(uri) => Some(uri),
        _ => None,
    })
    .await
    .expect("resources/updated passes through");
    assert_eq!(
        uri,
        manifold::gateway::namespace::wrap_uri("fx", "file:///notes.txt"),
        "the URI as /mcp shows it"
    );

    // Bob's session is not told about Alice's upstream.
    let bob = app.user_key("bob").await;
    let (bob_client, mut bob_seen) = relay_client(&app, &bob, true).await;
    call_text(&client, "fx__notify", json!({"kind": "tools"})).await;
    let nothing = wait_for(&mut bob_seen, Duration::from_millis(500), Some).await;
    assert_eq!(nothing, None, "bob saw alice's change");
    for c in [client, listener] {
        c.cancel().await.expect("client closes");
    }
    bob_client.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn a_slow_upstream_call_times_out_with_upstream_timeout_and_is_cancelled_upstream() {
    let app = spawn_app_with(|s| s.upstream.call_timeout_seconds = 1).await;
    let alice = app.user_key("alice").await;
    add_and_connect(&app, "fx", &alice).await;
    let (client, _seen) = relay_client(&app, &alice, true).await;
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
        cancelled_count(&client, "1", 40).await,
        "1",
        "the timed-out request was cancelled upstream"
    );
    client.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn an_upstream_that_dies_mid_call_fails_that_call_and_comes_back_by_itself() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    add_and_connect(&app, "fx", &alice).await;
    add_and_connect(&app, "fy", &alice).await;
    let (client, mut seen) = relay_client(&app, &alice, true).await;

    let started = std::time::Instant::now();
    let err = client
        .call_tool(call("fx__die", json!({})))
        .await
        .expect_err("the call fails");
    assert_eq!(error_code(&err), "upstream_closed", "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the dying call ended at once, not at a timeout: {:?}",
        started.elapsed()
    );
    // The other server never noticed.
    let (text, _) = call_text(&client, "fy__echo", json!({"text": "still here"})).await;
    assert_eq!(text, "still here");

    // The gateway starts the stdio server again by itself: CONNECTED, with
    // one reconnect counted, and no REST call needed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let fx = loop {
        let body = session_server(&app, &alice, "fx").await;
        if body["status"] == "CONNECTED" && body["reconnects"] == 1 {
            break body;
        }
        assert!(
            matches!(body["status"].as_str(), Some("RECONNECTING" | "CONNECTED")),
            "{body}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "not back in time: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(fx["last_error"], Value::Null, "{fx}");
    assert!(fx["protocol_version"].is_string(), "{fx}");
    wait_for(&mut seen, Duration::from_secs(2), |s| {
        (s == Seen::ToolsChanged).then_some(())
    })
    .await
    .expect("the session's streams hear of the change");
    let (text, _) = call_text(&client, "fx__echo", json!({"text": "back"})).await;
    assert_eq!(text, "back");
    let (live, _) = app.state.sessions().pool().live();
    assert_eq!(live, 2, "the dead link's slot was reused, not leaked");
    client.cancel().await.expect("client closes");
    app.stop().await;
}

#[tokio::test]
async fn disconnecting_during_a_call_ends_the_call_and_leaves_the_server_disconnected() {
    let log = CapturedLog::default();
    let _capture = log.install();
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    add_and_connect(&app, "fx", &alice).await;
    let (client, _seen) = relay_client(&app, &alice, true).await;
    let running = start_call(&client, "fx__slow", json!({"seconds": 30})).await;
    log.wait_for(SLOW_CALL_STARTED, 1, REACH).await;
    let (status, body) = app.session_action("disconnect", "fx", &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let err = tokio::time::timeout(Duration::from_secs(10), running.await_response())
        .await
        .expect("the call ends with its link")
        .expect_err("the call fails");
    assert_eq!(error_code(&err), "upstream_closed", "{err:?}");
    let fx = session_server(&app, &alice, "fx").await;
    assert_eq!(
        fx["status"], "DISCONNECTED",
        "a disconnect is not a failure: {fx}"
    );
    client.cancel().await.expect("client closes");
    app.stop().await;
}
