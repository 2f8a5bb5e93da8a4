//! Reading the audit trail: admins read every event, everyone else only
//! their own.

use chrono::{DateTime, Utc};

use super::{CatalogService, ListParams, Page, decode_cursor, encode_cursor, limit};
use crate::catalog::audit::{AuditEvent, AuditQuery};
use crate::error::{Error, ErrorCode, Result};
use crate::principal::{Principal, Role};

/// What to read of the audit trail (all filters optional).
#[derive(Debug, Clone, Default)]
pub struct AuditParams {
    /// One user's events (admins only, unless it is the caller).
    pub user: Option<String>,
    pub server: Option<String>,
    /// The tool, URI or prompt an event names.
    pub tool: Option<String>,
    /// An outcome code, or `error` for every outcome but `ok`.
    pub outcome: Option<String>,
    pub kind: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl CatalogService {
    /// One page of the events `principal` may read, newest first.
    pub async fn list_audit_events(
        &self,
        principal: &Principal,
        params: AuditParams,
    ) -> Result<Page<AuditEvent>> {
        let user = match (principal.role, params.user) {
            (Role::Admin, user) => user.filter(|u| !u.is_empty()),
            (_, Some(user)) if !user.is_empty() && user != principal.user_id => {
                return Err(Error::Forbidden(
                    "only admins read other users' audit events".into(),
                ));
            }
            _ => Some(principal.user_id.clone()),
        };
        if let (Some(since), Some(until)) = (params.since, params.until)
            && since >= until
        {
            return Err(Error::invalid(
                ErrorCode::InvalidQueryParams,
                "until",
                "`until` must be after `since`",
            ));
        }
        let limit = limit(&ListParams {
            limit: params.limit,
            ..ListParams::default()
        })?;
        let before = decode_cursor(params.cursor.as_deref())?
            .map(|raw| {
                raw.parse::<i64>().map_err(|_| Error::BadRequest {
                    code: ErrorCode::InvalidCursor,
                    message: "the cursor is not one this API returned".into(),
                })
            })
            .transpose()?;
        let query = AuditQuery {
            user,
            server: params.server.filter(|s| !s.is_empty()),
            tool: params.tool.filter(|s| !s.is_empty()),
            outcome: params.outcome.filter(|s| !s.is_empty()),
            kind: params.kind.filter(|s| !s.is_empty()),
            since: params.since,
            until: params.until,
            before,
            limit: limit + 1,
        };
        let mut rows = self.store.list_audit_events(&query).await?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|row| encode_cursor(&row.seq.to_string()))
        } else {
            None
        };
        Ok(Page {
            items: rows.into_iter().map(|row| row.event).collect(),
            next_cursor,
        })
    }
}
