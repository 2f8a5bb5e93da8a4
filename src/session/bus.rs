//! The session event bus: [`SessionNotifier`] tells whoever listens that
//! what a session exposes changed.
//!
//! The [`SessionManager`](crate::session::manager::SessionManager) publishes
//! a [`SessionEvent`] for a session after every connect attempt, every
//! disconnect and every cleared session (tools changed), and when an upstream
//! link announces a change of its own: its tools, resources or prompts list
//! changed, or one of its resources was updated. The gateway subscribes: each
//! open `/mcp` stream turns its session's events into notifications, and its
//! cached tool views drop stale entries in a synchronous hook
//! ([`SessionNotifier::on_deliver`]). GraphQL subscriptions read the same
//! events.
//!
//! The notifier also holds the catalog's [`CatalogEvents`] (categories and
//! servers created, changed or deleted), so both kinds of event reach
//! subscribers and other replicas the same way.
//!
//! The channels are per process; with a Redis state store, [`fanout`]
//! carries every event to the other replicas too, and API key revocations
//! ([`SessionNotifier::announce_key_revoked`]), which the key cache hears
//! through [`SessionNotifier::on_key_revoked`] (the session layer knows
//! nothing of keys but their ids).
//!
//! [`fanout`]: crate::session::fanout

use std::sync::{Arc, OnceLock, RwLock};

use tokio::sync::broadcast;
use tokio::sync::mpsc;

use crate::catalog::events::CatalogEvents;
use crate::ids::{ApiKeyId, SessionId};
use crate::session::fanout::Outgoing;

/// How many events a slow subscriber may fall behind before it lags (a
/// lagging subscriber still notifies once, so no change is lost).
const CAPACITY: usize = 256;

/// A synchronous listener of delivered events.
type Hook = Box<dyn Fn(&SessionEvent) + Send + Sync>;

/// A synchronous listener of API keys revoked on other replicas.
type KeyHook = Box<dyn Fn(&ApiKeyId) + Send + Sync>;

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

/// A per-process broadcast of [`SessionEvent`]s (clone freely; clones share
/// the channel).
#[derive(Clone)]
pub struct SessionNotifier {
    tx: broadcast::Sender<SessionEvent>,
    /// Called synchronously with every delivered event (see [`SessionNotifier::on_deliver`]).
    hooks: Arc<RwLock<Vec<Hook>>>,
    /// Called with every API key another replica revoked.
    key_hooks: Arc<RwLock<Vec<KeyHook>>>,
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
            hooks: Arc::default(),
            key_hooks: Arc::default(),
            fanout: Arc::default(),
            catalog,
        }
    }

    /// The catalog's change events.
    pub fn catalog(&self) -> &CatalogEvents {
        &self.catalog
    }

    /// Runs `hook` with every event delivered in this process from now on,
    /// synchronously, before any subscriber sees it: caches of what a
    /// session shows (the gateway's tool views) drop stale entries here, so
    /// no reader sees a list older than the event.
    pub fn on_deliver(&self, hook: impl Fn(&SessionEvent) + Send + Sync + 'static) {
        self.hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(hook));
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
        for hook in self.hooks.read().unwrap_or_else(|e| e.into_inner()).iter() {
            hook(&event);
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

    /// Tells the other replicas that API key `id` was revoked (this
    /// process forgot it already). Without a fanout, nothing to do.
    pub fn announce_key_revoked(&self, id: &ApiKeyId) {
        if let Some(fanout) = self.fanout.get()
            && let Err(err) = fanout.try_send(Outgoing::KeyRevoked(id.clone()))
        {
            tracing::warn!(key = %id, error = %err, "API key revocation not queued for other replicas; they forget the key when their cache expires");
        }
    }

    /// Runs `hook` with every API key another replica revoked, as soon as
    /// the announcement arrives (the wiring makes the key cache forget it).
    pub fn on_key_revoked(&self, hook: impl Fn(&ApiKeyId) + Send + Sync + 'static) {
        self.key_hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(hook));
    }

    /// Hands a revocation another replica announced to the hooks.
    pub fn deliver_key_revoked(&self, id: &ApiKeyId) {
        for hook in self
            .key_hooks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            hook(id);
        }
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.tx.subscribe()
    }

    /// How many receivers are listening right now (each `/mcp` endpoint's
    /// dispatcher and tool views, GraphQL subscriptions, `listen` streams).
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}
