//! The session manager (the seed's MCPServerManager): connect, disconnect
//! and list a session's upstream servers. REST, GraphQL, `/mcp` and the UI
//! all call this with the [`Principal`]; the rules live here only.
//!
//! Connecting checks visibility (404 otherwise) and `enabled`, opens (or
//! reuses) the session's link, pings it, reads every page of its tools,
//! patches their input schemas and stores `CONNECTED` with the tools in the
//! state store. Any failure stores `FAILED` with a redacted message and
//! answers a stable code. The state store is the truth for status and
//! tools: listing never touches an upstream, and a `CONNECTED` server
//! without a live link in this process is reopened on first use.
//!
//! Every link the manager opens reports what its upstream announces about
//! itself to a `SessionLinkEvents` sink: a tools `list_changed` re-reads
//! and stores that server's tools for the session; every announcement is
//! published on the [`SessionNotifier`] for the session's open `/mcp`
//! streams. A link that breaks is reopened by the gateway itself (see
//! `reconnect`): the server is `RECONNECTING` meanwhile and calls to it fail
//! fast with `upstream_unavailable`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::audit::kind;
use crate::catalog::service::{ListParams, Page};
use crate::catalog::{CatalogService, Server, Transport};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::SessionId;
use crate::principal::Principal;
use crate::session::bus::SessionNotifier;
use crate::session::{ConnectionState, ConnectionStatus, State};
use crate::upstream::oauth::OAuthBroker;
use crate::upstream::pool::{LinkPool, Slot};
use crate::upstream::via::Via;
use crate::upstream::{Link, LinkOptions, Target};

mod audit;
mod catalog;
mod events;
mod oauth;
mod reconnect;
mod tools;

use events::{LinkContext, fetch_tools};
pub use tools::{SessionTool, qualified};

/// A server as one session sees it: "GitHub (Connected, 15 tools)".
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServerStatus {
    #[schema(value_type = String)]
    pub id: crate::ids::ServerId,
    #[schema(value_type = String)]
    pub name: crate::catalog::ServerName,
    pub title: String,
    pub transport: Transport,
    pub is_public: bool,
    pub enabled: bool,
    #[schema(value_type = Option<String>)]
    pub category_id: Option<crate::ids::CategoryId>,
    pub status: ConnectionStatus,
    pub tool_count: usize,
    pub connected_at: Option<DateTime<Utc>>,
    /// Why the last connect failed (`FAILED`) or the link broke
    /// (`RECONNECTING`), redacted.
    pub last_error: Option<String>,
    /// While `RECONNECTING`: when the next attempt starts.
    pub retry_at: Option<DateTime<Utc>>,
    /// How often this session's link to the server was reopened after a
    /// break (as counted by the replica answering).
    pub reconnects: u32,
    /// When a request through the link was last answered (this replica).
    pub last_call_at: Option<DateTime<Utc>>,
    /// The MCP protocol version the upstream agreed to, while a link is open
    /// on the replica answering.
    pub protocol_version: Option<String>,
    /// The cached tools (only in connect answers and single-server reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Vec<Value>>,
    /// For servers with `requires_oauth2`: whether this user has authorized
    /// it (`authorized`) or must first (`required`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthStatus>,
}

/// Whether a user holds tokens for a server that needs OAuth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthStatus {
    Authorized,
    Required,
}

impl ServerStatus {
    /// The server as the session sees it: tools its `tool_filter` hides
    /// are neither counted nor listed.
    fn new(server: &Server, mut state: ConnectionState, with_tools: bool) -> Self {
        if !server.tool_filter.is_empty() {
            state
                .tools
                .retain(|tool| server.tool_filter.admits_tool(tool));
        }
        Self {
            id: server.id.clone(),
            name: server.name.clone(),
            title: server.title.clone(),
            transport: server.transport,
            is_public: server.is_public,
            enabled: server.enabled,
            category_id: server.category_id.clone(),
            status: state.status,
            tool_count: state.tools.len(),
            connected_at: state.connected_at,
            last_error: state.error,
            retry_at: None,
            reconnects: 0,
            last_call_at: None,
            protocol_version: None,
            tools: with_tools.then_some(state.tools),
            oauth: None,
        }
    }

    /// Fills in what this process knows of the session's link: reconnects,
    /// the next attempt, the last answered call, the protocol version.
    fn with_link(mut self, pool: &LinkPool, session: &SessionId) -> Self {
        let Some(slot) = pool.find(session, &self.name) else {
            return self;
        };
        self.reconnects = slot.reconnects();
        if self.status == ConnectionStatus::Reconnecting {
            self.retry_at = slot.down().and_then(|down| down.retry_at);
        }
        if let Ok(guard) = slot.link.try_lock()
            && let Some(link) = guard.as_ref()
        {
            self.last_call_at = link.health().last_ok();
            if !link.is_closed() {
                self.protocol_version = link.protocol_version();
            }
        }
        self
    }
}

