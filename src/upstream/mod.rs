//! Upstream links: live MCP client connections from Manifold to upstream
//! servers, one per (session, server), never shared between sessions.
//!
//! Every transport — [`stdio`], [`streamable_http`], legacy [`sse`] and
//! [`websocket`] — ends in the same thing: an rmcp client service
//! ([`Link`]) whose `Peer` the rest of Manifold calls. [`open`] picks the
//! transport, applies the egress policy and the connect timeout, and turns
//! every failure into an [`Error::Upstream`] with a stable code:
//! `upstream_unreachable`, `upstream_timeout`, `upstream_protocol_error`,
//! `egress_denied`. Messages are redacted of secrets (query strings, header
//! and environment values) before they leave this module.
//!
//! [`egress`] decides which network addresses a link may reach; [`relay`]
//! carries progress, server→client requests and change events between a
//! link and the `/mcp` clients whose calls it serves. [`oauth`] is the
//! outbound half of OAuth: Manifold as each user's OAuth client of the
//! upstreams that need it (who is *calling* Manifold is `auth`'s business).
//! [`schema_patch`] repairs the input schemas of the tools a link reads, so
//! every surface stores and shows the same valid schema.

pub mod downstream;
pub mod egress;
mod errors;
pub mod health;
pub mod http_call;
mod http_watch;
pub mod oauth;
pub mod pool;
pub mod raw;
pub mod relay;
pub mod schema_patch;
pub mod sse;
pub mod stdio;
pub mod streamable_http;
pub mod task_watch;
pub mod via;
pub mod websocket;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[allow(
    deprecated,
    reason = "sampling, roots and logging are still part of 2025-11-25"
)]
use rmcp::model::{
    ClientCapabilities, ClientConfig, ClientResult, CreateMessageRequest,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequest, ElicitRequestParams,
    ElicitResult, ElicitationCapability, FormElicitationCapability, Implementation,
    ListRootsRequest, ListRootsResult, LoggingMessageNotificationParam, ProgressNotificationParam,
    ResourceUpdatedNotificationParam, RootsCapabilities, SamplingCapability, ServerRequest,
    UrlElicitationCapability,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use rmcp::{ClientHandler, ErrorData as McpError, Peer};
use url::Url;

use crate::catalog::url::build_server_url;
use crate::catalog::{Server, ServerName, Transport};
use crate::error::{Error, ErrorCode};
use crate::secret::Secret;
use crate::upstream::oauth::UpstreamAuth;
use egress::EgressPolicy;
use errors::redact_error;
pub(crate) use errors::{init_error, with_causes};
use health::{LinkHealth, Pings};
use relay::{LinkEvent, LinkEvents, Relay};

/// Words every egress refusal carries, so a refusal that a transport
/// flattened into text is still recognised.
pub(crate) const EGRESS_MARK: &str = "is not reachable from this gateway";

/// How a link reaches its server: one shape per transport, parsed once from
/// the catalog record, so a stdio target always has a command and a network
/// target always a URL (no transport checks again later).
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// A child process speaking JSON-RPC on stdin/stdout.
    Stdio(StdioCommand),
    /// Streamable HTTP.
    StreamableHttp(Remote),
    /// Legacy HTTP+SSE.
    Sse(Remote),
    /// One JSON-RPC message per WebSocket text frame.
    Websocket(Remote),
}

/// The child process of a stdio server.
#[derive(Debug, Clone)]
pub struct StdioCommand {
    pub program: String,
    pub args: Vec<String>,
    /// Values are secrets.
    pub env: BTreeMap<String, Secret<String>>,
    pub cwd: Option<String>,
}

/// The address of a network server.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The effective URL (query parameters merged).
    pub url: Url,
    /// Header values are secrets.
    pub headers: Vec<(String, Secret<String>)>,
}

impl Endpoint {
    /// The transport this endpoint speaks.
    pub fn transport(&self) -> Transport {
        match self {
            Self::Stdio(_) => Transport::Stdio,
            Self::StreamableHttp(_) => Transport::StreamableHttp,
            Self::Sse(_) => Transport::Sse,
            Self::Websocket(_) => Transport::Websocket,
        }
    }

    /// The network address; `None` for stdio.
    pub fn remote(&self) -> Option<&Remote> {
        match self {
            Self::Stdio(_) => None,
            Self::StreamableHttp(remote) | Self::Sse(remote) | Self::Websocket(remote) => {
                Some(remote)
            }
        }
    }
}

