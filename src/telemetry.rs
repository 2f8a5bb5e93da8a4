//! Logging: `tracing` to stderr, as text or JSON lines, filtered by `log.level`.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Directives added after `log.level`: rmcp's transport worker logs the
/// fatal error of a failed link with the upstream's raw response body in it
/// (anything a non-MCP service answers, passwords included). Manifold
/// reports the same failure itself, redacted, so that line stays off.
pub const QUIET: &str = "rmcp::transport::worker=off";

/// The filter for `level` (an `EnvFilter` directive list) with [`QUIET`].
pub fn filter(level: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    EnvFilter::try_new(format!("{level},{QUIET}"))
}

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(settings: &LogSettings) {
    let filter =
        filter(&settings.level).unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET}")));
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
