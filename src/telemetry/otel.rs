//! OpenTelemetry traces (the `otel` cargo feature), exported over OTLP/HTTP
//! with protobuf bodies.
//!
//! - **When.** Traces are on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, unless
//!   `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`; a binary built
//!   with the feature but started without an endpoint exports nothing and
//!   does no per-request trace work. The exporter and the SDK read the other
//!   standard variables themselves (`OTEL_EXPORTER_OTLP_HEADERS`,
//!   `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, …);
//!   `OTEL_SERVICE_NAME` defaults to `manifold`.
//! - **What.** Two spans and nothing else (logs stay on stderr): `request`
//!   ([`REQUEST_SPAN`], one per HTTP request, made by `app::router`'s trace
//!   layer, with the method, matched route, path and request id; its parent
//!   is the client's `traceparent` when it sends one) and `upstream call`
//!   ([`UPSTREAM_SPAN`], one per request the gateway forwards to an upstream,
//!   with the server, method, tool and outcome; its parent is the request
//!   span).
//! - **Why the request span travels in extensions.** rmcp runs an MCP
//!   request's handler in a task of its own, where the HTTP request's span is
//!   not current. So the span's context is put into the HTTP request's
//!   extensions ([`RequestTrace`]), which rmcp hands to the handler, and the
//!   upstream call names it as its parent ([`outgoing`]).
//! - **Propagation.** Likewise rmcp posts to an upstream from its transport
//!   worker, not from the forwarding code. The upstream call's
//!   `traceparent`/`tracestate` go into the extensions of the rmcp request
//!   ([`TraceHeaders`]); rmcp passes that message object down to the
//!   transport, and the streamable-HTTP and SSE transports add the headers
//!   ([`trace_headers`]).
//! - **Export.** The SDK's batch processor runs on a thread of its own and
//!   blocks on each export. Its HTTP requests go through the project's
//!   reqwest on the tokio runtime (`OnRuntime`), so the feature adds no
//!   second HTTP stack, TLS setup or runtime.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry::{Context, Key, KeyValue};
use opentelemetry_http::{Bytes, HeaderExtractor, HeaderInjector, HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use rmcp::model::{ClientJsonRpcMessage, Extensions, GetExtensions as _, JsonRpcMessage};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

pub use super::{REQUEST_SPAN, UPSTREAM_SPAN};
use crate::config::{LogFormat, LogSettings};

/// The tracer provider while traces are on: [`shutdown`] flushes it.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// How long [`shutdown`] waits for the last spans to be sent.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

/// The export timeout when `OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT` is unset
/// (the specification's default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`init`] did.
pub(super) enum Started {
    /// The subscriber with the trace layer is installed.
    Installed,
    /// Traces are not configured: install the plain subscriber.
    Off(EnvFilter),
    /// Traces are configured but could not start (the reason): install the
    /// plain subscriber and say so.
    Failed(EnvFilter, String),
}

/// Whether the environment asks for traces (see the module docs).
fn configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let is = |name: &str, value: &str| {
        std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        && !is("OTEL_SDK_DISABLED", "true")
        && !is("OTEL_TRACES_EXPORTER", "none")
}

/// Whether traces are on in this process.
#[inline]
pub fn active() -> bool {
    PROVIDER.get().is_some()
}

/// Installs the global subscriber: `log.level`'s `filter` for the log
/// lines, and the trace layer for [`REQUEST_SPAN`] and [`UPSTREAM_SPAN`]
/// (at any level, whatever `log.level` says).
pub(super) fn init(settings: &LogSettings, filter: EnvFilter) -> Started {
    if !configured() {
        return Started::Off(filter);
    }
    let provider = match provider() {
        Ok(provider) => provider,
        Err(why) => return Started::Failed(filter, why),
    };
    let tracer = provider.tracer("manifold");
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let log = match settings.format {
        LogFormat::Text => log.boxed(),
        LogFormat::Json => log
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Only what the module docs promise: no thread, source or busy-time
        // attributes, and no context activation (nothing else reads it).
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span()
                && meta.target().starts_with("manifold")
                && [REQUEST_SPAN, UPSTREAM_SPAN].contains(&meta.name())
        }));
    let installed = tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .with(traces)
        .try_init();
    if installed.is_ok() {
        let _ = PROVIDER.set(provider);
        let endpoint = [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_default();
        tracing::info!(
            endpoint = %crate::secret::redact_url(&endpoint),
            "OpenTelemetry traces on: spans go over OTLP/HTTP"
        );
        let protocol = [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()));
        if let Some(protocol) = protocol.filter(|p| p.trim() != "http/protobuf") {
            tracing::warn!(
                protocol,
                "OTEL_EXPORTER_OTLP_PROTOCOL is ignored: traces go as http/protobuf, the only protocol built in"
            );
        }
    } else {
        // Another subscriber was there first (tests): nothing to export to.
        let _ = provider.shutdown();
    }
    Started::Installed
}

