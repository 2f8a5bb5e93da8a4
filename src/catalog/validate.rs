//! Field rules for catalog input. Each check names the field it judges and
//! fails with a stable code, so every surface reports the same thing.

use std::collections::BTreeMap;

use url::Url;

use crate::catalog::model::Transport;
use crate::error::{Error, ErrorCode, Result};

/// Longest category name, in characters.
pub const MAX_CATEGORY_NAME: usize = 100;
/// Longest icon text that is not a URL, in characters.
pub const MAX_ICON_TEXT: usize = 32;
/// Longest URL (icon or upstream).
pub const MAX_URL: usize = 2048;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 2000;
/// Longest server title, in characters.
pub const MAX_TITLE: usize = 200;
/// Most entries in `headers`, `query_params`, `env` and `args`.
pub const MAX_ENTRIES: usize = 100;

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A category name: trimmed, 1-100 characters, no control characters.
pub fn category_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    let len = name.chars().count();
    if len == 0 || len > MAX_CATEGORY_NAME || has_control(name) {
        return Err(Error::invalid(
            ErrorCode::InvalidName,
            "name",
            format!(
                "a category name is 1-{MAX_CATEGORY_NAME} characters after trimming, without control characters"
            ),
        ));
    }
    Ok(name.to_owned())
}

/// An icon: an http(s) URL, or a short emoji or text (≤ 32 characters).
/// Blank means no icon.
pub fn icon(raw: Option<&str>) -> Result<Option<String>> {
    let Some(icon) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bad = |why: &str| Err(Error::invalid(ErrorCode::InvalidIcon, "icon", why));
    let lower = icon.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        if icon.chars().count() > MAX_URL {
            return bad("an icon URL is at most 2048 characters");
        }
        match Url::parse(icon) {
            Ok(url) if url.host_str().is_some() => Ok(Some(url.to_string())),
            _ => bad("the icon is not a valid http(s) URL"),
        }
    } else if lower.contains("://")
        || lower.starts_with("javascript:")
        || lower.starts_with("data:")
    {
        bad("an icon is an http(s) URL or a short emoji/text")
    } else if icon.chars().count() > MAX_ICON_TEXT || has_control(icon) {
        bad("an icon that is not a URL is at most 32 characters of text or emoji")
    } else {
        Ok(Some(icon.to_owned()))
    }
}

/// A colour: `#RGB`, `#RRGGBB`, `rgb(r, g, b)` or `rgba(r, g, b, a)` with
/// channels 0-255 and alpha 0-1. Blank means no colour. Hex is kept as typed.
pub fn color(raw: Option<&str>) -> Result<Option<String>> {
    let Some(color) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if is_hex_color(color) || is_rgb_color(color) {
        Ok(Some(color.to_owned()))
    } else {
        Err(Error::invalid(
            ErrorCode::InvalidColor,
            "color",
            format!(
                "`{color}` is not a colour: use #RGB, #RRGGBB, rgb(r, g, b) or rgba(r, g, b, a)"
            ),
        ))
    }
}

fn is_hex_color(s: &str) -> bool {
    s.strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_rgb_color(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let (inner, want_alpha) = if let Some(rest) = lower.strip_prefix("rgba(") {
        (rest, true)
    } else if let Some(rest) = lower.strip_prefix("rgb(") {
        (rest, false)
    } else {
        return false;
    };
    let Some(inner) = inner.strip_suffix(')') else {
        return false;
    };
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    let channels_ok = |parts: &[&str]| {
        parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u16>().is_ok_and(|v| v <= 255))
    };
    match (want_alpha, parts.as_slice()) {
        (false, [r, g, b]) => channels_ok(&[r, g, b]),
        (true, [r, g, b, a]) => {
            channels_ok(&[r, g, b])
                && a.parse::<f64>().is_ok_and(|a| (0.0..=1.0).contains(&a))
                && !a.contains(['e', 'E', 'n', 'N', 'i', 'I'])
        }
        _ => false,
    }
}

/// Free text of bounded length; control characters other than newlines and
/// tabs are refused.
pub fn text(field: &'static str, raw: Option<&str>, max: usize) -> Result<String> {
    let value = raw.map(str::trim).unwrap_or_default();
    if value.chars().count() > max
        || value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(Error::invalid(
            ErrorCode::InvalidText,
            field,
            format!("`{field}` is at most {max} characters without control characters"),
        ));
    }
    Ok(value.to_owned())
}

