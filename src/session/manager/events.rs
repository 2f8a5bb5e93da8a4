//! What a session's upstream link reports about itself: tools read (and
//! re-read after `list_changed`) and announcements published to the
//! session's `/mcp` streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use rmcp::model::{ClientRequest, PingRequest};
use rmcp::{Peer, RoleClient};
use serde_json::Value;

use crate::catalog::ServerName;
use crate::error::{Error, ErrorCode, Result};
use crate::ids::SessionId;
use crate::session::bus::{Change, SessionNotifier};
use crate::session::manager::{ManagerOptions, reconnect};
use crate::session::{ConnectionStatus, State};
use crate::upstream::Target;
use crate::upstream::pool::WeakPool;
use crate::upstream::relay::{LinkEvent, LinkEvents};
use crate::upstream::schema_patch::patch_input_schema;

/// Pings the upstream, reads every page of its tools and patches their
/// input schemas, each step within `limit`.
pub(super) async fn fetch_tools(
    target: &Target,
    peer: &Peer<RoleClient>,
    limit: Duration,
) -> Result<Vec<Value>> {
    let timeout = |what: &str| Error::Upstream {
        code: ErrorCode::UpstreamTimeout,
        message: format!(
            "{}: no answer to {what} within {} s",
            target.name,
            limit.as_secs()
        ),
    };
    let failed = |what: &str, e: rmcp::ServiceError| Error::Upstream {
        code: ErrorCode::UpstreamProtocolError,
        message: target.redact(&format!("{}: {what} failed: {e}", target.name)),
    };
    let ping = peer.send_request(ClientRequest::PingRequest(PingRequest::default()));
    tokio::time::timeout(limit, ping)
        .await
        .map_err(|_| timeout("ping"))?
        .map_err(|e| failed("ping", e))?;
    let tools = tokio::time::timeout(limit, list_all_tools(peer))
        .await
        .map_err(|_| timeout("tools/list"))?
        .map_err(|e| failed("tools/list", e))?;
    Ok(tools
        .into_iter()
        .map(|mut tool| {
            let patched = patch_input_schema(tool.get("inputSchema"));
            if let Some(obj) = tool.as_object_mut() {
                obj.insert("inputSchema".into(), patched);
            }
            tool
        })
        .collect())
}

/// The most `tools/list` pages read from one upstream.
const MAX_TOOL_PAGES: usize = 100;

/// Every page of the upstream's tools, as it sent them (through the link's
/// raw lane, so fields rmcp does not know, such as `execution`, survive).
/// Entries that are not objects are left out.
async fn list_all_tools(
    peer: &Peer<RoleClient>,
) -> std::result::Result<Vec<Value>, rmcp::ServiceError> {
    let mut tools = Vec::new();
    let mut cursor: Option<Value> = None;
    for _ in 0..MAX_TOOL_PAGES {
        let params = cursor.take().map(|c| serde_json::json!({"cursor": c}));
        let answer = peer
            .send_request(crate::upstream::raw::request("tools/list", params))
            .await?;
        let mut page = crate::upstream::raw::unwrap(answer);
        if let Some(Value::Array(listed)) = page.get_mut("tools").map(Value::take) {
            tools.extend(listed.into_iter().filter(Value::is_object));
        }
        match page.get("nextCursor") {
            Some(next @ Value::String(_)) => cursor = Some(next.clone()),
            _ => break,
        }
    }
    Ok(tools)
}

/// What every link's event sink shares with the manager: the state store,
/// the notifier, the options and a pool handle that does not keep the pool
/// alive (a link never keeps its own pool).
#[derive(Clone)]
pub(super) struct LinkContext {
    pub(super) state: State,
    pub(super) notifier: SessionNotifier,
    pub(super) options: Arc<ManagerOptions>,
    pub(super) pool: WeakPool,
}

/// The event sink of one (session, server) link: what the upstream
/// announces about itself updates the session's state and reaches its open
/// `/mcp` streams; a link that breaks is reopened (see [`super::reconnect`]).
pub(super) struct SessionLinkEvents {
    pub(super) session: SessionId,
    pub(super) server: ServerName,
    pub(super) target: Target,
    pub(super) context: LinkContext,
    /// One refresh at a time, so an older tool list never overwrites a
    /// newer one; it holds when the last one started.
    pub(super) refreshing: tokio::sync::Mutex<Option<Instant>>,
    /// A refresh is waiting for its turn: later announcements ride on it.
    pub(super) refresh_queued: AtomicBool,
}

