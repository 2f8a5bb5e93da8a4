//! SIGTERM drains `manifold serve`: `/readyz` turns 503 at once, new
//! connections are still accepted during `http.drain_delay_seconds` and
//! refused after it, a tool call in flight completes, the open MCP stream
//! is closed, the stdio child is reaped and the exit status is 0. A second
//! SIGTERM exits at once.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use super::{Served, children_of, get_on_new_connection, process_exists, process_runs, serve};
use crate::support::mcp::{call, mcp_client_over, text_of};
use crate::support::rest::fixture_server;

/// A served Manifold with the stdio fixture `fx` created and connected by
/// the admin; the admin key and the fixture child's pid.
async fn served_with_fixture(dir: &std::path::Path, env: &[(&str, &str)]) -> (Served, String, u32) {
    let served = serve(dir, env);
    let key = Served::admin_key(dir);
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/api/v1/servers", served.base))
        .bearer_auth(&key)
        .json(&fixture_server("fx"))
        .send()
        .await
        .expect("create fx");
    assert_eq!(created.status(), StatusCode::CREATED);
    let connected = http
        .post(format!("{}/api/v1/servers/fx/connect", served.base))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .expect("connect fx");
    assert_eq!(connected.status(), StatusCode::OK);
    let children = children_of(served.pid());
    assert_eq!(children.len(), 1, "one stdio child: {children:?}");
    (served, key, children[0])
}

/// `GET /readyz`'s status on a fresh connection.
async fn ready_status(served: &Served) -> StatusCode {
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    fresh
        .get(format!("{}/readyz", served.base))
        .send()
        .await
        .expect("readyz answers")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_tool_call_in_flight_then_exits_cleanly_with_its_children_reaped() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut served, key, child) =
        served_with_fixture(dir.path(), &[("MANIFOLD_HTTP__DRAIN_DELAY_SECONDS", "2")]).await;
    assert_eq!(ready_status(&served).await, StatusCode::OK);
    // A real MCP client (with its GET stream open) starts a 4 s call.
    let client = mcp_client_over(
        reqwest::Client::new(),
        &format!("{}/mcp", served.base),
        Some(&key),
    )
    .await;
    let peer = client.peer().clone();
    let started = Instant::now();
    let in_flight = tokio::spawn(async move {
        let result = peer
            .call_tool(call("fx__slow", json!({"seconds": 4})))
            .await;
        (result, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sigterm = Instant::now();
    served.signal("TERM");
    // `/readyz` turns 503 at once…
    let mut turned = None;
    while sigterm.elapsed() < Duration::from_secs(1) {
        if ready_status(&served).await == StatusCode::SERVICE_UNAVAILABLE {
            turned = Some(sigterm.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let turned = turned.expect("/readyz answered 503 within 1 s of SIGTERM");
    // …while new connections are still served during the delay…
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let during = get_on_new_connection(&served.addr, "/healthz")
        .await
        .expect("a new connection during the drain delay is accepted");
    assert!(during.starts_with("HTTP/1.1 200"), "{during}");
    // …and refused after it.
    tokio::time::sleep_until((sigterm + Duration::from_millis(2500)).into()).await;
    let after = tokio::net::TcpStream::connect(&served.addr).await;
    assert_eq!(
        after.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
        "the listener is closed after the drain delay"
    );

    // The call started before SIGTERM completes, after the listener closed.
    let (result, done) = in_flight.await.expect("call task");
    let result = result.expect("the call in flight completes");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert_eq!(text_of(&result), "slept 4 s");
    assert!(
        done > sigterm + Duration::from_secs(2),
        "it was in flight past the delay"
    );

    let (status, exited) = served
        .wait_exit(Duration::from_secs(20))
        .expect("manifold exits after the drain");
    assert!(status.success(), "exit status 0, got {status}");
    assert_eq!(status.code(), Some(0));
    // The child was stopped and reaped by Manifold itself (a child left
    // behind would still run, or linger as a zombie of init here).
    let mut gone = false;
    for _ in 0..100 {
        if !process_exists(child) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone, "the stdio child {child} is gone");
    let log = served.log();
    assert!(log.contains("listener closed"), "{log}");
    assert!(log.contains("manifold stopped"), "{log}");
    eprintln!(
        "drain timings: /readyz 503 after {turned:?}; call started {:?} before SIGTERM and \
         answered {:?} after it; exit {:?} after SIGTERM ({:?} after the answer)",
        sigterm - started,
        done - sigterm,
        exited - sigterm,
        exited - done,
    );
    assert!(
        exited - done < Duration::from_secs(5),
        "no wait once the call is answered (the open GET stream is closed)"
    );
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_exits_at_once_without_waiting_for_the_drain() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut served, key, child) = served_with_fixture(dir.path(), &[]).await;
    let client = mcp_client_over(
        reqwest::Client::new(),
        &format!("{}/mcp", served.base),
        Some(&key),
    )
    .await;
    let peer = client.peer().clone();
    let _in_flight = tokio::spawn(async move {
        let _ = peer
            .call_tool(call("fx__slow", json!({"seconds": 30})))
            .await;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    served.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ready_status(&served).await, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        served.wait_exit(Duration::from_millis(100)).is_none(),
        "still draining (5 s delay, a 30 s call)"
    );
    let second = Instant::now();
    served.signal("TERM");
    let (status, exited) = served
        .wait_exit(Duration::from_secs(2))
        .expect("a second SIGTERM ends the process at once");
    eprintln!("second SIGTERM: exit after {:?}", exited - second);
    assert!(exited - second < Duration::from_secs(1));
    assert_eq!(status.code(), Some(128 + 15), "{status}");
    assert!(served.log().contains("second signal"), "{}", served.log());
    // The child sees its stdin close and exits too (reaping it is up to
    // whoever inherits it now).
    let mut gone = false;
    for _ in 0..250 {
        if !process_runs(child) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone, "the stdio child {child} exits once Manifold is gone");
    drop(client);
}
