//! [`GatewayHandler`]: the MCP server one `/mcp` session talks to.
//!
//! It lists the caller's connected upstream tools from the state store (no
//! upstream round trip), named `{server}__{tool}` by
//! [`NameMap`](crate::gateway::namespace::NameMap), and
//! forwards `tools/call` to the session's link with the original tool name,
//! returning the upstream result unchanged. The caller is the [`Principal`]
//! the `/mcp` middleware put into the HTTP request's extensions.
//!
//! Once the session is initialized, the handler runs one task that sends
//! `notifications/tools/list_changed` whenever its principal's session
//! connects or disconnects a server (see [`notify`](crate::gateway::notify)).
//! The task ends with the transport or when the handler is dropped.
//! Stateless (2026-07-28) clients never initialize; they get the same
//! notifications on a `subscriptions/listen` stream instead.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::{Arc, OnceLock};

use axum::http::request::Parts;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, DiscoverResult, ErrorCode as RpcCode, Extensions,
    InitializeRequestParams, InitializeResult, ListToolsResult, PaginatedRequestParams,
    ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::json;

use crate::catalog::audit::kind;
use crate::error::{Error, ErrorCode, json_rpc};
use crate::gateway::audit::Audit;
use crate::gateway::exposure::{self, Exposure};
use crate::gateway::info;
use crate::gateway::notify::{Forwarders, Registration};
pub use crate::gateway::scope::Scope;
use crate::gateway::view::{ToolView, ToolViews};
use crate::principal::Principal;
// Resources, prompts and completions (content/).
use crate::gateway::content;
use crate::state::AppState;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResponse,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ReadResourceRequestParams,
    ReadResourceResponse, SubscribeRequestParams, UnsubscribeRequestParams,
};

/// The MCP handler of one `/mcp` session.
#[derive(Clone)]
pub struct GatewayHandler {
    app: AppState,
    /// The process's cached tool views (shared by every handler).
    views: ToolViews,
    /// The upstreams this session exposes.
    scope: Scope,
    /// Where an initialized session registers for change notifications.
    forwarders: Forwarders,
    /// This session's registration (set once initialized), dropped with
    /// the last clone of this handler.
    registration: Arc<OnceLock<Registration>>,
}

impl GatewayHandler {
    /// A handler exposing `scope` of the caller's session, reading tool
    /// lists through `views`; once initialized, the session is notified of
    /// changes through `forwarders`.
    pub fn scoped(app: AppState, views: ToolViews, forwarders: Forwarders, scope: Scope) -> Self {
        Self {
            app,
            views,
            scope,
            forwarders,
            registration: Arc::default(),
        }
    }

    /// The upstreams this handler exposes.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The principal's tool view of this handler's scope.
    async fn view(&self, principal: &Principal) -> Result<Arc<ToolView>, McpError> {
        self.views
            .get(&self.app, principal, &self.scope)
            .await
            .map_err(mcp_error)
    }

    /// On `/mcp`, refuses with `server_failed` while a `fail_closed` server
    /// of the session is `FAILED` (the cached tool view knows; see
    /// [`ToolView::check_open`]). Per-server routes show one server and
    /// need no check.
    /// The audit event of a `kind` request about `target` with `params`.
    fn audit(
        &self,
        kind: &str,
        principal: &Principal,
        context: &RequestContext<RoleServer>,
        target: &str,
        params: &impl serde::Serialize,
    ) -> Audit {
        let parts = context.extensions.get::<Parts>();
        let mut audit = Audit::begin(&self.app, kind, principal, &self.scope, parts);
        audit.target(target);
        audit.request(params);
        audit
    }

    async fn check_open(&self, principal: &Principal) -> Result<(), McpError> {
        if self.scope != Scope::All {
            return Ok(());
        }
        self.view(principal).await?.check_open()
    }
}

/// The caller the `/mcp` middleware authenticated.
fn principal(context: &RequestContext<RoleServer>) -> Result<Principal, McpError> {
    principal_of(&context.extensions)
        .ok_or_else(|| ErrorCode::Unauthorized.mcp_error("no authenticated caller", &[]))
}

