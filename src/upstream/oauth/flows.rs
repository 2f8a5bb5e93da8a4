//! [`FlowStore`]: what the OAuth broker keeps in the shared state store —
//! pending authorizations and refresh leases — so a callback and a refresh
//! may land on any replica. The broker owns this port; the connection-state
//! store (`session`) implements it, so links never import the session layer.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;

/// A shared handle on the store of OAuth flows and leases.
pub type Flows = Arc<dyn FlowStore>;

/// Pending OAuth authorizations and cross-replica leases.
#[async_trait]
pub trait FlowStore: Send + Sync + 'static {
    /// Stores a pending OAuth authorization (`{prefix}oauth:flow:{id}`) for
    /// `ttl`; `id` is a hash of the flow's `state`, `record` is sealed.
    async fn put_oauth_flow(&self, id: &str, record: &str, ttl: Duration) -> Result<()>;
    /// Reads and deletes a pending OAuth authorization in one step, so a
    /// `state` is used at most once, even across replicas.
    async fn take_oauth_flow(&self, id: &str) -> Result<Option<String>>;
    /// Takes lease `name` (`{prefix}lease:{name}`) for `holder` until `ttl`
    /// passes, if nobody holds it; whether `holder` took it. Not reentrant:
    /// a held lease is refused to everyone, its holder included. `ttl` must
    /// not be zero.
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool>;
    /// Gives lease `name` back if `holder` still holds it (not once it
    /// expired and someone else took it); whether it did.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<bool>;
}
