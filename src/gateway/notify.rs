//! Change notifications for open `/mcp` streams. One dispatcher per
//! endpoint ([`Forwarders`]) reads the session event bus
//! ([`SessionNotifier`]) and turns each [`SessionEvent`] into the matching
//! notification on the peers of the MCP sessions registered for that
//! event's session: `notifications/{tools,resources,prompts}/list_changed`,
//! or `notifications/resources/updated` with the URI as that session shows
//! it (wrapped by [`wrap_uri`] on `/mcp`, the upstream's own on the
//! per-server route of that server, not sent to other per-server routes).
//!
//! An idle MCP session holds no task of its own here: only its entry in the
//! dispatcher's map, which its handler removes when the session ends (the
//! [`Registration`] guard). Each event costs one map lookup, not a wake-up
//! of every session's task, and deliveries run on a short task per event
//! so that a client that does not read its stream holds up no other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::{Peer, RoleServer, ServiceError};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::gateway::handler::Scope;
use crate::gateway::namespace::wrap_uri;
use crate::ids::SessionId;
use crate::session::bus::{Change, SessionEvent, SessionNotifier};

/// The MCP sessions to notify, by the session (principal) they show.
#[derive(Clone, Default)]
pub struct Forwarders {
    targets: Arc<Targets>,
}

#[derive(Default)]
struct Targets {
    by_session: Mutex<HashMap<SessionId, Vec<Target>>>,
    next: AtomicU64,
}

/// One MCP session's peer and the scope it shows.
#[derive(Clone)]
struct Target {
    id: u64,
    scope: Scope,
    peer: Peer<RoleServer>,
}

impl Targets {
    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Vec<Target>>> {
        self.by_session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn remove(&self, session: &SessionId, id: u64) {
        let mut by_session = self.lock();
        if let Some(targets) = by_session.get_mut(session) {
            targets.retain(|t| t.id != id);
            if targets.is_empty() {
                by_session.remove(session);
            }
        }
    }
}

/// An MCP session's place in [`Forwarders`]; dropping it (when the
/// session's handler goes) ends its notifications.
pub struct Registration {
    targets: Arc<Targets>,
    session: SessionId,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.targets.remove(&self.session, self.id);
    }
}

impl Forwarders {
    /// Forwarders fed by `notifier`, until `stop` fires or the bus closes.
    pub fn start(notifier: &SessionNotifier, stop: CancellationToken) -> Self {
        let forwarders = Self::default();
        tokio::spawn(dispatch(
            notifier.subscribe(),
            Arc::downgrade(&forwarders.targets),
            stop,
        ));
        forwarders
    }

    /// Notifies `peer`, an MCP session showing `scope` of `session`, of the
    /// session's changes for as long as the returned guard lives.
    pub fn register(
        &self,
        session: SessionId,
        scope: Scope,
        peer: Peer<RoleServer>,
    ) -> Registration {
        let id = self.targets.next.fetch_add(1, Ordering::Relaxed);
        self.targets
            .lock()
            .entry(session.clone())
            .or_default()
            .push(Target { id, scope, peer });
        Registration {
            targets: self.targets.clone(),
            session,
            id,
        }
    }

    /// How many MCP sessions are registered.
    pub fn len(&self) -> usize {
        self.targets.lock().values().map(Vec::len).sum()
    }

    /// The sessions with at least one registered MCP session, each once.
    pub fn sessions(&self) -> Vec<SessionId> {
        self.targets.lock().keys().cloned().collect()
    }

    /// The sessions with an MCP session registered on a toolset route.
    pub fn toolset_sessions(&self) -> Vec<SessionId> {
        self.targets
            .lock()
            .iter()
            .filter(|(_, targets)| targets.iter().any(|t| matches!(t.scope, Scope::Toolset(_))))
            .map(|(session, _)| session.clone())
            .collect()
    }