/// Time limits the manager applies beyond the link's own.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    pub link: LinkOptions,
    pub tool_fetch_timeout: Duration,
    /// Longest wait between two attempts to reopen a broken link.
    pub reconnect_max_delay: Duration,
    /// A broken link not reopened within this long is `FAILED`.
    pub reconnect_give_up: Duration,
}

/// Connects and disconnects a session's upstream servers.
#[derive(Clone)]
pub struct SessionManager {
    catalog: CatalogService,
    state: State,
    pool: LinkPool,
    options: Arc<ManagerOptions>,
    notifier: SessionNotifier,
    oauth: Option<OAuthBroker>,
    via: Arc<Via>,
}

impl SessionManager {
    /// A manager over the catalog rules, the state store and a link pool.
    pub fn new(
        catalog: CatalogService,
        state: State,
        pool: LinkPool,
        options: ManagerOptions,
    ) -> Self {
        Self {
            catalog,
            state,
            pool,
            options: Arc::new(options),
            notifier: SessionNotifier::new(),
            oauth: None,
            via: Arc::new(Via::new()),
        }
    }

    /// This process's loop detection (the `Manifold-Via` header).
    pub fn via(&self) -> &Via {
        &self.via
    }

    /// Lets servers with `requires_oauth2` connect with each user's own
    /// tokens from `broker` (without one they answer `oauth_required`).
    pub fn with_oauth(mut self, broker: OAuthBroker) -> Self {
        self.oauth = Some(broker);
        self
    }

    /// The per-user OAuth broker, when configured.
    pub fn oauth(&self) -> Option<&OAuthBroker> {
        self.oauth.as_ref()
    }

    /// `status` with this user's OAuth standing filled in.
    async fn with_oauth_status(
        &self,
        principal: &Principal,
        server: &Server,
        mut status: ServerStatus,
    ) -> Result<ServerStatus> {
        if server.requires_oauth2 {
            let authorized = match &self.oauth {
                Some(broker) => broker.is_authorized(principal, server).await?,
                None => false,
            };
            status.oauth = Some(if authorized {
                OAuthStatus::Authorized
            } else {
                OAuthStatus::Required
            });
        }
        Ok(status)
    }

    /// The link target for the principal: servers that need OAuth carry
    /// this user's access (or the call fails with `oauth_required`).
    async fn target_for(&self, principal: &Principal, server: &Server) -> Result<Target> {
        let mut target = Target::from_server(server)?;
        target.via = Some(self.via.outbound(&principal.user_id));
        if server.requires_oauth2 {
            let Some(broker) = &self.oauth else {
                return Err(Error::OAuthRequired {
                    server: server.name.to_string(),
                    authorization_url: None,
                });
            };
            target.oauth = Some(broker.access(principal, server).await?);
        }
        Ok(target)
    }

