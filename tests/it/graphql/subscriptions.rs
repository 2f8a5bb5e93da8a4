//! `serverStatusChanged` over `graphql-transport-ws`: a page sees connects
//! and disconnects made through REST or GraphQL in its session;
//! `catalogChanged`: it sees the categories and servers it may see being
//! created, changed and deleted by anyone.

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::{add_public_fixture, data};
use crate::support::app::{TestApp, spawn_app, spawn_app_with};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next protocol message (pings answered by the library); a ceiling
/// keeps a missing event from hanging the run.
async fn next_message(ws: &mut Socket) -> Value {
    let next = async {
        loop {
            match ws.next().await.expect("socket open").expect("frame") {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON message"),
                Message::Close(frame) => panic!("socket closed: {frame:?}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), next)
        .await
        .expect("a message within 20 s")
}

/// A socket upgraded with `graphql-transport-ws`, authenticated the way a
/// browser does (the key in `connection_init`), running `query` as
/// subscription `1` once it listens for session events.
async fn subscribed(app: &TestApp, key: &str, query: &str) -> Socket {
    let request = app.graphql_ws_request();
    let (mut ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("graphql-transport-ws")
    );
    // Browsers cannot set headers on a WebSocket: the key rides in the init payload.
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}});
    ws.send(Message::text(init.to_string()))
        .await
        .expect("init");
    assert_eq!(next_message(&mut ws).await["type"], "connection_ack");

    let notifier = app.state.notifier();
    let listening = || notifier.subscribers() + notifier.catalog().subscribers();
    let listeners = listening();
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    ws.send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    // The subscription is live once it listens for session or catalog events.
    for _ in 0..500 {
        if listening() > listeners {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(listening() > listeners, "subscription started");
    ws
}

#[tokio::test]
async fn a_subscriber_sees_this_sessions_connects_and_disconnects_from_any_surface() {
    subscriber_sees_its_sessions_changes(spawn_app().await).await;
}

/// Where anonymous sessions are on, a socket whose upgrade has no header
/// (a browser's) is still the user its `connection_init` names, not the
/// anonymous session of its address.
#[tokio::test]
async fn with_anonymous_sessions_on_the_init_payload_still_names_the_user() {
    let app = spawn_app_with(|s| s.auth.anonymous.enabled = true).await;
    subscriber_sees_its_sessions_changes(app).await;
}

async fn subscriber_sees_its_sessions_changes(app: TestApp) {
    add_public_fixture(&app).await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;

    let mut ws = subscribed(
        &app,
        &alice,
        "subscription { serverStatusChanged { name status toolCount connectedAt } }",
    )
    .await;

    // Another session's connect is not alice's news; alice's own REST connect is.
    let (status, _) = app.session_action("connect", "fixture", &bob).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.session_action("connect", "fixture", &alice).await;
    assert_eq!(status, StatusCode::OK);
    let message = next_message(&mut ws).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], "1");
    let change = &message["payload"]["data"]["serverStatusChanged"];
    assert_eq!(change["name"], "fixture", "{message}");
    assert_eq!(change["status"], "CONNECTED", "{message}");
    assert!(
        change["toolCount"].as_u64().is_some_and(|n| n > 0),
        "{message}"
    );
    assert!(change["connectedAt"].is_string());

    // A GraphQL disconnect reaches the same subscriber.
    data(
        &app,
        &alice,
        "mutation { disconnectMcpServer(name: \"fixture\") { success } }",
        Value::Null,
    )
    .await;
    let message = next_message(&mut ws).await;
    let change = &message["payload"]["data"]["serverStatusChanged"];
    assert_eq!(change["status"], "DISCONNECTED", "{message}");
    assert_eq!(change["toolCount"], 0);

    ws.send(Message::text(
        json!({"id": "1", "type": "complete"}).to_string(),
    ))
    .await
    .expect("complete");
    let _ = ws.close(None).await;
    app.stop().await;
}

#[tokio::test]
async fn a_socket_without_valid_credentials_is_refused() {
    let app = spawn_app().await;
    let mut request = app.graphql_ws_request();
    request
        .headers_mut()
        .insert("authorization", "Bearer mfk_wrong".parse().expect("header"));
    let refused = tokio_tungstenite::connect_async(request).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
        }
        other => panic!(
            "expected a 401 upgrade refusal, got {:?}",
            other.map(|r| r.1)
        ),
    }

    let request = app.graphql_ws_request();
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    let init = json!({"type": "connection_init", "payload": {"Authorization": "Bearer mfk_wrong"}});
    ws.send(Message::text(init.to_string()))
        .await
        .expect("init");
    loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => {
                let frame = frame.expect("a close frame with a code");
                // async-graphql closes a refused `connection_init` with 1002
                // and the reason.
                assert_eq!(u16::from(frame.code), 1002, "{frame:?}");
                assert_eq!(frame.reason.as_str(), "the API key is not valid");
                break;
            }
            Some(Ok(Message::Text(text))) => panic!("no message before auth: {text}"),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    app.stop().await;
}