/// The least time between two tool refreshes of one link: an upstream that
/// announces `list_changed` in a storm costs at most a few `tools/list`
/// round trips a second, and the last announcement is never lost.
pub(super) const REFRESH_FLOOR: Duration = Duration::from_millis(250);

impl SessionLinkEvents {
    /// A sink for the link of (session, `target`).
    pub(super) fn new(context: LinkContext, session: SessionId, target: Target) -> Self {
        Self {
            session,
            server: target.name.clone(),
            target,
            context,
            refreshing: tokio::sync::Mutex::new(None),
            refresh_queued: AtomicBool::new(false),
        }
    }

    /// Re-reads the server's tools and stores them, keeping when it
    /// connected; a server no longer `CONNECTED` in this session is left alone.
    ///
    /// Announcements coalesce: while a refresh waits for its turn, further
    /// ones return at once (`Ok(None)`), since the waiting refresh reads
    /// the list after them. Refreshes are at least [`REFRESH_FLOOR`] apart.
    async fn refresh_tools(&self, peer: &Peer<RoleClient>) -> Result<Option<bool>> {
        if self.refresh_queued.swap(true, Ordering::SeqCst) {
            return Ok(None);
        }
        let mut last = self.refreshing.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until((at + REFRESH_FLOOR).into()).await;
        }
        // Announcements from here on need a refresh after this one.
        self.refresh_queued.store(false, Ordering::SeqCst);
        *last = Some(Instant::now());
        self.refresh_now(peer).await.map(Some)
    }

    /// Reads the tools once and stores them when they differ from the cached
    /// ones; whether they did (only then do clients hear `list_changed`).
    async fn refresh_now(&self, peer: &Peer<RoleClient>) -> Result<bool> {
        let tools =
            fetch_tools(&self.target, peer, self.context.options.tool_fetch_timeout).await?;
        let server = self.server.as_str();
        let state = &self.context.state;
        let before = state.get(&self.session, server).await?;
        if before.status != ConnectionStatus::Connected {
            return Ok(false);
        }
        if before.tools == tools {
            tracing::debug!(
                tools = tools.len(),
                changed = false,
                "tools re-read after the upstream's list_changed"
            );
            return Ok(false);
        }
        let at = before
            .connected_at
            .unwrap_or_else(|| Utc::now().trunc_subsecs(6));
        state
            .set_connected(&self.session, server, &tools, at)
            .await?;
        tracing::info!(
            tools = tools.len(),
            changed = true,
            "tools re-read after the upstream's list_changed"
        );
        Ok(true)
    }
}

#[async_trait]
impl LinkEvents for SessionLinkEvents {
    async fn handle(&self, peer: Peer<RoleClient>, event: LinkEvent) {
        let span =
            tracing::info_span!("link_event", session = %self.session, server = %self.server);
        let server = Some(self.server.as_str());
        match event {
            LinkEvent::ToolsChanged => {
                let refreshed =
                    tracing::Instrument::instrument(self.refresh_tools(&peer), span).await;
                match refreshed {
                    Ok(Some(true)) => {
                        self.context
                            .notifier
                            .publish_change(&self.session, server, Change::Tools)
                    }
                    Ok(Some(false) | None) => {}
                    Err(err) => tracing::warn!(
                        session = %self.session,
                        server = %self.server,
                        code = err.code().as_str(),
                        error = %err,
                        "could not refresh tools after the upstream's list_changed"
                    ),
                }
            }
            LinkEvent::ResourcesChanged => {
                self.context
                    .notifier
                    .publish_change(&self.session, server, Change::Resources);
            }
            LinkEvent::PromptsChanged => {
                self.context
                    .notifier
                    .publish_change(&self.session, server, Change::Prompts);
            }
            LinkEvent::ResourceUpdated { uri } => {
                self.context.notifier.publish_change(
                    &self.session,
                    server,
                    Change::ResourceUpdated { uri },
                );
            }
            LinkEvent::Lost { link, reason } => {
                let lost = reconnect::lost(
                    self.context.clone(),
                    self.session.clone(),
                    self.target.clone(),
                    link,
                    reason,
                );
                tracing::Instrument::instrument(lost, span).await;
            }
        }
    }
}
