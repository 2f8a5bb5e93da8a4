//! The relay between one upstream link and the `/mcp` clients whose calls it
//! is serving.
//!
//! rmcp gives every outbound request its own id and progress token, so the
//! upstream never sees the client's. Each forwarded call registers an
//! in-flight entry (upstream id and token → the calling client's peer,
//! request id and own progress token) for as long as it runs; the link's
//! [`UpstreamClient`](crate::upstream::UpstreamClient) looks entries up to:
//!
//! - send `notifications/progress` back to the caller under the caller's
//!   token (and only when the caller asked for progress);
//! - pass `sampling/createMessage`, `elicitation/create` and `roots/list`
//!   to the caller whose call caused them, when the caller declared the
//!   capability, and the answer back upstream. The caller is the call whose
//!   HTTP response stream carried the request (streamable HTTP tells), else
//!   the most recent call on the link; links belong to one session, so this
//!   never crosses users.
//!
//! Everything else an upstream announces about itself (list changes,
//! resource updates) goes to the link's [`LinkEvents`] sink.

use crate::error::ErrorCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
#[allow(deprecated)] // logging is still what pre-2026-07-28 peers use
use rmcp::model::{
    CancelledNotification, CancelledNotificationParam, ClientCapabilities, ClientRequest,
    ClientResult, GetExtensions, LoggingMessageNotificationParam, ProgressNotificationParam,
    ProgressToken, RequestId, ServerRequest,
};
use rmcp::service::{
    InboundStreamOrigin, OriginatingRequestId, PeerRequestOptions, RequestHandle, RoleClient,
};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServiceError};

pub use crate::upstream::downstream::{CallStream, Downstream};
use tokio_util::sync::CancellationToken;

use crate::upstream::task_watch::TaskWatchers;

/// Something an upstream announced about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// `notifications/tools/list_changed`.
    ToolsChanged,
    /// `notifications/resources/list_changed`.
    ResourcesChanged,
    /// `notifications/prompts/list_changed`.
    PromptsChanged,
    /// `notifications/resources/updated`, with the upstream's own URI.
    ResourceUpdated { uri: String },
    /// The link broke without being closed on purpose (not an upstream
    /// message): `link` is its [`LinkHealth::id`](crate::upstream::health::LinkHealth::id).
    Lost { link: u64, reason: String },
}

/// Receives the [`LinkEvent`]s of one link; set by whoever opens the link
/// (the session manager knows the session and server it belongs to).
#[async_trait]
pub trait LinkEvents: Send + Sync + 'static {
    /// Handles one event; `peer` reaches the upstream that sent it.
    async fn handle(&self, peer: Peer<RoleClient>, event: LinkEvent);
}

/// The `/mcp` client a forwarded call came from.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Where the client is reached.
    pub downstream: Downstream,
    /// The id of the client's `tools/call`.
    pub request_id: RequestId,
    /// The progress token the client sent, if it asked for progress.
    pub progress_token: Option<ProgressToken>,
    /// The client's `Mcp-Session-Id` (`None` when it has none): tells the
    /// clients of one principal apart.
    pub client: Option<String>,
}

/// One forwarded call still waiting for its upstream answer.
struct InFlight {
    /// Registration order on this link (the most recent call wins when an
    /// upstream request cannot say which call it belongs to).
    seq: u64,
    upstream_token: ProgressToken,
    caller: Caller,
    /// Fires when the call ends: relayed requests still open are cancelled.
    done: CancellationToken,
    /// Woken by each progress notification of the call.
    activity: Arc<tokio::sync::Notify>,
    /// Progress notifications of the call being forwarded right now.
    forwarding: Arc<tokio::sync::watch::Sender<usize>>,
    /// Whether the call has reported any progress.
    reported: Arc<tokio::sync::watch::Sender<bool>>,
}

#[derive(Default)]
struct Calls {
    next: u64,
    by_id: HashMap<RequestId, InFlight>,
}

/// The in-flight calls of one link, and its event sink.
pub struct Relay {
    calls: Mutex<Calls>,
    /// Held while a call is sent and registered, so that a progress
    /// notification or request racing the registration waits for it.
    registering: tokio::sync::Mutex<()>,
    events: Option<Arc<dyn LinkEvents>>,
    /// The tasks (2025-11-25) this link's clients created: whose status
    /// notifications go where (see [`Relay::watch_task`]).
    tasks: TaskWatchers,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("in_flight", &self.in_flight())
            .field("events", &self.events.is_some())
            .finish()
    }
}

