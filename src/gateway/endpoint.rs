//! The `/mcp` endpoint: rmcp's streamable-HTTP service (stateful, one
//! [`GatewayHandler`] per MCP session) behind the authentication middleware, and the
//! per-server route `/mcp/s/{server}` (one connected upstream, its own
//! names), served by one such service per server name.
//!
//! The middleware answers 401 (`WWW-Authenticate: Bearer`) without a valid
//! key, puts the [`Principal`] into the request extensions (the handler
//! reads it back through rmcp's `http::request::Parts`), and answers 404 to
//! anyone but the user who opened a presented `Mcp-Session-Id`. A POST body
//! that is not JSON gets a JSON-RPC parse error (-32700), and JSON that is
//! no JSON-RPC message an invalid-request error (-32600), both with HTTP 400.
//!
//! MCP sessions are replica-safe: [`BindingStore`], rmcp's `SessionStore`
//! over the state store, keeps each session's owner, route and `initialize`
//! params under `{prefix}mcp:binding:{id}`. A replica that does not know a
//! presented session id restores it from there (rmcp replays the
//! handshake), and a DELETE on any replica ends it everywhere, because every
//! request checks the binding first. Live streams (a GET stream, a pending
//! server-to-client request) still belong to the replica that holds them.

use crate::error::ErrorCode;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use crate::gateway::binding::{BindingStore, CALLER};
use crate::gateway::direct::{Endpoint, Held, Hello, MakeHandler, Sessions, stash};
use crate::gateway::exposure::Exposure;
use crate::gateway::handler::{GatewayHandler, Scope};
use crate::gateway::ledger::{Full, Ledger, Reservation};
use crate::gateway::notify::Forwarders;
use crate::gateway::posted::{Posted, accepts_anything, checked_json, is_json};
use crate::gateway::revoked;
use crate::gateway::view::ToolViews;
use crate::http::ApiError;
use crate::principal::Principal;
use crate::state::AppState;

/// The MCP session header.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// Every session manager of this process (the `/mcp` one and one per
/// server route), so an ended session can be closed in all of them.
type Managers = Arc<Mutex<Vec<Arc<Sessions>>>>;

/// A [`Managers`] that does not keep its endpoint's managers alive.
type WeakManagers = std::sync::Weak<Mutex<Vec<Arc<Sessions>>>>;

/// The session managers of every endpoint in this process, for
/// [`mcp_sessions`].
static ALL_MANAGERS: Mutex<Vec<WeakManagers>> = Mutex::new(Vec::new());

/// How many MCP sessions the endpoints of this process hold, and how many
/// of them are awake.
pub fn mcp_sessions() -> Held {
    let managers: Vec<Arc<Sessions>> = {
        let mut all = ALL_MANAGERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.retain(|weak| weak.strong_count() > 0);
        all.iter()
            .filter_map(std::sync::Weak::upgrade)
            .flat_map(|managers| {
                managers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            })
            .collect()
    };
    managers.iter().fold(Held::default(), |total, manager| {
        let held = manager.held();
        Held {
            sessions: total.sessions + held.sessions,
            awake: total.awake + held.awake,
        }
    })
}

/// What the `/mcp` middleware needs.
#[derive(Clone)]
struct Gate {
    app: AppState,
    managers: Managers,
    /// The endpoint's tool views (shared with its handlers).
    views: ToolViews,
    /// The sessions each principal holds here (`mcp.max_sessions_per_user`).
    ledger: Arc<Ledger>,
}

