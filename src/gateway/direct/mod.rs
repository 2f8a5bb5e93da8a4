//! Direct calls: the hot path of `/mcp`, a plain `tools/call` in an MCP
//! session, served without rmcp's session worker.
//!
//! rmcp hands each request of a session to the session's worker task, then
//! to its service task, which spawns one more for the handler; the answer
//! goes back through the same tasks and their channels. On a 2-core machine
//! those hand-offs were most of what the gateway added to a call.
//! [`Sessions`], the session manager of every MCP endpoint, wraps rmcp's
//! own ([`LocalSessionManager`]) and takes the calls it can serve in the
//! HTTP request's own task:
//!
//! - rmcp has checked the request by then (`Accept`, `Content-Type`,
//!   `Host`/`Origin`, the session, `MCP-Protocol-Version`, the standard
//!   headers) and the `/mcp` middleware its caller;
//! - the call is what the handler would run (`handler::call_tool`), and
//!   its answer the JSON-RPC message rmcp would send a legacy-session peer,
//!   on the same kind of SSE response;
//! - the call's progress, the upstream's log messages and its
//!   `sampling`/`elicitation`/`roots` requests go on that response stream
//!   ([`CallStream`](crate::upstream::relay::CallStream)); the client's answers to those requests and its
//!   `notifications/cancelled` for the call come back here
//!   ([`Sessions::accept_message`]) and never reach rmcp.
//!
//! Everything else — `initialize`, other methods, 2025-11-25 task calls
//! (diverted by the middleware), requests that declare their own protocol
//! version in `_meta` — goes to rmcp. A direct call's stream carries no
//! event ids, so a client that loses it cannot resume it with
//! `Last-Event-ID` (rmcp's streams can be resumed for 60 s). A disconnect
//! is not a cancellation: a call whose request is closed before its answer
//! (rmcp's client closes it when it cancels a call whose response head has
//! not come yet) runs on in a task of its own, its answer lost, and the
//! client's `notifications/cancelled` for it still cancels it upstream.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::request::Parts;
use futures::Stream;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientJsonRpcMessage,
    ClientNotification, ClientRequest, ClientResult, GetExtensions, GetMeta, JsonRpcMessage,
    ProgressToken, RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::gateway::binding::BindingStore;
use crate::gateway::forward::Origin;
use crate::gateway::handler::{self, Scope};
use crate::gateway::tasks::Diverted;
use crate::gateway::view::ToolViews;
use crate::principal::Principal;
use crate::state::AppState;
use crate::upstream::relay::Downstream;

mod sleep;
mod stash;
mod stream;

use crate::upstream::relay::CallStream as _;
use sleep::Life;
pub use sleep::{Held, MakeHandler};
pub use stash::{ToolCall, stash};
use stream::{CallEvents, DirectStream};

/// The `initialize` params of the session a request belongs to, as its
/// binding recorded them; the `/mcp` middleware puts them into the
/// request's extensions.
#[derive(Debug, Clone)]
pub struct Hello(pub Arc<serde_json::value::RawValue>);

impl Hello {
    /// `clientInfo.name`, when the params carry one.
    pub fn client_name(&self) -> Option<String> {
        /// The part of the params read here; the rest is skipped unparsed.
        #[derive(serde::Deserialize)]
        struct Params<'a> {
            #[serde(rename = "clientInfo", borrow)]
            client_info: Option<Info<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Info<'a> {
            #[serde(borrow)]
            name: Option<std::borrow::Cow<'a, str>>,
        }
        let params: Params<'_> = serde_json::from_str(self.0.get()).ok()?;
        params.client_info?.name.map(std::borrow::Cow::into_owned)
    }
}

/// The first id of the requests direct calls send to clients: far above
/// the ids rmcp gives its own (a `u32` count from 0), and exact in a
/// JavaScript number.
const FIRST_ASK_ID: i64 = 1 << 40;

/// rmcp's session manager, with direct calls and sleeping sessions (see
/// the module docs and `mcp.session_warm_seconds`).
pub struct Sessions {
    local: Arc<LocalSessionManager>,
    life: Arc<Life>,
    direct: Direct,
}

