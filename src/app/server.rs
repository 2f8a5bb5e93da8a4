//! The HTTP server loop: HTTP/1.1 and HTTP/2 (hyper's auto builder) over
//! the bound listener, in place of `axum::serve`, which can be told none
//! of what a gateway facing slow or hostile clients needs:
//!
//! - **Header-read timeout** (`http.header_read_timeout_seconds`): a
//!   connection must deliver a complete request header within it, counted
//!   from the accept (first request) or from the request's first byte
//!   (later ones). hyper's own `header_read_timeout` also starts when a
//!   keep-alive connection goes idle, which would make the keep-alive
//!   timeout no longer than the header timeout, so both are kept here.
//! - **Keep-alive timeout** (`http.keep_alive_timeout_seconds`): an idle
//!   connection (no request in flight, no byte received) is closed after it.
//! - **Connection cap** (`http.max_connections`, lowered to fit the
//!   open-file limit): past it, a small [`PROBE_RESERVE`] of connections is
//!   served for the probes only (`/healthz`, `/readyz`, `/metrics`); any
//!   other request there gets 503 `unavailable`, and past the reserve a
//!   connection is closed at once, so the process never runs out of
//!   descriptors (where `accept` fails and even `/healthz` stops answering).
//! - **Drain** ([`Server::run`]): when `shutdown` completes, [`Draining`]
//!   flips (`/readyz` answers 503, HTTP/1.1 answers carry `Connection:
//!   close`), the listener keeps accepting for the drain delay, then closes
//!   (new connections are refused); idle connections close, and requests in
//!   flight get the grace period. Long-lived event streams (a `GET` stream,
//!   a `subscriptions/listen` stream) are not waited for: once the other
//!   requests are done (or the grace is over), `streams_end` is cancelled,
//!   which ends them, and whatever is still open is cut.

mod connection;
mod own_wakes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use connection::Shared;

/// Connections beyond `http.max_connections` that are still served for the
/// health probes (and `/metrics`), one request each.
pub const PROBE_RESERVE: usize = 32;

/// Descriptors kept free for everything but client connections (catalog
/// and state-store pools, upstream links, stdio pipes, log files).
const DESCRIPTOR_HEADROOM: u64 = 512;

/// The longest the last connections get to close once the requests in
/// flight are done (or the grace is over) and the event streams were ended.
const STREAMS_CLOSE: Duration = Duration::from_secs(2);

/// Set once the process starts draining: `/readyz` answers 503 from then on.
#[derive(Debug, Clone, Default)]
pub struct Draining(CancellationToken);

impl Draining {
    /// Whether the drain has begun.
    pub fn is_draining(&self) -> bool {
        self.0.is_cancelled()
    }

    pub(super) fn begin(&self) {
        self.0.cancel();
    }
}

/// The connection limits of the server loop, from `[http]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
}

/// How the server stops once its `shutdown` future completes.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    /// How long the listener keeps accepting after `/readyz` turned 503.
    pub delay: Duration,
    /// How long requests in flight get once the listener is closed.
    pub grace: Duration,
}

/// The accept loop over a bound listener.
pub struct Server {
    listener: TcpListener,
    limits: Limits,
    draining: Draining,
    shared: Shared,
    connections: Arc<Semaphore>,
    reserve: Arc<Semaphore>,
    tasks: JoinSet<()>,
    /// When "the cap is reached" was last logged.
    last_full_warning: Option<Instant>,
}

impl Server {
    /// A server for `router` on `listener`; `http.max_connections` is
    /// lowered (with a warning) to what the open-file limit allows.
    pub fn new(
        listener: TcpListener,
        router: Router,
        mut limits: Limits,
        draining: Draining,
    ) -> Self {
        limits.max_connections = fit_to_descriptors(limits.max_connections);
        let mut builder = Builder::new(TokioExecutor::new());
        // Timeouts are enforced per connection (see the module notes).
        builder.http1().header_read_timeout(None);
        // The CONNECT protocol carries WebSockets over HTTP/2.
        builder.http2().enable_connect_protocol();
        let shared = Shared {
            router,
            builder: Arc::new(builder),
            work: Arc::default(),
            draining: draining.clone(),
            closing: CancellationToken::new(),
            limits,
        };
        Self {
            listener,
            limits,
            draining,
            shared,
            connections: Arc::new(Semaphore::new(limits.max_connections)),
            reserve: Arc::new(Semaphore::new(PROBE_RESERVE)),
            tasks: JoinSet::new(),
            last_full_warning: None,
        }
    }

