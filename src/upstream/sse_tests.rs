//! Unit tests of the legacy SSE transport: endpoint resolution, the event
//! size guard, and reconnecting against an in-process SSE server whose first
//! stream ends right after one message.

use crate::error::ErrorCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rmcp::model::ServerJsonRpcMessage;
use tokio::sync::mpsc;

use super::*;
use crate::upstream::egress::EgressPolicy;

fn url(s: &str) -> Url {
    Url::parse(s).expect("test url")
}

fn code(err: &Error) -> ErrorCode {
    err.code()
}

#[test]
fn relative_endpoints_resolve_against_the_sse_url() {
    let sse = url("http://127.0.0.1:8000/mcp/sse?token=x");
    let got = resolve_endpoint(&sse, "/messages/?session_id=abc").expect("same origin");
    assert_eq!(
        got.as_str(),
        "http://127.0.0.1:8000/messages/?session_id=abc"
    );
    let got = resolve_endpoint(&sse, "messages?session_id=abc").expect("relative path");
    assert_eq!(
        got.as_str(),
        "http://127.0.0.1:8000/mcp/messages?session_id=abc"
    );
    let got = resolve_endpoint(&sse, " http://127.0.0.1:8000/m\n").expect("absolute, same origin");
    assert_eq!(got.as_str(), "http://127.0.0.1:8000/m");
}

#[test]
fn endpoints_on_another_origin_are_refused() {
    let sse = url("https://mcp.example.com/sse");
    for data in [
        "https://evil.example.com/messages",
        "http://mcp.example.com/messages",
        "https://mcp.example.com:8443/messages",
        "//evil.example.com/messages",
        "",
        "   ",
    ] {
        let err = resolve_endpoint(&sse, data).expect_err(data);
        assert_eq!(code(&err), ErrorCode::UpstreamProtocolError, "{data}");
    }
    // The default port written out is the same origin.
    assert!(resolve_endpoint(&sse, "https://mcp.example.com:443/m").is_ok());
}

#[test]
fn the_size_guard_counts_one_event_at_a_time() {
    let mut guard = EventSizeGuard::new(11);
    assert!(guard.feed(b"data: 1234\n\n"));
    assert!(guard.feed(b"data: 1234\r\n\r\n"));
    assert!(guard.feed(b"data: 1234\r\r"));
    // A line and its ending count; split across chunks, CRLF split too.
    assert!(guard.feed(b"data: 12"));
    assert!(guard.feed(b"34\r"));
    assert!(guard.feed(b"\n\r\n"));
    // Two lines of one event add up.
    let mut guard = EventSizeGuard::new(11);
    assert!(guard.feed(b"data: 1\n"));
    assert!(!guard.feed(b"data: 2\n"));
}

#[test]
fn headers_become_a_header_map() {
    let map = header_map(&[
        ("X-Test".into(), "1".into()),
        ("Authorization".into(), "Bearer t".into()),
    ])
    .expect("valid headers");
    assert_eq!(map.get("x-test").map(|v| v.as_bytes()), Some(&b"1"[..]));
    assert!(header_map(&[("bad header".into(), "1".into())]).is_err());
    assert!(header_map(&[("X-Bad".into(), "a\nb".into())]).is_err());
}

/// The in-process server: the first GET sends an endpoint and one message,
/// then ends; later GETs send another endpoint, then echo every POST body.
#[derive(Clone, Default)]
struct Fake {
    gets: Arc<AtomicUsize>,
    posts: Arc<Mutex<Vec<(String, String)>>>,
    echo: Arc<Mutex<Option<mpsc::UnboundedSender<String>>>>,
    /// Streams the server is still writing (dropped when the client goes).
    open_streams: Arc<AtomicUsize>,
}

/// Counts an open event stream while it lives.
struct OpenStream(Arc<AtomicUsize>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn event(name: &str, data: &str) -> Result<Bytes, std::io::Error> {
    Ok(Bytes::from(format!("event: {name}\ndata: {data}\n\n")))
}

async fn sse(State(fake): State<Fake>) -> Response {
    let n = fake.gets.fetch_add(1, Ordering::SeqCst);
    let head = if n == 0 {
        vec![
            event("endpoint", "/post?s=1"),
            event(
                "message",
                r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
            ),
        ]
    } else {
        vec![
            Ok(Bytes::from_static(b": a comment\n\n")),
            event("endpoint", "/post?s=2"),
            event("message", "this is not json"),
            event("surprise", "{}"),
        ]
    };
    let body = if n == 0 {
        Body::from_stream(futures::stream::iter(head))
    } else {
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        if let Ok(mut echo) = fake.echo.lock() {
            *echo = Some(tx);
        }
        fake.open_streams.fetch_add(1, Ordering::SeqCst);
        let guard = OpenStream(fake.open_streams.clone());
        let tail = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
            rx.recv().await.map(|m| (event("message", &m), (rx, guard)))
        });
        Body::from_stream(futures::stream::iter(head).chain(tail))
    };
    ([(CONTENT_TYPE, "text/event-stream")], body).into_response()
}

