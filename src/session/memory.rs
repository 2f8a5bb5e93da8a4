//! The embedded state store: a map behind one mutex, with the same key layout
//! ([`keys`]), values and TTL rules as the Redis backend.
//!
//! Every entry carries a deadline; an entry past it reads as absent, and a
//! purge task removes such entries periodically (every `min(ttl, 60 s)`, at
//! least once a second). The task stops when the store is dropped: the store
//! holds the [`DropGuard`] of the token the task waits on.
//!
//! Each operation runs under the lock from start to end (no `.await` inside),
//! so every write is atomic and readers see either all of it or none of it.
//! Stored values are only ever written by this file, so they always parse;
//! the read path still treats anything unexpected as documented in
//! `decode` in the session module rather than panicking.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::keys::{self, SessionKeys};
use super::{
    ConnectionState, ConnectionStatus, McpBinding, SessionId, State, StateStore, check_lease,
    decode, decode_binding, decode_tool_filter, encode_binding, encode_tool_filter,
};
use crate::catalog::tool_filter::ToolFilter;
use crate::error::{Error, Result};
use crate::upstream::oauth::FlowStore;

/// Longest pause between two purges.
const MAX_PURGE_PERIOD: Duration = Duration::from_secs(60);
/// Shortest pause between two purges.
const MIN_PURGE_PERIOD: Duration = Duration::from_secs(1);

/// Opens an empty in-memory store whose entries live `ttl` after each write.
///
/// Must be called inside a Tokio runtime (it starts the purge task).
pub async fn open(prefix: String, ttl: Duration) -> anyhow::Result<State> {
    let (store, _purge_task) = MemoryState::start(prefix, ttl)?;
    Ok(Arc::new(store))
}

/// Removes expired entries every `period` until `token` is cancelled or the
/// map is gone.
async fn purge(map: std::sync::Weak<Mutex<Map>>, token: CancellationToken, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let Some(map) = map.upgrade() else { return };
        let now = Instant::now();
        lock(&map).retain(|_, entry| entry.expires_at > now);
    }
}

type Map = HashMap<String, Entry>;

#[derive(Debug)]
struct Entry {
    value: Value,
    expires_at: Instant,
}

/// What a key holds: a string (like Redis `SET`) or a set (like `SADD`).
#[derive(Debug)]
enum Value {
    Text(String),
    Set(BTreeSet<String>),
}

/// Locks the map, recovering from a poisoned lock (no operation leaves the
/// map half-written: each one only inserts or removes whole entries).
fn lock(map: &Mutex<Map>) -> MutexGuard<'_, Map> {
    map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The in-memory [`StateStore`].
pub struct MemoryState {
    prefix: String,
    ttl: Duration,
    map: Arc<Mutex<Map>>,
    /// Cancels the purge task when the store is dropped.
    _purge: DropGuard,
}

impl std::fmt::Debug for MemoryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryState")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// One locked view of the map, with the clock read once.
struct Txn<'a> {
    map: MutexGuard<'a, Map>,
    now: Instant,
    expires_at: Instant,
}

