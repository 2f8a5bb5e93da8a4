//! Catalog change events: the [`CatalogService`](super::CatalogService)
//! publishes one [`CatalogEvent`] after every successful create, update or
//! delete of a category, a server or a toolset, whichever surface asked
//! for it. Pages
//! hear them through the `catalogChanged` subscription; with a Redis state
//! store the gateway's fanout carries them to the other replicas.
//!
//! An event names only the kind, id and action, plus (for servers and
//! toolsets) what a listener needs to decide who may hear it without
//! reading the row, which may be gone: the owner and whether the record was
//! and is public; and (servers) what the change means for sessions' links
//! to the server ([`LinkChange`]).

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::catalog::model::Server;
use crate::catalog::toolset::Toolset;
use crate::ids::CategoryId;
use crate::principal::Principal;

/// How many events a slow listener may fall behind before it lags.
const CAPACITY: usize = 256;

/// What kind of record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogKind {
    Category,
    Server,
    Toolset,
}

/// What happened to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogAction {
    Created,
    Updated,
    Deleted,
}

/// Who may hear of a server's (or a toolset's) change: its owner, admins,
/// and everyone while it is public (before or after the change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerAudience {
    pub owner: String,
    /// `None` for a created server.
    pub public_before: Option<bool>,
    /// `None` for a deleted server.
    pub public_after: Option<bool>,
}

/// What a server's change means for the sessions' state and live links
/// under its name (before the change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkEffect {
    /// Created, or only fields that do not reach the upstream changed
    /// (title, description, category, public flag, fail-closed, tool
    /// filter): links stay open.
    Kept,
    /// How to reach the upstream changed (transport, URL, query
    /// parameters, headers, command, arguments, environment, working
    /// folder, OAuth settings) or the server was disabled: open links are
    /// stale; a session's state stays.
    Changed,
    /// Deleted or renamed: the state kept under the old name belongs to no
    /// server any more.
    Gone,
}

/// A server change as the sessions see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkChange {
    /// The server's name before the change (for a created server, its name).
    pub name: String,
    pub effect: LinkEffect,
    /// Which of its tools sessions see may have changed under the same
    /// name: its `tool_filter`, whether it is public, whether it is enabled
    /// (absent from replicas that predate it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tools_shown: bool,
}

impl LinkChange {
    /// What changing `before` into `after` does to links (`None`: deleted).
    pub fn between(before: &Server, after: Option<&Server>) -> Self {
        let effect = match after {
            None => LinkEffect::Gone,
            Some(after) if after.name != before.name => LinkEffect::Gone,
            Some(after) if reaches_differently(before, after) => LinkEffect::Changed,
            Some(_) => LinkEffect::Kept,
        };
        let tools_shown = effect != LinkEffect::Gone
            && after.is_some_and(|after| {
                after.tool_filter != before.tool_filter
                    || after.is_public != before.is_public
                    || after.enabled != before.enabled
            });
        Self {
            name: before.name.as_str().to_owned(),
            effect,
            tools_shown,
        }
    }
}

/// Whether a link opened for `before` is wrong for `after`.
fn reaches_differently(before: &Server, after: &Server) -> bool {
    (before.enabled && !after.enabled)
        || before.transport != after.transport
        || before.url != after.url
        || before.query_params != after.query_params
        || before.headers != after.headers
        || before.command != after.command
        || before.args != after.args
        || before.env != after.env
        || before.cwd != after.cwd
        || before.requires_oauth2 != after.requires_oauth2
        || before.oauth_client_id != after.oauth_client_id
        || before.oauth_client_secret != after.oauth_client_secret
        || before.oauth_scopes != after.oauth_scopes
}

/// A category or server changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEvent {
    pub kind: CatalogKind,
    pub id: String,
    pub action: CatalogAction,
    /// Servers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerAudience>,
    /// Servers only (absent from replicas that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkChange>,
    /// Toolsets only: who may hear of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolset: Option<ServerAudience>,
    /// Whether this process made the change; never sent to other replicas,
    /// so an event that came from one reads `false`.
    #[serde(skip)]
    pub local: bool,
}

