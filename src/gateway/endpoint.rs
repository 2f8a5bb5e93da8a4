//! The `/mcp` endpoint: rmcp's streamable-HTTP service (stateful, one
//! [`GatewayHandler`] per MCP session) behind an API-key middleware, and the
//! per-server route `/mcp/s/{server}` (one connected upstream, its own
//! names), served by one such service per server name.
//!
//! The middleware answers 401 (`WWW-Authenticate: Bearer`) without a valid
//! key, puts the [`Principal`] into the request extensions (the handler
//! reads it back through rmcp's `http::request::Parts`), remembers which
//! user opened each `Mcp-Session-Id`, and answers 404 to anyone else who
//! presents that id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::admin::rest::ApiError;
use crate::auth::Principal;
use crate::auth::extract::bearer_token;
use crate::catalog::ServerName;
use crate::gateway::handler::{GatewayHandler, Scope};
use crate::state::AppState;

/// The MCP session header.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// Which user opened each MCP session.
#[derive(Debug, Default)]
pub struct SessionOwners {
    owners: Mutex<HashMap<String, String>>,
}

impl SessionOwners {
    /// The user who opened `session`, if it is known.
    pub fn owner(&self, session: &str) -> Option<String> {
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(session)
            .cloned()
    }

    /// Records that `user` opened `session`.
    pub fn bind(&self, session: &str, user: &str) {
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(session.to_owned(), user.to_owned());
    }

    /// Forgets `session` (it was closed).
    pub fn forget(&self, session: &str) {
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(session);
    }
}

/// What the `/mcp` middleware needs.
#[derive(Clone)]
struct Gate {
    app: AppState,
    owners: Arc<SessionOwners>,
}

/// The MCP service of one scope.
type McpService = StreamableHttpService<GatewayHandler, LocalSessionManager>;

/// The per-server services, made on first use of each server name.
#[derive(Clone)]
struct PerServer {
    app: AppState,
    config: StreamableHttpServerConfig,
    services: Arc<Mutex<HashMap<String, McpService>>>,
}

impl PerServer {
    /// The service of `server`, created on first use.
    fn service(&self, server: &str) -> McpService {
        let mut services = self
            .services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        services
            .entry(server.to_owned())
            .or_insert_with(|| {
                mcp_service(
                    &self.app,
                    self.config.clone(),
                    Scope::Server(server.to_owned()),
                )
            })
            .clone()
    }
}

/// rmcp's streamable-HTTP service making one handler of `scope` per session.
fn mcp_service(app: &AppState, config: StreamableHttpServerConfig, scope: Scope) -> McpService {
    let app = app.clone();
    StreamableHttpService::new(
        move || Ok(GatewayHandler::scoped(app.clone(), scope.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// `/mcp/s/{server}`: the caller must see `server` in the catalog (404
/// otherwise, before any MCP processing); whether it is connected in the
/// caller's session is the handler's concern.
async fn per_server(
    State(per_server): State<PerServer>,
    Path(server): Path<String>,
    request: Request,
) -> Response {
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        return ApiError(crate::error::Error::Unauthorized("no credentials".into()))
            .into_response();
    };
    if ServerName::parse(&server).is_err() {
        return ApiError(crate::error::Error::not_found("server_not_found", "server"))
            .into_response();
    }
    match per_server
        .app
        .catalog()
        .get_server(&principal, &server)
        .await
    {
        Ok(found) => {
            let service = per_server.service(found.name.as_str());
            match tower::ServiceExt::oneshot(service, request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            }
        }
        Err(err) => ApiError(err).into_response(),
    }
}

/// The `/mcp` service: mount it with `nest_service("/mcp", …)`.
pub fn service(app: AppState) -> Router {
    let http = &app.settings().http;
    let mut config = StreamableHttpServerConfig::default()
        .with_max_request_body_bytes(http.max_body_bytes)
        .with_cancellation_token(app.shutdown_token().child_token());
    config = if http.allowed_hosts.iter().any(|h| h == "*") {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(http.allowed_hosts.iter().cloned())
    };
    config = if http.allowed_origins.iter().any(|o| o == "*") {
        config.disable_allowed_origins()
    } else {
        config
            .with_allowed_origins(http.allowed_origins.iter().cloned())
            .enforce_origin_validation()
    };
    let mcp = mcp_service(&app, config.clone(), Scope::All);
    let per_server_state = PerServer {
        app: app.clone(),
        config,
        services: Arc::default(),
    };
    let gate = Gate {
        app,
        owners: Arc::new(SessionOwners::default()),
    };
    Router::new()
        .route(
            "/s/{server}",
            axum::routing::any(per_server).with_state(per_server_state),
        )
        .fallback_service(mcp)
        .layer(middleware::from_fn_with_state(gate, authenticate))
}

/// Authenticates the caller and enforces MCP session ownership.
async fn authenticate(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let principal: Principal = match bearer_token(&parts) {
        Ok(token) => match gate.app.api_keys().authenticate(token).await {
            Ok(principal) => principal,
            Err(err) => return ApiError(err).into_response(),
        },
        Err(err) => return ApiError(err).into_response(),
    };
    tracing::Span::current().record("user", principal.user_id.as_str());
    let presented = parts
        .headers
        .get(&MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(session) = &presented
        && gate
            .owners
            .owner(session)
            .is_some_and(|owner| owner != principal.user_id)
    {
        return ApiError::status_response(
            StatusCode::NOT_FOUND,
            "session_not_found",
            "no such MCP session",
        );
    }
    let user = principal.user_id.clone();
    let method = parts.method.clone();
    parts.extensions.insert(principal);
    let response = next.run(Request::from_parts(parts, body)).await;
    match presented {
        None => {
            if let Some(session) = response
                .headers()
                .get(&MCP_SESSION_ID)
                .and_then(|v| v.to_str().ok())
            {
                gate.owners.bind(session, &user);
            }
        }
        Some(session) if method == Method::DELETE && response.status().is_success() => {
            gate.owners.forget(&session);
        }
        Some(_) => {}
    }
    response
}
