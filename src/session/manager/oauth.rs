//! The session manager's OAuth entry points: start an authorization,
//! complete it from the callback (then connect), abandon it, or forget a
//! user's tokens for a server.

use crate::error::{Error, ErrorCode, Result};
use crate::principal::Principal;
use crate::upstream::oauth::{Authorization, OAuthBroker};

use super::{ServerStatus, SessionManager};

impl SessionManager {
    /// Starts an authorization of a server that needs OAuth, for the
    /// principal (who must be able to see it).
    pub async fn authorize(
        &self,
        principal: &Principal,
        id_or_name: &str,
    ) -> Result<Authorization> {
        let server = self.catalog.get_server(principal, id_or_name).await?;
        if !server.requires_oauth2 {
            return Err(Error::conflict(
                ErrorCode::OauthNotRequired,
                "requires_oauth2",
                format!("{} does not use OAuth", server.name),
            ));
        }
        self.broker()?.begin(principal, &server).await
    }

    /// Completes an authorization that came back to the callback, then
    /// connects the server for the session that started it.
    pub async fn complete_authorization(
        &self,
        code: &str,
        state: &str,
        issuer: Option<&str>,
    ) -> Result<ServerStatus> {
        let started = std::time::Instant::now();
        let done = self.broker()?.complete(code, state, issuer).await?;
        let server = self
            .catalog
            .get_server(&done.principal, done.server_id.as_str())
            .await
            .ok()
            .map(|server| server.name.to_string());
        let authorized: Result<()> = Ok(());
        self.audit_action(
            crate::catalog::audit::kind::OAUTH_AUTHORIZATION,
            &done.principal,
            done.server_id.as_str(),
            server.as_deref(),
            started,
            &authorized,
        );
        self.connect(&done.principal, done.server_id.as_str()).await
    }

    /// Discards the authorization of `state` (refused at the authorization
    /// server), so it cannot be completed later.
    pub async fn abandon_authorization(&self, state: &str) -> Result<()> {
        self.broker()?.abandon(state).await
    }

    /// Forgets the principal's OAuth tokens for a server and disconnects it
    /// for this session; other users' tokens are untouched.
    #[tracing::instrument(skip_all, fields(session = %principal.session, server = id_or_name))]
    pub async fn revoke_authorization(
        &self,
        principal: &Principal,
        id_or_name: &str,
    ) -> Result<()> {
        let server = self.catalog.get_server(principal, id_or_name).await?;
        if principal.is_anonymous() {
            return Err(Error::Forbidden(
                "anonymous sessions hold no OAuth authorizations".into(),
            ));
        }
        if let Some(broker) = &self.oauth {
            broker.revoke(principal, &server).await?;
        }
        if server.requires_oauth2 {
            self.disconnect(principal, server.id.as_str()).await?;
        }
        Ok(())
    }

    fn broker(&self) -> Result<&OAuthBroker> {
        self.oauth
            .as_ref()
            .ok_or_else(|| Error::internal("no OAuth broker is configured"))
    }
}
