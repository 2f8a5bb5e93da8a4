//! [`ToolViews`]: each session's tool list as a client sees it, built once
//! from the state store and the catalog and reused until the session changes.
//!
//! A view holds the tools renamed for its [`Scope`] (`{server}__{tool}` on
//! `/mcp`, unchanged on `/mcp/s/{server}`), sorted by name, and the way back
//! to (server, tool). `tools/list` pages through it and `tools/call` resolves
//! through it, so neither touches the catalog or the state store while the
//! view is fresh.
//!
//! A view is dropped when its session changes ([`ToolViews::invalidate`], called
//! synchronously from the session event bus on every connect, disconnect and
//! clear in this process, see [`ToolViews::follow`]) and otherwise lives [`VIEW_TTL`], which bounds how long a
//! change made on another replica, or a server hidden or deleted in the
//! catalog, can go unseen. Views are a cache: any replica rebuilds them from
//! the catalog and the state store.
//!
//! An aggregate view also records whether a `fail_closed` server of the
//! session is `FAILED` ([`ToolView::check_open`]): two more queries per
//! rebuild (the principal's fail-closed servers, then their statuses in one
//! round trip), none per call. A failure on another replica is seen within
//! [`VIEW_TTL`]; one in this process at once, since marking a server
//! `FAILED` publishes a change. Per-server views (`/mcp/s/{server}`) are
//! never blocked: they reach one upstream, whose own failure already ends
//! its calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rmcp::ErrorData as McpError;
use rmcp::model::Tool;
use serde_json::{Map, Value, json};

use crate::catalog::tool_filter::ToolFilter;
use crate::error::{ErrorCode, Result};
use crate::gateway::exposure::Exposure;
use crate::gateway::handler::Scope;
use crate::gateway::namespace::{DEFAULT_SEPARATOR, NameMap};
use crate::gateway::search::ToolIndex;
use crate::ids::SessionId;
use crate::principal::Principal;
use crate::session::ConnectionStatus;
use crate::session::bus::{Change, SessionNotifier};
use crate::session::manager::qualified;
use crate::state::AppState;

/// How long a view is reused when nothing in this process changed it.
pub const VIEW_TTL: Duration = Duration::from_secs(2);
/// Most views kept at once (expired ones are dropped first, then all).
const MAX_VIEWS: usize = 10_000;

/// The tools one scope of one session exposes.
#[derive(Default)]
pub struct ToolView {
    /// Renamed tools, sorted by name.
    tools: Vec<Tool>,
    /// Exposed name → (server, upstream tool name).
    routes: HashMap<String, (String, String)>,
    /// Exposed name → the fields of the upstream's tool that rmcp's `Tool`
    /// does not carry (2025-11-25's `execution`, newer fields), as sent.
    extras: HashMap<String, Map<String, Value>>,
    /// A `fail_closed` server that is `FAILED` in the session, if any.
    blocked: Option<String>,
    /// On a per-server view: the server's `tool_filter` and the session's
    /// own filter, which a name the upstream did not list must pass too.
    hidden: (ToolFilter, ToolFilter),
    /// The text index over `tools`, built at the first search.
    index: OnceLock<ToolIndex>,
    /// How the view's tools are listed when a request does not say
    /// (`?tools=`): a toolset's `exposure`, else all of them.
    exposure: Exposure,
}

