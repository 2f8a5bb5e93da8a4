//! WebSocket links: one JSON-RPC message per text frame both ways,
//! subprotocol `mcp` (what the Python SDK's `mcp.server.websocket` and other
//! deployed servers speak; not part of the MCP specification itself).
//!
//! The host is resolved through the egress policy and the TCP connection goes
//! to an allowed address, so a name that resolves to a forbidden address is
//! refused before any byte is sent; TLS and the WebSocket handshake
//! (tokio-tungstenite, rustls) then run over that connection.
//!
//! `WsTransport` is an rmcp [`Transport`] in front of one worker task that
//! owns the socket: it writes queued messages, reads frames, answers pings
//! (tungstenite queues the pong; the worker flushes it) and sends its own
//! ping every [`PING_INTERVAL`] so idle links survive proxies. Closing or
//! dropping the transport makes the worker send a Close frame and end.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::header::SEC_WEBSOCKET_PROTOCOL;
use futures::{SinkExt, StreamExt};
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::Transport;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::error::{Error, ErrorCode};
use crate::upstream::health::LinkHealth;
use crate::upstream::raw::RawLane;
use crate::upstream::sse::header_map;
use crate::upstream::{LinkOptions, Remote, Target, UpstreamClient, init_error};

/// The largest message (and frame) accepted, both ways.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// How often the worker pings the server.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long closing waits for the server's Close reply.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Messages buffered between rmcp and the worker, each way.
const BUFFER: usize = 64;

/// Connects and runs the MCP handshake.
pub(crate) async fn open(
    target: &Target,
    remote: &Remote,
    options: &LinkOptions,
    client: UpstreamClient,
    health: &Arc<LinkHealth>,
) -> Result<(RunningService<RoleClient, UpstreamClient>, Option<u32>), Error> {
    let transport = connect(
        &remote.url,
        &target.all_headers(),
        options,
        target.name.to_string(),
        Some(health.clone()),
    )
    .await?;
    let service = client
        .serve(transport)
        .await
        .map_err(|e| init_error(target, e))?;
    Ok((service, None))
}

/// Resolves through the egress policy, connects and runs the WebSocket
/// handshake with subprotocol `mcp` and the target's headers.
async fn connect(
    url: &url::Url,
    headers: &[(String, String)],
    options: &LinkOptions,
    server: String,
    health: Option<Arc<LinkHealth>>,
) -> Result<WsTransport, Error> {
    let host = url
        .host_str()
        .ok_or_else(|| protocol_error(format!("{url} has no host")))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| protocol_error(format!("{url} has no port")))?;
    let addrs = options.egress.resolve(host, port).await?;
    let tcp = connect_first(&addrs).await?;
    // Small JSON-RPC messages; do not let Nagle delay them.
    let _ = tcp.set_nodelay(true);

    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| protocol_error(format!("cannot build the WebSocket request: {e}")))?;
    let request_headers = request.headers_mut();
    for (name, value) in header_map(headers)? {
        if let Some(name) = name {
            request_headers.append(name, value);
        }
    }
    request_headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("mcp"));
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let (ws, _response) =
        tokio_tungstenite::client_async_tls_with_config(request, tcp, Some(config), None)
            .await
            .map_err(|e| handshake_error(&e))?;

    Ok(WsTransport::start(ws, server, health))
}

fn protocol_error(message: String) -> Error {
    Error::Upstream {
        code: ErrorCode::UpstreamProtocolError,
        message,
    }
}

/// Connects to the first address that accepts, in resolver order.
async fn connect_first(addrs: &[std::net::SocketAddr]) -> Result<TcpStream, Error> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Upstream {
        code: ErrorCode::UpstreamUnreachable,
        message: match last {
            Some(e) => format!("cannot connect: {e}"),
            None => "no address to connect to".to_owned(),
        },
    })
}

/// The stable code for a failed WebSocket (or TLS) handshake.
pub(crate) fn handshake_code(err: &tungstenite::Error) -> ErrorCode {
    use std::io::ErrorKind;
    match err {
        tungstenite::Error::Io(io)
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
            ) =>
        {
            ErrorCode::UpstreamUnreachable
        }
        tungstenite::Error::Http(response) if response.status().as_u16() == 508 => {
            ErrorCode::UpstreamLoop
        }
        _ => ErrorCode::UpstreamProtocolError,
    }
}

