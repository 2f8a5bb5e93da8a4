//! The GraphQL object types: categories, servers with this session's
//! connection state, Relay connections, and `me`.

use async_graphql::{Context, Enum, ID, Json, Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::admin::graphql::error::GqlResult;
use crate::admin::graphql::limits::{SERVERS_ESTIMATE, TOOLS_ESTIMATE};
use crate::admin::graphql::{app, batch, principal};
use crate::secret::REDACTED;
use crate::session::ConnectionStatus as DomainStatus;
use crate::session::manager::{OAuthStatus as DomainOAuth, ServerStatus, SessionTool};

/// An edge cursor: the catalog's own cursor for "after this item" (the
/// base64url of the list's sort key), so it can be passed back as `after`.
pub(crate) fn cursor_for(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// Relay page information.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// A category in a connection.
#[derive(SimpleObject)]
pub(crate) struct CategoryEdge {
    pub cursor: String,
    pub node: Category,
}

/// A page of categories (ordered by name).
#[derive(SimpleObject)]
pub(crate) struct CategoryConnection {
    pub edges: Vec<CategoryEdge>,
    pub page_info: PageInfo,
    /// Categories matching `search`, across all pages.
    pub total_count: u64,
}

/// A server in a connection.
#[derive(SimpleObject)]
pub(crate) struct ServerEdge {
    pub cursor: String,
    pub node: Server,
}

/// A page of the servers the caller may see (ordered by name).
#[derive(SimpleObject)]
pub(crate) struct ServerConnection {
    pub edges: Vec<ServerEdge>,
    pub page_info: PageInfo,
}

/// A group of servers in the catalog.
pub(crate) struct Category(pub crate::catalog::Category);

#[Object]
impl Category {
    /// `ctg_…`.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// An http(s) URL or a short emoji/text.
    async fn icon(&self) -> Option<&str> {
        self.0.icon.as_deref()
    }
    /// `#RGB`, `#RRGGBB`, `rgb(…)` or `rgba(…)`.
    async fn color(&self) -> Option<&str> {
        self.0.color.as_deref()
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The servers of this category the caller may see, by name.
    #[graphql(complexity = "SERVERS_ESTIMATE.saturating_mul(child_complexity)")]
    async fn servers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Server>> {
        let servers = batch(ctx)?
            .servers_of(app(ctx)?, principal(ctx)?, self.0.id.as_str())
            .await?;
        Ok(servers.into_iter().map(Server::listed).collect())
    }
}

/// Where this session stands with a server.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub(crate) enum ConnectionStatus {
    Connected,
    /// The link broke; the gateway is reopening it.
    Reconnecting,
    Disconnected,
    Failed,
}

impl From<DomainStatus> for ConnectionStatus {
    fn from(status: DomainStatus) -> Self {
        match status {
            DomainStatus::Connected => Self::Connected,
            DomainStatus::Reconnecting => Self::Reconnecting,
            DomainStatus::Disconnected => Self::Disconnected,
            DomainStatus::Failed => Self::Failed,
        }
    }
}

/// For servers with `requiresOauth2`: whether this user has authorized it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub(crate) enum OAuthStatus {
    Authorized,
    Required,
}

impl From<DomainOAuth> for OAuthStatus {
    fn from(status: DomainOAuth) -> Self {
        match status {
            DomainOAuth::Authorized => Self::Authorized,
            DomainOAuth::Required => Self::Required,
        }
    }
}

/// One cached tool of a connected server (the seed's `serialize_tools`).
#[derive(SimpleObject)]
pub(crate) struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// The (patched) JSON Schema of the tool's input, as a JSON string.
    pub schema: String,
}

/// An upstream MCP server, with this session's connection state.
/// Secrets (header and env values, the OAuth client secret) read as `***`.
pub(crate) struct Server {
    server: crate::catalog::Server,
    /// Whether this server came from a list: its state then comes from the
    /// request's batch loader rather than from a read of its own.
    listed: bool,
    /// This session's state, read once on first use.
    status: OnceCell<ServerStatus>,
    /// The state with the cached tools (lists carry no tools).
    detail: OnceCell<ServerStatus>,
}

