//! Forwarding one `tools/call` from an `/mcp` client to the upstream link
//! that owns the tool.
//!
//! - The call is registered with the link's
//!   [`Relay`](crate::upstream::relay::Relay) for as long as it runs, so the
//!   upstream's progress reaches the caller under the caller's own progress
//!   token, and its sampling/elicitation/roots requests reach the caller.
//! - A client's `notifications/cancelled` (rmcp fires the request's `ct`)
//!   sends `notifications/cancelled` for this call's upstream request, and
//!   no other, and ends the call.
//! - `upstream.call_timeout_seconds` bounds the silence: each progress
//!   notification from the upstream starts the wait again, and
//!   `upstream.call_max_seconds` bounds the whole call. Either way the
//!   upstream request is cancelled and the caller gets `data.code`
//!   `upstream_timeout`.
//! - A link that breaks under the call (see `upstream::health`) ends it at
//!   once with `upstream_closed`; the session manager reopens the link
//!   (the server is `RECONNECTING` meanwhile) and the session's other
//!   servers keep working.
//! - At most `upstream.max_in_flight_per_link` requests run on one link;
//!   a call that finds no room within a second gets `too_many_requests`.

use crate::error::ErrorCode;
use std::sync::Arc;
use std::time::Duration;

use axum::http::request::Parts;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, ClientRequest, JsonObject,
    ProgressToken, RequestId, ServerResult,
};
use rmcp::service::{PeerRequestOptions, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServiceError};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::gateway::content::{link_broke, upstream_failed};
use crate::gateway::handler::mcp_error;
use crate::gateway::namespace::wrap_content_uri;
use crate::state::AppState;
use crate::upstream::Link;
use crate::upstream::http_call::{self, Posted};
use crate::upstream::relay::{Caller, Downstream, Registration, cancel};

/// The client side of one forwarded request.
pub struct Origin<'a> {
    /// The HTTP request it came in (its `Mcp-Session-Id`; with traces on,
    /// the span context the upstream call continues).
    pub parts: Option<&'a Parts>,
    /// Where the client's progress, log messages and requests go.
    pub downstream: Downstream,
    /// The client's id of the request.
    pub id: RequestId,
    /// The progress token the client sent, if it asked for progress.
    pub progress_token: Option<ProgressToken>,
    /// Fires when the client cancels the request.
    pub ct: CancellationToken,
}

impl<'a> Origin<'a> {
    /// The origin of a request rmcp's session handed to the handler.
    pub fn of(context: &'a RequestContext<RoleServer>) -> Self {
        Self {
            parts: context.extensions.get::<Parts>(),
            downstream: Downstream::Peer(context.peer.clone()),
            id: context.id.clone(),
            progress_token: context.meta.get_progress_token(),
            ct: context.ct.clone(),
        }
    }
}

/// How long an answer waits for the call's last progress notifications to
/// reach the caller first.
const PROGRESS_GRACE: Duration = Duration::from_millis(100);

/// Calls `tool` (the upstream's own name) on `server` through `link` for
/// the client of `origin`, and returns the upstream's result unchanged,
/// except that on the aggregate endpoint (`wrap_uris`) the URIs of resource
/// links and embedded resources are wrapped as `resources/read` there
/// expects them.
pub async fn call_tool(
    app: &AppState,
    wrap_uris: bool,
    link: &Arc<Link>,
    server: &str,
    tool: &str,
    arguments: Option<JsonObject>,
    origin: &Origin<'_>,
) -> Result<CallToolResponse, McpError> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Some(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    let answer = forward(app, link, server, "tools/call", request, origin).await?;
    match answer {
        ServerResult::CallToolResult(mut result) => {
            // Legacy upstreams send no `resultType`; 2026-07-28 clients
            // require it (rmcp strips it again for legacy clients).
            result
                .result_type
                .get_or_insert(rmcp::model::ResultType::COMPLETE);
            if wrap_uris {
                for content in &mut result.content {
                    wrap_content_uri(server, content);
                }
            }
            Ok(result.into())
        }
        ServerResult::InputRequiredResult(result) => Ok(CallToolResponse::InputRequired(result)),
        ServerResult::CreateTaskResult(result) => Ok(CallToolResponse::Task(result)),
        _ => Err(ErrorCode::UpstreamProtocolError.mcp_error(
            format!("{server}: tools/call answered with something other than a tool result"),
            &[],
        )),
    }
}

