//! The page's static files over raw HTTP (no browser): headers, ETag
//! revalidation, content types, no way out of `admin-ui/`, and the switch
//! that turns the page off.

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::app::{spawn_app, spawn_app_with};
use manifold::ui::CSP;

/// A response read off the wire: status, lower-cased headers, body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET target` exactly as written (no client normalises `..` or `%2e`).
async fn raw_get(base: &str, target: &str, extra: &str) -> Raw {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut bytes = Vec::new();
    stream
        .read_to_end(&mut bytes)
        .await
        .expect("read the answer");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Raw {
        status,
        headers,
        body: body.to_owned(),
    }
}

#[tokio::test]
async fn the_page_is_served_with_strict_headers_and_revalidates_by_etag() {
    let app = spawn_app().await;

    // No credential needed.
    let page = raw_get(&app.base, "/", "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("content-security-policy"), Some(CSP));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert!(page.body.contains("<html"), "{}", page.body);
    let etag = page.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let again = raw_get(&app.base, "/", &format!("If-None-Match: {etag}\r\n")).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, "", "a 304 has no body");
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(again.header("content-security-policy"), Some(CSP));
    let stale = raw_get(&app.base, "/", "If-None-Match: \"other\"\r\n").await;
    assert_eq!(stale.status, 200);

    let script = raw_get(&app.base, "/ui/app.js", "").await;
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(script.header("x-content-type-options"), Some("nosniff"));
    assert!(script.header("etag").is_some_and(|t| t != etag));
    app.stop().await;
}

#[tokio::test]
async fn no_path_under_ui_reaches_a_file_outside_the_page() {
    let app = spawn_app().await;
    let cargo_toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("Cargo.toml");
    for target in [
        "/ui/../Cargo.toml",
        "/ui/%2e%2e/Cargo.toml",
        "/ui/%2E%2E/Cargo.toml",
        "/ui/..%2fCargo.toml",
        "/ui/%2e%2e%2fCargo.toml",
        "/ui/..%5cCargo.toml",
        "/ui//etc/passwd",
        "/ui/%2fetc%2fpasswd",
        "/ui/.hidden",
        "/ui/./app.js",
        "/ui/nope.js",
    ] {
        let got = raw_get(&app.base, target, "").await;
        assert_eq!(got.status, 404, "{target}: {}", got.body);
        let body: Value = serde_json::from_str(&got.body)
            .unwrap_or_else(|e| panic!("{target}: the 404 is not JSON ({e}): {}", got.body));
        assert_eq!(body["error"]["code"], "route_not_found", "{target}: {body}");
        assert!(
            !got.body.contains("[package]") && !got.body.contains("root:"),
            "{target} leaked a file: {}",
            got.body
        );
        assert_eq!(
            got.header("x-content-type-options"),
            Some("nosniff"),
            "{target}"
        );
    }
    // `/ui/` itself names no file (the API's fallback answers it).
    let bare = raw_get(&app.base, "/ui/", "").await;
    assert_eq!(bare.status, 404, "{}", bare.body);
    assert!(bare.body.contains("route_not_found"), "{}", bare.body);
    assert!(cargo_toml.contains("[package]"), "the probe string is real");
    app.stop().await;
}

#[tokio::test]
async fn with_the_ui_disabled_there_is_no_page() {
    let app = spawn_app_with(|s| s.ui.enabled = false).await;
    for path in ["/", "/ui/app.js"] {
        let resp = app.client.get(app.url(path)).send().await.expect("GET");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = resp.json().await.expect("a JSON 404");
        assert_eq!(body["error"]["code"], "route_not_found", "{path}: {body}");
    }
    // The APIs stay.
    let (status, me) = app.get("/api/v1/me", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    app.stop().await;
}
