//! Sleeping sessions: an idle MCP session keeps a few hundred bytes, not
//! rmcp's session worker and service.
//!
//! rmcp gives every session a worker task, a service task and six channels
//! (each allocates a block of 32 message slots up front, about 12 KB): about
//! 80 KiB a session whether or not it is used. [`Life`] keeps one small
//! [`Entry`] per session of its endpoint, and a sweeper puts to sleep every
//! session that is awake with no open stream and no request in rmcp's hands
//! for `mcp.session_warm_seconds`: rmcp's session is closed, the entry stays.
//!
//! - A sleeping session still exists: `has_session` says so, and direct
//!   calls (`tools/call`) are served without waking it.
//! - Anything rmcp serves wakes it first ([`Life::wake`]): rmcp's session is
//!   made again under the same id and the `initialize` handshake, read from
//!   the session's binding, is replayed in-process — what rmcp does itself
//!   when a session moves to another replica.
//! - After `mcp.session_idle_seconds` without requests a sleeping session is
//!   forgotten, as rmcp forgets an awake one; its binding stays, so its
//!   client's next request restores it.
//!
//! rmcp calls `close_session` both for a DELETE and when a session's
//! service ends; the second also happens when this module closed the
//! session to put it to sleep, and must not end it ([`Entry::exits`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use axum::http::request::Parts;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, InitializeRequest,
    InitializedNotification, NumberOrString,
};
use rmcp::transport::TransportAdapterIdentity;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    RestoreOutcome, SessionId, SessionManager as _, SessionStore as _,
};
use tokio_util::sync::CancellationToken;

use super::lock;
use crate::gateway::binding::{BindingStore, CALLER};
use crate::gateway::handler::GatewayHandler;
use crate::principal::Principal;

/// Makes the handler of one session.
pub type MakeHandler = Arc<dyn Fn() -> GatewayHandler + Send + Sync>;

/// One session of an endpoint, awake or asleep.
#[derive(Debug)]
struct Entry {
    /// The last request of the session.
    used: Instant,
    /// When rmcp's worker was last told of direct calls.
    touched: Instant,
    /// Streams rmcp serves for the session that are still open (a GET
    /// stream, the answer stream of a request rmcp serves).
    open: u32,
    /// Whether rmcp holds the session.
    awake: bool,
    /// Ends of rmcp services this module caused (putting the session to
    /// sleep), whose `close_session` must not end the session.
    exits: u32,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self {
            used: now,
            touched: now,
            open: 0,
            awake: true,
            exits: 0,
        }
    }
}

/// How many sessions an endpoint holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Every session, awake or asleep.
    pub sessions: usize,
    /// Those rmcp holds (awake).
    pub awake: usize,
}

/// The sessions of one endpoint and how they sleep and wake.
pub(super) struct Life {
    pub(super) local: Arc<LocalSessionManager>,
    entries: Mutex<HashMap<SessionId, Entry>>,
    /// One lock per session being put to sleep or woken.
    gates: Mutex<HashMap<SessionId, Arc<tokio::sync::Mutex<()>>>>,
    store: BindingStore,
    make: MakeHandler,
    ct: CancellationToken,
    /// `mcp.session_warm_seconds`; `None` never puts a session to sleep.
    warm: Option<Duration>,
    /// `mcp.session_idle_seconds`.
    idle: Duration,
    sweeping: OnceLock<()>,
}

/// Keeps a stream counted as open in its session until dropped.
pub(super) struct Open {
    life: Arc<Life>,
    id: SessionId,
}

impl Drop for Open {
    fn drop(&mut self) {
        let mut entries = lock(&self.life.entries);
        if let Some(entry) = entries.get_mut(&self.id) {
            entry.open = entry.open.saturating_sub(1);
            entry.used = Instant::now();
        }
    }
}

impl Life {
    pub(super) fn new(
        local: Arc<LocalSessionManager>,
        store: BindingStore,
        make: MakeHandler,
        ct: CancellationToken,
        warm: Duration,
        idle: Duration,
    ) -> Self {
        Self {
            local,
            entries: Mutex::default(),
            gates: Mutex::default(),
            store,
            make,
            ct,
            warm: (!warm.is_zero()).then_some(warm),
            idle,
            sweeping: OnceLock::new(),
        }
    }

