//! Legacy HTTP+SSE links (MCP protocol 2024-11-05), which rmcp no longer
//! ships a client for but many deployed servers still speak.
//!
//! The wire protocol: the client `GET`s the SSE URL and keeps the response
//! open; the server's first event is `endpoint`, whose data is the URL
//! (usually relative, carrying a session id) the client must `POST` its
//! JSON-RPC messages to; every server message then arrives as a `message`
//! event on the GET stream.
//!
//! `SseTransport` is an rmcp [`Transport`]: sending is a plain `POST` to the
//! current endpoint, receiving reads a channel fed by one worker task that
//! owns the GET stream. A legacy session lives exactly as long as its GET
//! stream (servers forget the session id when it closes), so when the stream
//! ends or breaks the worker breaks the link at once: requests in flight
//! fail with `upstream_closed` and the session manager reopens the link with
//! a new handshake. The worker also ends when the transport is closed or
//! dropped, so no task outlives its link.
//!
//! Hardening: the endpoint must have the SSE URL's origin (a server cannot
//! make the gateway POST, with the target's credentials, somewhere else), one
//! event may not exceed [`MAX_EVENT_BYTES`], and malformed events are logged
//! and skipped rather than ending the link.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use futures::{Stream, StreamExt};
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::Transport;
use sse_stream::{Sse, SseStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use url::Url;

use crate::error::{Error, ErrorCode};
use crate::upstream::health::LinkHealth;
use crate::upstream::streamable_http::http_client;
use crate::upstream::{LinkOptions, Remote, Target, UpstreamClient, init_error};

/// The largest single SSE event accepted; a bigger one breaks the stream
/// (and the link) instead of growing memory without bound.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// Server messages buffered between the worker and rmcp.
const INBOUND_BUFFER: usize = 64;

/// Connects and runs the MCP handshake.
pub(crate) async fn open(
    target: &Target,
    remote: &Remote,
    options: &LinkOptions,
    client: UpstreamClient,
    health: &Arc<LinkHealth>,
) -> Result<(RunningService<RoleClient, UpstreamClient>, Option<u32>), Error> {
    let url = remote.url.clone();
    let conn = Connection {
        http: http_client(options)?,
        sse_url: url,
        headers: Arc::new(header_map(&target.all_headers())?),
        post_timeout: options.call_timeout,
        server: target.name.to_string(),
    };
    let (events, endpoint) = conn.connect().await?;
    let transport = SseTransport::start(conn, events, endpoint, Some(health.clone()));
    let service = client
        .serve(transport)
        .await
        .map_err(|e| init_error(target, e))?;
    Ok((service, None))
}

/// The target's headers as an HTTP header map.
pub(crate) fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(Error::internal)?;
        let value = HeaderValue::from_str(value).map_err(Error::internal)?;
        map.append(name, value);
    }
    Ok(map)
}

fn protocol_error(message: String) -> Error {
    Error::Upstream {
        code: ErrorCode::UpstreamProtocolError,
        message,
    }
}

/// Resolves the data of an `endpoint` event against the SSE URL and
/// requires the same origin (scheme, host and port).
pub(crate) fn resolve_endpoint(sse_url: &Url, data: &str) -> Result<Url, Error> {
    let data = data.trim();
    if data.is_empty() {
        return Err(protocol_error(
            "the SSE endpoint event carries no URL".to_owned(),
        ));
    }
    let endpoint = sse_url
        .join(data)
        .map_err(|e| protocol_error(format!("the SSE endpoint `{data}` is not a URL: {e}")))?;
    if endpoint.origin() != sse_url.origin() {
        return Err(protocol_error(format!(
            "the SSE endpoint `{endpoint}` is not on the origin of the SSE URL"
        )));
    }
    Ok(endpoint)
}

/// The stable code for a failed HTTP request: an egress refusal from the
/// resolver, a connection failure or a timeout.
fn request_error_code(err: &reqwest::Error) -> ErrorCode {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(Error::Upstream { code, .. }) = e.downcast_ref::<Error>() {
            return *code;
        }
        source = e.source();
    }
    if err.is_timeout() {
        ErrorCode::UpstreamTimeout
    } else if err.is_connect() {
        ErrorCode::UpstreamUnreachable
    } else {
        ErrorCode::UpstreamProtocolError
    }
}

fn request_error(what: &str, err: &reqwest::Error) -> Error {
    Error::Upstream {
        code: request_error_code(err),
        message: format!("{what} failed: {}", crate::upstream::with_causes(err)),
    }
}

