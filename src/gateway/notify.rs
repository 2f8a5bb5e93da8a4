//! [`SessionNotifier`]: tells open `/mcp` sessions that what their session
//! exposes changed.
//!
//! The [`SessionManager`](crate::session::manager::SessionManager) publishes
//! a [`SessionEvent`] for a session after every connect attempt, every
//! disconnect and every cleared session (tools changed), and when an upstream
//! link announces a change of its own: its tools, resources or prompts list
//! changed, or one of its resources was updated. Each `/mcp` session, once
//! initialized, runs one [`forward`] task that turns the events of its
//! principal's session into the matching notification on its peer:
//! `notifications/{tools,resources,prompts}/list_changed`, or
//! `notifications/resources/updated` with the URI as that session shows it
//! (wrapped by [`wrap_uri`] on `/mcp`, the upstream's own on the per-server
//! route of that server, not sent to other per-server routes).
//!
//! The notifier also holds the catalog's [`CatalogEvents`] (categories and
//! servers created, changed or deleted), so both kinds of event reach
//! subscribers and other replicas the same way.
//!
//! The channels are per process; with a Redis state store, [`fanout`]
//! carries every event to the other replicas too.
//!
//! [`fanout`]: crate::gateway::fanout

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::{Peer, RoleServer, ServiceError};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::catalog::events::CatalogEvents;
use crate::gateway::fanout::Outgoing;
use crate::gateway::handler::Scope;
use crate::gateway::namespace::wrap_uri;
use crate::gateway::view::ToolViews;
use crate::session::SessionId;

/// How many events a slow subscriber may fall behind before it lags (a
/// lagging subscriber still notifies once, so no change is lost).
const CAPACITY: usize = 256;

/// How often an idle forwarder checks whether its peer's transport closed.
const CLOSED_CHECK: Duration = Duration::from_secs(5);

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Servers were connected, disconnected or failed: the tools, resources
    /// and prompts lists may all have changed.
    Connections,
    /// The tools list.
    Tools,
    /// The resources list.
    Resources,
    /// The prompts list.
    Prompts,
    /// One resource's content, named by the upstream's own URI.
    ResourceUpdated { uri: String },
}

/// Something of `session` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    /// The session whose view changed.
    pub session: SessionId,
    /// The server the change came from; `None` when it may concern any.
    pub server: Option<String>,
    pub change: Change,
}

/// The event [`SessionNotifier::publish`] sends: the tools of a session may
/// have changed (kept for callers of the first version of this module).
pub type ToolsChanged = SessionEvent;

/// A per-process broadcast of [`SessionEvent`]s (clone freely; clones share
/// the channel).
#[derive(Clone)]
pub struct SessionNotifier {
    tx: broadcast::Sender<SessionEvent>,
    /// Cached tool views, dropped synchronously on every tools change.
    views: ToolViews,
    /// Where events also go for other replicas (see `fanout`), once set.
    fanout: Arc<OnceLock<mpsc::Sender<Outgoing>>>,
    /// Catalog changes (shared with the catalog service that publishes them).
    catalog: CatalogEvents,
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
        Self::with_catalog(CatalogEvents::default())
    }

    /// A notifier that also carries `catalog`'s events.
    pub fn with_catalog(catalog: CatalogEvents) -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            tx,
            views: ToolViews::new(),
            fanout: Arc::default(),
            catalog,
        }
    }

    /// The catalog's change events.
    pub fn catalog(&self) -> &CatalogEvents {
        &self.catalog
    }

    /// The tool views this notifier keeps current.
    pub fn views(&self) -> &ToolViews {
        &self.views
    }

    /// Announces that the connected servers of `session` changed (so may
    /// its tools, resources and prompts). Without subscribers the event is
    /// dropped.
    pub fn publish(&self, session: &SessionId) {
        self.publish_change(session, None, Change::Connections);
    }

    /// Announces `change`, coming from `server` (`None`: any), to the open
    /// sessions of `session`. Without subscribers the event is dropped.
    pub fn publish_change(&self, session: &SessionId, server: Option<&str>, change: Change) {
        let event = SessionEvent {
            session: session.clone(),
            server: server.map(str::to_owned),
            change,
        };
        if let Some(fanout) = self.fanout.get()
            && let Err(err) = fanout.try_send(Outgoing::Session(event.clone()))
        {
            tracing::warn!(error = %err, "change event not queued for other replicas");
        }
        self.deliver(event);
    }

    /// Delivers `event` to this process's sessions only (events that came
    /// from another replica).
    pub fn deliver(&self, event: SessionEvent) {
        if matches!(event.change, Change::Tools | Change::Connections) {
            self.views.invalidate(&event.session);
        }
        let _ = self.tx.send(event);
    }

    /// Sends every event (session and catalog) published from now on to
    /// `sender` as well (once; later calls are ignored).
    pub fn set_fanout(&self, sender: mpsc::Sender<Outgoing>) {
        if self.fanout.set(sender.clone()).is_err() {
            return;
        }
        self.catalog.set_forward(move |event| {
            if let Err(err) = sender.try_send(Outgoing::Catalog(event.clone())) {
                tracing::warn!(error = %err, "catalog event not queued for other replicas");
            }
        });
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.tx.subscribe()
    }

    /// How many forwarders (and other receivers) are listening right now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Spawns the task that notifies `peer`, an `/mcp` session showing every
    /// server of `session`, of each change. It ends when `cancel` fires, the
    /// peer's transport closes or a send fails.
    pub fn forward(
        &self,
        session: SessionId,
        peer: Peer<RoleServer>,
        cancel: CancellationToken,
    ) -> JoinHandle<()> {
        self.forward_scoped(session, Scope::All, peer, cancel)
    }

    /// [`forward`](Self::forward) for a session showing `scope`.
    pub fn forward_scoped(
        &self,
        session: SessionId,
        scope: Scope,
        peer: Peer<RoleServer>,
        cancel: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(forward_scoped(
            self.subscribe(),
            session,
            scope,
            peer,
            cancel,
        ))
    }
}

