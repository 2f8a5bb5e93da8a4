//! Prometheus metrics: one process-wide registry, served at `/metrics`
//! (OpenMetrics text).
//!
//! Built on `prometheus-client` (the Prometheus project's own Rust client:
//! typed label sets, no global macros, a handful of small dependencies).
//! Every label is bounded: surfaces, status classes, MCP method names from
//! a fixed list, server names (from the catalog) and outcome codes — never
//! user ids, session ids, tool names or URLs.
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `manifold_http_requests_total` | `surface`, `status` | HTTP responses (`surface`: rest, graphql, mcp, ui, health, metrics; `status`: 2xx…5xx) |
//! | `manifold_http_request_duration_seconds` | `surface` | time to the response head |
//! | `manifold_mcp_requests_total` | `method`, `outcome` | MCP requests served (`outcome`: `ok` or the error's `data.code`, else `rpc_error`) |
//! | `manifold_mcp_request_duration_seconds` | `method` | time to the MCP answer |
//! | `manifold_upstream_calls_total` | `server`, `method`, `outcome` | requests forwarded upstream |
//! | `manifold_upstream_call_duration_seconds` | `server` | their duration |
//! | `manifold_upstream_links` | `transport` | live upstream links (sampled at scrape) |
//! | `manifold_stdio_children` | | running stdio upstream processes (sampled at scrape) |
//! | `manifold_mcp_sessions` | | MCP sessions held by this process (sampled at scrape) |
//! | `manifold_mcp_sessions_awake` | | Of those, the ones not asleep (`mcp.session_warm_seconds`) |
//! | `manifold_store_operation_duration_seconds` | `store`, `operation` | catalog and state-store operations |
//! | `manifold_store_errors_total` | `store`, `operation` | their failures |
//! | `manifold_reconnects_total` | `server`, `outcome` | link reopen attempts |
//! | `manifold_rate_limited_total` | `role` | requests refused by a rate limit |
//! | `manifold_mcp_sessions_refused_total` | | `initialize` refused by `mcp.max_sessions_per_user` |

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets, in seconds: 0.5 ms to about 65 s.
fn latency() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 18,
    ))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    surface: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SurfaceLabel {
    surface: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct McpLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    server: String,
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconnectLabels {
    server: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabel {
    role: &'static str,
}

type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the process.
struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_latency: Latencies<SurfaceLabel>,
    mcp_requests: Family<McpLabels, Counter>,
    mcp_latency: Latencies<MethodLabel>,
    upstream_calls: Family<UpstreamLabels, Counter>,
    upstream_latency: Latencies<ServerLabel>,
    links: Family<TransportLabel, Gauge>,
    stdio_children: Gauge,
    mcp_sessions: Gauge,
    mcp_sessions_awake: Gauge,
    store_latency: Latencies<StoreLabels>,
    store_errors: Family<StoreLabels, Counter>,
    reconnects: Family<ReconnectLabels, Counter>,
    rate_limited: Family<RoleLabel, Counter>,
    sessions_refused: Counter,
    audit_events: Family<ResultLabel, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("manifold");
        let metrics = Self {
            http_requests: Family::default(),
            http_latency: Family::new_with_constructor(latency),
            mcp_requests: Family::default(),
            mcp_latency: Family::new_with_constructor(latency),
            upstream_calls: Family::default(),
            upstream_latency: Family::new_with_constructor(latency),
            links: Family::default(),
            stdio_children: Gauge::default(),
            mcp_sessions: Gauge::default(),
            mcp_sessions_awake: Gauge::default(),
            store_latency: Family::new_with_constructor(latency),
            store_errors: Family::default(),
            reconnects: Family::default(),
            rate_limited: Family::default(),
            sessions_refused: Counter::default(),
            audit_events: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP responses by surface and status class",
            metrics.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head, by surface",
            metrics.http_latency.clone(),
        );
        registry.register(
            "mcp_requests",
            "MCP requests served, by method and outcome",
            metrics.mcp_requests.clone(),
        );
        registry.register(
            "mcp_request_duration_seconds",
            "Time to the MCP answer, by method",
            metrics.mcp_latency.clone(),
        );
        registry.register(
            "upstream_calls",
            "Requests forwarded to upstream servers, by server, method and outcome",
            metrics.upstream_calls.clone(),
        );
        registry.register(
            "upstream_call_duration_seconds",
            "Duration of requests forwarded upstream, by server",
            metrics.upstream_latency.clone(),
        );
        registry.register(
            "upstream_links",
            "Live upstream links, by transport",
            metrics.links.clone(),
        );
        registry.register(
            "stdio_children",
            "Running stdio upstream processes",
            metrics.stdio_children.clone(),
        );
        registry.register(
            "mcp_sessions",
            "MCP sessions held by this process",
            metrics.mcp_sessions.clone(),
        );
        registry.register(
            "mcp_sessions_awake",
            "MCP sessions held by this process that are not asleep",
            metrics.mcp_sessions_awake.clone(),
        );
        registry.register(
            "store_operation_duration_seconds",
            "Catalog and state-store operations, by store and operation",
            metrics.store_latency.clone(),
        );
        registry.register(
            "store_errors",
            "Failed catalog and state-store operations, by store and operation",
            metrics.store_errors.clone(),
        );
        registry.register(
            "reconnects",
            "Attempts to reopen a broken upstream link, by server and outcome",
            metrics.reconnects.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit, by role",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "mcp_sessions_refused",
            "MCP sessions refused because the principal held mcp.max_sessions_per_user",
            metrics.sessions_refused.clone(),
        );
        registry.register(
            "audit_events",
            "Audit events by result: written, dropped (the queue was full) or failed (the insert failed)",
            metrics.audit_events.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }
}

/// The status class label of an HTTP status.
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The surface a request path belongs to.
pub fn surface(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "api" => "rest",
        "graphql" => "graphql",
        "mcp" => "mcp",
        "healthz" | "readyz" => "health",
        "metrics" => "metrics",
        "oauth" => "rest",
        _ => "ui",
    }
}

