//! How the streamable-HTTP fixture answers a request whose `Mcp-Session-Id`
//! it does not know (`FIXTURE_UNKNOWN_SESSION`), so a gateway's recovery
//! can be tested against both answers seen in the wild:
//!
//! - `404` (the default): rmcp's own answer, which is what the MCP spec asks
//!   for: `404 Not Found` with the text `Not Found: Session not found`
//!   (rmcp 3.11 answers a POST and a GET so; a DELETE of an unknown session
//!   is accepted as a no-op);
//! - `400`: what servers written with the TypeScript SDK's examples (such
//!   as server-everything) answer: `400 Bad Request`, `application/json`,
//!   `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No
//!   valid session ID provided"},"id":null}`, for any method.
//!
//! A fixture restarted on the same port knows none of the sessions of the
//! process before it, so either answer is what a gateway sees after an
//! upstream restart.

use std::sync::Arc;

use anyhow::bail;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

/// The TypeScript SDK examples' answer to an unknown session.
pub const BAD_REQUEST_BODY: &str = r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}"#;

/// The answer to a request with an unknown `Mcp-Session-Id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownSession {
    /// rmcp's (and the spec's) 404.
    NotFound,
    /// The TypeScript SDK examples' 400 with a JSON-RPC error body.
    BadRequest,
}

impl UnknownSession {
    /// Reads `FIXTURE_UNKNOWN_SESSION` (`404`, `400`; unset or empty: `404`).
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("FIXTURE_UNKNOWN_SESSION") {
            Err(_) => Ok(Self::NotFound),
            Ok(raw) => match raw.trim() {
                "" | "404" => Ok(Self::NotFound),
                "400" => Ok(Self::BadRequest),
                other => bail!("FIXTURE_UNKNOWN_SESSION={other:?}: use 404 or 400"),
            },
        }
    }

    /// `mcp` (the router serving `/mcp`) answering unknown sessions this way.
    pub fn apply(self, mcp: Router, sessions: Arc<LocalSessionManager>) -> Router {
        match self {
            // rmcp already answers 404 for a session it does not hold.
            Self::NotFound => mcp,
            Self::BadRequest => mcp.layer(middleware::from_fn_with_state(sessions, bad_request)),
        }
    }
}

/// Answers 400 (see [`BAD_REQUEST_BODY`]) for a request whose session id
/// the session manager does not hold; passes everything else on.
async fn bad_request(
    State(sessions): State<Arc<LocalSessionManager>>,
    request: Request,
    next: Next,
) -> Response {
    let unknown = match request
        .headers()
        .get("mcp-session-id")
        .map(HeaderValue::to_str)
    {
        None => false,
        Some(Err(_)) => true,
        Some(Ok(id)) => !sessions.sessions.read().await.contains_key(id),
    };
    if !unknown {
        return next.run(request).await;
    }
    tracing::info!(
        "mcp-fixture: {} {} with an unknown session: 400",
        request.method(),
        request.uri()
    );
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        BAD_REQUEST_BODY,
    )
        .into_response()
}
