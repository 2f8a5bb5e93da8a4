//! Queries: categories, servers (with this session's state) and `me`.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use crate::admin::graphql::error::{GqlResult, to_gql};
use crate::admin::graphql::limits::page_cost;
use crate::admin::graphql::toolsets::{Toolset, ToolsetPage};
use crate::admin::graphql::types::{
    Category, CategoryConnection, CategoryEdge, Me, PageInfo, Server, ServerConnection, ServerEdge,
    cursor_for,
};
use crate::admin::graphql::{app, batch, principal};
use crate::catalog::service::{ListParams, MAX_LIMIT};
use crate::error::{Error, ErrorCode};
use crate::session::ConnectionStatus;

/// The root of every query.
pub struct QueryRoot;

fn bad_argument(message: impl Into<String>) -> async_graphql::Error {
    to_gql(Error::BadRequest {
        code: ErrorCode::InvalidArgument,
        message: message.into(),
    })
}

fn check_count(field: &str, value: Option<i32>) -> async_graphql::Result<Option<u32>> {
    match value {
        None => Ok(None),
        Some(n) if (1..=MAX_LIMIT as i32).contains(&n) => Ok(Some(n as u32)),
        Some(_) => Err(to_gql(Error::invalid(
            ErrorCode::InvalidLimit,
            field,
            format!("{field} is between 1 and {MAX_LIMIT}"),
        ))),
    }
}

fn invalid_cursor() -> async_graphql::Error {
    to_gql(Error::BadRequest {
        code: ErrorCode::InvalidCursor,
        message: "the cursor is not one this API returned".into(),
    })
}

/// Every category matching `search`, in order (for backward paging, which
/// the catalog's forward-only pages cannot answer directly).
async fn all_categories(
    ctx: &Context<'_>,
    search: Option<String>,
) -> async_graphql::Result<Vec<crate::catalog::Category>> {
    let (app, principal) = (app(ctx)?, principal(ctx)?);
    let mut params = ListParams {
        limit: Some(MAX_LIMIT),
        search,
        ..ListParams::default()
    };
    let mut all = Vec::new();
    loop {
        let page = app
            .catalog()
            .list_categories(principal, &params)
            .await
            .gql()?;
        all.extend(page.items);
        match page.next_cursor {
            Some(cursor) => params.cursor = Some(cursor),
            None => return Ok(all),
        }
    }
}

fn category_edge(category: crate::catalog::Category) -> CategoryEdge {
    CategoryEdge {
        cursor: cursor_for(&category.name.to_lowercase()),
        node: Category(category),
    }
}

fn page_info<E>(edges: &[E], cursor: impl Fn(&E) -> &str, next: bool, prev: bool) -> PageInfo {
    PageInfo {
        has_next_page: next,
        has_previous_page: prev,
        start_cursor: edges.first().map(|e| cursor(e).to_owned()),
        end_cursor: edges.last().map(|e| cursor(e).to_owned()),
    }
}