/// Counts the bytes of the SSE event being received and refuses one that
/// grows past the limit. Events end at an empty line (`\n`, `\r` or `\r\n`
/// line endings, as the SSE grammar allows).
#[derive(Debug)]
pub(crate) struct EventSizeGuard {
    limit: usize,
    event_len: usize,
    line_len: usize,
    last_was_cr: bool,
}

impl EventSizeGuard {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            event_len: 0,
            line_len: 0,
            last_was_cr: false,
        }
    }

    /// Feeds the next chunk; `false` once the current event is over the limit.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> bool {
        for &byte in chunk {
            if byte == b'\n' && self.last_was_cr {
                self.last_was_cr = false;
                continue;
            }
            if byte == b'\n' || byte == b'\r' {
                self.last_was_cr = byte == b'\r';
                if self.line_len == 0 {
                    self.event_len = 0;
                    continue;
                }
                self.line_len = 0;
            } else {
                self.last_was_cr = false;
                self.line_len += 1;
            }
            self.event_len += 1;
            if self.event_len > self.limit {
                return false;
            }
        }
        true
    }
}

/// Why the bytes of the GET stream stopped.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("{0}")]
    Http(reqwest::Error),
    #[error("an SSE event is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
}

/// The parsed events of one GET stream.
type Events = Pin<Box<dyn Stream<Item = Result<Sse, sse_stream::Error>> + Send>>;

/// What the worker and the senders share to talk to one server.
#[derive(Debug, Clone)]
struct Connection {
    http: reqwest::Client,
    sse_url: Url,
    headers: Arc<HeaderMap>,
    post_timeout: Duration,
    /// For log lines.
    server: String,
}