/// An upstream URL for a network transport: absolute, with a host, a scheme
/// the transport speaks, no credentials (put them in `headers`), no fragment.
pub fn upstream_url(transport: Transport, raw: &str) -> Result<String> {
    let bad = |why: String| Err(Error::invalid(ErrorCode::InvalidUrl, "url", why));
    if raw.len() > MAX_URL {
        return bad("a URL is at most 2048 characters".into());
    }
    let url = match Url::parse(raw.trim()) {
        Ok(url) => url,
        Err(e) => return bad(format!("not a valid URL: {e}")),
    };
    let schemes = transport.url_schemes();
    if !schemes.contains(&url.scheme()) {
        return bad(format!(
            "a {transport} server needs a {} URL, got {}://",
            schemes.join("/"),
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad("the URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("credentials in the URL are not stored; put them in `headers`".into());
    }
    if url.fragment().is_some() {
        return bad("the URL must not have a #fragment".into());
    }
    Ok(url.to_string())
}

/// Query parameters merged into the URL: non-empty names.
pub fn query_params(params: &BTreeMap<String, String>) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::invalid(
            ErrorCode::InvalidQueryParams,
            "query_params",
            why,
        ))
    };
    if params.len() > MAX_ENTRIES {
        return bad("at most 100 query parameters");
    }
    for (k, v) in params {
        if k.is_empty() || k.len() > 256 || v.len() > MAX_URL || has_control(k) || has_control(v) {
            return bad(
                "query parameter names are 1-256 characters, values at most 2048, without control characters",
            );
        }
    }
    Ok(())
}

/// Header names that Manifold sets itself and an upstream entry may not override.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "mcp-session-id",
    "mcp-protocol-version",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
];

/// Upstream headers: valid HTTP names and values, none Manifold sets itself.
pub fn headers<'a>(headers: impl IntoIterator<Item = (&'a String, &'a str)>) -> Result<()> {
    let mut count = 0;
    for (name, value) in headers {
        count += 1;
        let lower = name.to_ascii_lowercase();
        if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(Error::invalid(
                ErrorCode::InvalidHeaders,
                "headers",
                format!("`{name}` is not a valid HTTP header name"),
            ));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Error::invalid(
                ErrorCode::InvalidHeaders,
                "headers",
                format!("`{name}` is set by Manifold and cannot be configured"),
            ));
        }
        if axum::http::HeaderValue::from_str(value).is_err() || value.len() > 8192 {
            return Err(Error::invalid(
                ErrorCode::InvalidHeaders,
                "headers",
                format!(
                    "the value of `{name}` is not a valid header value (visible ASCII, at most 8192 bytes)"
                ),
            ));
        }
    }
    if count > MAX_ENTRIES {
        return Err(Error::invalid(
            ErrorCode::InvalidHeaders,
            "headers",
            "at most 100 headers",
        ));
    }
    Ok(())
}

/// A stdio command: non-empty, no NUL, at most 1024 bytes.
pub fn command(raw: &str) -> Result<String> {
    let cmd = raw.trim();
    if cmd.is_empty() || cmd.len() > 1024 || cmd.contains('\0') {
        return Err(Error::invalid(
            ErrorCode::InvalidCommand,
            "command",
            "a command is 1-1024 bytes without NUL",
        ));
    }
    Ok(cmd.to_owned())
}

/// stdio arguments: at most 100, each at most 4096 bytes, no NUL.
pub fn args(args: &[String]) -> Result<()> {
    if args.len() > MAX_ENTRIES || args.iter().any(|a| a.len() > 4096 || a.contains('\0')) {
        return Err(Error::invalid(
            ErrorCode::InvalidArgs,
            "args",
            "at most 100 arguments, each at most 4096 bytes without NUL",
        ));
    }
    Ok(())
}

