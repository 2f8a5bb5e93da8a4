//! The audit trail: one [`AuditEvent`] per tool call, resource read, prompt,
//! completion, task call, connect, disconnect, OAuth authorization and
//! catalog change — who, what, when, how long, with what outcome.
//!
//! Events are recorded through an [`Auditor`], which never blocks the call
//! that records: a bounded queue feeds one writer task that inserts them in
//! batches into the catalog's `audit_events` table and deletes those older
//! than `audit.retention_days`. Arguments are kept only with
//! `audit.record_arguments`, after [`redact`]; results never are.

mod redact;
mod writer;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::principal::{Credential, Principal, Role};

pub use redact::{REDACTED, redact};
pub use writer::Auditor;

/// Every event id starts with this.
pub const ID_PREFIX: &str = "aud_";

/// What happened (the MCP method for MCP requests).
pub mod kind {
    pub const TOOL_CALL: &str = "tools/call";
    pub const RESOURCE_READ: &str = "resources/read";
    pub const PROMPT_GET: &str = "prompts/get";
    pub const COMPLETION: &str = "completion/complete";
    /// A task-augmented `tools/call` (2025-11-25 tasks).
    pub const TASK_CALL: &str = "tasks/call";
    pub const CONNECT: &str = "connect";
    pub const DISCONNECT: &str = "disconnect";
    pub const OAUTH_AUTHORIZATION: &str = "oauth_authorization";
    pub const CATALOG_CHANGE: &str = "catalog_change";
}

/// The outcome of a call that succeeded.
pub const OK: &str = "ok";
/// The outcome of a tool call the upstream answered with `isError: true`.
pub const TOOL_ERROR: &str = "tool_error";

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// `aud_…`.
    pub id: String,
    /// When the request arrived.
    pub at: DateTime<Utc>,
    /// `tools/call`, `resources/read`, `prompts/get`, `completion/complete`,
    /// `tasks/call`, `connect`, `disconnect`, `oauth_authorization` or
    /// `catalog_change`.
    pub kind: String,
    pub user_id: String,
    pub role: Role,
    /// How the principal authenticated: `api_key`, `jwt`, `anonymous`.
    pub credential: String,
    /// The API key used, if one was.
    pub key_id: Option<String>,
    /// The connection-state session.
    pub session: String,
    /// The client's `Mcp-Session-Id`, for MCP requests.
    pub mcp_session_id: Option<String>,
    /// Where the request came in: `mcp`, `mcp/s/{server}`,
    /// `mcp/t/{toolset}`, or `api` (REST, GraphQL, the page).
    pub surface: String,
    /// The upstream server concerned, if one is.
    pub server: Option<String>,
    /// The tool, resource URI, prompt or record concerned, as the client
    /// named it.
    pub target: Option<String>,
    /// Time from the request to its answer, in milliseconds.
    pub duration_ms: f64,
    /// `ok`, `tool_error` (the tool answered `isError: true`), or the
    /// error's code (`unknown_tool`, `upstream_timeout`, …; `rpc_error` for
    /// an upstream's own JSON-RPC error).
    pub outcome: String,
    /// Size of the request's parameters as JSON, in bytes.
    pub request_bytes: i64,
    /// Size of the answer as JSON, in bytes.
    pub response_bytes: i64,
    /// The client's name from `initialize` (`clientInfo.name`).
    pub client_name: Option<String>,
    /// The call's arguments, redacted; only with `audit.record_arguments`.
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<Value>,
    /// A short description (`server mcp_… updated`), for non-call events.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` by `principal`, at now, `ok`, with nothing else
    /// filled in.
    pub fn new(kind: &str, principal: &Principal, surface: impl Into<String>) -> Self {
        let key_id = match &principal.credential {
            Credential::ApiKey { key_id } => Some(key_id.to_string()),
            _ => None,
        };
        Self {
            id: crate::ids::random_id(ID_PREFIX),
            at: Utc::now(),
            kind: kind.to_owned(),
            user_id: principal.user_id.clone(),
            role: principal.role,
            credential: principal.credential.kind().to_owned(),
            key_id,
            session: principal.session.to_string(),
            mcp_session_id: None,
            surface: surface.into(),
            server: None,
            target: None,
            duration_ms: 0.0,
            outcome: OK.to_owned(),
            request_bytes: 0,
            response_bytes: 0,
            client_name: None,
            arguments: None,
            detail: None,
        }
    }

    /// Whether `principal` may read this event: admins all, others their own.
    pub fn visible_to(&self, principal: &Principal) -> bool {
        principal.role == Role::Admin || self.user_id == principal.user_id
    }
}

/// One page of audit events, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub server: Option<String>,
    /// The event's `target` (tool, URI, prompt).
    pub tool: Option<String>,
    /// An outcome, or `error` for every outcome but `ok`.
    pub outcome: Option<String>,
    pub kind: Option<String>,
    /// Events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Events written before the one with this sequence number.
    pub before: Option<i64>,
    pub limit: u32,
}

/// An event as read back, with its place in the table (for paging).
#[derive(Debug, Clone)]
pub struct StoredAuditEvent {
    /// Order of writing; pages continue below the last one seen.
    pub seq: i64,
    pub event: AuditEvent,
}
