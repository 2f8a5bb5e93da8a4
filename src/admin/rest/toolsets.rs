//! `/api/v1/toolsets`: list, create, read, change and delete toolsets
//! (virtual servers served at `/mcp/t/{name}`). `{id}` also accepts the
//! toolset's name.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::rest::extract::{ApiJson, ApiQuery};
use crate::catalog::Toolset;
use crate::catalog::input::{NewToolset, ToolsetPatch};
use crate::catalog::service::{ListParams, Page};
use crate::http::{ApiError, ErrorBody};
use crate::principal::Principal;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_toolsets, create_toolset))
        .routes(routes!(get_toolset, update_toolset, delete_toolset))
}

/// Paging for toolset lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToolsetListQuery {
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page (unpadded base64url).
    #[param(
        pattern = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])?$"
    )]
    cursor: Option<String>,
}

/// Lists the toolsets the caller may see (public ones and their own;
/// admins: all), by name.
#[utoipa::path(get, path = "/toolsets", tag = "toolsets", params(ToolsetListQuery),
    responses((status = 200, body = Page<Toolset>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_toolsets(
    State(app): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ToolsetListQuery>,
) -> Result<Json<Page<Toolset>>, ApiError> {
    let params = ListParams {
        limit: q.limit,
        cursor: q.cursor,
        search: None,
        category_id: None,
    };
    Ok(Json(
        app.catalog().list_toolsets(&principal, &params).await?,
    ))
}

/// Creates a toolset owned by the caller; a public one needs an admin.
/// Each entry's server must exist and be visible to the caller.
#[utoipa::path(post, path = "/toolsets", tag = "toolsets", request_body = NewToolset,
    responses((status = 201, body = Toolset), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_toolset(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewToolset>,
) -> Result<impl IntoResponse, ApiError> {
    let toolset = app.catalog().create_toolset(&principal, input).await?;
    let location = format!("/api/v1/toolsets/{}", toolset.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(toolset),
    ))
}

/// Reads a toolset by id or name (404 when the caller may not see it).
#[utoipa::path(get, path = "/toolsets/{id}", tag = "toolsets", params(("id" = String, Path, description = "Toolset id or name")),
    responses((status = 200, body = Toolset), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_toolset(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Toolset>, ApiError> {
    Ok(Json(app.catalog().get_toolset(&principal, &id).await?))
}

/// Changes a toolset (its owner or an admin); `entries` replaces the list.
#[utoipa::path(patch, path = "/toolsets/{id}", tag = "toolsets", params(("id" = String, Path, description = "Toolset id or name")), request_body = ToolsetPatch,
    responses((status = 200, body = Toolset), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_toolset(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ToolsetPatch>,
) -> Result<Json<Toolset>, ApiError> {
    Ok(Json(
        app.catalog().update_toolset(&principal, &id, patch).await?,
    ))
}

/// Deletes a toolset (its owner or an admin).
#[utoipa::path(delete, path = "/toolsets/{id}", tag = "toolsets", params(("id" = String, Path, description = "Toolset id or name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_toolset(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.catalog().delete_toolset(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
