//! The fixture's RFC 7009 revocation endpoint and the counters tests read
//! through `GET /admin/counters`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{AuthServer, client_of, client_required, no_store, oauth_error};

/// `FIXTURE_OAUTH_NO_REVOKE=1`: the metadata has no `revocation_endpoint`.
pub(super) fn disabled_by_env() -> bool {
    std::env::var("FIXTURE_OAUTH_NO_REVOKE")
        .map(|v| matches!(v.trim(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

/// What tests count beside the grant statistics of `/admin/stats`.
#[derive(Default, Clone, Copy)]
pub(super) struct Counters {
    /// Revocation requests naming a refresh token this server issued.
    pub revoked_refresh: u64,
    /// Revocation requests naming an access token this server issued.
    pub revoked_access: u64,
    /// Revocation requests naming a token this server never issued.
    pub revoked_unknown: u64,
    /// `GET /.well-known/oauth-protected-resource[/mcp]` served.
    pub resource_metadata: u64,
    /// `GET /.well-known/oauth-authorization-server` served.
    pub server_metadata: u64,
}

/// `POST /revoke`: form-encoded `token` (+ `token_type_hint`), the client
/// named by `client_id` in the body or HTTP Basic. A refresh token ends its
/// whole grant (its access tokens too); an access token ends itself. A
/// token already invalid answers 200 as well (RFC 7009 §2.2); the type is
/// the token's own, whatever the hint says.
pub(super) async fn revoke(
    State(server): State<AuthServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let param = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let Some(client_id) = client_of(&form, &headers) else {
        return client_required();
    };
    let Some(token) = param("token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    let mut store = server.store();
    if !store.clients.contains_key(&client_id) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id",
        );
    }
    let owner = store
        .refresh
        .get(token)
        .map(|g| (g.client_id.clone(), g.grant.clone()))
        .or_else(|| {
            store
                .access
                .get(token)
                .map(|g| (g.client_id.clone(), g.grant.clone()))
        });
    if let Some((owner, _)) = &owner
        && *owner != client_id
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the token was issued to another client",
        );
    }
    if store.issued_refresh.iter().any(|t| t == token) {
        store.counters.revoked_refresh += 1;
        if let Some((_, grant)) = owner {
            store.refresh.retain(|_, g| g.grant != grant);
            store.access.retain(|_, g| g.grant != grant);
        }
        tracing::info!("oauth: revoked a refresh token and its grant");
    } else if store.issued_access.iter().any(|t| t == token) {
        store.counters.revoked_access += 1;
        store.access.remove(token);
        tracing::info!("oauth: revoked an access token");
    } else {
        store.counters.revoked_unknown += 1;
    }
    (StatusCode::OK, no_store()).into_response()
}

/// `GET /admin/counters`.
pub(super) async fn counters(State(server): State<AuthServer>) -> axum::Json<Value> {
    let c = server.store().counters;
    axum::Json(json!({
        "revocations": {
            "refresh_token": c.revoked_refresh,
            "access_token": c.revoked_access,
            "unknown": c.revoked_unknown,
        },
        "metadata_requests": {
            "protected_resource": c.resource_metadata,
            "authorization_server": c.server_metadata,
        },
    }))
}
