//! Per-request batch loading, so a document's cost in catalog queries does
//! not grow with the rows it returns (no N+1).
//!
//! The services read the visible catalog in pages, not by lists of ids, so
//! each loader reads the caller's whole visible set once per request, in
//! pages of 200, and answers every object of the document from it:
//! category → servers groups one server listing by category, and server →
//! status takes one session listing (one catalog page query and one
//! state-store read per 200 servers). Single lookups (`server(id:)`) do not
//! use these; they read just their one row.

use std::collections::HashMap;

use tokio::sync::OnceCell;

use crate::admin::graphql::error::GqlResult;
use crate::catalog::Server;
use crate::catalog::service::{ListParams, MAX_LIMIT};
use crate::principal::Principal;
use crate::session::manager::ServerStatus;
use crate::state::AppState;

/// The loaders of one request (attached as request data).
#[derive(Default)]
pub(crate) struct Batch {
    by_category: OnceCell<HashMap<String, Vec<Server>>>,
    statuses: OnceCell<HashMap<String, ServerStatus>>,
}

impl Batch {
    /// The servers of `category` the caller may see, by name.
    pub(crate) async fn servers_of(
        &self,
        app: &AppState,
        principal: &Principal,
        category: &str,
    ) -> async_graphql::Result<Vec<Server>> {
        let groups = self
            .by_category
            .get_or_try_init(|| async {
                let mut groups: HashMap<String, Vec<Server>> = HashMap::new();
                let mut params = ListParams {
                    limit: Some(MAX_LIMIT),
                    ..ListParams::default()
                };
                loop {
                    let page = app.catalog().list_servers(principal, &params).await.gql()?;
                    for server in page.items {
                        if let Some(category) = &server.category_id {
                            groups.entry(category.to_string()).or_default().push(server);
                        }
                    }
                    match page.next_cursor {
                        Some(cursor) => params.cursor = Some(cursor),
                        None => return Ok::<_, async_graphql::Error>(groups),
                    }
                }
            })
            .await?;
        Ok(groups.get(category).cloned().unwrap_or_default())
    }

    /// This session's status of a visible server (without its tools), or
    /// `None` when the server was not in the listing.
    pub(crate) async fn status_of(
        &self,
        app: &AppState,
        principal: &Principal,
        server_id: &str,
    ) -> async_graphql::Result<Option<ServerStatus>> {
        let statuses = self
            .statuses
            .get_or_try_init(|| async {
                let mut statuses = HashMap::new();
                let mut params = ListParams {
                    limit: Some(MAX_LIMIT),
                    ..ListParams::default()
                };
                loop {
                    let page = app
                        .sessions()
                        .list_servers(principal, &params)
                        .await
                        .gql()?;
                    for status in page.items {
                        statuses.insert(status.id.to_string(), status);
                    }
                    match page.next_cursor {
                        Some(cursor) => params.cursor = Some(cursor),
                        None => return Ok::<_, async_graphql::Error>(statuses),
                    }
                }
            })
            .await?;
        Ok(statuses.get(server_id).cloned())
    }
}