/// The caller in the HTTP request parts rmcp put into `extensions`.
fn principal_of(extensions: &Extensions) -> Option<Principal> {
    extensions
        .get::<Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .cloned()
}

/// A domain error as an MCP error with `data.code` (JSON-RPC code and
/// message from [`Error`]); `oauth_required` with an authorization URL
/// becomes a URL elicitation the client can show.
pub fn mcp_error(err: Error) -> McpError {
    if let Error::OAuthRequired {
        server,
        authorization_url: Some(url),
    } = &err
    {
        // URL-mode elicitation (2025-11-25): a client that supports it
        // opens the page for the user, then retries the call.
        return McpError::new(
            RpcCode(json_rpc::URL_ELICITATION_REQUIRED),
            err.to_string(),
            Some(json!({
                "code": err.code(),
                "server": server,
                "elicitations": [{
                    "mode": "url",
                    "elicitationId": format!("oauth-{}", nanoid::nanoid!(16)),
                    "url": url,
                    "message": format!("Authorize {server} for your account, then try again."),
                }],
            })),
        );
    }
    McpError::new(
        RpcCode(err.json_rpc_code()),
        err.public_message(),
        Some(json!({"code": err.code()})),
    )
}

pub(crate) use crate::gateway::call::call_tool;

/// Runs one MCP request and counts it in [`crate::metrics`]: its method,
/// its outcome (`ok`, the gateway's `data.code`, else `rpc_error`, since an
/// upstream's codes are not the gateway's to label) and its duration.
///
/// A plain future around `work` rather than an `async fn`: an `async fn`
/// keeps its argument and the awaited future in two places, which doubled
/// the size (and the copying) of every MCP request's future.
pub(crate) fn metered<T>(
    method: &'static str,
    work: impl Future<Output = Result<T, McpError>>,
) -> impl Future<Output = Result<T, McpError>> {
    use futures::FutureExt as _;
    let started = std::time::Instant::now();
    work.map(move |answer| {
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(err) => outcome_of(err),
        };
        crate::metrics::mcp_request(method, outcome, started.elapsed());
        answer
    })
}

/// The metrics label of an MCP error: the gateway's own `data.code`, or
/// `rpc_error` (an upstream's codes are not the gateway's to label).
pub(crate) fn outcome_of(err: &McpError) -> &'static str {
    err.data
        .as_ref()
        .and_then(|data| data.get("code"))
        .and_then(|code| code.as_str())
        .and_then(|code| ErrorCode::ALL.iter().find(|known| known.as_str() == code))
        .map_or("rpc_error", |known| known.as_str())
}

/// What a `completion/complete` is about: its prompt's name or its
/// resource template's URI.
fn completion_target(request: &CompleteRequestParams) -> String {
    match &request.r#ref {
        rmcp::model::Reference::Prompt(prompt) => prompt.name.clone(),
        rmcp::model::Reference::Resource(resource) => resource.uri.clone(),
        _ => String::new(),
    }
}

/// Tools per `tools/list` page; clients follow `nextCursor` for the rest.
pub const TOOLS_PAGE: usize = 500;

impl ServerHandler for GatewayHandler {
    /// Everything the gateway relays; what a session is actually told is
    /// [`info::describe`] (see `initialize` and `discover`).
    fn get_info(&self) -> ServerConfig {
        info::gateway()
    }

