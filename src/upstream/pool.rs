//! The link pool: live upstream links per (session, server), in this process.
//!
//! A link belongs to one session and is never handed to another. Each
//! (session, server) has a slot with its own async lock, so two concurrent
//! connects of the same server in one session open one link, while other
//! sessions and servers proceed in parallel. Idle links are closed by a
//! sweeper task that stops with the pool (a link with a call in flight is
//! never idle); connection *state* is not touched
//! by eviction, so a `CONNECTED` server whose link was evicted (or that was
//! connected before a restart, or on another replica) is reopened on first use.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::catalog::{ServerName, Transport};
use crate::error::{Error, ErrorCode};
use crate::ids::SessionId;
use crate::upstream::Link;

/// Pool limits.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    /// Live links in this process, all transports.
    pub max_links: usize,
    /// Live stdio children in this process.
    pub max_stdio: usize,
    /// A link unused this long is closed.
    pub idle_timeout: Duration,
}

type Key = (SessionId, ServerName);

/// One (session, server) place for a link.
#[derive(Default)]
pub struct Slot {
    /// Held while opening or replacing the link.
    pub link: tokio::sync::Mutex<Option<Arc<Link>>>,
    last_used: Mutex<Option<Instant>>,
    /// While the link is broken and being reopened.
    down: Mutex<Option<Down>>,
    /// Links reopened after a break, in this process.
    reconnects: AtomicU32,
}

/// A broken link being reopened.
#[derive(Debug, Clone)]
pub struct Down {
    /// Why it broke, or why the last attempt failed (redacted).
    pub error: String,
    /// When the next attempt starts.
    pub retry_at: Option<DateTime<Utc>>,
    /// Fired to stop reopening (disconnect, a manual connect, shutdown).
    pub stop: CancellationToken,
}

impl Slot {
    /// Marks the link broken and being reopened; `None` when that is
    /// already under way (one reconnection per slot), else the token that
    /// stops it.
    pub fn begin_reconnect(&self, error: &str) -> Option<CancellationToken> {
        let mut down = self.down.lock().ok()?;
        if down.as_ref().is_some_and(|d| !d.stop.is_cancelled()) {
            return None;
        }
        let stop = CancellationToken::new();
        *down = Some(Down {
            error: error.to_owned(),
            retry_at: None,
            stop: stop.clone(),
        });
        Some(stop)
    }

    /// Records the latest failure and when the next attempt starts.
    pub fn reconnect_pending(&self, error: Option<&str>, retry_at: Option<DateTime<Utc>>) {
        if let Ok(mut down) = self.down.lock()
            && let Some(down) = down.as_mut()
        {
            if let Some(error) = error {
                error.clone_into(&mut down.error);
            }
            down.retry_at = retry_at;
        }
    }

