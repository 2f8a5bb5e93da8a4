//! Subscriptions over WebSocket (`graphql-transport-ws`, at `/graphql/ws`):
//! `serverStatusChanged` tells a page when a server's state changes in this
//! session, whichever surface (REST, GraphQL, `/mcp`, another replica) made
//! the change.
//!
//! The session manager announces "this session's connections changed" on
//! the [`SessionNotifier`](crate::session::bus::SessionNotifier); on each
//! announcement for the subscriber's session the stream re-reads the
//! session's server list and emits the servers whose state differs from
//! what it last saw.
//!
//! `catalogChanged` tells a page that a category or server was created,
//! changed or deleted, by anyone, on any replica: only the kind, id and
//! action, and only to principals who could see the record before or after
//! the change (see [`CatalogEvent::visible_to`]).

use std::collections::{HashMap, VecDeque};

use async_graphql::{Context, Enum, ID, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::admin::graphql::error::GqlResult;
use crate::admin::graphql::types::{ConnectionStatus, OAuthStatus};
use crate::admin::graphql::{SocketCredential, app, principal};
use crate::catalog::events::{self, CatalogEvent};
use crate::catalog::service::{ListParams, MAX_LIMIT};
use crate::error::Error;
use crate::principal::Principal;
use crate::session::bus::Change;
use crate::session::manager::ServerStatus;
use crate::state::AppState;

/// The root of every subscription.
pub struct SubscriptionRoot;

/// A server whose state changed in this session.
#[derive(SimpleObject, Clone, PartialEq)]
pub(crate) struct ServerStatusChange {
    pub id: ID,
    pub name: String,
    pub status: ConnectionStatus,
    pub tool_count: usize,
    pub connected_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// While `RECONNECTING`: when the next attempt starts.
    pub retry_at: Option<DateTime<Utc>>,
    /// How often the link was reopened after a break.
    pub reconnects: u32,
    /// The protocol version the upstream agreed to.
    pub protocol_version: Option<String>,
    /// For servers with `requiresOauth2`: whether this user has authorized it.
    pub oauth: Option<OAuthStatus>,
}

/// What kind of catalog record changed.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub(crate) enum CatalogKind {
    Category,
    Server,
    Toolset,
}

/// What happened to a catalog record.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub(crate) enum CatalogAction {
    Created,
    Updated,
    Deleted,
}

/// A category or server was created, changed or deleted.
#[derive(SimpleObject, Clone, PartialEq, Debug)]
pub(crate) struct CatalogChange {
    pub kind: CatalogKind,
    pub id: ID,
    pub action: CatalogAction,
}

impl From<CatalogEvent> for CatalogChange {
    fn from(event: CatalogEvent) -> Self {
        Self {
            kind: match event.kind {
                events::CatalogKind::Category => CatalogKind::Category,
                events::CatalogKind::Server => CatalogKind::Server,
                events::CatalogKind::Toolset => CatalogKind::Toolset,
            },
            id: ID(event.id),
            action: match event.action {
                events::CatalogAction::Created => CatalogAction::Created,
                events::CatalogAction::Updated => CatalogAction::Updated,
                events::CatalogAction::Deleted => CatalogAction::Deleted,
            },
        }
    }
}

impl From<ServerStatus> for ServerStatusChange {
    fn from(s: ServerStatus) -> Self {
        Self {
            id: ID(s.id.to_string()),
            name: s.name.to_string(),
            status: s.status.into(),
            tool_count: s.tool_count,
            connected_at: s.connected_at,
            last_error: s.last_error,
            retry_at: s.retry_at,
            reconnects: s.reconnects,
            protocol_version: s.protocol_version,
            oauth: s.oauth.map(Into::into),
        }
    }
}

/// This session's state of every server the principal may see.
async fn snapshot(
    app: &AppState,
    principal: &Principal,
) -> crate::error::Result<HashMap<String, ServerStatusChange>> {
    let mut out = HashMap::new();
    let mut params = ListParams {
        limit: Some(MAX_LIMIT),
        ..ListParams::default()
    };
    loop {
        let page = app.sessions().list_servers(principal, &params).await?;
        for status in page.items {
            out.insert(status.id.to_string(), status.into());
        }
        match page.next_cursor {
            Some(cursor) => params.cursor = Some(cursor),
            None => return Ok(out),
        }
    }
}

/// Whether the socket's credential still stands for the same principal.
async fn still_valid(
    app: &AppState,
    credential: &SocketCredential,
    principal: &Principal,
) -> crate::error::Result<()> {
    let now = credential.authenticate(app).await?;
    if now.user_id == principal.user_id && now.role == principal.role {
        Ok(())
    } else {
        Err(Error::Unauthorized(
            "the credential now names another principal".into(),
        ))
    }
}

