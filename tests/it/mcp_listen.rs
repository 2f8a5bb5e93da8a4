//! A 2026-07-28 `subscriptions/listen` stream stays open: the Python SDK
//! 2.x's `Client.listen()` hears every connect and disconnect of a series,
//! not just the first.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::python::{fixture_script, python2};
use crate::support::rest::{add_fixture, connect, disconnect};

/// The next line the client prints, within 10 s.
async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the listen client printed a line in time")
        .expect("the client's stdout is readable")
        .unwrap_or_else(|| "<stdout closed>".to_owned())
}

#[tokio::test]
async fn a_listen_stream_hears_every_connect_and_disconnect_of_a_series() {
    let app = crate::support::app::spawn_app().await;
    add_fixture(&app, "fx").await;
    add_fixture(&app, "fy").await;
    let alice = app.user_key("alice").await;
    let mut child = Command::new(python2())
        .arg(fixture_script("mcp_listen_client.py"))
        .args([app.url("/mcp"), alice.clone(), "6".to_owned()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the listen client starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let hello = next_line(&mut lines).await;
    assert!(hello.contains("2026-07-28"), "{hello}");
    assert_eq!(next_line(&mut lines).await, "READY");

    let steps: [(&str, &str); 6] = [
        ("connect", "fx"),
        ("disconnect", "fx"),
        ("connect", "fy"),
        ("connect", "fx"),
        ("disconnect", "fy"),
        ("disconnect", "fx"),
    ];
    for (n, (action, server)) in steps.iter().enumerate() {
        match *action {
            "connect" => {
                connect(&app, server, &alice).await;
            }
            _ => {
                disconnect(&app, server, &alice).await;
            }
        }
        let line = next_line(&mut lines).await;
        assert_eq!(
            line,
            format!("EVENT {}", n + 1),
            "after {action} {server}, the stream must still be open"
        );
    }
    assert_eq!(next_line(&mut lines).await, "DONE");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the client exits")
        .expect("a status");
    assert!(status.success(), "{status}");
    app.stop().await;
}
