//! Tool calls posted straight to a streamable-HTTP upstream.
//!
//! rmcp's client hands each request to its service task, then to its
//! transport worker, which posts it and spawns one more task to read the
//! answer's event stream; the answer travels back through all three. A
//! `tools/call` on a streamable-HTTP link is posted here instead, in the
//! caller's own task, with the HTTP client, session, credentials and
//! headers of rmcp's last POST on that link (its [`HttpRoute`], kept by the
//! link's `RawHttp`). What the upstream sends on the answer's stream
//! meanwhile goes where rmcp would send it: progress and log messages to
//! the link's [`Relay`], list changes to its events, and its
//! `sampling`/`elicitation`/`roots` requests to the link's handler, whose
//! answers are posted back on the same session.
//!
//! Whatever rmcp knows how to recover from is left to rmcp: an upstream
//! that refuses the POST with a 4xx status (credentials to refresh, a
//! session to renew) or an id-less error, or whose connection cannot be
//! opened, gets the call again through rmcp's own client, which renews,
//! refreshes or breaks the link as it always does. The upstream served
//! none of these. Any other failure after the POST went out ends the call
//! (`upstream_closed`): the upstream may have it, so it is never sent twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::http::{HeaderName, HeaderValue, StatusCode};
use futures::StreamExt as _;
use futures::future::BoxFuture;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, GetMeta, JsonRpcMessage, NumberOrString, ProgressToken,
    RequestId, ServerJsonRpcMessage, ServerNotification, ServerResult,
};
use rmcp::service::{InboundStreamOrigin, RequestContext, Service as _};
use rmcp::transport::streamable_http_client::{StreamableHttpError, StreamableHttpResponseLimits};
use rmcp::{Peer, RoleClient, ServiceError};
use sse_stream::SseStream;

use crate::error::ErrorCode;
use crate::upstream::relay::{LinkEvent, Relay};
use crate::upstream::{UpstreamClient, with_causes};

mod call_answer;
pub(crate) mod http1;

use http1::{Http1, SendError};