    /// Whether no MCP session is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads `events` and delivers each to the targets of its session; after
/// missed events, all three list changes to every target (any may have
/// been theirs). Ends with `stop`, the bus, or the last [`Forwarders`].
async fn dispatch(
    mut events: broadcast::Receiver<SessionEvent>,
    targets: std::sync::Weak<Targets>,
    stop: CancellationToken,
) {
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => return,
            received = events.recv() => received,
        };
        let Some(targets) = targets.upgrade() else {
            return;
        };
        match received {
            Ok(event) => {
                let found = targets.lock().get(&event.session).cloned();
                for target in found.unwrap_or_default() {
                    let notes = notifications(&target.scope, &event);
                    if !notes.is_empty() {
                        deliver(&targets, event.session.clone(), target, notes);
                    }
                }
            }
            Err(RecvError::Lagged(_)) => {
                let all: Vec<(SessionId, Target)> = targets
                    .lock()
                    .iter()
                    .flat_map(|(session, list)| list.iter().map(|t| (session.clone(), t.clone())))
                    .collect();
                for (session, target) in all {
                    deliver(&targets, session, target, Note::every_list());
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Sends `notes` to `target` on a task of their own; a target whose
/// transport closed is dropped from `targets`.
fn deliver(targets: &Arc<Targets>, session: SessionId, target: Target, notes: Vec<Note>) {
    let targets = Arc::downgrade(targets);
    tokio::spawn(async move {
        for note in notes {
            let failed = if target.peer.is_transport_closed() {
                Some(ServiceError::TransportClosed)
            } else {
                send(&target.peer, note).await.err()
            };
            if let Some(err) = failed {
                tracing::debug!(%session, error = %err, "change notification not delivered");
                if let Some(targets) = targets.upgrade() {
                    targets.remove(&session, target.id);
                }
                return;
            }
        }
    });
}

/// The notifications the next event of `session` on `events` means for a
/// stream showing `scope` (other sessions' events are skipped); all three
/// list changes when events were missed, since any may have been ours.
/// `None` once the bus is closed. Cancel-safe, like `recv`.
pub(crate) async fn next_notes(
    events: &mut broadcast::Receiver<SessionEvent>,
    session: &SessionId,
    scope: &Scope,
) -> Option<Vec<Note>> {
    loop {
        match events.recv().await {
            Ok(event) if event.session == *session => return Some(notifications(scope, &event)),
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {
                return Some(Note::every_list());
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

/// What one event means for a session showing `scope`: the notifications to
/// send, in order (none when the event is not its business).
pub(crate) fn notifications(scope: &Scope, event: &SessionEvent) -> Vec<Note> {
    if let (Scope::Server(shown), Some(from)) = (scope, &event.server)
        && shown != from
    {
        return Vec::new();
    }
    match &event.change {
        Change::Connections => Note::every_list(),
        Change::Tools => vec![Note::Tools],
        Change::Resources => vec![Note::Resources],
        Change::Prompts => vec![Note::Prompts],
        Change::ResourceUpdated { uri } => match (&event.server, scope) {
            (Some(server), Scope::All | Scope::Toolset(_)) => {
                vec![Note::Updated(wrap_uri(server, uri))]
            }
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

impl Note {
    /// All three list changes (what a session is told when any may apply).
    fn every_list() -> Vec<Note> {
        vec![Note::Tools, Note::Resources, Note::Prompts]
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Quiet;
    impl rmcp::ServerHandler for Quiet {}

    /// A server peer over an in-memory pipe (no handshake), with the
    /// service that keeps it open.
    fn peer() -> (
        Peer<RoleServer>,
        rmcp::service::RunningService<RoleServer, Quiet>,
    ) {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let running = rmcp::service::serve_directly(Quiet, ours, None);
        (running.peer().clone(), running)
    }

    #[tokio::test]
    async fn a_registration_lasts_as_long_as_its_guard() {
        let forwarders = Forwarders::default();
        let session = SessionId::parse("s").expect("valid id");
        let (peer, _running) = peer();
        let first = forwarders.register(session.clone(), Scope::All, peer.clone());
        let second = forwarders.register(session, Scope::Server("fx".into()), peer);
        assert_eq!(forwarders.len(), 2);
        drop(first);
        assert_eq!(forwarders.len(), 1);
        drop(second);
        assert!(forwarders.is_empty());
        assert!(
            forwarders.targets.lock().is_empty(),
            "no entry is left for a session without MCP sessions"
        );
    }

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
