//! `/mcp` work of a revoked API key ends at once, on every replica: the
//! middleware holds a [`KeyWatch`] of the caller's key for each request,
//! and when the key is revoked (here, or announced by another replica)
//!
//! - a request still waiting for its answer's head is answered 401
//!   `unauthorized` ([`until_revoked`]);
//! - an event stream already answered — the GET stream that carries
//!   `list_changed` notifications, a pending request's SSE answer, a
//!   direct call's stream — ends ([`end_stream_when_revoked`]), which
//!   drops the work behind it.
//!
//! Each ending is logged at info with the key, the user, the method and
//! the MCP session. The cost on the hot path is one lookup of the key's
//! token when the request comes in and one small wrapper around the
//! response body; principals from JWTs or anonymous sessions have none.

use std::future::Future;

use axum::body::Body;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::auth::api_key::KeyWatch;
use crate::error::Error;
use crate::http::ApiError;
use crate::ids::ApiKeyId;
use crate::principal::{Credential, Principal};
use crate::state::AppState;

/// What a log line says about the request a revocation ended.
#[derive(Clone)]
pub struct Ended {
    key: ApiKeyId,
    user: String,
    method: Method,
    session: Option<HeaderValue>,
}

impl Ended {
    fn log(&self, what: &'static str) {
        let session = self.session.as_ref().and_then(|s| s.to_str().ok());
        tracing::info!(
            key = %self.key,
            user = %self.user,
            method = %self.method,
            mcp_session = session,
            "ended {what}: its API key was revoked"
        );
    }
}

/// A watch of `principal`'s API key with what to log, or `None` for
/// principals that did not authenticate with a key.
pub fn watch(
    app: &AppState,
    principal: &Principal,
    method: &Method,
    session: Option<&HeaderValue>,
) -> Option<(KeyWatch, Ended)> {
    let Credential::ApiKey { key_id } = &principal.credential else {
        return None;
    };
    let ended = Ended {
        key: key_id.clone(),
        user: principal.user_id.clone(),
        method: method.clone(),
        session: session.cloned(),
    };
    Some((app.api_keys().watch(key_id), ended))
}

/// Runs `respond` until its response head is ready, or answers 401 if
/// the key is revoked first (the request's work is dropped).
pub async fn until_revoked(
    watch: &(KeyWatch, Ended),
    respond: impl Future<Output = Response>,
) -> Response {
    let (key, ended) = watch;
    tokio::select! {
        biased;
        response = respond => response,
        () = key.revoked() => {
            ended.log("a pending /mcp request");
            ApiError(Error::Unauthorized("the API key was revoked".into())).into_response()
        }
    }
}

/// Ends `response`'s body when the key is revoked, if it is an event
/// stream (a JSON answer is complete already).
pub fn end_stream_when_revoked(response: Response, watch: (KeyWatch, Ended)) -> Response {
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        return response;
    }
    let (parts, body) = response.into_parts();
    let (key, ended) = watch;
    let what = if ended.method == Method::GET {
        "an /mcp GET stream"
    } else {
        "an /mcp response stream"
    };
    let revoked = async move {
        key.revoked().await;
        ended.log(what);
    };
    let body = Body::from_stream(body.into_data_stream().take_until(revoked));
    Response::from_parts(parts, body)
}