/// Unregisters a call when dropped (the call answered, failed, timed out or
/// was cancelled) and cancels whatever was relayed for it.
pub struct Registration {
    relay: Arc<Relay>,
    id: RequestId,
    activity: Arc<tokio::sync::Notify>,
    forwarding: Arc<tokio::sync::watch::Sender<usize>>,
    reported: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Registration {
    /// Waits (at most `limit`) until the progress notifications of the call
    /// that arrived before its answer have reached the caller: rmcp hands
    /// each notification to its own task, so the last one may still be on
    /// its way when the answer is back, and the caller's stream for the
    /// call closes with the answer.
    pub async fn progress_delivered(&self, limit: std::time::Duration) {
        // A call that reported no progress has none trailing its answer
        // (the hot path of plain calls pays nothing here).
        if *self.forwarding.borrow() == 0 && !*self.reported.borrow() {
            return;
        }
        // Let notification tasks that were already scheduled start.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        let mut forwarding = self.forwarding.subscribe();
        let _ = tokio::time::timeout(limit, forwarding.wait_for(|n| *n == 0)).await;
    }

    /// Resolves at the call's next progress notification from the upstream
    /// (a sign of life, whether or not the caller asked for progress).
    pub async fn progressed(&self) {
        self.activity.notified().await;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(call) = self.relay.lock().by_id.remove(&self.id) {
            call.done.cancel();
        }
    }
}

/// Which server→client request is being relayed, for capability checks.
#[derive(Debug, Clone, Copy)]
enum Needs {
    Sampling,
    Elicitation { url: bool },
    Roots,
}

impl Needs {
    fn method(self) -> &'static str {
        match self {
            Needs::Sampling => "sampling/createMessage",
            Needs::Elicitation { .. } => "elicitation/create",
            Needs::Roots => "roots/list",
        }
    }

    fn allowed_by(self, caps: &ClientCapabilities) -> bool {
        match self {
            Needs::Sampling => caps.sampling.is_some(),
            Needs::Roots => caps.roots.is_some(),
            Needs::Elicitation { url: false } => caps
                .elicitation
                .as_ref()
                // An empty `elicitation: {}` means form mode (2025-06-18).
                .is_some_and(|e| e.form.is_some() || e.url.is_none()),
            Needs::Elicitation { url: true } => {
                caps.elicitation.as_ref().is_some_and(|e| e.url.is_some())
            }
        }
    }
}

impl Relay {
    /// A relay with no calls, reporting link events to `events`.
    pub fn new(events: Option<Arc<dyn LinkEvents>>) -> Self {
        Self {
            calls: Mutex::new(Calls::default()),
            registering: tokio::sync::Mutex::new(()),
            events,
            tasks: TaskWatchers::default(),
        }
    }

    /// Sends the upstream's status notifications of task `upstream_id` to
    /// `peer`, the client that created it, under `exposed_id` (see
    /// [`TaskWatchers`]).
    pub fn watch_task(&self, upstream_id: &str, peer: Peer<RoleServer>, exposed_id: String) {
        self.tasks.watch(upstream_id, peer, exposed_id);
    }