impl Server {
    /// A server looked up on its own.
    pub(crate) fn new(server: crate::catalog::Server) -> Self {
        Self {
            server,
            listed: false,
            status: OnceCell::new(),
            detail: OnceCell::new(),
        }
    }

    /// A server from a list: state comes from the batch loader.
    pub(crate) fn listed(server: crate::catalog::Server) -> Self {
        Self {
            listed: true,
            ..Self::new(server)
        }
    }

    /// A server whose session state is already known (connect answers).
    pub(crate) fn with_status(server: crate::catalog::Server, status: ServerStatus) -> Self {
        let detail = OnceCell::new_with(status.tools.is_some().then(|| status.clone()));
        Self {
            server,
            listed: false,
            status: OnceCell::new_with(Some(status)),
            detail,
        }
    }

    async fn state(&self, ctx: &Context<'_>) -> async_graphql::Result<&ServerStatus> {
        self.status
            .get_or_try_init(|| async {
                let (app, principal) = (app(ctx)?, principal(ctx)?);
                if self.listed
                    && let Some(status) = batch(ctx)?
                        .status_of(app, principal, self.server.id.as_str())
                        .await?
                {
                    return Ok(status);
                }
                Ok(self.detail(ctx).await?.clone())
            })
            .await
    }

    async fn detail(&self, ctx: &Context<'_>) -> async_graphql::Result<&ServerStatus> {
        self.detail
            .get_or_try_init(|| async {
                let (app, principal) = (app(ctx)?, principal(ctx)?);
                app.sessions()
                    .server_status(principal, self.server.id.as_str())
                    .await
                    .gql()
            })
            .await
    }
}

fn redacted(map: &crate::catalog::model::SecretMap) -> Json<Value> {
    Json(Value::Object(
        map.keys()
            .map(|k| (k.clone(), Value::String(REDACTED.to_owned())))
            .collect(),
    ))
}

