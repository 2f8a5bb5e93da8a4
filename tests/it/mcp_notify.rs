//! `/mcp` change notifications: connecting or disconnecting a server over
//! REST sends `notifications/tools/list_changed` to the principal's open MCP
//! sessions, and to no one else's.

use std::time::Duration;

use reqwest::StatusCode;
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ServiceExt};
use serde_json::json;
use tokio::sync::mpsc;

use crate::support::app::{TestApp, spawn_app};
use crate::support::upstreams::fixture_stdio;

/// A client that reports every `notifications/tools/list_changed`.
pub(crate) struct Counter {
    changed: mpsc::UnboundedSender<()>,
}

impl ClientHandler for Counter {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.changed.send(());
    }
}

/// An rmcp client on `/mcp` with `key`, and its list_changed receiver.
pub(crate) async fn mcp_client(
    app: &TestApp,
    key: &str,
) -> (
    RunningService<RoleClient, Counter>,
    mpsc::UnboundedReceiver<()>,
) {
    let (changed, rx) = mpsc::unbounded_channel();
    let config = StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(key);
    let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
    let client = Counter { changed }
        .serve(transport)
        .await
        .expect("MCP handshake with /mcp");
    (client, rx)
}

async fn rest(app: &TestApp, path: &str, key: &str) {
    let (status, body) = app.post(path, key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
}

pub(crate) async fn tool_names(client: &RunningService<RoleClient, Counter>) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn connecting_and_disconnecting_notifies_only_the_owners_mcp_sessions() {
    let app = spawn_app().await;
    let (command, args) = fixture_stdio();
    let body = json!({
        "name": "fx", "transport": "stdio", "command": command, "args": args,
        "is_public": true,
    });
    let (status, created) = app.post("/api/v1/servers", &app.admin_key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;

    let (alice_client, mut alice_changed) = mcp_client(&app, &alice).await;
    let (bob_client, mut bob_changed) = mcp_client(&app, &bob).await;
    assert!(tool_names(&alice_client).await.is_empty());

    rest(&app, "/api/v1/servers/fx/connect", &alice).await;
    tokio::time::timeout(Duration::from_secs(2), alice_changed.recv())
        .await
        .expect("list_changed within 2 s of connecting")
        .expect("the client is still running");
    let names = tool_names(&alice_client).await;
    assert!(names.contains(&"fx__echo".to_owned()), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("fx__")), "{names:?}");

    // Bob's session did not change: nothing arrives.
    let nothing = tokio::time::timeout(Duration::from_secs(1), bob_changed.recv()).await;
    assert!(nothing.is_err(), "bob was notified of alice's connect");

    rest(&app, "/api/v1/servers/fx/disconnect", &alice).await;
    tokio::time::timeout(Duration::from_secs(2), alice_changed.recv())
        .await
        .expect("list_changed within 2 s of disconnecting")
        .expect("the client is still running");
    assert!(tool_names(&alice_client).await.is_empty());

    assert_eq!(app.state.notifier().subscribers(), 2, "one forwarder each");
    alice_client.cancel().await.expect("client closes");
    bob_client.cancel().await.expect("client closes");
    // Closing the MCP sessions ends their forwarders.
    tokio::time::timeout(Duration::from_secs(2), async {
        while app.state.notifier().subscribers() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("forwarders end with their sessions");
    app.stop().await;
}
