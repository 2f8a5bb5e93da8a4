//! Mutations: categories (the seed's argument shapes), servers (input
//! types), and this session's connections.

use std::collections::BTreeMap;

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object};

use crate::admin::graphql::error::{GqlResult, to_gql};
use crate::admin::graphql::toolsets::{CreateToolsetInput, Toolset, UpdateToolsetInput};
use crate::admin::graphql::types::{Category, ConnectionResult, DisconnectAllResult, Server};
use crate::admin::graphql::{app, principal};
use crate::catalog::input::{CategoryPatch, NewCategory, NewServer, ServerPatch};
use crate::catalog::tool_filter::ToolFilter;
use crate::error::Error;

/// The root of every mutation.
pub struct MutationRoot;

/// A new upstream server. `headers` and `env` are objects of strings whose
/// values are secret: stored encrypted, read back as `***`.
#[derive(InputObject)]
pub(crate) struct CreateServerInput {
    /// Slug `^[a-z0-9][a-z0-9_-]{0,31}$`; the tool namespace.
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `stdio`, `sse`, `websocket` or `streamable_http`.
    pub transport: String,
    pub url: Option<String>,
    pub query_params: Option<Json<BTreeMap<String, String>>>,
    pub headers: Option<Json<BTreeMap<String, String>>>,
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    pub env: Option<Json<BTreeMap<String, String>>>,
    pub cwd: Option<String>,
    pub requires_oauth2: Option<bool>,
    /// Visible to every user (admins only).
    pub is_public: Option<bool>,
    pub category_id: Option<ID>,
    pub enabled: Option<bool>,
    pub fail_closed: Option<bool>,
    /// Which of the upstream's tools sessions see (absent: all).
    pub tool_filter: Option<ToolFilterInput>,
    pub oauth_client_id: Option<String>,
    /// Write-only.
    pub oauth_client_secret: Option<String>,
    pub oauth_scopes: Option<Vec<String>>,
}

impl From<CreateServerInput> for NewServer {
    fn from(i: CreateServerInput) -> Self {
        Self {
            name: i.name,
            title: i.title,
            description: i.description,
            transport: i.transport,
            url: i.url,
            query_params: i.query_params.map(|j| j.0).unwrap_or_default(),
            headers: i.headers.map(|j| j.0).unwrap_or_default(),
            command: i.command,
            args: i.args.unwrap_or_default(),
            env: i.env.map(|j| j.0).unwrap_or_default(),
            cwd: i.cwd,
            requires_oauth2: i.requires_oauth2.unwrap_or(false),
            is_public: i.is_public.unwrap_or(false),
            category_id: i.category_id.map(|id| id.0),
            enabled: i.enabled,
            fail_closed: i.fail_closed.unwrap_or(false),
            tool_filter: i.tool_filter.map(Into::into).unwrap_or_default(),
            oauth_client_id: i.oauth_client_id,
            oauth_client_secret: i.oauth_client_secret,
            oauth_scopes: i.oauth_scopes.unwrap_or_default(),
        }
    }
}

/// Changes to a server: absent fields stay, `null` clears nullable ones.
/// `headers`/`env` replace the whole map; a value of `***` keeps the stored
/// secret for that name.
#[derive(InputObject)]
pub(crate) struct UpdateServerInput {
    pub name: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub transport: Option<String>,
    pub url: MaybeUndefined<String>,
    pub query_params: Option<Json<BTreeMap<String, String>>>,
    pub headers: Option<Json<BTreeMap<String, String>>>,
    pub command: MaybeUndefined<String>,
    pub args: Option<Vec<String>>,
    pub env: Option<Json<BTreeMap<String, String>>>,
    pub cwd: MaybeUndefined<String>,
    pub requires_oauth2: Option<bool>,
    pub is_public: Option<bool>,
    pub category_id: MaybeUndefined<ID>,
    pub enabled: Option<bool>,
    pub fail_closed: Option<bool>,
    /// Replaces the whole filter; `{}` passes every tool.
    pub tool_filter: Option<ToolFilterInput>,
    pub oauth_client_id: MaybeUndefined<String>,
    /// `***` keeps the stored secret; `null` clears it.
    pub oauth_client_secret: MaybeUndefined<String>,
    pub oauth_scopes: Option<Vec<String>>,
}

