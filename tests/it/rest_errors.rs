//! Bad input never gets a 500: a table of malformed requests and a
//! property test of arbitrary bodies against every write route.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{TestApp, code, spawn_app_with};

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.admin_key)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.expect("sent");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn malformed_bodies_get_a_4xx_with_a_stable_code() {
    let app = spawn_app_with(|s| s.http.max_body_bytes = 4096).await;
    let json_ct = Some("application/json");
    type Case = (
        &'static str,
        Option<&'static str>,
        Vec<u8>,
        StatusCode,
        &'static str,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "/api/v1/categories",
            json_ct,
            b"{\"name\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
            None,
        ),
        (
            "/api/v1/categories",
            json_ct,
            b"".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
            None,
        ),
        (
            "/api/v1/categories",
            json_ct,
            b"{\"name\":\"a\"} trailing".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
            None,
        ),
        (
            "/api/v1/categories",
            json_ct,
            b"{\"name\": 5}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            Some("name"),
        ),
        (
            "/api/v1/categories",
            json_ct,
            b"{\"name\":\"a\",\"colour\":\"#fff\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            None,
        ),
        (
            "/api/v1/categories",
            json_ct,
            b"{}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            Some("name"),
        ),
        (
            "/api/v1/categories",
            json_ct,
            b"[1,2]".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            None,
        ),
        (
            "/api/v1/categories",
            json_ct,
            b"null".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            None,
        ),
        (
            "/api/v1/categories",
            Some("text/plain"),
            b"{\"name\":\"a\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        ),
        (
            "/api/v1/categories",
            None,
            b"{\"name\":\"a\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        ),
        (
            "/api/v1/categories",
            json_ct,
            format!("{{\"name\":\"{}\"}}", "x".repeat(5000)).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
        (
            "/api/v1/categories",
            json_ct,
            vec![0xff, 0xfe, 0x00],
            StatusCode::BAD_REQUEST,
            "invalid_json",
            None,
        ),
        (
            "/api/v1/servers",
            json_ct,
            b"{\"name\":\"a\",\"transport\":\"sse\",\"url\":\"https://h\",\"headers\":[\"x\"]}"
                .to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            Some("headers"),
        ),
        (
            "/api/v1/servers",
            json_ct,
            b"{\"name\":\"a\",\"transport\":\"sse\",\"url\":\"https://h\",\"is_public\":\"yes\"}"
                .to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            Some("is_public"),
        ),
        (
            "/api/v1/servers",
            json_ct,
            b"{\"name\":\"a\",\"transport\":\"stdio\",\"command\":\"x\",\"args\":[1]}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            Some("args[0]"),
        ),
    ];
    for (path, ct, body, want_status, want_code, want_field) in cases {
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(60)
            .collect::<String>();
        let (status, err) = raw(&app, Method::POST, path, ct, body).await;
        assert_eq!(status, want_status, "{path} {ct:?} {shown} → {err}");
        assert_eq!(code(&err), want_code, "{shown}");
        if let Some(field) = want_field {
            assert_eq!(err["error"]["field"], field, "{shown} → {err}");
        }
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let (_, list) = app.get("/api/v1/categories", &app.admin_key).await;
    assert_eq!(
        list["items"],
        json!([]),
        "no malformed request wrote anything"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = spawn_app_with(|_| {}).await;
    let (status, err) = app.get("/api/v1/nope", &app.admin_key).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::NOT_FOUND, "route_not_found")
    );
    let (status, err) = app
        .call(
            Method::PUT,
            "/api/v1/categories",
            Some(&app.admin_key),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let (status, err) = app.get("/api/v1/servers?limit=abc", &app.admin_key).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    let (status, err) = app
        .get(
            "/api/v1/categories/ctg_x?include=everything",
            &app.admin_key,
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "invalid_include")
    );
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "stdio",
            "sse",
            "websocket",
            "streamable_http",
            "https://h/x",
            "ws://h",
            "#fff",
            "ctg_0000000000000000"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "name",
                    "title",
                    "transport",
                    "url",
                    "headers",
                    "env",
                    "args",
                    "command",
                    "icon",
                    "color",
                    "is_public",
                    "query_params",
                    "category_id",
                    "cwd",
                    "x"
                ])
                .prop_map(str::to_owned),
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[tokio::test]
async fn arbitrary_bodies_never_cause_a_server_error() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.user_key("fuzzer").await;
    let mut runner = TestRunner::deterministic();
    let bodies = json_value();
    let bytes = prop::collection::vec(any::<u8>(), 0..64);
    let routes = [
        (Method::POST, "/api/v1/categories"),
        (Method::POST, "/api/v1/servers"),
        (Method::PATCH, "/api/v1/servers/target"),
    ];
    app.post(
        "/api/v1/servers",
        &app.admin_key,
        json!({"name": "target", "transport": "sse", "url": "https://h/sse"}),
    )
    .await;
    for i in 0..300 {
        let (method, path) = &routes[i % routes.len()];
        let key = if i % 2 == 0 { &app.admin_key } else { &user };
        let body = if i % 5 == 0 {
            bytes.new_tree(&mut runner).expect("bytes").current()
        } else {
            serde_json::to_vec(&bodies.new_tree(&mut runner).expect("json").current())
                .expect("encode")
        };
        let resp = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        assert!(
            status.is_success() || status.is_client_error(),
            "{method} {path} {} → {status}",
            String::from_utf8_lossy(&body)
        );
        if status.is_client_error() {
            let err: Value = resp.json().await.expect("error body is JSON");
            assert!(err["error"]["code"].is_string(), "{err}");
        }
    }
}
