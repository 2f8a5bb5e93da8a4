//! Unit tests of the WebSocket transport: frame mapping, handshake failure
//! codes, and a session against an in-process tungstenite server (pings
//! answered, a server Close ends the transport, closing sends a Close).

use crate::error::ErrorCode;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use super::*;
use crate::upstream::egress::EgressPolicy;

fn options() -> LinkOptions {
    LinkOptions {
        connect_timeout: Duration::from_secs(5),
        call_timeout: Duration::from_secs(5),
        egress: EgressPolicy::default(),
        health_interval: None,
        max_in_flight: 64,
    }
}

#[test]
fn text_frames_carry_one_json_rpc_message() {
    let frame = Message::text(r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#);
    assert!(matches!(inbound(frame, "t", None), Inbound::Message(_)));
    assert!(matches!(
        inbound(Message::text("not json"), "t", None),
        Inbound::Skip
    ));
    assert!(matches!(
        inbound(Message::binary(vec![1, 2, 3]), "t", None),
        Inbound::Skip
    ));
    assert!(matches!(
        inbound(Message::Ping(Default::default()), "t", None),
        Inbound::Skip
    ));
    assert!(matches!(
        inbound(Message::Close(None), "t", None),
        Inbound::Close
    ));

    let ping: ClientJsonRpcMessage =
        serde_json::from_str(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).expect("ping");
    match outbound(&ping).expect("serializes") {
        Message::Text(text) => {
            let back: serde_json::Value = serde_json::from_str(&text).expect("json");
            assert_eq!(back["method"], "ping");
            assert_eq!(back["id"], 1);
        }
        other => panic!("not a text frame: {other:?}"),
    }
}

#[test]
fn refused_connections_are_unreachable_and_the_rest_protocol_errors() {
    let refused =
        tungstenite::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    assert_eq!(handshake_code(&refused), ErrorCode::UpstreamUnreachable);
    let http = tungstenite::Error::Http(Box::new(
        axum::http::Response::builder()
            .status(404)
            .body(None)
            .expect("response"),
    ));
    assert_eq!(handshake_code(&http), ErrorCode::UpstreamProtocolError);
    assert!(handshake_error(&http).to_string().contains("404"));
}

/// What the fake server saw.
#[derive(Default)]
struct Seen {
    subprotocol: Option<String>,
    x_test: Option<String>,
    got_close: bool,
    got_pong: bool,
}

/// Accepts one connection: pings the client, echoes one text frame, then
/// either closes from its side or waits for the client's Close.
async fn fake_server(server_closes: bool) -> (url::Url, Arc<Mutex<Seen>>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    let task = tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let record_hdr = record.clone();
        #[allow(clippy::result_large_err)]
        let callback = move |req: &Request, mut res: Response| {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            if let Ok(mut seen) = record_hdr.lock() {
                seen.subprotocol = header("sec-websocket-protocol");
                seen.x_test = header("x-test");
            }
            res.headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("mcp"));
            Ok(res)
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
            return;
        };
        let _ = ws.send(Message::Ping(b"hi".to_vec().into())).await;
        let _ = ws.send(Message::binary(vec![0u8; 4])).await;
        while let Some(Ok(frame)) = ws.next().await {
            match frame {
                Message::Pong(_) => {
                    if let Ok(mut seen) = record.lock() {
                        seen.got_pong = true;
                    }
                }
                Message::Text(text) => {
                    let _ = ws.send(Message::Text(text)).await;
                    if server_closes {
                        let _ = ws.close(None).await;
                    }
                }
                Message::Close(_) => {
                    if let Ok(mut seen) = record.lock() {
                        seen.got_close = true;
                    }
                }
                _ => {}
            }
        }
    });
    (
        url::Url::parse(&format!("ws://{addr}/ws")).expect("url"),
        seen,
        task,
    )
}

fn ping_request() -> ClientJsonRpcMessage {
    serde_json::from_str(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#).expect("ping")
}

#[tokio::test]
async fn messages_round_trip_and_closing_sends_a_close_frame() {
    let (url, seen, server) = fake_server(false).await;
    let headers = vec![("X-Test".to_owned(), "1".to_owned())];
    let mut transport = connect(&url, &headers, &options(), "fake".into(), None)
        .await
        .expect("connects");
    transport.send(ping_request()).await.expect("sent");
    // The echoed ping is a valid server→client request; the binary frame
    // before it was skipped.
    let echoed = tokio::time::timeout(Duration::from_secs(5), transport.receive())
        .await
        .expect("in time")
        .expect("a message");
    assert!(
        matches!(echoed, ServerJsonRpcMessage::Request(_)),
        "{echoed:?}"
    );
    transport.close().await.expect("close");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server ends")
        .expect("server task");
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.subprotocol.as_deref(), Some("mcp"));
    assert_eq!(seen.x_test.as_deref(), Some("1"));
    assert!(seen.got_pong, "the server's ping was answered");
    assert!(seen.got_close, "closing sent a Close frame");
}

#[tokio::test]
async fn a_close_from_the_server_ends_the_transport() {
    let (url, _seen, server) = fake_server(true).await;
    let mut transport = connect(&url, &[], &options(), "fake".into(), None)
        .await
        .expect("connects");
    transport.send(ping_request()).await.expect("sent");
    let echoed = transport.receive().await;
    assert!(echoed.is_some());
    let end = tokio::time::timeout(Duration::from_secs(5), transport.receive())
        .await
        .expect("ends in time");
    assert!(end.is_none());
    assert!(transport.send(ping_request()).await.is_err());
    transport.close().await.expect("close");
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
}

#[tokio::test]
async fn handshake_failures_are_classified() {
    // Refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let url = url::Url::parse(&format!("ws://127.0.0.1:{port}/")).expect("url");
    let err = connect(&url, &[], &options(), "fake".into(), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.code(), ErrorCode::UpstreamUnreachable, "{err}");

    // A plain HTTP server answering 404.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        if let Ok((mut tcp, _)) = listener.accept().await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 2048];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let url = url::Url::parse(&format!("ws://{addr}/")).expect("url");
    let err = connect(&url, &[], &options(), "fake".into(), None)
        .await
        .err()
        .expect("404");
    assert_eq!(err.code(), ErrorCode::UpstreamProtocolError, "{err}");
    assert!(err.to_string().contains("404"), "{err}");
    let _ = server.await;

    // A name resolving only to denied addresses.
    let strict = LinkOptions {
        egress: EgressPolicy {
            deny_private: false,
            deny_loopback: true,
        },
        ..options()
    };
    let url = url::Url::parse("ws://localhost:9/").expect("url");
    let err = connect(&url, &[], &strict, "fake".into(), None)
        .await
        .err()
        .expect("denied");
    assert_eq!(err.code(), ErrorCode::EgressDenied, "{err}");
}
