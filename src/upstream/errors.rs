//! Why an upstream link failed to open, as a stable code and a message
//! people can read: classification of rmcp handshake failures (egress
//! refusals, connection failures, timeouts, refused credentials), their
//! causes joined into one line, and redaction of the target's secrets.

use crate::catalog::Transport;
use crate::error::{Error, ErrorCode};

use super::{EGRESS_MARK, Target};

/// An open failure as people read it (the admin page shows it on the
/// server's card): redacted, and naming the server first, whichever
/// transport or check produced it.
pub(super) fn redact_error(target: &Target, err: Error) -> Error {
    match err {
        Error::Upstream { code, message } => {
            let name = target.name.as_str();
            let message = if message.starts_with(&format!("{name}: ")) {
                message
            } else if code == ErrorCode::UpstreamUnreachable
                && target.transport() != Transport::Stdio
            {
                format!("{name}: cannot reach the upstream: {message}")
            } else {
                format!("{name}: {message}")
            };
            Error::Upstream {
                code,
                message: target.redact(&message),
            }
        }
        other => other,
    }
}

/// Whether the upstream refused the credentials (a 401 after rmcp's one
/// refresh, or a 403 asking for more scope), looking through the error's causes.
fn refused_authorization(err: &rmcp::service::ClientInitializeError) -> bool {
    use rmcp::transport::AuthError;
    use rmcp::transport::streamable_http_client::{AuthRequiredError, InsufficientScopeError};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<AuthRequiredError>()
            || e.is::<InsufficientScopeError>()
            || matches!(
                e.downcast_ref::<AuthError>(),
                Some(AuthError::AuthorizationRequired | AuthError::TokenRefreshRejected(_))
            )
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// The stable code for an rmcp handshake failure, looking through the
/// error's causes (and, where a transport flattened them into text, their
/// messages) for egress refusals, connection failures and timeouts.
pub(crate) fn classify_init_error(err: &rmcp::service::ClientInitializeError) -> ErrorCode {
    use rmcp::service::ClientInitializeError as E;
    if !matches!(err, E::TransportError { .. } | E::ConnectionClosed(_)) {
        return ErrorCode::UpstreamProtocolError;
    }
    let mut text = String::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(Error::Upstream { code, .. }) = e.downcast_ref::<Error>() {
            return *code;
        }
        if let Some(re) = e.downcast_ref::<reqwest::Error>() {
            if re.is_timeout() {
                return ErrorCode::UpstreamTimeout;
            }
            if re.is_connect() {
                return ErrorCode::UpstreamUnreachable;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
            )
        {
            return ErrorCode::UpstreamUnreachable;
        }
        text.push_str(&e.to_string().to_ascii_lowercase());
        text.push('\n');
        source = e.source();
    }
    classify_text(&text)
}

/// Classifies flattened error text: some transports keep only the message
/// of the underlying reqwest/io error.
fn classify_text(text: &str) -> ErrorCode {
    if text.contains("http 508") || text.contains("upstream_loop") {
        return ErrorCode::UpstreamLoop;
    }
    if text.contains(EGRESS_MARK) {
        ErrorCode::EgressDenied
    } else if text.contains("timed out") || text.contains("timeout") {
        ErrorCode::UpstreamTimeout
    } else if text.contains("error sending request")
        || text.contains("connection refused")
        || text.contains("dns error")
        || text.contains("failed to lookup")
        || text.contains("cannot resolve")
        || text.contains("tcp connect")
    {
        ErrorCode::UpstreamUnreachable
    } else {
        // The upstream answered or hung up, but not with MCP.
        ErrorCode::UpstreamProtocolError
    }
}

/// An rmcp handshake failure as a domain error.
pub(crate) fn init_error(target: &Target, err: rmcp::service::ClientInitializeError) -> Error {
    if target.oauth.is_some() && refused_authorization(&err) {
        return Error::OAuthRequired {
            server: target.name.to_string(),
            authorization_url: None,
        };
    }
    let code = classify_init_error(&err);
    let what = match code {
        ErrorCode::UpstreamUnreachable => "cannot reach the upstream",
        ErrorCode::UpstreamTimeout => "the upstream did not answer in time",
        _ => "MCP handshake failed",
    };
    Error::Upstream {
        code,
        message: target.redact(&format!("{}: {what}: {}", target.name, init_cause(&err))),
    }
}

/// What went wrong in a handshake, for people: a transport failure is told
/// by its own causes (`error sending request for url (…): client error
/// (Connect): tcp connect error: Connection refused`), without rmcp's
/// wrapper naming the transport's Rust type; anything else by its message.
fn init_cause(err: &rmcp::service::ClientInitializeError) -> String {
    let rmcp::service::ClientInitializeError::TransportError { error, context } = err else {
        return err.to_string();
    };
    let causes = with_causes(error.error.as_ref());
    if causes.is_empty() {
        return err.to_string();
    }
    format!("{causes} (while trying to {context})")
}

/// An error and its causes joined with `: `, leaving out a cause whose text
/// the previous message already holds.
pub(crate) fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    let mut parts: Vec<String> = Vec::new();
    let mut source = Some(err);
    while let Some(e) = source {
        // rmcp's HTTP client error hides its cause from `source()`.
        if let Some(StreamableHttpError::Client(inner)) =
            e.downcast_ref::<StreamableHttpError<reqwest::Error>>()
        {
            source = Some(inner);
            continue;
        }
        let text = e.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// What stands in for an upstream's response body in an error message.
pub(crate) const BODY_HIDDEN: &str = "(response body not shown)";

/// The longest error text kept from an upstream (its JSON-RPC error's own
/// message, say); the rest is cut.
const MAX_ERROR_TEXT: usize = 300;

/// `text` (an error and its causes) without anything an upstream sent as a
/// body: the transports' errors quote a body that is not MCP after a
/// colon (`unrecognized JSON-RPC message: {…}`, an HTML page), and a body
/// can hold anything, passwords included. Everything from the first `{`,
/// `<` or `[` on (an IPv6 address in brackets excepted) is replaced by
/// [`BODY_HIDDEN`], keeping what names the failure class, status and
/// content type; what is left is capped at [`MAX_ERROR_TEXT`] characters.
pub(crate) fn without_bodies(text: &str) -> String {
    let mut out = match body_start(text) {
        Some(at) => format!("{} {BODY_HIDDEN}", text[..at].trim_end()),
        None => text.to_owned(),
    };
    if out.chars().count() > MAX_ERROR_TEXT {
        out = out.chars().take(MAX_ERROR_TEXT).collect::<String>() + "…";
    }
    out
}

/// Where a quoted body starts in `text`: the first `{` or `<`, or a `[`
/// that does not open an IPv6 address (`http://[::1]:8080`).
fn body_start(text: &str) -> Option<usize> {
    text.char_indices().find_map(|(at, c)| match c {
        '{' | '<' => Some(at),
        '[' => {
            let rest = &text[at + 1..];
            let ipv6 = rest
                .find(']')
                .is_some_and(|end| rest[..end].parse::<std::net::Ipv6Addr>().is_ok());
            (!ipv6).then_some(at)
        }
        _ => None,
    })
}

#[cfg(test)]
mod body_tests {
    use super::*;

    #[test]
    fn a_quoted_body_is_cut_and_the_failure_class_kept() {
        let text = r#"unexpected server response: HTTP 400 Bad Request: {"password":"pw-42"}"#;
        assert_eq!(
            without_bodies(text),
            format!("unexpected server response: HTTP 400 Bad Request: {BODY_HIDDEN}")
        );
        let html = "unexpected content type: text/html: <html><body>secret</body></html>";
        assert!(!without_bodies(html).contains("secret"));
        let array = r#"unrecognized JSON-RPC message: [{"token":"t-9"}]"#;
        assert!(!without_bodies(array).contains("t-9"));
    }

    #[test]
    fn a_secret_straddling_the_length_cap_is_redacted_before_the_cut() {
        use crate::catalog::ServerName;
        use crate::secret::Secret;
        use crate::upstream::{Endpoint, Remote};
        let secret = "s3cr3t-header-value-0123456789";
        let remote = Remote {
            url: url::Url::parse("http://127.0.0.1:9/mcp").expect("a URL"),
            headers: vec![("X-Key".to_owned(), Secret::new(secret.to_owned()))],
        };
        let name = ServerName::parse("fx").expect("a name");
        let target = Target::new(name, Endpoint::StreamableHttp(remote));
        // The secret starts 10 characters before the cap.
        let text = format!("{}{secret} and more", "x".repeat(MAX_ERROR_TEXT - 10));
        let shown = target.redact(&text);
        assert!(!shown.contains(&secret[..10]), "{shown}");
    }

    #[test]
    fn ipv6_urls_and_plain_messages_stay_whole_and_long_ones_are_capped() {
        let text = "error sending request for url (http://[::1]:9/mcp): Connection refused";
        assert_eq!(without_bodies(text), text);
        let rpc = "Mcp error: -32000: Bad Request: No valid session ID provided";
        assert_eq!(without_bodies(rpc), rpc);
        let long = "x".repeat(1000);
        assert_eq!(without_bodies(&long).chars().count(), MAX_ERROR_TEXT + 1);
    }
}
