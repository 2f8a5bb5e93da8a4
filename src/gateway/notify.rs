//! Change notifications for open `/mcp` streams: each `/mcp` session, once
//! initialized, runs one forwarder ([`spawn`]) that turns the
//! [`SessionEvent`]s of its principal's session, read from the session event
//! bus ([`SessionNotifier`]), into the matching notification on its peer:
//! `notifications/{tools,resources,prompts}/list_changed`, or
//! `notifications/resources/updated` with the URI as that session shows it
//! (wrapped by [`wrap_uri`] on `/mcp`, the upstream's own on the per-server
//! route of that server, not sent to other per-server routes).

use std::time::Duration;

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::{Peer, RoleServer, ServiceError};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::gateway::handler::Scope;
use crate::gateway::namespace::wrap_uri;
use crate::ids::SessionId;
use crate::session::bus::{Change, SessionEvent, SessionNotifier};

/// How often an idle forwarder checks whether its peer's transport closed.
const CLOSED_CHECK: Duration = Duration::from_secs(5);

/// Spawns the task that notifies `peer`, an `/mcp` session showing `scope`
/// of `session`, of each change published on `notifier`. It ends when
/// `cancel` fires, the peer's transport closes or a send fails.
pub fn spawn(
    notifier: &SessionNotifier,
    session: SessionId,
    scope: Scope,
    peer: Peer<RoleServer>,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(forward(notifier.subscribe(), session, scope, peer, cancel))
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
                return Some(vec![Note::Tools, Note::Resources, Note::Prompts]);
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

/// Forwards the events of `session` from `events` to `peer`, a stream
/// showing `scope`, until `cancel` fires, the transport closes or a send
/// fails.
async fn forward(
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
            notes = next_notes(&mut events, &session, &scope) => match notes {
                Some(notes) => notes,
                None => break,
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
