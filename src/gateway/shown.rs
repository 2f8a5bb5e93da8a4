//! Keeping `/mcp` clients in step when the catalog changes what they may
//! see of a server while its links stay open: its `tool_filter`, whether it
//! is public, whether it is enabled ([`LinkChange::tools_shown`](crate::catalog::events::LinkChange::tools_shown)).
//!
//! Every replica hears every catalog change (the fanout carries them), and
//! each does two things for its own clients:
//!
//! - drops every cached tool view ([`ToolViews::invalidate_all`]), so the
//!   next `tools/list` or `tools/call` on this replica reads the catalog
//!   again: a tool a filter now hides is `unknown_tool` from then on;
//! - tells each session with an open MCP stream here that has the server
//!   connected (one state-store read per such session) that its tools
//!   changed, through the session bus's local delivery: its streams get
//!   `notifications/tools/list_changed` and GraphQL subscribers hear it.
//!
//! A toolset's change (created, edited, deleted) drops every view too and
//! tells each session with a stream on a toolset route here that its tools
//! changed (which toolset it shows is not checked: such changes are rare).
//!
//! Deleted and renamed servers are not handled here: the session manager
//! forgets their state and announces it to each session that had some.

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::catalog::events::{CatalogEvent, CatalogKind, LinkEffect};
use crate::gateway::notify::Forwarders;
use crate::gateway::view::ToolViews;
use crate::session::State;
use crate::session::bus::{Change, SessionEvent, SessionNotifier};

/// Follows the catalog's changes until `stop` fires (see the module docs).
pub fn follow(
    notifier: &SessionNotifier,
    state: State,
    views: ToolViews,
    forwarders: Forwarders,
    stop: CancellationToken,
) {
    let mut events = notifier.catalog().subscribe();
    let notifier = notifier.clone();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => return,
                event = events.recv() => event,
            };
            match event {
                Ok(event) if event.kind == CatalogKind::Toolset => {
                    views.invalidate_all();
                    for session in forwarders.toolset_sessions() {
                        notifier.deliver(SessionEvent {
                            session,
                            server: None,
                            change: Change::Tools,
                        });
                    }
                }
                Ok(event) => {
                    let Some(server) = shown_change(&event) else {
                        continue;
                    };
                    views.invalidate_all();
                    tell_sessions(&notifier, &state, &forwarders, server).await;
                }
                // A missed change may have been one of these: views are
                // rebuilt; streams hear nothing (they would at the next one).
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "catalog changes missed; tool views rebuilt");
                    views.invalidate_all();
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// The server whose shown tools `event` changed, if it did.
fn shown_change(event: &CatalogEvent) -> Option<&str> {
    event
        .link
        .as_ref()
        .filter(|link| link.tools_shown && link.effect != LinkEffect::Gone)
        .map(|link| link.name.as_str())
}

/// Announces a tools change to each session with a stream on this replica
/// that has `server` connected.
async fn tell_sessions(
    notifier: &SessionNotifier,
    state: &State,
    forwarders: &Forwarders,
    server: &str,
) {
    let sessions = forwarders.sessions();
    let mut told = 0usize;
    for session in sessions {
        match state.connected_servers(&session).await {
            Ok(names) if names.iter().any(|n| n == server) => {
                notifier.deliver(SessionEvent {
                    session,
                    server: Some(server.to_owned()),
                    change: Change::Tools,
                });
                told += 1;
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(%session, error = %err, "could not read a session's servers; it hears of the change at its next list");
            }
        }
    }
    if told > 0 {
        tracing::info!(%server, sessions = told, "told sessions their tools changed with the catalog");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::events::LinkChange;

    fn event(effect: LinkEffect, tools_shown: bool) -> CatalogEvent {
        CatalogEvent::category(
            &crate::ids::CategoryId::generate(),
            crate::catalog::events::CatalogAction::Updated,
        )
        .with_link(LinkChange {
            name: "fx".into(),
            effect,
            tools_shown,
        })
    }

    #[test]
    fn only_changes_of_what_is_shown_of_a_kept_or_changed_server_count() {
        assert_eq!(shown_change(&event(LinkEffect::Kept, true)), Some("fx"));
        assert_eq!(shown_change(&event(LinkEffect::Changed, true)), Some("fx"));
        assert_eq!(shown_change(&event(LinkEffect::Kept, false)), None);
        assert_eq!(shown_change(&event(LinkEffect::Gone, true)), None);
    }
}
