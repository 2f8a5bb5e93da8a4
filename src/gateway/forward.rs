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
//! - `upstream.call_timeout_seconds` bounds the wait: rmcp cancels the
//!   upstream request and the caller gets `data.code` `upstream_timeout`.
//! - An upstream that goes away under the call gives `upstream_closed`; the
//!   server is marked `FAILED` for the session and its link closed, and the
//!   session's other servers keep working.

use crate::error::ErrorCode;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, ClientRequest, JsonObject,
    ServerResult,
};
use rmcp::service::{PeerRequestOptions, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServiceError};

use crate::gateway::content::upstream_failed;
use crate::gateway::handler::mcp_error;
use crate::principal::Principal;
use crate::state::AppState;
use crate::upstream::Link;
use crate::upstream::relay::{Caller, cancel};

/// Calls `tool` (the upstream's own name) on `server` through `link` for
/// the client of `context`, and returns the upstream's result unchanged.
pub async fn call_tool(
    app: &AppState,
    principal: &Principal,
    link: &Arc<Link>,
    server: &str,
    tool: &str,
    arguments: Option<JsonObject>,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, McpError> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Some(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    let limit = Duration::from_secs(app.settings().upstream.call_timeout_seconds);
    let caller = Caller {
        peer: context.peer.clone(),
        request_id: context.id.clone(),
        progress_token: context.meta.get_progress_token(),
    };
    let sent = link
        .relay()
        .send(
            link.peer(),
            request,
            PeerRequestOptions::with_timeout(limit),
            caller,
        )
        .await;
    let (handle, _registration) = match sent {
        Ok(sent) => sent,
        Err(err) => return Err(failure(app, principal, link, server, err, limit).await),
    };
    let upstream_id = handle.id.clone();
    let upstream = handle.peer.clone();
    let answer = tokio::select! {
        answer = handle.await_response() => answer,
        () = context.ct.cancelled() => {
            cancel(&upstream, upstream_id, "the client cancelled the call").await;
            tracing::info!(server, tool, "tools/call cancelled by the client");
            return Err(ErrorCode::Cancelled.mcp_error(format!("{server}: the call was cancelled"), &[]));
        }
    };
    match answer {
        Ok(ServerResult::CallToolResult(mut result)) => {
            // Legacy upstreams send no `resultType`; 2026-07-28 clients
            // require it (rmcp strips it again for legacy clients).
            result
                .result_type
                .get_or_insert(rmcp::model::ResultType::COMPLETE);
            Ok(result.into())
        }
        Ok(ServerResult::InputRequiredResult(result)) => {
            Ok(CallToolResponse::InputRequired(result))
        }
        Ok(ServerResult::CreateTaskResult(result)) => Ok(CallToolResponse::Task(result)),
        Ok(_) => Err(ErrorCode::UpstreamProtocolError.mcp_error(
            format!("{server}: tools/call answered with something other than a tool result"),
            &[],
        )),
        Err(err) => Err(failure(app, principal, link, server, err, limit).await),
    }
}

/// The MCP error for a failed upstream call; a link that went away is
/// recorded as `FAILED` for the session first. Other failures are answered
/// like every other forwarded request ([`upstream_failed`]).
async fn failure(
    app: &AppState,
    principal: &Principal,
    link: &Arc<Link>,
    server: &str,
    err: ServiceError,
    limit: Duration,
) -> McpError {
    match err {
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
            // An upstream that wants more OAuth scope ends the link with a
            // 403: the user authorizes again, asking for it.
            let step_up = link.oauth.as_ref().filter(|auth| auth.wants_more_scope());
            let message = match step_up {
                Some(_) => format!("{server}: the upstream asks for more OAuth scope"),
                None => format!("{server}: the upstream went away during tools/call"),
            };
            if let Err(store_err) = app
                .sessions()
                .link_failed(&principal.session, link, &message)
                .await
            {
                tracing::warn!(error = %store_err, "could not record the failed upstream");
            }
            if let Some(auth) = step_up {
                return mcp_error(auth.required().await);
            }
            ErrorCode::UpstreamClosed.mcp_error(message, &[])
        }
        other => upstream_failed(server, "tools/call", other, limit),
    }
}
