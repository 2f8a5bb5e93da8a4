//! Logging: `tracing` to stderr, as text or JSON lines, filtered by `log.level`.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

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

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(settings: &LogSettings) {
    let filter = filter(&settings.level).unwrap_or_else(|_| EnvFilter::new(with_quiet("info")));
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
