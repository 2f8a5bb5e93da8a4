//! `/api/v1/keys`: list, create and revoke API keys over the API (admins:
//! anyone's; users: their own). The secret of a key is in the answer to
//! its creation and nowhere else, ever.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::rest::extract::{ApiJson, ApiQuery};
use crate::auth::keys::{KeyListParams, KeyPage, NewKey};
use crate::catalog::ApiKey;
use crate::http::{ApiError, ErrorBody};
use crate::principal::Principal;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// Filters and paging of key lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyListQuery {
    /// Only this user's keys (admins; a user may name only themself).
    user: Option<String>,
    /// List revoked keys too (default false).
    include_revoked: Option<bool>,
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page (unpadded base64url).
    #[param(
        pattern = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])?$"
    )]
    cursor: Option<String>,
}

/// A key just created: its fields and, this once, the key itself.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedKey {
    #[serde(flatten)]
    record: ApiKey,
    /// The key (`mfk_…`) to send as `Authorization: Bearer`. Shown only
    /// in this answer: store it now.
    key: String,
}

/// Lists API keys, newest first: admins everyone's (`?user=` narrows),
/// users their own. Active keys only unless `include_revoked=true`. The
/// secret of a key is never listed.
#[utoipa::path(get, path = "/keys", tag = "keys", params(KeyListQuery),
    responses((status = 200, body = KeyPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_keys(
    State(app): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<KeyListQuery>,
) -> Result<Json<KeyPage>, ApiError> {
    let params = KeyListParams {
        user: q.user,
        include_revoked: q.include_revoked.unwrap_or(false),
        limit: q.limit,
        cursor: q.cursor,
    };
    Ok(Json(app.api_keys().list_for(&principal, &params).await?))
}

/// Creates an API key: by default the caller's own with the `user` role;
/// another user's or an `admin` key needs an admin. The answer holds the
/// key itself, the only time it is ever shown. A user holds at most 50
/// active keys.
#[utoipa::path(post, path = "/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_key(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewKey>,
) -> Result<impl IntoResponse, ApiError> {
    let (record, secret) = app.api_keys().create_for(&principal, input).await?;
    let created = CreatedKey {
        record,
        key: secret.expose().clone(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revokes an API key (admins: any; users: their own). It stops working
/// on every replica within a second, and its open `/mcp` streams and
/// pending requests end. 404 `api_key_not_found` when the key is absent,
/// already revoked, or another user's.
#[utoipa::path(delete, path = "/keys/{id}", tag = "keys", params(("id" = String, Path, description = "API key id (`key_…`)")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_key(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.api_keys().revoke_for(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