/// How rmcp's last POST on a link reached the upstream: the session and
/// everything sent with it.
pub struct HttpRoute {
    pub(crate) http: reqwest::Client,
    /// The plain-HTTP/1.1 client that drives its connections in the
    /// caller's task, when the route can take it (see `http1`).
    pub(crate) http1: Option<Arc<Http1>>,
    /// `url`'s path and query: the target of an HTTP/1.1 request.
    pub(crate) target: Option<axum::http::Uri>,
    /// The endpoint, parsed once for every call of the route.
    pub(crate) url: reqwest::Url,
    pub(crate) session: Arc<str>,
    pub(crate) auth: Option<String>,
    pub(crate) headers: HashMap<HeaderName, HeaderValue>,
    /// `Mcp-Session-Id` and `Authorization`, made once for every call.
    fixed: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for HttpRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRoute")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl HttpRoute {
    /// The route of a POST rmcp makes, when a call can take it: a session
    /// of a revision before 2026-07-28 (whose requests carry per-request
    /// headers a route cannot reuse).
    pub(crate) fn of_post(
        http: &reqwest::Client,
        http1: Option<&Arc<Http1>>,
        uri: &Arc<str>,
        session: Option<&Arc<str>>,
        auth: Option<&String>,
        headers: &HashMap<HeaderName, HeaderValue>,
    ) -> Option<Self> {
        let session = session?;
        if headers.keys().any(|name| name.as_str() == "mcp-method") {
            return None;
        }
        let url = reqwest::Url::parse(uri).ok()?;
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut fixed = vec![(
            HeaderName::from_static("mcp-session-id"),
            HeaderValue::from_str(session).ok()?,
        )];
        if let Some(auth) = auth {
            let mut value = HeaderValue::from_str(&format!("Bearer {auth}")).ok()?;
            value.set_sensitive(true);
            fixed.push((reqwest::header::AUTHORIZATION, value));
        }
        Some(Self {
            fixed,
            http: http.clone(),
            http1: http1.cloned(),
            target: target.parse().ok(),
            url,
            session: session.clone(),
            auth: auth.cloned(),
            headers: headers
                .iter()
                .filter(|(name, _)| !is_trace_header(name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// Whether a POST with `session` and `auth` went the same way.
    pub(crate) fn same(&self, session: Option<&Arc<str>>, auth: Option<&String>) -> bool {
        session.is_some_and(|s| *s == self.session) && auth == self.auth.as_ref()
    }

    /// Posts `message` on this route: through [`Http1`] when the route
    /// can take it, through reqwest otherwise.
    async fn send(&self, message: &ClientJsonRpcMessage) -> Result<Reply, Unanswered> {
        let body = serde_json::to_vec(message)
            .map_err(|e| Unanswered::Unsent(format!("encoding: {e}")))?;
        let trace = crate::telemetry::trace_headers(message);
        if let (Some(http1), Some(target)) = (&self.http1, &self.target) {
            let mut request = axum::http::Request::post(target.clone())
                .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
                .map_err(|e| Unanswered::Unsent(e.to_string()))?;
            let headers = request.headers_mut();
            headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static(ACCEPTED));
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            for (name, value) in self.fixed.iter().map(|(k, v)| (k, v)).chain(&self.headers) {
                headers.append(name.clone(), value.clone());
            }
            for (name, value) in trace.iter().flat_map(|trace| trace.iter()) {
                headers.append(name.clone(), value.clone());
            }
            return match http1.send(request).await {
                Ok(response) => Ok(Reply::of_http1(response)),
                Err(SendError::Connect(err)) => Err(Unanswered::Unsent(err.to_string())),
                Err(err @ SendError::Broken(_)) => Err(Unanswered::Broken(err.to_string())),
            };
        }
        let mut request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::ACCEPT, ACCEPTED)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in self.fixed.iter().map(|(k, v)| (k, v)).chain(&self.headers) {
            request = request.header(name, value);
        }
        for (name, value) in trace.iter().flat_map(|trace| trace.iter()) {
            request = request.header(name, value);
        }
        match request.body(body).send().await {
            Ok(response) => Ok(Reply::of_reqwest(response)),
            Err(err) if err.is_connect() => Err(Unanswered::Unsent(with_causes(&err))),
            Err(err) => Err(Unanswered::Broken(with_causes(&err))),
        }
    }
}

/// What a call accepts from its upstream.
const ACCEPTED: &str = "text/event-stream, application/json";

/// Why a POST on a route got no response.
enum Unanswered {
    /// Nothing reached the upstream.
    Unsent(String),
    /// The upstream may have the request.
    Broken(String),
}

/// A body's bytes as they come, from either client.
type ByteStream = futures::stream::BoxStream<'static, Result<hyper::body::Bytes, std::io::Error>>;

/// An upstream's response to a POST on a route.
struct Reply {
    status: StatusCode,
    /// Lower-cased; empty when there is none.
    content_type: String,
    body: ByteStream,
}

impl Reply {
    fn of_reqwest(response: reqwest::Response) -> Self {
        Self {
            status: response.status(),
            content_type: content_type(response.headers()),
            body: response
                .bytes_stream()
                .map(|c| c.map_err(std::io::Error::other))
                .boxed(),
        }
    }

    fn of_http1(response: axum::http::Response<http1::Body>) -> Self {
        let (parts, body) = response.into_parts();
        Self {
            status: parts.status,
            content_type: content_type(&parts.headers),
            body: body.map(|c| c.map_err(std::io::Error::other)).boxed(),
        }
    }
}

/// The W3C trace headers belong to one call, never to a route.
fn is_trace_header(name: &HeaderName) -> bool {
    matches!(name.as_str(), "traceparent" | "tracestate")
}

/// Ids of the calls posted here: far above rmcp's own (a `u32` count from
/// 0) on the same upstream session, and exact in a JavaScript number.
static NEXT_ID: AtomicI64 = AtomicI64::new(1 << 40);

/// A fresh request id and the progress token that goes with it (rmcp sends
/// one with every request, so an upstream sees the same here).
pub fn next_id() -> (RequestId, ProgressToken) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    (
        NumberOrString::Number(id),
        ProgressToken(NumberOrString::Number(id)),
    )
}

/// What became of a call posted here.
pub enum Posted {
    /// The upstream took it: the answer to wait for.
    Answer(BoxFuture<'static, Result<ServerResult, ServiceError>>),
    /// The upstream did not serve it (see the module docs): send this
    /// request through rmcp.
    Refused(Box<ClientRequest>),
}

/// The refusal of the call `message` posted: the request goes back for
/// rmcp (which gives it an id and progress token of its own).
fn refused(message: ClientJsonRpcMessage) -> Posted {
    match message.into_request() {
        Some((request, _)) => Posted::Refused(Box::new(request)),
        None => unreachable!("a call is posted as a request"),
    }
}

/// Posts `request` (a `tools/call`) as request `id` with progress `token`
/// on `route`, for the link whose rmcp peer is `peer` and relay `relay`.
pub async fn post(
    route: &Arc<HttpRoute>,
    peer: &Peer<RoleClient>,
    relay: &Arc<Relay>,
    mut request: ClientRequest,
    id: RequestId,
    token: ProgressToken,
) -> Posted {
    request.get_meta_mut().set_progress_token(token);
    let message = ClientJsonRpcMessage::request(request, id.clone());
    let response = match route.send(&message).await {
        Ok(response) => response,
        // Nothing reached the upstream: rmcp tries, and breaks the link if
        // it cannot either.
        Err(Unanswered::Unsent(reason)) => {
            tracing::debug!(%reason, "a direct upstream POST was not sent; through rmcp");
            return refused(message);
        }
        // The upstream may have the call: never sent twice.
        Err(Unanswered::Broken(reason)) => return answered(Err(broken(reason))),
    };
    let Reply {
        status,
        content_type,
        body,
    } = response;
    if status.is_client_error() {
        tracing::debug!(%status, "the upstream refused a direct POST; through rmcp");
        return refused(message);
    }
    if status.is_success() && content_type.starts_with("application/json") {
        let limit = StreamableHttpResponseLimits::default().max_json_response_size;
        let body = match collect_bounded(body, limit).await {
            Ok(body) => body,
            Err(err) => return answered(Err(broken(err.to_string()))),
        };
        return match call_answer::read(&body, &id) {
            Ok(call_answer::Read::Result(result)) => answered(Ok(result)),
            // An id-less error: the upstream refused the session.
            Ok(call_answer::Read::Message(JsonRpcMessage::Error(error))) if error.id.is_none() => {
                refused(message)
            }
            Ok(call_answer::Read::Message(reply)) => answered(match the_answer(reply, &id) {
                Read::Answer(answer) => answer,
                Read::Other(_) => Err(broken("the upstream answered another request".into())),
            }),
            Err(err) => answered(Err(broken(format!("an unreadable answer: {err}")))),
        };
    }
    if !status.is_success() || !content_type.starts_with("text/event-stream") {
        return answered(Err(ServiceError::McpError(
            ErrorCode::UpstreamProtocolError.mcp_error(
                format!("tools/call answered HTTP {status} ({content_type})"),
                &[],
            ),
        )));
    }
    let stream = Stream {
        route: route.clone(),
        peer: peer.clone(),
        client: UpstreamClient::new(relay.clone()),
        relay: relay.clone(),
        origin: InboundStreamOrigin::OutboundRequest(id.clone()),
        id,
    };
    Posted::Answer(Box::pin(stream.read(body)))
}

fn answered(answer: Result<ServerResult, ServiceError>) -> Posted {
    Posted::Answer(Box::pin(std::future::ready(answer)))
}

/// A transport failure in the middle of a call (rmcp says the same of a
/// stream that broke).
fn broken(reason: String) -> ServiceError {
    tracing::debug!(%reason, "a direct upstream call broke");
    ServiceError::TransportClosed
}

/// An upstream message on a call's answer stream.
enum Read {
    /// The answer to the call.
    Answer(Result<ServerResult, ServiceError>),
    /// Anything else.
    Other(ServerJsonRpcMessage),
}

/// What `message` is to the call with request `id`.
fn the_answer(message: ServerJsonRpcMessage, id: &RequestId) -> Read {
    match message {
        JsonRpcMessage::Response(response) if response.id == *id => {
            Read::Answer(Ok(response.result))
        }
        JsonRpcMessage::Error(error) if error.id.as_ref() == Some(id) => {
            Read::Answer(Err(ServiceError::McpError(error.error)))
        }
        other => Read::Other(other),
    }
}

/// The answer stream of one call posted here.
struct Stream {
    route: Arc<HttpRoute>,
    peer: Peer<RoleClient>,
    client: UpstreamClient,
    relay: Arc<Relay>,
    origin: InboundStreamOrigin,
    id: RequestId,
}

impl Stream {
    /// Reads the answer's events until the answer.
    async fn read(self, body: ByteStream) -> Result<ServerResult, ServiceError> {
        let mut events = SseStream::from_bytes_stream(body);
        // The upstream's requests being served; dropped (aborted) with the
        // call.
        let mut asked = tokio::task::JoinSet::new();
        while let Some(event) = events.next().await {
            while asked.try_join_next().is_some() {}
            let event = event.map_err(|e| broken(format!("the event stream: {e}")))?;
            let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                continue;
            };
            let message = match call_answer::read(data.as_bytes(), &self.id) {
                Ok(call_answer::Read::Result(result)) => return Ok(result),
                Ok(call_answer::Read::Message(message)) => message,
                Err(err) => {
                    tracing::debug!(error = %err, "an unreadable upstream message; skipped");
                    continue;
                }
            };
            let message = match the_answer(message, &self.id) {
                Read::Answer(answer) => return answer,
                Read::Other(message) => message,
            };
            match message {
                JsonRpcMessage::Notification(notification) => {
                    self.notified(notification.notification).await;
                }
                JsonRpcMessage::Request(request) => {
                    self.asked(&mut asked, request.id, request.request);
                }
                _ => tracing::debug!("an answer to no request of this call; skipped"),
            }
        }
        Err(broken("the event stream ended before the answer".into()))
    }

    /// Hands an upstream notification on, as the link's handler does.
    #[allow(deprecated)] // logging is still what pre-2026-07-28 peers use
    async fn notified(&self, notification: ServerNotification) {
        let event = match notification {
            ServerNotification::ProgressNotification(n) => {
                return self.relay.progress(n.params).await;
            }
            ServerNotification::LoggingMessageNotification(n) => {
                return self.relay.log(n.params, Some(&self.origin)).await;
            }
            ServerNotification::ToolListChangedNotification(_) => LinkEvent::ToolsChanged,
            ServerNotification::ResourceListChangedNotification(_) => LinkEvent::ResourcesChanged,
            ServerNotification::PromptListChangedNotification(_) => LinkEvent::PromptsChanged,
            ServerNotification::ResourceUpdatedNotification(n) => {
                LinkEvent::ResourceUpdated { uri: n.params.uri }
            }
            ServerNotification::CustomNotification(n)
                if n.method == "notifications/tasks/status" =>
            {
                if let Some(params) = n.params {
                    self.relay.task_status(params).await;
                }
                return;
            }
            other => {
                tracing::debug!(
                    ?other,
                    "an upstream notification no client asked for; dropped"
                );
                return;
            }
        };
        self.relay.event(self.peer.clone(), event).await;
    }

    /// Serves an upstream request through the link's handler (in a task of
    /// `tasks`: the answer may take a person's time, and the answer stream
    /// goes on meanwhile) and posts the answer back.
    fn asked(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        id: RequestId,
        request: rmcp::model::ServerRequest,
    ) {
        let mut context = RequestContext::new(id.clone(), self.peer.clone());
        context.extensions.insert(self.origin.clone());
        let (client, route) = (self.client.clone(), self.route.clone());
        tasks.spawn(async move {
            let message = match client.handle_request(request, context).await {
                Ok(result) => ClientJsonRpcMessage::response(result, id),
                Err(error) => ClientJsonRpcMessage::error(error, Some(id)),
            };
            answer_upstream(&route, &message).await;
        });
    }
}

/// Posts a client's answer to an upstream request.
async fn answer_upstream(route: &HttpRoute, message: &ClientJsonRpcMessage) {
    match route.send(message).await {
        Ok(reply) if reply.status.is_success() => {
            // Read to its end, so that its connection can be used again.
            let _ = collect_bounded(reply.body, ANSWER_LIMIT).await;
        }
        Ok(reply) => {
            tracing::debug!(status = %reply.status, "the upstream refused an answer");
        }
        Err(Unanswered::Unsent(reason) | Unanswered::Broken(reason)) => {
            tracing::debug!(%reason, "an answer did not reach the upstream")
        }
    }
}

/// How much of the upstream's reply to an answer is read (it has none).
const ANSWER_LIMIT: usize = 64 * 1024;

/// The `Content-Type` among `headers`, lower-cased (empty when there is
/// none).
pub(crate) fn content_type(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The body of `response`, refused past `limit` bytes.
pub(crate) async fn read_bounded(
    response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, StreamableHttpError<reqwest::Error>> {
    collect_bounded(response.bytes_stream(), limit).await
}

/// The bytes of `chunks`, refused past `limit`.
async fn collect_bounded<E: std::error::Error + Send + Sync + 'static>(
    mut chunks: impl futures::Stream<Item = Result<hyper::body::Bytes, E>> + Unpin,
    limit: usize,
) -> Result<Vec<u8>, StreamableHttpError<E>> {
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(StreamableHttpError::Client)?;
        if body.len() + chunk.len() > limit {
            return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&'static str]) -> HashMap<HeaderName, HeaderValue> {
        names
            .iter()
            .map(|n| (HeaderName::from_static(n), HeaderValue::from_static("x")))
            .collect()
    }

    #[test]
    fn a_route_needs_a_session_of_a_revision_with_sessions() {
        let http = reqwest::Client::new();
        let uri: Arc<str> = "http://127.0.0.1:1/mcp".into();
        let session: Arc<str> = "s1".into();
        let plain = headers(&["mcp-protocol-version"]);
        assert!(HttpRoute::of_post(&http, None, &uri, None, None, &plain).is_none());
        let route = HttpRoute::of_post(&http, None, &uri, Some(&session), None, &plain)
            .expect("a legacy session has a route");
        assert!(route.same(Some(&session), None));
        assert!(!route.same(Some(&"s2".into()), None), "another session");
        assert!(
            !route.same(Some(&session), Some(&"t".to_owned())),
            "other credentials"
        );
        // 2026-07-28 requests carry their method in a header of their own.
        let modern = headers(&["mcp-method", "mcp-protocol-version"]);
        assert!(HttpRoute::of_post(&http, None, &uri, Some(&session), None, &modern).is_none());
        // One call's trace context is never reused for another.
        let traced = headers(&["traceparent", "tracestate", "x-api-key"]);
        let route =
            HttpRoute::of_post(&http, None, &uri, Some(&session), None, &traced).expect("a route");
        let kept: Vec<_> = route.headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(kept, ["x-api-key"]);
    }

    #[test]
    fn only_the_answer_to_the_call_ends_it() {
        let id = RequestId::Number(1 << 40);
        let read =
            |text: &str| serde_json::from_str::<ServerJsonRpcMessage>(text).expect("a message");
        let ok = read(&format!(
            r#"{{"jsonrpc":"2.0","id":{},"result":{{"content":[]}}}}"#,
            1_i64 << 40
        ));
        assert!(matches!(the_answer(ok, &id), Read::Answer(Ok(_))));
        let failed = read(&format!(
            r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32602,"message":"no"}}}}"#,
            1_i64 << 40
        ));
        assert!(
            matches!(the_answer(failed, &id), Read::Answer(Err(ServiceError::McpError(e))) if e.message == "no")
        );
        let other = read(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#);
        assert!(matches!(the_answer(other, &id), Read::Other(_)));
        let note = read(r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#);
        assert!(matches!(the_answer(note, &id), Read::Other(_)));
    }

    #[test]
    fn ids_are_far_above_rmcps_own_and_exact_in_javascript() {
        let (RequestId::Number(id), ProgressToken(NumberOrString::Number(token))) = next_id()
        else {
            panic!("numeric ids");
        };
        assert_eq!(id, token);
        assert!(id > i64::from(u32::MAX));
        assert!(id < 1 << 53);
    }
}