/// A subscription stands on its socket's credential: once the key is
/// revoked, the next change in the session ends it instead of being told.
#[tokio::test]
async fn a_revoked_key_ends_its_subscription_at_the_next_change() {
    use manifold::ids::SessionId;
    use manifold::principal::{Credential, Principal, Role};

    let app = spawn_app().await;
    add_public_fixture(&app).await;
    let alice = app.user_key("alice").await;

    let query = "subscription { serverStatusChanged { name status } }";
    let mut ws = subscribed(&app, &alice, query).await;
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});

    let keys = app.state.api_keys().list().await.expect("keys");
    let key = keys
        .iter()
        .find(|k| k.user_id == "alice")
        .expect("alice's key");
    app.state
        .api_keys()
        .revoke(key.id.as_str())
        .await
        .expect("revoked");
    // A change in alice's session made from inside (her key no longer works
    // on any surface).
    let principal = Principal {
        user_id: "alice".into(),
        role: Role::User,
        session: SessionId::parse("alice").expect("session id"),
        credential: Credential::ApiKey {
            key_id: key.id.clone(),
        },
    };
    app.state
        .sessions()
        .connect(&principal, "fixture")
        .await
        .expect("connected");
    let message = next_message(&mut ws).await;
    assert_eq!(message["type"], "complete", "{message}");
    assert_eq!(message["id"], "1");

    // Subscribing again on the same socket is refused.
    ws.send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe again");
    // (async-graphql answers a field error as a `next` with `errors`.)
    let message = next_message(&mut ws).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["payload"]["data"], Value::Null, "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "unauthorized",
        "{message}"
    );
    app.stop().await;
}

const CATALOG: &str = "subscription { catalogChanged { kind id action } }";

/// The next `catalogChanged` as `(kind, id, action)`.
async fn next_catalog_change(ws: &mut Socket) -> (String, String, String) {
    let message = next_message(ws).await;
    assert_eq!(message["type"], "next", "{message}");
    let change = &message["payload"]["data"]["catalogChanged"];
    let text = |key: &str| change[key].as_str().expect("a string").to_owned();
    (text("kind"), text("id"), text("action"))
}

fn change(kind: &str, id: &str, action: &str) -> (String, String, String) {
    (kind.to_owned(), id.to_owned(), action.to_owned())
}