/// The tracer provider: the OTLP/HTTP exporter as the environment
/// configures it, in a batch processor, for this service.
fn provider() -> Result<SdkTracerProvider, String> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "no tokio runtime to send traces from".to_owned())?;
    let http = reqwest::Client::builder()
        .timeout(export_timeout())
        .build()
        .map_err(|e| format!("the HTTP client for OTLP: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(OnRuntime { http, runtime })
        .build()
        .map_err(|e| format!("the OTLP exporter: {e}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build())
}

/// The resource: the SDK's (from `OTEL_SERVICE_NAME` and
/// `OTEL_RESOURCE_ATTRIBUTES`), named `manifold` when they name no service,
/// with the version.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let service = Key::from_static_str("service.name");
    let unnamed = detected
        .get(&service)
        .is_none_or(|name| name.as_str().starts_with("unknown_service"));
    let mut builder = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if unnamed {
        builder = builder.with_service_name("manifold");
    }
    builder.build()
}

/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`
/// (milliseconds), else 10 s. A client given to the exporter must enforce
/// it itself.
fn export_timeout() -> Duration {
    [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok()?.trim().parse::<u64>().ok())
    .map_or(EXPORT_TIMEOUT, Duration::from_millis)
}

/// Sends the spans still queued, then stops the exporter; waits at most
/// `SHUTDOWN_LIMIT`. The flush blocks its thread (the batch processor
/// waits for its own thread), so it runs off the runtime's workers.
pub async fn shutdown() {
    let Some(provider) = PROVIDER.get().cloned() else {
        return;
    };
    let flushed =
        tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_LIMIT)).await;
    match flushed {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "the last traces may not have been sent"),
        Err(err) => tracing::warn!(error = %err, "the trace exporter did not stop cleanly"),
    }
}

/// OTLP's HTTP client: the project's reqwest client, each request run on
/// the tokio runtime. The batch processor calls it from its own thread
/// under a plain executor, where reqwest alone finds no reactor.
#[derive(Debug)]
struct OnRuntime {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: axum::http::Request<Bytes>,
    ) -> Result<axum::http::Response<Bytes>, HttpError> {
        let http = self.http.clone();
        self.runtime
            .spawn(async move { http.send_bytes(request).await })
            .await?
    }
}

/// The context of an HTTP request's span, in the request's extensions for
/// the handlers that rmcp runs in tasks of their own (see the module docs).
#[derive(Debug, Clone)]
pub struct RequestTrace(Context);

impl RequestTrace {
    /// The current span's context: call it inside the request span. `None`
    /// when traces are off.
    pub fn current() -> Option<Self> {
        if !active() {
            return None;
        }
        let context = tracing::Span::current().context();
        context
            .span()
            .span_context()
            .is_valid()
            .then_some(Self(context))
    }
}

/// Names the request span for the trace and makes the client's
/// `traceparent` (when it sends a valid one) its parent. Call it before the
/// span is first entered.
pub fn adopt(span: &tracing::Span, method: &Method, route: Option<&str>, headers: &HeaderMap) {
    if !active() {
        return;
    }
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    span.record("otel.name", name);
    span.record("otel.kind", "server");
    let remote = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if remote.span().span_context().is_valid() {
        let _ = span.set_parent(remote);
    }
}

/// The `traceparent` and `tracestate` headers of an upstream call, in the
/// extensions of the rmcp request that makes it.
#[derive(Debug, Clone)]
pub struct TraceHeaders(HeaderMap);

/// Prepares the upstream call `span` of a request: its parent is the HTTP
/// request's span (from `parts`, the HTTP request rmcp's server hands the
/// handler), and its W3C context goes into `extensions` (the rmcp
/// request's) for the transport to send.
pub fn outgoing(
    span: &tracing::Span,
    parts: Option<&axum::http::request::Parts>,
    extensions: &mut Extensions,
) {
    if !active() {
        return;
    }
    span.record("otel.kind", "client");
    if let Some(RequestTrace(parent)) = parts.and_then(|p| p.extensions.get::<RequestTrace>()) {
        let _ = span.set_parent(parent.clone());
    }
    let mut headers = HeaderMap::new();
    TraceContextPropagator::new()
        .inject_context(&span.context(), &mut HeaderInjector(&mut headers));
    if !headers.is_empty() {
        extensions.insert(TraceHeaders(headers));
    }
}

/// Marks the upstream call `span` failed for the trace.
pub fn failed(span: &tracing::Span) {
    if active() {
        span.record("otel.status_code", "error");
    }
}

/// The trace headers `message` carries (see [`outgoing`]).
pub fn trace_headers(message: &ClientJsonRpcMessage) -> Option<&HeaderMap> {
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    request
        .request
        .extensions()
        .get::<TraceHeaders>()
        .map(|TraceHeaders(headers)| headers)
}
