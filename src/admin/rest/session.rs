//! This session's connections: list servers with their status, connect,
//! disconnect, the cached tools, and logout (`DELETE /session`). The
//! session is the principal's (the user id for API keys).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::rest::extract::{ApiJson, ApiQuery};
use crate::catalog::service::{ListParams, Page};
use crate::catalog::tool_filter::ToolFilter;
use crate::http::{ApiError, ErrorBody};
use crate::principal::Principal;
use crate::session::manager::{ServerStatus, SessionTool};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session_servers))
        .routes(routes!(session_tools))
        .routes(routes!(get_tool_filter, put_tool_filter))
        .routes(routes!(langchain_config))
        .routes(routes!(clear_session))
        .routes(routes!(connect_server))
        .routes(routes!(disconnect_server))
}

/// Paging and filters for the session's server list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionServersQuery {
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page (unpadded base64url).
    #[param(
        pattern = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])?$"
    )]
    cursor: Option<String>,
    /// Only servers in this category (`ctg_…`).
    #[param(pattern = r"^ctg_[0-9a-z]{16}$")]
    category_id: Option<String>,
}

/// The servers the caller may see, with this session's status.
#[utoipa::path(get, path = "/session/servers", tag = "session", params(SessionServersQuery),
    responses((status = 200, body = Page<ServerStatus>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn session_servers(
    State(app): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<SessionServersQuery>,
) -> Result<Json<Page<ServerStatus>>, ApiError> {
    let params = ListParams {
        limit: q.limit,
        cursor: q.cursor,
        search: None,
        category_id: q.category_id,
    };
    Ok(Json(
        app.sessions().list_servers(&principal, &params).await?,
    ))
}

/// The session's cached tools.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SessionTools {
    tools: Vec<SessionTool>,
}

/// Every cached tool of this session's connected servers (no upstream call).
#[utoipa::path(get, path = "/session/tools", tag = "session",
    responses((status = 200, body = SessionTools), (status = 401, body = ErrorBody)))]
async fn session_tools(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<SessionTools>, ApiError> {
    Ok(Json(SessionTools {
        tools: app.sessions().tools(&principal).await?,
    }))
}

/// This session's own tool filter: `allow` and `deny` globs over
/// `{server}__{tool}` names (empty lists: every tool shows).
#[utoipa::path(get, path = "/session/tool-filter", tag = "session",
    responses((status = 200, body = ToolFilter), (status = 401, body = ErrorBody)))]
async fn get_tool_filter(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<ToolFilter>, ApiError> {
    Ok(Json(app.sessions().session_tool_filter(&principal).await?))
}

/// Replaces this session's own tool filter: tools it hides leave the
/// session's `/mcp` views (`/mcp`, `/mcp/s/{server}`) and its MCP clients
/// hear `notifications/tools/list_changed`. Patterns match
/// `{server}__{tool}`; a tool passes when `allow` is empty or matches it,
/// and `deny` does not (deny wins). `{}` shows every tool again.
#[utoipa::path(put, path = "/session/tool-filter", tag = "session", request_body = ToolFilter,
    responses((status = 200, body = ToolFilter), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_tool_filter(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(filter): ApiJson<ToolFilter>,
) -> Result<Json<ToolFilter>, ApiError> {
    Ok(Json(
        app.sessions()
            .set_session_tool_filter(&principal, filter)
            .await?,
    ))
}

/// The `Authorization` value generated client configs carry instead of a
/// credential: replace it with your own API key or token.
pub const AUTHORIZATION_PLACEHOLDER: &str = "Bearer <YOUR_TOKEN>";

/// One `MultiServerMCPClient` connection: the gateway's per-server route.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LangchainConnection {
    /// Always `streamable_http`.
    transport: &'static str,
    /// `{gateway}/mcp/s/{server}`.
    url: String,
    /// `Authorization` with a placeholder for the caller's credential.
    headers: std::collections::BTreeMap<&'static str, &'static str>,
}

/// Which client config to make.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LangchainQuery {
    /// One entry for this toolset (id or name) at `/mcp/t/{name}` instead
    /// of one per connected server.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$|^tls_[0-9a-z]{16}$")]
    toolset: Option<String>,
}

/// A ready `MultiServerMCPClient(connections)` dict for this session: one
/// entry per connected server, each pointing at the gateway's
/// `/mcp/s/{server}` (upstream URLs and secrets never leave the gateway);
/// with `?toolset=NAME`, one entry for that toolset at `/mcp/t/{name}`.
/// Replace the `Authorization` placeholder with your credential.
#[utoipa::path(get, path = "/session/langchain-config", tag = "session", params(LangchainQuery),
    responses((status = 200, body = std::collections::BTreeMap<String, LangchainConnection>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn langchain_config(
    State(app): State<AppState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    ApiQuery(q): ApiQuery<LangchainQuery>,
) -> Result<Json<std::collections::BTreeMap<String, LangchainConnection>>, ApiError> {
    let base = gateway_base(&app, &headers);
    if let Some(wanted) = q.toolset {
        let toolset = app.catalog().get_toolset(&principal, &wanted).await?;
        let name = toolset.name.as_str().to_owned();
        let connection = LangchainConnection {
            transport: "streamable_http",
            url: format!("{base}/mcp/t/{name}"),
            headers: [("Authorization", AUTHORIZATION_PLACEHOLDER)].into(),
        };
        return Ok(Json([(name, connection)].into()));
    }
    let mut servers: Vec<String> = app
        .sessions()
        .visible_connected(&principal, None)
        .await?
        .into_iter()
        .map(|server| server.name.to_string())
        .collect();
    servers.sort_unstable();
    Ok(Json(
        servers
            .into_iter()
            .map(|server| {
                let connection = LangchainConnection {
                    transport: "streamable_http",
                    url: format!("{base}/mcp/s/{server}"),
                    headers: [("Authorization", AUTHORIZATION_PLACEHOLDER)].into(),
                };
                (server, connection)
            })
            .collect(),
    ))
}

/// The gateway's base URL: `http.public_url`, else `http://` + `Host`.
fn gateway_base(app: &AppState, headers: &axum::http::HeaderMap) -> String {
    let configured = &app.settings().http.public_url;
    if !configured.is_empty() {
        return configured.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// What logout disconnected.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Cleared {
    disconnected: Vec<String>,
}

/// Disconnects every server of this session and deletes its state.
#[utoipa::path(delete, path = "/session", tag = "session",
    responses((status = 200, body = Cleared), (status = 401, body = ErrorBody)))]
async fn clear_session(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<Cleared>, ApiError> {
    Ok(Json(Cleared {
        disconnected: app.sessions().clear_session(&principal).await?,
    }))
}

/// Connects a server for this session (or refreshes its tools).
#[utoipa::path(post, path = "/servers/{id}/connect", tag = "session", params(("id" = String, Path, description = "Server id or name")),
    responses((status = 200, body = ServerStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
async fn connect_server(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ServerStatus>, ApiError> {
    Ok(Json(app.sessions().connect(&principal, &id).await?))
}

/// Disconnects a server for this session; other sessions are untouched.
#[utoipa::path(post, path = "/servers/{id}/disconnect", tag = "session", params(("id" = String, Path, description = "Server id or name")),
    responses((status = 200, body = ServerStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn disconnect_server(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ServerStatus>, ApiError> {
    Ok(Json(app.sessions().disconnect(&principal, &id).await?))
}
