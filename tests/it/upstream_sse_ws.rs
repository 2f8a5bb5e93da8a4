//! Legacy SSE and WebSocket upstream links against real servers: the
//! official Python MCP SDK (`tests/fixtures/py_server.py`) for the happy
//! paths, and plain listeners that are not MCP servers for the failures.

use std::time::Duration;

use manifold::catalog::{ServerName, Transport};
use manifold::secret::Secret;
use manifold::upstream::egress::EgressPolicy;
use manifold::upstream::{Endpoint, Link, LinkOptions, Remote, Target, open};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use url::Url;

use crate::support::python::PyServer;

fn target(transport: Transport, url: Url) -> Target {
    let remote = Remote {
        url,
        headers: vec![("X-Test".to_owned(), Secret::new("1".to_owned()))],
    };
    let endpoint = match transport {
        Transport::Sse => Endpoint::Sse(remote),
        Transport::Websocket => Endpoint::Websocket(remote),
        Transport::StreamableHttp => Endpoint::StreamableHttp(remote),
        Transport::Stdio => panic!("a network target"),
    };
    let mut target = Target::new(ServerName::parse("py").expect("a valid name"), endpoint);
    target.bearer = Some(Secret::new("tok-123".to_owned()));
    target
}

fn options() -> LinkOptions {
    LinkOptions {
        connect_timeout: Duration::from_secs(10),
        call_timeout: Duration::from_secs(10),
        egress: EgressPolicy::default(),
        health_interval: None,
        max_in_flight: 64,
    }
}

async fn call(link: &Link, tool: &str, args: Value) -> Value {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    let result = tokio::time::timeout(Duration::from_secs(10), link.peer().call_tool(params))
        .await
        .unwrap_or_else(|_| panic!("{tool} answered in time"))
        .unwrap_or_else(|e| panic!("{tool} call failed: {e}"));
    serde_json::to_value(&result).expect("a result serializes")
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// Opens a link to `server`, then checks tools, calls, headers and close.
async fn exercise(transport: Transport, server: &PyServer) {
    let link = open(&target(transport, server.url()), &options())
        .await
        .unwrap_or_else(|e| panic!("{transport} link opens: {e}"));
    assert!(!link.is_closed());
    assert!(link.protocol_version().is_some());

    let tools = link.peer().list_all_tools().await.expect("tools/list");
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        ["add", "countdown", "echo", "fail", "headers", "slow"]
    );

    let echoed = call(&link, "echo", json!({"text": "héllo, upstream"})).await;
    assert_eq!(text(&echoed), "héllo, upstream");
    assert_ne!(echoed["isError"], true);

    let sum = call(&link, "add", json!({"a": 2, "b": 40})).await;
    assert_eq!(text(&sum).parse::<f64>().ok(), Some(42.0), "{sum}");

    let failed = call(&link, "fail", json!({})).await;
    assert_eq!(failed["isError"], true, "{failed}");

    let headers = call(&link, "headers", json!({})).await;
    let seen: Value = serde_json::from_str(text(&headers)).unwrap_or_else(|_| {
        headers["structuredContent"]
            .get("result")
            .cloned()
            .unwrap_or_default()
    });
    assert_eq!(seen["x-test"], "1", "{headers}");
    assert_eq!(seen["authorization"], "Bearer tok-123", "{headers}");

    // Calls run concurrently over one link.
    let (a, b) = tokio::join!(
        call(&link, "slow", json!({"seconds": 0.3})),
        call(&link, "echo", json!({"text": "meanwhile"})),
    );
    assert_eq!(text(&a), "slept");
    assert_eq!(text(&b), "meanwhile");

    tokio::time::timeout(Duration::from_secs(10), link.close())
        .await
        .expect("the link closes in time");
}

fn code(err: &manifold::Error) -> &'static str {
    err.code().as_str()
}

async fn open_err(transport: Transport, url: &str, options: &LinkOptions) -> manifold::Error {
    let url = Url::parse(url).expect("test URL");
    match open(&target(transport, url), options).await {
        Ok(link) => {
            link.close().await;
            panic!("{transport} link to a non-MCP server opened")
        }
        Err(err) => err,
    }
}

fn refused_port() -> u16 {
    crate::support::redis::free_port()
}

/// A listener that answers every request with a plain HTTP 404.
async fn not_found_server() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\n\
                          content-length: 9\r\nconnection: close\r\n\r\nnot found",
                    )
                    .await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn an_sse_link_to_the_python_sdk_lists_tools_calls_them_and_closes() {
    crate::support::app::init_test_log();
    let server = PyServer::start("sse");
    exercise(Transport::Sse, &server).await;
}

