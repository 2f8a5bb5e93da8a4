//! [`Application`]: binds the listener (port 0 works: read the port back),
//! connects the catalog and the state store, then serves until shutdown
//! and drains (see `app/server.rs` for the connection limits and the drain,
//! and `app/startup.rs` for what start-up asks of the host).

mod server;
mod startup;
mod trim;

pub use server::{Drain, Draining, Limits, PROBE_RESERVE};
pub use startup::{open_catalog, open_file_limit, raise_open_file_limit};

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use tokio::net::TcpListener;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::admin::{graphql, health, rest};
use crate::auth::Authenticator;
use crate::auth::api_key::ApiKeys;
use crate::catalog::{self, Catalog, CatalogService};
use crate::config::Settings;
use crate::ratelimit::RateLimits;
use crate::session::bus::SessionNotifier;
use crate::session::manager::{ManagerOptions, SessionManager};
use crate::session::{self, State, fanout};
use crate::state::{AppState, Services};
use crate::upstream::LinkOptions;
use crate::upstream::egress::EgressPolicy;
use crate::upstream::oauth::{BrokerOptions, CALLBACK_PATH, Flows, OAuthBroker};
use crate::upstream::pool::{LinkPool, PoolLimits};

/// The request-id header set on every request and response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A bound, ready-to-serve Manifold.
pub struct Application {
    listener: TcpListener,
    /// `metrics.listen`, when `/metrics` has its own listener.
    metrics_listener: Option<TcpListener>,
    router: Router,
    state: AppState,
    draining: Draining,
}

/// Random request ids (`req_…`) for requests that arrive without one.
#[derive(Clone, Copy, Default)]
struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        // 96 random bits as 16 URL-safe characters (nanoid's alphabet).
        use base64::Engine as _;
        let random = crate::ids::random_bytes(12);
        let id = format!(
            "req_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );
        header::HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

impl Application {
    /// Binds `listen`, then opens the catalog (applying migrations) and the
    /// state store and creates the first admin key when none exists: a
    /// process that cannot listen writes nothing into `data_dir`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = bind(&settings).await?;
        let catalog = open_catalog(&settings).await?;
        catalog::key_check::verify(&catalog, &settings).await?;
        let state = session::connect(&settings.state).await?;
        Self::build_on(listener, settings, catalog, state).await
    }

    /// As [`Application::build`], over an already-open catalog and state store.
    pub async fn build_with(
        settings: Settings,
        catalog: Catalog,
        state: State,
    ) -> anyhow::Result<Self> {
        let listener = bind(&settings).await?;
        Self::build_on(listener, settings, catalog, state).await
    }

    async fn build_on(
        listener: TcpListener,
        settings: Settings,
        catalog: Catalog,
        state: State,
    ) -> anyhow::Result<Self> {
        let metrics_listener =
            match settings.metrics.listen.trim() {
                _ if !settings.metrics.enabled => None,
                "" => None,
                addr => Some(TcpListener::bind(addr).await.map_err(|e| {
                    anyhow::anyhow!("cannot listen on {addr} (metrics.listen): {e}")
                })?),
            };
        ApiKeys::new(catalog.clone())
            .bootstrap(&settings.data_dir)
            .await
            .with_context(|| {
                format!(
                    "writing the first admin key into data_dir `{}`",
                    settings.data_dir.display()
                )
            })?;
        let public_base = public_base(&settings, listener.local_addr()?);
        let app = wire(settings, catalog, state, &public_base)?;
        let draining = Draining::default();
        Ok(Self {
            listener,
            metrics_listener,
            router: router(app.clone()).layer(Extension(draining.clone())),
            state: app,
            draining,
        })
    }

    /// The address `/metrics` is served on when it has its own listener.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref()?.local_addr().ok()
    }

    /// The address actually bound (the real port when `listen` used port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (tests use it to reach services directly).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then drains at once: the listener
    /// closes, requests in flight get `http.shutdown_grace_seconds`, event
    /// streams end, links close (tests and embedding).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serve(shutdown, Duration::ZERO).await
    }

    /// As [`Application::run_until`], but `/readyz` answers 503 for
    /// `http.drain_delay_seconds` before the listener closes, so a load
    /// balancer stops sending work first (the `serve` command on SIGTERM).
    pub async fn run_draining(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let delay = Duration::from_secs(self.state.settings().http.drain_delay_seconds);
        self.serve(shutdown, delay).await
    }

    async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        delay: Duration,
    ) -> anyhow::Result<()> {
        tracing::info!(
            addr = %self.local_addr()?,
            worker_threads = tokio::runtime::Handle::current().metrics().num_workers(),
            "manifold listening"
        );
        if let Some(listener) = self.metrics_listener {
            let addr = listener.local_addr()?;
            tracing::info!(%addr, "metrics listening");
            let stop = self.state.shutdown_token().clone();
            let metrics = metrics_router(self.state.clone());
            tokio::spawn(async move {
                let served = axum::serve(listener, metrics)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(err) = served {
                    tracing::warn!(error = %err, "the metrics listener failed");
                }
            });
        }
        let http = &self.state.settings().http;
        let limits = Limits {
            header_read_timeout: Duration::from_secs(http.header_read_timeout_seconds),
            keep_alive_timeout: Duration::from_secs(http.keep_alive_timeout_seconds),
            max_connections: http.max_connections,
        };
        let drain = Drain {
            delay,
            grace: Duration::from_secs(http.shutdown_grace_seconds),
        };
        // Open `/mcp` streams (and the background tasks) end on this token
        // once the requests in flight are done.
        let streams_end = self.state.shutdown_token().clone();
        trim::start(self.state.clone(), streams_end.clone());
        server::Server::new(self.listener, self.router, limits, self.draining)
            .run(shutdown, drain, streams_end)
            .await;
        // The audit events of the requests just served are written before
        // the process goes.
        self.state.audit().close().await;
        // Upstream links end with the process: stdio children are reaped.
        let closing = std::time::Instant::now();
        let pool = self.state.sessions().pool();
        if tokio::time::timeout(LINKS_CLOSE, pool.close_all())
            .await
            .is_err()
        {
            tracing::warn!(
                "upstream links did not all close within {} s",
                LINKS_CLOSE.as_secs()
            );
        }
        tracing::info!(
            links_closed_in_ms = closing.elapsed().as_millis(),
            "manifold stopped"
        );
        Ok(())
    }
}