    /// Publishes this manager's tool changes on `notifier` (shared with the
    /// `/mcp` sessions) instead of a private one.
    pub fn with_notifier(mut self, notifier: SessionNotifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// The link pool (shutdown, tests).
    pub fn pool(&self) -> &LinkPool {
        &self.pool
    }

    /// A page of the servers the principal may see, with this session's status.
    pub async fn list_servers(
        &self,
        principal: &Principal,
        params: &ListParams,
    ) -> Result<Page<ServerStatus>> {
        let page = self.catalog.list_servers(principal, params).await?;
        let names: Vec<&str> = page.items.iter().map(|s| s.name.as_str()).collect();
        let states = self.state.get_many(&principal.session, &names).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for (server, state) in page.items.iter().zip(states) {
            let status =
                ServerStatus::new(server, state, false).with_link(&self.pool, &principal.session);
            items.push(self.with_oauth_status(principal, server, status).await?);
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// One server with this session's status and cached tools.
    pub async fn server_status(
        &self,
        principal: &Principal,
        id_or_name: &str,
    ) -> Result<ServerStatus> {
        let server = self.catalog.get_server(principal, id_or_name).await?;
        let state = self
            .state
            .get(&principal.session, server.name.as_str())
            .await?;
        let status =
            ServerStatus::new(&server, state, true).with_link(&self.pool, &principal.session);
        self.with_oauth_status(principal, &server, status).await
    }

    /// Connects (or refreshes) a server for the principal's session.
    #[tracing::instrument(skip_all, fields(session = %principal.session, server = id_or_name))]
    pub async fn connect(&self, principal: &Principal, id_or_name: &str) -> Result<ServerStatus> {
        let started = std::time::Instant::now();
        let answer = self.connect_now(principal, id_or_name).await;
        self.audit_status(kind::CONNECT, principal, id_or_name, started, &answer);
        answer
    }

    async fn connect_now(&self, principal: &Principal, id_or_name: &str) -> Result<ServerStatus> {
        let server = self.catalog.get_server(principal, id_or_name).await?;
        let session = &principal.session;
        match self.connect_server(principal, &server).await {
            Ok(tools) => {
                let at = Utc::now().trunc_subsecs(6);
                self.state
                    .set_connected(session, server.name.as_str(), &tools, at)
                    .await?;
                // A manual connect replaces any reconnection under way.
                self.pool.slot(session, &server.name).end_reconnect(false);
                self.notifier.publish(session);
                tracing::info!(tools = tools.len(), "connected");
                let state = self.state.get(session, server.name.as_str()).await?;
                let status = ServerStatus::new(&server, state, true).with_link(&self.pool, session);
                self.with_oauth_status(principal, &server, status).await
            }
            // Not a failure of the server: this user has not authorized it
            // (yet, or any more). Nothing stale stays connected.
            Err(err @ Error::OAuthRequired { .. }) => {
                let slot = self.pool.slot(session, &server.name);
                self.pool.close_slot(&mut *slot.link.lock().await).await;
                self.state
                    .set_disconnected(session, server.name.as_str())
                    .await?;
                self.notifier.publish(session);
                tracing::info!("authorization needed");
                Err(err)
            }
            Err(err) => {
                let message = reconnect::failure_message(&err);
                self.pool.slot(session, &server.name).end_reconnect(false);
                tracing::warn!(code = err.code().as_str(), error = %message, "connect failed");
                if let Err(store_err) = self
                    .state
                    .set_failed(session, server.name.as_str(), &message)
                    .await
                {
                    tracing::warn!(error = %store_err, "could not record the failure");
                } else {
                    // A failure replaces a previously connected server's tools.
                    self.notifier.publish(session);
                }
                Err(err)
            }
        }
    }

    /// Opens or reuses the link, pings it and fetches its patched tools.
    async fn connect_server(&self, principal: &Principal, server: &Server) -> Result<Vec<Value>> {
        if !server.enabled {
            return Err(Error::Upstream {
                code: ErrorCode::ServerDisabled,
                message: format!("{} is disabled", server.name),
            });
        }
        let target = self.target_for(principal, server).await?;
        let slot = self.pool.slot(&principal.session, &server.name);
        let mut guard = slot.link.lock().await;
        slot.touch();
        let link = match self
            .live_or_open(&mut guard, &principal.session, &target)
            .await
        {
            Ok(link) => link,
            // The upstream refused this user's token even after a refresh:
            // the user authorizes again.
            Err(err @ Error::OAuthRequired { .. }) => {
                return Err(match &target.oauth {
                    Some(auth) => auth.required().await,
                    None => err,
                });
            }
            Err(err) => return Err(err),
        };
        match self.fetch_tools(&target, &link).await {
            Ok(tools) => Ok(tools),
            Err(err) => {
                self.pool.close_slot(&mut guard).await;
                Err(err)
            }
        }
    }

    async fn fetch_tools(&self, target: &Target, link: &Link) -> Result<Vec<Value>> {
        fetch_tools(target, link.peer(), self.options.tool_fetch_timeout).await
    }

    /// Disconnects a server for the principal's session; other sessions
    /// are untouched.
    #[tracing::instrument(skip_all, fields(session = %principal.session, server = id_or_name))]
    pub async fn disconnect(
        &self,
        principal: &Principal,
        id_or_name: &str,
    ) -> Result<ServerStatus> {
        let started = std::time::Instant::now();
        let answer = self.disconnect_now(principal, id_or_name).await;
        self.audit_status(kind::DISCONNECT, principal, id_or_name, started, &answer);
        answer
    }

    async fn disconnect_now(
        &self,
        principal: &Principal,
        id_or_name: &str,
    ) -> Result<ServerStatus> {
        let server = self.catalog.get_server(principal, id_or_name).await?;
        let slot = self.pool.slot(&principal.session, &server.name);
        slot.end_reconnect(false);
        let mut guard = slot.link.lock().await;
        self.pool.close_slot(&mut guard).await;
        self.state
            .set_disconnected(&principal.session, server.name.as_str())
            .await?;
        self.notifier.publish(&principal.session);
        tracing::info!("disconnected");
        let state = self
            .state
            .get(&principal.session, server.name.as_str())
            .await?;
        Ok(ServerStatus::new(&server, state, false))
    }

    /// Disconnects every server of the session and deletes its state (the
    /// seed's logout path). Returns the names that were connected.
    pub async fn clear_session(&self, principal: &Principal) -> Result<Vec<String>> {
        self.pool.close_session(&principal.session).await;
        let names = self.state.disconnect_all(&principal.session).await?;
        self.state.clear_session(&principal.session).await?;
        self.notifier.publish(&principal.session);
        Ok(names)
    }

    /// The session's live link to a connected server, reopened when this
    /// process has none (after a restart, an eviction, or on another replica).
    pub async fn link(&self, principal: &Principal, id_or_name: &str) -> Result<Arc<Link>> {
        let server = self.catalog.get_server(principal, id_or_name).await?;
        let status = self
            .state
            .status(&principal.session, server.name.as_str())
            .await?;
        match status {
            ConnectionStatus::Connected => {}
            ConnectionStatus::Reconnecting => {
                let slot = self.pool.find(&principal.session, &server.name);
                return Err(unavailable(&server.name, slot.as_deref()));
            }
            _ => {
                return Err(Error::Upstream {
                    code: ErrorCode::ServerNotConnected,
                    message: format!("{} is not connected in this session", server.name),
                });
            }
        }
        if !server.enabled {
            return Err(Error::Upstream {
                code: ErrorCode::ServerDisabled,
                message: format!("{} is disabled", server.name),
            });
        }
        let slot = self.pool.slot(&principal.session, &server.name);
        let mut guard = slot.link.lock().await;
        slot.touch();
        // The hot path: a live link needs no target (for an OAuth server,
        // building one reads the catalog).
        if let Some(link) = live(&guard) {
            return Ok(link);
        }
        // A link that broke is being reopened (or is about to be): calls
        // fail fast rather than open links of their own.
        let broken = guard
            .as_ref()
            .is_some_and(|link| !link.health().is_deliberate());
        if broken || slot.down().is_some() {
            return Err(unavailable(&server.name, Some(&slot)));
        }
        let target = self.target_for(principal, &server).await?;
        self.live_or_open(&mut guard, &principal.session, &target)
            .await
    }

    /// The session's live link to `server` when this process holds one (no
    /// catalog or state-store lookup: the caller has checked, through a
    /// fresh view, that the server is connected and visible), else
    /// [`SessionManager::link`].
    pub async fn live_link(&self, principal: &Principal, server: &str) -> Result<Arc<Link>> {
        if let Ok(name) = crate::catalog::ServerName::parse(server)
            && let Some(slot) = self.pool.find(&principal.session, &name)
        {
            let guard = slot.link.lock().await;
            if let Some(link) = guard.as_ref().filter(|l| !l.is_closed()) {
                slot.touch();
                return Ok(link.clone());
            }
        }
        // Boxed: opening a link is a large future, which every call would
        // otherwise carry (and copy) inline.
        Box::pin(self.link(principal, server)).await
    }

    /// The slot's link when it is still alive, else a newly opened one
    /// stored in the (locked) slot, within the pool's limits.
    async fn live_or_open(
        &self,
        slot: &mut Option<Arc<Link>>,
        session: &SessionId,
        target: &Target,
    ) -> Result<Arc<Link>> {
        if let Some(link) = live(slot) {
            return Ok(link);
        }
        reconnect::open_into(&self.link_context(), &self.pool, slot, session, target).await
    }

    /// What every link's event sink shares with the manager.
    fn link_context(&self) -> LinkContext {
        LinkContext {
            state: self.state.clone(),
            notifier: self.notifier.clone(),
            options: self.options.clone(),
            pool: self.pool.downgrade(),
        }
    }
}

/// `upstream_unavailable` for a server being reconnected, saying when the
/// next attempt starts when this process knows.
fn unavailable(server: &crate::catalog::ServerName, slot: Option<&Slot>) -> Error {
    let down = slot.and_then(Slot::down);
    let mut message = format!("{server} is reconnecting");
    if let Some(down) = &down {
        if let Some(at) = down.retry_at {
            let secs = (at - Utc::now()).num_milliseconds().max(0) as f64 / 1000.0;
            message.push_str(&format!(" (next attempt in {secs:.1} s)"));
        }
        message.push_str(&format!("; last error: {}", down.error));
    }
    Error::Upstream {
        code: ErrorCode::UpstreamUnavailable,
        message,
    }
}

/// The slot's link, unless there is none or it has closed.
fn live(slot: &Option<Arc<Link>>) -> Option<Arc<Link>> {
    slot.as_ref().filter(|l| !l.is_closed()).cloned()
}
