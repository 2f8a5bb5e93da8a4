//! [`Downstream`]: how the relay reaches the `/mcp` client of a forwarded
//! call — through rmcp's session (its [`Peer`]), or through the response
//! stream of a call the gateway answers itself ([`CallStream`]).

use std::sync::Arc;

use async_trait::async_trait;
#[allow(deprecated)] // logging is still what pre-2026-07-28 peers use
use rmcp::model::{
    ClientCapabilities, ClientResult, LoggingMessageNotification, LoggingMessageNotificationParam,
    ProgressNotification, ProgressNotificationParam, ServerNotification, ServerRequest,
};
use rmcp::service::PeerRequestOptions;
use rmcp::{Peer, RoleServer, ServiceError};

use crate::upstream::relay::cancel;

/// The response stream of one call the gateway serves without rmcp's
/// session worker (see `gateway::direct`).
#[async_trait]
pub trait CallStream: Send + Sync + 'static {
    /// The capabilities the client declared in `initialize`.
    fn capabilities(&self) -> Option<ClientCapabilities>;

    /// Sends `notification` to the client on the call's stream.
    async fn notify(&self, notification: ServerNotification) -> Result<(), ServiceError>;

    /// Sends `request` to the client on the call's stream and waits for
    /// its answer. When `stop` resolves first, the client is told with
    /// `notifications/cancelled` (the reason `stop` gives) and the answer
    /// is `ServiceError::Cancelled`.
    async fn ask(
        &self,
        request: ServerRequest,
        stop: futures::future::BoxFuture<'static, &'static str>,
    ) -> Result<ClientResult, ServiceError>;
}

/// Where the client of a forwarded call is reached.
#[derive(Clone)]
pub enum Downstream {
    /// rmcp's session with the client.
    Peer(Peer<RoleServer>),
    /// The response stream of a call the gateway serves itself.
    Stream(Arc<dyn CallStream>),
}

impl std::fmt::Debug for Downstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Downstream::Peer(_) => f.write_str("Downstream::Peer"),
            Downstream::Stream(_) => f.write_str("Downstream::Stream"),
        }
    }
}

impl Downstream {
    /// The capabilities the client declared in `initialize`.
    pub fn capabilities(&self) -> Option<ClientCapabilities> {
        match self {
            Downstream::Peer(peer) => peer.peer_info().map(|info| info.capabilities.clone()),
            Downstream::Stream(stream) => stream.capabilities(),
        }
    }

    /// Sends `notifications/progress`.
    pub async fn notify_progress(
        &self,
        params: ProgressNotificationParam,
    ) -> Result<(), ServiceError> {
        match self {
            Downstream::Peer(peer) => peer.notify_progress(params).await,
            Downstream::Stream(stream) => {
                stream
                    .notify(ProgressNotification::new(params).into())
                    .await
            }
        }
    }

    /// Sends `notifications/message`.
    #[allow(deprecated)] // logging is still what pre-2026-07-28 peers use
    pub async fn notify_log(
        &self,
        params: LoggingMessageNotificationParam,
    ) -> Result<(), ServiceError> {
        match self {
            Downstream::Peer(peer) => peer.notify_logging_message(params).await,
            Downstream::Stream(stream) => {
                stream
                    .notify(LoggingMessageNotification::new(params).into())
                    .await
            }
        }
    }

    /// Sends `request` to the client and waits for its answer, or until
    /// `stop` resolves: then the client is told with
    /// `notifications/cancelled` (the reason `stop` gives) and the answer
    /// is `ServiceError::Cancelled`.
    pub async fn ask(
        &self,
        request: ServerRequest,
        stop: futures::future::BoxFuture<'static, &'static str>,
    ) -> Result<ClientResult, ServiceError> {
        match self {
            Downstream::Peer(peer) => {
                let handle = peer
                    .send_request_with_option(request, PeerRequestOptions::no_options())
                    .await?;
                let id = handle.id.clone();
                tokio::select! {
                    answer = handle.await_response() => answer,
                    reason = stop => {
                        cancel(peer, id, reason).await;
                        Err(ServiceError::Cancelled { reason: Some(reason.into()) })
                    }
                }
            }
            Downstream::Stream(stream) => stream.ask(request, stop).await,
        }
    }
}
