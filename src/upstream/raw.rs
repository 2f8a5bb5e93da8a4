//! [`RawLane`]: answers that reach Manifold exactly as the upstream sent
//! them.
//!
//! rmcp reads every upstream message into its own types, which know the
//! protocol as rmcp does: a 2025-11-25 task (`tasks/get`, `tasks/cancel`)
//! reads as rmcp's newer task type and loses its `ttl` and `pollInterval`,
//! and a tool's `execution` or an upstream's `tasks` capability is dropped.
//! A gateway that must be invisible cannot lose fields on the way, so:
//!
//! - a request Manifold sends as an rmcp *custom* request (the method as
//!   the upstream knows it, raw JSON params) is noted by id on its way out
//!   ([`RawLane::outbound`]); its answer is wrapped on its way in, before
//!   rmcp reads it ([`RawLane::inbound`]), as `{"manifold/raw": result}`,
//!   which only rmcp's catch-all custom result accepts; [`unwrap`] takes it
//!   out again. [`request`] builds such a request.
//! - the answer to `initialize` is looked at (not changed) for the
//!   upstream's raw capabilities ([`RawLane::capabilities`]).
//!
//! Every transport calls the lane where it turns text into messages: the
//! stdio, WebSocket and SSE transports are Manifold's own; streamable HTTP
//! goes through `RawHttp`, under rmcp's transport. While no such request
//! is outstanding a message costs one atomic load.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderName, HeaderValue};
use futures::StreamExt;
use futures::stream::BoxStream;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, CustomRequest, JsonRpcMessage, RequestId,
    ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, InsufficientScopeError, StreamableHttpClient, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use serde_json::{Map, Value};

use crate::upstream::http_call::http1::Http1;
use crate::upstream::http_call::{HttpRoute, content_type, read_bounded};
use sse_stream::{Error as SseError, Sse, SseStream};

/// The key an answer is wrapped under.
pub const RAW_KEY: &str = "manifold/raw";

/// What the lane does with the answer to a noted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Wrap the result under [`RAW_KEY`].
    Wrap,
    /// Keep the result's raw `capabilities` (the `initialize` answer).
    Capabilities,
}

/// The raw answers of one link.
#[derive(Debug, Default)]
pub struct RawLane {
    /// Requests whose answers are still to come, by id.
    pending: Mutex<HashMap<RequestId, Want>>,
    /// `pending.len()`, read without the lock on every message.
    outstanding: AtomicUsize,
    /// The upstream's `capabilities` as it sent them.
    capabilities: Mutex<Option<Value>>,
    /// How rmcp's last POST reached the upstream (streamable HTTP), for
    /// tool calls posted without it (see `http_call`).
    route: Mutex<Option<Arc<HttpRoute>>>,
}

impl RawLane {
    /// A lane for a new link.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Notes `message` on its way to the upstream when its answer is
    /// wanted raw: a custom request, or `initialize`.
    pub fn outbound(&self, message: &ClientJsonRpcMessage) {
        if let Some((id, want)) = wanted(message) {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.insert(id, want);
            self.outstanding.store(pending.len(), Ordering::Release);
        }
    }

    /// Whether `message` is one whose answer the lane wants.
    pub fn wants(message: &ClientJsonRpcMessage) -> bool {
        wanted(message).is_some()
    }