/// Sends `request` (`what` names it in errors and logs) to `server`
/// through `link` for the client of `origin`, with everything a
/// forwarded call gets (see the module docs), and returns the upstream's
/// answer.
///
/// It runs in an `upstream call` span (debug level, so free unless logged
/// or traced) with the server, method, tool and outcome; with traces on,
/// the span is a child of the HTTP request's and its `traceparent` goes to
/// the upstream (see `telemetry::otel`).
pub async fn forward(
    app: &AppState,
    link: &Arc<Link>,
    server: &str,
    what: &str,
    #[cfg_attr(not(feature = "otel"), allow(unused_mut))] mut request: ClientRequest,
    origin: &Origin<'_>,
) -> Result<ServerResult, McpError> {
    let started = std::time::Instant::now();
    let span = tracing::debug_span!(
        crate::telemetry::UPSTREAM_SPAN,
        server,
        method = what,
        tool = tool_of(&request),
        outcome = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    #[cfg(feature = "otel")]
    crate::telemetry::otel::outgoing(
        &span,
        origin.parts,
        rmcp::model::GetExtensions::extensions_mut(&mut request),
    );
    let answer = forward_inner(app, link, server, what, request, origin)
        .instrument(span.clone())
        .await;
    let outcome = count(server, what, &answer, started.elapsed());
    span.record("outcome", outcome);
    #[cfg(feature = "otel")]
    if answer.is_err() {
        crate::telemetry::otel::failed(&span);
    }
    answer
}

/// The tool a forwarded `tools/call` names (rmcp's own request, or the raw
/// one of a task-augmented call).
fn tool_of(request: &ClientRequest) -> Option<&str> {
    match request {
        ClientRequest::CallToolRequest(call) => Some(call.params.name.as_ref()),
        ClientRequest::CustomRequest(custom) if custom.method == "tools/call" => custom
            .params
            .as_ref()
            .and_then(|params| params.get("name"))
            .and_then(serde_json::Value::as_str),
        _ => None,
    }
}

/// Counts one forwarded request in [`crate::metrics`]: its outcome is `ok`
/// or the `data.code` the gateway answered with (`rpc_error` for an
/// upstream's own error).
pub(crate) fn count<T>(
    server: &str,
    what: &str,
    answer: &Result<T, McpError>,
    elapsed: Duration,
) -> &'static str {
    let outcome = match answer {
        Ok(_) => "ok",
        Err(err) => crate::gateway::handler::outcome_of(err),
    };
    crate::metrics::upstream_call(server, what, outcome, elapsed);
    outcome
}

/// [`forward`], uncounted.
async fn forward_inner(
    app: &AppState,
    link: &Arc<Link>,
    server: &str,
    what: &str,
    request: ClientRequest,
    origin: &Origin<'_>,
) -> Result<ServerResult, McpError> {
    let upstream_settings = &app.settings().upstream;
    // The longest silence: each progress notification starts it again.
    let silence = Duration::from_secs(upstream_settings.call_timeout_seconds);
    let limit = Duration::from_secs(upstream_settings.call_max_seconds).max(silence);
    let queued = std::time::Instant::now();
    let _permit = link.health().permit(server).await.map_err(mcp_error)?;
    // The wait for room counts against both limits.
    let left = limit.saturating_sub(queued.elapsed());
    let quiet_left = silence.saturating_sub(queued.elapsed());
    let caller = Caller {
        downstream: origin.downstream.clone(),
        request_id: origin.id.clone(),
        progress_token: origin.progress_token.clone(),
        client: origin
            .parts
            .and_then(|parts| parts.headers.get("mcp-session-id"))
            .and_then(|id| id.to_str().ok())
            .map(str::to_owned),
    };
    let (upstream_id, response, registration) =
        send(link, server, what, request, caller, left, limit).await?;
    let upstream = link.peer().clone();
    tokio::pin!(response);
    let mut quiet = Box::pin(tokio::time::sleep(quiet_left));
    let answer = loop {
        tokio::select! {
            answer = &mut response => break answer,
            () = origin.ct.cancelled() => {
                cancel(&upstream, upstream_id, "the client cancelled the call").await;
                tracing::info!(server, what, "request cancelled by the client");
                return Err(ErrorCode::Cancelled.mcp_error(format!("{server}: the call was cancelled"), &[]));
            }
            () = registration.progressed() => {
                quiet.as_mut().reset(tokio::time::Instant::now() + silence);
            }
            () = &mut quiet => {
                cancel(&upstream, upstream_id, "no answer or progress in time").await;
                tracing::info!(server, what, "request timed out: no answer or progress");
                return Err(ErrorCode::UpstreamTimeout.mcp_error(
                    format!(
                        "{server}: no answer or progress to {what} within {} s",
                        silence.as_secs()
                    ),
                    &[],
                ));
            }
        }
    };
    match answer {
        Ok(answer) => {
            link.health().answered();
            if origin.progress_token.is_some() {
                registration.progress_delivered(PROGRESS_GRACE).await;
            }
            Ok(answer)
        }
        Err(err) => Err(Box::pin(failure(link, server, what, err, limit)).await),
    }
}