impl From<UpdateServerInput> for ServerPatch {
    fn from(i: UpdateServerInput) -> Self {
        Self {
            name: i.name,
            title: i.title,
            description: i.description,
            transport: i.transport,
            url: i.url.into(),
            query_params: i.query_params.map(|j| j.0),
            headers: i.headers.map(|j| j.0),
            command: i.command.into(),
            args: i.args,
            env: i.env.map(|j| j.0),
            cwd: i.cwd.into(),
            requires_oauth2: i.requires_oauth2,
            is_public: i.is_public,
            category_id: Option::<Option<ID>>::from(i.category_id).map(|o| o.map(|id| id.0)),
            enabled: i.enabled,
            fail_closed: i.fail_closed,
            tool_filter: i.tool_filter.map(Into::into),
            oauth_client_id: i.oauth_client_id.into(),
            oauth_client_secret: i.oauth_client_secret.into(),
            oauth_scopes: i.oauth_scopes,
        }
    }
}

/// `allow` and `deny` lists of tool-name globs (`*` any run, `?` one
/// character); a tool passes when `allow` is empty or matches it, and
/// `deny` does not (deny wins).
#[derive(InputObject)]
pub(crate) struct ToolFilterInput {
    #[graphql(default)]
    pub allow: Vec<String>,
    #[graphql(default)]
    pub deny: Vec<String>,
}

impl From<ToolFilterInput> for ToolFilter {
    fn from(i: ToolFilterInput) -> Self {
        Self {
            allow: i.allow,
            deny: i.deny,
        }
    }
}

/// A failed connect that is the upstream's or the user's next step, not
/// the request's fault: answered as `success: false`, not as an error.
fn is_soft_failure(err: &Error) -> bool {
    matches!(err, Error::Upstream { .. } | Error::OAuthRequired { .. })
}

