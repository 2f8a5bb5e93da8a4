//! Anonymous clients: what every REST route answers them (a table checked
//! against the OpenAPI document, so a new route cannot slip through
//! undecided), and that no presented or forged value (an `anon_…` id as a
//! bearer token, spoofed forwarded headers from an untrusted peer, another
//! client's `Mcp-Session-Id`) opens another anonymous client's session.

use std::collections::BTreeSet;
use std::net::IpAddr;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{TestApp, code};
use crate::support::mcp::{
    Client, SESSION_REVISION, call, initialize, mcp_client_over, names_in, session_id, text_of,
};
use crate::support::rest::connect;

use super::anonymous_contract::{anonymous_contract, body_for};
use super::{ALICE_PRIV, PUB, World, statuses, tool_servers, world, world_trusting};

/// A client without credentials: its user agent, the local address it
/// connects from (any 127.x address reaches the gateway) and headers it adds
/// to every request, REST and MCP alike.
#[derive(Clone)]
struct Anon {
    client: reqwest::Client,
}

impl Anon {
    fn new(user_agent: &str, from: Option<&str>, headers: &[(&'static str, &str)]) -> Self {
        let mut defaults = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            defaults.append(*name, value.parse().expect("a header value"));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(user_agent.to_owned())
            .default_headers(defaults);
        if let Some(from) = from {
            let ip: IpAddr = from.parse().expect("a local address");
            builder = builder.local_address(ip);
        }
        Self {
            client: builder.build().expect("client builds"),
        }
    }

    fn request(&self, app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, app.url(path))
    }

    async fn call(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.request(app, method, path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The anonymous session id the gateway gives this client.
    async fn session(&self, app: &TestApp) -> String {
        let (status, me) = self.call(app, Method::GET, "/api/v1/me", None).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["role"], "anonymous", "{me}");
        me["session"].as_str().expect("a session").to_owned()
    }

    /// An rmcp client on `/mcp` as this anonymous client.
    async fn mcp(&self, app: &TestApp) -> Client {
        mcp_client_over(self.client.clone(), &app.url("/mcp"), None).await
    }
}

/// Every `(method, path)` of the REST API's OpenAPI document.
async fn documented_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let (status, doc) = app.get("/api/v1/openapi.json", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK);
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            if ["get", "post", "patch", "put", "delete"].contains(&method.as_str()) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn anonymous_clients_list_and_connect_public_servers_and_get_the_documented_answer_everywhere_else()
 {
    let w = world().await;
    let app = &w.app;
    let (status, category) = app
        .post(
            "/api/v1/categories",
            &app.admin_key,
            json!({"name": "tools"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{category}");
    let ctg = category["id"].as_str().expect("id").to_owned();
    let (status, body) = app
        .patch(
            &format!("/api/v1/servers/{ALICE_PRIV}"),
            &w.alice,
            json!({"category_id": ctg}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    connect(app, ALICE_PRIV, &w.alice).await;
    let (status, toolset) = app
        .post(
            "/api/v1/toolsets",
            &w.alice,
            json!({"name": "alice-kit", "entries": [{"server": ALICE_PRIV, "tool": "*"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{toolset}");
    let tls = toolset["id"].as_str().expect("id").to_owned();

    let contract = anonymous_contract();
    let decided: BTreeSet<(String, String)> = contract
        .iter()
        .map(|(m, p, _, _)| (m.as_str().to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented_routes(app).await,
        decided,
        "every REST route needs a decided anonymous answer here"
    );

    let anon = Anon::new("anon-contract", None, &[]);
    for (method, _, template, expected) in contract {
        let path = template
            .replace("{pub}", PUB)
            .replace("{alice}", &w.alice_priv_id)
            .replace("{ctg}", &ctg)
            .replace("{tls}", &tls);
        let body = body_for(&method, template);
        let (status, answer) = anon
            .call(app, method.clone(), &format!("/api/v1{path}"), body)
            .await;
        assert_eq!(status, expected, "anonymous {method} {path}: {answer}");
        let mut text = answer.to_string();
        if template == "/audit" {
            // The caller's own trail names the ids this caller sent (its
            // refused connects of alice's server), and nothing else.
            text = text.replace(&format!("\"target\":\"{}\"", w.alice_priv_id), "");
        }
        assert!(
            !text.contains(ALICE_PRIV) && !text.contains(&w.alice_priv_id),
            "anonymous {method} {path} shows alice's server: {text}"
        );
        if status == StatusCode::NOT_FOUND {
            let expected = if template.starts_with("/toolsets") {
                "toolset_not_found"
            } else {
                "server_not_found"
            };
            assert_eq!(code(&answer), expected, "{path}: {answer}");
        }
        if status == StatusCode::FORBIDDEN {
            assert_eq!(code(&answer), "forbidden", "{path}: {answer}");
        }
    }

    // Nothing an anonymous client did changed the catalog.
    let (_, servers) = app.get("/api/v1/servers?limit=200", &app.admin_key).await;
    assert_eq!(
        names_in(&servers["items"]),
        ["alice-priv", "bob-priv", "pub"]
    );
    let (_, categories) = app.get("/api/v1/categories", &app.admin_key).await;
    assert_eq!(names_in(&categories["items"]), ["tools"]);

    // And it may use /mcp with the public server it connected.
    let (status, _) = anon
        .call(
            app,
            Method::POST,
            &format!("/api/v1/servers/{PUB}/connect"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let client = anon.mcp(app).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(
        tools.iter().all(|t| t.name.starts_with("pub__")),
        "{tools:?}"
    );
    let echoed = client
        .call_tool(call("pub__echo", json!({"text": "anon"})))
        .await
        .expect("anonymous call");
    assert_eq!(text_of(&echoed), "anon");
    let err = client
        .call_tool(call("alice-priv__echo", json!({"text": "steal"})))
        .await
        .expect_err("alice's tool is no anonymous tool");
    assert!(matches!(err, rmcp::ServiceError::McpError(_)), "{err:?}");
    client.cancel().await.ok();
    let resp = anon
        .request(app, Method::POST, &format!("/mcp/s/{ALICE_PRIV}"))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize("2025-06-18"))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_presented_anonymous_id_is_no_credential_on_rest_or_mcp() {
    let w = world().await;
    let app = &w.app;
    let victim = Anon::new("victim-agent", None, &[]);
    let (status, _) = victim
        .call(
            app,
            Method::POST,
            &format!("/api/v1/servers/{PUB}/connect"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = victim.session(app).await;

    for token in [
        id.clone(),
        id.to_uppercase(),
        format!("mfk_{id}"),
        id.replace("anon_", ""),
    ] {
        for path in [
            "/api/v1/me",
            "/api/v1/session/tools",
            "/api/v1/session/servers",
        ] {
            let (status, body) = app.get(path, &token).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{path} with {token}: {body}"
            );
        }
        let (status, body) = app.delete("/api/v1/session", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let resp = app
            .mcp_post("/mcp", Some(&token), None, &initialize("2025-06-18"))
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "/mcp with {token}");
    }
    // A JWT naming the anonymous id as its subject is refused too.
    let forged = super::jwt(&id, &[]);
    let (status, body) = app.get("/api/v1/me", &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let resp = app
        .mcp_post("/mcp", Some(&forged), None, &initialize("2025-06-18"))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // The victim's connection is untouched.
    let (_, mine) = victim
        .call(app, Method::GET, "/api/v1/session/servers", None)
        .await;
    assert_eq!(
        statuses(&mine).get(PUB).map(String::as_str),
        Some("CONNECTED"),
        "{mine}"
    );
}

/// Asserts that `intruder` has its own, empty anonymous session next to
/// `victim`'s (which has `pub` connected), and that its logout leaves the
/// victim's connection alone.
async fn assert_separate(w: &World, what: &str, victim: &Anon, intruder: &Anon) {
    let app = &w.app;
    let victim_id = victim.session(app).await;
    let intruder_id = intruder.session(app).await;
    assert_ne!(
        victim_id, intruder_id,
        "{what}: the intruder got the victim's session"
    );
    let (_, theirs) = intruder
        .call(app, Method::GET, "/api/v1/session/servers", None)
        .await;
    assert_eq!(
        statuses(&theirs).get(PUB).map(String::as_str),
        Some("DISCONNECTED"),
        "{what}: {theirs}"
    );
    let (_, tools) = intruder
        .call(app, Method::GET, "/api/v1/session/tools", None)
        .await;
    assert!(tool_servers(&tools).is_empty(), "{what}: {tools}");
    let client = intruder.mcp(app).await;
    let listed = client.list_all_tools().await.expect("tools/list");
    assert!(listed.is_empty(), "{what}: {listed:?}");
    client.cancel().await.ok();
    let (status, _) = intruder
        .call(app, Method::DELETE, "/api/v1/session", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = victim
        .call(app, Method::GET, "/api/v1/session/servers", None)
        .await;
    assert_eq!(
        statuses(&mine).get(PUB).map(String::as_str),
        Some("CONNECTED"),
        "{what}: the intruder's logout reached the victim: {mine}"
    );
}

#[tokio::test]
async fn spoofed_forwarded_headers_from_an_untrusted_peer_never_yield_another_clients_session() {
    // 127.0.0.2 is the trusted proxy; 127.0.0.3 is an untrusted peer.
    let w = world_trusting(&["127.0.0.2"]).await;
    let app = &w.app;
    let ua = "shared-agent/1.0";
    let victim = Anon::new(ua, Some("127.0.0.2"), &[("x-forwarded-for", "203.0.113.7")]);
    let (status, body) = victim
        .call(
            app,
            Method::POST,
            &format!("/api/v1/servers/{PUB}/connect"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let spoofs: [(&str, Anon); 5] = [
        (
            "the victim's X-Forwarded-For",
            Anon::new(ua, Some("127.0.0.3"), &[("x-forwarded-for", "203.0.113.7")]),
        ),
        (
            "a chain ending in the trusted proxy",
            Anon::new(
                ua,
                Some("127.0.0.3"),
                &[("x-forwarded-for", "203.0.113.7, 127.0.0.2")],
            ),
        ),
        (
            "the victim's address in Forwarded",
            Anon::new(ua, Some("127.0.0.3"), &[("forwarded", "for=203.0.113.7")]),
        ),
        (
            "X-Real-IP and the victim's chain",
            Anon::new(
                ua,
                Some("127.0.0.3"),
                &[
                    ("x-real-ip", "203.0.113.7"),
                    ("x-forwarded-for", "203.0.113.7"),
                ],
            ),
        ),
        (
            // Through the trusted proxy, which appends the real client.
            "a forged first hop behind the trusted proxy",
            Anon::new(
                ua,
                Some("127.0.0.2"),
                &[("x-forwarded-for", "203.0.113.7, 198.51.100.9")],
            ),
        ),
    ];
    for (what, intruder) in &spoofs {
        assert_separate(&w, what, &victim, intruder).await;
    }
}

#[tokio::test]
async fn one_anonymous_clients_mcp_session_is_404_for_another_anonymous_client() {
    let w = world().await;
    let app = &w.app;
    let first = Anon::new("first-agent", None, &[]);
    let second = Anon::new("second-agent", None, &[]);
    let resp = first
        .request(app, Method::POST, "/mcp")
        .header("accept", "application/json, text/event-stream")
        .json(&initialize(SESSION_REVISION))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let session = session_id(&resp);
    drop(resp);
    for method in [Method::POST, Method::GET, Method::DELETE] {
        let accept = if method == Method::GET {
            "text/event-stream"
        } else {
            "application/json, text/event-stream"
        };
        let mut req = second
            .request(app, method.clone(), "/mcp")
            .header("accept", accept)
            .header("mcp-session-id", &session);
        if method == Method::POST {
            req = req.json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
        }
        let resp = req.send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method}");
    }
    // A user with a key cannot take it over either.
    let resp = app
        .mcp_post(
            "/mcp",
            Some(&w.bob),
            Some(&session),
            &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