/// Everything needed to open a link to one server, resolved from the catalog.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: ServerName,
    pub endpoint: Endpoint,
    /// `Authorization: Bearer …` for the upstream (SSE and WebSocket links
    /// of OAuth servers get this user's current access token here).
    pub bearer: Option<Secret<String>>,
    /// This user's OAuth access, for servers with `requires_oauth2` (the
    /// seed's `add_oauth_headers`, per user).
    pub oauth: Option<UpstreamAuth>,
    /// The `Manifold-Via` header network links send (see [`via`]).
    pub via: Option<String>,
}

impl Target {
    /// A target reaching `endpoint`, without OAuth.
    pub fn new(name: ServerName, endpoint: Endpoint) -> Self {
        Self {
            name,
            endpoint,
            bearer: None,
            oauth: None,
            via: None,
        }
    }

    /// The link target for a catalog server. A record whose transport lacks
    /// what it needs (the catalog refuses such input) is an internal error.
    pub fn from_server(server: &Server) -> Result<Self, Error> {
        let missing =
            |what: &str| Error::internal(format!("the stored {} has no {what}", server.name));
        let remote = || -> Result<Remote, Error> {
            let raw = server.url.as_deref().ok_or_else(|| missing("URL"))?;
            let base = Url::parse(raw).map_err(|e| {
                Error::internal(format!("stored URL of {} does not parse: {e}", server.name))
            })?;
            Ok(Remote {
                url: build_server_url(&base, &server.query_params),
                headers: server
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })
        };
        let endpoint = match server.transport {
            Transport::Stdio => Endpoint::Stdio(StdioCommand {
                program: server.command.clone().ok_or_else(|| missing("command"))?,
                args: server.args.clone(),
                env: server.env.clone(),
                cwd: server.cwd.clone(),
            }),
            Transport::StreamableHttp => Endpoint::StreamableHttp(remote()?),
            Transport::Sse => Endpoint::Sse(remote()?),
            Transport::Websocket => Endpoint::Websocket(remote()?),
        };
        Ok(Self::new(server.name.clone(), endpoint))
    }

    /// The transport the target speaks.
    pub fn transport(&self) -> Transport {
        self.endpoint.transport()
    }

    /// The URL of a network target; `None` for stdio.
    pub fn url(&self) -> Option<&Url> {
        self.endpoint.remote().map(|remote| &remote.url)
    }

    /// The headers to send, `Authorization` from the bearer hook included.
    pub(crate) fn all_headers(&self) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = self
            .endpoint
            .remote()
            .map(|remote| remote.headers.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|(k, _)| !(self.bearer.is_some() && k.eq_ignore_ascii_case("authorization")))
            .map(|(k, v)| (k.clone(), v.expose().clone()))
            .collect();
        if let Some(token) = &self.bearer {
            headers.push(("Authorization".into(), format!("Bearer {}", token.expose())));
        }
        if let Some(via) = &self.via {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(via::HEADER));
            headers.push(("Manifold-Via".into(), via.clone()));
        }
        headers
    }

    /// `text` with every secret this target carries replaced by `***`, the
    /// URL's query string hidden, and any response body the upstream sent
    /// cut off (see `errors::without_bodies`).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        if let Some(url) = self.url()
            && url.query().is_some()
        {
            let mut bare = url.clone();
            bare.set_query(None);
            out = out.replace(url.as_str(), &format!("{bare}?***"));
            if let Some(query) = url.query() {
                out = out.replace(query, "***");
            }
        }
        let secrets: Vec<&Secret<String>> = match &self.endpoint {
            Endpoint::Stdio(command) => command.env.values().collect(),
            Endpoint::StreamableHttp(remote)
            | Endpoint::Sse(remote)
            | Endpoint::Websocket(remote) => remote.headers.iter().map(|(_, v)| v).collect(),
        };
        let secrets = secrets.into_iter().chain(self.bearer.iter());
        for secret in secrets {
            if secret.expose().len() >= 4 {
                out = out.replace(secret.expose().as_str(), crate::secret::REDACTED);
            }
        }
        // Last: a cut made first could split a secret so it no longer matches.
        errors::without_bodies(&out)
    }
}

/// Limits every link obeys.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    pub connect_timeout: Duration,
    pub call_timeout: Duration,
    pub egress: EgressPolicy,
    /// Ping an idle link this often (`None`: never).
    pub health_interval: Option<Duration>,
    /// Requests in flight on one link.
    pub max_in_flight: usize,
}

impl LinkOptions {
    /// Options with the given timeouts and egress policy, pings off and the
    /// default in-flight limit (64).
    pub fn new(connect_timeout: Duration, call_timeout: Duration, egress: EgressPolicy) -> Self {
        Self {
            connect_timeout,
            call_timeout,
            egress,
            health_interval: None,
            max_in_flight: 64,
        }
    }
}

