//! The Redis state store, on a standalone Redis or a Redis Cluster (see
//! `link` for the connection and what differs between the two).
//!
//! - Key names come from [`keys`] only; on a cluster a session's keys carry
//!   its id as hash tag ([`keys::Layout`]), so they share one slot.
//! - Every write is one `MULTI`/`EXEC` transaction
//!   ([`redis::pipe().atomic()`](redis::Pipeline::atomic)), and `get` reads the
//!   four keys of a server with one `MGET`, so a reader never sees `CONNECTED`
//!   without its tools. Each key is written with `PX ttl` and each write ends
//!   with `PEXPIRE` on the session's connections set.
//! - `clear_session` walks the session's keys with `SCAN MATCH … COUNT`
//!   (never `KEYS`; on a cluster, on every master) and `UNLINK`s them page by
//!   page; `forget_server` walks every session's keys the same way.
//! - A lease is taken with `SET key holder NX PX ttl` and released by a Lua
//!   compare-and-delete, so only its holder ever frees it.
//! - Start-up fails fast with a clear message when Redis is unreachable. Once
//!   running, an outage turns calls into [`Error::Unavailable`] within about
//!   the timeouts in `link` (never a hang), and the same store works again
//!   once Redis is back: the connection reconnects on its own.
//!
//! Stored garbage never panics; see `decode` in the session module for how it reads.

mod flows;
mod link;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};

use self::link::{Link, Scan};
use super::keys::{self, Layout, SessionKeys};
use super::{
    ConnectionState, ConnectionStatus, McpBinding, SessionId, State, StateStore, decode,
    decode_binding, decode_tool_filter, encode_binding, encode_tool_filter,
};
use crate::catalog::tool_filter::ToolFilter;
use crate::error::{Error, Result};

/// Overall limit on start-up (connect, handshake and the first `PING`).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// `set_reconnecting`: only a `CONNECTED` or `RECONNECTING` server becomes
/// `RECONNECTING` (KEYS: status, error, connections set; ARGV: error, TTL in
/// ms); answers 1 when written.
const SET_RECONNECTING: &str = r"
local status = redis.call('GET', KEYS[1])
if status == 'CONNECTED' or status == 'RECONNECTING' then
    redis.call('SET', KEYS[1], 'RECONNECTING', 'PX', ARGV[2])
    redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
    redis.call('PEXPIRE', KEYS[3], ARGV[2])
    return 1
end
return 0
";

/// Connects to the standalone Redis at `url`; fails with a clear message if
/// it is not reachable now. Every key is written under `prefix` with `ttl`.
pub async fn connect(url: &str, prefix: String, ttl: Duration) -> anyhow::Result<State> {
    Ok(Arc::new(RedisState::connect(url, prefix, ttl).await?))
}

/// Connects to the Redis Cluster of the seed `nodes` (node URLs); fails
/// with a clear message if it is not reachable now. Every key is written
/// under `prefix` with `ttl`, a session's keys in one slot.
pub async fn connect_cluster(
    nodes: &[&str],
    prefix: String,
    ttl: Duration,
) -> anyhow::Result<State> {
    Ok(Arc::new(
        RedisState::connect_cluster(nodes, prefix, ttl).await?,
    ))
}

/// The Redis [`StateStore`].
#[derive(Clone)]
pub struct RedisState {
    conn: Link,
    prefix: String,
    /// The TTL in milliseconds (`PX` / `PEXPIRE`), at least 1.
    ttl_ms: u64,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("layout", &self.conn.layout())
            .field("prefix", &self.prefix)
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

/// `url` with any password replaced, for messages.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Only fails for URLs that cannot carry a password at all.
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(an unparsable URL)".to_owned(),
    }
}

impl RedisState {
    /// Connects to a standalone Redis and checks the link with a `PING`.
    pub async fn connect(url: &str, prefix: String, ttl: Duration) -> anyhow::Result<Self> {
        let shown = redacted(url);
        Self::open(Link::standalone(url), prefix, ttl)
            .await
            .with_context(|| format!("cannot reach the Redis state store at {shown}"))
    }