#[tokio::test]
async fn a_websocket_link_to_the_python_sdk_lists_tools_calls_them_and_closes() {
    crate::support::app::init_test_log();
    let server = PyServer::start("websocket");
    exercise(Transport::Websocket, &server).await;
}

#[tokio::test]
async fn a_link_whose_upstream_goes_away_reports_closed() {
    let mut server = Some(PyServer::start("websocket"));
    let url = server.as_ref().expect("server").url();
    let link = open(&target(Transport::Websocket, url), &options())
        .await
        .expect("opens");
    drop(server.take());
    let started = std::time::Instant::now();
    while !link.is_closed() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the link noticed the server is gone"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    link.close().await;
}

#[tokio::test]
async fn refused_connections_are_upstream_unreachable() {
    let port = refused_port();
    let sse = open_err(
        Transport::Sse,
        &format!("http://127.0.0.1:{port}/sse"),
        &options(),
    )
    .await;
    assert_eq!(code(&sse), "upstream_unreachable", "{sse}");
    let ws = open_err(
        Transport::Websocket,
        &format!("ws://127.0.0.1:{port}/ws"),
        &options(),
    )
    .await;
    assert_eq!(code(&ws), "upstream_unreachable", "{ws}");
}

#[tokio::test]
async fn servers_that_are_not_sse_or_websocket_are_protocol_errors() {
    let (port, listener) = not_found_server().await;
    let sse = open_err(
        Transport::Sse,
        &format!("http://127.0.0.1:{port}/sse"),
        &options(),
    )
    .await;
    assert_eq!(code(&sse), "upstream_protocol_error", "{sse}");
    let ws = open_err(
        Transport::Websocket,
        &format!("ws://127.0.0.1:{port}/ws"),
        &options(),
    )
    .await;
    assert_eq!(code(&ws), "upstream_protocol_error", "{ws}");
    listener.abort();

    // The Python servers at the wrong paths (and the wrong protocol).
    let ws_server = PyServer::start("websocket");
    let p = ws_server.port();
    for (transport, url) in [
        (Transport::Sse, format!("http://127.0.0.1:{p}/sse")),
        (Transport::Websocket, format!("ws://127.0.0.1:{p}/nope")),
    ] {
        let err = open_err(transport, &url, &options()).await;
        assert_eq!(code(&err), "upstream_protocol_error", "{url}: {err}");
    }
    let sse_server = PyServer::start("sse");
    let p = sse_server.port();
    let err = open_err(
        Transport::Websocket,
        &format!("ws://127.0.0.1:{p}/sse"),
        &options(),
    )
    .await;
    assert_eq!(code(&err), "upstream_protocol_error", "{err}");
    // Streamable HTTP's endpoint is not a legacy SSE stream either.
    let http_server = PyServer::start("streamable-http");
    let p = http_server.port();
    let err = open_err(
        Transport::Sse,
        &format!("http://127.0.0.1:{p}/mcp"),
        &options(),
    )
    .await;
    assert_eq!(code(&err), "upstream_protocol_error", "{err}");
}

#[tokio::test]
async fn cloud_metadata_addresses_are_egress_denied() {
    for (transport, url) in [
        (Transport::Websocket, "ws://169.254.169.254/"),
        (Transport::Sse, "http://169.254.169.254/sse"),
    ] {
        let err = open_err(transport, url, &options()).await;
        assert_eq!(code(&err), "egress_denied", "{url}: {err}");
    }
    // Names are checked after resolution.
    let strict = LinkOptions {
        egress: EgressPolicy {
            deny_private: false,
            deny_loopback: true,
        },
        ..options()
    };
    for (transport, url) in [
        (Transport::Websocket, "ws://localhost:9/ws"),
        (Transport::Sse, "http://localhost:9/sse"),
    ] {
        let err = open_err(transport, url, &strict).await;
        assert_eq!(code(&err), "egress_denied", "{url}: {err}");
    }
}

#[tokio::test]
async fn servers_that_never_answer_time_out() {
    let server = PyServer::start("silent");
    let quick = LinkOptions {
        connect_timeout: Duration::from_secs(1),
        ..options()
    };
    let p = server.port();
    for (transport, url) in [
        (Transport::Sse, format!("http://127.0.0.1:{p}/sse")),
        (Transport::Websocket, format!("ws://127.0.0.1:{p}/ws")),
    ] {
        let started = std::time::Instant::now();
        let err = open_err(transport, &url, &quick).await;
        assert_eq!(code(&err), "upstream_timeout", "{url}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