/// The longest closing the upstream links may take at shutdown (a stdio
/// child gets 2 s after stdin closes, then SIGTERM and 2 s, then SIGKILL).
const LINKS_CLOSE: Duration = Duration::from_secs(15);

/// Binds `listen`.
async fn bind(settings: &Settings) -> anyhow::Result<TcpListener> {
    let addr = settings.listen_addr()?;
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (listen / MANIFOLD_LISTEN): {e}"))
}

/// `GET /readyz`: 503 from the moment the process starts draining, so a
/// load balancer stops sending it work; otherwise the dependency checks.
async fn readyz(
    draining: Option<Extension<Draining>>,
    state: axum::extract::State<AppState>,
) -> Response {
    if draining.is_some_and(|Extension(d)| d.is_draining()) {
        let body = serde_json::json!({
            "status": "draining",
            "error": crate::http::ErrorDetail {
                code: crate::error::ErrorCode::NotReady,
                message: "draining: this process is shutting down and takes no new work".into(),
                field: None,
                authorization_url: None,
            },
        });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    health::readyz(state).await.into_response()
}

/// Wires the services over a catalog and a state store; `public_base` is the
/// gateway's URL for the OAuth redirect URI. Must run inside a tokio runtime
/// (the link pool starts its sweeper).
fn wire(
    settings: Settings,
    catalog: Catalog,
    state: State,
    public_base: &str,
) -> anyhow::Result<AppState> {
    let upstream = &settings.upstream;
    let pool = LinkPool::new(PoolLimits {
        max_links: upstream.max_links,
        max_stdio: upstream.max_stdio_children,
        idle_timeout: Duration::from_secs(upstream.idle_timeout_seconds),
    });
    let options = ManagerOptions {
        link: LinkOptions {
            connect_timeout: Duration::from_secs(upstream.connect_timeout_seconds),
            call_timeout: Duration::from_secs(upstream.call_timeout_seconds),
            egress: EgressPolicy {
                deny_private: upstream.egress.deny_private,
                deny_loopback: upstream.egress.deny_loopback,
            },
            health_interval: (upstream.health_interval_seconds > 0)
                .then(|| Duration::from_secs(upstream.health_interval_seconds)),
            max_in_flight: upstream.max_in_flight_per_link,
        },
        tool_fetch_timeout: Duration::from_secs(upstream.tool_fetch_timeout_seconds),
        reconnect_max_delay: Duration::from_secs(upstream.reconnect_max_delay_seconds),
        reconnect_give_up: Duration::from_secs(upstream.reconnect_give_up_seconds),
    };
    let audit = crate::catalog::audit::Auditor::start(catalog.clone(), &settings.audit);
    let catalog_service = CatalogService::new(catalog.clone()).with_audit(audit);
    let notifier = SessionNotifier::with_catalog(catalog_service.events().clone());
    let shutdown = tokio_util::sync::CancellationToken::new();
    match fanout::start(
        &settings.state.backend(),
        &settings.state.key_prefix,
        notifier.clone(),
        shutdown.child_token(),
    ) {
        Ok(Some(sender)) => notifier.set_fanout(sender),
        Ok(None) => {}
        Err(err) => tracing::warn!(
            error = %err,
            "change events stay in this process: cannot use the state store's Redis URL"
        ),
    }
    let rate_limits = RateLimits::new(&settings.limits, shutdown.child_token());
    let auth = Authenticator::new(&settings);
    let oauth = OAuthBroker::new(
        catalog.clone(),
        state.clone() as Flows,
        BrokerOptions {
            redirect_uri: format!("{public_base}{CALLBACK_PATH}"),
            flow_ttl: Duration::from_secs(settings.auth.oauth.flow_ttl_seconds),
            client_name: settings.auth.oauth.client_name.trim().to_owned(),
            egress: options.link.egress,
            connect_timeout: options.link.connect_timeout,
            discovery_ttl: Duration::from_secs(settings.auth.oauth.discovery_cache_seconds),
        },
    )?;
    let sessions = SessionManager::new(catalog_service.clone(), state.clone(), pool, options)
        .with_notifier(notifier.clone())
        .with_oauth(oauth);
    // Deleted, renamed or re-pointed servers leave no state or links behind.
    sessions.follow_catalog(catalog_service.events(), shutdown.child_token());
    let api_keys = ApiKeys::new(catalog).with_audit(catalog_service.audit().clone());
    // A key revoked here is forgotten by every replica at once.
    let announcer = notifier.clone();
    api_keys.set_forward(move |id| announcer.announce_key_revoked(id));
    let forgetter = api_keys.clone();
    notifier.on_key_revoked(move |id| forgetter.revoked_elsewhere(id));
    Ok(AppState::new(Services {
        settings,
        catalog: catalog_service,
        api_keys,
        auth,
        state,
        sessions,
        shutdown,
        notifier,
        rate_limits,
    }))
}

/// The gateway's own base URL for links it hands out when no request is at
/// hand (the OAuth redirect URI): `http.public_url`, else the bound address
/// (an unspecified address as loopback).
fn public_base(settings: &Settings, bound: SocketAddr) -> String {
    let configured = settings.http.public_url.trim().trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_owned();
    }
    let ip = match bound.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        other => other,
    };
    format!("http://{}", SocketAddr::new(ip, bound.port()))
}