    /// Serves until `shutdown` completes, then drains as `drain` says;
    /// `streams_end` is cancelled once no other request is in flight (or
    /// the grace is over) to end the long-lived event streams.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
        drain: Drain,
        streams_end: CancellationToken,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => self.accepted(accepted).await,
            }
        }
        self.draining.begin();
        tracing::info!(
            delay_seconds = drain.delay.as_secs_f64(),
            "draining: /readyz answers 503; new connections are accepted until the delay is over"
        );
        let listener_closes = Instant::now() + drain.delay;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(listener_closes) => break,
                accepted = self.listener.accept() => self.accepted(accepted).await,
            }
        }
        let Self {
            listener,
            shared: Shared { work, closing, .. },
            mut tasks,
            ..
        } = self;
        drop(listener);
        closing.cancel();
        let in_flight = work.count();
        tracing::info!(
            in_flight,
            grace_seconds = drain.grace.as_secs_f64(),
            "listener closed; waiting for the requests in flight"
        );
        let grace_over = Instant::now() + drain.grace;
        if tokio::time::timeout_at(grace_over, work.done())
            .await
            .is_err()
        {
            tracing::warn!(
                cut = work.count(),
                "the grace period is over: requests still in flight are cut"
            );
        }
        streams_end.cancel();
        // What is left: event streams (ending now), idle connections and
        // slow clients still sending a header.
        let closed = tokio::time::timeout(STREAMS_CLOSE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if closed.is_err() {
            tracing::warn!(open = tasks.len(), "closing the connections still open");
        }
        tasks.shutdown().await;
    }

    /// Serves an accepted connection, on the cap or the probe reserve, or
    /// closes it at once when both are full.
    async fn accepted(&mut self, accepted: std::io::Result<(TcpStream, SocketAddr)>) {
        // Finished connection tasks are collected as we go.
        while self.tasks.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => return accept_error(err).await,
        };
        if let Err(err) = stream.set_nodelay(true) {
            // Small streamed writes (SSE) must not wait on delayed ACKs.
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        let (permit, probes_only) = match self.connections.clone().try_acquire_owned() {
            Ok(permit) => (permit, false),
            Err(_) => {
                self.warn_full();
                match self.reserve.clone().try_acquire_owned() {
                    Ok(permit) => (permit, true),
                    // Dropping the stream closes it: the descriptor is free again.
                    Err(_) => return,
                }
            }
        };
        self.tasks.spawn(connection::serve(
            stream,
            peer,
            permit,
            probes_only,
            self.shared.clone(),
        ));
    }

    /// Logs that the cap is reached, at most once every 10 s.
    fn warn_full(&mut self) {
        let now = Instant::now();
        if self
            .last_full_warning
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(10))
        {
            self.last_full_warning = Some(now);
            tracing::warn!(
                max_connections = self.limits.max_connections,
                "connection cap reached (http.max_connections): only the health probes are served on new connections"
            );
        }
    }
}

/// `accept` failed: a connection that died before it was accepted is
/// nothing; anything else (out of descriptors) is logged and retried after
/// a pause, so the loop does not spin.
async fn accept_error(err: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %err, "accept error");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// `wanted` connections, or fewer when the open-file limit leaves no room
/// for them (with the probe reserve and [`DESCRIPTOR_HEADROOM`]).
fn fit_to_descriptors(wanted: usize) -> usize {
    let Some(limit) = super::startup::open_file_limit() else {
        return wanted;
    };
    let room = limit.saturating_sub(DESCRIPTOR_HEADROOM + PROBE_RESERVE as u64);
    let room = usize::try_from(room).unwrap_or(usize::MAX).max(16);
    if wanted > room {
        tracing::warn!(
            max_connections = wanted,
            open_file_limit = limit,
            serving = room,
            "http.max_connections is above what the open-file limit allows; serving fewer (raise the hard limit, e.g. `ulimit -Hn` or the container's nofile)"
        );
        room
    } else {
        wanted
    }
}
