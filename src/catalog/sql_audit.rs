//! The SQL text of the audit trail, which both backends run (see `sql.rs`
//! for the conventions), and its row type.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::catalog::audit::{AuditEvent, StoredAuditEvent};
use crate::error::Result;
use crate::principal::Role;

/// The columns an insert writes, in [`push_event`]'s order.
pub(super) const INSERT_AUDIT_PREFIX: &str = "INSERT INTO audit_events (id, at, kind, user_id, \
     role, credential, key_id, session, mcp_session_id, surface, server, target, duration_ms, \
     outcome, request_bytes, response_bytes, client_name, arguments, detail) ";

/// `$1` user, `$2` server, `$3` target, `$4` outcome (`error`: any but
/// `ok`), `$5` kind, `$6` since, `$7` until, `$8` before seq, `$9` limit;
/// each filter NULL for none.
pub(super) const LIST_AUDIT: &str = "SELECT seq, id, at, kind, user_id, role, credential, key_id, \
     session, mcp_session_id, surface, server, target, duration_ms, outcome, request_bytes, \
     response_bytes, client_name, arguments, detail FROM audit_events \
     WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR server = $2) \
     AND (CAST($3 AS TEXT) IS NULL OR target = $3) \
     AND (CAST($4 AS TEXT) IS NULL OR outcome = $4 OR ($4 = 'error' AND outcome <> 'ok')) \
     AND (CAST($5 AS TEXT) IS NULL OR kind = $5) \
     AND ($6 IS NULL OR at >= $6) \
     AND ($7 IS NULL OR at < $7) \
     AND ($8 IS NULL OR seq < $8) \
     ORDER BY seq DESC LIMIT $9";

pub(super) const DELETE_AUDIT_BEFORE: &str = "DELETE FROM audit_events WHERE at < $1";

/// Adds one event's values to a multi-row insert.
macro_rules! push_event {
    ($row:expr, $event:expr) => {{
        let e = $event;
        $row.push_bind(e.id.as_str())
            .push_bind($crate::catalog::sql::stamp(e.at))
            .push_bind(e.kind.as_str())
            .push_bind(e.user_id.as_str())
            .push_bind(e.role.as_str())
            .push_bind(e.credential.as_str())
            .push_bind(e.key_id.as_deref())
            .push_bind(e.session.as_str())
            .push_bind(e.mcp_session_id.as_deref())
            .push_bind(e.surface.as_str())
            .push_bind(e.server.as_deref())
            .push_bind(e.target.as_deref())
            .push_bind(e.duration_ms)
            .push_bind(e.outcome.as_str())
            .push_bind(e.request_bytes)
            .push_bind(e.response_bytes)
            .push_bind(e.client_name.as_deref())
            .push_bind(e.arguments.as_ref().map(sqlx::types::Json))
            .push_bind(e.detail.as_deref());
    }};
}
pub(super) use push_event;

/// An `audit_events` row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    id: String,
    at: DateTime<Utc>,
    kind: String,
    user_id: String,
    role: String,
    credential: String,
    key_id: Option<String>,
    session: String,
    mcp_session_id: Option<String>,
    surface: String,
    server: Option<String>,
    target: Option<String>,
    duration_ms: f64,
    outcome: String,
    request_bytes: i64,
    response_bytes: i64,
    client_name: Option<String>,
    arguments: Option<Json<serde_json::Value>>,
    detail: Option<String>,
}

impl AuditRow {
    pub(super) fn into_model(self) -> Result<StoredAuditEvent> {
        let role = match self.role.as_str() {
            "anonymous" => Role::Anonymous,
            other => Role::parse(other).map_err(super::rows::corrupt("audit_events.role"))?,
        };
        Ok(StoredAuditEvent {
            seq: self.seq,
            event: AuditEvent {
                id: self.id,
                at: self.at,
                kind: self.kind,
                user_id: self.user_id,
                role,
                credential: self.credential,
                key_id: self.key_id,
                session: self.session,
                mcp_session_id: self.mcp_session_id,
                surface: self.surface,
                server: self.server,
                target: self.target,
                duration_ms: self.duration_ms,
                outcome: self.outcome,
                request_bytes: self.request_bytes,
                response_bytes: self.response_bytes,
                client_name: self.client_name,
                arguments: self.arguments.map(|Json(v)| v),
                detail: self.detail,
            },
        })
    }
}