impl ToolView {
    /// Builds a view from each server's cached raw tools. Tools that are not
    /// valid MCP tools are left out (and logged).
    pub fn build(scope: &Scope, servers: Vec<(String, Vec<Value>)>) -> Self {
        let mut parsed: Vec<(String, Tool, Map<String, Value>)> = Vec::new();
        for (server, raw_tools) in servers {
            for raw in raw_tools {
                let extra = extra_fields(&raw);
                match serde_json::from_value::<Tool>(raw) {
                    Ok(tool) => parsed.push((server.clone(), tool, extra)),
                    Err(err) => tracing::warn!(
                        %server,
                        error = %err,
                        "skipping a cached tool that is not a valid MCP tool"
                    ),
                }
            }
        }
        let names = match scope {
            Scope::All | Scope::Toolset(_) => Some(NameMap::build(
                parsed.iter().map(|(s, t, _)| (s.as_str(), t.name.as_ref())),
                DEFAULT_SEPARATOR,
            )),
            Scope::Server(_) => None,
        };
        let mut routes = HashMap::with_capacity(parsed.len());
        let mut tools = Vec::with_capacity(parsed.len());
        let mut extras = HashMap::new();
        for (server, mut tool, extra) in parsed {
            let original = tool.name.to_string();
            let exposed = match &names {
                Some(names) => match names.name_of(&server, &original) {
                    Some(name) => name.to_owned(),
                    None => continue,
                },
                None => original.clone(),
            };
            if routes.contains_key(&exposed) {
                // Only possible on a per-server view whose upstream listed a
                // name twice: the first one wins.
                continue;
            }
            tool.name = exposed.clone().into();
            if !extra.is_empty() {
                extras.insert(exposed.clone(), extra);
            }
            routes.insert(exposed, (server, original));
            tools.push(tool);
        }
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            tools,
            routes,
            extras,
            blocked: None,
            hidden: Default::default(),
            index: OnceLock::new(),
            exposure: Exposure::All,
        }
    }

    /// How the view's tools are listed when a request does not say.
    pub fn exposure(&self) -> Exposure {
        self.exposure
    }

    /// The view listed as `exposure` by default.
    pub fn exposed_as(mut self, exposure: Exposure) -> Self {
        self.exposure = exposure;
        self
    }

    /// The `limit` tools that best match `query`, best first (see
    /// [`ToolIndex`]); the index is built at the first search of the view.
    pub fn search(&self, query: &str, limit: usize) -> Vec<&Tool> {
        let index = self.index.get_or_init(|| ToolIndex::build(&self.tools));
        index
            .search(query, limit)
            .into_iter()
            .filter_map(|(position, _)| self.tools.get(position))
            .collect()
    }

    /// A view of exactly `tools`, each exposed under its own (final) name
    /// and routed to (server, upstream tool name); later duplicates of a
    /// name are left out.
    pub fn assembled(entries: Vec<(Tool, String, String)>) -> Self {
        let mut view = Self::default();
        for (tool, server, original) in entries {
            let exposed = tool.name.to_string();
            if view.routes.contains_key(&exposed) {
                continue;
            }
            view.routes.insert(exposed, (server, original));
            view.tools.push(tool);
        }
        view.tools.sort_by(|a, b| a.name.cmp(&b.name));
        view
    }

    /// The per-server view also refusing names that `server` (its server's
    /// `tool_filter`) or `own` (the session's filter) hides, listed or not.
    pub fn filtered_by(mut self, server: ToolFilter, own: ToolFilter) -> Self {
        self.hidden = (server, own);
        self
    }

    /// The (server, upstream tool) a `tools/call` of `name` in `scope` goes
    /// to: the listed tool of that name; on a per-server route, also a name
    /// the upstream did not list (it is the authority on its own tools, as
    /// without the gateway) unless the server's `tool_filter` hides it.
    /// Anything else is `unknown_tool`, exactly as for a tool that does not
    /// exist.
    pub fn route<'a>(
        &'a self,
        scope: &'a Scope,
        name: &'a str,
    ) -> std::result::Result<(&'a str, &'a str), McpError> {
        match (self.resolve(name), scope) {
            (Some(found), _) => Ok(found),
            (None, Scope::Server(server))
                if self.hidden.0.admits(name) && self.hidden.1.admits(&qualified(server, name)) =>
            {
                Ok((server.as_str(), name))
            }
            _ => Err(ErrorCode::UnknownTool.mcp_error(format!("unknown tool: {name}"), &[])),
        }
    }

    /// The fields of the exposed tool `name` that rmcp's `Tool` does not
    /// carry, as the upstream sent them (e.g. `execution`).
    pub fn extras(&self, name: &str) -> Option<&Map<String, Value>> {
        self.extras.get(name)
    }

    /// Whether some exposed tool has fields rmcp's `Tool` does not carry
    /// (only then must a 2025-11-25 `tools/list` be served apart from rmcp).
    pub fn has_extras(&self) -> bool {
        !self.extras.is_empty()
    }

    /// The view refusing calls because `server` (fail-closed) is `FAILED`.
    pub fn blocked_by(mut self, server: Option<String>) -> Self {
        self.blocked = server;
        self
    }

    /// The `fail_closed` server whose failure blocks this view, if any.
    pub fn blocked(&self) -> Option<&str> {
        self.blocked.as_deref()
    }

    /// `Ok` unless a `fail_closed` server is `FAILED` in the session; then an
    /// MCP error whose `data.code` is [`ErrorCode::ServerFailed`] and
    /// `data.server` names it, for every call, read and prompt until it is
    /// connected again or disconnected.
    pub fn check_open(&self) -> std::result::Result<(), McpError> {
        match &self.blocked {
            None => Ok(()),
            Some(server) => Err(ErrorCode::ServerFailed.mcp_error(
                format!(
                    "server `{server}` failed and is fail-closed: this session's calls are \
                     refused until it is connected again or disconnected"
                ),
                &[("server", json!(server))],
            )),
        }
    }

    /// The (server, upstream tool) behind an exposed name.
    pub fn resolve(&self, name: &str) -> Option<(&str, &str)> {
        self.routes
            .get(name)
            .map(|(server, tool)| (server.as_str(), tool.as_str()))
    }

    /// Up to `size` tools named after `after`, and whether more follow.
    pub fn page(&self, after: Option<&str>, size: usize) -> (&[Tool], bool) {
        let start = match after {
            Some(after) => self.tools.partition_point(|t| t.name.as_ref() <= after),
            None => 0,
        };
        let end = (start + size).min(self.tools.len());
        (&self.tools[start..end], end < self.tools.len())
    }

    /// How many tools the view exposes.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether the view exposes no tool.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