impl Txn<'_> {
    /// The live text at `key`, if any.
    fn text(&self, key: &str) -> Option<&str> {
        match self.map.get(key) {
            Some(Entry {
                value: Value::Text(text),
                expires_at,
            }) if *expires_at > self.now => Some(text),
            _ => None,
        }
    }

    /// The live members of the set at `key` (empty if none).
    fn members(&self, key: &str) -> Vec<String> {
        match self.map.get(key) {
            Some(Entry {
                value: Value::Set(set),
                expires_at,
            }) if *expires_at > self.now => set.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// `SET key value EX ttl`.
    fn set(&mut self, key: &str, value: String) {
        let entry = Entry {
            value: Value::Text(value),
            expires_at: self.expires_at,
        };
        self.map.insert(key.to_owned(), entry);
    }

    /// `DEL key`.
    fn del(&mut self, key: &str) {
        self.map.remove(key);
    }

    /// `GETEX key PX ttl`: the live text at `key`, its deadline pushed to
    /// the TTL from now (a key in use never expires).
    fn get_refreshed(&mut self, key: &str) -> Option<String> {
        let raw = self.text(key)?.to_owned();
        let expires_at = self.expires_at;
        if let Some(entry) = self.map.get_mut(key) {
            entry.expires_at = expires_at;
        }
        Some(raw)
    }

    /// `SADD key member` then `EXPIRE key ttl`.
    fn sadd(&mut self, key: &str, member: &str) {
        let (now, expires_at) = (self.now, self.expires_at);
        let entry = self.map.entry(key.to_owned()).or_insert_with(|| Entry {
            value: Value::Set(BTreeSet::new()),
            expires_at,
        });
        // An expired set (or, never here, another kind of value) starts over,
        // as Redis would after the key expired.
        if entry.expires_at <= now || !matches!(entry.value, Value::Set(_)) {
            entry.value = Value::Set(BTreeSet::new());
        }
        if let Value::Set(set) = &mut entry.value {
            set.insert(member.to_owned());
        }
        entry.expires_at = expires_at;
    }

    /// `SREM key member` then `EXPIRE key ttl` (an emptied set disappears).
    fn srem(&mut self, key: &str, member: &str) {
        let (now, expires_at) = (self.now, self.expires_at);
        let Some(entry) = self.map.get_mut(key) else {
            return;
        };
        let emptied = match &mut entry.value {
            Value::Set(set) if entry.expires_at > now => {
                set.remove(member);
                set.is_empty()
            }
            _ => true,
        };
        if emptied {
            self.map.remove(key);
        } else {
            entry.expires_at = expires_at;
        }
    }
}

impl MemoryState {
    /// The store and its purge task, which ends when the store is dropped.
    fn start(prefix: String, ttl: Duration) -> anyhow::Result<(Self, JoinHandle<()>)> {
        Self::start_with_period(prefix, ttl, ttl.clamp(MIN_PURGE_PERIOD, MAX_PURGE_PERIOD))
    }

    fn start_with_period(
        prefix: String,
        ttl: Duration,
        period: Duration,
    ) -> anyhow::Result<(Self, JoinHandle<()>)> {
        if ttl.is_zero() {
            anyhow::bail!("the state TTL must be greater than 0");
        }
        let map: Arc<Mutex<Map>> = Arc::default();
        let token = CancellationToken::new();
        let task = tokio::spawn(purge(Arc::downgrade(&map), token.clone(), period));
        let store = Self {
            prefix,
            ttl,
            map,
            _purge: token.drop_guard(),
        };
        Ok((store, task))
    }

    fn txn(&self) -> Txn<'_> {
        let now = Instant::now();
        Txn {
            map: lock(&self.map),
            now,
            expires_at: now + self.ttl,
        }
    }

    fn session(&self, session: &SessionId) -> SessionKeys {
        SessionKeys::new(&self.prefix, session)
    }

    /// The `set_disconnected` writes, inside an open transaction.
    fn disconnect_in(txn: &mut Txn<'_>, keys: &SessionKeys, server: &str) -> Result<()> {
        let k = keys.server(server)?;
        txn.set(
            &k.status,
            ConnectionStatus::Disconnected.as_str().to_owned(),
        );
        txn.del(&k.tools);
        txn.del(&k.connected_at);
        txn.del(&k.error);
        txn.srem(&keys.connections(), server);
        Ok(())
    }
}

#[async_trait]
impl StateStore for MemoryState {
    async fn get(&self, session: &SessionId, server: &str) -> Result<ConnectionState> {
        let keys = self.session(session).server(server)?;
        let txn = self.txn();
        let [status, tools, connected_at, error] = keys.all().map(|key| txn.text(key));
        Ok(decode(status, tools, connected_at, error))
    }

    async fn set_connected(
        &self,
        session: &SessionId,
        server: &str,
        tools: &[serde_json::Value],
        connected_at: DateTime<Utc>,
    ) -> Result<()> {
        let keys = self.session(session);
        let k = keys.server(server)?;
        let tools = serde_json::to_string(tools).map_err(Error::internal)?;
        let mut txn = self.txn();
        txn.set(&k.status, ConnectionStatus::Connected.as_str().to_owned());
        txn.set(&k.tools, tools);
        txn.set(
            &k.connected_at,
            connected_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        );
        txn.del(&k.error);
        txn.sadd(&keys.connections(), server);
        Ok(())
    }

