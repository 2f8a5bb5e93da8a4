//! Serves the embedded admin web page: `admin-ui/index.html` at `/` and the
//! other files of `admin-ui/` under `/ui/`.
//!
//! The files are plain HTML, CSS and JavaScript modules (no build step).
//! Release builds embed them; debug builds read them from `admin-ui/` on each
//! request, so an edit shows on reload. Every response carries a strict
//! Content-Security-Policy (own origin only, no inline script or style,
//! Trusted Types for DOM sinks) and an `ETag`; files are revalidated on each
//! use (`Cache-Control: no-cache`), which a matching `If-None-Match` turns
//! into a bodiless 304. The page itself needs no credential: it asks for one
//! and calls the APIs with it.

use crate::error::ErrorCode;
use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::http::ApiError;
use crate::state::AppState;

/// Where the page's own files (scripts, styles, icons) are served.
pub const ASSETS: &str = "/ui";

/// The Content-Security-Policy of every UI response. `connect-src 'self'`
/// covers the REST API, `/graphql` and the `/graphql/ws` WebSocket of the
/// same origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
require-trusted-types-for 'script'; trusted-types 'none'";

#[derive(RustEmbed)]
#[folder = "admin-ui/"]
struct Files;

/// `GET /` and `GET /ui/{*path}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route(&format!("{ASSETS}/{{*path}}"), get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if !is_plain_path(&path) {
        return not_found();
    }
    serve(&path, &headers)
}

/// Relative, `/`-separated, no empty, `.` or `..` segment, no hidden file,
/// no backslash: the only shape an embedded file name has.
fn is_plain_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|segment| !segment.is_empty() && !segment.starts_with('.'))
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Files::get(path) else {
        return not_found();
    };
    let etag = etag(&file.metadata.sha256_hash());
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(Body::from(file.data.into_owned()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        );
        response
    };
    let out = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(out);
    response
}

/// The headers every UI response carries, 404s included.
fn security_headers(out: &mut HeaderMap) {
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    out.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    out.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

fn not_found() -> Response {
    let mut response = ApiError::code_response(ErrorCode::RouteNotFound, "no such route");
    security_headers(response.headers_mut());
    response
}

fn etag(hash: &[u8; 32]) -> String {
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The media type of an embedded file, by extension.
fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, ext)| ext)
        .unwrap_or_default();
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_served() {
        for good in ["app.js", "js/api.js", "icons/logo.svg"] {
            assert!(is_plain_path(good), "{good}");
        }
        for bad in [
            "",
            "../Cargo.toml",
            "js/../../src/lib.rs",
            "/etc/passwd",
            "js//api.js",
            ".hidden",
            "./app.js",
            "js\\api.js",
        ] {
            assert!(!is_plain_path(bad), "{bad}");
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("js/app.JS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn the_page_and_its_entry_script_are_embedded() {
        assert!(Files::get("index.html").is_some());
        assert!(Files::get("app.js").is_some());
    }
}