/// The fields rmcp's `Tool` reads and writes.
const TOOL_FIELDS: &[&str] = &[
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
    "icons",
    "_meta",
];

/// The fields of a raw tool that rmcp's `Tool` would drop.
fn extra_fields(raw: &Value) -> Map<String, Value> {
    raw.as_object()
        .map(|object| {
            object
                .iter()
                .filter(|(key, _)| !TOOL_FIELDS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default()
}

struct Entry {
    built: Instant,
    view: Arc<ToolView>,
}

#[derive(Default)]
struct Inner {
    views: HashMap<(SessionId, Scope), Entry>,
    /// Bumped by every invalidation of a session; a view built while its
    /// session changed is not kept.
    generations: HashMap<SessionId, u64>,
    /// Bumped when every view is dropped at once.
    epoch: u64,
}

/// The per-process cache of [`ToolView`]s (clone freely; clones share it).
#[derive(Clone, Default)]
pub struct ToolViews {
    inner: Arc<Mutex<Inner>>,
}

impl ToolViews {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps this cache current with `notifier`: every tools or
    /// connections change drops the views of its session, synchronously,
    /// before subscribers hear of it.
    pub fn follow(&self, notifier: &SessionNotifier) {
        let views = self.clone();
        notifier.on_deliver(move |event| {
            if matches!(event.change, Change::Tools | Change::Connections) {
                views.invalidate(&event.session);
            }
        });
    }

    /// Drops every view of `session`.
    pub fn invalidate(&self, session: &SessionId) {
        let mut inner = self.lock();
        inner.views.retain(|(s, _), _| s != session);
        *inner.generations.entry(session.clone()).or_default() += 1;
    }

    /// Drops every view (what a catalog change may have changed for any
    /// session: a server's tool filter, visibility or `enabled`).
    pub fn invalidate_all(&self) {
        let mut inner = self.lock();
        inner.views.clear();
        inner.epoch += 1;
    }

    /// The principal's view of `scope`, from the cache when fresh.
    pub async fn get(
        &self,
        app: &AppState,
        principal: &Principal,
        scope: &Scope,
    ) -> Result<Arc<ToolView>> {
        let key = (principal.session.clone(), scope.clone());
        let generation = {
            let inner = self.lock();
            if let Some(entry) = inner.views.get(&key)
                && entry.built.elapsed() < VIEW_TTL
            {
                return Ok(entry.view.clone());
            }
            let session = inner
                .generations
                .get(&principal.session)
                .copied()
                .unwrap_or(0);
            (session, inner.epoch)
        };
        let view = Arc::new(build(app, principal, scope).await?);
        let mut inner = self.lock();
        let now = (
            inner
                .generations
                .get(&principal.session)
                .copied()
                .unwrap_or(0),
            inner.epoch,
        );
        if now == generation {
            if inner.views.len() >= MAX_VIEWS {
                inner.views.retain(|_, e| e.built.elapsed() < VIEW_TTL);
                if inner.views.len() >= MAX_VIEWS {
                    inner.views.clear();
                }
            }
            if inner.generations.len() >= MAX_VIEWS {
                // Only counts for sessions with a build in flight matter;
                // dropping them all at worst discards one fresh view each.
                inner.generations.clear();
            }
            inner.views.insert(
                key,
                Entry {
                    built: Instant::now(),
                    view: view.clone(),
                },
            );
        }
        Ok(view)
    }
}

/// Reads the session's connected servers that the principal may still see
/// (for a per-server scope, that one server) and their cached tools.
async fn build(app: &AppState, principal: &Principal, scope: &Scope) -> Result<ToolView> {
    let mut servers = Vec::new();
    let only = match scope {
        Scope::All => None,
        Scope::Server(name) => Some(name.as_str()),
        Scope::Toolset(name) => return crate::gateway::toolset::view(app, principal, name).await,
    };
    let mut hidden = ToolFilter::default();
    let (own, shown) = app.sessions().shown_tools(principal, only).await?;
    for (server, tools) in shown {
        if only.is_some() {
            hidden = server.tool_filter.clone();
        }
        servers.push((server.name.to_string(), tools));
    }
    let blocked = match scope {
        Scope::All => failed_fail_closed(app, principal).await?,
        Scope::Server(_) | Scope::Toolset(_) => None,
    };
    Ok(ToolView::build(scope, servers)
        .blocked_by(blocked)
        .filtered_by(hidden, own))
}

/// The first (by name) `fail_closed` server the principal may see that is
/// `FAILED` or `RECONNECTING` in its session (a guard that is down blocks
/// until it is back): one catalog query and one state-store read.
async fn failed_fail_closed(app: &AppState, principal: &Principal) -> Result<Option<String>> {
    let names = app.catalog().fail_closed_servers(principal).await?;
    if names.is_empty() {
        return Ok(None);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let states = app
        .state_store()
        .get_many(&principal.session, &refs)
        .await?;
    Ok(names
        .into_iter()
        .zip(states)
        .find(|(_, state)| {
            matches!(
                state.status,
                ConnectionStatus::Failed | ConnectionStatus::Reconnecting
            )
        })
        .map(|(name, _)| name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Value {
        json!({"name": name, "inputSchema": {"type": "object"}})
    }

    #[test]
    fn aggregate_views_prefix_sort_and_resolve() {
        let view = ToolView::build(
            &Scope::All,
            vec![
                ("b".into(), vec![tool("echo"), tool("add")]),
                ("a".into(), vec![tool("echo"), json!({"name": 7})]),
            ],
        );
        let (page, more) = view.page(None, 10);
        let names: Vec<&str> = page.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["a__echo", "b__add", "b__echo"]);
        assert!(!more);
        assert_eq!(view.resolve("b__add"), Some(("b", "add")));
        assert_eq!(view.resolve("add"), None);
    }

    #[test]
    fn per_server_views_keep_names_and_pages_continue_after_the_cursor() {
        let view = ToolView::build(
            &Scope::Server("a".into()),
            vec![("a".into(), vec![tool("c"), tool("a"), tool("b"), tool("a")])],
        );
        assert_eq!(view.len(), 3);
        let (first, more) = view.page(None, 2);
        assert!(more);
        assert_eq!(first.last().map(|t| t.name.as_ref()), Some("b"));
        let (rest, more) = view.page(Some("b"), 2);
        assert_eq!(rest.len(), 1);
        assert!(!more);
        assert_eq!(view.resolve("c"), Some(("a", "c")));
    }

    #[test]
    fn a_blocked_view_refuses_with_server_failed_naming_the_server() {
        let open = ToolView::build(&Scope::All, vec![("a".into(), vec![tool("x")])]);
        assert!(open.check_open().is_ok());
        let blocked = open.blocked_by(Some("b".into()));
        assert_eq!(blocked.blocked(), Some("b"));
        let data = blocked.check_open().err().and_then(|e| e.data);
        assert_eq!(
            data,
            Some(json!({"code": ErrorCode::ServerFailed, "server": "b"}))
        );
        assert_eq!(blocked.resolve("a__x"), Some(("a", "x")), "still listed");
    }
}