/// What direct calls of one endpoint need.
#[derive(Clone)]
struct Direct {
    local: Arc<LocalSessionManager>,
    life: Arc<Life>,
    app: AppState,
    views: ToolViews,
    scope: Scope,
    shared: Arc<Shared>,
}

/// A request a direct call sent to its client, waiting for the answer.
type Asked = oneshot::Sender<Result<ClientResult, McpError>>;

/// State the direct calls of one endpoint share.
struct Shared {
    /// Calls in flight, by session and the client's request id; fired by
    /// the client's `notifications/cancelled`.
    calls: Mutex<HashMap<(SessionId, RequestId), CancellationToken>>,
    /// Requests sent to clients on direct-call streams, by session and id.
    asked: Mutex<HashMap<(SessionId, RequestId), Asked>>,
    /// rmcp's idle timeout of a session (`mcp.session_idle_seconds`).
    keep_alive: Duration,
    next_ask: AtomicI64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What [`Sessions`] serve: the scope, and how to make and restore the
/// handler of a session.
pub struct Endpoint {
    pub app: AppState,
    pub views: ToolViews,
    pub scope: Scope,
    /// Makes the handler of a woken session.
    pub make: MakeHandler,
    /// The session bindings of the endpoint's route.
    pub store: BindingStore,
    /// The services of woken sessions end with it.
    pub ct: CancellationToken,
}

impl Sessions {
    /// Wraps `local`, serving direct calls of the endpoint with its views,
    /// putting idle sessions to sleep after `mcp.session_warm_seconds`.
    pub fn new(endpoint: Endpoint, local: Arc<LocalSessionManager>) -> Self {
        let Endpoint {
            app,
            views,
            scope,
            make,
            store,
            ct,
        } = endpoint;
        let keep_alive = local
            .session_config
            .keep_alive
            .unwrap_or(Duration::from_secs(300));
        let mcp = &app.settings().mcp;
        let life = Arc::new(Life::new(
            local.clone(),
            store,
            make,
            ct,
            Duration::from_secs(mcp.session_warm_seconds.min(mcp.session_idle_seconds)),
            Duration::from_secs(mcp.session_idle_seconds),
        ));
        Self {
            local: local.clone(),
            life: life.clone(),
            direct: Direct {
                local,
                life,
                app,
                views,
                scope,
                shared: Arc::new(Shared {
                    calls: Mutex::default(),
                    asked: Mutex::default(),
                    keep_alive,
                    next_ask: AtomicI64::new(FIRST_ASK_ID),
                }),
            },
        }
    }
}

/// A `tools/call` the gateway serves itself.
#[derive(Debug)]
struct Call {
    id: RequestId,
    params: CallToolRequestParams,
    progress_token: Option<ProgressToken>,
    parts: Parts,
}

/// Who serves a message.
#[derive(Debug)]
enum Route {
    /// The gateway: a direct call.
    Direct(Call),
    /// rmcp's session worker.
    Rmcp(ClientJsonRpcMessage),
}

/// Who serves `message`.
fn direct_call(message: ClientJsonRpcMessage) -> Route {
    let JsonRpcMessage::Request(mut request) = message else {
        return Route::Rmcp(message);
    };
    let eligible = matches!(request.request, ClientRequest::CallToolRequest(_))
        && request.request.get_meta().protocol_version().is_none()
        && request
            .request
            .extensions()
            .get::<Parts>()
            .is_some_and(|parts| {
                parts.extensions.get::<Principal>().is_some()
                    && parts.extensions.get::<Diverted>().is_none()
            });
    if !eligible {
        return Route::Rmcp(JsonRpcMessage::Request(request));
    }
    let progress_token = request.request.get_meta().get_progress_token();
    let Some(parts) = request.request.extensions_mut().remove::<Parts>() else {
        return Route::Rmcp(JsonRpcMessage::Request(request));
    };
    let ClientRequest::CallToolRequest(call) = request.request else {
        unreachable!("matched above");
    };
    Route::Direct(Call {
        id: request.id,
        params: call.params,
        progress_token,
        parts,
    })
}

impl Direct {
    /// Serves `call` in `session`: its messages, then its answer.
    fn serve(&self, session: SessionId, call: Call) -> CallEvents {
        let (tx, rx) = mpsc::unbounded_channel();
        let ct = CancellationToken::new();
        let key = (session.clone(), call.id.clone());
        lock(&self.shared.calls).insert(key.clone(), ct.clone());
        let stream = Arc::new(DirectStream::new(
            session.clone(),
            tx,
            call.parts.extensions.get::<Hello>().cloned(),
            self.shared.clone(),
        ));
        // Unregistered when the call ends, or when its stream is dropped
        // before it ever ran.
        let in_flight = InFlight {
            shared: self.shared.clone(),
            key,
        };
        let direct = self.clone();
        let answer = async move {
            let _in_flight = in_flight;
            let id = call.id.clone();
            let answer = direct.answer(call, stream, ct).await;
            direct.touch(&session).await;
            match answer {
                Ok(result) => ServerJsonRpcMessage::response(result, id),
                Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
            }
        };
        CallEvents::new(rx, answer)
    }

