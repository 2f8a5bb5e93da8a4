//! Whether a link still works, and how its failure reaches everyone using it.
//!
//! Every transport reports a break it sees (a refused connection, a stream
//! that ended, a child that exited, a session the upstream forgot) with
//! [`LinkHealth::fail`]. The link's watcher (`watch`) then stops the rmcp
//! service at once, which fails every request still waiting on it with
//! `TransportClosed` (the gateway answers `upstream_closed`): nobody waits
//! for a timeout. When the service ends by itself (the upstream closed the
//! transport) the watcher records that too. Unless the link was closed on
//! purpose, the watcher then reports [`LinkEvent::Lost`] to the link's
//! owner, which reopens it.
//!
//! The watcher also pings an idle link every health interval, and
//! [`LinkHealth::permit`] bounds the requests in flight on one link.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rmcp::Peer;
use rmcp::model::{ClientRequest, PingRequest, ServerResult};
use rmcp::service::{PeerRequestOptions, RoleClient, RunningService};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorCode};
use crate::upstream::UpstreamClient;
use crate::upstream::raw::RawLane;
use crate::upstream::relay::{LinkEvent, Relay};

/// How long a request waits for room on a full link before `too_many_requests`.
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);
/// How long a health ping may take.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after a session renewal the tools are re-read.
const RENEWAL_SETTLE: Duration = Duration::from_millis(500);
/// Lines of a stdio child's stderr kept for the error of a child that exits.
const STDERR_LINES: usize = 5;

/// Process-wide link numbers, so an event names exactly one link.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The health of one link: shared by the link, its transport and its
/// watcher (with the link's [`RawLane`], which the transport reads through).
#[derive(Debug)]
pub struct LinkHealth {
    /// Unique in this process.
    pub id: u64,
    /// Fired once the link is known to be broken (or is being closed).
    dead: CancellationToken,
    /// Fired when the rmcp service has ended and cleaned up.
    stopped: CancellationToken,
    /// The first reason given for the break.
    reason: OnceLock<String>,
    /// Set by [`LinkHealth::close`]: nobody is told, nothing reopens.
    deliberate: AtomicBool,
    /// Unix ms of the last request answered (0: none yet).
    last_ok_ms: AtomicI64,
    /// Requests in flight may not exceed the permits.
    permits: Semaphore,
    max_in_flight: usize,
    /// The last lines a stdio child wrote to stderr.
    stderr: Mutex<VecDeque<String>>,
    /// Fired when a stdio child has been reaped (set only for stdio links).
    child: OnceLock<CancellationToken>,
    /// The upstream forgot the session and the transport starts a new one.
    renewed: tokio::sync::Notify,
    /// Answers read as the upstream sent them (see [`RawLane`]).
    lane: Arc<RawLane>,
}

impl LinkHealth {
    /// A healthy link allowing `max_in_flight` requests at once.
    pub fn new(max_in_flight: usize) -> Arc<Self> {
        let max_in_flight = max_in_flight.max(1);
        Arc::new(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            dead: CancellationToken::new(),
            stopped: CancellationToken::new(),
            reason: OnceLock::new(),
            deliberate: AtomicBool::new(false),
            last_ok_ms: AtomicI64::new(0),
            permits: Semaphore::new(max_in_flight),
            max_in_flight,
            stderr: Mutex::new(VecDeque::new()),
            child: OnceLock::new(),
            renewed: tokio::sync::Notify::new(),
            lane: RawLane::new(),
        })
    }

    /// The link's raw lane, which its transport reads every message through.
    pub fn lane(&self) -> &Arc<RawLane> {
        &self.lane
    }

    /// Records that the transport is starting a new session with the
    /// upstream (it forgot the old one): the link re-reads its tools.
    pub fn session_renewed(&self) {
        self.renewed.notify_one();
    }

    /// Resolves once the link is broken or closing.
    pub async fn dead(&self) {
        self.dead.cancelled().await;
    }

    /// A token the owner of a child process fires once it is reaped;
    /// [`LinkHealth::close`] waits for it.
    pub fn track_child(&self) -> CancellationToken {
        self.child.get_or_init(CancellationToken::new).clone()
    }

    /// Records that the link is broken (the first reason wins) and wakes the
    /// watcher, which ends the link.
    pub fn fail(&self, reason: impl Into<String>) {
        let _ = self.reason.set(reason.into());
        self.dead.cancel();
    }

    /// Whether the link is broken or closing.
    pub fn is_dead(&self) -> bool {
        self.dead.is_cancelled()
    }

    /// Why the link broke, once it has.
    pub fn reason(&self) -> Option<&str> {
        self.reason.get().map(String::as_str)
    }

    /// Whether the link was closed on purpose.
    pub fn is_deliberate(&self) -> bool {
        self.deliberate.load(Ordering::Acquire)
    }

    /// Closes the link on purpose and waits (at most `limit`) until its
    /// service has ended and cleaned up (a stdio child is reaped).
    pub async fn close(&self, limit: Duration) {
        self.deliberate.store(true, Ordering::Release);
        let _ = self.reason.set("closed by the gateway".to_owned());
        self.dead.cancel();
        let stopped = async {
            self.stopped.cancelled().await;
            if let Some(child) = self.child.get() {
                child.cancelled().await;
            }
        };
        if tokio::time::timeout(limit, stopped).await.is_err() {
            tracing::warn!(link = self.id, "an upstream link did not stop in time");
        }
    }

    /// Records a request answered now.
    pub fn answered(&self) {
        self.last_ok_ms
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// When the last request on this link was answered.
    pub fn last_ok(&self) -> Option<DateTime<Utc>> {
        match self.last_ok_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }

    /// Requests in flight on this link now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight - self.permits.available_permits()
    }

    /// Room for one request: at once, or within [`QUEUE_WAIT`], else
    /// `too_many_requests`; a broken link answers `upstream_closed`.
    pub async fn permit(&self, server: &str) -> Result<SemaphorePermit<'_>, Error> {
        if self.is_dead() {
            return Err(Error::Upstream {
                code: ErrorCode::UpstreamClosed,
                message: format!("{server}: the link to the upstream is closed"),
            });
        }
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        match tokio::time::timeout(QUEUE_WAIT, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Error::Upstream {
                code: ErrorCode::TooManyRequests,
                message: format!(
                    "{server}: {} requests are already in flight on this link",
                    self.max_in_flight
                ),
            }),
        }
    }

    /// Keeps one line a stdio child wrote to stderr (the last few are kept).
    pub fn stderr_line(&self, line: &str) {
        if let Ok(mut lines) = self.stderr.lock() {
            if lines.len() == STDERR_LINES {
                lines.pop_front();
            }
            let mut line = line.to_owned();
            if line.len() > 200 {
                let mut end = 200;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                line.truncate(end);
            }
            lines.push_back(line);
        }
    }

    /// The kept stderr lines, joined with ` | ` (empty when none).
    pub fn stderr_tail(&self) -> String {
        self.stderr
            .lock()
            .map(|lines| lines.iter().cloned().collect::<Vec<_>>().join(" | "))
            .unwrap_or_default()
    }
}