    /// The text rmcp should read instead of `text`: `Some` only for the
    /// answer to a request noted by [`outbound`](Self::outbound) with a
    /// result to wrap.
    pub fn inbound(&self, text: &str) -> Option<String> {
        if self.outstanding.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut message: Map<String, Value> = serde_json::from_str(text).ok()?;
        if message.contains_key("method") {
            return None;
        }
        let id: RequestId = serde_json::from_value(message.get("id")?.clone()).ok()?;
        let want = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let want = pending.remove(&id)?;
            self.outstanding.store(pending.len(), Ordering::Release);
            want
        };
        let result = message.get_mut("result")?;
        match want {
            Want::Capabilities => {
                let capabilities = result.get("capabilities").cloned();
                *self.capabilities.lock().unwrap_or_else(|e| e.into_inner()) = capabilities;
                None
            }
            Want::Wrap => {
                let raw = result.take();
                *result = Value::Object(Map::from_iter([(RAW_KEY.to_owned(), raw)]));
                serde_json::to_string(&message).ok()
            }
        }
    }

    /// The upstream's `capabilities` from its last `initialize` answer, as
    /// sent (fields rmcp does not know included).
    pub fn capabilities(&self) -> Option<Value> {
        self.capabilities
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The route of rmcp's last POST, when a tool call can take it.
    pub fn route(&self) -> Option<Arc<HttpRoute>> {
        self.route.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Notes how rmcp is posting (kept while the session and credentials
    /// stay the same; forgotten when they cannot be reused).
    fn note_route(
        &self,
        http: &reqwest::Client,
        http1: Option<&Arc<Http1>>,
        uri: &Arc<str>,
        session: Option<&Arc<str>>,
        auth: Option<&String>,
        headers: &HashMap<HeaderName, HeaderValue>,
    ) {
        let mut route = self.route.lock().unwrap_or_else(|e| e.into_inner());
        if route.as_ref().is_some_and(|r| r.same(session, auth)) {
            return;
        }
        *route = HttpRoute::of_post(http, http1, uri, session, auth, headers).map(Arc::new);
    }

    /// Reads one upstream message (what a transport received as `text`).
    pub fn read(&self, text: &str) -> serde_json::Result<ServerJsonRpcMessage> {
        match self.inbound(text) {
            Some(wrapped) => serde_json::from_str(&wrapped),
            None => serde_json::from_str(text),
        }
    }
}

/// The id and what to do with the answer, for a message the lane wants.
fn wanted(message: &ClientJsonRpcMessage) -> Option<(RequestId, Want)> {
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    let want = match &request.request {
        ClientRequest::CustomRequest(_) => Want::Wrap,
        ClientRequest::InitializeRequest(_) => Want::Capabilities,
        _ => return None,
    };
    Some((request.id.clone(), want))
}

/// A request for `method` with `params` as given, answered raw (see the
/// module docs).
pub fn request(method: &str, params: Option<Value>) -> ClientRequest {
    ClientRequest::CustomRequest(CustomRequest::new(method, params))
}

/// The upstream's answer to a [`request`], as it sent it. An answer the
/// lane did not wrap (it cannot happen on Manifold's transports) is given
/// back as rmcp read it.
pub fn unwrap(result: ServerResult) -> Value {
    match result {
        ServerResult::CustomResult(custom) => match custom.0 {
            Value::Object(mut object) if object.len() == 1 && object.contains_key(RAW_KEY) => {
                object.remove(RAW_KEY).unwrap_or_default()
            }
            other => other,
        },
        other => serde_json::to_value(other).unwrap_or_default(),
    }
}

/// The streamable-HTTP client at the bottom of every streamable-HTTP link:
/// reqwest, except that a message the lane wants is posted here, so its
/// answer can pass the lane before rmcp reads it (rmcp's own client reads
/// JSON answers itself). Event streams pass the lane too.
#[derive(Clone)]
pub(crate) struct RawHttp {
    http: reqwest::Client,
    /// For tool calls posted without rmcp, when the upstream is plain HTTP.
    http1: Option<Arc<Http1>>,
    lane: Arc<RawLane>,
}

impl RawHttp {
    pub(crate) fn new(http: reqwest::Client, http1: Option<Http1>, lane: Arc<RawLane>) -> Self {
        Self {
            http,
            http1: http1.map(Arc::new),
            lane,
        }
    }

    /// An event stream whose messages pass the lane.
    fn through_lane(
        &self,
        stream: BoxStream<'static, Result<Sse, SseError>>,
    ) -> BoxStream<'static, Result<Sse, SseError>> {
        let lane = self.lane.clone();
        stream
            .map(move |event| {
                event.map(|mut sse| {
                    if let Some(rewritten) = sse.data.as_deref().and_then(|d| lane.inbound(d)) {
                        sse.data = Some(rewritten);
                    }
                    sse
                })
            })
            .boxed()
    }

    /// Posts a message the lane wants and reads the answer through it,
    /// with the answers to HTTP statuses that rmcp's own client gives.
    async fn post_raw(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>> {
        use reqwest::StatusCode;
        self.lane.outbound(&message);
        let mut request = self.http.post(uri.as_ref()).header(
            reqwest::header::ACCEPT,
            "text/event-stream, application/json",
        );
        if let Some(token) = auth_token {
            request = request.bearer_auth(token);
        }
        for (name, value) in custom_headers {
            request = request.header(name, value);
        }
        let attached = session_id.is_some();
        if let Some(session) = session_id {
            request = request.header("mcp-session-id", session.as_ref());
        }
        let response = request
            .json(&message)
            .send()
            .await
            .map_err(StreamableHttpError::Client)?;
        let status = response.status();
        let challenge = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match (status, challenge) {
            (StatusCode::UNAUTHORIZED, Some(header)) => {
                return Err(StreamableHttpError::AuthRequired(AuthRequiredError::new(
                    header,
                )));
            }
            (StatusCode::FORBIDDEN, Some(header)) => {
                let scope = scope_of(&header);
                return Err(StreamableHttpError::InsufficientScope(
                    InsufficientScopeError::new(header, scope),
                ));
            }
            _ => {}
        }
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && attached {
            return Err(StreamableHttpError::SessionExpired);
        }
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_type = content_type(response.headers());
        if status.is_success() && content_type.starts_with("text/event-stream") {
            let events = SseStream::from_bytes_stream(response.bytes_stream()).boxed();
            return Ok(StreamableHttpPostResponse::Sse(
                self.through_lane(events),
                session,
            ));
        }
        let body = read_bounded(response, limits.max_json_response_size).await?;
        let text = String::from_utf8_lossy(&body);
        if content_type.starts_with("application/json") {
            match self.lane.read(&text) {
                Ok(message) if status.is_success() || is_error(&message) => {
                    return Ok(StreamableHttpPostResponse::Json(message, session));
                }
                Ok(_) => {}
                Err(err) if status.is_success() => return Err(err.into()),
                Err(_) => {}
            }
        }
        if status.is_success() {
            return Err(StreamableHttpError::UnexpectedContentType(Some(
                content_type,
            )));
        }
        let preview: String = text.chars().take(256).collect();
        Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
            format!("HTTP {status}: {preview}"),
        )))
    }
}