#[derive(serde::Deserialize)]
struct Session {
    s: String,
}

async fn post_message(
    State(fake): State<Fake>,
    Query(session): Query<Session>,
    body: String,
) -> StatusCode {
    if let Ok(mut posts) = fake.posts.lock() {
        posts.push((session.s, body.clone()));
    }
    if let Ok(echo) = fake.echo.lock()
        && let Some(tx) = echo.as_ref()
    {
        let _ = tx.send(body);
    }
    StatusCode::ACCEPTED
}

async fn html() -> Response {
    ([(CONTENT_TYPE, "text/html")], "<html></html>").into_response()
}

async fn serve_fake(fake: Fake) -> (Url, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/sse", get(sse))
        .route("/post", post(post_message))
        .route("/html", get(html))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url(&format!("http://{addr}/")), task)
}

fn connection(sse_url: Url) -> Connection {
    let options = LinkOptions {
        connect_timeout: Duration::from_secs(5),
        call_timeout: Duration::from_secs(5),
        egress: EgressPolicy::default(),
        health_interval: None,
        max_in_flight: 64,
    };
    Connection {
        http: http_client(&options).expect("client"),
        sse_url,
        headers: Arc::new(HeaderMap::new()),
        post_timeout: options.call_timeout,
        server: "fake".into(),
    }
}

#[tokio::test]
async fn a_dropped_stream_breaks_the_link_at_once_and_stops_the_worker() {
    let fake = Fake::default();
    let (base, server) = serve_fake(fake.clone()).await;
    let conn = connection(base.join("sse").expect("join"));
    let (events, endpoint) = conn.connect().await.expect("first connect");
    assert_eq!(endpoint.query(), Some("s=1"));
    let health = LinkHealth::new(4);
    let mut transport = SseTransport::start(conn, events, endpoint, Some(health.clone()));

    let first = tokio::time::timeout(Duration::from_secs(5), transport.receive())
        .await
        .expect("a message in time")
        .expect("a message");
    assert!(
        matches!(first, ServerJsonRpcMessage::Notification(_)),
        "{first:?}"
    );
    // The first stream ended: the legacy session is gone with it, so the
    // transport ends (rmcp's service with it) and the link is broken; the
    // stream is not reopened under the same link.
    let end = tokio::time::timeout(Duration::from_secs(2), transport.receive())
        .await
        .expect("the transport ended in time");
    assert!(end.is_none(), "{end:?}");
    assert!(health.is_dead());
    assert!(
        health
            .reason()
            .is_some_and(|r| r.contains("SSE event stream")),
        "{:?}",
        health.reason()
    );
    assert_eq!(fake.gets.load(Ordering::SeqCst), 1);
    transport.close().await.expect("close");
    assert!(transport.worker.is_none());
    server.abort();
}

#[tokio::test]
async fn a_server_that_goes_away_ends_the_transport_without_retrying() {
    let fake = Fake::default();
    let (base, server) = serve_fake(fake.clone()).await;
    let conn = connection(base.join("sse").expect("join"));
    let (events, endpoint) = conn.connect().await.expect("first connect");
    server.abort();
    let _ = server.await;
    let mut transport = SseTransport::start(conn, events, endpoint, None);
    let first = transport.receive().await;
    assert!(first.is_some());
    let end = tokio::time::timeout(Duration::from_secs(2), transport.receive())
        .await
        .expect("ended at once");
    assert!(end.is_none());
    transport.close().await.expect("close");
}

#[tokio::test]
async fn a_response_that_is_not_an_event_stream_is_a_protocol_error() {
    let (base, server) = serve_fake(Fake::default()).await;
    for path in ["html", "missing"] {
        let conn = connection(base.join(path).expect("join"));
        let err = conn.connect().await.err().expect("not SSE");
        assert_eq!(
            code(&err),
            ErrorCode::UpstreamProtocolError,
            "{path}: {err}"
        );
    }
    server.abort();
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let conn = connection(url(&format!("http://127.0.0.1:{port}/sse")));
    let err = conn.connect().await.err().expect("refused");
    assert_eq!(code(&err), ErrorCode::UpstreamUnreachable, "{err}");
}
