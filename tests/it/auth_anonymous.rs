//! Anonymous sessions: off by default; when on, a caller without
//! credentials gets a stable, unforgeable `anon_…` session that may list,
//! connect and use public servers, and nothing else. Forwarded headers count
//! only from trusted proxies.

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::app::{TestApp, code, spawn_app, spawn_app_with};
use crate::support::mcp::{call, mcp_client_over, text_of};
use crate::support::rest::{add_fixture, create_server, fixture_server};

async fn anonymous_app(trusted: &[&str]) -> TestApp {
    let trusted: Vec<String> = trusted.iter().map(|s| (*s).to_owned()).collect();
    spawn_app_with(move |s| {
        s.auth.anonymous.enabled = true;
        s.auth.trusted_proxies = trusted
            .iter()
            .map(|p| p.parse().expect("an IP range"))
            .collect();
    })
    .await
}

/// A request without credentials, with extra headers.
async fn anon(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The anonymous session id the app gives a client with these headers.
async fn session_of(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let (status, me) = anon(app, Method::GET, "/api/v1/me", headers, None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["role"], "anonymous");
    assert_eq!(me["auth"], "anonymous");
    let session = me["session"].as_str().unwrap_or_default().to_owned();
    assert!(
        session.starts_with("anon_") && session.len() > 40,
        "{session}"
    );
    session
}

#[tokio::test]
async fn without_anonymous_sessions_a_request_without_credentials_gets_401() {
    let app = spawn_app().await;
    let (status, body) = anon(&app, Method::GET, "/api/v1/me", &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "unauthorized");
    let (status, _) = anon(&app, Method::GET, "/api/v1/servers", &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn one_client_keeps_its_session_and_another_user_agent_gets_another() {
    let app = anonymous_app(&[]).await;
    let a = session_of(&app, &[("user-agent", "client-a")]).await;
    assert_eq!(session_of(&app, &[("user-agent", "client-a")]).await, a);
    let b = session_of(&app, &[("user-agent", "client-b")]).await;
    assert_ne!(a, b);
    // A presented anonymous id is no credential.
    let (status, body) = app.get("/api/v1/me", &a).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn forwarded_headers_are_ignored_from_untrusted_peers_and_honoured_from_trusted_ones() {
    let untrusted = anonymous_app(&[]).await;
    let ua = ("user-agent", "ua");
    let one = session_of(&untrusted, &[ua, ("x-forwarded-for", "203.0.113.1")]).await;
    let two = session_of(&untrusted, &[ua, ("x-forwarded-for", "203.0.113.2")]).await;
    let none = session_of(&untrusted, &[ua]).await;
    assert_eq!(one, two, "an untrusted peer cannot pick its address");
    assert_eq!(one, none);

    let trusted = anonymous_app(&["127.0.0.0/8"]).await;
    let one = session_of(&trusted, &[ua, ("x-forwarded-for", "203.0.113.1")]).await;
    let again = session_of(&trusted, &[ua, ("x-forwarded-for", "203.0.113.1")]).await;
    let two = session_of(&trusted, &[ua, ("x-forwarded-for", "203.0.113.2")]).await;
    let fwd = session_of(&trusted, &[ua, ("forwarded", "for=203.0.113.3")]).await;
    assert_eq!(one, again);
    assert_ne!(one, two, "clients behind a trusted proxy are told apart");
    assert_ne!(fwd, one);
    assert_ne!(fwd, two);
}

#[tokio::test]
async fn an_anonymous_client_uses_public_servers_and_nothing_else() {
    let app = anonymous_app(&[]).await;
    add_fixture(&app, "pub").await;
    let mut private = fixture_server("priv");
    private["is_public"] = json!(false);
    create_server(&app, &app.admin_key, private).await;

    let (status, list) = anon(&app, Method::GET, "/api/v1/servers", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["pub"], "{list}");

    for (method, path) in [
        (Method::GET, "/api/v1/servers/priv"),
        (Method::POST, "/api/v1/servers/priv/connect"),
    ] {
        let (status, body) = anon(&app, method, path, &[], Some(json!({}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let network = json!({"name": "mine", "transport": "streamable_http",
        "url": "http://127.0.0.1:9/mcp", "is_public": false});
    for (method, path, body) in [
        (Method::POST, "/api/v1/servers", network),
        (Method::POST, "/api/v1/categories", json!({"name": "c"})),
        (
            Method::PATCH,
            "/api/v1/servers/pub",
            json!({"description": "x"}),
        ),
        (Method::DELETE, "/api/v1/servers/pub", json!({})),
    ] {
        let (status, answer) = anon(&app, method, path, &[], Some(body)).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{path}: {status} {answer}"
        );
    }

    let (status, body) = anon(
        &app,
        Method::POST,
        "/api/v1/servers/pub/connect",
        &[],
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let client = mcp_client_over(reqwest::Client::new(), &app.url("/mcp"), None).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "pub__echo"), "{tools:?}");
    let result = client
        .call_tool(call("pub__echo", json!({"text": "hi"})))
        .await
        .expect("tools/call");
    assert!(text_of(&result).contains("hi"), "{result:?}");
    client.cancel().await.ok();

    // An API-key user's session does not see the anonymous connection.
    let alice = app.user_key("alice").await;
    let (_, mine) = app.get("/api/v1/session/servers", &alice).await;
    assert_eq!(mine["items"][0]["name"], "pub", "{mine}");
    assert_eq!(mine["items"][0]["status"], "DISCONNECTED", "{mine}");
}

/// An anonymous session hangs on the client's address and user agent, which
/// every page its browser opens shares: a page of another origin must not
/// act in it (drive-by connects), while the gateway's own page and clients
/// with a credential are unaffected.
#[tokio::test]
async fn another_sites_page_cannot_act_in_an_anonymous_session() {
    let app = anonymous_app(&[]).await;
    add_fixture(&app, "pub").await;
    let own = app.url("");
    let own = own.trim_end_matches('/');
    let evil = [("origin", "http://evil.example")];

    let (status, body) = anon(
        &app,
        Method::POST,
        "/api/v1/servers/pub/connect",
        &evil,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "forbidden");
    let (status, body) = anon(&app, Method::GET, "/api/v1/me", &[("origin", "null")], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = anon(
        &app,
        Method::POST,
        "/graphql",
        &evil,
        Some(json!({"query": "mutation { connectMcpServer(name: \"pub\") { success } }"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Its WebSocket gets no anonymous session either: without a credential
    // in `connection_init` the socket is closed, never acknowledged.
    let mut request = app.graphql_ws_request();
    let headers = request.headers_mut();
    headers.insert("origin", "http://evil.example".parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    ws.send(Message::text(
        json!({"type": "connection_init", "payload": {}}).to_string(),
    ))
    .await
    .expect("init");
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .expect("an answer to connection_init");
    assert!(
        matches!(answer, Some(Ok(Message::Close(_))) | None),
        "expected the socket closed, got {answer:?}"
    );

    // Nothing was connected by those requests.
    let (status, list) = anon(&app, Method::GET, "/api/v1/session/servers", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["status"], "DISCONNECTED", "{list}");

    // The gateway's own page (same origin) and a keyed caller from anywhere work.
    let (status, body) = anon(
        &app,
        Method::POST,
        "/api/v1/servers/pub/connect",
        &[("origin", own)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&app.admin_key)
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), StatusCode::OK);
}
