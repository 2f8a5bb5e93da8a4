//! stub: replaced by the in-memory backend.
use crate::session::State;

/// Opens the in-memory store.
pub async fn open(_prefix: String, _ttl: std::time::Duration) -> anyhow::Result<State> {
    anyhow::bail!("the memory state store is not built yet")
}
