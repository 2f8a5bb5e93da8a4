//! A plain-HTTP/1.1 client for the tool calls of [`HttpRoute`]s, whose
//! connections are driven by the task that makes the call.
//!
//! reqwest runs each connection in a task of its own: a call hands its
//! request to that task over a channel, and the response head and every
//! body chunk come back over more. On a busy multi-threaded runtime each
//! hand-off can wake another worker thread, and those wake-ups were a good
//! part of what a proxied call cost. Here a call takes an idle connection
//! (or opens one), writes its request and reads the answer while polling
//! the connection itself, then puts it back for the next call.
//!
//! Only `http://` routes without a proxy in the environment take it;
//! everything else (TLS, proxies) stays with reqwest. Names resolve through
//! the link's [`EgressPolicy`], as reqwest's resolver does. A connection is
//! only reused when the upstream kept it open and answered in full; one the
//! upstream closed while idle is noticed (and dropped) before a request is
//! written on it, and a request hyper gives back unwritten is sent again on
//! a fresh connection, never one that may have reached the upstream.
//!
//! A call stops reading once it has its answer, and an upstream often sends
//! the end of the answer's event stream a moment later, in a write of its
//! own. Such a connection is kept with the rest of its response: the next
//! call that wants it reads that rest first (what has come by then, without
//! waiting) and takes the connection when the response has ended, or
//! closes it and looks further.
//!
//! [`HttpRoute`]: super::HttpRoute

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, Request, Response, header};

use futures::Stream;
use http_body_util::Full;
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::{Error, ErrorCode};
use crate::upstream::egress::EgressPolicy;

/// Idle connections kept per route; more are closed when they come back.
const MAX_IDLE: usize = 256;

/// An idle connection older than this is closed instead of reused (the
/// upstream may have forgotten it; reqwest's pool waits as long).
const IDLE_FOR: Duration = Duration::from_secs(90);

/// Plain-HTTP/1.1 connections to one upstream origin.
pub(crate) struct Http1 {
    host: String,
    port: u16,
    /// The `Host` header of every request.
    authority: HeaderValue,
    policy: EgressPolicy,
    connect_timeout: Duration,
    idle: Mutex<Vec<(Conn, Instant)>>,
}

impl std::fmt::Debug for Http1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Why a request got no response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be opened: nothing reached the upstream.
    Connect(Error),
    /// The request may have reached the upstream.
    Broken(hyper::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(err) => write!(f, "connecting: {err}"),
            Self::Broken(err) => write!(f, "{}", crate::upstream::with_causes(err)),
        }
    }
}

/// One connection: the handle requests are sent through, and the
/// connection itself, polled by whoever is using it.
struct Conn {
    send: http1::SendRequest<Full<Bytes>>,
    io: http1::Connection<TokioIo<TcpStream>, Full<Bytes>>,
    /// The connection has ended (closed by either side, or failed).
    ended: bool,
    /// The unread rest of its last response, when that was let go before
    /// its end.
    rest: Option<Incoming>,
}

impl Conn {
    /// Moves the connection on: writes what is queued, reads what came.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if self.ended {
            return;
        }
        if let Poll::Ready(result) = self.io.poll_without_shutdown(cx) {
            if let Err(err) = result {
                tracing::debug!(error = %err, "an upstream HTTP/1 connection failed");
            }
            self.ended = true;
        }
    }

    /// Whether a request can be written on it now.
    fn usable(&mut self) -> bool {
        self.drive(&mut Context::from_waker(Waker::noop()));
        !self.ended && self.send.is_ready()
    }

    /// Reads what has come of the last response's rest, without waiting:
    /// `Ready(true)` once that response has ended (or there was no rest),
    /// `Pending` while more of it is to come, `Ready(false)` when it failed
    /// or goes on for more than [`DRAIN_FRAMES`] frames.
    fn finish(&mut self) -> Poll<bool> {
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..DRAIN_FRAMES {
            self.drive(&mut cx);
            let Some(rest) = self.rest.as_mut() else {
                return Poll::Ready(true);
            };
            match Pin::new(rest).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(_))) => continue,
                Poll::Ready(None) => {
                    self.rest = None;
                    return Poll::Ready(true);
                }
                Poll::Ready(Some(Err(_))) => return Poll::Ready(false),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(false)
    }
}

impl Http1 {
    /// The client of `url`'s origin, when it is plain HTTP and no proxy is
    /// configured in the environment (reqwest would use it).
    pub(crate) fn of(
        url: &reqwest::Url,
        policy: EgressPolicy,
        connect_timeout: Duration,
    ) -> Option<Self> {
        if url.scheme() != "http" || proxied() {
            return None;
        }
        let host = url.host_str()?.to_owned();
        let port = url.port_or_known_default()?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        Some(Self {
            host,
            port,
            authority: HeaderValue::from_str(&authority).ok()?,
            policy,
            connect_timeout,
            idle: Mutex::default(),
        })
    }

