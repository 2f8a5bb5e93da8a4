//! `/api/v1/categories`: list, create, read (optionally with servers),
//! change and delete categories.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::rest::extract::{ApiJson, ApiQuery};
use crate::catalog::input::{CategoryPatch, NewCategory};
use crate::catalog::service::{ListParams, MAX_LIMIT, Page};
use crate::catalog::{Category, Server};
use crate::error::{Error, ErrorCode};
use crate::http::{ApiError, ErrorBody};
use crate::principal::Principal;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_categories, create_category))
        .routes(routes!(get_category, update_category, delete_category))
}

/// Paging for category lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CategoryListQuery {
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page (unpadded base64url).
    #[param(
        pattern = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])?$"
    )]
    cursor: Option<String>,
    /// Case-insensitive substring of the name.
    search: Option<String>,
}

/// `?include=servers` adds the servers the caller may see.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncludeQuery {
    /// `servers` to embed the category's servers.
    #[param(pattern = r"^(servers)?$")]
    include: Option<String>,
}

/// A category, with its servers when asked for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CategoryView {
    #[serde(flatten)]
    category: Category,
    #[serde(skip_serializing_if = "Option::is_none")]
    servers: Option<Vec<Server>>,
}

/// Lists categories by name.
#[utoipa::path(get, path = "/categories", tag = "categories", params(CategoryListQuery),
    responses((status = 200, body = Page<Category>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_categories(
    State(app): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<CategoryListQuery>,
) -> Result<Json<Page<Category>>, ApiError> {
    let params = ListParams {
        limit: q.limit,
        cursor: q.cursor,
        search: q.search,
        category_id: None,
    };
    Ok(Json(
        app.catalog().list_categories(&principal, &params).await?,
    ))
}

/// Creates a category (admins).
#[utoipa::path(post, path = "/categories", tag = "categories", request_body = NewCategory,
    responses((status = 201, body = Category), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_category(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewCategory>,
) -> Result<impl IntoResponse, ApiError> {
    let category = app.catalog().create_category(&principal, input).await?;
    let location = format!("/api/v1/categories/{}", category.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(category),
    ))
}

/// Reads a category.
#[utoipa::path(get, path = "/categories/{id}", tag = "categories", params(("id" = String, Path, description = "Category id"), IncludeQuery),
    responses((status = 200, body = CategoryView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_category(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<IncludeQuery>,
) -> Result<Json<CategoryView>, ApiError> {
    let with_servers = match q.include.as_deref() {
        None | Some("") => false,
        Some("servers") => true,
        Some(other) => {
            return Err(ApiError(Error::BadRequest {
                code: ErrorCode::InvalidInclude,
                message: format!("`include={other}` is not supported; use `include=servers`"),
            }));
        }
    };
    let category = app.catalog().get_category(&principal, &id).await?;
    let servers = if with_servers {
        let mut all = Vec::new();
        let mut params = ListParams {
            limit: Some(MAX_LIMIT),
            category_id: Some(category.id.to_string()),
            ..ListParams::default()
        };
        loop {
            let page = app.catalog().list_servers(&principal, &params).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(cursor) => params.cursor = Some(cursor),
                None => break,
            }
        }
        Some(all)
    } else {
        None
    };
    Ok(Json(CategoryView { category, servers }))
}

/// Changes some fields of a category (admins).
#[utoipa::path(patch, path = "/categories/{id}", tag = "categories", params(("id" = String, Path, description = "Category id")), request_body = CategoryPatch,
    responses((status = 200, body = Category), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_category(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<CategoryPatch>,
) -> Result<Json<Category>, ApiError> {
    Ok(Json(
        app.catalog()
            .update_category(&principal, &id, patch)
            .await?,
    ))
}

/// Deletes a category; its servers become uncategorised (admins).
#[utoipa::path(delete, path = "/categories/{id}", tag = "categories", params(("id" = String, Path, description = "Category id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_category(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.catalog().delete_category(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
