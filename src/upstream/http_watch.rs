//! [`HttpWatch`]: the streamable-HTTP client under every streamable-HTTP
//! link, wrapped around reqwest (and OAuth's client), which tells the
//! link's [`LinkHealth`] when the upstream is gone.
//!
//! rmcp's transport worker already re-initialises a session the upstream
//! answers with 404 and re-sends the refused POST once. What it does not see:
//! - a session the upstream forgot but answers with 400, 401 or 410 and a
//!   JSON-RPC error without an id (the TypeScript SDK's `Bad Request: No
//!   valid session ID provided`): rmcp would hand the id-less error on and
//!   the request would wait for its timeout. Such an answer that names the
//!   session becomes `SessionExpired`, so rmcp re-initialises and re-sends;
//!   any other id-less error fails the request at once;
//! - a refused or reset connection: rmcp retries the event streams with
//!   back-off while requests wait. Here it breaks the link at once, which
//!   fails the requests in flight with `upstream_closed` and lets the
//!   session manager reopen it.
//!
//! A GET the upstream refuses with an HTTP status (its event stream for a
//! session it forgot) does not break the link: the next POST (a call, or the
//! health ping of an idle link) gets the same answer and renews the session.
//! Whenever a session is renewed the link re-reads the upstream's tools, so
//! the cached list follows a restarted upstream.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use futures::stream::BoxStream;
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::{Error as SseError, Sse};

use crate::upstream::health::LinkHealth;
use crate::upstream::with_causes;

/// A streamable-HTTP client that reports a gone upstream to `health`.
#[derive(Clone)]
pub(crate) struct HttpWatch<C> {
    inner: C,
    health: Arc<LinkHealth>,
    server: Arc<str>,
}

impl<C> HttpWatch<C> {
    pub(crate) fn new(inner: C, health: Arc<LinkHealth>, server: &str) -> Self {
        Self {
            inner,
            health,
            server: server.into(),
        }
    }

    /// Breaks the link when `err` says the upstream cannot be reached.
    fn note_error<E: std::error::Error + Send + Sync + 'static>(
        &self,
        what: &str,
        err: &StreamableHttpError<E>,
    ) {
        if let StreamableHttpError::Client(cause) = err {
            let causes = with_causes(cause);
            self.health
                .fail(format!("{}: {what} failed: {causes}", self.server));
        }
    }

    /// An answer to a POST: id-less JSON-RPC errors never reach rmcp.
    fn check_post<E: std::error::Error + Send + Sync + 'static>(
        &self,
        session_attached: bool,
        result: Result<StreamableHttpPostResponse, StreamableHttpError<E>>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<E>> {
        match result {
            Ok(StreamableHttpPostResponse::Json(JsonRpcMessage::Error(error), _))
                if error.id.is_none() =>
            {
                let message = error.error.message.to_string();
                if session_attached && names_the_session(&message) {
                    self.renewing();
                    Err(StreamableHttpError::SessionExpired)
                } else {
                    Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                        format!("the upstream refused the request: {}", excerpt(&message)),
                    )))
                }
            }
            Err(StreamableHttpError::SessionExpired) => {
                self.renewing();
                Err(StreamableHttpError::SessionExpired)
            }
            Err(err) => {
                self.note_error("sending a request", &err);
                Err(err)
            }
            other => other,
        }
    }

    /// rmcp is about to start a new session (it re-sends the refused POST).
    fn renewing(&self) {
        tracing::info!(server = %self.server, "the upstream no longer knows the session; starting a new one");
        self.health.session_renewed();
    }

    /// An answer to a GET (the standalone stream, or resuming a response).
    fn check_get<T, E: std::error::Error + Send + Sync + 'static>(
        &self,
        session_attached: bool,
        result: Result<T, StreamableHttpError<E>>,
    ) -> Result<T, StreamableHttpError<E>> {
        if let Err(err @ StreamableHttpError::Client(cause)) = &result {
            // An HTTP status for a session the upstream forgot: the next
            // POST renews it. Anything else: the upstream is not there.
            if !(session_attached && has_status(cause)) {
                self.note_error("opening the event stream", err);
            }
        }
        result
    }
}

/// Whether an HTTP client error is an answer with a status (not a failure
/// to connect or to read).
fn has_status(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(err) = source {
        if let Some(err) = err.downcast_ref::<reqwest::Error>() {
            return err.status().is_some();
        }
        source = err.source();
    }
    false
}

/// Whether an upstream's error message is about an unknown session.
fn names_the_session(message: &str) -> bool {
    message.to_ascii_lowercase().contains("session")
}

/// The first 120 printable characters of an upstream's error message.
fn excerpt(message: &str) -> String {
    message
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect()
}

impl<C> StreamableHttpClient for HttpWatch<C>
where
    C: StreamableHttpClient + Send + Sync,
{
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let attached = session_id.is_some();
        let result = self
            .inner
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await;
        self.check_post(attached, result)
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let attached = session_id.is_some();
        let result = self
            .inner
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.check_post(attached, result)
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let attached = session_id.is_some();
        let result = self
            .inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await;
        self.check_post(attached, result)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let attached = session_id.is_some();
        let result = self
            .inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await;
        self.check_get(attached, result)
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let attached = session_id.is_some();
        let result = self
            .inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.check_get(attached, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_messages_about_the_session_count_as_an_expired_session() {
        assert!(names_the_session(
            "Bad Request: No valid session ID provided"
        ));
        assert!(names_the_session("Session not found"));
        assert!(!names_the_session("Method not found"));
        assert_eq!(excerpt(&"x".repeat(500)).len(), 120);
        assert_eq!(excerpt("a\nb\u{1b}[31mc"), "ab[31mc");
    }
}
