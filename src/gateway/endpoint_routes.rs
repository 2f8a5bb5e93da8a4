//! The scoped routes of `/mcp`: `/mcp/s/{server}` and `/mcp/t/{toolset}`.
//! Each checks that the caller may see what the route names (404 before
//! any MCP processing) and hands the request to that scope's service
//! ([`PerServer`], one per server or toolset, made on first use).

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;

use super::{BoundRoute, Managers, McpService, mcp_service, serve};
use crate::catalog::ServerName;
use crate::error::ErrorCode;
use crate::gateway::handler::Scope;
use crate::gateway::notify::Forwarders;
use crate::gateway::view::ToolViews;
use crate::http::ApiError;
use crate::principal::Principal;
use crate::state::AppState;

/// `/mcp/s/{server}`: the caller must see `server` in the catalog (404
/// otherwise, before any MCP processing); whether it is connected in the
/// caller's session is the handler's concern. A request in an MCP session
/// the caller opened on this very route was checked when the session
/// began, so it skips the catalog: the per-server route costs what `/mcp`
/// costs.
pub(super) async fn per_server(
    State(per_server): State<Arc<PerServer>>,
    Path(server): Path<String>,
    request: Request,
) -> Response {
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        return ApiError(crate::error::Error::Unauthorized("no credentials".into()))
            .into_response();
    };
    if ServerName::parse(&server).is_err() {
        return ApiError(crate::error::Error::not_found(
            ErrorCode::ServerNotFound,
            "server",
        ))
        .into_response();
    }
    if let Some(BoundRoute(route)) = request.extensions().get::<BoundRoute>()
        && *route == server
    {
        return serve(&per_server.service(&server), request).await;
    }
    match per_server
        .app
        .catalog()
        .get_server(&principal, &server)
        .await
    {
        Ok(found) => serve(&per_server.service(found.name.as_str()), request).await,
        Err(err) => ApiError(err).into_response(),
    }
}

/// `/mcp/t/{toolset}`: the caller must see the toolset (404
/// `toolset_not_found` otherwise, before any MCP processing); a request in
/// an MCP session opened on this very route skips the catalog, as on the
/// per-server route.
pub(super) async fn per_toolset(
    State(per_server): State<Arc<PerServer>>,
    Path(toolset): Path<String>,
    request: Request,
) -> Response {
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        return ApiError(crate::error::Error::Unauthorized("no credentials".into()))
            .into_response();
    };
    let scope = Scope::Toolset(toolset.clone());
    let bound = request
        .extensions()
        .get::<BoundRoute>()
        .is_some_and(|BoundRoute(route)| *route == scope.route());
    if !bound
        && let Err(err) = per_server
            .app
            .catalog()
            .get_toolset(&principal, &toolset)
            .await
    {
        return ApiError(err).into_response();
    }
    serve(&per_server.service_of(scope), request).await
}

/// The per-server services, made on first use of each server name.
pub(super) struct PerServer {
    pub(super) app: AppState,
    pub(super) views: ToolViews,
    pub(super) forwarders: Forwarders,
    pub(super) config: StreamableHttpServerConfig,
    pub(super) managers: Managers,
    pub(super) services: Arc<Mutex<HashMap<String, McpService>>>,
}

impl PerServer {
    /// The service of `server`, created on first use.
    fn service(&self, server: &str) -> McpService {
        if let Some(service) = self.lock().get(server) {
            return service.clone();
        }
        self.service_of(Scope::Server(server.to_owned()))
    }

    /// The service of `scope` (a server's or a toolset's), created on first use.
    fn service_of(&self, scope: Scope) -> McpService {
        let mut services = self.lock();
        services
            .entry(scope.route().into_owned())
            .or_insert_with(|| {
                mcp_service(
                    &self.app,
                    &self.views,
                    &self.forwarders,
                    self.config.clone(),
                    scope,
                    &self.managers,
                )
            })
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, McpService>> {
        self.services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