/// How long closing a link waits for it to stop (a stdio child's graceful
/// shutdown takes up to a few seconds).
const CLOSE_LIMIT: Duration = Duration::from_secs(15);

/// The rmcp client handler of an upstream link: it advertises sampling,
/// elicitation and roots to the upstream and hands what the upstream sends
/// to the link's [`Relay`].
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    relay: Arc<Relay>,
}

impl Default for UpstreamClient {
    fn default() -> Self {
        Self::new(Arc::new(Relay::new(None)))
    }
}

impl UpstreamClient {
    /// A handler feeding `relay`.
    pub fn new(relay: Arc<Relay>) -> Self {
        Self { relay }
    }

    /// The relay this handler feeds.
    pub fn relay(&self) -> &Arc<Relay> {
        &self.relay
    }
}

/// An answer of the wrong kind from the calling client.
fn unexpected(method: &str) -> McpError {
    ErrorCode::CallerProtocolError.mcp_error(
        format!("{method}: the calling client answered with the wrong result type"),
        &[],
    )
}

#[expect(deprecated, reason = "sampling and roots are still part of 2025-11-25")]
impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        // Whether a request can be served depends on the client whose call
        // caused it, so everything is advertised and checked per request.
        let mut capabilities = ClientCapabilities::default();
        capabilities.sampling = Some(SamplingCapability::default());
        capabilities.roots = Some(RootsCapabilities::default());
        let mut elicitation = ElicitationCapability::new();
        elicitation.form = Some(FormElicitationCapability::new());
        elicitation.url = Some(UrlElicitationCapability::new());
        capabilities.elicitation = Some(elicitation);
        ClientConfig::new(
            capabilities,
            Implementation::new("manifold", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match self.relay.create_message(request, &context).await? {
            ClientResult::CreateMessageResult(result) => Ok(*result),
            _ => Err(unexpected("sampling/createMessage")),
        }
    }

    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        let request = ServerRequest::ListRootsRequest(ListRootsRequest::default());
        match self.relay.list_roots(request, &context).await? {
            ClientResult::ListRootsResult(result) => Ok(result),
            _ => Err(unexpected("roots/list")),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        let url = matches!(params, ElicitRequestParams::UrlElicitationParams { .. });
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match self.relay.elicit(request, url, &context).await? {
            ClientResult::ElicitResult(result) => Ok(result),
            _ => Err(unexpected("elicitation/create")),
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.relay.progress(params).await;
    }

    #[allow(deprecated)] // logging is still what pre-2026-07-28 peers use
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        context: NotificationContext<RoleClient>,
    ) {
        let origin = context
            .extensions
            .get::<rmcp::service::InboundStreamOrigin>();
        self.relay.log(params, origin).await;
    }

    async fn on_tool_list_changed(&self, context: NotificationContext<RoleClient>) {
        self.relay
            .event(context.peer, LinkEvent::ToolsChanged)
            .await;
    }

    async fn on_resource_list_changed(&self, context: NotificationContext<RoleClient>) {
        self.relay
            .event(context.peer, LinkEvent::ResourcesChanged)
            .await;
    }

    async fn on_prompt_list_changed(&self, context: NotificationContext<RoleClient>) {
        self.relay
            .event(context.peer, LinkEvent::PromptsChanged)
            .await;
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        context: NotificationContext<RoleClient>,
    ) {
        self.relay
            .event(context.peer, LinkEvent::ResourceUpdated { uri: params.uri })
            .await;
    }

    /// `notifications/tasks/status` (2025-11-25) goes to the client whose
    /// task it is; other notifications rmcp does not know are dropped.
    async fn on_custom_notification(
        &self,
        notification: rmcp::model::CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        if notification.method == "notifications/tasks/status"
            && let Some(params) = notification.params
        {
            self.relay.task_status(params).await;
        } else {
            tracing::debug!(method = %notification.method, "an upstream notification no client asked for; dropped");
        }
    }
}

/// A live MCP client connection to one upstream server.
///
/// Requests go through a clone of the rmcp `Peer`, so a shared `Link` can
/// serve concurrent calls. The rmcp service runs under a watcher task (see
/// [`health`]): a link that breaks fails its pending requests at once and
/// reports [`LinkEvent::Lost`]; [`Link::close`] shuts it down on purpose (a
/// stdio child is reaped) while callers may still hold the link.
pub struct Link {
    health: Arc<LinkHealth>,
    peer: Peer<RoleClient>,
    relay: Arc<Relay>,
    pub server: ServerName,
    pub transport: Transport,
    /// The child's process id (stdio only).
    pub pid: Option<u32>,
    pub opened_at: Instant,
    /// The user's OAuth access this link runs on (servers with
    /// `requires_oauth2`), which remembers a scope step-up the upstream asked for.
    pub oauth: Option<UpstreamAuth>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("server", &self.server)
            .field("transport", &self.transport)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// The rmcp peer to send requests through.
    pub fn peer(&self) -> &Peer<RoleClient> {
        &self.peer
    }

