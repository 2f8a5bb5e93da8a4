//! Resources, resource templates, prompts and completions of a session's
//! upstreams: `resources/list`, `resources/templates/list`, `resources/read`,
//! `resources/subscribe`, `resources/unsubscribe`, `prompts/list`,
//! `prompts/get` and `completion/complete` on the gateway.
//!
//! Unlike tools, these are not cached in the state store: a list fans out
//! concurrently to the live links of the servers in scope, each under
//! `upstream.tool_fetch_timeout_seconds`, and skips servers that did not
//! advertise the capability. On `/mcp` ([`Scope::All`]) one server that
//! fails or is slow is logged and left out, so the rest still list; on the
//! per-server route ([`Scope::Server`]) its error is the answer.
//!
//! Naming on [`Scope::All`]: prompts are `{server}__{prompt}` through
//! [`NameMap`](crate::gateway::namespace::NameMap), exactly like tools; resource and template URIs become
//! `manifold://{server}/{uri}` ([`wrap_uri`](crate::gateway::namespace::wrap_uri)), and the `uri` of every
//! content a read returns is wrapped the same way. Everything else (titles,
//! descriptions, MIME types, annotations, `_meta`) passes through. On
//! [`Scope::Server`] names and URIs are the upstream's own.
//!
//! Requests for one item go to its owner with the original name or URI
//! (a server that advertised no resources owns no URI),
//! under `upstream.call_timeout_seconds`; upstream MCP errors pass through
//! unchanged, and MRTR `input_required` results are returned as they are.
//! Resolving a prompt name lists the prompts of only the servers whose
//! `{server}__` prefix the name carries (every name the name map gives a
//! server's prompt starts with it), so `prompts/get` usually asks one server.
//!
//! `list` holds the aggregated lists and their paging; `route` the requests
//! for one item.

pub(crate) mod list;
mod route;

pub use list::{PAGE, list_prompts, list_resource_templates, list_resources};
pub use route::{complete, get_prompt, read_resource, subscribe, unsubscribe};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rmcp::{ErrorData as McpError, ServiceError};
use serde_json::json;

use crate::error::{Error, ErrorCode};
use crate::gateway::handler::{Scope, mcp_error};
use crate::principal::Principal;
use crate::state::AppState;
use crate::upstream::Link;

/// What an upstream must have advertised to be asked.
#[derive(Debug, Clone, Copy)]
enum Capability {
    Resources,
    Prompts,
}

/// Whether the upstream behind `link` advertised `capability`.
fn advertises(link: &Link, capability: Capability) -> bool {
    link.peer()
        .peer_info()
        .is_some_and(|info| match capability {
            Capability::Resources => info.capabilities.resources.is_some(),
            Capability::Prompts => info.capabilities.prompts.is_some(),
        })
}

fn unknown_resource(uri: &str) -> McpError {
    ErrorCode::UnknownResource.mcp_error(format!("unknown resource: {uri}"), &[("uri", json!(uri))])
}

fn unknown_prompt(name: &str) -> McpError {
    ErrorCode::UnknownPrompt.mcp_error(format!("unknown prompt: {name}"), &[])
}

fn not_connected(server: &str) -> McpError {
    mcp_error(Error::Upstream {
        code: ErrorCode::ServerNotConnected,
        message: format!("{server} is not connected in this session"),
    })
}

fn timed_out(server: &str, what: &str, limit: Duration) -> McpError {
    ErrorCode::UpstreamTimeout.mcp_error(
        format!("{server}: no answer to {what} within {} s", limit.as_secs()),
        &[],
    )
}

