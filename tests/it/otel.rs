//! OpenTelemetry traces (built with `--features otel`): a real `manifold
//! serve`, told where to export by the standard `OTEL_*` variables, sends
//! its spans over OTLP/HTTP (protobuf) to a receiver this test runs. A
//! `tools/call` with the client's `traceparent` gives, in the client's
//! trace, the request span (with its route) and under it the upstream call
//! span (with the server and tool), and the upstream receives a
//! `traceparent` naming that call span. The batch delay is a minute, so the
//! spans arrive only because SIGTERM flushes them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::operations::{Served, serve};
use crate::support::mcp::{call, mcp_client_over, text_of};
use crate::support::upstreams::FixtureHttp;

/// One exported span, as the receiver read it.
#[derive(Debug, Clone)]
struct Exported {
    service: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: i32,
    attributes: Vec<(String, String)>,
}

impl Exported {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The string form of an attribute's value.
fn value_of(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP trace receiver on 127.0.0.1: its base URL and what it got.
async fn receiver() -> (String, Arc<Mutex<Vec<Exported>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let kept = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let kept = kept.clone();
            async move {
                let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                };
                let mut got = Vec::new();
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|kv| kv.key == "service.name")
                        .map(value_of)
                        .unwrap_or_default();
                    for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                        got.push(Exported {
                            service: service.clone(),
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                            name: span.name.clone(),
                            kind: span.kind,
                            attributes: span
                                .attributes
                                .iter()
                                .map(|kv| (kv.key.clone(), value_of(kv)))
                                .collect(),
                        });
                    }
                }
                kept.lock().expect("spans").extend(got);
                (
                    StatusCode::OK,
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("receiver address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), spans)
}

/// A fresh W3C trace id (32 hex digits, not all zero).
fn new_trace_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos());
    format!(
        "{:032x}",
        nanos ^ (u128::from(std::process::id()) << 64) | 1
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_is_traced_from_the_clients_traceparent_to_the_upstream() {
    let (endpoint, spans) = receiver().await;
    let upstream = FixtureHttp::start();
    let dir = tempfile::tempdir().expect("dir");
    let mut served = serve(
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "manifold-otel-test"),
            // Nothing is sent before the shutdown flushes.
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
            ("MANIFOLD_HTTP__DRAIN_DELAY_SECONDS", "0"),
        ],
    );
    let key = Served::admin_key(dir.path());
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/api/v1/servers", served.base))
        .bearer_auth(&key)
        .json(&json!({"name": "up", "transport": "streamable_http",
                      "url": upstream.url(), "is_public": true}))
        .send()
        .await
        .expect("create up");
    assert_eq!(created.status(), StatusCode::CREATED);
    let connected = http
        .post(format!("{}/api/v1/servers/up/connect", served.base))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .expect("connect up");
    assert_eq!(connected.status(), StatusCode::OK);

    // The client's own span: every request of this client names it.
    let trace_id = new_trace_id();
    let client_span = "00f067aa0ba902b7";
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        HeaderValue::from_str(&format!("00-{trace_id}-{client_span}-01")).expect("header"),
    );
    let traced = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client");
    let client = mcp_client_over(traced, &format!("{}/mcp", served.base), Some(&key)).await;
    let who = client
        .call_tool(call("up__whoami", json!({})))
        .await
        .expect("whoami");
    client.cancel().await.ok();
    let seen: Value = serde_json::from_str(&text_of(&who)).expect("headers as JSON");
    let upstream_traceparent = seen["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("the upstream got no traceparent: {seen}"))
        .to_owned();

    served.signal("TERM");
    let (status, _) = served
        .wait_exit(Duration::from_secs(30))
        .expect("manifold exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let spans = spans.lock().expect("spans").clone();
    let log = served.log();

    let call_span = spans
        .iter()
        .find(|s| s.name == "upstream call" && s.attribute("tool") == Some("whoami"))
        .unwrap_or_else(|| panic!("no upstream call span for whoami in {spans:#?}\n{log}"));
    assert_eq!(call_span.trace_id, trace_id, "{call_span:?}");
    assert_eq!(call_span.service, "manifold-otel-test");
    assert_eq!(call_span.attribute("server"), Some("up"), "{call_span:?}");
    assert_eq!(call_span.attribute("method"), Some("tools/call"));
    assert_eq!(call_span.attribute("outcome"), Some("ok"));
    assert_eq!(call_span.kind, SpanKind::Client as i32);

    let request_span = spans
        .iter()
        .find(|s| s.span_id == call_span.parent_span_id)
        .unwrap_or_else(|| panic!("the call span's parent was not exported: {spans:#?}"));
    assert_eq!(request_span.name, "POST /mcp", "{request_span:?}");
    assert_eq!(request_span.attribute("route"), Some("/mcp"));
    assert_eq!(request_span.attribute("method"), Some("POST"));
    assert_eq!(request_span.kind, SpanKind::Server as i32);
    assert_eq!(request_span.trace_id, trace_id);
    assert_eq!(
        request_span.parent_span_id, client_span,
        "the request span is a child of the client's span"
    );

    assert_eq!(
        upstream_traceparent,
        format!("00-{trace_id}-{}-01", call_span.span_id),
        "the upstream's traceparent names the upstream call span"
    );
}
