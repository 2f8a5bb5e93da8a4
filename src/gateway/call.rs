//! `tools/call` on every MCP route: the tool looked up in the caller's
//! view, the call forwarded to the session's link, and its audit event.

use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolRequestParams, CallToolResponse};

use crate::catalog::audit::kind;
use crate::gateway::audit::Audit;
use crate::gateway::exposure::{self, Exposure};
use crate::gateway::handler::mcp_error;
use crate::gateway::scope::Scope;
use crate::gateway::view::ToolViews;
use crate::principal::Principal;
use crate::state::AppState;

/// `tools/call` of `request` by `principal` in `scope`: the tool is looked
/// up in the principal's view (`unknown_tool` when it is not there, except
/// on a per-server route) and the call forwarded to the session's link for
/// the client of `origin`. On a search route (`?tools=search`) the
/// gateway's own two tools are answered too (see [`exposure`]).
pub(crate) async fn call_tool(
    app: &AppState,
    views: &ToolViews,
    scope: &Scope,
    principal: &Principal,
    request: CallToolRequestParams,
    origin: &crate::gateway::forward::Origin<'_>,
) -> Result<CallToolResponse, McpError> {
    let mut audit = Audit::begin(app, kind::TOOL_CALL, principal, scope, origin.parts);
    let answer = route_call(app, views, scope, principal, request, origin, &mut audit).await;
    audit.finish_call(app, &answer);
    answer
}

/// [`call_tool`], telling `audit` which tool of which server it called.
async fn route_call(
    app: &AppState,
    views: &ToolViews,
    scope: &Scope,
    principal: &Principal,
    mut request: CallToolRequestParams,
    origin: &crate::gateway::forward::Origin<'_>,
    audit: &mut Audit,
) -> Result<CallToolResponse, McpError> {
    audit.target(&request.name);
    audit.request(&request.arguments);
    let view = views.get(app, principal, scope).await.map_err(mcp_error)?;
    view.check_open()?;
    if Exposure::of(origin.parts, &view) == Exposure::Search {
        match request.name.as_ref() {
            exposure::SEARCH_TOOL => {
                return exposure::search(&view, request.arguments.as_ref()).map(Into::into);
            }
            exposure::CALL_TOOL => {
                request = exposure::unwrap_call(request)?;
                audit.target(&request.name);
                audit.request(&request.arguments);
            }
            _ => {}
        }
    }
    let (server, tool) = view.route(scope, &request.name)?;
    audit.server(server);
    audit
        .arguments(app, server, request.arguments.as_ref())
        .await;
    let link = app
        .sessions()
        .live_link(principal, server)
        .await
        .map_err(mcp_error)?;
    crate::gateway::forward::call_tool(
        app,
        scope.is_aggregate(),
        &link,
        server,
        tool,
        request.arguments,
        origin,
    )
    .await
}