/// stdio environment: names like `[A-Za-z_][A-Za-z0-9_]*`, values without NUL.
pub fn env<'a>(vars: impl IntoIterator<Item = (&'a String, &'a str)>) -> Result<()> {
    let mut count = 0;
    for (name, value) in vars {
        count += 1;
        let mut chars = name.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.len() <= 256;
        if !ok {
            return Err(Error::invalid(
                ErrorCode::InvalidEnv,
                "env",
                format!("`{name}` is not a valid environment variable name"),
            ));
        }
        if value.contains('\0') || value.len() > 32_768 {
            return Err(Error::invalid(
                ErrorCode::InvalidEnv,
                "env",
                format!("the value of `{name}` must not contain NUL and is at most 32768 bytes"),
            ));
        }
    }
    if count > MAX_ENTRIES {
        return Err(Error::invalid(
            ErrorCode::InvalidEnv,
            "env",
            "at most 100 variables",
        ));
    }
    Ok(())
}

/// A working directory for a stdio server: an absolute path without NUL.
pub fn cwd(raw: &str) -> Result<String> {
    let cwd = raw.trim();
    if !cwd.starts_with('/') || cwd.len() > 4096 || cwd.contains('\0') {
        return Err(Error::invalid(
            ErrorCode::InvalidCwd,
            "cwd",
            "the working directory is an absolute path",
        ));
    }
    Ok(cwd.to_owned())
}

/// Longest OAuth client id or secret accepted.
pub const MAX_OAUTH_CLIENT: usize = 512;
/// Most OAuth scopes a server may list.
pub const MAX_OAUTH_SCOPES: usize = 32;