impl Gate {
    /// The session managers of this endpoint (`/mcp` and each server route).
    fn managers(&self) -> Vec<Arc<Sessions>> {
        self.managers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Closes `session` in every local session manager (a no-op where it is
    /// unknown): its binding is gone, so it ended on some replica.
    async fn close_everywhere(&self, session: &str) {
        let id: rmcp::transport::streamable_http_server::SessionId = session.to_owned().into();
        for manager in self.managers() {
            manager.end(&id).await;
        }
        self.ledger.remove([session]);
    }

    /// A 2025-11-25 `tools/list`: rmcp serves it unless a tool of the
    /// session's view carries fields rmcp drops (`execution`); then it is
    /// diverted to `tasks`, which puts them back at the cost of building the
    /// whole answer as a JSON tree. Outside a session, or when the view
    /// cannot be read, it is diverted (the handler reports the failure).
    async fn list_tools(
        &self,
        principal: &Principal,
        parts: &axum::http::request::Parts,
        body: Body,
    ) -> (Body, Posted) {
        // A search route lists its two tools, which carry no extra fields.
        let search = Exposure::requested(Some(parts)) == Some(Exposure::Search);
        let plain = match parts.extensions.get::<BoundRoute>() {
            Some(_) if search => true,
            Some(BoundRoute(route)) => self
                .views
                .get(&self.app, principal, &Scope::of_route(route))
                .await
                .is_ok_and(|view| !view.has_extras()),
            None => false,
        };
        if plain {
            return (body, Posted::Other);
        }
        let limit = self.app.settings().http.max_body_bytes;
        let raw = axum::body::to_bytes(body, limit).await.unwrap_or_default();
        match serde_json::from_slice(&raw)
            .ok()
            .and_then(|message| crate::gateway::tasks::divert(&message, &raw))
        {
            Some(diverted) => (Body::from(diverted), Posted::Diverted),
            None => (Body::from(raw), Posted::Other),
        }
    }

    /// Whether some endpoint still holds `session`, awake or asleep.
    fn holds(&self, session: &str) -> bool {
        let id: rmcp::transport::streamable_http_server::SessionId = session.to_owned().into();
        self.managers().iter().any(|manager| manager.holds(&id))
    }

    /// A place for one more MCP session of `user`, or the 429 that refuses
    /// it. At the limit, the sessions that ended unseen (idle timeout) are
    /// dropped from the count first.
    async fn reserve(&self, user: &str) -> Result<Reservation, Response> {
        let held = match self.ledger.reserve(user) {
            Ok(place) => return Ok(place),
            Err(Full(held)) => held,
        };
        let mut ended = Vec::new();
        for session in &held {
            if !self.holds(session) {
                ended.push(session.as_str());
            }
        }
        self.ledger.remove(ended);
        self.ledger.reserve(user).map_err(|_| {
            crate::metrics::mcp_session_refused();
            tracing::info!(
                user,
                max = self.ledger.max(),
                "refused an MCP session: the principal holds the most allowed"
            );
            ApiError::code_response(
                ErrorCode::TooManySessions,
                &format!(
                    "you hold {} MCP sessions on this gateway, the most allowed \
                     (mcp.max_sessions_per_user); end one with DELETE and its \
                     Mcp-Session-Id, or let an idle one expire",
                    self.ledger.max()
                ),
            )
        })
    }
}

#[path = "endpoint_routes.rs"]
mod routes;
use routes::{PerServer, per_server, per_toolset};

/// The MCP service of one scope, shared: rmcp's own `Service` impl clones
/// the whole service, its settings included, for every request, so requests
/// call [`StreamableHttpService::handle`] on the shared one instead.
type McpService = Arc<StreamableHttpService<GatewayHandler, Sessions>>;

/// `service`'s answer to `request`.
async fn serve(service: &McpService, request: Request) -> Response {
    service.handle(request).await.map(Body::new)
}

/// rmcp's streamable-HTTP service making one handler of `scope` per session,
/// with sessions kept in the state store.
fn mcp_service(
    app: &AppState,
    views: &ToolViews,
    forwarders: &Forwarders,
    mut config: StreamableHttpServerConfig,
    scope: Scope,
    managers: &Managers,
) -> McpService {
    let store = BindingStore::new(app.clone(), &scope);
    config.session_store = Some(Arc::new(store.clone()));
    let mut manager = LocalSessionManager::default();
    manager.session_config.keep_alive = Some(std::time::Duration::from_secs(
        app.settings().mcp.session_idle_seconds,
    ));
    let make: MakeHandler = {
        let (app, views, forwarders, scope) = (
            app.clone(),
            views.clone(),
            forwarders.clone(),
            scope.clone(),
        );
        Arc::new(move || {
            GatewayHandler::scoped(
                app.clone(),
                views.clone(),
                forwarders.clone(),
                scope.clone(),
            )
        })
    };
    let sessions = Arc::new(Sessions::new(
        Endpoint {
            app: app.clone(),
            views: views.clone(),
            scope,
            make: make.clone(),
            store,
            ct: config.cancellation_token.clone(),
        },
        Arc::new(manager),
    ));
    managers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(sessions.clone());
    Arc::new(StreamableHttpService::new(
        move || Ok(make()),
        sessions,
        config,
    ))
}

/// The route (empty for `/mcp`, else the server name) of the MCP session a
/// request presented, as its binding says; the middleware checked that the
/// session is the caller's.
#[derive(Debug, Clone)]
struct BoundRoute(String);

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
    let managers = Managers::default();
    ALL_MANAGERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Arc::downgrade(&managers));
    let views = ToolViews::new();
    views.follow(app.notifier());
    let forwarders = Forwarders::start(app.notifier(), app.shutdown_token().child_token());
    crate::gateway::shown::follow(
        app.notifier(),
        app.state_store().clone(),
        views.clone(),
        forwarders.clone(),
        app.shutdown_token().child_token(),
    );
    let mcp = mcp_service(
        &app,
        &views,
        &forwarders,
        config.clone(),
        Scope::All,
        &managers,
    );
    // Shared, not cloned, per request (rmcp's config holds a `Vec` of hosts).
    let per_server_state = Arc::new(PerServer {
        app: app.clone(),
        views,
        forwarders,
        config,
        managers: managers.clone(),
        services: Arc::default(),
    });
    let limit = app.settings().http.max_body_bytes;
    let ledger = Ledger::new(app.settings().mcp.max_sessions_per_user);
    let gate = Gate {
        views: per_server_state.views.clone(),
        app,
        managers,
        ledger,
    };
    let endpoint = Router::new()
        .route(
            "/s/{server}",
            axum::routing::any(per_server).with_state(per_server_state.clone()),
        )
        .route(
            "/t/{toolset}",
            axum::routing::any(per_toolset).with_state(per_server_state),
        )
        .fallback(move |request: Request| async move { serve(&mcp, request).await })
        .layer(middleware::from_fn_with_state(gate, authenticate));
    crate::gateway::batch::with_batches(endpoint, limit)
}