    /// The in-flight calls of this link (progress, server→client requests).
    pub fn relay(&self) -> &Arc<Relay> {
        &self.relay
    }

    /// The upstream's `capabilities` as it sent them in `initialize`
    /// (fields rmcp does not know, such as 2025-11-25's `tasks`, included).
    pub fn raw_capabilities(&self) -> Option<serde_json::Value> {
        self.health.lane().capabilities()
    }

    /// The protocol version the upstream agreed to.
    pub fn protocol_version(&self) -> Option<String> {
        self.peer
            .peer_info()
            .map(|info| info.protocol_version.to_string())
    }

    /// Whether the link is broken or closed (the upstream went away, a
    /// transport saw it break, or the gateway closed it).
    pub fn is_closed(&self) -> bool {
        self.health.is_dead() || self.peer.is_transport_closed()
    }

    /// The link's health: its id, why it broke, its in-flight limit.
    pub fn health(&self) -> &Arc<LinkHealth> {
        &self.health
    }

    /// Closes the link on purpose and waits for it to end; a stdio child is
    /// shut down and reaped. Nobody is told (no [`LinkEvent::Lost`]), and
    /// closing twice is harmless.
    pub async fn close(&self) {
        self.health.close(CLOSE_LIMIT).await;
    }
}

/// Opens a link: connects the transport, runs the MCP handshake, all within
/// the connect timeout. What the upstream announces about itself (list
/// changes, resource updates) is dropped; see [`open_with_events`].
pub async fn open(target: &Target, options: &LinkOptions) -> Result<Link, Error> {
    open_with_events(target, options, None).await
}

/// [`open`], handing the upstream's own announcements to `events`.
#[tracing::instrument(skip_all, fields(server = %target.name, transport = %target.transport()))]
pub async fn open_with_events(
    target: &Target,
    options: &LinkOptions,
    events: Option<Arc<dyn LinkEvents>>,
) -> Result<Link, Error> {
    if let Some(url) = target.url() {
        // Fail early and clearly; the transports check again on every
        // connection they make, so a name that later resolves elsewhere
        // (DNS rebinding) is still refused.
        options.egress.check_url(url)?;
    }
    let relay = Arc::new(Relay::new(events));
    let client = UpstreamClient::new(relay.clone());
    let health = LinkHealth::new(options.max_in_flight);
    let opening = async {
        if let Some(url) = target.url()
            && let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default())
        {
            options.egress.resolve(host, port).await?;
        }
        match &target.endpoint {
            Endpoint::Stdio(command) => stdio::open(target, command, client, &health).await,
            Endpoint::StreamableHttp(remote) => {
                streamable_http::open(target, remote, options, client, &health).await
            }
            Endpoint::Sse(remote) | Endpoint::Websocket(remote) => {
                // These transports have no per-request hook: the link opens
                // with this user's current token (refreshed when near expiry).
                let mut target = target.clone();
                if let Some(auth) = &target.oauth {
                    target.bearer = Some(Secret::new(auth.access_token().await?));
                }
                if matches!(target.endpoint, Endpoint::Sse(_)) {
                    sse::open(&target, remote, options, client, &health).await
                } else {
                    websocket::open(&target, remote, options, client, &health).await
                }
            }
        }
    };
    let started = Instant::now();
    let (service, pid) = match tokio::time::timeout(options.connect_timeout, opening).await {
        Ok(result) => result.map_err(|e| redact_error(target, e))?,
        Err(_) => {
            return Err(Error::Upstream {
                code: ErrorCode::UpstreamTimeout,
                message: format!(
                    "{} did not complete the MCP handshake within {} s",
                    target.name,
                    options.connect_timeout.as_secs()
                ),
            });
        }
    };
    let peer = service.peer().clone();
    health::watch(
        service,
        health.clone(),
        relay.clone(),
        target.name.to_string(),
        Pings {
            every: options.health_interval,
        },
    );
    let link = Link {
        peer,
        health,
        relay,
        server: target.name.clone(),
        transport: target.transport(),
        pid,
        opened_at: Instant::now(),
        oauth: target.oauth.clone(),
    };
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        protocol = link.protocol_version().unwrap_or_default(),
        pid = link.pid,
        "upstream link open"
    );
    Ok(link)
}