impl CatalogEvent {
    /// A category event.
    pub fn category(id: &CategoryId, action: CatalogAction) -> Self {
        Self {
            kind: CatalogKind::Category,
            id: id.as_str().to_owned(),
            action,
            server: None,
            link: None,
            toolset: None,
            local: false,
        }
    }

    /// `toolset` was created.
    pub fn toolset_created(toolset: &Toolset) -> Self {
        Self::toolset(toolset, None, Some(toolset.is_public))
    }

    /// `before` was changed into `after`.
    pub fn toolset_updated(before: &Toolset, after: &Toolset) -> Self {
        Self::toolset(after, Some(before.is_public), Some(after.is_public))
    }

    /// `toolset` was deleted.
    pub fn toolset_deleted(toolset: &Toolset) -> Self {
        Self::toolset(toolset, Some(toolset.is_public), None)
    }

    /// An event about `toolset`; `before`/`after` as in [`Self::server`].
    pub fn toolset(toolset: &Toolset, before: Option<bool>, after: Option<bool>) -> Self {
        Self::toolset_of(toolset.id.as_str(), &toolset.owner, before, after)
    }

    fn toolset_of(id: &str, owner: &str, before: Option<bool>, after: Option<bool>) -> Self {
        Self {
            kind: CatalogKind::Toolset,
            id: id.to_owned(),
            action: action_of(before, after),
            server: None,
            link: None,
            toolset: Some(ServerAudience {
                owner: owner.to_owned(),
                public_before: before,
                public_after: after,
            }),
            local: false,
        }
    }

    /// `server` was created.
    pub fn server_created(server: &Server) -> Self {
        Self::server(server, None, Some(server.is_public))
            .with_link(LinkChange::between(server, Some(server)))
    }

    /// `before` was changed into `after`.
    pub fn server_updated(before: &Server, after: &Server) -> Self {
        Self::server(after, Some(before.is_public), Some(after.is_public))
            .with_link(LinkChange::between(before, Some(after)))
    }

    /// `server` was deleted.
    pub fn server_deleted(server: &Server) -> Self {
        Self::server(server, Some(server.is_public), None)
            .with_link(LinkChange::between(server, None))
    }

    /// The event with what it means for links to the server.
    pub fn with_link(mut self, link: LinkChange) -> Self {
        self.link = Some(link);
        self
    }

    /// An event about `server`; `before`/`after`: whether it was / is public
    /// (`None`: it did not exist before / does not any more).
    pub fn server(server: &Server, before: Option<bool>, after: Option<bool>) -> Self {
        Self::server_of(server.id.as_str(), &server.owner, before, after)
    }

    fn server_of(id: &str, owner: &str, before: Option<bool>, after: Option<bool>) -> Self {
        Self {
            kind: CatalogKind::Server,
            id: id.to_owned(),
            action: action_of(before, after),
            server: Some(ServerAudience {
                owner: owner.to_owned(),
                public_before: before,
                public_after: after,
            }),
            link: None,
            toolset: None,
            local: false,
        }
    }

    /// Whether `principal` could see the record before or after the change
    /// (categories: everyone who may read the catalog).
    pub fn visible_to(&self, principal: &Principal) -> bool {
        let audience = match self.kind {
            CatalogKind::Category => return true,
            CatalogKind::Server => &self.server,
            CatalogKind::Toolset => &self.toolset,
        };
        match audience {
            Some(a) => {
                principal.is_admin()
                    || a.owner == principal.user_id
                    || a.public_before == Some(true)
                    || a.public_after == Some(true)
            }
            // A server or toolset event without its audience: admins only.
            None => principal.is_admin(),
        }
    }
}