/// Forwards the events of `session` from `events` to `peer` (an `/mcp`
/// session showing every server) until `cancel` fires, the transport closes
/// or a send fails.
pub async fn forward(
    events: broadcast::Receiver<SessionEvent>,
    session: SessionId,
    peer: Peer<RoleServer>,
    cancel: CancellationToken,
) {
    forward_scoped(events, session, Scope::All, peer, cancel).await;
}

/// What one event means for a session showing `scope`: the notifications to
/// send, in order (none when the event is not its business).
/// The notifications a session showing `scope` gets for `event`.
pub(crate) fn notifications(scope: &Scope, event: &SessionEvent) -> Vec<Note> {
    if let (Scope::Server(shown), Some(from)) = (scope, &event.server)
        && shown != from
    {
        return Vec::new();
    }
    match &event.change {
        Change::Connections => vec![Note::Tools, Note::Resources, Note::Prompts],
        Change::Tools => vec![Note::Tools],
        Change::Resources => vec![Note::Resources],
        Change::Prompts => vec![Note::Prompts],
        Change::ResourceUpdated { uri } => match (&event.server, scope) {
            (Some(server), Scope::All) => vec![Note::Updated(wrap_uri(server, uri))],
            (Some(_), Scope::Server(_)) => vec![Note::Updated(uri.clone())],
            // A URI without its server cannot be shown on `/mcp`.
            (None, _) => Vec::new(),
        },
    }
}

/// One notification to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    Tools,
    Resources,
    Prompts,
    Updated(String),
}

async fn send(peer: &Peer<RoleServer>, note: Note) -> Result<(), ServiceError> {
    match note {
        Note::Tools => peer.notify_tool_list_changed().await,
        Note::Resources => peer.notify_resource_list_changed().await,
        Note::Prompts => peer.notify_prompt_list_changed().await,
        Note::Updated(uri) => {
            peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await
        }
    }
}

/// [`forward`] for a session showing `scope`.
pub async fn forward_scoped(
    mut events: broadcast::Receiver<SessionEvent>,
    session: SessionId,
    scope: Scope,
    peer: Peer<RoleServer>,
    cancel: CancellationToken,
) {
    let mut check = tokio::time::interval(CLOSED_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'events: loop {
        let notes = tokio::select! {
            () = cancel.cancelled() => break,
            _ = check.tick() => {
                if peer.is_transport_closed() {
                    break;
                }
                continue;
            }
            event = events.recv() => match event {
                Ok(event) if event.session == session => notifications(&scope, &event),
                Ok(_) => continue,
                // Some events were missed: any of them may have been ours.
                Err(RecvError::Lagged(_)) => vec![Note::Tools, Note::Resources, Note::Prompts],
                Err(RecvError::Closed) => break,
            },
        };
        for note in notes {
            if peer.is_transport_closed() {
                break 'events;
            }
            if let Err(err) = send(&peer, note).await {
                tracing::debug!(%session, error = %err, "change notification not delivered");
                break 'events;
            }
        }
    }
    tracing::debug!(%session, "change forwarder ended");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(server: Option<&str>, change: Change) -> SessionEvent {
        SessionEvent {
            session: SessionId::parse("s").expect("valid id"),
            server: server.map(str::to_owned),
            change,
        }
    }

    #[test]
    fn resource_updates_are_wrapped_on_mcp_and_raw_on_their_own_route_only() {
        let updated = event(
            Some("fx"),
            Change::ResourceUpdated {
                uri: "file:///a".into(),
            },
        );
        assert_eq!(
            notifications(&Scope::All, &updated),
            vec![Note::Updated(wrap_uri("fx", "file:///a"))]
        );
        assert_eq!(
            notifications(&Scope::Server("fx".into()), &updated),
            vec![Note::Updated("file:///a".into())]
        );
        assert!(notifications(&Scope::Server("other".into()), &updated).is_empty());
    }

    #[test]
    fn list_changes_reach_every_route_that_shows_their_server() {
        let tools = event(Some("fx"), Change::Tools);
        assert_eq!(notifications(&Scope::All, &tools), vec![Note::Tools]);
        assert!(notifications(&Scope::Server("other".into()), &tools).is_empty());
        let anyone = event(None, Change::Prompts);
        assert_eq!(
            notifications(&Scope::Server("other".into()), &anyone),
            vec![Note::Prompts]
        );
    }
}