/// Whether `message` is a JSON-RPC error.
fn is_error(message: &ServerJsonRpcMessage) -> bool {
    matches!(message, JsonRpcMessage::Error(_))
}

/// The `scope` a `WWW-Authenticate` challenge asks for.
fn scope_of(header: &str) -> Option<String> {
    let start = header.find("scope=\"")? + "scope=\"".len();
    let rest = &header[start..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl StreamableHttpClient for RawHttp {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_token,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_token,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        // The W3C trace context of the upstream call, when traces are on.
        if let Some(trace) = crate::telemetry::trace_headers(&message) {
            custom_headers.extend(trace.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        self.lane.note_route(
            &self.http,
            self.http1.as_ref(),
            &uri,
            session_id.as_ref(),
            auth_token.as_ref(),
            &custom_headers,
        );
        if RawLane::wants(&message) {
            return self
                .post_raw(uri, message, session_id, auth_token, custom_headers, limits)
                .await;
        }
        let answer = self
            .http
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_token,
                custom_headers,
                limits,
            )
            .await?;
        Ok(match answer {
            StreamableHttpPostResponse::Sse(events, session) => {
                StreamableHttpPostResponse::Sse(self.through_lane(events), session)
            }
            other => other,
        })
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.http
            .delete_session(uri, session_id, auth_token, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let events = self
            .http
            .get_stream(uri, session_id, last_event_id, auth_token, custom_headers)
            .await?;
        Ok(self.through_lane(events))
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let events = self
            .http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_token,
                custom_headers,
                max_sse_event_size,
            )
            .await?;
        Ok(self.through_lane(events))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rmcp::model::{InitializeRequest, InitializeRequestParams, JsonRpcRequest};
    use serde_json::json;

    fn custom(id: i64, method: &str) -> ClientJsonRpcMessage {
        JsonRpcMessage::Request(JsonRpcRequest::new(
            RequestId::Number(id),
            request(method, Some(json!({"taskId": "t1"}))),
        ))
    }

    #[test]
    fn a_wrapped_answer_reads_as_the_catch_all_and_unwraps_unchanged() {
        let lane = RawLane::new();
        lane.outbound(&custom(7, "tasks/get"));
        // A 2025-11-25 task, which rmcp would read as its own task type
        // without `ttl` and `pollInterval`.
        let task = json!({"taskId": "t1", "status": "working", "createdAt": "2026-01-01T00:00:00Z",
            "lastUpdatedAt": "2026-01-01T00:00:00Z", "ttl": 60000, "pollInterval": 500});
        let text = json!({"jsonrpc": "2.0", "id": 7, "result": task}).to_string();
        let message = lane.read(&text).unwrap();
        let JsonRpcMessage::Response(response) = message else {
            panic!("a response");
        };
        assert!(matches!(response.result, ServerResult::CustomResult(_)));
        assert_eq!(unwrap(response.result), task);
        // Answered once: the same id again is read as rmcp reads it.
        let again = lane.read(&text).unwrap();
        let JsonRpcMessage::Response(again) = again else {
            panic!("a response");
        };
        assert!(!matches!(again.result, ServerResult::CustomResult(_)));
    }

    #[test]
    fn every_result_shape_wraps_into_the_catch_all() {
        for result in [
            json!({"tools": [{"name": "a", "inputSchema": {"type": "object"}, "execution": {"taskSupport": "optional"}}]}),
            json!({"task": {"taskId": "x", "status": "working"}}),
            json!({"tasks": [], "nextCursor": "c"}),
            json!({"content": [], "isError": false}),
            json!({}),
        ] {
            let wrapped = json!({RAW_KEY: result.clone()});
            let read: ServerResult = serde_json::from_value(wrapped).unwrap();
            assert!(
                matches!(read, ServerResult::CustomResult(_)),
                "{result} read as {read:?}"
            );
            assert_eq!(unwrap(read), result);
        }
    }

    #[test]
    fn other_messages_pass_untouched_and_errors_clear_the_note() {
        let lane = RawLane::new();
        let note = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}});
        assert_eq!(lane.inbound(&note.to_string()), None, "nothing outstanding");
        lane.outbound(&custom(1, "tasks/list"));
        assert_eq!(lane.inbound(&note.to_string()), None, "a notification");
        let other = json!({"jsonrpc": "2.0", "id": 2, "result": {}});
        assert_eq!(lane.inbound(&other.to_string()), None, "another id");
        let error = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "no"}});
        assert_eq!(lane.inbound(&error.to_string()), None);
        assert_eq!(lane.outstanding.load(Ordering::Acquire), 0);
    }

    #[test]
    fn the_initialize_answer_leaves_its_raw_capabilities() {
        let lane = RawLane::new();
        let init = JsonRpcMessage::Request(JsonRpcRequest::new(
            RequestId::Number(0),
            ClientRequest::InitializeRequest(InitializeRequest::new(
                InitializeRequestParams::default(),
            )),
        ));
        lane.outbound(&init);
        let caps = json!({"tools": {}, "tasks": {"list": {}, "requests": {"tools": {"call": {}}}}});
        let text = json!({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "2025-11-25",
            "capabilities": caps, "serverInfo": {"name": "s", "version": "1"}}})
        .to_string();
        assert_eq!(lane.inbound(&text), None, "read unchanged");
        assert_eq!(lane.capabilities(), Some(caps));
    }

    #[test]
    fn the_scope_of_a_challenge() {
        assert_eq!(
            scope_of(r#"Bearer error="insufficient_scope", scope="a b""#),
            Some("a b".into())
        );
        assert_eq!(scope_of("Bearer"), None);
    }
}
