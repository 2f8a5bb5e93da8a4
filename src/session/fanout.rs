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
//! catalog events as malformed. A revoked API key travels as `{"origin",
//! "key_revoked": "key_…"}` (older replicas ignore it the same way, and
//! forget the key when their principal cache expires).
//!
//! On a Redis Cluster the channel is an ordinary (not sharded) one: the
//! cluster carries a `PUBLISH` on any node to the subscribers on every node,
//! so delivery does not depend on which node owns which slot. One cluster
//! connection (RESP3, so its pushes carry the messages) publishes and
//! subscribes; the redis client subscribes again by itself after a node
//! reconnects or the topology changes.
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

use redis::cluster::ClusterClientBuilder;
use redis::{ProtocolVersion, PushKind};

use crate::catalog::events::CatalogEvent;
use crate::config::StateBackend;
use crate::ids::{ApiKeyId, SessionId};
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
    /// An API key was revoked: every replica forgets it at once.
    KeyRevoked(ApiKeyId),
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

/// One revoked API key on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct KeyWire {
    origin: String,
    key_revoked: String,
}

/// Any message on the channel.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Incoming {
    Catalog(CatalogWire),
    KeyRevoked(KeyWire),
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
            Self::KeyRevoked(id) => serde_json::to_string(&KeyWire {
                origin,
                key_revoked: id.to_string(),
            }),
        }
    }
}

/// The pub/sub channel for a key prefix.
pub fn channel(prefix: &str) -> String {
    format!("{prefix}mcp:events")
}

/// Starts publishing this process's events and delivering other processes'
/// to `notifier`, until `stop` fires, when the state store is Redis or a
/// Redis Cluster. Returns the sender the notifier publishes into (`None` for
/// the memory store: there are no other replicas to reach).
pub fn start(
    backend: &StateBackend<'_>,
    prefix: &str,
    notifier: SessionNotifier,
    stop: CancellationToken,
) -> Result<Option<mpsc::Sender<Outgoing>>, redis::RedisError> {
    let origin = nanoid::nanoid!();
    let channel = channel(prefix);
    let (tx, rx) = mpsc::channel(QUEUE);
    match backend {
        StateBackend::Memory => return Ok(None),
        StateBackend::Redis(url) => {
            let client = redis::Client::open(*url)?;
            tokio::spawn(publish_loop(
                client.clone(),
                channel.clone(),
                origin.clone(),
                rx,
                stop.clone(),
            ));
            tokio::spawn(subscribe_loop(client, channel, origin, notifier, stop));
        }
        StateBackend::Cluster(nodes) => {
            let (pushes, received) = mpsc::channel(QUEUE);
            // Never blocks the connection: past QUEUE waiting messages, drop.
            let push_sender = move |push: redis::PushInfo| pushes.try_send(push);
            let client = ClusterClientBuilder::new(nodes.iter().copied())
                .use_protocol(ProtocolVersion::RESP3)
                .push_sender(push_sender)
                .build()?;
            let link = ClusterLink {
                channel,
                origin,
                notifier,
            };
            tokio::spawn(link.run(client, rx, received, stop));
        }
    }
    Ok(Some(tx))
}

/// Hands an event another process published to this process's listeners
/// (this process's own events come back too and are skipped).
fn deliver(notifier: &SessionNotifier, origin: &str, payload: &str) {
    match serde_json::from_str::<Incoming>(payload) {
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
        Ok(Incoming::KeyRevoked(wire)) if wire.origin != origin => {
            if let Ok(id) = ApiKeyId::parse(&wire.key_revoked) {
                notifier.deliver_key_revoked(&id);
            }
        }
        Ok(_) => {}
        Err(err) => tracing::debug!(error = %err, "ignoring a malformed change event"),
    }
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
            if let Ok(payload) = message.get_payload::<String>() {
                deliver(&notifier, &origin, &payload);
            }
        }
    }
}

/// The cross-replica channel on a Redis Cluster.
struct ClusterLink {
    channel: String,
    origin: String,
    notifier: SessionNotifier,
}

impl ClusterLink {
    /// Connects and subscribes (again after a failure, with backoff), then
    /// publishes `events` and delivers the messages among `pushes`, until
    /// `stop` fires.
    async fn run(
        self,
        client: redis::cluster::ClusterClient,
        mut events: mpsc::Receiver<Outgoing>,
        mut pushes: mpsc::Receiver<redis::PushInfo>,
        stop: CancellationToken,
    ) {
        let mut backoff = BACKOFF_MIN;
        let mut conn = loop {
            let subscribed = async {
                let mut conn = client.get_async_connection().await?;
                conn.subscribe(&self.channel).await?;
                Ok::<_, redis::RedisError>(conn)
            };
            let result = tokio::select! {
                () = stop.cancelled() => return,
                result = subscribed => result,
            };
            match result {
                Ok(conn) => break conn,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot subscribe to other replicas' change events on the Redis Cluster; retrying");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        };
        tracing::debug!(channel = %self.channel, "listening for other replicas' change events on the Redis Cluster");
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                event = events.recv() => {
                    let Some(event) = event else { return };
                    let Ok(payload) = event.payload(&self.origin) else { continue };
                    let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                        .arg(&self.channel)
                        .arg(&payload)
                        .query_async(&mut conn)
                        .await;
                    if let Err(err) = sent {
                        tracing::warn!(error = %err, "change event not published to other replicas");
                    }
                }
                push = pushes.recv() => {
                    let Some(push) = push else { return };
                    if push.kind != PushKind::Message {
                        continue;
                    }
                    let message = redis::Msg::from_push_info(push);
                    if let Some(payload) = message.and_then(|m| m.get_payload::<String>().ok()) {
                        deliver(&self.notifier, &self.origin, &payload);
                    }
                }
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
        let key = ApiKeyId::generate();
        let payload = Outgoing::KeyRevoked(key.clone())
            .payload("o")
            .expect("serialized");
        assert!(matches!(
            serde_json::from_str::<Incoming>(&payload),
            Ok(Incoming::KeyRevoked(wire)) if wire.key_revoked == key.as_str()
        ));
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
