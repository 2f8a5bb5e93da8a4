//! The OpenAPI document matches the routes the server really answers.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::app::{code, spawn_app};

#[tokio::test]
async fn every_documented_operation_is_routed_and_every_route_documented() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/v1/openapi.json", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in ["get", "post", "patch", "delete", "put"] {
            if item.get(method).is_some() {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let expected: BTreeSet<String> = [
        "GET /me",
        "GET /categories",
        "POST /categories",
        "GET /categories/{id}",
        "PATCH /categories/{id}",
        "DELETE /categories/{id}",
        "GET /servers",
        "POST /servers",
        "GET /servers/{id}",
        "PATCH /servers/{id}",
        "DELETE /servers/{id}",
        "POST /servers/{id}/connect",
        "POST /servers/{id}/disconnect",
        "POST /servers/{id}/oauth/authorize",
        "DELETE /servers/{id}/oauth",
        "GET /session/servers",
        "GET /session/tools",
        "GET /session/langchain-config",
        "DELETE /session",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(operations, expected);
    for op in &operations {
        let (method, path) = op.split_once(' ').expect("op");
        let url = format!("/api/v1{}", path.replace("{id}", "missing"));
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let body = matches!(method, Method::POST | Method::PATCH)
            .then(|| Value::Object(Default::default()));
        let (status, resp) = app.call(method, &url, Some(&app.admin_key), body).await;
        assert!(
            !matches!(code(&resp), "route_not_found" | "method_not_allowed")
                && status != StatusCode::INTERNAL_SERVER_ERROR,
            "{op} is documented but answered {status} {resp}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in ["Category", "Server", "NewServer", "ErrorBody"] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}