#[Object]
impl MutationRoot {
    /// Creates a category (admins).
    async fn create_category(
        &self,
        ctx: &Context<'_>,
        name: String,
        icon: Option<String>,
        color: Option<String>,
        description: Option<String>,
    ) -> async_graphql::Result<Category> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let input = NewCategory {
            name,
            icon,
            color,
            description,
        };
        let category = app
            .catalog()
            .create_category(principal, input)
            .await
            .gql()?;
        Ok(Category(category))
    }

    /// Changes the given fields of a category (admins); `null` clears
    /// `icon` or `color`.
    async fn update_category(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        icon: MaybeUndefined<String>,
        color: MaybeUndefined<String>,
        description: Option<String>,
    ) -> async_graphql::Result<Option<Category>> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let patch = CategoryPatch {
            name,
            icon: icon.into(),
            color: color.into(),
            description,
        };
        let category = app
            .catalog()
            .update_category(principal, &id, patch)
            .await
            .gql()?;
        Ok(Some(Category(category)))
    }

    /// Deletes a category; its servers become uncategorised (admins).
    async fn delete_category(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        app.catalog().delete_category(principal, &id).await.gql()?;
        Ok(true)
    }

    /// Creates a server owned by the caller (public and stdio servers: admins).
    async fn create_server(
        &self,
        ctx: &Context<'_>,
        input: CreateServerInput,
    ) -> async_graphql::Result<Server> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let server = app
            .catalog()
            .create_server(principal, input.into())
            .await
            .gql()?;
        Ok(Server::new(server))
    }

    /// Changes a server (its owner or an admin); `id` also takes the name.
    async fn update_server(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateServerInput,
    ) -> async_graphql::Result<Option<Server>> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let server = app
            .catalog()
            .update_server(principal, &id, input.into())
            .await
            .gql()?;
        Ok(Some(Server::new(server)))
    }

    /// Deletes a server (its owner or an admin); `id` also takes the name.
    async fn delete_server(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        app.catalog().delete_server(principal, &id).await.gql()?;
        Ok(true)
    }

    /// Connects a server (by name or id) for this session and caches its
    /// tools. An upstream failure or a missing OAuth authorization is
    /// `success: false` with `code` (and `authorizationUrl` for
    /// `oauth_required`); a server the caller may not see is null with
    /// `server_not_found`.
    async fn connect_mcp_server(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<Option<ConnectionResult>> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        match app.sessions().connect(principal, &name).await {
            Ok(status) => {
                let server = app.catalog().get_server(principal, &name).await.gql()?;
                let message = format!("connected to {} ({} tools)", server.name, status.tool_count);
                Ok(Some(ConnectionResult {
                    success: true,
                    message,
                    server: Some(Server::with_status(server, status)),
                    code: None,
                    authorization_url: None,
                }))
            }
            Err(err) if is_soft_failure(&err) => {
                let server = app.catalog().get_server(principal, &name).await.gql()?;
                let authorization_url = err.authorization_url().map(str::to_owned);
                Ok(Some(ConnectionResult {
                    success: false,
                    message: err.to_string(),
                    server: Some(Server::new(server)),
                    code: Some(err.code().as_str().to_owned()),
                    authorization_url,
                }))
            }
            Err(err) => Err(to_gql(err)),
        }
    }

    /// Disconnects a server for this session; other sessions are untouched.
    async fn disconnect_mcp_server(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<Option<ConnectionResult>> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let status = app.sessions().disconnect(principal, &name).await.gql()?;
        let server = app.catalog().get_server(principal, &name).await.gql()?;
        Ok(Some(ConnectionResult {
            success: true,
            message: format!("disconnected from {}", server.name),
            server: Some(Server::with_status(server, status)),
            code: None,
            authorization_url: None,
        }))
    }

    /// Disconnects every server of this session and deletes its state.
    async fn disconnect_all(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<DisconnectAllResult> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let disconnected = app.sessions().clear_session(principal).await.gql()?;
        Ok(DisconnectAllResult { disconnected })
    }

    /// Creates a toolset owned by the caller (a public one: admins); every
    /// entry's server must exist and be visible to the caller.
    async fn create_toolset(
        &self,
        ctx: &Context<'_>,
        input: CreateToolsetInput,
    ) -> async_graphql::Result<Toolset> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let toolset = app
            .catalog()
            .create_toolset(principal, input.into())
            .await
            .gql()?;
        Ok(toolset.into())
    }

    /// Changes a toolset (its owner or an admin); `id` also takes the name.
    async fn update_toolset(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateToolsetInput,
    ) -> async_graphql::Result<Option<Toolset>> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let toolset = app
            .catalog()
            .update_toolset(principal, &id, input.into())
            .await
            .gql()?;
        Ok(Some(toolset.into()))
    }

    /// Deletes a toolset (its owner or an admin); `id` also takes the name.
    async fn delete_toolset(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        app.catalog().delete_toolset(principal, &id).await.gql()?;
        Ok(true)
    }

    /// Creates an API key (by default the caller's own with the `user`
    /// role; another user's or an `admin` key: admins only). The answer's
    /// `key` is the only time the secret is ever shown.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: crate::admin::graphql::keys::CreateApiKeyInput,
    ) -> async_graphql::Result<crate::admin::graphql::keys::CreatedApiKey> {
        crate::admin::graphql::keys::create(ctx, input).await
    }

    /// Revokes an API key (admins: any; users: their own): it stops
    /// working on every replica within a second and its open `/mcp`
    /// streams end. `api_key_not_found` when absent, already revoked, or
    /// another user's.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        crate::admin::graphql::keys::revoke(ctx, id).await
    }

    /// Replaces this session's own tool filter (globs over
    /// `{server}__{tool}`; `{}` shows every tool): hidden tools leave the
    /// session's MCP views, whose clients hear `tools/list_changed`.
    async fn set_session_tool_filter(
        &self,
        ctx: &Context<'_>,
        filter: ToolFilterInput,
    ) -> async_graphql::Result<crate::admin::graphql::types::ToolFilter> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let stored = app
            .sessions()
            .set_session_tool_filter(principal, filter.into())
            .await
            .gql()?;
        Ok(crate::admin::graphql::types::ToolFilter::of(&stored))
    }
}