    async fn set_reconnecting(
        &self,
        session: &SessionId,
        server: &str,
        error: &str,
    ) -> Result<bool> {
        let keys = self.session(session);
        let k = keys.server(server)?;
        let mut txn = self.txn();
        let live = matches!(
            txn.text(&k.status).and_then(ConnectionStatus::parse),
            Some(ConnectionStatus::Connected | ConnectionStatus::Reconnecting)
        );
        if live {
            txn.set(
                &k.status,
                ConnectionStatus::Reconnecting.as_str().to_owned(),
            );
            txn.set(&k.error, error.to_owned());
        }
        Ok(live)
    }

    async fn set_failed(&self, session: &SessionId, server: &str, error: &str) -> Result<()> {
        let keys = self.session(session);
        let k = keys.server(server)?;
        let mut txn = self.txn();
        txn.set(&k.status, ConnectionStatus::Failed.as_str().to_owned());
        txn.set(&k.error, error.to_owned());
        txn.del(&k.tools);
        txn.del(&k.connected_at);
        txn.srem(&keys.connections(), server);
        Ok(())
    }

    async fn set_disconnected(&self, session: &SessionId, server: &str) -> Result<()> {
        let keys = self.session(session);
        keys.server(server)?;
        let mut txn = self.txn();
        Self::disconnect_in(&mut txn, &keys, server)
    }

    async fn connected_servers(&self, session: &SessionId) -> Result<Vec<String>> {
        let keys = self.session(session);
        // A BTreeSet iterates in order: already sorted.
        Ok(self.txn().members(&keys.connections()))
    }

    async fn disconnect_all(&self, session: &SessionId) -> Result<Vec<String>> {
        let keys = self.session(session);
        let mut txn = self.txn();
        let servers = txn.members(&keys.connections());
        for server in &servers {
            // A name that is no valid server name cannot have been added.
            Self::disconnect_in(&mut txn, &keys, server)?;
        }
        Ok(servers)
    }

    async fn clear_session(&self, session: &SessionId) -> Result<u64> {
        let keys = self.session(session);
        let mut txn = self.txn();
        let now = txn.now;
        let mut deleted = 0;
        txn.map.retain(|key, entry| {
            if !keys.owns(key) {
                return true;
            }
            // Like Redis, an expired key is gone already and not counted.
            if entry.expires_at > now {
                deleted += 1;
            }
            false
        });
        Ok(deleted)
    }

    async fn forget_server(&self, server: &str) -> Result<Vec<SessionId>> {
        keys::check_server(server)?;
        let mut txn = self.txn();
        let now = txn.now;
        let mut affected = BTreeSet::new();
        txn.map.retain(|key, entry| {
            let Some(session) = keys::session_of(keys::Layout::Plain, &self.prefix, key, server)
            else {
                return true;
            };
            let live = entry.expires_at > now;
            match &mut entry.value {
                // The connections set: drop the member, keep the TTL.
                Value::Set(set) => {
                    if set.remove(server) && live {
                        affected.insert(session);
                    }
                    live && !set.is_empty()
                }
                Value::Text(_) => {
                    if live {
                        affected.insert(session);
                    }
                    false
                }
            }
        });
        Ok(affected.into_iter().collect())
    }

    async fn bind_mcp_session(&self, id: &str, binding: &McpBinding) -> Result<()> {
        let key = keys::mcp_binding(&self.prefix, id)?;
        let value = encode_binding(binding)?;
        self.txn().set(&key, value);
        Ok(())
    }

    async fn mcp_session(&self, id: &str) -> Result<Option<McpBinding>> {
        let key = keys::mcp_binding(&self.prefix, id)?;
        let raw = self.txn().get_refreshed(&key);
        Ok(raw.and_then(|raw| decode_binding(&raw)))
    }

    async fn forget_mcp_session(&self, id: &str) -> Result<bool> {
        let key = keys::mcp_binding(&self.prefix, id)?;
        let mut txn = self.txn();
        let existed = txn.text(&key).is_some();
        txn.del(&key);
        Ok(existed)
    }

    async fn tool_filter(&self, session: &SessionId) -> Result<ToolFilter> {
        let key = self.session(session).tool_filter();
        let raw = self.txn().get_refreshed(&key);
        Ok(raw.map(|raw| decode_tool_filter(&raw)).unwrap_or_default())
    }

