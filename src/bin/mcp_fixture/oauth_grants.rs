//! The fixture's OAuth grant endpoints: RFC 7591 client registration, the
//! auto-approving authorization endpoint and the token endpoint
//! (`authorization_code` with PKCE S256, `refresh_token` with rotation).

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    AuthServer, CODE_TTL, CodeGrant, client_of, client_required, no_store, oauth_error,
    pkce_s256_matches, same_resource, seconds_since_epoch,
};

/// RFC 7591 for public clients: absolute redirect URIs, auth method `none`.
pub(super) async fn register(State(server): State<AuthServer>, body: Bytes) -> Response {
    let invalid =
        |what: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_client_metadata", what);
    let Ok(metadata) = serde_json::from_slice::<Value>(&body) else {
        return invalid("the body is not JSON");
    };
    let redirect_uris: Vec<String> = match metadata["redirect_uris"].as_array() {
        Some(uris) if !uris.is_empty() => {
            let uris: Option<Vec<String>> = uris
                .iter()
                .map(|u| {
                    u.as_str()
                        .filter(|u| url::Url::parse(u).is_ok())
                        .map(str::to_owned)
                })
                .collect();
            match uris {
                Some(uris) => uris,
                None => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_redirect_uri",
                        "redirect_uris must be absolute URLs",
                    );
                }
            }
        }
        _ => return invalid("redirect_uris is required"),
    };
    match metadata
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        None | Some("none") => {}
        Some(other) => {
            return invalid(&format!(
                "token_endpoint_auth_method {other} is not supported (public clients only)"
            ));
        }
    }
    let client_id = server.random("fxclient_");
    {
        let mut store = server.store();
        store
            .clients
            .insert(client_id.clone(), redirect_uris.clone());
        store.stats.registrations += 1;
    }
    tracing::info!("oauth: registered client {client_id}");
    let body = json!({
        "client_id": client_id,
        "client_id_issued_at": seconds_since_epoch(),
        "client_name": metadata.get("client_name").cloned().unwrap_or(Value::Null),
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    (StatusCode::CREATED, no_store(), axum::Json(body)).into_response()
}

/// Auto-approving authorization endpoint. Errors about the client or its
/// redirect URI answer 400 (never redirect to an unverified URI); the rest
/// go back to the client as `error=` (RFC 6749 §4.1.2.1).
pub(super) async fn authorize(
    State(server): State<AuthServer>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let param = |name: &str| {
        query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let bad =
        |what: &str| (StatusCode::BAD_REQUEST, format!("authorize: {what}\n")).into_response();
    let Some(client_id) = param("client_id") else {
        return bad("client_id is required");
    };
    let Some(redirect_uri) = param("redirect_uri") else {
        return bad("redirect_uri is required");
    };
    let registered = server
        .store()
        .clients
        .get(client_id)
        .map(|uris| uris.iter().any(|u| u == redirect_uri));
    match registered {
        None => return bad("unknown client_id"),
        Some(false) => return bad("redirect_uri is not registered for this client"),
        Some(true) => {}
    }
    let Ok(mut back) = url::Url::parse(redirect_uri) else {
        return bad("redirect_uri is not a URL");
    };
    let state = param("state");
    let redirect = |mut url: url::Url, pairs: &[(&str, &str)]| {
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in pairs {
                query.append_pair(k, v);
            }
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", server.origin());
        }
        (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
    };
    let deny = |error: &str, description: &str| {
        redirect(
            back.clone(),
            &[("error", error), ("error_description", description)],
        )
    };
    if param("response_type") != Some("code") {
        return deny("unsupported_response_type", "response_type must be code");
    }
    let Some(challenge) = param("code_challenge") else {
        return deny("invalid_request", "code_challenge is required");
    };
    if param("code_challenge_method") != Some("S256") {
        return deny("invalid_request", "code_challenge_method must be S256");
    }
    match param("resource") {
        Some(resource) if same_resource(resource, &server.resource()) => {}
        Some(_) => return deny("invalid_target", "resource is not this server's MCP URL"),
        None => return deny("invalid_target", "resource is required"),
    }
    let user = param("login_hint").map(str::to_owned).or_else(|| {
        headers
            .get("x-fixture-user")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    });
    let Some(user) = user else {
        return bad("no end user: pass login_hint or the X-Fixture-User header");
    };
    let code = server.random("fxcode_");
    {
        let mut store = server.store();
        store.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                challenge: challenge.to_owned(),
                user: user.clone(),
                scope: param("scope").map(str::to_owned),
                expires: Instant::now() + CODE_TTL,
            },
        );
        store.stats.authorizations += 1;
    }
    tracing::info!("oauth: authorized {user} for client {client_id}");
    back.set_fragment(None);
    redirect(back, &[("code", &code)])
}

