//! `GET /api/v1/audit`: the audit trail, newest first (admins: everyone's
//! events; others: their own).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::rest::extract::ApiQuery;
use crate::catalog::audit::AuditEvent;
use crate::catalog::service::{AuditParams, Page};
use crate::http::{ApiError, ErrorBody};
use crate::principal::Principal;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

/// Filters and paging of the audit trail.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditListQuery {
    /// One user's events; only admins may name another user.
    #[param(max_length = 200)]
    user: Option<String>,
    /// Events of this upstream server.
    #[param(max_length = 200)]
    server: Option<String>,
    /// Events naming this tool, resource URI or prompt (as the client named it).
    #[param(max_length = 2000)]
    tool: Option<String>,
    /// `ok`, `tool_error`, an error code, or `error` for every outcome but `ok`.
    #[param(max_length = 100)]
    outcome: Option<String>,
    /// `tools/call`, `resources/read`, `prompts/get`, `completion/complete`,
    /// `tasks/call`, `connect`, `disconnect`, `oauth_authorization`, `catalog_change`.
    #[param(max_length = 100)]
    kind: Option<String>,
    /// Events at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Events before this time (RFC 3339).
    until: Option<DateTime<Utc>>,
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page (unpadded base64url).
    #[param(
        pattern = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])?$"
    )]
    cursor: Option<String>,
}

/// Lists audit events, newest first: tool calls, reads, prompts,
/// completions, task calls, connects, disconnects, OAuth authorizations and
/// catalog changes. Admins read everyone's (`user` narrows); others only
/// their own (naming another user is 403).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditListQuery),
    responses((status = 200, body = Page<AuditEvent>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_audit_events(
    State(app): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AuditListQuery>,
) -> Result<Json<Page<AuditEvent>>, ApiError> {
    let params = AuditParams {
        user: q.user,
        server: q.server,
        tool: q.tool,
        outcome: q.outcome,
        kind: q.kind,
        since: q.since,
        until: q.until,
        limit: q.limit,
        cursor: q.cursor,
    };
    Ok(Json(
        app.catalog().list_audit_events(&principal, params).await?,
    ))
}