#[Object]
impl QueryRoot {
    /// Categories by name, as a Relay connection. `first`/`after` page
    /// forward, `last`/`before` backward (1-200 per page, 50 by default);
    /// `search` is a case-insensitive substring of the name.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn categories(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        search: Option<String>,
    ) -> async_graphql::Result<CategoryConnection> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let first = check_count("first", first)?;
        let last = check_count("last", last)?;
        if first.is_some() && last.is_some() {
            return Err(bad_argument("pass `first` or `last`, not both"));
        }
        let total_count = app
            .catalog()
            .count_categories(principal, search.as_deref())
            .await
            .gql()?;
        if last.is_none() && before.is_none() {
            let params = ListParams {
                limit: first,
                cursor: after.clone(),
                search,
                category_id: None,
            };
            let page = app
                .catalog()
                .list_categories(principal, &params)
                .await
                .gql()?;
            let edges: Vec<CategoryEdge> = page.items.into_iter().map(category_edge).collect();
            let page_info = page_info(
                &edges,
                |e| &e.cursor,
                page.next_cursor.is_some(),
                after.is_some(),
            );
            return Ok(CategoryConnection {
                edges,
                page_info,
                total_count,
            });
        }
        // Relay's algorithm over the whole ordered list.
        let mut edges: Vec<CategoryEdge> = all_categories(ctx, search)
            .await?
            .into_iter()
            .map(category_edge)
            .collect();
        let (mut has_prev, mut has_next) = (false, false);
        if let Some(after) = &after {
            let at = edges
                .iter()
                .position(|e| &e.cursor == after)
                .ok_or_else(invalid_cursor)?;
            edges.drain(..=at);
            has_prev = true;
        }
        if let Some(before) = &before {
            let at = edges
                .iter()
                .position(|e| &e.cursor == before)
                .ok_or_else(invalid_cursor)?;
            edges.truncate(at);
            has_next = true;
        }
        let first = first.map(|n| n as usize);
        let last = last.map(|n| n as usize).or(if first.is_none() {
            Some(crate::catalog::service::DEFAULT_LIMIT as usize)
        } else {
            None
        });
        if let Some(first) = first
            && edges.len() > first
        {
            edges.truncate(first);
            has_next = true;
        }
        if let Some(last) = last
            && edges.len() > last
        {
            edges.drain(..edges.len() - last);
            has_prev = true;
        }
        let page_info = page_info(&edges, |e| &e.cursor, has_next, has_prev);
        Ok(CategoryConnection {
            edges,
            page_info,
            total_count,
        })
    }

    /// One category; null with `category_not_found` when there is none.
    async fn category(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Category>> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let category = app.catalog().get_category(principal, &id).await.gql()?;
        Ok(Some(Category(category)))
    }

    /// The servers the caller may see, by name, as a Relay connection
    /// (`first` 1-200, 50 by default). `connected` keeps only the servers
    /// this session has (or has not) connected.
    #[graphql(complexity = "page_cost(first, None, child_complexity)")]
    async fn servers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        category_id: Option<ID>,
        connected: Option<bool>,
    ) -> async_graphql::Result<ServerConnection> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let first = check_count("first", first)?;
        let category_id = category_id.map(|id| id.0);
        let Some(want) = connected else {
            let params = ListParams {
                limit: first,
                cursor: after.clone(),
                search: None,
                category_id,
            };
            let page = app.catalog().list_servers(principal, &params).await.gql()?;
            let edges: Vec<ServerEdge> = page
                .items
                .into_iter()
                .map(|s| ServerEdge {
                    cursor: cursor_for(s.name.as_str()),
                    node: Server::listed(s),
                })
                .collect();
            let page_info = page_info(
                &edges,
                |e| &e.cursor,
                page.next_cursor.is_some(),
                after.is_some(),
            );
            return Ok(ServerConnection { edges, page_info });
        };
        // Filtered by this session's state: walk the catalog's pages until
        // one more match than asked for is found, statuses from one batch.
        let batch = batch(ctx)?;
        let wanted = first.unwrap_or(crate::catalog::service::DEFAULT_LIMIT) as usize;
        let mut params = ListParams {
            limit: Some(MAX_LIMIT),
            cursor: after.clone(),
            search: None,
            category_id,
        };
        let mut edges = Vec::new();
        let mut has_next = false;
        'pages: loop {
            let page = app.catalog().list_servers(principal, &params).await.gql()?;
            for server in page.items {
                let connected = batch
                    .status_of(app, principal, server.id.as_str())
                    .await?
                    .is_some_and(|s| {
                        matches!(
                            s.status,
                            ConnectionStatus::Connected | ConnectionStatus::Reconnecting
                        )
                    });
                if connected != want {
                    continue;
                }
                if edges.len() == wanted {
                    has_next = true;
                    break 'pages;
                }
                edges.push(ServerEdge {
                    cursor: cursor_for(server.name.as_str()),
                    node: Server::listed(server),
                });
            }
            match page.next_cursor {
                Some(cursor) => params.cursor = Some(cursor),
                None => break,
            }
        }
        let page_info = page_info(&edges, |e| &e.cursor, has_next, after.is_some());
        Ok(ServerConnection { edges, page_info })
    }

    /// One server by `id` or by `name` (exactly one of them); null with
    /// `server_not_found` when there is none or the caller may not see it.
    async fn server(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        name: Option<String>,
    ) -> async_graphql::Result<Option<Server>> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let key = match (id, name) {
            (Some(id), None) => id.0,
            (None, Some(name)) => name,
            _ => return Err(bad_argument("pass exactly one of `id` and `name`")),
        };
        let server = app.catalog().get_server(principal, &key).await.gql()?;
        Ok(Some(Server::new(server)))
    }

    /// Audit events, newest first, `first` (1-200, default 50) after the
    /// cursor `after`: admins read everyone's (`user` narrows), others only
    /// their own. `outcome: "error"` matches every outcome but `ok`.
    #[graphql(complexity = "page_cost(first, None, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        user: Option<String>,
        server: Option<String>,
        tool: Option<String>,
        outcome: Option<String>,
        kind: Option<String>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<crate::admin::graphql::audit::AuditEventConnection> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let params = crate::catalog::service::AuditParams {
            user,
            server,
            tool,
            outcome,
            kind,
            since,
            until,
            limit: check_count("first", first)?,
            cursor: after,
        };
        let page = app
            .catalog()
            .list_audit_events(principal, params)
            .await
            .gql()?;
        Ok(page.into())
    }

    /// The authenticated caller.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        let principal = principal(ctx)?;
        Ok(Me {
            user_id: principal.user_id.clone(),
            role: principal.role.as_str().to_owned(),
            session: principal.session.to_string(),
            auth: principal.credential.kind().to_owned(),
        })
    }

    /// The toolsets the caller may see (public ones and their own; admins:
    /// all), by name, `first` (1-200, default 50) after the cursor `after`.
    #[graphql(complexity = "page_cost(first, None, child_complexity)")]
    async fn toolsets(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ToolsetPage> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let params = ListParams {
            limit: check_count("first", first)?,
            cursor: after,
            search: None,
            category_id: None,
        };
        let page = app
            .catalog()
            .list_toolsets(principal, &params)
            .await
            .gql()?;
        Ok(ToolsetPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// One toolset by `id` or by `name` (exactly one of them); null with
    /// `toolset_not_found` when there is none or the caller may not see it.
    async fn toolset(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        name: Option<String>,
    ) -> async_graphql::Result<Option<Toolset>> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let key = match (id, name) {
            (Some(id), None) => id.0,
            (None, Some(name)) => name,
            _ => return Err(bad_argument("pass exactly one of `id` and `name`")),
        };
        let toolset = app.catalog().get_toolset(principal, &key).await.gql()?;
        Ok(Some(toolset.into()))
    }

    /// This session's own tool filter: globs over `{server}__{tool}` names
    /// that hide tools from the session's MCP views.
    async fn session_tool_filter(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<crate::admin::graphql::types::ToolFilter> {
        let (app, principal) = (app(ctx)?, principal(ctx)?);
        let filter = app.sessions().session_tool_filter(principal).await.gql()?;
        Ok(crate::admin::graphql::types::ToolFilter::of(&filter))
    }
}