    /// Connects to a Redis Cluster by its seed `nodes` and checks every
    /// master with a `PING`.
    pub async fn connect_cluster(
        nodes: &[&str],
        prefix: String,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let shown: Vec<String> = nodes.iter().map(|node| redacted(node)).collect();
        Self::open(Link::cluster(nodes), prefix, ttl)
            .await
            .with_context(|| {
                format!(
                    "cannot reach the Redis Cluster state store at {}",
                    shown.join(", ")
                )
            })
    }

    async fn open(
        link: impl Future<Output = redis::RedisResult<Link>>,
        prefix: String,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if ttl_ms == 0 {
            anyhow::bail!("the state TTL must be at least 1 ms");
        }
        let start = async {
            let store = Self {
                conn: link.await?,
                prefix,
                ttl_ms,
            };
            store.health().await?;
            anyhow::Ok(store)
        };
        tokio::time::timeout(STARTUP_TIMEOUT, start)
            .await
            .map_err(|_| anyhow::anyhow!("timed out after {STARTUP_TIMEOUT:?}"))
            .and_then(|res| res)
    }

    fn session(&self, session: &SessionId) -> SessionKeys {
        SessionKeys::in_layout(self.conn.layout(), &self.prefix, session)
    }

    /// A handle for one call (clones share the one multiplexed connection).
    fn conn(&self) -> Link {
        self.conn.clone()
    }

    /// Queues the `set_disconnected` writes of one server (no set refresh).
    fn queue_disconnect(
        &self,
        pipe: &mut redis::Pipeline,
        keys: &SessionKeys,
        server: &str,
    ) -> Result<()> {
        let k = keys.server(server)?;
        self.queue_sets(
            pipe,
            &[(&k.status, ConnectionStatus::Disconnected.as_str())],
        );
        pipe.cmd("DEL")
            .arg(&k.tools)
            .arg(&k.connected_at)
            .arg(&k.error)
            .ignore()
            .cmd("SREM")
            .arg(keys.connections())
            .arg(server)
            .ignore();
        Ok(())
    }

    /// Queues the refresh of the connections set's TTL (a no-op once it is gone).
    /// Queues `SET key value PX ttl` for each pair.
    fn queue_sets(&self, pipe: &mut redis::Pipeline, pairs: &[(&String, &str)]) {
        for (key, value) in pairs {
            pipe.cmd("SET")
                .arg(*key)
                .arg(*value)
                .arg("PX")
                .arg(self.ttl_ms)
                .ignore();
        }
    }

    fn queue_set_refresh(&self, pipe: &mut redis::Pipeline, keys: &SessionKeys) {
        pipe.cmd("PEXPIRE")
            .arg(keys.connections())
            .arg(self.ttl_ms)
            .ignore();
    }
}