#[Object]
impl Server {
    /// `mcp_…`.
    async fn id(&self) -> ID {
        ID(self.server.id.to_string())
    }
    /// Unique slug; the tool namespace.
    async fn name(&self) -> &str {
        self.server.name.as_str()
    }
    async fn title(&self) -> &str {
        &self.server.title
    }
    async fn description(&self) -> &str {
        &self.server.description
    }
    /// `stdio`, `sse`, `websocket` or `streamable_http`.
    async fn transport(&self) -> &'static str {
        self.server.transport.as_str()
    }
    async fn url(&self) -> Option<&str> {
        self.server.url.as_deref()
    }
    /// Extra query parameters merged into `url` (an object of strings).
    async fn query_params(&self) -> Json<&std::collections::BTreeMap<String, String>> {
        Json(&self.server.query_params)
    }
    /// Header names, each value `***` (write-only).
    async fn headers(&self) -> Json<Value> {
        redacted(&self.server.headers)
    }
    async fn command(&self) -> Option<&str> {
        self.server.command.as_deref()
    }
    async fn args(&self) -> &[String] {
        &self.server.args
    }
    /// stdio environment names, each value `***` (write-only).
    async fn env(&self) -> Json<Value> {
        redacted(&self.server.env)
    }
    async fn cwd(&self) -> Option<&str> {
        self.server.cwd.as_deref()
    }
    async fn requires_oauth2(&self) -> bool {
        self.server.requires_oauth2
    }
    async fn is_public(&self) -> bool {
        self.server.is_public
    }
    /// User id of the creator.
    async fn owner(&self) -> &str {
        &self.server.owner
    }
    async fn category_id(&self) -> Option<ID> {
        self.server.category_id.as_ref().map(|c| ID(c.to_string()))
    }
    async fn enabled(&self) -> bool {
        self.server.enabled
    }
    async fn fail_closed(&self) -> bool {
        self.server.fail_closed
    }
    /// Which of the upstream's tools sessions see.
    async fn tool_filter(&self) -> ToolFilter {
        ToolFilter::of(&self.server.tool_filter)
    }
    async fn oauth_client_id(&self) -> Option<&str> {
        self.server.oauth_client_id.as_deref()
    }
    /// `***` when a client secret is stored (write-only).
    async fn oauth_client_secret(&self) -> Option<&'static str> {
        self.server.oauth_client_secret.as_ref().map(|_| REDACTED)
    }
    async fn oauth_scopes(&self) -> &[String] {
        &self.server.oauth_scopes
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.server.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.server.updated_at
    }
    /// This session's connection status.
    async fn status(&self, ctx: &Context<'_>) -> async_graphql::Result<ConnectionStatus> {
        Ok(self.state(ctx).await?.status.into())
    }
    /// How many tools this session has cached for the server.
    async fn tool_count(&self, ctx: &Context<'_>) -> async_graphql::Result<usize> {
        Ok(self.state(ctx).await?.tool_count)
    }
    async fn connected_at(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        Ok(self.state(ctx).await?.connected_at)
    }
    /// Why the last connect failed (`FAILED`) or the link broke
    /// (`RECONNECTING`), redacted.
    async fn last_error(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.state(ctx).await?.last_error.clone())
    }
    /// While `RECONNECTING`: when the next attempt starts.
    async fn retry_at(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime<Utc>>> {
        Ok(self.state(ctx).await?.retry_at)
    }
    /// How often this session's link was reopened after a break.
    async fn reconnects(&self, ctx: &Context<'_>) -> async_graphql::Result<u32> {
        Ok(self.state(ctx).await?.reconnects)
    }
    /// When a request through the link was last answered.
    async fn last_call_at(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        Ok(self.state(ctx).await?.last_call_at)
    }
    /// The MCP protocol version the upstream agreed to (while a link is open).
    async fn protocol_version(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.state(ctx).await?.protocol_version.clone())
    }
    /// For servers with `requiresOauth2`: this user's authorization; null otherwise.
    async fn oauth(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<OAuthStatus>> {
        Ok(self.state(ctx).await?.oauth.map(Into::into))
    }
    /// This session's cached tools for the server (no upstream call).
    #[graphql(complexity = "TOOLS_ESTIMATE.saturating_mul(child_complexity)")]
    async fn tools(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Tool>> {
        let state = self.detail(ctx).await?;
        Ok(state
            .tools
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|tool| {
                let tool = SessionTool::from_cached("", tool);
                Tool {
                    name: tool.name,
                    description: tool.description,
                    schema: tool.input_schema.to_string(),
                }
            })
            .collect())
    }
}

/// Who is calling.
#[derive(SimpleObject)]
pub(crate) struct Me {
    pub user_id: String,
    /// `admin`, `user` or `anonymous`.
    pub role: String,
    /// The connection-state session this principal uses.
    pub session: String,
    /// How the caller authenticated (`api_key`, `jwt` or `anonymous`).
    pub auth: String,
}

/// What `connectMcpServer` / `disconnectMcpServer` did (the seed's
/// `(success, message, server)`).
#[derive(SimpleObject)]
pub(crate) struct ConnectionResult {
    pub success: bool,
    pub message: String,
    /// The server with this session's state after the attempt.
    pub server: Option<Server>,
    /// On failure: the stable error code (`oauth_required`, `upstream_timeout`, …).
    pub code: Option<String>,
    /// With `oauth_required`: where to send the user to authorize the server.
    pub authorization_url: Option<String>,
}

/// What `disconnectAll` did.
#[derive(SimpleObject)]
pub(crate) struct DisconnectAllResult {
    /// Names of the servers that were connected.
    pub disconnected: Vec<String>,
}

/// `allow` and `deny` lists of tool-name globs: a tool passes when `allow`
/// is empty or matches it, and `deny` does not (deny wins).
#[derive(SimpleObject)]
pub(crate) struct ToolFilter {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl ToolFilter {
    pub(crate) fn of(filter: &crate::catalog::tool_filter::ToolFilter) -> Self {
        Self {
            allow: filter.allow.clone(),
            deny: filter.deny.clone(),
        }
    }
}
