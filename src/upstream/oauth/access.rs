//! A user's access to one OAuth server, as a link carries it.

use std::fmt;

use rmcp::transport::auth::AuthorizationManager;

use super::scope::{ScopeWatch, StepUp};
use super::{OAuthBroker, oauth_error};
use crate::catalog::Server;
use crate::error::{Error, ErrorCode, Result};
use crate::principal::Principal;

/// One user's access to one OAuth server, carried by the link target: each
/// link open builds an authorization manager over that user's tokens only.
#[derive(Clone)]
pub struct UpstreamAuth {
    pub(super) broker: OAuthBroker,
    pub(super) principal: Principal,
    pub(super) server: Server,
    pub(super) step_up: StepUp,
}

impl fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamAuth")
            .field("user", &self.principal.user_id)
            .field("server", &self.server.name)
            .finish()
    }
}

impl UpstreamAuth {
    /// A manager that adds (and refreshes) this user's access token.
    pub async fn manager(&self) -> Result<AuthorizationManager> {
        self.broker.manager(&self.principal, &self.server).await
    }

    /// A current access token (refreshed first when it is about to expire).
    pub async fn access_token(&self) -> Result<String> {
        let manager = self.manager().await?;
        manager
            .get_access_token()
            .await
            .map_err(|e| oauth_error(&self.server, ErrorCode::OauthRefreshFailed, e))
    }

    /// `client`, noting the scope an upstream's `insufficient_scope`
    /// answer asks for.
    pub fn watch_scope<C>(&self, client: C) -> ScopeWatch<C> {
        ScopeWatch {
            inner: client,
            step_up: self.step_up.clone(),
        }
    }

    /// Whether the upstream asked for more scope than the user granted.
    pub fn wants_more_scope(&self) -> bool {
        self.step_up
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The `oauth_required` error, with a fresh authorization URL (asking
    /// for the scope the upstream demanded, if it did).
    pub async fn required(&self) -> Error {
        let step_up = self
            .step_up
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.broker
            .required_with(&self.principal, &self.server, step_up.as_deref())
            .await
    }
}