/// Records one HTTP response.
pub fn http_response(surface: &'static str, status: u16, elapsed: Duration) {
    let m = &*METRICS;
    m.http_requests
        .get_or_create(&HttpLabels {
            surface,
            status: status_class(status),
        })
        .inc();
    m.http_latency
        .get_or_create(&SurfaceLabel { surface })
        .observe(elapsed.as_secs_f64());
}

/// The MCP methods counted by name; anything else is `other`.
const MCP_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
];

/// `method` as a bounded label value.
pub fn method_label(method: &str) -> &'static str {
    MCP_METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("other")
}

/// Records one MCP request; `outcome` is `ok` or an error code.
pub fn mcp_request(method: &str, outcome: &'static str, elapsed: Duration) {
    let m = &*METRICS;
    let method = method_label(method);
    m.mcp_requests
        .get_or_create(&McpLabels { method, outcome })
        .inc();
    m.mcp_latency
        .get_or_create(&MethodLabel { method })
        .observe(elapsed.as_secs_f64());
}

/// Records one request forwarded to `server`.
pub fn upstream_call(server: &str, method: &str, outcome: &'static str, elapsed: Duration) {
    let m = &*METRICS;
    let labels = UpstreamLabels {
        server: server.to_owned(),
        method: method_label(method),
        outcome,
    };
    m.upstream_calls.get_or_create(&labels).inc();
    m.upstream_latency
        .get_or_create(&ServerLabel {
            server: labels.server,
        })
        .observe(elapsed.as_secs_f64());
}

/// Sets the sampled gauges: live links per transport, stdio children and
/// MCP sessions.
pub fn sample(
    links: &[(&'static str, usize)],
    stdio_children: usize,
    mcp_sessions: usize,
    mcp_sessions_awake: usize,
) {
    let m = &*METRICS;
    for (transport, count) in links {
        m.links
            .get_or_create(&TransportLabel { transport })
            .set(i64::try_from(*count).unwrap_or(i64::MAX));
    }
    m.stdio_children
        .set(i64::try_from(stdio_children).unwrap_or(i64::MAX));
    m.mcp_sessions
        .set(i64::try_from(mcp_sessions).unwrap_or(i64::MAX));
    m.mcp_sessions_awake
        .set(i64::try_from(mcp_sessions_awake).unwrap_or(i64::MAX));
}

/// Records one catalog or state-store operation (`store`: `catalog` or
/// `state`).
pub fn store_operation(store: &'static str, operation: &'static str, ok: bool, elapsed: Duration) {
    let m = &*METRICS;
    let labels = StoreLabels { store, operation };
    m.store_latency
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    if !ok {
        m.store_errors.get_or_create(&labels).inc();
    }
}

/// Times `operation` on `store` and records it.
pub async fn timed<T, E>(
    store: &'static str,
    operation: &'static str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let result = work.await;
    store_operation(store, operation, result.is_ok(), started.elapsed());
    result
}

/// Records one attempt to reopen a link (`outcome`: `ok`, `failed`,
/// `gave_up`).
pub fn reconnect(server: &str, outcome: &'static str) {
    METRICS
        .reconnects
        .get_or_create(&ReconnectLabels {
            server: server.to_owned(),
            outcome,
        })
        .inc();
}

/// Records one request refused by the rate limit of `role`.
pub fn rate_limited(role: &'static str) {
    METRICS
        .rate_limited
        .get_or_create(&RoleLabel { role })
        .inc();
}

/// Records one `initialize` refused by `mcp.max_sessions_per_user`.
pub fn mcp_session_refused() {
    METRICS.sessions_refused.inc();
}

/// Records `n` audit events that were `written`, `dropped` or `failed`.
pub fn audit_events(result: &'static str, n: u64) {
    METRICS
        .audit_events
        .get_or_create(&ResultLabel { result })
        .inc_by(n);
}

/// The whole registry as OpenMetrics text.
pub fn encode() -> String {
    let mut out = String::new();
    if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry) {
        tracing::warn!(error = %err, "encoding the metrics failed");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_bounded_surfaces() {
        assert_eq!(surface("/api/v1/servers"), "rest");
        assert_eq!(surface("/mcp/s/x"), "mcp");
        assert_eq!(surface("/graphql"), "graphql");
        assert_eq!(surface("/healthz"), "health");
        assert_eq!(surface("/"), "ui");
        assert_eq!(surface("/app.js"), "ui");
        assert_eq!(method_label("tools/call"), "tools/call");
        assert_eq!(method_label("x/anything-a-client-sends"), "other");
    }

    #[test]
    fn recorded_values_appear_in_the_text() {
        mcp_request("tools/call", "ok", Duration::from_millis(3));
        upstream_call("metrics-unit", "tools/call", "ok", Duration::from_millis(2));
        let text = encode();
        assert!(
            text.contains("manifold_mcp_requests_total{method=\"tools/call\",outcome=\"ok\"}"),
            "{text}"
        );
        assert!(text.contains("manifold_upstream_calls_total{server=\"metrics-unit\",method=\"tools/call\",outcome=\"ok\"} 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