/// Created, deleted or updated, from whether the record existed before and
/// after the change.
fn action_of(before: Option<bool>, after: Option<bool>) -> CatalogAction {
    match (before, after) {
        (None, _) => CatalogAction::Created,
        (Some(_), None) => CatalogAction::Deleted,
        (Some(_), Some(_)) => CatalogAction::Updated,
    }
}

type Forward = Box<dyn Fn(&CatalogEvent) + Send + Sync>;

/// A per-process broadcast of [`CatalogEvent`]s (clone freely; clones share
/// the channel).
#[derive(Clone)]
pub struct CatalogEvents {
    tx: broadcast::Sender<CatalogEvent>,
    /// Where events also go for other replicas, once set.
    forward: Arc<OnceLock<Forward>>,
}

impl std::fmt::Debug for CatalogEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogEvents").finish_non_exhaustive()
    }
}

impl Default for CatalogEvents {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            tx,
            forward: Arc::default(),
        }
    }
}

impl CatalogEvents {
    /// Announces `event` here and (once forwarding is set) to other replicas.
    pub fn publish(&self, mut event: CatalogEvent) {
        if let Some(forward) = self.forward.get() {
            forward(&event);
        }
        event.local = true;
        self.deliver(event);
    }

    /// Delivers `event` to this process's listeners only (as it is: an
    /// event from another replica has `local` false).
    pub fn deliver(&self, event: CatalogEvent) {
        let _ = self.tx.send(event);
    }