impl Connection {
    /// Opens the GET stream and reads up to the `endpoint` event.
    async fn connect(&self) -> Result<(Events, Url), Error> {
        let response = self
            .http
            .get(self.sse_url.clone())
            .headers((*self.headers).clone())
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache")
            .send()
            .await
            .map_err(|e| request_error("the SSE GET", &e))?;
        let status = response.status();
        if status.as_u16() == 508 {
            return Err(Error::Upstream {
                code: ErrorCode::UpstreamLoop,
                message: "the SSE GET answered HTTP 508: the upstream leads back to this gateway"
                    .to_owned(),
            });
        }
        if !status.is_success() {
            return Err(protocol_error(format!(
                "the SSE GET answered HTTP {status}, not an event stream"
            )));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !content_type.starts_with("text/event-stream") {
            return Err(protocol_error(format!(
                "the SSE GET answered `{content_type}`, not text/event-stream"
            )));
        }
        let mut guard = EventSizeGuard::new(MAX_EVENT_BYTES);
        let bytes = response.bytes_stream().map(move |chunk| match chunk {
            Ok(bytes) if guard.feed(&bytes) => Ok(bytes),
            Ok(_) => Err(BodyError::TooLarge),
            Err(e) => Err(BodyError::Http(e)),
        });
        let mut events: Events = Box::pin(SseStream::from_bytes_stream(bytes));
        while let Some(item) = events.next().await {
            match item {
                Ok(sse) if sse.event.as_deref() == Some("endpoint") => {
                    let endpoint =
                        resolve_endpoint(&self.sse_url, sse.data.as_deref().unwrap_or(""))?;
                    tracing::debug!(server = %self.server, "SSE endpoint received");
                    return Ok((events, endpoint));
                }
                Ok(sse) => {
                    tracing::debug!(server = %self.server, event = ?sse.event, "SSE event before the endpoint, ignored");
                }
                Err(sse_stream::Error::Body(e)) => {
                    return Err(protocol_error(format!(
                        "the SSE stream broke before the endpoint event: {e}"
                    )));
                }
                Err(e) => {
                    tracing::warn!(server = %self.server, error = %e, "malformed SSE line skipped");
                }
            }
        }
        Err(protocol_error(
            "the SSE stream ended before the endpoint event".to_owned(),
        ))
    }

    /// POSTs one client message to the endpoint; 2xx expected.
    async fn post(&self, endpoint: Url, message: ClientJsonRpcMessage) -> Result<(), Error> {
        let mut request = self.http.post(endpoint).headers((*self.headers).clone());
        // The W3C trace context of the upstream call, when traces are on.
        if let Some(trace) = crate::telemetry::trace_headers(&message) {
            request = request.headers(trace.clone());
        }
        let response = request
            .timeout(self.post_timeout)
            .json(&message)
            .send()
            .await
            .map_err(|e| request_error("the SSE POST", &e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(protocol_error(format!(
                "the SSE endpoint answered HTTP {status} to a POST"
            )))
        }
    }
}

/// The task that owns the GET stream: forwards `message` events to rmcp,
/// follows `endpoint` events, breaks the link when the stream ends.
struct Worker {
    conn: Connection,
    events: Events,
    endpoint: watch::Sender<Url>,
    inbound: mpsc::Sender<ServerJsonRpcMessage>,
    health: Option<Arc<LinkHealth>>,
}

impl Worker {
    async fn run(mut self) {
        if let Some(reason) = self.pump().await {
            // The reason may name the URL: the link's owner logs it redacted.
            tracing::debug!(server = %self.conn.server, "the link broke; closing it");
            if let Some(health) = &self.health {
                health.fail(format!("{}: {reason}", self.conn.server));
            }
        }
        // Dropping `inbound` ends rmcp's service loop too.
    }

    /// Reads the stream until it ends (`Some(why)`) or rmcp is gone (`None`).
    async fn pump(&mut self) -> Option<String> {
        let mut broke = None;
        while let Some(item) = self.events.next().await {
            match item {
                Ok(sse) => match sse.event.as_deref() {
                    None | Some("message") => {
                        let data = sse.data.unwrap_or_default();
                        let read = match &self.health {
                            Some(health) => health.lane().read(&data),
                            None => serde_json::from_str::<ServerJsonRpcMessage>(&data),
                        };
                        match read {
                            Ok(message) => {
                                if self.inbound.send(message).await.is_err() {
                                    return None;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(server = %self.conn.server, error = %e, "SSE message is not a JSON-RPC message; skipped");
                            }
                        }
                    }
                    Some("endpoint") => {
                        match resolve_endpoint(
                            &self.conn.sse_url,
                            sse.data.as_deref().unwrap_or(""),
                        ) {
                            Ok(url) => {
                                self.endpoint.send_replace(url);
                            }
                            Err(e) => {
                                tracing::warn!(server = %self.conn.server, error = %e, "SSE endpoint event ignored");
                            }
                        }
                    }
                    Some(other) => {
                        tracing::debug!(server = %self.conn.server, event = other, "unknown SSE event ignored");
                    }
                },
                Err(sse_stream::Error::Body(e)) => {
                    broke = Some(format!("the SSE event stream broke: {e}"));
                    break;
                }
                Err(e) => {
                    tracing::warn!(server = %self.conn.server, error = %e, "malformed SSE line skipped");
                }
            }
        }
        if self.inbound.is_closed() {
            return None;
        }
        Some(broke.unwrap_or_else(|| "the SSE event stream ended".to_owned()))
    }
}

/// An rmcp client transport over legacy HTTP+SSE.
///
/// Dropping it (or [`Transport::close`]) stops the worker, which drops the
/// GET stream.
pub(crate) struct SseTransport {
    conn: Connection,
    endpoint: watch::Receiver<Url>,
    inbound: mpsc::Receiver<ServerJsonRpcMessage>,
    /// Dropped to stop the worker.
    shutdown: Option<oneshot::Sender<()>>,
    worker: Option<JoinHandle<()>>,
    /// The link's health, whose lane notes requests wanted raw.
    health: Option<Arc<LinkHealth>>,
}

impl SseTransport {
    /// Starts the worker over a connected stream; a stream that ends breaks
    /// `health`.
    fn start(
        conn: Connection,
        events: Events,
        endpoint: Url,
        health: Option<Arc<LinkHealth>>,
    ) -> Self {
        let (endpoint_tx, endpoint_rx) = watch::channel(endpoint);
        let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_BUFFER);
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let worker = Worker {
            conn: conn.clone(),
            events,
            endpoint: endpoint_tx,
            inbound: inbound_tx,
            health: health.clone(),
        };
        let handle = tokio::spawn(async move {
            tokio::select! {
                () = worker.run() => {}
                _ = shutdown_rx => {}
            }
        });
        Self {
            conn,
            endpoint: endpoint_rx,
            inbound: inbound_rx,
            shutdown: Some(shutdown_tx),
            worker: Some(handle),
            health,
        }
    }
}

impl Transport<RoleClient> for SseTransport {
    type Error = Error;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        // Noted before it is posted: the answer may come first.
        if let Some(health) = &self.health {
            health.lane().outbound(&item);
        }
        let conn = self.conn.clone();
        let endpoint = self.endpoint.borrow().clone();
        async move { conn.post(endpoint, item).await }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        self.inbound.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.shutdown.take();
        self.inbound.close();
        if let Some(worker) = self.worker.take()
            && let Err(e) = worker.await
        {
            tracing::warn!(server = %self.conn.server, error = %e, "the SSE worker failed");
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