    /// Sends `request` (origin-form URI, no `Host`: added here) and returns
    /// the response, whose body keeps the connection going.
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<Body>, SendError> {
        request
            .headers_mut()
            .insert(header::HOST, self.authority.clone());
        loop {
            let (mut conn, reused) = match self.take() {
                Some(conn) => (conn, true),
                None => (self.connect().await?, false),
            };
            let mut sending = std::pin::pin!(conn.send.try_send_request(request));
            let sent = std::future::poll_fn(|cx| {
                conn.drive(cx);
                sending.as_mut().poll(cx)
            })
            .await;
            match sent {
                Ok(response) => {
                    return Ok(response.map(|body| Body {
                        body: Some(body),
                        conn: Some(conn),
                        home: self.clone(),
                    }));
                }
                Err(mut err) => match err.take_message() {
                    // Never written, on a kept connection the upstream
                    // closed meanwhile: the next one (at last a new one).
                    Some(unsent) if reused => {
                        tracing::debug!(error = %err.error(), "a kept upstream connection closed before a request; another one");
                        request = unsent;
                    }
                    // Never written, on a new connection: nothing reached
                    // the upstream.
                    Some(_) => {
                        return Err(SendError::Connect(Error::Upstream {
                            code: ErrorCode::UpstreamUnreachable,
                            message: format!(
                                "{}:{} closed a new connection before the request: {}",
                                self.host,
                                self.port,
                                err.error()
                            ),
                        }));
                    }
                    None => return Err(SendError::Broken(err.into_error())),
                },
            }
        }
    }

    /// An idle connection the upstream has not closed, its last response
    /// over (each is looked at, and one that cannot take a request now
    /// closed, outside the lock).
    fn take(&self) -> Option<Conn> {
        loop {
            let (mut conn, since) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
            if since.elapsed() < IDLE_FOR && conn.finish() == Poll::Ready(true) && conn.usable() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for another request, when it can take one, or will once
    /// the rest of its last response has come.
    fn put_back(&self, mut conn: Conn) {
        let keep = match conn.finish() {
            Poll::Ready(true) => conn.usable(),
            Poll::Pending => !conn.ended,
            Poll::Ready(false) => false,
        };
        if !keep {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push((conn, Instant::now()));
        }
    }

    /// Opens a connection to an address the egress policy allows.
    async fn connect(&self) -> Result<Conn, SendError> {
        let addrs = self
            .policy
            .resolve(&self.host, self.port)
            .await
            .map_err(SendError::Connect)?;
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let (send, io) = http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(SendError::Broken)?;
                    return Ok(Conn {
                        send,
                        io,
                        ended: false,
                        rest: None,
                    });
                }
                Ok(Err(err)) => last = Some(format!("{addr}: {err}")),
                Err(_) => {
                    last = Some(format!(
                        "{addr}: no answer within {:?}",
                        self.connect_timeout
                    ))
                }
            }
        }
        Err(SendError::Connect(Error::Upstream {
            code: ErrorCode::UpstreamUnreachable,
            message: format!(
                "cannot connect to {}:{}: {}",
                self.host,
                self.port,
                last.unwrap_or_else(|| "no address".into())
            ),
        }))
    }
}

/// Whether reqwest would send plain-HTTP requests through a proxy.
fn proxied() -> bool {
    ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// A response body; reading it moves its connection on, and the end of it
/// gives the connection back for the next request. Dropped before its end
/// (a call's answer stream once the answer is in), it goes back with its
/// connection, which the next call takes once the rest has come (see
/// [`Conn::finish`]).
pub(crate) struct Body {
    /// `None` once it has ended or failed.
    body: Option<Incoming>,
    conn: Option<Conn>,
    home: Arc<Http1>,
}

impl Stream for Body {
    type Item = Result<Bytes, hyper::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            if let Some(conn) = &mut this.conn {
                conn.drive(cx);
            }
            match Pin::new(body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(err))) => {
                    this.body = None;
                    this.conn = None;
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(None) => {
                    this.body = None;
                    if let Some(conn) = this.conn.take() {
                        this.home.put_back(conn);
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// How many frames of a response's rest are read, at most, looking for
/// its end, before its connection is given up.
const DRAIN_FRAMES: usize = 8;

impl Drop for Body {
    fn drop(&mut self) {
        let (Some(mut conn), Some(rest)) = (self.conn.take(), self.body.take()) else {
            return;
        };
        conn.rest = Some(rest);
        self.home.put_back(conn);
    }
}

#[cfg(test)]
#[path = "http1_tests.rs"]
mod tests;
