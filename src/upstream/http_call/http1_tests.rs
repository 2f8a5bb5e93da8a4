//! Unit tests of the in-task HTTP/1.1 client against a real local HTTP
//! server: connection reuse, an upstream restarted on the same port,
//! refused connections and the egress policy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt as _;
use http_body_util::{BodyExt as _, Either, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::service::service_fn;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::*;

/// A local HTTP/1.1 server that answers a POST with `HOST|BODY` and counts
/// the connections it accepted; dropped, it closes them all.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                conns.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(answer))
                        .await;
                });
            }
        });
        Self {
            addr,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// `HOST|BODY`; on `/slow`, the first half at once and the rest 300 ms
/// later.
async fn answer(
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Answer>, hyper::Error> {
    let slow = request.uri().path() == "/slow";
    let host = request.headers()[header::HOST].clone();
    let body = request.into_body().collect().await?.to_bytes();
    let mut echo = host.as_bytes().to_vec();
    echo.push(b'|');
    echo.extend_from_slice(&body);
    if !slow {
        return Ok(hyper::Response::new(Answer::Left(Full::new(Bytes::from(
            echo,
        )))));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, hyper::Error>>(2);
    let rest = echo.split_off(echo.len() / 2);
    tokio::spawn(async move {
        let _ = tx.send(Ok(Frame::data(Bytes::from(echo)))).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(Ok(Frame::data(Bytes::from(rest)))).await;
    });
    let stream = frames_of(rx);
    Ok(hyper::Response::new(Answer::Right(StreamBody::new(stream))))
}

type Answer = Either<
    Full<Bytes>,
    StreamBody<futures::stream::BoxStream<'static, Result<Frame<Bytes>, hyper::Error>>>,
>;

fn frames_of(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, hyper::Error>>,
) -> futures::stream::BoxStream<'static, Result<Frame<Bytes>, hyper::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn client(addr: SocketAddr, policy: EgressPolicy) -> Arc<Http1> {
    let url = reqwest::Url::parse(&format!("http://{addr}/mcp")).expect("url");
    Arc::new(Http1::of(&url, policy, Duration::from_secs(2)).expect("plain HTTP"))
}

fn post(body: &'static str) -> Request<Full<Bytes>> {
    post_to("/mcp", body)
}

fn post_to(path: &'static str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(path)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("request")
}

/// Sends `body` and reads the whole answer.
async fn call(http: &Arc<Http1>, body: &'static str) -> Result<String, SendError> {
    call_to(http, "/mcp", body).await
}

/// Sends `body` to `path` and reads the whole answer.
async fn call_to(
    http: &Arc<Http1>,
    path: &'static str,
    body: &'static str,
) -> Result<String, SendError> {
    let response = http.send(post_to(path, body)).await?;
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.next().await {
        text.extend_from_slice(&chunk.map_err(SendError::Broken)?);
    }
    Ok(String::from_utf8(text).expect("utf-8"))
}

#[tokio::test]
async fn calls_one_after_another_share_one_connection() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).await;
    let http = client(server.addr, EgressPolicy::default());
    for body in ["one", "two", "three"] {
        let answer = call(&http, body).await.expect("an answer");
        assert_eq!(answer, format!("{}|{body}", server.addr));
    }
    assert_eq!(server.accepted(), 1, "each call opened a connection");
}

#[tokio::test]
async fn calls_at_once_open_a_connection_each_and_keep_them() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).await;
    let http = client(server.addr, EgressPolicy::default());
    let (a, b) = tokio::join!(call(&http, "a"), call(&http, "b"));
    assert!(a.expect("a").ends_with("|a"));
    assert!(b.expect("b").ends_with("|b"));
    assert_eq!(server.accepted(), 2);
    let (a, b) = tokio::join!(call(&http, "a"), call(&http, "b"));
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(server.accepted(), 2, "the idle connections were not reused");
}

#[tokio::test]
async fn an_upstream_restarted_on_the_same_port_gets_the_next_call() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).await;
    let addr = server.addr;
    let http = client(addr, EgressPolicy::default());
    call(&http, "before").await.expect("an answer");
    // The upstream goes away with its connections, and comes back.
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again = Server::start(addr).await;
    let answer = call(&http, "after")
        .await
        .expect("an answer after the restart");
    assert_eq!(answer, format!("{addr}|after"));
    assert_eq!(again.accepted(), 1);
}

