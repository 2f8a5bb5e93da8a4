//! The anonymous REST contract: the answer an anonymous client gets from
//! every documented route, and a body each route would accept.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What an anonymous client gets on each REST route, as `(method, OpenAPI
/// path, concrete path, status)`; `{pub}` routes use the public server,
/// `{alice}` alice's private server, `{ctg}` a category.
pub(super) fn anonymous_contract() -> Vec<(Method, &'static str, &'static str, StatusCode)> {
    use StatusCode as S;
    vec![
        (Method::GET, "/me", "/me", S::OK),
        (Method::GET, "/servers", "/servers", S::OK),
        (Method::POST, "/servers", "/servers", S::FORBIDDEN),
        (Method::GET, "/servers/{id}", "/servers/{pub}", S::OK),
        (
            Method::GET,
            "/servers/{id}",
            "/servers/{alice}",
            S::NOT_FOUND,
        ),
        (
            Method::PATCH,
            "/servers/{id}",
            "/servers/{pub}",
            S::FORBIDDEN,
        ),
        (
            Method::PATCH,
            "/servers/{id}",
            "/servers/{alice}",
            S::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/servers/{id}",
            "/servers/{pub}",
            S::FORBIDDEN,
        ),
        (
            Method::DELETE,
            "/servers/{id}",
            "/servers/{alice}",
            S::NOT_FOUND,
        ),
        (
            Method::POST,
            "/servers/{id}/connect",
            "/servers/{pub}/connect",
            S::OK,
        ),
        (
            Method::POST,
            "/servers/{id}/connect",
            "/servers/{alice}/connect",
            S::NOT_FOUND,
        ),
        (
            Method::POST,
            "/servers/{id}/disconnect",
            "/servers/{pub}/disconnect",
            S::OK,
        ),
        (
            Method::POST,
            "/servers/{id}/disconnect",
            "/servers/{alice}/disconnect",
            S::NOT_FOUND,
        ),
        // `pub` needs no OAuth: nothing to authorize, nothing to forget.
        (
            Method::POST,
            "/servers/{id}/oauth/authorize",
            "/servers/{pub}/oauth/authorize",
            S::CONFLICT,
        ),
        (
            Method::POST,
            "/servers/{id}/oauth/authorize",
            "/servers/{alice}/oauth/authorize",
            S::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/servers/{id}/oauth",
            "/servers/{pub}/oauth",
            S::FORBIDDEN,
        ),
        (
            Method::DELETE,
            "/servers/{id}/oauth",
            "/servers/{alice}/oauth",
            S::NOT_FOUND,
        ),
        (Method::GET, "/categories", "/categories", S::OK),
        (Method::POST, "/categories", "/categories", S::FORBIDDEN),
        (
            Method::GET,
            "/categories/{id}",
            "/categories/{ctg}?include=servers",
            S::OK,
        ),
        (
            Method::PATCH,
            "/categories/{id}",
            "/categories/{ctg}",
            S::FORBIDDEN,
        ),
        (
            Method::DELETE,
            "/categories/{id}",
            "/categories/{ctg}",
            S::FORBIDDEN,
        ),
        (Method::GET, "/session/servers", "/session/servers", S::OK),
        (Method::GET, "/session/tools", "/session/tools", S::OK),
        (
            Method::GET,
            "/session/langchain-config",
            "/session/langchain-config",
            S::OK,
        ),
        (Method::DELETE, "/session", "/session", S::OK),
        // An anonymous session may hide tools from its own view.
        (
            Method::GET,
            "/session/tool-filter",
            "/session/tool-filter",
            S::OK,
        ),
        (
            Method::PUT,
            "/session/tool-filter",
            "/session/tool-filter",
            S::OK,
        ),
        (Method::GET, "/toolsets", "/toolsets", S::OK),
        (Method::POST, "/import", "/import", S::FORBIDDEN),
        (Method::GET, "/export", "/export", S::OK),
        (Method::POST, "/toolsets", "/toolsets", S::FORBIDDEN),
        // An anonymous session reads its own audit events only.
        (Method::GET, "/audit", "/audit", S::OK),
        (
            Method::GET,
            "/toolsets/{id}",
            "/toolsets/{tls}",
            S::NOT_FOUND,
        ),
        (
            Method::PATCH,
            "/toolsets/{id}",
            "/toolsets/{tls}",
            S::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/toolsets/{id}",
            "/toolsets/{tls}",
            S::NOT_FOUND,
        ),
        (Method::GET, "/keys", "/keys", S::FORBIDDEN),
        (Method::POST, "/keys", "/keys", S::FORBIDDEN),
        (Method::DELETE, "/keys/{id}", "/keys/key_x", S::FORBIDDEN),
    ]
}

/// A body the route would accept from a caller allowed to use it.
pub(super) fn body_for(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", "/servers") => Some(json!({"name": "anon-made", "transport": "streamable_http",
                                            "url": "http://127.0.0.1:9/mcp"})),
        ("POST", "/categories") => Some(json!({"name": "anon-cat"})),
        ("PATCH", p) if p.starts_with("/servers/") => Some(json!({"description": "anon"})),
        ("PATCH", p) if p.starts_with("/categories/") => Some(json!({"description": "anon"})),
        ("PATCH", p) if p.starts_with("/toolsets/") => Some(json!({"description": "anon"})),
        ("POST", "/toolsets") => Some(json!({"name": "anon-kit", "entries": []})),
        ("POST", "/import") => Some(json!({"mcpServers": {"anon-imported":
                                            {"url": "http://127.0.0.1:9/mcp"}}})),
        ("PUT", _) => Some(json!({})),
        ("POST", _) => Some(json!({})),
        _ => None,
    }
}