/// The token endpoint: form-encoded `authorization_code` and `refresh_token` grants.
pub(super) async fn token(
    State(server): State<AuthServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let param = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let invalid = |error: &str, what: &str| oauth_error(StatusCode::BAD_REQUEST, error, what);
    // Public clients name themselves in the body; accept HTTP Basic too.
    let Some(client_id) = client_of(&form, &headers) else {
        return client_required();
    };
    if param("grant_type") == Some("refresh_token") && !server.shared.refresh_delay.is_zero() {
        tokio::time::sleep(server.shared.refresh_delay).await;
    }
    let mut store = server.store();
    if !store.clients.contains_key(&client_id) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id",
        );
    }
    if let Some(resource) = param("resource")
        && !same_resource(resource, &server.resource())
    {
        return invalid("invalid_target", "resource is not this server's MCP URL");
    }
    match param("grant_type") {
        Some("authorization_code") => {
            let Some(code) = param("code") else {
                return invalid("invalid_request", "code is required");
            };
            // Single use: the code is gone whatever happens next.
            let Some(grant) = store.codes.remove(code) else {
                return invalid("invalid_grant", "unknown or already used code");
            };
            if grant.expires <= Instant::now() {
                return invalid("invalid_grant", "the code expired");
            }
            if grant.client_id != client_id {
                return invalid("invalid_grant", "the code was issued to another client");
            }
            if param("redirect_uri") != Some(grant.redirect_uri.as_str()) {
                return invalid(
                    "invalid_grant",
                    "redirect_uri differs from the authorization request",
                );
            }
            if param("resource").is_none() {
                return invalid("invalid_target", "resource is required");
            }
            let Some(verifier) = param("code_verifier") else {
                return invalid("invalid_request", "code_verifier is required");
            };
            if !pkce_s256_matches(verifier, &grant.challenge) {
                return invalid(
                    "invalid_grant",
                    "code_verifier does not match the code_challenge",
                );
            }
            store.stats.token_exchanges += 1;
            tracing::info!("oauth: issued tokens to {} (code exchange)", grant.user);
            let family = server.random("fxgrant_");
            let body = server.issue(&mut store, &client_id, &family, &grant.user, grant.scope);
            (StatusCode::OK, no_store(), axum::Json(body)).into_response()
        }
        Some("refresh_token") => {
            let Some(refresh) = param("refresh_token") else {
                return invalid("invalid_request", "refresh_token is required");
            };
            match store.refresh.get(refresh) {
                None => {
                    store.stats.refresh_rejections += 1;
                    return invalid("invalid_grant", "unknown or already rotated refresh token");
                }
                Some(grant) if grant.client_id != client_id => {
                    store.stats.refresh_rejections += 1;
                    return invalid(
                        "invalid_grant",
                        "the refresh token was issued to another client",
                    );
                }
                Some(_) => {}
            }
            // Rotation: the old refresh token is spent.
            let Some(grant) = store.refresh.remove(refresh) else {
                return invalid("invalid_grant", "unknown or already rotated refresh token");
            };
            store.stats.refreshes += 1;
            tracing::info!("oauth: issued tokens to {} (refresh)", grant.user);
            let scope = param("scope").map(str::to_owned).or(grant.scope);
            let body = server.issue(&mut store, &client_id, &grant.grant, &grant.user, scope);
            (StatusCode::OK, no_store(), axum::Json(body)).into_response()
        }
        Some(other) => invalid(
            "unsupported_grant_type",
            &format!("grant_type {other} is not supported"),
        ),
        None => invalid("invalid_request", "grant_type is required"),
    }
}
