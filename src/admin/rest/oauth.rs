//! Per-user upstream OAuth over HTTP: start an authorization
//! (`POST /servers/{id}/oauth/authorize`), forget one
//! (`DELETE /servers/{id}/oauth`), and the callback the upstream's
//! authorization server redirects the user's browser to (`GET /oauth/callback`,
//! outside `/api/v1`, authenticated by the flow's `state` alone).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::rest::extract::ApiQuery;
use crate::error::{Error, ErrorCode};
use crate::http::{ApiError, ErrorBody};
use crate::principal::Principal;
use crate::session::manager::ServerStatus;
use crate::state::AppState;
use crate::upstream::oauth::Authorization;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(revoke))
}

/// Starts an authorization of a server that needs OAuth, for the caller:
/// send the user to `authorization_url`; the authorization server sends them
/// back to `/oauth/callback`, which stores the tokens (for this user only)
/// and connects the server for this session.
#[utoipa::path(post, path = "/servers/{id}/oauth/authorize", tag = "oauth", params(("id" = String, Path, description = "Server id or name")),
    responses((status = 200, body = Authorization), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn authorize(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Authorization>, ApiError> {
    Ok(Json(app.sessions().authorize(&principal, &id).await?))
}

/// Forgets the caller's OAuth tokens for a server and disconnects it for
/// this session. Other users' tokens are untouched.
#[utoipa::path(delete, path = "/servers/{id}/oauth", tag = "oauth", params(("id" = String, Path, description = "Server id or name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.sessions().revoke_authorization(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an authorization server appends to the redirect URI.
#[derive(Debug, Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// RFC 9207 issuer identification.
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oauth/callback`: completes the authorization, then answers an HTML
/// page (or JSON with `Accept: application/json`).
pub(crate) async fn callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> Response {
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let result = complete(&app, q).await;
    match (result, json) {
        (Ok(status), true) => Json(serde_json::json!({
            "server": status.name,
            "status": status.status,
            "tool_count": status.tool_count,
        }))
        .into_response(),
        (Ok(status), false) => page(
            StatusCode::OK,
            "Authorized",
            &format!(
                "{} is authorized and connected ({} tools). You can close this window.",
                status.title, status.tool_count
            ),
        ),
        (Err(err), true) => ApiError(err).into_response(),
        (Err(err), false) => {
            let status = err.status();
            let message = match &err {
                Error::Internal(_) => {
                    return ApiError(err).into_response();
                }
                other => format!("{} ({})", other, other.code()),
            };
            page(status, "Authorization failed", &message)
        }
    }
}

async fn complete(app: &AppState, q: CallbackQuery) -> Result<ServerStatus, Error> {
    let state = q.state.unwrap_or_default();
    if let Some(error) = q.error {
        // The user (or the authorization server) said no: the flow is
        // spent either way.
        if let Err(err) = app.sessions().abandon_authorization(&state).await {
            tracing::warn!(error = %err, "could not discard a refused authorization");
        }
        let detail = q
            .error_description
            .map(|d| format!(": {}", truncate(&d, 200)))
            .unwrap_or_default();
        return Err(Error::BadRequest {
            code: ErrorCode::OauthDenied,
            message: format!(
                "the authorization server refused: {}{detail}",
                truncate(&error, 64)
            ),
        });
    }
    let code = q.code.unwrap_or_default();
    app.sessions()
        .complete_authorization(&code, &state, q.iss.as_deref())
        .await
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// A minimal self-contained page (no script, no external resource).
fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title} · Manifold</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem\">\
         <h1>{title}</h1><p>{message}</p></body></html>",
        title = escape(title),
        message = escape(message),
    );
    let mut response = (status, Html(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// HTML text escaping.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn truncation_drops_control_characters() {
        assert_eq!(truncate("a\nb\u{7}c", 10), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
    }
}