    /// The result of `call`, shaped as rmcp shapes it for a legacy-session
    /// peer (every session is one: 2026-07-28 has none).
    async fn answer(
        &self,
        call: Call,
        stream: Arc<DirectStream>,
        ct: CancellationToken,
    ) -> Result<ServerResult, McpError> {
        let Some(principal) = call.parts.extensions.get::<Principal>() else {
            return Err(
                crate::error::ErrorCode::Unauthorized.mcp_error("no authenticated caller", &[])
            );
        };
        let origin = Origin {
            parts: Some(&call.parts),
            downstream: Downstream::Stream(stream.clone()),
            id: call.id.clone(),
            progress_token: call.progress_token.clone(),
            ct,
        };
        let response = handler::metered(
            "tools/call",
            handler::call_tool(
                &self.app,
                &self.views,
                &self.scope,
                principal,
                call.params,
                &origin,
            ),
        )
        .await?;
        match response {
            CallToolResponse::Task(_)
                if !stream
                    .capabilities()
                    .is_some_and(|caps| caps.supports_tasks()) =>
            {
                Err(McpError::missing_required_client_capability(
                    ClientCapabilities::builder().enable_tasks().build(),
                ))
            }
            CallToolResponse::InputRequired(_) => Err(McpError::invalid_request(
                "InputRequiredResult requires negotiated protocol version 2026-07-28 or newer",
                None,
            )),
            response => {
                let mut result = ServerResult::from(response);
                result.strip_result_type_for_legacy_peer();
                result.strip_non_object_output_for_legacy_peer();
                Ok(result)
            }
        }
    }

    /// Tells rmcp's worker of `session` that it is in use, at most every
    /// quarter of its idle timeout: direct calls pass it by, and an idle
    /// worker would end the session (and its GET stream) under them.
    async fn touch(&self, session: &SessionId) {
        if !self.life.used(session, self.shared.keep_alive / 4) {
            return;
        }
        let handle = self.local.sessions.read().await.get(session).cloned();
        if let Some(handle) = handle {
            // Closing a request stream that does not exist is a no-op that
            // counts as activity.
            if let Err(err) = handle.close_request_wise_channel(u64::MAX).await {
                tracing::debug!(error = %err, "touching an MCP session");
            }
        }
    }
}

/// Unregisters a direct call when it ends.
struct InFlight {
    shared: Arc<Shared>,
    key: (SessionId, RequestId),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.shared.calls).remove(&self.key);
    }
}

impl Sessions {
    /// Whether this endpoint holds `id`, awake or asleep.
    pub fn holds(&self, id: &SessionId) -> bool {
        self.life.holds(id)
    }

    /// How many sessions this endpoint holds.
    pub fn held(&self) -> Held {
        self.life.held()
    }

    /// Ends `id` here, awake or asleep: its binding is gone.
    pub async fn end(&self, id: &SessionId) {
        self.life.end(id).await;
    }

