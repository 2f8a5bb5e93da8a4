//! `/mcp` change notifications: connecting or disconnecting a server over
//! REST sends `notifications/tools/list_changed` to the principal's open MCP
//! sessions, and to no one else's.

use std::time::Duration;

use crate::support::app::spawn_app;
use crate::support::mcp::{mcp_client_watching_tools, tool_names};
use crate::support::rest::{add_fixture, connect, disconnect};

#[tokio::test]
async fn connecting_and_disconnecting_notifies_only_the_owners_mcp_sessions() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    // The endpoint's dispatcher listens once for every MCP session.
    let listening = app.state.notifier().subscribers();

    let (alice_client, mut alice_changed) = mcp_client_watching_tools(&app, "/mcp", &alice).await;
    let (bob_client, mut bob_changed) = mcp_client_watching_tools(&app, "/mcp", &bob).await;
    assert!(tool_names(&alice_client).await.is_empty());

    connect(&app, "fx", &alice).await;
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

    disconnect(&app, "fx", &alice).await;
    tokio::time::timeout(Duration::from_secs(2), alice_changed.recv())
        .await
        .expect("list_changed within 2 s of disconnecting")
        .expect("the client is still running");
    assert!(tool_names(&alice_client).await.is_empty());

    // Idle MCP sessions hold no listener (nor task) of their own.
    let mut more = Vec::new();
    for _ in 0..5 {
        more.push(mcp_client_watching_tools(&app, "/mcp", &alice).await);
    }
    assert_eq!(
        app.state.notifier().subscribers(),
        listening,
        "one listener for all sessions"
    );
    // Each of them is told of a change.
    connect(&app, "fx", &alice).await;
    for (_, changed) in &mut more {
        tokio::time::timeout(Duration::from_secs(2), changed.recv())
            .await
            .expect("list_changed within 2 s in every open session")
            .expect("the client is still running");
    }
    alice_client.cancel().await.expect("client closes");
    bob_client.cancel().await.expect("client closes");
    for (client, _) in more {
        client.cancel().await.expect("client closes");
    }
    app.stop().await;
}
