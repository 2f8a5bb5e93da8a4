//! The upstreams these tests break, on their own: each comes back on the
//! same port after a SIGKILL, and the fixture answers a session it lost with
//! the 404 of the spec or the TypeScript SDK's 400, as configured.

use std::net::TcpStream;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{killed, restarted};
use crate::support::mcp::initialize;
use crate::support::python::PyServer;
use crate::support::upstreams::{
    Everything, EverythingMode, FixtureHttp, Restartable, kill_and_restart_after,
};

/// The TypeScript SDK examples' answer to an unknown session.
const TS_BAD_REQUEST: &str = r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}"#;

/// POSTs `body` to `url` as an MCP client would, in `session` if given;
/// the status, the `Mcp-Session-Id` answered, the content type and the body.
async fn post(
    url: &str,
    session: Option<&str>,
    body: &Value,
) -> (StatusCode, Option<String>, String, String) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await.expect("the fixture answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let session = header("mcp-session-id");
    let content_type = header("content-type").unwrap_or_default();
    let status = response.status();
    let text = response.text().await.expect("a body");
    (status, session, content_type, text)
}

/// Starts the fixture with `FIXTURE_UNKNOWN_SESSION=mode`, opens a session,
/// kills and restarts the fixture, and returns the restarted fixture's
/// answer to a `ping` in the old session.
async fn lost_session_answer(mode: &str) -> (StatusCode, String, String) {
    let mut fixture = FixtureHttp::start_with_env(&[("FIXTURE_UNKNOWN_SESSION", mode)]);
    let port = fixture.port();
    let (status, session, _, _) = post(&fixture.url(), None, &initialize("2025-06-18")).await;
    assert_eq!(status, StatusCode::OK);
    let session = session.expect("initialize answers a session id");
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});

    fixture = killed(fixture).await;
    assert!(!fixture.is_running(), "killed");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on {port} after the kill"
    );
    let (mut fixture, _) = restarted(fixture).await;
    assert!(fixture.is_running(), "restarted");
    assert_eq!(fixture.port(), port, "back on the same port");
    let (status, _, content_type, body) = post(&fixture.url(), Some(&session), &ping).await;
    // The restarted fixture still opens new sessions.
    let (fresh, _, _, _) = post(&fixture.url(), None, &initialize("2025-06-18")).await;
    assert_eq!(fresh, StatusCode::OK);
    (status, content_type, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_fixture_answers_a_lost_session_with_404_by_default() {
    let (status, _, body) = lost_session_answer("404").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body, "Not Found: Session not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_fixture_answers_a_lost_session_with_the_typescript_400_when_asked() {
    let (status, content_type, body) = lost_session_answer("400").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(body, TS_BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_node_upstreams_come_back_on_the_same_port() {
    for transport in ["sse", "websocket"] {
        let server = PyServer::start(transport);
        let port = server.port();
        let mut server = killed(server).await;
        assert!(!server.is_running(), "{transport}: killed");
        let (mut server, _) = restarted(server).await;
        assert!(server.is_running(), "{transport}: restarted");
        assert_eq!(server.port(), port, "{transport}: same port");
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
        tokio::task::spawn_blocking(move || server.restart())
            .await
            .expect("a second restart");
    }
    // Killed now, back a moment later while the test goes on.
    let everything = Everything::start(EverythingMode::StreamableHttp);
    let port = everything.port();
    let comeback = kill_and_restart_after(everything, Duration::from_millis(300));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on {port} right after the kill"
    );
    let (everything, _) = comeback.wait().await;
    assert_eq!(everything.port(), port);
    let (status, session, _, _) = post(&everything.url(), None, &initialize("2025-06-18")).await;
    assert_eq!(status, StatusCode::OK, "server-everything answers again");
    assert!(session.is_some());
}
