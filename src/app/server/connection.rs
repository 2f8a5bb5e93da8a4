//! One client connection of [`Server`](super::Server): its requests (with
//! the probe reserve's rule and the drain's `Connection: close`), its
//! header-read and keep-alive deadlines, and the guards that tell the drain
//! which requests are still in flight.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, Response, Version, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::own_wakes::OwnWakes;
use super::{Draining, Limits};
use crate::error::ErrorCode;
use crate::http::ApiError;

/// Paths a connection of the probe reserve is served for.
const PROBE_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// What every connection of a server shares.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) router: Router,
    pub(super) builder: Arc<Builder<TokioExecutor>>,
    pub(super) work: Arc<Work>,
    pub(super) draining: Draining,
    /// Cancelled when the listener closes: connections shut down gracefully.
    pub(super) closing: CancellationToken,
    pub(super) limits: Limits,
}

/// Serves one accepted connection until the client leaves, a deadline
/// passes (header or keep-alive) or the drain shuts it down; `permit` is
/// its place under the cap (or in the probe reserve, when `probes_only`).
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    probes_only: bool,
    shared: Shared,
) {
    let conn = Arc::new(ConnState::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        conn: conn.clone(),
        _permit: permit,
    });
    let requests = Requests {
        router: shared.router.clone(),
        peer,
        conn: conn.clone(),
        work: shared.work.clone(),
        draining: shared.draining.clone(),
        probes_only,
        max_connections: shared.limits.max_connections,
    };
    let service = hyper::service::service_fn(move |request| requests.clone().serve(request));
    let limits = shared.limits;
    let mut connection = OwnWakes::new(shared.builder.serve_connection_with_upgrades(io, service));
    let mut shutting_down = false;
    // One timer, re-armed only when it fires: the connection's own state
    // changes never wake its task (each wake in the middle of a request
    // would reschedule the task and rouse an idle worker thread).
    let check = tokio::time::sleep_until(conn.next_check(&limits));
    tokio::pin!(check);
    loop {
        tokio::select! {
            served = &mut connection => {
                if let Err(err) = served {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                break;
            }
            () = shared.closing.cancelled(), if !shutting_down => {
                shutting_down = true;
                connection.inner().graceful_shutdown();
            }
            () = check.as_mut() => {
                if conn.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(%peer, "closed a connection: no complete request header in time, or idle too long");
                    break;
                }
                check.as_mut().reset(conn.next_check(&limits));
            }
        }
    }
}

/// Requests whose answer is not an event stream, across all connections:
/// what the drain waits for.
#[derive(Debug, Default)]
pub(super) struct Work {
    count: AtomicUsize,
    idle: Notify,
}

impl Work {
    fn begin(self: &Arc<Self>) -> WorkGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        WorkGuard(self.clone())
    }

    pub(super) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Completes when no such request is in flight.
    pub(super) async fn done(&self) {
        loop {
            let idle = self.idle.notified();
            if self.count() == 0 {
                return;
            }
            idle.await;
        }
    }
}

struct WorkGuard(Arc<Work>);

impl Drop for WorkGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// One connection's timing: requests in flight, and since when it has been
/// idle or receiving a request header. Times are milliseconds after `start`.
#[derive(Debug)]
struct ConnState {
    start: Instant,
    active: AtomicUsize,
    /// No request has begun yet: the header timeout runs from the accept.
    fresh: AtomicBool,
    idle_since_ms: AtomicU64,
    /// 1 + when the first byte arrived while idle; 0 while none did.
    head_since_ms: AtomicU64,
}