/// Bytes read back as text; stored garbage is not worth an error.
fn text(raw: Option<Vec<u8>>) -> Option<String> {
    raw.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

#[async_trait]
impl StateStore for RedisState {
    async fn get(&self, session: &SessionId, server: &str) -> Result<ConnectionState> {
        let mut states = self.get_many(session, &[server]).await?;
        states
            .pop()
            .ok_or_else(|| Error::internal("MGET answered nothing"))
    }

    /// One MGET over every key of every server: one round trip.
    async fn get_many(
        &self,
        session: &SessionId,
        servers: &[&str],
    ) -> Result<Vec<ConnectionState>> {
        if servers.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.session(session);
        let mut names = Vec::with_capacity(servers.len() * 4);
        for server in servers {
            names.extend(keys.server(server)?.all().map(str::to_owned));
        }
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&names[..])
            .query_async(&mut self.conn())
            .await?;
        let mut values = values.into_iter().map(text);
        let mut next = || values.next().flatten();
        Ok(servers
            .iter()
            .map(|_| {
                let (status, tools, connected_at, error) = (next(), next(), next(), next());
                decode(
                    status.as_deref(),
                    tools.as_deref(),
                    connected_at.as_deref(),
                    error.as_deref(),
                )
            })
            .collect())
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
        let connected_at = connected_at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let mut pipe = redis::pipe();
        pipe.atomic();
        self.queue_sets(
            &mut pipe,
            &[
                (&k.status, ConnectionStatus::Connected.as_str()),
                (&k.tools, tools.as_str()),
                (&k.connected_at, connected_at.as_str()),
            ],
        );
        pipe.cmd("DEL")
            .arg(&k.error)
            .ignore()
            .cmd("SADD")
            .arg(keys.connections())
            .arg(server)
            .ignore();
        self.queue_set_refresh(&mut pipe, &keys);
        pipe.exec_async(&mut self.conn()).await?;
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
        let written: u64 = redis::Script::new(SET_RECONNECTING)
            .key(&k.status)
            .key(&k.error)
            .key(keys.connections())
            .arg(error)
            .arg(self.ttl_ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(written > 0)
    }

    async fn set_failed(&self, session: &SessionId, server: &str, error: &str) -> Result<()> {
        let keys = self.session(session);
        let k = keys.server(server)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        self.queue_sets(
            &mut pipe,
            &[
                (&k.status, ConnectionStatus::Failed.as_str()),
                (&k.error, error),
            ],
        );
        pipe.cmd("DEL")
            .arg(&k.tools)
            .arg(&k.connected_at)
            .ignore()
            .cmd("SREM")
            .arg(keys.connections())
            .arg(server)
            .ignore();
        self.queue_set_refresh(&mut pipe, &keys);
        pipe.exec_async(&mut self.conn()).await?;
        Ok(())
    }

    async fn set_disconnected(&self, session: &SessionId, server: &str) -> Result<()> {
        let keys = self.session(session);
        let mut pipe = redis::pipe();
        pipe.atomic();
        self.queue_disconnect(&mut pipe, &keys, server)?;
        self.queue_set_refresh(&mut pipe, &keys);
        pipe.exec_async(&mut self.conn()).await?;
        Ok(())
    }

    async fn connected_servers(&self, session: &SessionId) -> Result<Vec<String>> {
        let members: Vec<Vec<u8>> = redis::cmd("SMEMBERS")
            .arg(self.session(session).connections())
            .query_async(&mut self.conn())
            .await?;
        let mut names: Vec<String> = members.into_iter().filter_map(|m| text(Some(m))).collect();
        names.sort();
        Ok(names)
    }

    /// Reads the set, then disconnects those servers in one transaction. A
    /// server connected between the two steps stays connected (it connected
    /// "after" this call); one reconnected in between is disconnected.
    async fn disconnect_all(&self, session: &SessionId) -> Result<Vec<String>> {
        let keys = self.session(session);
        let members = self.connected_servers(session).await?;
        if members.is_empty() {
            return Ok(members);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut names = Vec::with_capacity(members.len());
        for name in members {
            if self.queue_disconnect(&mut pipe, &keys, &name).is_ok() {
                names.push(name);
            } else {
                // Not a name this store writes: drop it from the set only.
                tracing::warn!("removing an invalid server name from a connections set");
                pipe.cmd("SREM").arg(keys.connections()).arg(&name).ignore();
            }
        }
        self.queue_set_refresh(&mut pipe, &keys);
        pipe.exec_async(&mut self.conn()).await?;
        Ok(names)
    }

    async fn clear_session(&self, session: &SessionId) -> Result<u64> {
        let keys = self.session(session);
        let mut conn = self.conn();
        let mut scan = Scan::new(&conn, keys.scan_pattern()).await?;
        let mut deleted = 0;
        while let Some(page) = scan.next_page().await? {
            // The pattern may also match a session whose id extends this one.
            let mine: Vec<&[u8]> = page
                .iter()
                .filter(|key| std::str::from_utf8(key).is_ok_and(|key| keys.owns(key)))
                .map(Vec::as_slice)
                .collect();
            if !mine.is_empty() {
                // A key SCAN returns twice is unlinked once: the count stays exact.
                let gone: u64 = redis::cmd("UNLINK")
                    .arg(&mine)
                    .query_async(&mut conn)
                    .await?;
                deleted += gone;
            }
        }
        Ok(deleted)
    }

    /// One pass of `SCAN MATCH {prefix}mcp:session:* COUNT …` over the
    /// sessions' keys; per page, one `MULTI`/`EXEC` that deletes the
    /// server's keys and `SREM`s it from the set of each session seen (on a
    /// cluster, one per session: a transaction stays within one slot).
    async fn forget_server(&self, server: &str) -> Result<Vec<SessionId>> {
        keys::check_server(server)?;
        let layout = self.conn.layout();
        let mut conn = self.conn();
        let mut scan = Scan::new(&conn, keys::sessions_scan_pattern(&self.prefix)).await?;
        let mut seen = std::collections::HashSet::new();
        let mut affected = Vec::new();
        while let Some(page) = scan.next_page().await? {
            let sessions: Vec<SessionId> = page
                .iter()
                .filter_map(|key| std::str::from_utf8(key).ok())
                .filter_map(|key| keys::session_of(layout, &self.prefix, key, server))
                .filter(|session| seen.insert(session.clone()))
                .collect();
            let per_transaction = match layout {
                Layout::Plain => sessions.len().max(1),
                Layout::HashTagged => 1,
            };
            for batch in sessions.chunks(per_transaction) {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for session in batch {
                    let keys = self.session(session);
                    pipe.cmd("DEL")
                        .arg(&keys.server(server)?.all()[..])
                        .cmd("SREM")
                        .arg(keys.connections())
                        .arg(server);
                }
                let counts: Vec<u64> = pipe.query_async(&mut conn).await?;
                for (session, pair) in batch.iter().zip(counts.chunks(2)) {
                    if pair.iter().any(|&n| n > 0) {
                        affected.push(session.clone());
                    }
                }
            }
        }
        affected.sort();
        Ok(affected)
    }

    async fn bind_mcp_session(&self, id: &str, binding: &McpBinding) -> Result<()> {
        let key = keys::mcp_binding(&self.prefix, id)?;
        let value = encode_binding(binding)?;
        redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("PX")
            .arg(self.ttl_ms)
            .exec_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// `GETEX key PX ttl`: one round trip reads and refreshes.
    async fn mcp_session(&self, id: &str) -> Result<Option<McpBinding>> {
        let key = keys::mcp_binding(&self.prefix, id)?;
        let raw: Option<Vec<u8>> = redis::cmd("GETEX")
            .arg(&key)
            .arg("PX")
            .arg(self.ttl_ms)
            .query_async(&mut self.conn())
            .await?;
        Ok(text(raw).and_then(|raw| decode_binding(&raw)))
    }

    async fn forget_mcp_session(&self, id: &str) -> Result<bool> {
        let key = keys::mcp_binding(&self.prefix, id)?;
        let gone: u64 = redis::cmd("UNLINK")
            .arg(&key)
            .query_async(&mut self.conn())
            .await?;
        Ok(gone > 0)
    }

    /// `GETEX key PX ttl`, like `mcp_session`: one round trip reads and
    /// refreshes. The key is the session's, so on a cluster it sits in the
    /// session's slot.
    async fn tool_filter(&self, session: &SessionId) -> Result<ToolFilter> {
        let key = self.session(session).tool_filter();
        let raw: Option<Vec<u8>> = redis::cmd("GETEX")
            .arg(&key)
            .arg("PX")
            .arg(self.ttl_ms)
            .query_async(&mut self.conn())
            .await?;
        Ok(text(raw)
            .map(|raw| decode_tool_filter(&raw))
            .unwrap_or_default())
    }

    /// `SET key json PX ttl`, or `DEL key` for the empty filter.
    async fn set_tool_filter(&self, session: &SessionId, filter: &ToolFilter) -> Result<()> {
        let key = self.session(session).tool_filter();
        if filter.is_empty() {
            redis::cmd("DEL")
                .arg(&key)
                .exec_async(&mut self.conn())
                .await?;
        } else {
            redis::cmd("SET")
                .arg(&key)
                .arg(encode_tool_filter(filter)?)
                .arg("PX")
                .arg(self.ttl_ms)
                .exec_async(&mut self.conn())
                .await?;
        }
        Ok(())
    }

    async fn health(&self) -> Result<()> {
        let pong: String = redis::cmd("PING").query_async(&mut self.conn()).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(Error::internal(format!("unexpected PING answer: {pong}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_messages() {
        assert_eq!(
            redacted("redis://user:secret@localhost:6379/0"),
            "redis://user:***@localhost:6379/0"
        );
        assert_eq!(redacted("redis://localhost:6379"), "redis://localhost:6379");
        assert!(!redacted("redis://:secret@h/").contains("secret"));
    }
}
