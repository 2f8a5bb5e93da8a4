//! [`TaskWatchers`]: which client of a link hears of each upstream task
//! (MCP tasks, 2025-11-25), so an upstream's `notifications/tasks/status`
//! reaches the client that created the task, under the id that client
//! knows, and no other.

use std::collections::HashMap;
use std::sync::Mutex;

use rmcp::{Peer, RoleServer};

/// Who hears of one upstream task.
struct Watcher {
    /// The client that created the task.
    peer: Peer<RoleServer>,
    /// The task id that client knows.
    exposed_id: String,
    /// Insertion order, for eviction.
    seq: u64,
}

/// The watched tasks of one link, by upstream task id.
#[derive(Default)]
struct Tasks {
    next: u64,
    by_id: HashMap<String, Watcher>,
}

/// Most tasks watched on one link; the oldest is forgotten first.
const MAX_WATCHED_TASKS: usize = 1024;

/// Statuses after which a task changes no more.
const TERMINAL: &[&str] = &["completed", "failed", "cancelled"];

/// The watched tasks of one link (see the module docs).
#[derive(Default)]
pub struct TaskWatchers(Mutex<Tasks>);

impl TaskWatchers {
    /// Sends the upstream's status notifications (`notifications/tasks/status`)
    /// of task `upstream_id` to `peer`, the client that created it, under
    /// `exposed_id`, until the task ends (at most `MAX_WATCHED_TASKS`
    /// per link; the oldest is forgotten first).
    pub fn watch(&self, upstream_id: &str, peer: Peer<RoleServer>, exposed_id: String) {
        let mut tasks = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tasks.by_id.len() >= MAX_WATCHED_TASKS
            && let Some(oldest) = tasks
                .by_id
                .iter()
                .min_by_key(|(_, w)| w.seq)
                .map(|(id, _)| id.clone())
        {
            tasks.by_id.remove(&oldest);
        }
        let seq = tasks.next;
        tasks.next += 1;
        tasks.by_id.insert(
            upstream_id.to_owned(),
            Watcher {
                peer,
                exposed_id,
                seq,
            },
        );
    }

    /// Passes an upstream's `notifications/tasks/status` to the client whose
    /// task it is, with the task id that client knows; dropped when no
    /// client of this link created the task.
    pub async fn status(&self, mut params: serde_json::Value) {
        let Some(upstream_id) = params
            .get("taskId")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
        else {
            return;
        };
        let terminal = params
            .get("status")
            .and_then(|v| v.as_str())
            .is_some_and(|status| TERMINAL.contains(&status));
        let target = {
            let mut tasks = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let target = tasks
                .by_id
                .get(&upstream_id)
                .map(|w| (w.peer.clone(), w.exposed_id.clone()));
            if terminal {
                tasks.by_id.remove(&upstream_id);
            }
            target
        };
        let Some((peer, exposed_id)) = target else {
            tracing::debug!(task = %upstream_id, "status of a task no client here created; dropped");
            return;
        };
        params["taskId"] = serde_json::Value::String(exposed_id);
        let notification = rmcp::model::ServerNotification::CustomNotification(
            rmcp::model::CustomNotification::new("notifications/tasks/status", Some(params)),
        );
        if let Err(err) = peer.send_notification(notification).await {
            tracing::debug!(error = %err, "task status not delivered to its client");
        }
    }
}
