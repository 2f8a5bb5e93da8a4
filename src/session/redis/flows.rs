//! The OAuth broker's [`FlowStore`] on Redis: pending authorization flows
//! (`SET … PX`, taken once with `GETDEL`) and leases (`SET NX PX`, freed by
//! a compare-and-delete script so only the holder frees one).

use std::time::Duration;

use async_trait::async_trait;

use super::{RedisState, text};
use crate::error::Result;
use crate::session::check_lease;
use crate::session::keys;
use crate::upstream::oauth::FlowStore;

/// Deletes `KEYS[1]` only while it holds `ARGV[1]`: a lease is released by
/// its holder only, never after it expired and another holder took it.
const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
";

#[async_trait]
impl FlowStore for RedisState {
    async fn put_oauth_flow(&self, id: &str, record: &str, ttl: Duration) -> Result<()> {
        let key = keys::oauth_flow(&self.prefix, id)?;
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        redis::cmd("SET")
            .arg(&key)
            .arg(record)
            .arg("PX")
            .arg(ms)
            .exec_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// `GETDEL`: of two replicas racing on one callback, one gets the flow.
    async fn take_oauth_flow(&self, id: &str) -> Result<Option<String>> {
        let key = keys::oauth_flow(&self.prefix, id)?;
        let raw: Option<Vec<u8>> = redis::cmd("GETDEL")
            .arg(&key)
            .query_async(&mut self.conn())
            .await?;
        Ok(text(raw))
    }

    /// `SET key holder NX PX ttl`.
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let key = keys::lease(&self.prefix, name)?;
        check_lease(holder, ttl)?;
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut self.conn())
            .await?;
        Ok(set.is_some())
    }

    /// A compare-and-delete script (`EVALSHA`, loaded on first use).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<bool> {
        let key = keys::lease(&self.prefix, name)?;
        let deleted: u64 = redis::Script::new(RELEASE_LEASE)
            .key(&key)
            .arg(holder)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(deleted > 0)
    }
}