/// An upstream's failure as the gateway's answer: its own MCP error passes
/// through; transport trouble is logged (it may name a URL) and summarised.
pub(crate) fn upstream_failed(
    server: &str,
    what: &str,
    err: ServiceError,
    limit: Duration,
) -> McpError {
    if link_broke(&err) {
        return ErrorCode::UpstreamClosed.mcp_error(
            format!("{server}: the link to the upstream broke during {what}"),
            &[],
        );
    }
    match err {
        ServiceError::McpError(err) => err,
        ServiceError::Timeout { .. } => timed_out(server, what, limit),
        other => {
            tracing::warn!(%server, error = %other, "{what} failed");
            ErrorCode::UpstreamProtocolError.mcp_error(format!("{server}: {what} failed"), &[])
        }
    }
}

/// Whether a request failed because its link broke (rmcp also reports a
/// response stream that ended before its answer as `TransportClosed`).
pub(crate) fn link_broke(err: &ServiceError) -> bool {
    matches!(
        err,
        ServiceError::TransportClosed | ServiceError::TransportSend(_)
    )
}

/// Runs one request to `server` through `link` under the call timeout,
/// which covers waiting for room on the link too.
pub(crate) async fn forward<T>(
    app: &AppState,
    link: &Link,
    server: &str,
    what: &str,
    request: impl Future<Output = Result<T, ServiceError>>,
) -> Result<T, McpError> {
    let limit = Duration::from_secs(app.settings().upstream.call_timeout_seconds);
    let started = std::time::Instant::now();
    let run = async {
        let _permit = link.health().permit(server).await.map_err(mcp_error)?;
        let answer = request.await;
        if answer.is_ok() {
            link.health().answered();
        }
        answer.map_err(|err| upstream_failed(server, what, err, limit))
    };
    let result = match tokio::time::timeout(limit, run).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(server, what, limit)),
    };
    crate::gateway::forward::count(server, what, &result, started.elapsed());
    result
}

/// The session's connected servers.
async fn connected(app: &AppState, principal: &Principal) -> Result<Vec<String>, McpError> {
    app.state_store()
        .connected_servers(&principal.session)
        .await
        .map_err(mcp_error)
}

/// What a request of a scope reaches its servers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Resources,
    Prompts,
    /// Anything (tasks): every server the scope shows tools of.
    Any,
}

/// The servers `scope` exposes for `kind`; the per-server route's server
/// must be connected; a toolset shows its entries' connected servers, for
/// resources and prompts only when it includes them.
pub(crate) async fn servers_in_scope(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    kind: Kind,
) -> Result<Vec<String>, McpError> {
    let servers = connected(app, principal).await?;
    match scope {
        Scope::All => Ok(servers),
        Scope::Server(name) if servers.contains(name) => Ok(vec![name.clone()]),
        Scope::Server(name) => Err(not_connected(name)),
        Scope::Toolset(name) => {
            let toolset = app
                .catalog()
                .get_toolset(principal, name)
                .await
                .map_err(mcp_error)?;
            let included = match kind {
                Kind::Resources => toolset.resources,
                Kind::Prompts => toolset.prompts,
                Kind::Any => true,
            };
            if !included {
                return Ok(Vec::new());
            }
            Ok(servers
                .into_iter()
                .filter(|s| toolset.entries.iter().any(|e| e.server == *s))
                .collect())
        }
    }
}

/// The live link to `server`, reopened when this process has none.
pub(crate) async fn link(
    app: &AppState,
    principal: &Principal,
    server: &str,
) -> Result<Arc<Link>, McpError> {
    app.sessions()
        .link(principal, server)
        .await
        .map_err(mcp_error)
}

/// The live link to the owner of the resource the client called
/// `client_uri`; an owner the caller may no longer see, or that advertised
/// no resources, has none.
async fn resource_owner(
    app: &AppState,
    principal: &Principal,
    server: &str,
    client_uri: &str,
) -> Result<Arc<Link>, McpError> {
    let link = match app.sessions().link(principal, server).await {
        Ok(link) => link,
        Err(Error::NotFound { .. }) => return Err(unknown_resource(client_uri)),
        Err(err) => return Err(mcp_error(err)),
    };
    if advertises(&link, Capability::Resources) {
        Ok(link)
    } else {
        Err(unknown_resource(client_uri))
    }
}