/// How the watcher pings.
#[derive(Debug, Clone, Copy)]
pub struct Pings {
    /// Ping an idle link this often; `None`: never.
    pub every: Option<Duration>,
}

/// Runs the link's service until it ends or `health` says the link broke;
/// then tells the relay's owner (unless the link was closed on purpose).
pub(crate) fn watch(
    service: RunningService<RoleClient, UpstreamClient>,
    health: Arc<LinkHealth>,
    relay: Arc<Relay>,
    server: String,
    pings: Pings,
) {
    let peer = service.peer().clone();
    let cancel = service.cancellation_token();
    tokio::spawn(async move {
        let waiting = service.waiting();
        tokio::pin!(waiting);
        let pinger = peer.clone();
        let pinging = ping_while_idle(&pinger, &health, pings);
        tokio::pin!(pinging);
        let renewals = follow_renewals(&pinger, &health, &relay);
        tokio::pin!(renewals);
        tokio::select! {
            _ = &mut renewals => {}
            _ = &mut waiting => {
                // A child that exited says so with its status: give its
                // keeper a moment to tell.
                if let Some(child) = health.child.get() {
                    let _ = tokio::time::timeout(
                        Duration::from_millis(300),
                        child.cancelled(),
                    )
                    .await;
                }
                health.fail("the upstream closed the connection");
            }
            () = health.dead.cancelled() => {
                cancel.cancel();
                let _ = waiting.await;
            }
            () = &mut pinging => {
                cancel.cancel();
                let _ = waiting.await;
            }
        }
        health.stopped.cancel();
        if health.is_deliberate() {
            return;
        }
        let reason = health.reason().unwrap_or("the link closed").to_owned();
        // The reason may name a URL with credentials: its owner logs it
        // redacted.
        tracing::debug!(%server, link = health.id, "upstream link lost");
        relay
            .event(
                peer,
                LinkEvent::Lost {
                    link: health.id,
                    reason,
                },
            )
            .await;
    });
}

/// After each session renewal, once the new session had time to start,
/// asks the link's owner to re-read the tools (a restarted upstream may
/// offer others). Never returns.
async fn follow_renewals(
    peer: &Peer<RoleClient>,
    health: &LinkHealth,
    relay: &Relay,
) -> std::convert::Infallible {
    loop {
        health.renewed.notified().await;
        tokio::time::sleep(RENEWAL_SETTLE).await;
        relay.event(peer.clone(), LinkEvent::ToolsChanged).await;
    }
}

/// Pings the link whenever it has been idle for a whole interval; returns
/// (after recording why) when a ping fails. Never returns without pings.
async fn ping_while_idle(peer: &Peer<RoleClient>, health: &LinkHealth, pings: Pings) {
    let Some(every) = pings.every else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let recent = health
            .last_ok()
            .is_some_and(|at| (Utc::now() - at).to_std().unwrap_or_default() < every);
        if recent || health.in_flight() > 0 {
            continue;
        }
        let request = ClientRequest::PingRequest(PingRequest::default());
        let sent = peer
            .send_request_with_option(request, PeerRequestOptions::with_timeout(PING_TIMEOUT))
            .await;
        let answer = match sent {
            Ok(handle) => handle.await_response().await,
            Err(err) => Err(err),
        };
        match answer {
            Ok(ServerResult::EmptyResult(_)) | Ok(_) => health.answered(),
            Err(err) => {
                health.fail(format!("the upstream did not answer a health ping: {err}"));
                return;
            }
        }
    }
}