    /// Passes an upstream's `notifications/tasks/status` to the client whose
    /// task it is (see [`TaskWatchers`]).
    pub async fn task_status(&self, params: serde_json::Value) {
        self.tasks.status(params).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many calls are in flight on this link.
    pub fn in_flight(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Sends `request` upstream through `peer` on behalf of `caller` and
    /// registers it until the returned [`Registration`] is dropped.
    pub async fn send(
        self: &Arc<Self>,
        peer: &Peer<RoleClient>,
        request: ClientRequest,
        options: PeerRequestOptions,
        caller: Caller,
    ) -> Result<(RequestHandle<RoleClient>, Registration), ServiceError> {
        let _registering = self.registering.lock().await;
        let handle = peer.send_request_with_option(request, options).await?;
        let registration = self.register(handle.id.clone(), handle.progress_token.clone(), caller);
        Ok((handle, registration))
    }

    /// Registers the call of `caller` the upstream knows as request `id`
    /// with progress token `upstream_token`, until the returned
    /// [`Registration`] is dropped (for calls sent without rmcp's peer:
    /// before they are sent).
    pub fn register(
        self: &Arc<Self>,
        id: RequestId,
        upstream_token: ProgressToken,
        caller: Caller,
    ) -> Registration {
        let activity = Arc::new(tokio::sync::Notify::new());
        let forwarding = Arc::new(tokio::sync::watch::Sender::new(0));
        let reported = Arc::new(tokio::sync::watch::Sender::new(false));
        let mut calls = self.lock();
        let seq = calls.next;
        calls.next += 1;
        calls.by_id.insert(
            id.clone(),
            InFlight {
                seq,
                upstream_token,
                caller,
                done: CancellationToken::new(),
                activity: activity.clone(),
                forwarding: forwarding.clone(),
                reported: reported.clone(),
            },
        );
        drop(calls);
        Registration {
            relay: self.clone(),
            id,
            activity,
            forwarding,
            reported,
        }
    }

    /// Waits for a registration in progress, so that a message racing it
    /// finds its call.
    async fn settled(&self) {
        drop(self.registering.lock().await);
    }

    /// Forwards an upstream progress notification to the caller that owns
    /// its token, under the caller's own token. Dropped when no call owns
    /// it or the caller asked for no progress.
    pub async fn progress(&self, mut params: ProgressNotificationParam) {
        self.settled().await;
        let target = {
            let calls = self.lock();
            let call = calls
                .by_id
                .values()
                .find(|c| c.upstream_token == params.progress_token);
            if let Some(call) = call {
                call.activity.notify_one();
                call.reported.send_replace(true);
            }
            call.and_then(|c| {
                c.caller
                    .progress_token
                    .clone()
                    .map(|t| (c.caller.downstream.clone(), t, c.forwarding.clone()))
            })
        };
        let Some((downstream, token, forwarding)) = target else {
            tracing::debug!(token = ?params.progress_token, "progress for no caller; dropped");
            return;
        };
        forwarding.send_modify(|n| *n += 1);
        params.progress_token = token;
        if let Err(err) = downstream.notify_progress(params).await {
            tracing::debug!(error = %err, "progress not delivered to the caller");
        }
        forwarding.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Forwards an upstream log message to the caller whose call it arrived
    /// with (`origin`), else to the caller of the most recent call on this
    /// link. Dropped when no call is in flight.
    #[allow(deprecated)] // logging is still what pre-2026-07-28 peers use
    pub async fn log(
        &self,
        params: LoggingMessageNotificationParam,
        origin: Option<&InboundStreamOrigin>,
    ) {
        self.settled().await;
        let Some((caller, _)) = self.caller_for(origin) else {
            tracing::debug!("upstream log message outside any call; dropped");
            return;
        };
        if let Err(err) = caller.downstream.notify_log(params).await {
            tracing::debug!(error = %err, "log message not delivered to the caller");
        }
    }

    /// The caller of the call that `origin` names, else of the most recent call.
    fn caller_for(
        &self,
        origin: Option<&InboundStreamOrigin>,
    ) -> Option<(Caller, CancellationToken)> {
        let calls = self.lock();
        let named = match origin {
            Some(InboundStreamOrigin::OutboundRequest(id)) => calls.by_id.get(id),
            _ => None,
        };
        named
            .or_else(|| calls.by_id.values().max_by_key(|c| c.seq))
            .map(|c| (c.caller.clone(), c.done.clone()))
    }

    /// Relays a server→client request from the upstream to the caller whose
    /// call caused it and returns the caller's answer.
    async fn relay(
        &self,
        needs: Needs,
        mut request: ServerRequest,
        upstream: &rmcp::service::RequestContext<RoleClient>,
    ) -> Result<ClientResult, McpError> {
        self.settled().await;
        let origin = upstream.extensions.get::<InboundStreamOrigin>();
        let Some((caller, done)) = self.caller_for(origin) else {
            tracing::debug!(
                code = ErrorCode::NoCaller.as_str(),
                method = needs.method(),
                "refused an upstream request made outside any call"
            );
            return Err(refusal(
                ErrorCode::NoCaller,
                format!("{}: no tool call is in flight on this link", needs.method()),
            ));
        };
        let allowed = caller
            .downstream
            .capabilities()
            .is_some_and(|caps| needs.allowed_by(&caps));
        if !allowed {
            return Err(refusal(
                ErrorCode::ClientCapabilityMissing,
                format!(
                    "{}: the calling client did not declare this capability",
                    needs.method()
                ),
            ));
        }
        // rmcp routes a server→client request to the HTTP stream of the
        // request it names; name the caller's `tools/call`.
        request
            .extensions_mut()
            .insert(OriginatingRequestId(caller.request_id.clone()));
        let upstream_ct = upstream.ct.clone();
        // A task of its own: the task-local "originating request" of this
        // (upstream) handler must not leak into the downstream request.
        let stop = Box::pin(async move {
            tokio::select! {
                () = done.cancelled() => "the tool call that caused this request ended",
                () = upstream_ct.cancelled() => "the upstream cancelled this request",
            }
        });
        let task = tokio::spawn(async move { caller.downstream.ask(request, stop).await });
        let abort = task.abort_handle();
        let _abort_on_drop = scopeguard(move || abort.abort());
        match task.await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(ServiceError::McpError(err))) => Err(err),
            Ok(Err(err)) => Err(refusal(
                ErrorCode::CallerUnreachable,
                format!(
                    "{}: the calling client did not answer: {err}",
                    needs.method()
                ),
            )),
            Err(err) => Err(ErrorCode::Internal
                .mcp_error(format!("{}: relay failed: {err}", needs.method()), &[])),
        }
    }

    /// Relays `sampling/createMessage`.
    pub async fn create_message(
        &self,
        request: ServerRequest,
        upstream: &rmcp::service::RequestContext<RoleClient>,
    ) -> Result<ClientResult, McpError> {
        self.relay(Needs::Sampling, request, upstream).await
    }

    /// Relays `elicitation/create` (`url` mode needs the URL capability).
    pub async fn elicit(
        &self,
        request: ServerRequest,
        url: bool,
        upstream: &rmcp::service::RequestContext<RoleClient>,
    ) -> Result<ClientResult, McpError> {
        self.relay(Needs::Elicitation { url }, request, upstream)
            .await
    }

    /// Relays `roots/list`.
    /// `roots/list` from the upstream: answered by the client whose call it
    /// belongs to, when that is certain and the client declared roots.
    /// Otherwise — outside any call, with calls of several clients in flight
    /// and no way to tell which one asks, or for a client without roots —
    /// the answer is an empty list: never an error, and never one client's
    /// roots for another.
    #[allow(deprecated, reason = "roots are still part of 2025-11-25")]
    pub async fn list_roots(
        &self,
        request: ServerRequest,
        upstream: &rmcp::service::RequestContext<RoleClient>,
    ) -> Result<ClientResult, McpError> {
        self.settled().await;
        let origin = upstream.extensions.get::<InboundStreamOrigin>();
        let owner = self.certain_caller(origin).filter(|caller| {
            caller
                .downstream
                .capabilities()
                .is_some_and(|caps| Needs::Roots.allowed_by(&caps))
        });
        if owner.is_none() {
            tracing::debug!("roots/list with no certain caller that has roots: an empty list");
            return Ok(ClientResult::ListRootsResult(
                rmcp::model::ListRootsResult::default(),
            ));
        }
        self.relay(Needs::Roots, request, upstream).await
    }

    /// The caller of the call `origin` names, or else the one client all
    /// calls in flight come from; `None` when that is not certain.
    fn certain_caller(&self, origin: Option<&InboundStreamOrigin>) -> Option<Caller> {
        let calls = self.lock();
        if let Some(InboundStreamOrigin::OutboundRequest(id)) = origin
            && let Some(call) = calls.by_id.get(id)
        {
            return Some(call.caller.clone());
        }
        let mut callers = calls.by_id.values().map(|c| &c.caller);
        let first = callers.next()?;
        let one_client = first.client.is_some() && callers.all(|c| c.client == first.client);
        one_client.then(|| first.clone())
    }

    /// Hands an event to the link's sink, if it has one.
    pub async fn event(&self, peer: Peer<RoleClient>, event: LinkEvent) {
        match &self.events {
            Some(events) => events.handle(peer, event).await,
            None => tracing::debug!(?event, "link event with no sink; ignored"),
        }
    }
}

/// Sends `notifications/cancelled` for request `id` through `peer`.
pub(crate) async fn cancel<R>(peer: &Peer<R>, id: RequestId, reason: &str)
where
    R: rmcp::service::ServiceRole,
    R::Not: From<CancelledNotification>,
{
    let notification = CancelledNotification::new(CancelledNotificationParam::new(
        Some(id),
        Some(reason.into()),
    ));
    if let Err(err) = peer.send_notification(notification.into()).await {
        tracing::debug!(error = %err, "notifications/cancelled not delivered");
    }
}

/// An MCP error telling the upstream why its request was refused.
fn refusal(code: ErrorCode, message: String) -> McpError {
    code.mcp_error(message, &[])
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
