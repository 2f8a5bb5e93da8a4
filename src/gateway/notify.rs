//! [`SessionNotifier`]: tells open `/mcp` sessions that their tool list
//! changed.
//!
//! The [`SessionManager`](crate::session::manager::SessionManager) publishes
//! a [`ToolsChanged`] event for a session after every connect attempt, every
//! disconnect and every cleared session. Each `/mcp` session, once
//! initialized, runs one [`forward`] task that turns the events of its
//! principal's session into `notifications/tools/list_changed` on its peer.
//!
//! The channel is per process: a change made on one replica reaches only the
//! `/mcp` sessions open on that replica. Fanning events out across replicas
//! (for example over Redis pub/sub) is not implemented yet.

use std::time::Duration;

use rmcp::{Peer, RoleServer};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::gateway::view::ToolViews;
use crate::session::SessionId;

/// How many events a slow subscriber may fall behind before it lags (a
/// lagging subscriber still notifies once, so no change is lost).
const CAPACITY: usize = 256;

/// How often an idle forwarder checks whether its peer's transport closed.
const CLOSED_CHECK: Duration = Duration::from_secs(5);

/// The tools of `session` may have changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolsChanged {
    /// The session whose connected servers changed.
    pub session: SessionId,
}

/// A per-process broadcast of [`ToolsChanged`] events (clone freely; clones
/// share the channel).
#[derive(Clone)]
pub struct SessionNotifier {
    tx: broadcast::Sender<ToolsChanged>,
    /// Cached tool views, dropped synchronously on every change.
    views: ToolViews,
}

impl std::fmt::Debug for SessionNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionNotifier").finish_non_exhaustive()
    }
}

impl Default for SessionNotifier {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionNotifier {
    /// A notifier with no subscribers yet.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            tx,
            views: ToolViews::new(),
        }
    }

    /// The tool views this notifier keeps current.
    pub fn views(&self) -> &ToolViews {
        &self.views
    }

    /// Announces that the tools of `session` may have changed. Without
    /// subscribers the event is dropped.
    pub fn publish(&self, session: &SessionId) {
        self.views.invalidate(session);
        let _ = self.tx.send(ToolsChanged {
            session: session.clone(),
        });
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ToolsChanged> {
        self.tx.subscribe()
    }

    /// How many forwarders (and other receivers) are listening right now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Spawns the task that sends `notifications/tools/list_changed` to
    /// `peer` for every event of `session`. It ends when `cancel` fires, the
    /// peer's transport closes or a send fails.
    pub fn forward(
        &self,
        session: SessionId,
        peer: Peer<RoleServer>,
        cancel: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(forward(self.subscribe(), session, peer, cancel))
    }
}

/// Forwards the events of `session` from `events` to `peer` until `cancel`
/// fires, the transport closes or a send fails.
pub async fn forward(
    mut events: broadcast::Receiver<ToolsChanged>,
    session: SessionId,
    peer: Peer<RoleServer>,
    cancel: CancellationToken,
) {
    let mut check = tokio::time::interval(CLOSED_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let notify = tokio::select! {
            () = cancel.cancelled() => break,
            _ = check.tick() => {
                if peer.is_transport_closed() {
                    break;
                }
                continue;
            }
            event = events.recv() => match event {
                Ok(event) => event.session == session,
                // Some events were missed: one of them may have been ours.
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => break,
            },
        };
        if !notify {
            continue;
        }
        if peer.is_transport_closed() {
            break;
        }
        if let Err(err) = peer.notify_tool_list_changed().await {
            tracing::debug!(%session, error = %err, "tools/list_changed not delivered");
            break;
        }
    }
    tracing::debug!(%session, "tool change forwarder ended");
}
