//! `/metrics`: OpenMetrics text that the Prometheus project's own parser
//! reads, whose counters move with real traffic; off with
//! `metrics.enabled = false`; on its own listener with `metrics.listen`.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::support::app::{TestApp, spawn_app, spawn_app_with};
use crate::support::mcp::{call, mcp_client};
use crate::support::python::{fixture_script, python};
use crate::support::rest::{add_public, connect, fixture_server};

/// The samples of `/metrics` at `url`, parsed by `prometheus_client`:
/// `name{labels}` → value.
async fn scrape(app: &TestApp, url: &str) -> HashMap<String, f64> {
    let response = app.client.get(url).send().await.expect("scraped");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("a body");
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(python())
            .arg(fixture_script("parse_metrics.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the parser runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("text written");
        let output = child.wait_with_output().expect("parsed");
        assert!(
            output.status.success(),
            "the Prometheus parser refused the text:\n{}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("JSON samples")
    })
    .await
    .expect("joined")
}

/// The value of `sample`, 0 when absent.
fn value(samples: &HashMap<String, f64>, sample: &str) -> f64 {
    samples.get(sample).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn counters_move_with_real_calls_and_the_text_parses() {
    let app = spawn_app().await;
    // A server name no other test uses: its counters are this test's alone.
    let server = format!("met{}", std::process::id());
    let url = app.url("/metrics");
    let first = scrape(&app, &url).await;
    add_public(&app, fixture_server(&server)).await;
    let key = app.user_key("metrics-user").await;
    connect(&app, &server, &key).await;
    let before = scrape(&app, &url).await;
    let client = mcp_client(&app, "/mcp", &key).await;
    const N: usize = 7;
    for i in 0..N {
        let result = client
            .call_tool(call(
                &format!("{server}__echo"),
                json!({"text": format!("n{i}")}),
            ))
            .await
            .expect("a call");
        assert_ne!(result.is_error, Some(true));
    }
    let unknown = client
        .call_tool(call(&format!("{server}__no_such_tool"), json!({})))
        .await;
    assert!(unknown.is_err(), "an unknown tool is an error");
    let after = scrape(&app, &url).await;

    let upstream_ok = format!(
        "manifold_upstream_calls_total{{method=\"tools/call\",outcome=\"ok\",server=\"{server}\"}}"
    );
    assert_eq!(value(&after, &upstream_ok), N as f64, "{after:?}");
    let histogram = format!("manifold_upstream_call_duration_seconds_count{{server=\"{server}\"}}");
    assert_eq!(value(&after, &histogram), N as f64);
    // Process-wide counters (other tests share the process): they grew by
    // at least what this test did.
    let grew = |sample: &str| value(&after, sample) - value(&before, sample);
    let calls_ok = "manifold_mcp_requests_total{method=\"tools/call\",outcome=\"ok\"}";
    assert!(grew(calls_ok) >= N as f64, "{}", grew(calls_ok));
    let unknown_tool =
        "manifold_mcp_requests_total{method=\"tools/call\",outcome=\"unknown_tool\"}";
    assert!(grew(unknown_tool) >= 1.0);
    let mcp_2xx = "manifold_http_requests_total{status=\"2xx\",surface=\"mcp\"}";
    assert!(grew(mcp_2xx) >= N as f64);
    assert!(
        grew(
            "manifold_store_operation_duration_seconds_count{operation=\"mcp_session\",store=\"state\"}"
        ) >= N as f64
    );
    // The catalog is metered too: creating the server wrote one row.
    let inserts = "manifold_store_operation_duration_seconds_count{operation=\"insert_server\",store=\"catalog\"}";
    assert!(value(&after, inserts) - value(&first, inserts) >= 1.0);
    // Sampled gauges: this app holds one stdio link and one MCP session.
    assert!(value(&after, "manifold_upstream_links{transport=\"stdio\"}") >= 1.0);
    assert!(value(&after, "manifold_stdio_children{}") >= 1.0);
    assert!(value(&after, "manifold_mcp_sessions{}") >= 1.0);
    // No label carries a user or a session.
    for sample in after.keys() {
        assert!(!sample.contains("metrics-user"), "{sample}");
    }
    client.cancel().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn metrics_can_be_turned_off_or_moved_to_their_own_listener() {
    let off = spawn_app_with(|s| s.metrics.enabled = false).await;
    let response = off
        .client
        .get(off.url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 404);
    off.stop().await;

    let port = crate::support::redis::free_port();
    let moved = spawn_app_with(|s| s.metrics.listen = format!("127.0.0.1:{port}")).await;
    let main = moved
        .client
        .get(moved.url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(main.status(), 404, "not on the main listener");
    let own = scrape(&moved, &format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(own.contains_key("manifold_mcp_sessions{}"), "{own:?}");
    moved.stop().await;
}