/// The OAuth client settings of a server: only with `requires_oauth2`; a
/// secret needs a client id; scopes are non-empty tokens without spaces.
pub fn oauth_client(
    requires_oauth2: bool,
    client_id: Option<String>,
    client_secret: Option<String>,
    scopes: Vec<String>,
) -> Result<(Option<String>, Option<String>, Vec<String>)> {
    let client_id = client_id
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty());
    let client_secret = client_secret.filter(|s| !s.is_empty());
    let set = [
        ("oauth_client_id", client_id.is_some()),
        ("oauth_client_secret", client_secret.is_some()),
        ("oauth_scopes", !scopes.is_empty()),
    ];
    if !requires_oauth2 && let Some((field, _)) = set.iter().find(|(_, on)| *on) {
        return Err(Error::invalid(
            ErrorCode::FieldNotAllowed,
            field,
            format!("`{field}` applies only to servers with `requires_oauth2`"),
        ));
    }
    for (field, value) in [
        ("oauth_client_id", client_id.as_deref()),
        ("oauth_client_secret", client_secret.as_deref()),
    ] {
        if let Some(value) = value
            && (value.len() > MAX_OAUTH_CLIENT || value.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                ErrorCode::InvalidOauthClient,
                field,
                format!("`{field}` must be at most {MAX_OAUTH_CLIENT} printable characters"),
            ));
        }
    }
    if client_secret.is_some() && client_id.is_none() {
        return Err(Error::invalid(
            ErrorCode::InvalidOauthClient,
            "oauth_client_secret",
            "an `oauth_client_secret` needs an `oauth_client_id`",
        ));
    }
    if scopes.len() > MAX_OAUTH_SCOPES {
        return Err(Error::invalid(
            ErrorCode::InvalidOauthScope,
            "oauth_scopes",
            format!("at most {MAX_OAUTH_SCOPES} scopes"),
        ));
    }
    for scope in &scopes {
        let ok = !scope.is_empty()
            && scope.len() <= 256
            && scope
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
        if !ok {
            return Err(Error::invalid(
                ErrorCode::InvalidOauthScope,
                "oauth_scopes",
                format!("`{scope}` is not a valid OAuth scope (RFC 6749 §3.3)"),
            ));
        }
    }
    Ok((client_id, client_secret, scopes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn colours_in_the_documented_forms_are_accepted() {
        for ok in [
            "#4CAF50",
            "#fff",
            "#FfF",
            "rgb(1, 2, 3)",
            "RGB(255,255,255)",
            "rgba(0, 0, 0, 0.5)",
            "rgba(0,0,0,1)",
        ] {
            assert!(color(Some(ok)).is_ok(), "{ok} refused");
        }
    }

    #[test]
    fn anything_else_is_refused_as_invalid_color() {
        for bad in [
            "green!",
            "green",
            "#12",
            "#12345",
            "#1234567",
            "#ggg",
            "rgb(256,0,0)",
            "rgb(1,2)",
            "rgba(1,2,3)",
            "rgba(1,2,3,2)",
            "rgba(1,2,3,NaN)",
            "rgb(-1,0,0)",
            "rgb(1,2,3",
        ] {
            let err = color(Some(bad)).err();
            assert_eq!(
                err.as_ref().map(Error::code),
                Some(ErrorCode::InvalidColor),
                "{bad} accepted"
            );
            assert_eq!(err.as_ref().and_then(Error::field), Some("color"));
        }
        assert_eq!(color(Some("  ")).ok(), Some(None));
    }

    #[test]
    fn category_names_are_trimmed_and_bounded() {
        assert_eq!(
            category_name("  Productivity ").ok().as_deref(),
            Some("Productivity")
        );
        assert!(category_name("").is_err());
        assert!(category_name("   ").is_err());
        assert!(category_name(&"é".repeat(100)).is_ok());
        assert!(category_name(&"é".repeat(101)).is_err());
        assert!(category_name("a\u{0}b").is_err());
    }

    #[test]
    fn icons_are_http_urls_or_short_text() {
        assert_eq!(icon(Some("🚀")).ok(), Some(Some("🚀".to_owned())));
        assert!(icon(Some("https://cdn.example/x.png")).is_ok());
        assert!(icon(Some("javascript:alert(1)")).is_err());
        assert!(icon(Some("ftp://x/y")).is_err());
        assert!(icon(Some("http://")).is_err());
        assert!(icon(Some(&"x".repeat(33))).is_err());
    }

    #[test]
    fn upstream_urls_must_match_the_transport() {
        assert!(upstream_url(Transport::StreamableHttp, "https://h/mcp").is_ok());
        assert!(upstream_url(Transport::Sse, "http://127.0.0.1:9000/sse").is_ok());
        assert!(upstream_url(Transport::Websocket, "wss://h/ws").is_ok());
        for (t, bad) in [
            (Transport::Websocket, "https://h/ws"),
            (Transport::StreamableHttp, "ws://h/mcp"),
            (Transport::Sse, "file:///etc/passwd"),
            (Transport::Sse, "https://user:pw@h/sse"),
            (Transport::Sse, "not a url"),
            (Transport::Sse, "https://h/sse#frag"),
        ] {
            assert_eq!(
                upstream_url(t, bad).err().map(|e| e.code()),
                Some(ErrorCode::InvalidUrl),
                "{bad}"
            );
        }
    }

    #[test]
    fn headers_must_be_valid_and_not_reserved() {
        let ok = [("Authorization".to_owned(), "Bearer x")];
        assert!(headers(ok.iter().map(|(k, v)| (k, *v))).is_ok());
        for (k, v) in [("Host", "x"), ("bad name", "x"), ("X-A", "a\r\nb")] {
            let pair = [(k.to_owned(), v)];
            assert!(headers(pair.iter().map(|(k, v)| (k, *v))).is_err(), "{k}");
        }
    }

    #[test]
    fn env_names_follow_shell_rules() {
        let good = [("GITHUB_TOKEN".to_owned(), "x")];
        assert!(env(good.iter().map(|(k, v)| (k, *v))).is_ok());
        for k in ["1X", "A-B", ""] {
            let pair = [(k.to_owned(), "x")];
            assert!(env(pair.iter().map(|(k, v)| (k, *v))).is_err(), "{k}");
        }
    }

    proptest! {
        #[test]
        fn color_never_panics_and_accepts_only_documented_shapes(s in "\\PC{0,30}") {
            if let Ok(Some(c)) = color(Some(&s)) {
                let l = c.to_ascii_lowercase();
                prop_assert!(l.starts_with('#') || l.starts_with("rgb(") || l.starts_with("rgba("));
            }
        }

        #[test]
        fn every_six_digit_hex_is_a_colour(r in 0u8.., g in 0u8.., b in 0u8..) {
            let hex = format!("#{r:02X}{g:02x}{b:02X}");
            let rgb = format!("rgb({r}, {g}, {b})");
            prop_assert!(color(Some(&hex)).is_ok());
            prop_assert!(color(Some(&rgb)).is_ok());
        }
    }
}
