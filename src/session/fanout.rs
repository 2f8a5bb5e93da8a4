//! Cross-replica change events over Redis pub/sub.
//!
//! When the state store is Redis, every [`SessionEvent`] published in this
//! process is also published on the channel `{prefix}mcp:events` as JSON
//! tagged with this process's random origin id, and every event another
//! process published there is delivered to this process's `/mcp` sessions
//! (and drops this process's cached tool views of that session). So a
//! connect through REST on replica A reaches a client whose stream is open on
//! replica B.
//!
//! Catalog events travel on the same channel as `{"origin", "catalog":
//! {kind, id, action, server?}}`; session events keep their first format
//! (`{"origin", "session", "server", "change"}`), so replicas of either
//! version read each other's session events, and an older replica ignores
//! catalog events as malformed.
//!
//! Delivery is best effort, like Redis pub/sub itself: while the
//! subscription is down (it reconnects with backoff) other replicas' events
//! are missed; the gateway's cached views still expire after a short TTL,
//! so lists catch up.

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::catalog::events::CatalogEvent;
use crate::ids::SessionId;
use crate::session::bus::{Change, SessionEvent, SessionNotifier};

/// Events waiting to be published; beyond this, new ones are dropped (logged).
pub const QUEUE: usize = 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// An event this process queues for the other replicas.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Session(SessionEvent),
    Catalog(CatalogEvent),
}

/// One session event on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    origin: String,
    session: String,
    server: Option<String>,
    change: Change,
}

/// One catalog event on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct CatalogWire {
    origin: String,
    catalog: CatalogEvent,
}

/// Any message on the channel.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Incoming {
    Catalog(CatalogWire),
    Session(Wire),
}

impl Outgoing {
    fn payload(self, origin: &str) -> serde_json::Result<String> {
        let origin = origin.to_owned();
        match self {
            Self::Session(event) => serde_json::to_string(&Wire {
                origin,
                session: event.session.to_string(),
                server: event.server,
                change: event.change,
            }),
            Self::Catalog(catalog) => serde_json::to_string(&CatalogWire { origin, catalog }),
        }
    }
}

/// The pub/sub channel for a key prefix.
pub fn channel(prefix: &str) -> String {
    format!("{prefix}mcp:events")
}

/// Starts publishing this process's events and delivering other processes'
/// to `notifier`, until `stop` fires. Returns the sender the notifier
/// publishes into.
pub fn start(
    url: &str,
    prefix: &str,
    notifier: SessionNotifier,
    stop: CancellationToken,
) -> Result<mpsc::Sender<Outgoing>, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let origin = nanoid::nanoid!();
    let channel = channel(prefix);
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(publish_loop(
        client.clone(),
        channel.clone(),
        origin.clone(),
        rx,
        stop.clone(),
    ));
    tokio::spawn(subscribe_loop(client, channel, origin, notifier, stop));
    Ok(tx)
}

async fn publish_loop(
    client: redis::Client,
    channel: String,
    origin: String,
    mut events: mpsc::Receiver<Outgoing>,
    stop: CancellationToken,
) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut backoff = BACKOFF_MIN;
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        let Ok(payload) = event.payload(&origin) else {
            continue;
        };
        if conn.is_none() {
            match client.get_multiplexed_async_connection().await {
                Ok(c) => {
                    conn = Some(c);
                    backoff = BACKOFF_MIN;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "change event not published to other replicas");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            }
        }
        if let Some(c) = conn.as_mut() {
            let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(&payload)
                .query_async(c)
                .await;
            if let Err(err) = sent {
                tracing::warn!(error = %err, "change event not published to other replicas");
                conn = None;
            }
        }
    }
}

async fn subscribe_loop(
    client: redis::Client,
    channel: String,
    origin: String,
    notifier: SessionNotifier,
    stop: CancellationToken,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            () = stop.cancelled() => return,
            result = subscribed => result,
        };
        let mut messages = match pubsub {
            Ok(pubsub) => {
                tracing::debug!(%channel, "listening for other replicas' change events");
                backoff = BACKOFF_MIN;
                pubsub.into_on_message()
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot subscribe to other replicas' change events; retrying");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => return,
                message = messages.next() => message,
            };
            let Some(message) = message else {
                tracing::warn!("change-event subscription closed; reconnecting");
                break;
            };
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            match serde_json::from_str::<Incoming>(&payload) {
                Ok(Incoming::Session(wire)) if wire.origin != origin => {
                    if let Ok(session) = SessionId::parse(&wire.session) {
                        notifier.deliver(SessionEvent {
                            session,
                            server: wire.server,
                            change: wire.change,
                        });
                    }
                }
                Ok(Incoming::Catalog(wire)) if wire.origin != origin => {
                    notifier.catalog().deliver(wire.catalog);
                }
                Ok(_) => {}
                Err(err) => tracing::debug!(error = %err, "ignoring a malformed change event"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::events::CatalogAction;
    use crate::ids::CategoryId;

    #[test]
    fn both_kinds_of_event_read_back_and_the_first_format_still_parses() {
        let first = r#"{"origin":"o","session":"alice","server":null,"change":{"kind":"tools"}}"#;
        assert!(matches!(
            serde_json::from_str::<Incoming>(first),
            Ok(Incoming::Session(Wire {
                change: Change::Tools,
                ..
            }))
        ));
        let event = CatalogEvent::category(&CategoryId::generate(), CatalogAction::Updated);
        let payload = Outgoing::Catalog(event.clone())
            .payload("o")
            .expect("serialized");
        match serde_json::from_str::<Incoming>(&payload) {
            Ok(Incoming::Catalog(wire)) => assert_eq!(wire.catalog, event),
            other => panic!("not a catalog event: {other:?}"),
        }
        let category = CatalogEvent::category(&CategoryId::generate(), CatalogAction::Deleted);
        let payload = Outgoing::Catalog(category.clone())
            .payload("o")
            .expect("serialized");
        assert!(matches!(
            serde_json::from_str::<Incoming>(&payload),
            Ok(Incoming::Catalog(wire)) if wire.catalog == category
        ));
    }
}