    /// Runs `serve` on rmcp's session of `id`, waking it first; if rmcp
    /// lost the session unseen, wakes it once more and tries again.
    async fn on_rmcp<T, F, Fut>(
        &self,
        id: &SessionId,
        serve: F,
    ) -> Result<T, LocalSessionManagerError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, LocalSessionManagerError>>,
    {
        match serve().await {
            Err(LocalSessionManagerError::SessionNotFound(_)) => {
                self.life.lost(id);
                self.life.wake(id).await?;
                serve().await
            }
            served => served,
        }
    }
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.local.create_session().await?;
        self.life.made(&id);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.local.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.life.holds(id) || self.local.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.life.ended(id).await;
        Ok(())
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        use futures::StreamExt as _;
        match direct_call(stash::unstash(message)) {
            Route::Direct(call) => Ok(self.direct.serve(id.clone(), call).left_stream()),
            Route::Rmcp(message) => {
                let open = self.life.open(id).await?;
                let stream = match self.local.create_stream(id, message.clone()).await {
                    Err(LocalSessionManagerError::SessionNotFound(_)) => {
                        self.life.lost(id);
                        self.life.wake(id).await?;
                        self.local.create_stream(id, message).await?
                    }
                    stream => stream?,
                };
                Ok(stream
                    .map(move |event| {
                        let _open = &open;
                        event
                    })
                    .right_stream())
            }
        }
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        let shared = &self.direct.shared;
        let message = match message {
            JsonRpcMessage::Notification(notification) => {
                if let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                    && let Some(request) = &cancelled.params.request_id
                    && let Some(ct) = lock(&shared.calls).get(&(id.clone(), request.clone()))
                {
                    ct.cancel();
                    return Ok(());
                }
                JsonRpcMessage::Notification(notification)
            }
            JsonRpcMessage::Response(response) => {
                match lock(&shared.asked).remove(&(id.clone(), response.id.clone())) {
                    Some(asked) => {
                        let _ = asked.send(Ok(response.result));
                        return Ok(());
                    }
                    None => JsonRpcMessage::Response(response),
                }
            }
            JsonRpcMessage::Error(error) => {
                let asked = error
                    .id
                    .as_ref()
                    .and_then(|request| lock(&shared.asked).remove(&(id.clone(), request.clone())));
                match asked {
                    Some(asked) => {
                        let _ = asked.send(Err(error.error));
                        return Ok(());
                    }
                    None => JsonRpcMessage::Error(error),
                }
            }
            message => message,
        };
        self.life.wake_if_asleep(id).await?;
        self.on_rmcp(id, || self.local.accept_message(id, message.clone()))
            .await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        use futures::StreamExt as _;
        let open = self.life.open(id).await?;
        let stream = self
            .on_rmcp(id, || self.local.create_standalone_stream(id))
            .await?;
        Ok(stream.map(move |event| {
            let _open = &open;
            event
        }))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        use futures::StreamExt as _;
        let open = self.life.open(id).await?;
        let stream = self.local.resume(id, last_event_id).await?;
        Ok(stream.map(move |event| {
            let _open = &open;
            event
        }))
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let outcome = self.local.restore_session(id.clone()).await?;
        if matches!(outcome, RestoreOutcome::Restored(_)) {
            self.life.made(&id);
        }
        Ok(outcome)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.local.event_store()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_tools_call_with_its_caller_is_served_directly() {
        let ping: ClientJsonRpcMessage = serde_json::from_value(serde_json::json!(
            {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        ))
        .expect("a ping");
        assert!(matches!(direct_call(ping), Route::Rmcp(_)));
        // No HTTP request parts with an authenticated caller: rmcp's.
        let call: ClientJsonRpcMessage = serde_json::from_value(serde_json::json!(
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo"}}
        ))
        .expect("a call");
        let back = direct_call(call);
        assert!(
            matches!(back, Route::Rmcp(JsonRpcMessage::Request(r)) if r.id == RequestId::Number(2))
        );
    }

    #[test]
    fn the_client_name_is_read_from_the_stored_params() {
        let hello = |json: &str| {
            Hello(Arc::from(
                serde_json::value::RawValue::from_string(json.into()).expect("json"),
            ))
        };
        let stored = r#"{"protocolVersion":"2025-11-25","capabilities":{"roots":{}},"clientInfo":{"version":"1","name":"lang\"chain"}}"#;
        assert_eq!(hello(stored).client_name().as_deref(), Some("lang\"chain"));
        assert_eq!(hello(r#"{"capabilities":{}}"#).client_name(), None);
        assert_eq!(hello(r#"{"clientInfo":{"name":7}}"#).client_name(), None);
        assert_eq!(hello("[]").client_name(), None);
    }
}