/// The upstream's answer to a forwarded request, still to come.
type Answer = futures::future::BoxFuture<'static, Result<ServerResult, ServiceError>>;

/// Sends `request` for `caller` through `link` and registers it with the
/// link's relay: a plain `tools/call` on a streamable-HTTP link is posted
/// straight to the upstream (see `upstream::http_call`), anything else (or
/// a call the upstream would not take that way) through rmcp's peer, with
/// `left` as its time limit. Returns the upstream's id of the request, its
/// answer to come and the registration.
async fn send(
    link: &Arc<Link>,
    server: &str,
    what: &str,
    request: ClientRequest,
    caller: Caller,
    left: Duration,
    limit: Duration,
) -> Result<(RequestId, Answer, Registration), McpError> {
    let route = matches!(request, ClientRequest::CallToolRequest(_))
        .then(|| link.health().lane().route())
        .flatten();
    let request = match route {
        Some(route) => match send_direct(link, &route, request, &caller, left).await {
            Ok(sent) => return Ok(sent),
            Err(refused) => *refused,
        },
        None => request,
    };
    let sent = link
        .relay()
        .send(
            link.peer(),
            request,
            PeerRequestOptions::with_timeout(left),
            caller,
        )
        .await;
    match sent {
        Ok((handle, registration)) => {
            let id = handle.id.clone();
            Ok((id, Box::pin(handle.await_response()), registration))
        }
        Err(err) => Err(Box::pin(failure(link, server, what, err, limit)).await),
    }
}

/// [`send`] of a `tools/call` posted on `route`; the request back when the
/// upstream did not take it that way.
async fn send_direct(
    link: &Arc<Link>,
    route: &Arc<http_call::HttpRoute>,
    request: ClientRequest,
    caller: &Caller,
    left: Duration,
) -> Result<(RequestId, Answer, Registration), Box<ClientRequest>> {
    let (id, token) = http_call::next_id();
    let registration = link
        .relay()
        .register(id.clone(), token.clone(), caller.clone());
    let answer =
        match http_call::post(route, link.peer(), link.relay(), request, id.clone(), token).await {
            Posted::Answer(answer) => answer,
            Posted::Refused(request) => return Err(request),
        };
    let (peer, timed_id) = (link.peer().clone(), id.clone());
    let answer: Answer = Box::pin(async move {
        match tokio::time::timeout(left, answer).await {
            Ok(answer) => answer,
            Err(_) => {
                cancel(&peer, timed_id, "no answer in time").await;
                Err(ServiceError::Timeout { timeout: left })
            }
        }
    });
    Ok((id, answer, registration))
}

/// The MCP error for a failed upstream call. A link that broke under it
/// answers `upstream_closed` (the link's watcher has already started
/// reopening it), or `oauth_required` when the upstream wants more OAuth
/// scope; other failures are answered like every other forwarded request
/// ([`upstream_failed`]).
async fn failure(
    link: &Arc<Link>,
    server: &str,
    what: &str,
    err: ServiceError,
    limit: Duration,
) -> McpError {
    if link_broke(&err)
        && let Some(auth) = link.oauth.as_ref().filter(|auth| auth.wants_more_scope())
    {
        return mcp_error(auth.required().await);
    }
    upstream_failed(server, what, err, limit)
}