fn handshake_error(err: &tungstenite::Error) -> Error {
    let message = match err {
        tungstenite::Error::Http(response) => format!(
            "the WebSocket handshake was answered with HTTP {}",
            response.status()
        ),
        other => format!("the WebSocket handshake failed: {other}"),
    };
    Error::Upstream {
        code: handshake_code(err),
        message,
    }
}

/// What one received frame means for the link.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A server message to hand to rmcp.
    Message(Box<ServerJsonRpcMessage>),
    /// Nothing for rmcp (control frame, or a bad frame that was logged).
    Skip,
    /// The server closes the connection.
    Close,
}

/// Maps one received frame; bad ones are logged and skipped.
pub(crate) fn inbound(frame: Message, server: &str, lane: Option<&RawLane>) -> Inbound {
    match frame {
        Message::Text(text) => match read_message(&text, lane) {
            Ok(message) => Inbound::Message(Box::new(message)),
            Err(e) => {
                tracing::warn!(server, error = %e, "WebSocket text frame is not a JSON-RPC message; skipped");
                Inbound::Skip
            }
        },
        Message::Binary(bytes) => {
            tracing::warn!(
                server,
                len = bytes.len(),
                "binary WebSocket frame skipped (MCP uses text frames)"
            );
            Inbound::Skip
        }
        Message::Close(frame) => {
            tracing::debug!(server, ?frame, "the server closed the WebSocket");
            Inbound::Close
        }
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Inbound::Skip,
    }
}

/// One server message, through the link's lane when there is one.
fn read_message(text: &str, lane: Option<&RawLane>) -> serde_json::Result<ServerJsonRpcMessage> {
    match lane {
        Some(lane) => lane.read(text),
        None => serde_json::from_str(text),
    }
}

/// The frame for one client message.
pub(crate) fn outbound(message: &ClientJsonRpcMessage) -> Result<Message, Error> {
    let text = serde_json::to_string(message).map_err(Error::internal)?;
    Ok(Message::text(text))
}

/// A message to write and where to report whether it was written.
type Outgoing = (ClientJsonRpcMessage, oneshot::Sender<Result<(), Error>>);

fn closed_error() -> Error {
    Error::Upstream {
        code: ErrorCode::UpstreamUnreachable,
        message: "the WebSocket connection is closed".to_owned(),
    }
}

/// The task that owns the socket.
struct Worker<S> {
    ws: WebSocketStream<S>,
    outgoing: mpsc::Receiver<Outgoing>,
    inbound: mpsc::Sender<ServerJsonRpcMessage>,
    shutdown: oneshot::Receiver<()>,
    server: String,
    health: Option<Arc<LinkHealth>>,
}