/// Creates a network server as `key`; returns its id.
async fn create_server(app: &TestApp, key: &str, body: Value) -> String {
    let created = crate::support::rest::create_server(app, key, body).await;
    created["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn catalog_changes_reach_only_those_who_could_see_the_record() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    let admin = app.admin_key.clone();
    let mut bobs = subscribed(&app, &bob, CATALOG).await;
    let mut admins = subscribed(&app, &admin, CATALOG).await;

    // Alice's private server: created, changed, deleted; bob hears nothing.
    let private = create_server(
        &app,
        &alice,
        json!({"name": "alices", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}),
    )
    .await;
    let (status, _) = app
        .patch("/api/v1/servers/alices", &alice, json!({"title": "Mine"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.delete("/api/v1/servers/alices", &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // A public server of the admin's: bob hears it appear and turn private,
    // then nothing more about it.
    let shared = create_server(
        &app,
        &admin,
        json!({"name": "shared", "transport": "streamable_http",
               "url": "http://127.0.0.1:9/mcp", "is_public": true}),
    )
    .await;
    assert_eq!(
        next_catalog_change(&mut bobs).await,
        change("SERVER", &shared, "CREATED")
    );
    data(
        &app,
        &admin,
        "mutation($id: ID!) { updateServer(id: $id, input: {isPublic: false}) { id } }",
        json!({"id": shared}),
    )
    .await;
    assert_eq!(
        next_catalog_change(&mut bobs).await,
        change("SERVER", &shared, "UPDATED")
    );
    let (status, _) = app
        .patch("/api/v1/servers/shared", &admin, json!({"title": "Hidden"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.delete("/api/v1/servers/shared", &admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Categories reach everyone: the next thing bob hears.
    let (status, category) = app
        .post("/api/v1/categories", &admin, json!({"name": "Tools"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{category}");
    let category = category["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        next_catalog_change(&mut bobs).await,
        change("CATEGORY", &category, "CREATED")
    );

    // The admin hears everything, in order.
    for expected in [
        change("SERVER", &private, "CREATED"),
        change("SERVER", &private, "UPDATED"),
        change("SERVER", &private, "DELETED"),
        change("SERVER", &shared, "CREATED"),
        change("SERVER", &shared, "UPDATED"),
        change("SERVER", &shared, "UPDATED"),
        change("SERVER", &shared, "DELETED"),
        change("CATEGORY", &category, "CREATED"),
    ] {
        assert_eq!(next_catalog_change(&mut admins).await, expected);
    }
    app.stop().await;
}

/// A status change of an OAuth server says whether the user has authorized
/// it (here: not yet, and its discovery fails, so the connect fails).
#[tokio::test]
async fn status_changes_of_oauth_servers_carry_the_oauth_state() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    create_server(
        &app,
        &alice,
        json!({"name": "guarded", "transport": "streamable_http",
               "url": "http://127.0.0.1:9/mcp", "requires_oauth2": true}),
    )
    .await;
    let mut ws = subscribed(
        &app,
        &alice,
        "subscription { serverStatusChanged { name status oauth } }",
    )
    .await;
    let (status, body) = app.session_action("connect", "guarded", &alice).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let message = next_message(&mut ws).await;
    let change = &message["payload"]["data"]["serverStatusChanged"];
    assert_eq!(
        (&change["name"], &change["status"], &change["oauth"]),
        (&json!("guarded"), &json!("FAILED"), &json!("REQUIRED")),
        "{message}"
    );
    app.stop().await;
}

/// A catalog change made on one replica reaches a subscriber on another
/// (shared PostgreSQL catalog, Redis state store and change channel).
#[tokio::test]
async fn catalog_changes_cross_replicas() {
    use crate::support::db::drop_postgres_database;
    use crate::support::redis::raw;

    let replicas = crate::support::app::replicas_with("catalog", |_| {}).await;
    let (a, b, catalog, prefix) = (
        replicas.a,
        replicas.b,
        replicas.catalog_url,
        replicas.prefix,
    );
    // Both replicas listen on the change channel before anything changes.
    let channel = manifold::session::fanout::channel(&prefix);
    let mut conn = raw().await;
    let mut listening = 0;
    for _ in 0..500 {
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut conn)
            .await
            .expect("PUBSUB NUMSUB");
        listening = counts.first().map_or(0, |(_, n)| *n);
        if listening >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(listening >= 2, "both replicas subscribed ({listening})");

    let bob = a.user_key("bob").await;
    let mut ws = subscribed(&b, &bob, CATALOG).await;
    let id = create_server(
        &a,
        &a.admin_key,
        json!({"name": "elsewhere", "transport": "streamable_http",
               "url": "http://127.0.0.1:9/mcp", "is_public": true}),
    )
    .await;
    assert_eq!(
        next_catalog_change(&mut ws).await,
        change("SERVER", &id, "CREATED")
    );
    let _ = ws.close(None).await;
    a.stop().await;
    b.stop().await;
    drop_postgres_database(&catalog).await;
}
