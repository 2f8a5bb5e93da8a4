//! The audit trail in GraphQL: the `AuditEvent` type, the `auditEvents`
//! connection (the same service call as REST `GET /api/v1/audit`) and the
//! `auditEventAdded` subscription's items (see `subscription.rs`).

use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::catalog::audit;

/// One audit event: who did what, when, how long it took and how it ended.
#[derive(SimpleObject, Clone)]
pub(crate) struct AuditEvent {
    /// `aud_…`.
    pub id: ID,
    /// When the request arrived.
    pub at: DateTime<Utc>,
    /// `tools/call`, `resources/read`, `prompts/get`, `completion/complete`,
    /// `tasks/call`, `connect`, `disconnect`, `oauth_authorization` or
    /// `catalog_change`.
    pub kind: String,
    pub user_id: String,
    pub role: String,
    /// `api_key`, `jwt` or `anonymous`.
    pub credential: String,
    pub key_id: Option<String>,
    pub session: String,
    pub mcp_session_id: Option<String>,
    /// `mcp`, `mcp/s/{server}`, `mcp/t/{toolset}` or `api`.
    pub surface: String,
    pub server: Option<String>,
    /// The tool, resource URI, prompt or record, as the client named it.
    pub target: Option<String>,
    pub duration_ms: f64,
    /// `ok`, `tool_error`, or an error code.
    pub outcome: String,
    pub request_bytes: i64,
    pub response_bytes: i64,
    /// `clientInfo.name` from the MCP client's `initialize`.
    pub client_name: Option<String>,
    /// The call's redacted arguments (only with `audit.record_arguments`).
    pub arguments: Option<Json<serde_json::Value>>,
    pub detail: Option<String>,
}

impl From<audit::AuditEvent> for AuditEvent {
    fn from(e: audit::AuditEvent) -> Self {
        Self {
            id: ID(e.id),
            at: e.at,
            kind: e.kind,
            user_id: e.user_id,
            role: e.role.as_str().to_owned(),
            credential: e.credential,
            key_id: e.key_id,
            session: e.session,
            mcp_session_id: e.mcp_session_id,
            surface: e.surface,
            server: e.server,
            target: e.target,
            duration_ms: e.duration_ms,
            outcome: e.outcome,
            request_bytes: e.request_bytes,
            response_bytes: e.response_bytes,
            client_name: e.client_name,
            arguments: e.arguments.map(Json),
            detail: e.detail,
        }
    }
}

/// Where a page of events ends.
#[derive(SimpleObject)]
pub(crate) struct AuditPageInfo {
    pub has_next_page: bool,
    /// Pass as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// A page of audit events, newest first.
#[derive(SimpleObject)]
pub(crate) struct AuditEventConnection {
    pub nodes: Vec<AuditEvent>,
    pub page_info: AuditPageInfo,
}

impl From<crate::catalog::service::Page<audit::AuditEvent>> for AuditEventConnection {
    fn from(page: crate::catalog::service::Page<audit::AuditEvent>) -> Self {
        Self {
            nodes: page.items.into_iter().map(Into::into).collect(),
            page_info: AuditPageInfo {
                has_next_page: page.next_cursor.is_some(),
                end_cursor: page.next_cursor,
            },
        }
    }
}