/// Whether the flow may go on: `false` once the socket's credential no
/// longer stands for `principal` (a revoked key, an expired token).
async fn may_go_on(
    app: &AppState,
    credential: Option<&SocketCredential>,
    principal: &Principal,
    field: &str,
) -> bool {
    let Some(credential) = credential else {
        return true;
    };
    match still_valid(app, credential, principal).await {
        Ok(()) => true,
        Err(Error::Unauthorized(_)) => {
            tracing::info!(
                session = %principal.session,
                field,
                "the credential is no longer valid; subscription ended"
            );
            false
        }
        Err(err) => {
            tracing::warn!(error = %err, field, "cannot check the credential");
            true
        }
    }
}

struct CatalogWatch {
    app: AppState,
    principal: Principal,
    credential: Option<SocketCredential>,
    events: tokio::sync::broadcast::Receiver<CatalogEvent>,
}

struct Watch {
    app: AppState,
    principal: Principal,
    credential: Option<SocketCredential>,
    events: tokio::sync::broadcast::Receiver<crate::session::bus::SessionEvent>,
    last: HashMap<String, ServerStatusChange>,
    pending: VecDeque<ServerStatusChange>,
}

#[Subscription]
impl SubscriptionRoot {
    /// A server (visible to the caller) whose status, tools or error changed
    /// in this session, each time it changes.
    async fn server_status_changed(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = ServerStatusChange> + use<>> {
        let (app, principal) = (app(ctx)?.clone(), principal(ctx)?.clone());
        let credential = ctx.data_opt::<SocketCredential>().cloned();
        if let Some(credential) = &credential {
            still_valid(&app, credential, &principal).await.gql()?;
        }
        // Subscribe before the first read, so no change falls in between.
        let events = app.notifier().subscribe();
        let last = snapshot(&app, &principal).await.gql()?;
        let watch = Watch {
            app,
            principal,
            credential,
            events,
            last,
            pending: VecDeque::new(),
        };
        Ok(futures::stream::unfold(watch, |mut w| async move {
            loop {
                if let Some(change) = w.pending.pop_front() {
                    return Some((change, w));
                }
                let ours = match w.events.recv().await {
                    Ok(event) => {
                        event.session == w.principal.session
                            && matches!(event.change, Change::Connections | Change::Tools)
                    }
                    // Missed events: re-read to be sure.
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return None,
                };
                if !ours {
                    continue;
                }
                // A revoked key or an expired token ends the flow at the
                // next event (the socket itself stays for the client to close).
                let field = "serverStatusChanged";
                if !may_go_on(&w.app, w.credential.as_ref(), &w.principal, field).await {
                    return None;
                }
                let now = match snapshot(&w.app, &w.principal).await {
                    Ok(now) => now,
                    Err(err) => {
                        tracing::warn!(error = %err, "serverStatusChanged: cannot read the session");
                        continue;
                    }
                };
                let mut changed: Vec<ServerStatusChange> = now
                    .iter()
                    .filter(|(id, status)| w.last.get(*id) != Some(*status))
                    .map(|(_, status)| status.clone())
                    .collect();
                changed.sort_by(|a, b| a.name.cmp(&b.name));
                w.pending.extend(changed);
                w.last = now;
            }
        }))
    }
    /// An audit event recorded by this replica, as it happens: everyone's
    /// for admins, the caller's own for others.
    async fn audit_event_added(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = crate::admin::graphql::audit::AuditEvent> + use<>>
    {
        let (app, principal) = (app(ctx)?.clone(), principal(ctx)?.clone());
        let credential = ctx.data_opt::<SocketCredential>().cloned();
        if let Some(credential) = &credential {
            still_valid(&app, credential, &principal).await.gql()?;
        }
        let events = app.audit().subscribe();
        let watch = (app, principal, credential, events);
        Ok(futures::stream::unfold(watch, |mut w| async move {
            loop {
                let event = match w.3.as_mut()?.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "auditEventAdded: events missed");
                        continue;
                    }
                    Err(RecvError::Closed) => return None,
                };
                if !event.visible_to(&w.1) {
                    continue;
                }
                if !may_go_on(&w.0, w.2.as_ref(), &w.1, "auditEventAdded").await {
                    return None;
                }
                let event = crate::admin::graphql::audit::AuditEvent::from((*event).clone());
                return Some((event, w));
            }
        }))
    }

    /// A category or server (visible to the caller before or after the
    /// change) was created, changed or deleted, through any surface.
    async fn catalog_changed(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = CatalogChange> + use<>> {
        let (app, principal) = (app(ctx)?.clone(), principal(ctx)?.clone());
        let credential = ctx.data_opt::<SocketCredential>().cloned();
        if let Some(credential) = &credential {
            still_valid(&app, credential, &principal).await.gql()?;
        }
        let events = app.notifier().catalog().subscribe();
        let watch = CatalogWatch {
            app,
            principal,
            credential,
            events,
        };
        Ok(futures::stream::unfold(watch, |mut w| async move {
            loop {
                let event = match w.events.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "catalogChanged: events missed");
                        continue;
                    }
                    Err(RecvError::Closed) => return None,
                };
                if !event.visible_to(&w.principal) {
                    continue;
                }
                let field = "catalogChanged";
                if !may_go_on(&w.app, w.credential.as_ref(), &w.principal, field).await {
                    return None;
                }
                return Some((event.into(), w));
            }
        }))
    }
}
