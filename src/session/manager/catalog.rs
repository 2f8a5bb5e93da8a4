//! Keeping sessions in step with the catalog. Connection state and links
//! are keyed by server name, so without this a deleted server would live on
//! in every session under its name (and a new server given that name would
//! inherit its state, its tools and its open link), and a re-pointed server
//! would keep talking to its old upstream.
//!
//! One task per process follows the catalog's [`CatalogEvent`]s, local and
//! from other replicas alike:
//!
//! - [`LinkEffect::Gone`] (deleted or renamed): this process's links to the
//!   old name are closed, on every replica. The replica that made the change
//!   also removes the name's state from every session
//!   ([`StateStore::forget_server`](crate::session::StateStore::forget_server))
//!   and announces a connections change for each session that had some, so
//!   `/mcp` clients get `list_changed` and status subscriptions re-read.
//! - [`LinkEffect::Changed`] (how to reach the upstream changed, or the
//!   server was disabled): links are closed on every replica; the state stays
//!   `CONNECTED`, and the next use opens a link with the new settings. The
//!   cached tools stay until the session connects again (or the upstream
//!   announces a tools change): re-reading them needs each user's own
//!   credentials, which only their next connect has.
//!
//! A call in flight on a closed link ends with `upstream_closed`.

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::SessionManager;
use crate::catalog::ServerName;
use crate::catalog::events::{CatalogEvent, CatalogEvents, LinkEffect};

impl SessionManager {
    /// Starts the task that applies every catalog change from now on to
    /// this process's links and (for local changes) to the sessions' state,
    /// until `stop` fires.
    pub fn follow_catalog(
        &self,
        events: &CatalogEvents,
        stop: CancellationToken,
    ) -> JoinHandle<()> {
        let mut rx = events.subscribe();
        let manager = self.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => return,
                    event = rx.recv() => event,
                };
                match event {
                    Ok(event) => manager.apply_catalog_change(&event).await,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "catalog changes missed; links to changed servers may stay open until idle"
                        );
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }

    /// Applies one catalog change (see the module documentation).
    pub async fn apply_catalog_change(&self, event: &CatalogEvent) {
        let Some(link) = &event.link else { return };
        if link.effect == LinkEffect::Kept {
            return;
        }
        let Ok(name) = ServerName::parse(&link.name) else {
            tracing::warn!(server = %link.name, "a catalog change names no valid server");
            return;
        };
        let closed = self.pool.close_server(&name).await;
        if !closed.is_empty() {
            tracing::info!(server = %name, links = closed.len(), effect = ?link.effect, "closed upstream links of a changed server");
        }
        if link.effect != LinkEffect::Gone || !event.local {
            return;
        }
        match self.state.forget_server(name.as_str()).await {
            Ok(sessions) => {
                tracing::info!(server = %name, sessions = sessions.len(), "forgot a removed server's state");
                for session in &sessions {
                    self.notifier.publish(session);
                }
            }
            Err(err) => {
                tracing::warn!(server = %name, error = %err, "could not forget a removed server's state");
            }
        }
    }
}
