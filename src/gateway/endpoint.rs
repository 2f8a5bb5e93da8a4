//! The `/mcp` endpoint: rmcp's streamable-HTTP service (stateful, one
//! [`GatewayHandler`] per MCP session) behind an API-key middleware.
//!
//! The middleware answers 401 (`WWW-Authenticate: Bearer`) without a valid
//! key, puts the [`Principal`] into the request extensions (the handler
//! reads it back through rmcp's `http::request::Parts`), remembers which
//! user opened each `Mcp-Session-Id`, and answers 404 to anyone else who
//! presents that id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::admin::rest::ApiError;
use crate::auth::Principal;
use crate::auth::extract::bearer_token;
use crate::gateway::handler::GatewayHandler;
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

/// The `/mcp` service: mount it with `nest_service("/mcp", …)`.
pub fn service(app: AppState) -> Router {
    let factory_app = app.clone();
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
    let mcp = StreamableHttpService::new(
        move || Ok(GatewayHandler::new(factory_app.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let gate = Gate {
        app,
        owners: Arc::new(SessionOwners::default()),
    };
    Router::new()
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
