//! The MCP session bindings: rmcp's `SessionStore` over the state store.
//!
//! [`BindingStore`] keeps each session's owner, route and `initialize`
//! params under `{prefix}mcp:binding:{id}`, so that any replica can restore
//! a session it does not hold, and a session opened on one route reads as
//! unknown on another.

use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};

use crate::gateway::handler::Scope;
use crate::session::McpBinding;
use crate::state::AppState;

tokio::task_local! {
    /// The caller of the request being served; [`BindingStore::store`] reads
    /// its user (rmcp calls it while serving the `initialize` POST, in this
    /// task), and a sleeping session woken by the request replays its
    /// handshake as this caller.
    pub(crate) static CALLER: crate::principal::Principal;
}

/// rmcp's [`SessionStore`] over the state store, for one route.
#[derive(Clone)]
pub struct BindingStore {
    app: AppState,
    /// Empty for `/mcp`, the server name for `/mcp/s/{server}`.
    route: String,
}

impl BindingStore {
    /// The store of the route `scope` serves.
    pub fn new(app: AppState, scope: &Scope) -> Self {
        Self {
            app,
            route: scope.route().into_owned(),
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for BindingStore {
    /// The handshake of a session opened on this route (another route's
    /// session reads as unknown).
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let Some(binding) = self.app.state_store().mcp_session(session_id).await? else {
            return Ok(None);
        };
        if binding.route != self.route {
            return Ok(None);
        }
        match serde_json::from_str(binding.initialize.get()) {
            Ok(params) => Ok(Some(SessionState::new(params))),
            Err(err) => {
                tracing::warn!(error = %err, "stored initialize params are unreadable");
                Ok(None)
            }
        }
    }

    /// Binds a new session to the caller of the current request.
    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let user = CALLER
            .try_with(|caller| caller.user_id.clone())
            .map_err(|_| "an MCP session was stored outside an authenticated request")?;
        let binding = McpBinding {
            user,
            route: self.route.clone(),
            initialize: serde_json::value::to_raw_value(&state.initialize_params)?,
        };
        self.app
            .state_store()
            .bind_mcp_session(session_id, &binding)
            .await?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.app
            .state_store()
            .forget_mcp_session(session_id)
            .await?;
        Ok(())
    }
}
