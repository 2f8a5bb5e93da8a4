//! `/api/v1/import` and `/api/v1/export`: servers from and to an
//! `mcpServers` document (Claude Desktop, Cursor, VS Code) or Manifold's own
//! format. The rules are the catalog service's; this parses and renders.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::rest::extract::{ApiJson, ApiQuery};
use crate::catalog::service::ImportFailure;
use crate::catalog::transfer::{
    ExportDocument, ExportFormat, ImportDocument, ImportEntry, ImportReport,
};
use crate::http::{ApiError, ErrorBody, ErrorDetail, with_error_headers};
use crate::principal::Principal;
use crate::state::AppState;

/// The file name an export is offered as.
const EXPORT_FILE: &str = "manifold-servers.json";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_servers))
        .routes(routes!(export_servers))
}

/// Options of an import.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportQuery {
    /// `true`: only say what would be created (200), create nothing.
    dry_run: Option<bool>,
}

/// An import that created nothing, or not everything: the error, and per
/// entry what happened (absent when the document itself was refused).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ImportRefused {
    error: ErrorDetail,
    #[serde(skip_serializing_if = "Option::is_none")]
    servers: Option<Vec<ImportEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<usize>,
}

fn refused(failure: ImportFailure) -> Response {
    let ImportFailure { error, report } = failure;
    let Some(report) = report else {
        return ApiError(error).into_response();
    };
    let body = ImportRefused {
        error: ErrorDetail {
            code: error.code(),
            message: error.public_message(),
            field: error.field().map(str::to_owned),
            authorization_url: None,
        },
        servers: Some(report.servers),
        created: Some(report.created),
    };
    with_error_headers((error.status(), Json(body)).into_response(), &error)
}

/// Creates the servers of an `mcpServers` document (or of Manifold's own
/// format), all or none: with `dry_run=true`, answers what would be
/// created (200) and creates nothing. Each entry gets the usual checks and
/// rights (stdio and public servers are the admins'); names that are not
/// server names are normalised (`My Server` → `my-server`). When an entry
/// cannot be created the answer is 422 `invalid_import` with every entry's
/// `error`; a creation failing half-way is 409 `import_incomplete`, and the
/// entries that have a `server` were created.
#[utoipa::path(post, path = "/import", tag = "import", params(ImportQuery), request_body = ImportDocument,
    responses(
        (status = 200, description = "The preview (`dry_run=true`)", body = ImportReport),
        (status = 201, description = "Every server created", body = ImportReport),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "Created some servers, then failed (`import_incomplete`)", body = ImportRefused),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "Nothing created (`invalid_import`, `invalid_import_document`, `invalid_body`)", body = ImportRefused)))]
async fn import_servers(
    State(app): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ImportQuery>,
    ApiJson(doc): ApiJson<ImportDocument>,
) -> Response {
    if q.dry_run.unwrap_or(false) {
        return match app.catalog().preview_import(&principal, doc).await {
            Ok(report) => Json(report).into_response(),
            Err(err) => ApiError(err).into_response(),
        };
    }
    match app.catalog().import_servers(&principal, doc).await {
        Ok(report) => (StatusCode::CREATED, Json(report)).into_response(),
        Err(failure) => refused(failure),
    }
}

/// Options of an export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    /// `mcp_servers` (the default: `{"mcpServers": {...}}` as Claude
    /// Desktop reads it) or `manifold` (every field, imports back).
    format: Option<ExportFormat>,
}

/// The servers the caller may see (public ones and their own; admins: all)
/// as a document to download; every secret value is `***`.
#[utoipa::path(get, path = "/export", tag = "import", params(ExportQuery),
    responses(
        (status = 200, body = ExportDocument, headers(("Content-Disposition" = String, description = "`attachment; filename=\"manifold-servers.json\"`"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn export_servers(
    State(app): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let doc: ExportDocument = app
        .catalog()
        .export_servers(&principal, q.format.unwrap_or_default())
        .await?;
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{EXPORT_FILE}\""),
        )],
        Json(doc),
    ))
}