/// The 404 for an unknown, ended or foreign MCP session.
fn session_not_found() -> Response {
    ApiError::code_response(ErrorCode::SessionNotFound, "no such MCP session")
}

/// Authenticates the caller, enforces MCP session ownership, and turns
/// unparsable POST bodies into JSON-RPC errors.
async fn authenticate(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    // A request that already passed this gateway came back through a loop.
    let via = parts
        .headers
        .get(crate::upstream::via::HEADER)
        .and_then(|value| value.to_str().ok());
    let hops = match gate.app.sessions().via().check(via) {
        Ok(hops) => hops,
        Err(err) => {
            tracing::warn!("refused a request that looped back through this gateway's own links");
            return ApiError(err).into_response();
        }
    };
    let principal = match crate::http::authenticate(&gate.app, &parts).await {
        Ok(principal) => principal,
        Err(err) => return ApiError(err).into_response(),
    };
    if let Err(err) = Exposure::from_query(parts.uri.query()) {
        return ApiError(err).into_response();
    }
    gate.app.sessions().via().record(&principal.user_id, hops);
    tracing::Span::current().record("user", principal.user_id.as_str());
    if let Err(err) = gate.app.rate_limits().check_mcp(&principal) {
        return ApiError(err).into_response();
    }
    if let Some(session) = parts.headers.get(&MCP_SESSION_ID) {
        let Ok(session) = session.to_str() else {
            return session_not_found();
        };
        match gate.app.state_store().mcp_session(session).await {
            Ok(Some(binding)) if binding.user == principal.user_id => {
                gate.ledger.enter(&principal.user_id, session);
                parts.extensions.insert(BoundRoute(binding.route));
                parts
                    .extensions
                    .insert(Hello(Arc::from(binding.initialize)));
            }
            Ok(Some(_)) => return session_not_found(),
            Ok(None) => {
                gate.close_everywhere(session).await;
                return session_not_found();
            }
            Err(err) if err.code() == ErrorCode::InvalidMcpSessionId => return session_not_found(),
            Err(err) => return ApiError(err).into_response(),
        }
    }
    // `Accept: */*` accepts both answers rmcp may give (JSON or an event
    // stream); rmcp itself insists on the two types spelled out.
    if accepts_anything(parts.headers.get(header::ACCEPT)) {
        parts.headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
    }
    let mut posted = Posted::Other;
    let body = if parts.method == Method::POST && is_json(parts.headers.get(header::CONTENT_TYPE)) {
        // 2025-11-25's tasks are served apart from rmcp (see `tasks`).
        let tasks = parts
            .headers
            .get("mcp-protocol-version")
            .is_some_and(|v| v.as_bytes() == crate::gateway::tasks::REVISION.as_bytes());
        match checked_json(body, gate.app.settings().http.max_body_bytes, tasks).await {
            Ok((body, kind, call)) => {
                posted = kind;
                // In a session, rmcp need not read a call again.
                match call.filter(|_| parts.extensions.get::<BoundRoute>().is_some()) {
                    Some(call) => stash(&mut parts, call).unwrap_or(body),
                    None => body,
                }
            }
            Err(response) => return response,
        }
    } else {
        body
    };
    let body = if posted == Posted::ToolsList {
        let (body, kind) = gate.list_tools(&principal, &parts, body).await;
        posted = kind;
        body
    } else {
        body
    };
    if posted == Posted::Diverted {
        parts.extensions.insert(crate::gateway::tasks::Diverted);
    }
    let place = if posted == Posted::Initialize {
        match gate.reserve(&principal.user_id).await {
            Ok(place) => Some(place),
            Err(refused) => return refused,
        }
    } else {
        None
    };
    let caller = principal.clone();
    let delete = parts.method == Method::DELETE;
    let ending = delete
        .then(|| parts.headers.get(&MCP_SESSION_ID).cloned())
        .flatten();
    let host = parts.headers.get(header::HOST).cloned();
    let watch = revoked::watch(
        &gate.app,
        &principal,
        &parts.method,
        parts.headers.get(&MCP_SESSION_ID),
    );
    parts.extensions.insert(principal);
    let running = CALLER.scope(caller, next.run(Request::from_parts(parts, body)));
    let response = match &watch {
        Some(watch) => revoked::until_revoked(watch, running).await,
        None => running.await,
    };
    let response = finish(
        &gate,
        response,
        host.as_ref(),
        delete,
        ending,
        posted,
        place,
    )
    .await;
    match watch {
        Some(watch) => revoked::end_stream_when_revoked(response, watch),
        None => response,
    }
}

