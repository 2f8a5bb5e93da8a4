//! The fixture's `/admin` endpoints tests use to steer and inspect the
//! authorization server: expiring access tokens and reading grant counts
//! and every token issued.

use axum::extract::State;
use serde_json::{Value, json};

use super::AuthServer;

pub(super) async fn expire_access_tokens(State(server): State<AuthServer>) -> axum::Json<Value> {
    let mut store = server.store();
    let expired = store.access.len();
    store.access.clear();
    tracing::info!("oauth: expired {expired} access tokens");
    axum::Json(json!({"expired": expired}))
}

pub(super) async fn stats(State(server): State<AuthServer>) -> axum::Json<Value> {
    let stats = server.store().stats;
    axum::Json(json!({
        "registrations": stats.registrations,
        "authorizations": stats.authorizations,
        "token_exchanges": stats.token_exchanges,
        "refreshes": stats.refreshes,
    }))
}

pub(super) async fn refreshes(State(server): State<AuthServer>) -> axum::Json<Value> {
    let stats = server.store().stats;
    axum::Json(json!({
        "granted": stats.refreshes,
        "rejected": stats.refresh_rejections,
    }))
}

pub(super) async fn issued(State(server): State<AuthServer>) -> axum::Json<Value> {
    let store = server.store();
    axum::Json(json!({
        "access_tokens": store.issued_access,
        "refresh_tokens": store.issued_refresh,
    }))
}