    /// Passes every event published from now on to `forward` as well (once;
    /// later calls are ignored).
    pub fn set_forward(&self, forward: impl Fn(&CatalogEvent) + Send + Sync + 'static) {
        let _ = self.forward.set(Box::new(forward));
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<CatalogEvent> {
        self.tx.subscribe()
    }

    /// How many listeners there are right now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SessionId;
    use crate::principal::{Credential, Role};

    fn who(user: &str, role: Role) -> Principal {
        Principal {
            user_id: user.into(),
            role,
            session: SessionId::parse(user).expect("session id"),
            credential: Credential::Anonymous,
        }
    }

    fn fixture() -> Server {
        let now = chrono::Utc::now();
        Server {
            id: crate::ids::ServerId::generate(),
            name: crate::catalog::ServerName::parse("x").expect("a name"),
            title: "X".into(),
            description: String::new(),
            transport: crate::catalog::Transport::StreamableHttp,
            url: Some("http://127.0.0.1:1/mcp".into()),
            query_params: Default::default(),
            headers: Default::default(),
            command: None,
            args: Vec::new(),
            env: Default::default(),
            cwd: None,
            requires_oauth2: false,
            is_public: true,
            owner: "admin".into(),
            category_id: None,
            enabled: true,
            fail_closed: false,
            tool_filter: Default::default(),
            oauth_client_id: None,
            oauth_client_secret: None,
            oauth_scopes: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn only_changes_that_reach_the_upstream_differently_touch_links() {
        let before = fixture();
        let effect = |change: fn(&mut Server)| {
            let mut after = before.clone();
            change(&mut after);
            CatalogEvent::server_updated(&before, &after)
                .link
                .map(|link| (link.name, link.effect))
        };
        let kept = Some(("x".to_owned(), LinkEffect::Kept));
        let changed = Some(("x".to_owned(), LinkEffect::Changed));
        let gone = Some(("x".to_owned(), LinkEffect::Gone));
        assert_eq!(effect(|s| s.title = "Y".into()), kept);
        assert_eq!(effect(|s| s.is_public = false), kept);
        assert_eq!(effect(|s| s.fail_closed = true), kept);
        let shown = |change: fn(&mut Server)| {
            let mut after = before.clone();
            change(&mut after);
            CatalogEvent::server_updated(&before, &after)
                .link
                .is_some_and(|link| link.tools_shown)
        };
        assert!(shown(|s| s.tool_filter.deny = vec!["echo".into()]));
        assert!(shown(|s| s.is_public = false));
        assert!(!shown(|s| s.title = "Y".into()));
        assert!(shown(|s| s.enabled = false));
        assert!(!shown(|s| s.url = Some("http://127.0.0.1:2/mcp".into())));
        assert_eq!(
            effect(|s| s.url = Some("http://127.0.0.1:2/mcp".into())),
            changed
        );
        assert_eq!(
            effect(|s| {
                s.headers
                    .insert("X-Key".into(), crate::secret::Secret::new("new".into()));
            }),
            changed
        );
        assert_eq!(effect(|s| s.enabled = false), changed);
        assert_eq!(effect(|s| s.oauth_scopes = vec!["read".into()]), changed);
        assert_eq!(
            effect(|s| s.name = crate::catalog::ServerName::parse("z").expect("a name")),
            gone
        );
        let deleted = CatalogEvent::server_deleted(&before).link;
        assert_eq!(deleted.map(|l| l.effect), Some(LinkEffect::Gone));
        let created = CatalogEvent::server_created(&before);
        assert_eq!(created.link.map(|l| l.effect), Some(LinkEffect::Kept));
        assert!(!created.local);
    }

    #[test]
    fn a_published_event_is_local_here_and_not_on_the_wire() {
        let events = CatalogEvents::default();
        let wire = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sent = wire.clone();
        events.set_forward(move |event| {
            let json = serde_json::to_string(event).expect("serializes");
            sent.lock().expect("lock").push(json);
        });
        let mut rx = events.subscribe();
        events.publish(CatalogEvent::server_deleted(&fixture()));
        let here = rx.try_recv().expect("delivered here");
        assert!(here.local);
        let json = wire.lock().expect("lock").pop().expect("forwarded");
        assert!(!json.contains("local"), "{json}");
        let there: CatalogEvent = serde_json::from_str(&json).expect("reads back");
        assert!(!there.local);
        assert_eq!(there.link, here.link);
    }

    #[test]
    fn a_server_event_reaches_admins_its_owner_and_everyone_while_public() {
        let (admin, alice, bob) = (
            who("admin", Role::Admin),
            who("alice", Role::User),
            who("bob", Role::User),
        );
        let private = CatalogEvent::server_of("srv_1", "alice", Some(false), Some(false));
        assert!(private.visible_to(&admin) && private.visible_to(&alice));
        assert!(!private.visible_to(&bob));
        let went_private = CatalogEvent::server_of("srv_1", "admin", Some(true), Some(false));
        assert!(went_private.visible_to(&bob));
        assert_eq!(went_private.action, CatalogAction::Updated);
        let gone = CatalogEvent::server_of("srv_1", "admin", Some(true), None);
        assert_eq!(gone.action, CatalogAction::Deleted);
        assert!(gone.visible_to(&bob));
        assert!(
            CatalogEvent::category(&CategoryId::generate(), CatalogAction::Created)
                .visible_to(&bob)
        );
    }

    #[test]
    fn a_toolset_event_reaches_admins_its_owner_and_everyone_while_public() {
        let (admin, alice, bob) = (
            who("admin", Role::Admin),
            who("alice", Role::User),
            who("bob", Role::User),
        );
        let private = CatalogEvent::toolset_of("tls_1", "alice", Some(false), Some(false));
        assert_eq!(private.kind, CatalogKind::Toolset);
        assert!(private.visible_to(&admin) && private.visible_to(&alice));
        assert!(!private.visible_to(&bob));
        let published = CatalogEvent::toolset_of("tls_1", "admin", None, Some(true));
        assert_eq!(published.action, CatalogAction::Created);
        assert!(published.visible_to(&bob));
        let json = serde_json::to_value(&private).expect("serializes");
        assert_eq!(json["kind"], "toolset");
        assert!(json.get("server").is_none() && json.get("link").is_none());
        let back: CatalogEvent = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, private);
        let bare = CatalogEvent {
            toolset: None,
            ..private
        };
        assert!(bare.visible_to(&admin) && !bare.visible_to(&alice));
    }
}