    /// Records a session rmcp just made (created or restored), and starts
    /// the sweeper with the endpoint's first session.
    pub(super) fn made(self: &Arc<Self>, id: &SessionId) {
        lock(&self.entries).insert(id.clone(), Entry::new(Instant::now()));
        if let Some(warm) = self.warm {
            self.sweeping.get_or_init(|| {
                let every = (warm / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
                tokio::spawn(sweep(Arc::downgrade(self), every, self.ct.clone()));
            });
        }
    }

    /// Whether this endpoint holds `id`, awake or asleep.
    pub(super) fn holds(&self, id: &SessionId) -> bool {
        lock(&self.entries).contains_key(id)
    }

    /// The sessions of this endpoint.
    pub(super) fn held(&self) -> Held {
        let entries = lock(&self.entries);
        Held {
            sessions: entries.len(),
            awake: entries.values().filter(|entry| entry.awake).count(),
        }
    }

    /// A direct call of `id` ended: whether rmcp's worker of the session is
    /// due to be told it is in use (awake, and last told over `every` ago).
    pub(super) fn used(&self, id: &SessionId, every: Duration) -> bool {
        let now = Instant::now();
        let mut entries = lock(&self.entries);
        let Some(entry) = entries.get_mut(id) else {
            return false;
        };
        entry.used = now;
        let due = entry.awake && now.duration_since(entry.touched) >= every;
        if due {
            entry.touched = now;
        }
        due
    }

    /// Counts a stream of `id` as open until the guard drops, waking the
    /// session first if it sleeps.
    pub(super) async fn open(
        self: &Arc<Self>,
        id: &SessionId,
    ) -> Result<Open, LocalSessionManagerError> {
        let awake = {
            let mut entries = lock(&self.entries);
            let entry = entries
                .entry(id.clone())
                .or_insert_with(|| Entry::new(Instant::now()));
            entry.open += 1;
            entry.used = Instant::now();
            entry.awake
        };
        let open = Open {
            life: self.clone(),
            id: id.clone(),
        };
        if !awake {
            self.wake(id).await?;
        }
        Ok(open)
    }

    /// Wakes `id` if it sleeps, for a message that does not open a stream.
    pub(super) async fn wake_if_asleep(
        self: &Arc<Self>,
        id: &SessionId,
    ) -> Result<(), LocalSessionManagerError> {
        let awake = {
            let mut entries = lock(&self.entries);
            entries.get_mut(id).is_none_or(|entry| {
                entry.used = Instant::now();
                entry.awake
            })
        };
        if awake { Ok(()) } else { self.wake(id).await }
    }

    /// rmcp lost a session this module thought awake (its service ended
    /// unseen): the next [`Life::wake`] makes it again.
    pub(super) fn lost(&self, id: &SessionId) {
        if let Some(entry) = lock(&self.entries).get_mut(id) {
            entry.awake = false;
        }
    }

    /// The lock of `id` while it is put to sleep or woken.
    fn gate(&self, id: &SessionId) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.gates).entry(id.clone()).or_default().clone()
    }

    /// Drops the lock of `id` once nobody waits on it.
    fn ungate(&self, id: &SessionId, gate: Arc<tokio::sync::Mutex<()>>) {
        let mut gates = lock(&self.gates);
        drop(gate);
        if gates
            .get(id)
            .is_some_and(|gate| Arc::strong_count(gate) == 1)
        {
            gates.remove(id);
        }
    }

    /// Makes rmcp's session of `id` again and replays its handshake.
    pub(super) async fn wake(
        self: &Arc<Self>,
        id: &SessionId,
    ) -> Result<(), LocalSessionManagerError> {
        let gate = self.gate(id);
        let woken = {
            let _held = gate.lock().await;
            self.wake_locked(id).await
        };
        self.ungate(id, gate);
        woken
    }

    async fn wake_locked(self: &Arc<Self>, id: &SessionId) -> Result<(), LocalSessionManagerError> {
        if lock(&self.entries).get(id).is_some_and(|entry| entry.awake) {
            return Ok(());
        }
        let not_found = || LocalSessionManagerError::SessionNotFound(id.clone());
        let state = match self.store.load(id).await {
            Ok(Some(state)) => state,
            Ok(None) => return Err(not_found()),
            Err(err) => {
                tracing::warn!(error = %err, "waking an MCP session: its binding is unreadable");
                return Err(not_found());
            }
        };
        let principal = CALLER.try_with(Clone::clone).ok();
        let transport = match self.local.restore_session(id.clone()).await? {
            RestoreOutcome::Restored(transport) => transport,
            // rmcp still holds it (it was about to be put to sleep).
            _ => {
                self.woke(id);
                return Ok(());
            }
        };
        let started = Instant::now();
        let (init_tx, init_rx) = tokio::sync::oneshot::channel::<()>();
        let handler = (self.make)();
        let ct = self.ct.child_token();
        let life = Arc::downgrade(self);
        let session = id.clone();
        tokio::spawn(async move {
            match rmcp::service::serve_server_with_ct::<_, _, _, TransportAdapterIdentity>(
                handler, transport, ct,
            )
            .await
            {
                Ok(running) => {
                    let _ = init_tx.send(());
                    let _ = running.waiting().await;
                }
                Err(err) => tracing::warn!(error = %err, "a woken MCP session did not start"),
            }
            if let Some(life) = life.upgrade() {
                life.ended(&session).await;
            }
        });
        let mut hello = ClientJsonRpcMessage::request(
            ClientRequest::InitializeRequest(InitializeRequest::new(state.initialize_params)),
            NumberOrString::Number(0),
        );
        let mut initialized = ClientJsonRpcMessage::notification(
            ClientNotification::InitializedNotification(InitializedNotification::default()),
        );
        for message in [&mut hello, &mut initialized] {
            message.insert_extension(caller_parts(principal.clone()));
        }
        self.local.initialize_session(id, hello).await?;
        self.local.accept_message(id, initialized).await?;
        if init_rx.await.is_err() {
            return Err(not_found());
        }
        self.woke(id);
        tracing::debug!(
            mcp_session = %id,
            took_us = started.elapsed().as_micros(),
            "woke a sleeping MCP session"
        );
        Ok(())
    }

    fn woke(&self, id: &SessionId) {
        let now = Instant::now();
        let mut entries = lock(&self.entries);
        let entry = entries.entry(id.clone()).or_insert_with(|| Entry::new(now));
        entry.awake = true;
        entry.used = now;
        entry.touched = now;
    }

    /// rmcp's `close_session`: a DELETE, or the end of a session's service.
    /// An end this module caused by putting the session to sleep keeps it.
    pub(super) async fn ended(&self, id: &SessionId) {
        {
            let mut entries = lock(&self.entries);
            match entries.get_mut(id) {
                Some(entry) if entry.exits > 0 => {
                    entry.exits -= 1;
                    return;
                }
                Some(_) => {
                    entries.remove(id);
                }
                None => {}
            }
        }
        self.close_local(id).await;
    }

    /// Ends `id` on this endpoint, awake or asleep (its binding is gone).
    pub(super) async fn end(&self, id: &SessionId) {
        lock(&self.entries).remove(id);
        self.close_local(id).await;
    }

    async fn close_local(&self, id: &SessionId) {
        if let Err(err) = self.local.close_session(id).await {
            tracing::debug!(error = %err, "closing an MCP session");
        }
    }

    /// Puts to sleep the sessions warm for too long, forgets the sleeping
    /// ones idle for too long.
    async fn sweep_once(&self, warm: Duration) {
        let now = Instant::now();
        let sleepy: Vec<SessionId> = {
            let mut entries = lock(&self.entries);
            let idle = self.idle;
            entries.retain(|_, entry| entry.awake || now.duration_since(entry.used) < idle);
            entries
                .iter_mut()
                .filter(|(_, entry)| {
                    entry.awake && entry.open == 0 && now.duration_since(entry.used) >= warm
                })
                .map(|(id, entry)| {
                    entry.awake = false;
                    entry.exits += 1;
                    id.clone()
                })
                .collect()
        };
        for id in sleepy {
            self.put_to_sleep(&id).await;
        }
    }

    /// Closes rmcp's session of `id`, unless it was woken meanwhile.
    async fn put_to_sleep(&self, id: &SessionId) {
        let gate = self.gate(id);
        {
            let _held = gate.lock().await;
            let present = self.local.sessions.read().await.contains_key(id);
            let still = {
                let mut entries = lock(&self.entries);
                match entries.get_mut(id) {
                    Some(entry) if entry.awake || entry.open > 0 || !present => {
                        // Woken again, or rmcp's service already ended: no
                        // end of ours will come.
                        entry.exits = entry.exits.saturating_sub(1);
                        entry.awake = entry.awake && present;
                        false
                    }
                    Some(_) => true,
                    None => false,
                }
            };
            if still {
                self.close_local(id).await;
                tracing::debug!(mcp_session = %id, "put an MCP session to sleep");
            }
        }
        self.ungate(id, gate);
    }
}

/// The HTTP request parts a replayed handshake carries: the caller, as the
/// handler reads it.
fn caller_parts(principal: Option<Principal>) -> Parts {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    if let Some(principal) = principal {
        parts.extensions.insert(principal);
    }
    parts
}

/// Every `every`, puts warm sessions to sleep; ends with the endpoint or `ct`.
async fn sweep(life: Weak<Life>, every: Duration, ct: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = ct.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(life) = life.upgrade() else { return };
        let Some(warm) = life.warm else { return };
        life.sweep_once(warm).await;
    }
}