#[tokio::test]
async fn a_body_dropped_once_it_has_all_come_keeps_its_connection() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).await;
    let http = client(server.addr, EgressPolicy::default());
    let response = http.send(post("whole")).await.expect("a response");
    // The answer is small: it has come whole with the head.
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(response);
    call(&http, "next").await.expect("an answer");
    assert_eq!(server.accepted(), 1, "a fully read connection was closed");
}

/// Sends to `/slow`, reads the first half of the answer and lets the rest go.
async fn half_read(http: &Arc<Http1>) {
    let response = http
        .send(post_to("/slow", "half"))
        .await
        .expect("a response");
    let mut body = response.into_body();
    let first = body.next().await.expect("a first chunk").expect("data");
    assert!(!first.is_empty());
}

#[tokio::test]
async fn a_connection_whose_last_answer_has_not_ended_is_not_reused() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).await;
    let http = client(server.addr, EgressPolicy::default());
    half_read(&http).await;
    // The rest of the answer comes 300 ms later: the next call cannot
    // have that connection now.
    let answer = call(&http, "next").await.expect("an answer");
    assert_eq!(answer, format!("{}|next", server.addr));
    assert_eq!(server.accepted(), 2, "a half-read connection was reused");
}

#[tokio::test]
async fn a_connection_whose_last_answer_ended_after_it_was_let_go_is_reused() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).await;
    let http = client(server.addr, EgressPolicy::default());
    half_read(&http).await;
    // The rest comes while the connection is idle; the next call reads it
    // and sends on the same connection.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let answer = call(&http, "next").await.expect("an answer");
    assert_eq!(
        answer,
        format!("{}|next", server.addr),
        "the rest of the last answer was read as this one"
    );
    assert_eq!(server.accepted(), 1, "the connection was not kept");
    let answer = call(&http, "again").await.expect("an answer");
    assert_eq!(answer, format!("{}|again", server.addr));
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_body_read_to_its_end_in_pieces_keeps_its_connection() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).await;
    let http = client(server.addr, EgressPolicy::default());
    let answer = call_to(&http, "/slow", "pieces").await.expect("an answer");
    assert_eq!(answer, format!("{}|pieces", server.addr));
    call(&http, "next").await.expect("an answer");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn nothing_listening_is_a_connect_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let http = client(addr, EgressPolicy::default());
    match call(&http, "x").await {
        Err(SendError::Connect(err)) => assert_eq!(err.code(), ErrorCode::UpstreamUnreachable),
        other => panic!("expected a connect failure, got {other:?}"),
    }
}

#[tokio::test]
async fn an_upstream_that_closes_new_connections_is_not_redialed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let closer = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let http = client(addr, EgressPolicy::default());
    let failed = call(&http, "x").await;
    closer.abort();
    assert!(
        matches!(&failed, Err(SendError::Connect(_) | SendError::Broken(_))),
        "expected a failure, got {failed:?}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "dialed again and again");
}

#[tokio::test]
async fn the_egress_policy_is_applied_before_dialing() {
    let server = Server::start("127.0.0.1:0".parse().expect("addr")).await;
    let strict = EgressPolicy {
        deny_private: false,
        deny_loopback: true,
    };
    let http = client(server.addr, strict);
    match call(&http, "x").await {
        Err(SendError::Connect(err)) => assert_eq!(err.code(), ErrorCode::EgressDenied),
        other => panic!("expected an egress refusal, got {other:?}"),
    }
    assert_eq!(server.accepted(), 0);
}

#[test]
fn only_plain_http_takes_it() {
    let policy = EgressPolicy::default();
    let of = |url: &str| {
        Http1::of(
            &reqwest::Url::parse(url).expect("url"),
            policy,
            Duration::from_secs(1),
        )
    };
    assert!(of("https://example.com/mcp").is_none());
    let plain = of("http://example.com/mcp").expect("plain HTTP");
    assert_eq!(plain.authority, "example.com");
    assert_eq!(plain.port, 80);
    let ported = of("http://127.0.0.1:8080/mcp").expect("plain HTTP");
    assert_eq!(ported.authority, "127.0.0.1:8080");
}