impl<S> Worker<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    async fn run(mut self) {
        if let Some(reason) = self.serve().await {
            // The reason may name the URL: the link's owner logs it redacted.
            tracing::debug!(server = %self.server, "the link broke; closing it");
            if let Some(health) = &self.health {
                health.fail(format!("{}: {reason}", self.server));
            }
        }
        // Dropping `inbound` ends rmcp's service loop too.
    }

    /// Runs the socket until it breaks (`Some(why)`) or the link closes
    /// (`None`).
    async fn serve(&mut self) -> Option<String> {
        let start = tokio::time::Instant::now() + PING_INTERVAL;
        let mut ping = tokio::time::interval_at(start, PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                frame = self.ws.next() => {
                    let frame = match frame {
                        Some(Ok(frame)) => frame,
                        Some(Err(tungstenite::Error::ConnectionClosed)) | None => {
                            return Some("the WebSocket closed".to_owned());
                        }
                        Some(Err(e)) => return Some(format!("the WebSocket broke: {e}")),
                    };
                    last_heard = tokio::time::Instant::now();
                    let pong_pending = matches!(frame, Message::Ping(_));
                    let lane = self.health.as_ref().map(|h| h.lane().as_ref());
                    match inbound(frame, &self.server, lane) {
                        Inbound::Message(message) => {
                            if self.inbound.send(*message).await.is_err() {
                                self.close().await;
                                return None;
                            }
                        }
                        Inbound::Close => {
                            // tungstenite queued the Close reply; flushing sends it.
                            let _ = tokio::time::timeout(CLOSE_GRACE, self.ws.flush()).await;
                            return Some("the upstream closed the WebSocket".to_owned());
                        }
                        Inbound::Skip => {
                            if pong_pending && let Err(e) = self.ws.flush().await {
                                return Some(format!("answering a WebSocket ping failed: {e}"));
                            }
                        }
                    }
                }
                next = self.outgoing.recv() => {
                    let Some((message, done)) = next else {
                        self.close().await;
                        return None;
                    };
                    if let Some(health) = &self.health {
                        health.lane().outbound(&message);
                    }
                    let result = match outbound(&message) {
                        Ok(frame) => self.ws.send(frame).await.map_err(|e| Error::Upstream {
                            code: ErrorCode::UpstreamUnreachable,
                            message: format!("writing to the WebSocket failed: {e}"),
                        }),
                        Err(e) => Err(e),
                    };
                    let broken = match &result {
                        Err(Error::Upstream { message, .. }) => Some(message.clone()),
                        _ => None,
                    };
                    let _ = done.send(result);
                    if broken.is_some() {
                        return broken;
                    }
                }
                _ = ping.tick() => {
                    // Any frame counts as a sign of life; two intervals of
                    // silence after our pings mean the peer is gone.
                    if last_heard.elapsed() > PING_INTERVAL * 2 {
                        return Some("no answer to WebSocket keep-alive pings".to_owned());
                    }
                    if let Err(e) = self.ws.send(Message::Ping(Default::default())).await {
                        return Some(format!("WebSocket keep-alive ping failed: {e}"));
                    }
                }
                _ = &mut self.shutdown => {
                    self.close().await;
                    return None;
                }
            }
        }
    }

    /// Sends a Close frame and waits, briefly, for the server's reply.
    async fn close(&mut self) {
        let ws = &mut self.ws;
        let graceful = async {
            if ws.close(None).await.is_ok() {
                while let Some(Ok(_)) = ws.next().await {}
            }
        };
        if tokio::time::timeout(CLOSE_GRACE, graceful).await.is_err() {
            tracing::debug!(server = %self.server, "no WebSocket Close reply in time");
        }
    }
}

/// An rmcp client transport over one WebSocket connection.
pub(crate) struct WsTransport {
    outgoing: mpsc::Sender<Outgoing>,
    inbound: mpsc::Receiver<ServerJsonRpcMessage>,
    /// Dropped (or fired) to make the worker close the socket and end.
    shutdown: Option<oneshot::Sender<()>>,
    worker: Option<JoinHandle<()>>,
    server: String,
}

impl WsTransport {
    /// Starts the worker over a connected socket.
    fn start<S>(ws: WebSocketStream<S>, server: String, health: Option<Arc<LinkHealth>>) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (outgoing_tx, outgoing_rx) = mpsc::channel(BUFFER);
        let (inbound_tx, inbound_rx) = mpsc::channel(BUFFER);
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let worker = Worker {
            ws,
            outgoing: outgoing_rx,
            inbound: inbound_tx,
            shutdown: shutdown_rx,
            server: server.clone(),
            health,
        };
        Self {
            outgoing: outgoing_tx,
            inbound: inbound_rx,
            shutdown: Some(shutdown_tx),
            worker: Some(tokio::spawn(worker.run())),
            server,
        }
    }
}

impl Transport<RoleClient> for WsTransport {
    type Error = Error;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let outgoing = self.outgoing.clone();
        async move {
            let (done_tx, done_rx) = oneshot::channel();
            outgoing
                .send((item, done_tx))
                .await
                .map_err(|_| closed_error())?;
            done_rx.await.map_err(|_| closed_error())?
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        self.inbound.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.inbound.close();
        if let Some(worker) = self.worker.take()
            && let Err(e) = worker.await
        {
            tracing::warn!(server = %self.server, error = %e, "the WebSocket worker failed");
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "ws_tests.rs"]
mod tests;
