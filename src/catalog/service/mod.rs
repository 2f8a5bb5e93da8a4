//! The catalog's rules: who may see and change categories, servers and
//! toolsets, and what a valid record is. Every surface calls this with the
//! [`Principal`](crate::principal::Principal); no surface talks to the store
//! directly.
//!
//! Visibility: admins see everything; a user sees public servers (and
//! toolsets) and their own. A server a principal may not see answers
//! `server_not_found` (404), never 403, so ids of private servers do not
//! leak; a toolset, `toolset_not_found`.

mod audit_trail;
pub use audit_trail::AuditParams;
mod categories;
mod draft;
mod servers;
mod toolsets;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::catalog::audit::{self, AuditEvent, Auditor};
use crate::catalog::events::{CatalogEvent, CatalogEvents};
use crate::error::{Error, ErrorCode, Result};
use crate::principal::Principal;

/// Default page size of list operations.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size of list operations.
pub const MAX_LIMIT: u32 = 200;

/// Paging and filters of a list request, as the caller sent them.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub search: Option<String>,
    pub category_id: Option<String>,
}

/// One page of results and the cursor of the next one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Rules over the catalog store.
#[derive(Clone)]
pub struct CatalogService {
    store: Catalog,
    events: CatalogEvents,
    audit: Auditor,
}

fn now() -> DateTime<Utc> {
    // Microseconds: what PostgreSQL keeps, so a record reads back as written.
    Utc::now().trunc_subsecs(6)
}

fn limit(params: &ListParams) -> Result<u32> {
    match params.limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            ErrorCode::InvalidLimit,
            "limit",
            format!("limit is between 1 and {MAX_LIMIT}"),
        )),
    }
}

fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// A cursor is unpadded base64url (the pattern the OpenAPI document states);
/// it only says where the page starts, so bytes that are not UTF-8 (never
/// issued, but well-formed) start it after their lossy decoding.
fn decode_cursor(cursor: Option<&str>) -> Result<Option<String>> {
    cursor
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok_or_else(|| Error::BadRequest {
                    code: ErrorCode::InvalidCursor,
                    message: "the cursor is not one this API returned".into(),
                })
        })
        .transpose()
}

/// Keeps `limit` items and derives the next cursor from the extra one fetched.
fn page<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(&key(last)))
    } else {
        None
    };
    Page { items, next_cursor }
}

impl CatalogService {
    /// Rules over `store`.
    pub fn new(store: Catalog) -> Self {
        Self {
            store,
            events: CatalogEvents::default(),
            audit: Auditor::disabled(),
        }
    }

    /// Records every change (and, for the edges, every call) in `audit`.
    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    /// The audit trail's recorder.
    pub fn audit(&self) -> &Auditor {
        &self.audit
    }

    /// Where a [`CatalogEvent`] goes after every successful change.
    pub fn events(&self) -> &CatalogEvents {
        &self.events
    }

    /// Publishes `event`, which `principal` caused, and records it in the
    /// audit trail.
    fn changed(&self, principal: &Principal, event: CatalogEvent) {
        if self.audit.enabled() {
            let mut audit = AuditEvent::new(audit::kind::CATALOG_CHANGE, principal, "api");
            audit.target = Some(event.id.clone());
            audit.server = event.link.as_ref().map(|link| link.name.clone());
            let kind = serde_json::to_value(event.kind).ok();
            let action = serde_json::to_value(event.action).ok();
            audit.detail = Some(format!(
                "{} {}",
                kind.as_ref().and_then(|v| v.as_str()).unwrap_or("record"),
                action
                    .as_ref()
                    .and_then(|v| v.as_str())
                    .unwrap_or("changed")
            ));
            self.audit.record(audit);
        }
        self.events.publish(event);
    }

    /// The underlying store (health checks, API keys).
    pub fn store(&self) -> &Catalog {
        &self.store
    }
}

fn category_not_found() -> Error {
    Error::not_found(ErrorCode::CategoryNotFound, "category")
}

fn server_not_found() -> Error {
    Error::not_found(ErrorCode::ServerNotFound, "server")
}

fn toolset_not_found() -> Error {
    Error::not_found(ErrorCode::ToolsetNotFound, "toolset")
}