/// Counts every response in [`crate::metrics`] by surface and status
/// class, with the time to its head.
async fn count_http(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let surface = crate::metrics::surface(request.uri().path());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::metrics::http_response(surface, response.status().as_u16(), started.elapsed());
    response
}

/// `/metrics`: the gauges sampled now, then every metric as OpenMetrics
/// text (unauthenticated; `metrics.enabled` turns it off).
async fn metrics_page(
    axum::extract::State(app): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let pool = app.sessions().pool();
    let links: Vec<(&'static str, usize)> = pool
        .by_transport()
        .into_iter()
        .map(|(transport, count)| (transport.as_str(), count))
        .collect();
    let all = [
        crate::catalog::Transport::Stdio,
        crate::catalog::Transport::Sse,
        crate::catalog::Transport::Websocket,
        crate::catalog::Transport::StreamableHttp,
    ];
    let links: Vec<(&'static str, usize)> = all
        .iter()
        .map(|t| {
            let count = links
                .iter()
                .find(|(name, _)| *name == t.as_str())
                .map_or(0, |(_, n)| *n);
            (t.as_str(), count)
        })
        .collect();
    let (_, stdio) = pool.live();
    let sessions = crate::gateway::endpoint::mcp_sessions();
    crate::metrics::sample(&links, stdio, sessions.sessions, sessions.awake);
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::encode(),
    )
        .into_response()
}

/// The router of a separate `metrics.listen` listener: `/metrics` alone.
pub fn metrics_router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .with_state(app)
}