    async fn set_tool_filter(&self, session: &SessionId, filter: &ToolFilter) -> Result<()> {
        let key = self.session(session).tool_filter();
        if filter.is_empty() {
            self.txn().del(&key);
        } else {
            let value = encode_tool_filter(filter)?;
            self.txn().set(&key, value);
        }
        Ok(())
    }

    async fn health(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl FlowStore for MemoryState {
    async fn put_oauth_flow(&self, id: &str, record: &str, ttl: Duration) -> Result<()> {
        let key = keys::oauth_flow(&self.prefix, id)?;
        let mut txn = self.txn();
        txn.expires_at = txn.now + ttl;
        txn.set(&key, record.to_owned());
        Ok(())
    }

    async fn take_oauth_flow(&self, id: &str) -> Result<Option<String>> {
        let key = keys::oauth_flow(&self.prefix, id)?;
        let mut txn = self.txn();
        let record = txn.text(&key).map(str::to_owned);
        txn.del(&key);
        Ok(record)
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let key = keys::lease(&self.prefix, name)?;
        check_lease(holder, ttl)?;
        let mut txn = self.txn();
        if txn.text(&key).is_some() {
            return Ok(false);
        }
        txn.expires_at = txn.now + ttl;
        txn.set(&key, holder.to_owned());
        Ok(true)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<bool> {
        let key = keys::lease(&self.prefix, name)?;
        let mut txn = self.txn();
        if txn.text(&key) != Some(holder) {
            return Ok(false);
        }
        txn.del(&key);
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sid(raw: &str) -> SessionId {
        SessionId::parse(raw).unwrap()
    }

    /// A deadline `limit` from now on Tokio's clock, the one the store's
    /// TTLs and purges run on.
    fn deadline(limit: Duration) -> Instant {
        Instant::now() + limit
    }

    /// One poll step: panics naming `what` past `deadline`, else waits a
    /// little on Tokio's clock (no time at all when it is paused).
    async fn poll_step(deadline: Instant, what: &str) {
        assert!(Instant::now() < deadline, "not yet: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_purge_task_removes_expired_entries() {
        let ttl = Duration::from_millis(300);
        let period = Duration::from_millis(100);
        let (store, _task) = MemoryState::start_with_period("p:".into(), ttl, period).unwrap();
        let tools = [serde_json::json!({"name": "t"})];
        let by = deadline(Duration::from_millis(700));
        store
            .set_connected(&sid("s"), "a", &tools, Utc::now())
            .await
            .unwrap();
        store.set_failed(&sid("s"), "b", "boom").await.unwrap();
        // a: status, tools, connected_at and the set; b: status, error.
        assert_eq!(lock(&store.map).len(), 6);
        while !lock(&store.map).is_empty() {
            poll_step(by, "the purge removed every entry 700 ms after the writes").await;
        }
        assert_eq!(lock(&store.map).len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_read_as_absent_before_the_purge() {
        let ttl = Duration::from_millis(100);
        let period = Duration::from_secs(3600);
        let (store, _task) = MemoryState::start_with_period(String::new(), ttl, period).unwrap();
        let tools = [serde_json::json!({"name": "t"})];
        let written = Instant::now();
        store
            .set_connected(&sid("s"), "a", &tools, Utc::now())
            .await
            .unwrap();
        let by = deadline(Duration::from_millis(300));
        while store.get(&sid("s"), "a").await.unwrap() != ConnectionState::disconnected() {
            poll_step(by, "a reads as absent 300 ms after the write").await;
        }
        assert!(written.elapsed() >= ttl, "a read as absent before its TTL");
        assert_eq!(lock(&store.map).len(), 4, "not purged yet");
        assert_eq!(
            store.get(&sid("s"), "a").await.unwrap(),
            ConnectionState::disconnected()
        );
        assert!(store.connected_servers(&sid("s")).await.unwrap().is_empty());
        assert!(store.disconnect_all(&sid("s")).await.unwrap().is_empty());
        assert_eq!(store.clear_session(&sid("s")).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn the_purge_task_stops_when_the_store_is_dropped() {
        let (store, task) = MemoryState::start(String::new(), Duration::from_secs(3600)).unwrap();
        assert!(!task.is_finished());
        drop(store);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the purge task ended")
            .unwrap();
    }

    #[tokio::test]
    async fn a_zero_ttl_is_refused() {
        assert!(open(String::new(), Duration::ZERO).await.is_err());
    }
}
