//! Logging: `tracing` to stderr, as text or JSON lines, filtered by `log.level`;
//! with the `otel` cargo feature, also OpenTelemetry traces over OTLP/HTTP
//! (see `telemetry::otel`): one span per HTTP request and one per upstream call.
//!
//! Built without `otel`, the trace hooks below ([`shutdown`],
//! [`trace_headers`]) do nothing and cost nothing.

#[cfg(feature = "otel")]
pub mod otel;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// The span of one HTTP request (`app::router`'s trace layer).
pub const REQUEST_SPAN: &str = "request";

/// The span of one request forwarded to an upstream (`gateway::forward`).
pub const UPSTREAM_SPAN: &str = "upstream call";

/// Directives added after `log.level`, each unless `log.level` names its
/// target itself:
/// - rmcp's transport worker logs the fatal error of a failed link with the
///   upstream's raw response body in it (anything a non-MCP service answers,
///   passwords included). Manifold reports the same failure itself,
///   redacted, so that line stays off.
/// - rmcp's service and HTTP server log every error answer to a client
///   (an unknown tool, bad params, a refused `Host`) at `warn`: client
///   mistakes, not faults of the gateway. Manifold logs upstream and
///   gateway faults itself at `warn`/`error`; rmcp's own errors still show.
pub const QUIET: &[&str] = &[
    "rmcp::transport::worker=off",
    "rmcp::service=error",
    "rmcp::transport::streamable_http_server=error",
];

/// The filter for `level` (an `EnvFilter` directive list) with [`QUIET`].
pub fn filter(level: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    EnvFilter::try_new(with_quiet(level))
}

/// `level` followed by the [`QUIET`] directives whose target it does not name.
fn with_quiet(level: &str) -> String {
    let mut directives = level.to_owned();
    for quiet in QUIET {
        let target = quiet.split('=').next().unwrap_or_default();
        if !level.contains(target) {
            directives.push(',');
            directives.push_str(quiet);
        }
    }
    directives
}

/// Installs the global subscriber; a second call (tests) is a no-op. With
/// the `otel` feature and an OTLP endpoint in the environment, the
/// subscriber also exports traces (see `otel`); [`shutdown`] flushes them.
pub fn init(settings: &LogSettings) {
    let filter = filter(&settings.level).unwrap_or_else(|_| EnvFilter::new(with_quiet("info")));
    #[cfg(feature = "otel")]
    let filter = match otel::init(settings, filter) {
        otel::Started::Installed => return,
        otel::Started::Off(filter) => filter,
        otel::Started::Failed(filter, why) => {
            init_logs(settings, filter);
            tracing::warn!("OpenTelemetry traces are off: {why}");
            return;
        }
    };
    init_logs(settings, filter);
}

/// Installs the subscriber of log lines alone.
fn init_logs(settings: &LogSettings, filter: EnvFilter) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// Sends the spans not exported yet and stops the trace exporter (at the
/// end of `serve`); a no-op when traces are off or not built in.
pub async fn shutdown() {
    #[cfg(feature = "otel")]
    otel::shutdown().await;
}

/// The W3C trace context (`traceparent`, `tracestate`) that an upstream
/// request carries for the HTTP transports to send; always `None` without
/// the `otel` feature (see `otel::outgoing`).
#[inline]
pub fn trace_headers(
    message: &rmcp::model::ClientJsonRpcMessage,
) -> Option<&axum::http::HeaderMap> {
    #[cfg(feature = "otel")]
    {
        otel::trace_headers(message)
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = message;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_directives_follow_the_level_unless_it_names_their_target() {
        assert_eq!(
            with_quiet("info"),
            "info,rmcp::transport::worker=off,rmcp::service=error,\
             rmcp::transport::streamable_http_server=error"
        );
        let own = with_quiet("debug,rmcp::service=debug");
        assert!(
            own.ends_with("rmcp::transport::streamable_http_server=error"),
            "{own}"
        );
        assert_eq!(own.matches("rmcp::service").count(), 1, "{own}");
    }
}
