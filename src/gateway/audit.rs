//! The audit events of MCP requests: [`Audit::begin`] when a request
//! arrives, [`Audit::route`] once its server is known, [`Audit::finish`]
//! with its answer. With `audit.enabled = false` every step is a no-op.

use std::io;
use std::time::Instant;

use axum::http::request::Parts;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResponse, CompleteResult, GetPromptResponse, JsonObject, ReadResourceResponse,
};
use serde::Serialize;

use crate::catalog::ServerName;
use crate::catalog::audit::{self, AuditEvent};
use crate::gateway::direct::Hello;
use crate::gateway::handler::outcome_of;
use crate::gateway::scope::Scope;
use crate::principal::Principal;
use crate::state::AppState;

/// The audit event of one request in flight.
pub(crate) struct Audit {
    event: Option<Box<AuditEvent>>,
    started: Instant,
}

impl Audit {
    /// Starts the event of a `kind` request by `principal` in `scope`
    /// (nothing when the audit trail is off).
    pub(crate) fn begin(
        app: &AppState,
        kind: &str,
        principal: &Principal,
        scope: &Scope,
        parts: Option<&Parts>,
    ) -> Self {
        let started = Instant::now();
        if !app.audit().enabled() {
            return Self {
                event: None,
                started,
            };
        }
        let surface = match scope {
            Scope::All => "mcp".to_owned(),
            Scope::Server(name) => format!("mcp/s/{name}"),
            Scope::Toolset(name) => format!("mcp/t/{name}"),
        };
        let mut event = AuditEvent::new(kind, principal, surface);
        if let Scope::Server(name) = scope {
            event.server = Some(name.clone());
        }
        if let Some(parts) = parts {
            event.mcp_session_id = parts
                .headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            event.client_name = parts.extensions.get::<Hello>().and_then(Hello::client_name);
        }
        Self {
            event: Some(Box::new(event)),
            started,
        }
    }

    /// Names what the request is about, as the client named it.
    pub(crate) fn target(&mut self, target: &str) {
        if let Some(event) = &mut self.event {
            event.target = Some(target.to_owned());
        }
    }

    /// Names the upstream server the request goes to.
    pub(crate) fn server(&mut self, server: &str) {
        if let Some(event) = &mut self.event
            && event.server.as_deref() != Some(server)
        {
            event.server = Some(server.to_owned());
        }
    }

    /// Sizes the request's parameters.
    pub(crate) fn request<T: Serialize>(&mut self, params: &T) {
        if let Some(event) = &mut self.event {
            event.request_bytes = json_len(params);
        }
    }

    /// Keeps the call's `arguments` (when `audit.record_arguments` is on),
    /// with the secret values of `server` (its headers and environment) and
    /// secret-named keys hidden.
    pub(crate) async fn arguments(
        &mut self,
        app: &AppState,
        server: &str,
        arguments: Option<&JsonObject>,
    ) {
        let (Some(event), Some(arguments)) = (&mut self.event, arguments) else {
            return;
        };
        if !app.audit().record_arguments() {
            return;
        }
        let record = match ServerName::parse(server) {
            Ok(name) => app.catalog().store().get_server_by_name(&name).await,
            Err(err) => Err(err),
        };
        let secrets: Vec<&str> = match &record {
            Ok(Some(server)) => server
                .headers
                .values()
                .chain(server.env.values())
                .flat_map(|value| secret_parts(value.expose()))
                .collect(),
            Ok(None) => Vec::new(),
            Err(err) => {
                // Without the secrets, keeping the arguments could leak one.
                tracing::warn!(error = %err, "audit: cannot read the server's secrets; arguments not kept");
                return;
            }
        };
        event.arguments = Some(audit::redact(arguments, &secrets));
    }

    /// Records the event with the answer `answer` (its size, its outcome,
    /// the time since [`Audit::begin`]).
    pub(crate) fn finish<T: Answer>(self, app: &AppState, answer: &Result<T, McpError>) {
        let outcome = match answer {
            Ok(_) => audit::OK,
            Err(err) => outcome_of(err),
        };
        self.finish_as(app, answer.as_ref().ok(), outcome);
    }

    /// [`Audit::finish`] of a `tools/call`, whose `isError` result is the
    /// outcome `tool_error`.
    pub(crate) fn finish_call(self, app: &AppState, answer: &Result<CallToolResponse, McpError>) {
        let outcome = match answer {
            Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
                audit::TOOL_ERROR
            }
            Ok(_) => audit::OK,
            Err(err) => outcome_of(err),
        };
        self.finish_as(app, answer.as_ref().ok(), outcome);
    }

    fn finish_as<T: Answer>(self, app: &AppState, answer: Option<&T>, outcome: &str) {
        let Some(mut event) = self.event else {
            return;
        };
        event.duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        event.response_bytes = answer.map_or(0, Answer::json_len);
        event.outcome = outcome.to_owned();
        app.audit().record(*event);
    }
}

/// What of a secret header or environment value to hide: the value, and
/// the credential of a `Bearer …`/`Basic …`-style value on its own.
fn secret_parts(value: &str) -> impl Iterator<Item = &str> {
    let credential = value
        .split_once(' ')
        .map(|(_, rest)| rest.trim())
        .filter(|rest| !rest.is_empty());
    std::iter::once(value).chain(credential)
}

/// An answer whose size an event records.
pub(crate) trait Answer {
    /// Its length as JSON.
    fn json_len(&self) -> i64;
}

impl Answer for CallToolResponse {
    fn json_len(&self) -> i64 {
        match self {
            Self::Complete(result) => json_len(result),
            Self::InputRequired(result) => json_len(result),
            Self::Task(result) => json_len(result),
            _ => 0,
        }
    }
}

impl Answer for ReadResourceResponse {
    fn json_len(&self) -> i64 {
        match self {
            Self::Complete(result) => json_len(result),
            Self::InputRequired(result) => json_len(result),
            _ => 0,
        }
    }
}

impl Answer for GetPromptResponse {
    fn json_len(&self) -> i64 {
        match self {
            Self::Complete(result) => json_len(result),
            Self::InputRequired(result) => json_len(result),
            _ => 0,
        }
    }
}

impl Answer for CompleteResult {
    fn json_len(&self) -> i64 {
        json_len(self)
    }
}

impl Answer for serde_json::Value {
    fn json_len(&self) -> i64 {
        json_len(self)
    }
}

/// The length of `value` as JSON, counted without building it.
fn json_len<T: Serialize + ?Sized>(value: &T) -> i64 {
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => i64::try_from(counter.0).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheme_and_its_credential_are_both_hidden() {
        let parts: Vec<&str> = secret_parts("Bearer tok-123").collect();
        assert_eq!(parts, vec!["Bearer tok-123", "tok-123"]);
        let plain: Vec<&str> = secret_parts("tok-123").collect();
        assert_eq!(plain, vec!["tok-123"]);
    }

    #[test]
    fn json_len_is_the_serialized_length() {
        let value = serde_json::json!({"a": [1, 2, "três"], "b": null});
        assert_eq!(json_len(&value) as usize, value.to_string().len());
    }
}
