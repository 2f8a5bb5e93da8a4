//! `/api/v1/servers`: list, create, read, change and delete upstream servers.
//! `{id}` also accepts the server's name.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::rest::extract::{ApiJson, ApiQuery};
use crate::catalog::Server;
use crate::catalog::input::{NewServer, ServerPatch};
use crate::catalog::service::{ListParams, Page};
use crate::http::{ApiError, ErrorBody};
use crate::principal::Principal;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_servers, create_server))
        .routes(routes!(get_server, update_server, delete_server))
}

/// Paging and filters for server lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerListQuery {
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page (unpadded base64url).
    #[param(
        pattern = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])?$"
    )]
    cursor: Option<String>,
    /// Only servers in this category (`ctg_…`).
    #[param(pattern = r"^ctg_[0-9a-z]{16}$")]
    category_id: Option<String>,
}

/// Lists the servers the caller may see, by name.
#[utoipa::path(get, path = "/servers", tag = "servers", params(ServerListQuery),
    responses((status = 200, body = Page<Server>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_servers(
    State(app): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ServerListQuery>,
) -> Result<Json<Page<Server>>, ApiError> {
    let params = ListParams {
        limit: q.limit,
        cursor: q.cursor,
        search: None,
        category_id: q.category_id,
    };
    Ok(Json(app.catalog().list_servers(&principal, &params).await?))
}

/// Creates a server owned by the caller. Users create private network
/// servers; public and stdio servers need an admin.
#[utoipa::path(post, path = "/servers", tag = "servers", request_body = NewServer,
    responses((status = 201, body = Server), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_server(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewServer>,
) -> Result<impl IntoResponse, ApiError> {
    let server = app.catalog().create_server(&principal, input).await?;
    let location = format!("/api/v1/servers/{}", server.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(server),
    ))
}

/// Reads a server by id or name.
#[utoipa::path(get, path = "/servers/{id}", tag = "servers", params(("id" = String, Path, description = "Server id or name")),
    responses((status = 200, body = Server), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_server(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Server>, ApiError> {
    Ok(Json(app.catalog().get_server(&principal, &id).await?))
}

/// Changes a server (its owner or an admin). `headers`/`env` values of
/// `***` keep the stored secret.
#[utoipa::path(patch, path = "/servers/{id}", tag = "servers", params(("id" = String, Path, description = "Server id or name")), request_body = ServerPatch,
    responses((status = 200, body = Server), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_server(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ServerPatch>,
) -> Result<Json<Server>, ApiError> {
    Ok(Json(
        app.catalog().update_server(&principal, &id, patch).await?,
    ))
}

/// Deletes a server (its owner or an admin).
#[utoipa::path(delete, path = "/servers/{id}", tag = "servers", params(("id" = String, Path, description = "Server id or name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_server(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.catalog().delete_server(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
