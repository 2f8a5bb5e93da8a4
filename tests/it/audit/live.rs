//! `auditEventAdded` over `graphql-transport-ws`: a call shows up live to
//! its own user and to admins, never to another user.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::app::{TestApp, spawn_app};
use crate::support::mcp::{call, mcp_client};
use crate::support::rest::{add_fixture, connect};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const QUERY: &str =
    "subscription { auditEventAdded { kind userId server target outcome durationMs clientName } }";

/// The next message of the socket within `within`, if any.
async fn next(ws: &mut Socket, within: Duration) -> Option<Value> {
    let read = async {
        loop {
            match ws.next().await.expect("socket open").expect("frame") {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Close(frame) => panic!("socket closed: {frame:?}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()
}

/// A socket of `key` subscribed to `auditEventAdded`, once it listens.
async fn subscribed(app: &TestApp, key: &str) -> Socket {
    let (mut ws, _) = tokio_tungstenite::connect_async(app.graphql_ws_request())
        .await
        .expect("upgrade");
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}});
    ws.send(Message::text(init.to_string()))
        .await
        .expect("init");
    let ack = next(&mut ws, Duration::from_secs(20)).await.expect("ack");
    assert_eq!(ack["type"], "connection_ack");
    let before = app.state.audit().listeners();
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": QUERY}});
    ws.send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    for _ in 0..500 {
        if app.state.audit().listeners() > before {
            return ws;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the subscription never started listening");
}

#[tokio::test]
async fn a_call_shows_up_live_to_its_user_and_admins_but_not_to_others() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    connect(&app, "fx", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    let mut hers = subscribed(&app, &alice).await;
    let mut admins = subscribed(&app, &app.admin_key).await;
    let mut his = subscribed(&app, &bob).await;

    client
        .call_tool(call("fx__echo", json!({"text": "live"})))
        .await
        .expect("echo");
    for ws in [&mut hers, &mut admins] {
        let message = next(ws, Duration::from_secs(20)).await.expect("an event");
        let event = &message["payload"]["data"]["auditEventAdded"];
        assert_eq!(
            (
                &event["kind"],
                &event["userId"],
                &event["server"],
                &event["target"],
                &event["outcome"]
            ),
            (
                &json!("tools/call"),
                &json!("alice"),
                &json!("fx"),
                &json!("fx__echo"),
                &json!("ok")
            ),
            "{message}"
        );
        assert!(event["durationMs"].as_f64().is_some_and(|d| d > 0.0));
    }
    assert!(
        next(&mut his, Duration::from_millis(500)).await.is_none(),
        "bob hears nothing of alice's call"
    );
    client.cancel().await.expect("client closes");
}
