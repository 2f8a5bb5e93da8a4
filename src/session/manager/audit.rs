//! The audit events of the session manager's own actions: connects,
//! disconnects and OAuth authorizations a principal asked for (not the
//! gateway's automatic reconnections).

use std::time::Instant;

use crate::catalog::audit::{self, AuditEvent};
use crate::error::Result;
use crate::principal::Principal;

use super::{ServerStatus, SessionManager};

impl SessionManager {
    /// Records a `kind` action of `principal` on the server `id_or_name`
    /// (named by its status when it answered) that began at `started`.
    pub(super) fn audit_status(
        &self,
        kind: &str,
        principal: &Principal,
        id_or_name: &str,
        started: Instant,
        answer: &Result<ServerStatus>,
    ) {
        let server = match answer {
            Ok(status) => Some(status.name.as_str()),
            Err(_) => None,
        };
        self.audit_action(kind, principal, id_or_name, server, started, answer);
    }

    /// Records a `kind` action of `principal` about `target` (and `server`,
    /// when known) that began at `started` and ended with `answer`.
    pub(super) fn audit_action<T>(
        &self,
        kind: &str,
        principal: &Principal,
        target: &str,
        server: Option<&str>,
        started: Instant,
        answer: &Result<T>,
    ) {
        let auditor = self.catalog.audit();
        if !auditor.enabled() {
            return;
        }
        let mut event = AuditEvent::new(kind, principal, "api");
        event.target = Some(target.to_owned());
        event.server = server.map(str::to_owned).or_else(|| {
            crate::catalog::ServerName::parse(target)
                .ok()
                .map(|n| n.to_string())
        });
        event.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        event.outcome = match answer {
            Ok(_) => audit::OK.to_owned(),
            Err(err) => err.code().as_str().to_owned(),
        };
        auditor.record(event);
    }
}