/// The span of one HTTP request: its request id, method, matched route
/// (the router's layers run after routing) and path; the user is recorded
/// once authenticated. With traces on it is also the trace's server span.
fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let path = req.uri().path();
    let route = match req.extensions().get::<axum::extract::MatchedPath>() {
        Some(matched) => Some(matched.as_str()),
        // `/mcp` is a nested service: axum names no route for its inner one.
        None if path.starts_with("/mcp/s/") => Some("/mcp/s/{server}"),
        None => None,
    };
    let span = tracing::info_span!(
        crate::telemetry::REQUEST_SPAN,
        request_id = %id,
        method = %req.method(),
        route,
        path = %path,
        user = tracing::field::Empty,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
    );
    #[cfg(feature = "otel")]
    crate::telemetry::otel::adopt(&span, req.method(), route, req.headers());
    span
}

/// Puts the request span's trace context into the request's extensions,
/// where the MCP handlers, which rmcp runs in tasks of their own, find it.
#[cfg(feature = "otel")]
async fn carry_trace(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(trace) = crate::telemetry::otel::RequestTrace::current() {
        request.extensions_mut().insert(trace);
    }
    next.run(request).await
}

/// The whole HTTP surface.
pub fn router(app: AppState) -> Router {
    let settings = app.settings();
    let (api, _) = rest::router();
    let playground = settings
        .listen_addr()
        .is_ok_and(|addr| settings.graphql.playground_enabled(addr));
    let api = api
        .method_not_allowed_fallback(rest::method_not_allowed)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(settings.http.request_timeout_seconds),
        ));
    // One INFO line per response (status, latency) inside the request span,
    // which carries the request id.
    let trace = TraceLayer::new_for_http()
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
        .make_span_with(request_span);
    let ui = if settings.ui.enabled {
        crate::ui::router()
    } else {
        Router::new()
    };
    let metrics_here = settings.metrics.enabled && settings.metrics.listen.trim().is_empty();
    let base = Router::new().merge(ui);
    let base = if metrics_here {
        base.route("/metrics", get(metrics_page))
    } else {
        base
    };
    let routes = base
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(readyz))
        .route(CALLBACK_PATH, get(rest::oauth_callback))
        .nest(rest::BASE, api)
        .nest_service("/mcp", crate::gateway::endpoint::service(app.clone()))
        .merge(
            graphql::router(playground).layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(settings.http.request_timeout_seconds),
            )),
        )
        .fallback(rest::route_not_found)
        .layer(DefaultBodyLimit::max(settings.http.max_body_bytes))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(axum::middleware::from_fn(count_http));
    // Inside the request span: its trace context for the MCP handlers.
    #[cfg(feature = "otel")]
    let routes = routes.layer(axum::middleware::from_fn(carry_trace));
    routes
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeId))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        .with_state(app)
}