    /// Ends reconnection (it succeeded, gave up, or is no longer wanted),
    /// stopping a loop still running; `succeeded` counts a reconnect.
    pub fn end_reconnect(&self, succeeded: bool) {
        if let Ok(mut down) = self.down.lock()
            && let Some(down) = down.take()
        {
            down.stop.cancel();
        }
        if succeeded {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The reconnection under way, if any.
    pub fn down(&self) -> Option<Down> {
        self.down.lock().ok()?.clone()
    }

    /// Links reopened after a break, in this process.
    pub fn reconnects(&self) -> u32 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Marks the slot used now.
    pub fn touch(&self) {
        if let Ok(mut at) = self.last_used.lock() {
            *at = Some(Instant::now());
        }
    }

    fn idle_since(&self) -> Option<Instant> {
        self.last_used.lock().ok().and_then(|at| *at)
    }
}

/// Live links, their limits and the idle sweeper.
#[derive(Clone)]
pub struct LinkPool {
    inner: Arc<Inner>,
}

/// A handle on a pool that does not keep it alive (held by links' event
/// sinks, so a link never keeps its own pool).
#[derive(Clone)]
pub struct WeakPool(std::sync::Weak<Inner>);

impl WeakPool {
    /// The pool, unless it is gone.
    pub fn upgrade(&self) -> Option<LinkPool> {
        self.0.upgrade().map(|inner| LinkPool { inner })
    }
}

struct Inner {
    slots: Mutex<HashMap<Key, Arc<Slot>>>,
    limits: PoolLimits,
    live: AtomicUsize,
    live_stdio: AtomicUsize,
    _sweeper: DropGuard,
}

/// A reservation of capacity for one link, released when dropped unless
/// the link was stored.
pub struct Reservation {
    pool: Arc<Inner>,
    stdio: bool,
    kept: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.kept {
            self.pool.release(self.stdio);
        }
    }
}

impl Inner {
    fn release(&self, stdio: bool) {
        self.live.fetch_sub(1, Ordering::AcqRel);
        if stdio {
            self.live_stdio.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn slots(&self) -> Vec<(Key, Arc<Slot>)> {
        self.slots
            .lock()
            .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

impl LinkPool {
    /// An empty pool whose sweeper runs until the last handle is dropped.
    pub fn new(limits: PoolLimits) -> Self {
        let token = CancellationToken::new();
        let inner = Arc::new(Inner {
            slots: Mutex::new(HashMap::new()),
            limits,
            live: AtomicUsize::new(0),
            live_stdio: AtomicUsize::new(0),
            _sweeper: token.clone().drop_guard(),
        });
        let weak = Arc::downgrade(&inner);
        let every =
            (limits.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
                let Some(inner) = weak.upgrade() else { break };
                LinkPool { inner }.evict_idle().await;
            }
        });
        Self { inner }
    }

    /// A handle that does not keep the pool alive.
    pub fn downgrade(&self) -> WeakPool {
        WeakPool(Arc::downgrade(&self.inner))
    }

    /// The slot of (session, server), created when missing.
    pub fn slot(&self, session: &SessionId, server: &ServerName) -> Arc<Slot> {
        match self.inner.slots.lock() {
            Ok(mut slots) => slots
                .entry((session.clone(), server.clone()))
                .or_default()
                .clone(),
            Err(_) => Arc::new(Slot::default()),
        }
    }

    /// The slot of (session, server) if one was ever made, without making one.
    pub fn find(&self, session: &SessionId, server: &ServerName) -> Option<Arc<Slot>> {
        self.inner
            .slots
            .lock()
            .ok()?
            .get(&(session.clone(), server.clone()))
            .cloned()
    }

    /// The open link of (session, server), if any, without waiting.
    pub fn existing(&self, session: &SessionId, server: &ServerName) -> Option<Arc<Link>> {
        let slot = self
            .inner
            .slots
            .lock()
            .ok()?
            .get(&(session.clone(), server.clone()))
            .cloned()?;
        let guard = slot.link.try_lock().ok()?;
        guard.as_ref().filter(|l| !l.is_closed()).cloned()
    }

    /// Reserves room for one more link of this transport, or refuses with
    /// `too_many_links`.
    pub fn reserve(&self, transport: Transport) -> Result<Reservation, Error> {
        let stdio = transport == Transport::Stdio;
        let limits = self.inner.limits;
        let live = self.inner.live.fetch_add(1, Ordering::AcqRel);
        let live_stdio = if stdio {
            self.inner.live_stdio.fetch_add(1, Ordering::AcqRel)
        } else {
            0
        };
        let reservation = Reservation {
            pool: self.inner.clone(),
            stdio,
            kept: false,
        };
        if live >= limits.max_links {
            return Err(too_many(format!(
                "{} upstream links are open (upstream.max_links)",
                limits.max_links
            )));
        }
        if stdio && live_stdio >= limits.max_stdio {
            return Err(too_many(format!(
                "{} stdio upstreams are running (upstream.max_stdio_children)",
                limits.max_stdio
            )));
        }
        Ok(reservation)
    }

    /// Stores a freshly opened link in its (locked) slot, keeping the reservation.
    pub fn store(
        &self,
        slot: &mut Option<Arc<Link>>,
        link: Link,
        mut reservation: Reservation,
    ) -> Arc<Link> {
        reservation.kept = true;
        let link = Arc::new(link);
        *slot = Some(link.clone());
        link
    }

    /// Closes and forgets the link in a (locked) slot, if any.
    pub async fn close_slot(&self, slot: &mut Option<Arc<Link>>) {
        if let Some(link) = slot.take() {
            let stdio = link.transport == Transport::Stdio;
            link.close().await;
            self.inner.release(stdio);
        }
    }

    /// The open links of a session, in no particular order.
    pub fn session_links(&self, session: &SessionId) -> Vec<Arc<Link>> {
        self.inner
            .slots()
            .into_iter()
            .filter(|((sid, _), _)| sid == session)
            .filter_map(|(_, slot)| {
                let guard = slot.link.try_lock().ok()?;
                guard.as_ref().filter(|l| !l.is_closed()).cloned()
            })
            .collect()
    }

    /// Closes every link of a session and stops their reconnection.
    pub async fn close_session(&self, session: &SessionId) {
        for ((sid, _), slot) in self.inner.slots() {
            if &sid == session {
                slot.end_reconnect(false);
                let mut guard = slot.link.lock().await;
                self.close_slot(&mut guard).await;
            }
        }
    }

    /// Closes this process's links to `server` in every session (the server
    /// was deleted, renamed or re-pointed); returns the sessions whose link
    /// was closed. A call in flight on such a link ends with
    /// `upstream_closed`; connection state is not touched, so a server still
    /// `CONNECTED` is reopened, with the catalog's current settings, on its
    /// next use.
    pub async fn close_server(&self, server: &ServerName) -> Vec<SessionId> {
        let mut closed = Vec::new();
        for ((session, name), slot) in self.inner.slots() {
            if &name != server {
                continue;
            }
            let mut guard = slot.link.lock().await;
            if guard.is_some() {
                self.close_slot(&mut guard).await;
                closed.push(session);
            }
        }
        closed.sort();
        closed
    }

    /// Closes links unused for longer than the idle timeout.
    pub async fn evict_idle(&self) {
        let limit = self.inner.limits.idle_timeout;
        for ((session, server), slot) in self.inner.slots() {
            let idle = slot.idle_since().is_none_or(|at| at.elapsed() >= limit);
            if !idle {
                continue;
            }
            // A slot being connected right now is not idle.
            let Ok(mut guard) = slot.link.try_lock() else {
                continue;
            };
            // Nor is a link with a call still running on it.
            if guard
                .as_ref()
                .is_some_and(|l| l.relay().in_flight() > 0 || l.health().in_flight() > 0)
            {
                continue;
            }
            if guard.is_some() {
                tracing::info!(session = %session, server = %server, "closing idle upstream link");
                self.close_slot(&mut guard).await;
            }
        }
    }

    /// Closes every link and stops every reconnection (shutdown).
    pub async fn close_all(&self) {
        for (_, slot) in self.inner.slots() {
            slot.end_reconnect(false);
            let mut guard = slot.link.lock().await;
            self.close_slot(&mut guard).await;
        }
    }

    /// How many open links there are per transport (links being opened or
    /// closed right now are not counted).
    pub fn by_transport(&self) -> Vec<(Transport, usize)> {
        let mut counts: HashMap<Transport, usize> = HashMap::new();
        for (_, slot) in self.inner.slots() {
            if let Ok(guard) = slot.link.try_lock()
                && let Some(link) = guard.as_ref().filter(|l| !l.is_closed())
            {
                *counts.entry(link.transport).or_default() += 1;
            }
        }
        counts.into_iter().collect()
    }

    /// How many links are open, and how many of them are stdio children.
    pub fn live(&self) -> (usize, usize) {
        (
            self.inner.live.load(Ordering::Acquire),
            self.inner.live_stdio.load(Ordering::Acquire),
        )
    }
}

fn too_many(message: String) -> Error {
    Error::Upstream {
        code: ErrorCode::TooManyLinks,
        message,
    }
}