/// What the middleware does with the answer: `/mcp`'s own shapes for
/// rmcp's refusals, 200 for an ended session, the session ledger, and
/// the tasks capability on `initialize`.
async fn finish(
    gate: &Gate,
    response: Response,
    host: Option<&HeaderValue>,
    delete: bool,
    ending: Option<HeaderValue>,
    posted: Posted,
    place: Option<Reservation>,
) -> Response {
    let mut response = explain_refusal(response, host).await;
    // rmcp answers a session's termination with 202, which the Python SDK
    // logs as a failure on every close; the session is ended: 200.
    if delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::OK;
    }
    if let Some(ended) = ending.as_ref().and_then(|id| id.to_str().ok())
        && response.status().is_success()
    {
        // rmcp closed the session where it was awake; asleep, only its
        // entry remained.
        gate.close_everywhere(ended).await;
    }
    if posted == Posted::Initialize && response.status() == StatusCode::OK {
        if let (Some(place), Some(id)) = (
            place,
            response
                .headers()
                .get(&MCP_SESSION_ID)
                .and_then(|id| id.to_str().ok()),
        ) {
            place.commit(id);
        }
        return crate::gateway::tasks::advertise(response).await;
    }
    response
}

/// rmcp refuses a `Host`, an `Origin` or an `Accept` in plain text; a
/// client gets the gateway's shapes instead: for a refused `Host` or
/// `Origin` the JSON error naming the setting that admits it, for an
/// unsuitable `Accept` (406) a JSON-RPC error saying what to send.
async fn explain_refusal(response: Response, host: Option<&HeaderValue>) -> Response {
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if json || !matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_ACCEPTABLE) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    if status == StatusCode::NOT_ACCEPTABLE {
        let body = json!({"jsonrpc": "2.0", "id": null, "error": {
            "code": -32600,
            "message": format!("{text}: send `Accept: application/json, text/event-stream`"),
        }});
        return (StatusCode::NOT_ACCEPTABLE, axum::Json(body)).into_response();
    }
    let setting = if text.contains("Host") {
        let host: String = host
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(100)
            .collect();
        Some(format!(
            "Host `{host}` is not allowed on /mcp: add it to http.allowed_hosts \
             (MANIFOLD_HTTP__ALLOWED_HOSTS) to serve MCP under that name"
        ))
    } else if text.contains("Origin") {
        Some(
            "this Origin is not allowed on /mcp: add it to http.allowed_origins \
             (MANIFOLD_HTTP__ALLOWED_ORIGINS) to let that web page call MCP"
                .to_owned(),
        )
    } else {
        None
    };
    match setting {
        Some(message) => ApiError::code_response(ErrorCode::Forbidden, &message),
        None => Response::from_parts(parts, Body::from(text)),
    }
}