    /// Answers with the protocol version rmcp negotiates and what
    /// [`info::describe`] says for this scope and caller: on a per-server
    /// route the upstream's own capabilities, instructions and `serverInfo`.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        metered("initialize", async move {
            context.peer.set_peer_info(request.clone());
            let mut answer = self.negotiate_initialize(&request)?;
            let principal = principal_of(&context.extensions);
            let described = info::describe(&self.app, principal.as_ref(), &self.scope).await;
            answer.capabilities = described.capabilities;
            answer.server_info = described.server_info;
            answer.instructions = described.instructions;
            if answer.protocol_version.as_str() == crate::gateway::tasks::REVISION {
                crate::gateway::tasks::offer(
                    &self.app,
                    principal.as_ref(),
                    &self.scope,
                    &mut answer.capabilities,
                )
                .await;
            }
            Ok(answer)
        })
        .await
    }

    /// `server/discover` (2026-07-28): the same description as `initialize`.
    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, McpError> {
        let principal = principal_of(&context.extensions);
        let described = info::describe(&self.app, principal.as_ref(), &self.scope).await;
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            described,
        ))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Some(principal) = principal_of(&context.extensions) else {
            tracing::warn!("initialized without an authenticated caller; no change notifications");
            return;
        };
        self.registration.get_or_init(|| {
            self.forwarders
                .register(principal.session, self.scope.clone(), context.peer)
        });
    }

    /// A client's roots changed: the session's upstreams are told, so they
    /// ask again (the answer comes from the client whose call asks).
    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        let Some(principal) = principal_of(&context.extensions) else {
            return;
        };
        for link in self.app.sessions().pool().session_links(&principal.session) {
            if let Err(err) = link.peer().notify_roots_list_changed().await {
                tracing::debug!(server = %link.server, error = %err, "roots/list_changed not delivered upstream");
            }
        }
    }

    /// 2026-07-28 clients may listen for tools, resources and prompts list
    /// changes.
    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        let offered = rmcp::model::SubscriptionFilter::builder()
            .tools_list_changed()
            .resources_list_changed()
            .prompts_list_changed()
            .build();
        Some(requested.intersection(&offered))
    }

    /// Sends the list-changed notifications this handler's scope shows on
    /// the `subscriptions/listen` stream whenever the caller's session
    /// changes, until the client cancels or the stream closes.
    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), McpError> {
        use crate::gateway::notify::{Note, next_notes};
        let session = principal(context.request_context())?.session;
        let mut events = self.app.notifier().subscribe();
        loop {
            let notes = tokio::select! {
                () = context.cancelled() => return Ok(()),
                notes = next_notes(&mut events, &session, &self.scope) => match notes {
                    Some(notes) => notes,
                    None => return Ok(()),
                },
            };
            let accepted = context.accepted();
            let wanted = |flag: Option<bool>| flag == Some(true);
            for note in notes {
                let sink = context.sink();
                // Only what the client asked for (and was granted) goes out;
                // anything else is skipped, never a reason to end the stream.
                let sent = match note {
                    Note::Tools if wanted(accepted.tools_list_changed) => {
                        sink.notify_tool_list_changed().await
                    }
                    Note::Resources if wanted(accepted.resources_list_changed) => {
                        sink.notify_resource_list_changed().await
                    }
                    Note::Prompts if wanted(accepted.prompts_list_changed) => {
                        sink.notify_prompt_list_changed().await
                    }
                    // Resource subscriptions are the legacy methods' business.
                    _ => Ok(()),
                };
                if let Err(err) = sent {
                    tracing::debug!(%session, error = %err, "subscription closed");
                    return Ok(());
                }
            }
        }
    }

    /// `logging/setLevel`: passed to every upstream in scope that offers
    /// logging (their messages reach the client whose call they belong to).
    /// An upstream that refuses is logged and skipped.
    #[allow(deprecated)] // logging is still what pre-2026-07-28 peers use
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        metered("logging/setLevel", async move {
            let principal = principal(&context)?;
            let servers =
                content::servers_in_scope(&self.app, &principal, &self.scope, content::Kind::Any)
                    .await?;
            let requests = servers.iter().map(|server| {
                let level = request.level;
                let principal = &principal;
                async move {
                    let link = content::link(&self.app, principal, server).await?;
                    let offers = link
                        .peer()
                        .peer_info()
                        .is_some_and(|info| info.capabilities.logging.is_some());
                    if offers {
                        let params = rmcp::model::SetLevelRequestParams::new(level);
                        let request = link.peer().set_level(params);
                        content::forward(&self.app, &link, server, "logging/setLevel", request)
                            .await?;
                    }
                    Ok::<(), McpError>(())
                }
            });
            for outcome in futures::future::join_all(requests).await {
                if let Err(err) = outcome {
                    tracing::warn!(error = %err.message, "logging/setLevel not passed on");
                }
            }
            Ok(())
        })
        .await
    }

    /// The requests the endpoint diverted for 2025-11-25 tasks (see
    /// [`tasks`](crate::gateway::tasks)); any other custom method is unknown.
    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CustomResult, McpError> {
        use crate::gateway::tasks;
        let method = match request.method.strip_prefix(tasks::PREFIX) {
            Some(method) if tasks::diverted(&context) => method,
            _ => return Err(tasks::method_not_found(&request.method)),
        };
        let label = crate::metrics::method_label(method);
        metered(label, async move {
            let principal = principal(&context)?;
            let view = self.view(&principal).await?;
            let served = tasks::Tasks {
                app: &self.app,
                scope: &self.scope,
                principal: &principal,
                view,
                context: &context,
            };
            served.serve(method, request.params).await
        })
        .await
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        metered("tools/list", async move {
            let after = content::list::decode_cursor(request.and_then(|r| r.cursor))?;
            let principal = principal(&context)?;
            let view = self.view(&principal).await?;
            if Exposure::of(context.extensions.get::<Parts>(), &view) == Exposure::Search {
                return Ok(ListToolsResult::with_all_items(exposure::listed().to_vec()));
            }
            let (tools, more) = view.page(after.as_deref(), TOOLS_PAGE);
            let next_cursor = more
                .then(|| tools.last())
                .flatten()
                .map(|t| URL_SAFE_NO_PAD.encode(t.name.as_bytes()));
            let tools = tools.to_vec();
            let mut page = ListToolsResult::with_all_items(tools);
            page.next_cursor = next_cursor;
            Ok(page)
        })
        .await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        metered("tools/call", async move {
            let principal = principal(&context)?;
            let origin = crate::gateway::forward::Origin::of(&context);
            call_tool(
                &self.app,
                &self.views,
                &self.scope,
                &principal,
                request,
                &origin,
            )
            .await
        })
        .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        metered("resources/list", async move {
            let cursor = request.and_then(|r| r.cursor);
            content::list_resources(&self.app, &principal(&context)?, &self.scope, cursor).await
        })
        .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        metered("resources/templates/list", async move {
            let cursor = request.and_then(|r| r.cursor);
            content::list_resource_templates(&self.app, &principal(&context)?, &self.scope, cursor)
                .await
        })
        .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        metered("resources/read", async move {
            let principal = principal(&context)?;
            let target = request.uri.clone();
            let audit = self.audit(kind::RESOURCE_READ, &principal, &context, &target, &request);
            let answer = async {
                self.check_open(&principal).await?;
                content::read_resource(&self.app, &principal, &self.scope, request).await
            }
            .await;
            audit.finish(&self.app, &answer);
            answer
        })
        .await
    }

    #[allow(deprecated)] // resources/subscribe is what pre-2026-07-28 clients send
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        metered("resources/subscribe", async move {
            content::subscribe(&self.app, &principal(&context)?, &self.scope, request).await
        })
        .await
    }

    #[allow(deprecated)] // resources/unsubscribe is what pre-2026-07-28 clients send
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        metered("resources/unsubscribe", async move {
            content::unsubscribe(&self.app, &principal(&context)?, &self.scope, request).await
        })
        .await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        metered("prompts/list", async move {
            let cursor = request.and_then(|r| r.cursor);
            content::list_prompts(&self.app, &principal(&context)?, &self.scope, cursor).await
        })
        .await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        metered("prompts/get", async move {
            let principal = principal(&context)?;
            let target = request.name.clone();
            let audit = self.audit(kind::PROMPT_GET, &principal, &context, &target, &request);
            let answer = async {
                self.check_open(&principal).await?;
                content::get_prompt(&self.app, &principal, &self.scope, request).await
            }
            .await;
            audit.finish(&self.app, &answer);
            answer
        })
        .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        metered("completion/complete", async move {
            let principal = principal(&context)?;
            let target = completion_target(&request);
            let audit = self.audit(kind::COMPLETION, &principal, &context, &target, &request);
            let answer = content::complete(&self.app, &principal, &self.scope, request).await;
            audit.finish(&self.app, &answer);
            answer
        })
        .await
    }
}