impl ConnState {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            active: AtomicUsize::new(0),
            fresh: AtomicBool::new(true),
            idle_since_ms: AtomicU64::new(0),
            head_since_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// When the connection is to be closed, unless something happens first;
    /// `None` while a request is in flight.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        if self.fresh.load(Ordering::Acquire) {
            return Some(self.start + limits.header_read_timeout);
        }
        let at = |ms: u64| self.start + Duration::from_millis(ms);
        Some(match self.head_since_ms.load(Ordering::Acquire) {
            0 => at(self.idle_since_ms.load(Ordering::Acquire)) + limits.keep_alive_timeout,
            head => at(head - 1) + limits.header_read_timeout,
        })
    }

    /// When to look at the deadline next: at it, and at the latest after
    /// the shorter of the two timeouts. No change of state can bring the
    /// deadline before that: a request's end puts it a keep-alive timeout
    /// ahead, a request's first bytes a header timeout ahead, and a
    /// request's start removes it.
    fn next_check(&self, limits: &Limits) -> Instant {
        let latest = Instant::now() + limits.header_read_timeout.min(limits.keep_alive_timeout);
        self.deadline(limits)
            .map_or(latest, |deadline| deadline.min(latest))
    }

    /// Bytes arrived: while idle, they start a request header.
    fn received(&self) {
        if self.active.load(Ordering::Acquire) == 0 {
            let _ = self.head_since_ms.compare_exchange(
                0,
                self.now_ms() + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// A request began (its header is complete).
    fn begin(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.fresh.store(false, Ordering::Release);
        self.head_since_ms.store(0, Ordering::Release);
        ActiveGuard(self.clone())
    }
}

/// A request of a connection, until its answer is fully sent.
struct ActiveGuard(Arc<ConnState>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let conn = &self.0;
        if conn.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            conn.idle_since_ms.store(conn.now_ms(), Ordering::Release);
            conn.head_since_ms.store(0, Ordering::Release);
        }
    }
}

/// What serving one request of a connection needs.
#[derive(Clone)]
struct Requests {
    router: Router,
    peer: SocketAddr,
    conn: Arc<ConnState>,
    work: Arc<Work>,
    draining: Draining,
    probes_only: bool,
    max_connections: usize,
}

impl Requests {
    async fn serve(self, mut request: Request<Incoming>) -> Result<Response<Answer>, Infallible> {
        let active = self.conn.begin();
        let http1 = request.version() < Version::HTTP_2;
        if self.probes_only && !PROBE_PATHS.contains(&request.uri().path()) {
            let mut response = ApiError::code_response(
                ErrorCode::Unavailable,
                &format!(
                    "the gateway serves http.max_connections ({}) connections already; retry shortly",
                    self.max_connections
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(finish(response, http1, true, (active, None)));
        }
        // Peer addresses reach handlers as `ConnectInfo` (anonymous sessions).
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let get = request.method() == Method::GET;
        let listen = request
            .headers()
            .get("mcp-method")
            .is_some_and(|m| m.as_bytes() == b"subscriptions/listen");
        let work = self.work.begin();
        let response = match self.router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let stream = listen
            || (get
                && response
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream")));
        // An event stream lasts as long as the client wants: it is not work
        // the drain waits for (it is ended instead).
        let work = (!stream).then_some(work);
        let close = self.probes_only || self.draining.is_draining();
        Ok(finish(response, http1, close, (active, work)))
    }
}

/// The answer, holding `guards` until its body is sent; `close` asks an
/// HTTP/1.1 client to open a new connection for its next request.
fn finish(
    response: Response<Body>,
    http1: bool,
    close: bool,
    guards: (ActiveGuard, Option<WorkGuard>),
) -> Response<Answer> {
    let mut response = response;
    if close && http1 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response.map(|body| Answer {
        body,
        _guards: guards,
    })
}

/// A connection's socket: notes received bytes and holds the connection's
/// place under the cap (an upgraded connection keeps it too).
struct Tracked {
    inner: TcpStream,
    conn: Arc<ConnState>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.received();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// An answer's body, holding its request's guards until it is sent (or
/// dropped with its connection).
struct Answer {
    body: Body,
    _guards: (ActiveGuard, Option<WorkGuard>),
}

impl hyper::body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
