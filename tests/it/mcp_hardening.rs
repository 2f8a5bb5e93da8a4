//! `/mcp` checks `Host` and `Origin` against `http.allowed_hosts` /
//! `http.allowed_origins` (DNS-rebinding protection), loopback by default;
//! answers bodies that are not JSON-RPC with JSON-RPC errors, wrong content
//! types with 415 and oversized bodies with 413; and never answers 5xx to
//! any client input (a generated-input run over bodies and headers).

use reqwest::StatusCode;

use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app, spawn_app_with};
use crate::support::mcp::{initialize, start_session};
use crate::support::rest::{add_fixture, connect};

/// POSTs an initialize to `/mcp` with the admin key and extra headers.
async fn init_with(app: &TestApp, headers: &[(&str, &str)]) -> StatusCode {
    let mut req = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&app.admin_key)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize("2025-06-18"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("sent").status()
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused_by_default() {
    let app = spawn_app().await;
    assert_eq!(init_with(&app, &[]).await, StatusCode::OK);
    assert_eq!(
        init_with(&app, &[("host", "evil.example")]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        init_with(&app, &[("origin", "http://evil.example")]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        init_with(&app, &[("origin", "http://localhost:5173")]).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn configured_public_names_are_accepted() {
    let app = spawn_app_with(|s| {
        s.http.allowed_hosts = vec!["mcp.example.com".into()];
        s.http.allowed_origins = vec!["https://app.example.com:443".into()];
    })
    .await;
    assert_eq!(
        init_with(&app, &[("host", "mcp.example.com")]).await,
        StatusCode::OK
    );
    assert_eq!(
        init_with(
            &app,
            &[
                ("host", "mcp.example.com"),
                ("origin", "https://app.example.com")
            ]
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        init_with(
            &app,
            &[
                ("host", "mcp.example.com"),
                ("origin", "https://evil.example")
            ]
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        init_with(&app, &[("host", "127.0.0.1")]).await,
        StatusCode::FORBIDDEN,
        "loopback is no longer listed"
    );
}

#[tokio::test]
async fn a_star_accepts_any_host() {
    let app = spawn_app_with(|s| s.http.allowed_hosts = vec!["*".into()]).await;
    assert_eq!(
        init_with(&app, &[("host", "anything.example")]).await,
        StatusCode::OK
    );
}

/// POSTs `body` with `content_type` to `path` as the admin.
async fn send_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: &'static str,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&app.admin_key)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn a_body_that_is_not_json_gets_a_json_rpc_parse_error() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    for path in ["/mcp", "/mcp/s/fx"] {
        for body in ["{not json", "", "{\"jsonrpc\":\"2.0\",", "\u{0}"] {
            let resp = send_raw(&app, path, "application/json", body).await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path} {body:?}");
            let answer: Value = resp.json().await.expect("a JSON-RPC error");
            assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
            assert_eq!(answer["id"], Value::Null, "{answer}");
            assert_eq!(answer["error"]["code"], -32700, "{path} {body:?}: {answer}");
            assert!(answer["error"]["message"].is_string(), "{answer}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn json_that_is_no_json_rpc_message_gets_an_invalid_request_error() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    for path in ["/mcp", "/mcp/s/fx"] {
        for (body, id) in [
            ("[]", Value::Null),
            ("null", Value::Null),
            ("42", Value::Null),
            ("{\"jsonrpc\":\"2.0\"}", Value::Null),
            (
                "{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"ping\"}",
                json!(7),
            ),
            (
                "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":42}",
                json!("x"),
            ),
        ] {
            let resp = send_raw(&app, path, "application/json", body).await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path} {body}");
            let answer: Value = resp.json().await.expect("a JSON-RPC error");
            assert_eq!(answer["error"]["code"], -32600, "{path} {body}: {answer}");
            assert_eq!(answer["id"], id, "{path} {body}: {answer}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_content_type_is_unsupported_media_type() {
    let app = spawn_app().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "json"] {
        let resp = send_raw(&app, "/mcp", content_type, "{not json").await;
        assert_eq!(
            resp.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
    }
    // Parameters after the media type are fine.
    let resp = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&app.admin_key)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json; charset=utf-8")
        .body(initialize("2025-06-18").to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_http_max_body_bytes_is_refused() {
    let app = spawn_app_with(|s| s.http.max_body_bytes = 4096).await;
    let mut body = initialize("2025-06-18");
    body["params"]["clientInfo"]["name"] = serde_json::Value::String("x".repeat(8192));
    let resp = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&app.admin_key)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        init_with(&app, &[]).await,
        StatusCode::OK,
        "a normal body still passes"
    );
}

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Valid messages the mutations start from.
fn seeds(session_version: &str) -> Vec<Value> {
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    vec![
        initialize("2025-06-18"),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "fx__echo", "arguments": {"text": session_version}}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "server/discover", "params": {"_meta": meta}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": meta}}),
        json!({"jsonrpc": "2.0", "id": 6, "method": "subscriptions/listen",
               "params": {"notifications": {"toolsListChanged": true}, "_meta": meta}}),
        json!({"jsonrpc": "2.0", "id": 7, "result": {}}),
        json!({"jsonrpc": "2.0", "id": 8, "error": {"code": -1, "message": "x"}}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}),
        json!({"jsonrpc": "2.0", "id": 9, "method": "resources/read", "params": {"uri": "manifold://fx/x"}}),
    ]
}

/// Replaces a random value inside `value` with an odd one.
fn mutate_value(value: &mut Value, g: &mut Gen) {
    let odd = [
        Value::Null,
        json!(-1),
        json!(1e308),
        json!(u64::MAX),
        json!(""),
        json!("\u{0}\u{ffff}"),
        json!([]),
        json!({}),
        json!([[[[[[]]]]]]),
        json!("x".repeat(300)),
        json!(true),
    ];
    match value {
        Value::Object(map) if !map.is_empty() && g.below(3) > 0 => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[g.below(keys.len())];
            if let Some(inner) = map.get_mut(key) {
                mutate_value(inner, g);
            }
        }
        Value::Object(map) if g.below(2) == 0 => {
            let keys: Vec<String> = map.keys().cloned().collect();
            if let Some(key) = keys.get(g.below(keys.len().max(1))) {
                map.remove(key);
            }
        }
        _ => *value = odd[g.below(odd.len())].clone(),
    }
}

/// A request body: a seed, mutated as JSON or as bytes.
fn body(g: &mut Gen, seeds: &[Value]) -> Vec<u8> {
    let mut value = seeds[g.below(seeds.len())].clone();
    if g.below(3) == 0 {
        mutate_value(&mut value, g);
    }
    let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
    match g.below(8) {
        0 if !bytes.is_empty() => bytes.truncate(g.below(bytes.len())),
        1 if !bytes.is_empty() => {
            let at = g.below(bytes.len());
            bytes[at] = u8::try_from(g.next() & 0xff).unwrap_or(0);
        }
        2 => {
            let at = g.below(bytes.len() + 1);
            let junk = g.pick(&[
                "{", "}", "\"", "\\", ",", "\u{fffd}", "[", "\u{0}", "1e99999",
            ]);
            bytes.splice(at..at, junk.bytes());
        }
        _ => {}
    }
    bytes
}

/// Where and how a generated request is sent.
struct Envelope {
    path: &'static str,
    method: reqwest::Method,
    headers: Vec<(&'static str, String)>,
}

/// POST /mcp with the right content type and accept, and either the live
/// session (2025-06-18) or the stateless revision's headers.
fn clean_envelope(g: &mut Gen, body: &[u8], session: &str) -> Envelope {
    let mut headers = vec![
        ("content-type", "application/json".to_owned()),
        ("accept", "application/json, text/event-stream".to_owned()),
    ];
    if g.below(2) == 0 {
        headers.push(("mcp-protocol-version", "2025-06-18".to_owned()));
        headers.push(("mcp-session-id", session.to_owned()));
    } else {
        headers.push(("mcp-protocol-version", "2026-07-28".to_owned()));
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if let Some(method) = parsed["method"].as_str() {
            headers.push(("mcp-method", method.to_owned()));
        }
        if let Some(name) = parsed["params"]["name"].as_str() {
            headers.push(("mcp-name", name.to_owned()));
        }
    }
    Envelope {
        path: "/mcp",
        method: reqwest::Method::POST,
        headers,
    }
}

/// Any path, method and mix of headers.
fn odd_envelope(g: &mut Gen, session: &str) -> Envelope {
    let path = g.pick(&["/mcp", "/mcp/s/fx", "/mcp/s/nope", "/mcp/", "/mcp/s/FX%00"]);
    let method = match g.below(4) {
        0 => reqwest::Method::GET,
        1 => reqwest::Method::DELETE,
        2 => reqwest::Method::PUT,
        _ => reqwest::Method::POST,
    };
    let mut headers = Vec::new();
    let content_type = g.pick(&[
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "text/plain",
        "",
    ]);
    if !content_type.is_empty() {
        headers.push(("content-type", content_type.to_owned()));
    }
    let accept = g.pick(&[
        "application/json, text/event-stream",
        "text/event-stream",
        "*/*",
    ]);
    headers.push(("accept", accept.to_owned()));
    match g.below(3) {
        // A DELETE would end the session the other rounds use.
        0 if method != reqwest::Method::DELETE => {
            headers.push(("mcp-session-id", session.to_owned()))
        }
        1 => {
            let other = g.pick(&["x", "00000000-0000-0000-0000-000000000000", "a b", "*"]);
            headers.push(("mcp-session-id", other.to_owned()));
        }
        _ => {}
    }
    let version = g.pick(&[
        "",
        "2025-03-26",
        "2025-11-25",
        "2026-07-28",
        "9999-99-99",
        "garbage",
    ]);
    if !version.is_empty() {
        headers.push(("mcp-protocol-version", version.to_owned()));
    }
    if g.below(3) == 0 {
        let method = g.pick(&["tools/list", "tools/call", "initialize", "", "x\u{7f}"]);
        headers.push(("mcp-method", method.to_owned()));
    }
    Envelope {
        path,
        method,
        headers,
    }
}

#[tokio::test]
async fn no_generated_request_gets_a_server_error() {
    // 400 requests at full speed: lift the user rate limit so they reach the handler.
    let app = spawn_app_with(|s| s.limits.user_per_second = 0).await;
    add_fixture(&app, "fx").await;
    let key = app.user_key("fuzzer").await;
    connect(&app, "fx", &key).await;
    let (session, _) = start_session(&app, "/mcp", &key, "2025-06-18").await;
    let seeds = seeds("2025-06-18");
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("client");
    let mut served = 0;
    for round in 0..400 {
        let body = body(&mut g, &seeds);
        // Even rounds keep a valid envelope so the mutated body reaches the
        // MCP handler; odd rounds mutate the envelope too.
        let request = if round % 2 == 0 {
            clean_envelope(&mut g, &body, &session)
        } else {
            odd_envelope(&mut g, &session)
        };
        let Envelope {
            path,
            method,
            headers,
        } = request;
        let mut req = client
            .request(method.clone(), app.url(path))
            .bearer_auth(&key)
            .body(body.clone());
        for (name, value) in &headers {
            if let Ok(value) = reqwest::header::HeaderValue::from_str(value) {
                req = req.header(*name, value);
            }
        }
        // Streams (GET, subscriptions) may stay open: only the status matters.
        let status = match req.send().await {
            Ok(resp) => resp.status(),
            Err(err) if err.is_timeout() => continue,
            Err(err) => panic!("round {round}: {err}"),
        };
        assert!(
            !status.is_server_error(),
            "round {round}: {method} {path} {headers:?} body {:?} → {status}",
            String::from_utf8_lossy(&body)
        );
        served += usize::from(status.is_success());
    }
    eprintln!("{served} of 400 generated requests were served");
    assert!(
        served >= 40,
        "the run reached the MCP handler only {served} times"
    );
    // The session still works afterwards.
    let resp = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 99, "method": "tools/list", "params": {}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    app.stop().await;
}
