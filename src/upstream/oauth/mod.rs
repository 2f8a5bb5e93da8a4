//! Per-user upstream OAuth: Manifold as an OAuth 2.1 client of an upstream
//! MCP server's authorization server, on behalf of each user separately.
//!
//! The protocol work is rmcp's (`transport::auth`): protected-resource
//! discovery (RFC 9728, starting from the upstream's 401 challenge),
//! authorization-server metadata (RFC 8414 / OIDC), dynamic client
//! registration (RFC 7591) when the server has no pre-registered client,
//! authorization code + PKCE S256 with the `resource` indicator (RFC 8707),
//! refresh before expiry and once after a 401. This module decides where
//! things live and who may use them:
//!
//! - a pending authorization is a sealed record in the state store, keyed by
//!   the hash of its `state`, bound to the user, session and server that
//!   started it, taken at most once (`GETDEL`), expiring after
//!   `oauth.flow_ttl_seconds` — so the callback may land on any replica;
//! - tokens are stored per (user, server), sealed, in the catalog
//!   (`oauth_credentials`), never returned by an API nor logged;
//! - a link to such a server gets its own authorization manager over that
//!   user's tokens ([`UpstreamAuth`]): only that user's token is ever sent.

mod access;
mod cache;
mod discovery;
mod flows;
mod revoke;
mod scope;
mod store;

pub use flows::{FlowStore, Flows};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rmcp::transport::auth::{AuthError, AuthorizationManager, OAuthClientConfig};
use serde::Serialize;

use crate::catalog::{Catalog, Server};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{ServerId, SessionId};
use crate::principal::{Credential, Principal};
use crate::upstream::egress::EgressPolicy;
pub use access::UpstreamAuth;
pub use scope::ScopeWatch;
use scope::StepUp;
use store::{CatalogCredentials, FlowOwner, FlowRecord, FlowSaver, RefreshLocks, TakenFlow, Vault};

/// The path the authorization servers redirect users back to.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// Total time allowed for one request to an authorization server.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// How the broker reaches authorization servers and where it sends users back.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// `{public URL}/oauth/callback`.
    pub redirect_uri: String,
    /// How long a started authorization may wait for its callback.
    pub flow_ttl: Duration,
    /// The `client_name` sent with dynamic registration.
    pub client_name: String,
    pub egress: EgressPolicy,
    pub connect_timeout: Duration,
    /// How long a successful discovery is reused; zero = every time.
    pub discovery_ttl: Duration,
}

/// Starts, completes and revokes users' authorizations of upstream servers,
/// and hands out the per-user access for links. Cheap to clone.
#[derive(Clone)]
pub struct OAuthBroker {
    inner: Arc<Inner>,
}

struct Inner {
    catalog: Catalog,
    state: Flows,
    options: BrokerOptions,
    http: reqwest::Client,
    locks: Arc<RefreshLocks>,
    /// Dynamic registrations by (server id, authorization endpoint, token
    /// endpoint).
    registrations: Mutex<HashMap<(String, String, String), OAuthClientConfig>>,
    discovery: cache::DiscoveryCache,
}

/// Where to send the user to authorize a server.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Authorization {
    /// The authorization server's page; it redirects back to `/oauth/callback`.
    pub authorization_url: String,
    /// After this, the callback is refused (`oauth_state_invalid`).
    pub expires_at: DateTime<Utc>,
}

/// A finished authorization: whose, and for which server.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The principal that started the flow, as far as the callback knows it.
    pub principal: Principal,
    pub server_id: ServerId,
}

impl OAuthBroker {
    /// A broker over the catalog (tokens) and the state store (pending flows).
    pub fn new(catalog: Catalog, state: Flows, options: BrokerOptions) -> Result<Self> {
        let http = reqwest::Client::builder()
            .dns_resolver(options.egress.resolver())
            .connect_timeout(options.connect_timeout)
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(Error::internal)?;
        Ok(Self {
            inner: Arc::new(Inner {
                discovery: cache::DiscoveryCache::new(options.discovery_ttl),
                locks: Arc::new(RefreshLocks::new(state.clone(), options.connect_timeout)),
                catalog,
                state,
                options,
                http,
                registrations: Mutex::default(),
            }),
        })
    }

    /// The redirect URI registered with authorization servers.
    pub fn redirect_uri(&self) -> &str {
        &self.inner.options.redirect_uri
    }

    /// Whether the principal holds tokens for the server.
    pub async fn is_authorized(&self, principal: &Principal, server: &Server) -> Result<bool> {
        Ok(self
            .inner
            .catalog
            .get_oauth_credentials(&principal.user_id, &server.id)
            .await?
            .is_some())
    }

    /// Starts an authorization of `server` for the principal: discovery,
    /// client registration when needed, and the authorization URL (PKCE S256,
    /// `resource`, a fresh `state` bound to the principal and the server).
    pub async fn begin(&self, principal: &Principal, server: &Server) -> Result<Authorization> {
        self.begin_with(principal, server, None).await
    }

    /// [`Self::begin`], asking for `step_up` (space-separated scopes an
    /// upstream demanded) on top of what the user granted before.
    #[tracing::instrument(skip_all, fields(server = %server.name, user = %principal.user_id))]
    pub async fn begin_with(
        &self,
        principal: &Principal,
        server: &Server,
        step_up: Option<&str>,
    ) -> Result<Authorization> {
        if principal.is_anonymous() {
            return Err(Error::Forbidden(
                "anonymous sessions cannot authorize upstream servers".into(),
            ));
        }
        let inner = &self.inner;
        let redirect = inner.options.redirect_uri.as_str();
        let (mut manager, metadata) = self.discover(server).await?;
        let scopes = if server.oauth_scopes.is_empty() {
            manager.select_scopes(None, &[])
        } else {
            let mut scopes = server.oauth_scopes.clone();
            let offline = metadata
                .scopes_supported
                .as_ref()
                .is_some_and(|s| s.iter().any(|s| s == "offline_access"));
            if offline && !scopes.iter().any(|s| s == "offline_access") {
                scopes.push("offline_access".into());
            }
            scopes
        };
        let scopes = self.accumulated(principal, server, scopes, step_up).await?;
        let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let client = match &server.oauth_client_id {
            Some(client_id) => {
                let mut config =
                    OAuthClientConfig::new(client_id.clone(), redirect).with_scopes(scopes.clone());
                if let Some(secret) = &server.oauth_client_secret {
                    config = config.with_client_secret(secret.expose().clone());
                }
                manager
                    .configure_client(config.clone())
                    .map_err(|e| oauth_error(server, ErrorCode::OauthDiscoveryFailed, e))?;
                config
            }
            None => {
                // One registration per (server, authorization server) and
                // process, shared by every user: users cannot make the
                // gateway register clients upstream without end.
                let key = (
                    server.id.as_str().to_owned(),
                    metadata.authorization_endpoint.clone(),
                    metadata.token_endpoint.clone(),
                );
                let known = inner
                    .registrations
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&key)
                    .cloned();
                match known {
                    Some(config) => {
                        let config = config.with_scopes(scopes.clone());
                        manager.configure_client(config.clone()).map_err(|e| {
                            oauth_error(server, ErrorCode::OauthRegistrationFailed, e)
                        })?;
                        config
                    }
                    None => {
                        let config = manager
                            .register_client(&inner.options.client_name, redirect, &scope_refs)
                            .await
                            .map_err(|e| {
                                oauth_error(server, ErrorCode::OauthRegistrationFailed, e)
                            })?;
                        inner
                            .registrations
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(key, config.clone());
                        config
                    }
                }
            }
        };
        let expires_at = Utc::now()
            + chrono::Duration::from_std(inner.options.flow_ttl).map_err(Error::internal)?;
        manager.set_state_store(FlowSaver {
            state: inner.state.clone(),
            catalog: inner.catalog.clone(),
            ttl: inner.options.flow_ttl,
            owner: Mutex::new(Some(FlowOwner {
                user_id: principal.user_id.clone(),
                role: principal.role,
                session: principal.session.as_str().to_owned(),
                server_id: server.id.as_str().to_owned(),
                client_id: client.client_id.clone(),
                client_secret: client.client_secret.clone(),
            })),
        });
        let authorization_url = manager
            .get_authorization_url(&scope_refs)
            .await
            .map_err(|e| oauth_error(server, ErrorCode::OauthDiscoveryFailed, e))?;
        tracing::info!("authorization started");
        Ok(Authorization {
            authorization_url,
            expires_at,
        })
    }

    /// `base` ∪ the scopes the user was granted ∪ those an upstream
    /// demanded since ∪ `extra` (SEP-2350: a re-authorization accumulates,
    /// never replaces). A demanded `extra` is remembered with the user's
    /// tokens, so any later authorization of this server asks for it.
    async fn accumulated(
        &self,
        principal: &Principal,
        server: &Server,
        base: Vec<String>,
        extra: Option<&str>,
    ) -> Result<Vec<String>> {
        let catalog = &self.inner.catalog;
        let mut vault = match catalog
            .get_oauth_credentials(&principal.user_id, &server.id)
            .await?
        {
            Some(raw) => Some(Vault::parse(&raw)?),
            None => None,
        };
        let extra: Vec<String> = extra
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if let Some(vault) = vault.as_mut()
            && extra.iter().any(|s| !vault.wanted_scopes.contains(s))
        {
            for scope in &extra {
                if !vault.wanted_scopes.contains(scope) {
                    vault.wanted_scopes.push(scope.clone());
                }
            }
            let raw = serde_json::to_string(&*vault).map_err(Error::internal)?;
            catalog
                .put_oauth_credentials(
                    &principal.user_id,
                    &server.id,
                    &crate::secret::Secret::new(raw),
                    Utc::now(),
                )
                .await?;
        }
        let (granted, wanted) = vault
            .map(|v| (v.credentials.granted_scopes, v.wanted_scopes))
            .unwrap_or_default();
        let mut scopes = base;
        for scope in granted.into_iter().chain(wanted).chain(extra) {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(scopes)
    }

    /// The `oauth_required` error for the principal and server, carrying a
    /// fresh authorization URL (or none when starting one failed, which is
    /// logged).
    pub async fn required(&self, principal: &Principal, server: &Server) -> Error {
        self.required_with(principal, server, None).await
    }

    async fn required_with(
        &self,
        principal: &Principal,
        server: &Server,
        step_up: Option<&str>,
    ) -> Error {
        let authorization_url = match self.begin_with(principal, server, step_up).await {
            Ok(auth) => Some(auth.authorization_url),
            Err(Error::Forbidden(message)) => return Error::Forbidden(message),
            Err(err) => {
                tracing::warn!(server = %server.name, code = err.code().as_str(), error = %err,
                    "could not start an authorization");
                return err;
            }
        };
        Error::OAuthRequired {
            server: server.name.to_string(),
            authorization_url,
        }
    }

    /// Completes the authorization whose `state` came back: takes the flow
    /// (once), exchanges the code with its PKCE verifier and stores the
    /// tokens for the user and server that started it.
    #[tracing::instrument(skip_all)]
    pub async fn complete(
        &self,
        code: &str,
        state: &str,
        issuer: Option<&str>,
    ) -> Result<Completed> {
        let inner = &self.inner;
        let invalid = || Error::BadRequest {
            code: ErrorCode::OauthStateInvalid,
            message: "this authorization is unknown, expired or already used; start it again"
                .into(),
        };
        if state.is_empty() || state.len() > 512 || code.is_empty() || code.len() > 4096 {
            return Err(invalid());
        }
        let Some(FlowRecord { owner: flow, auth }) =
            store::take_flow(&inner.state, &inner.catalog, state).await?
        else {
            return Err(invalid());
        };
        let server_id = ServerId::parse(&flow.server_id).map_err(|_| invalid())?;
        let Some(server) = inner.catalog.get_server(&server_id).await? else {
            return Err(Error::not_found(ErrorCode::ServerNotFound, "server"));
        };
        let principal = Principal {
            user_id: flow.user_id.clone(),
            role: flow.role,
            session: SessionId::parse(&flow.session).map_err(|_| invalid())?,
            credential: Credential::OAuthState,
        };
        // The user may have lost sight of the server since the flow began.
        if !principal.is_admin() && !server.visible_to(&principal.user_id) {
            return Err(Error::not_found(ErrorCode::ServerNotFound, "server"));
        }
        let (mut manager, _) = self.discover(&server).await?;
        let mut config =
            OAuthClientConfig::new(flow.client_id.clone(), &inner.options.redirect_uri);
        if let Some(secret) = &flow.client_secret {
            config = config.with_client_secret(secret.clone());
        }
        manager
            .configure_client(config)
            .map_err(|e| oauth_error(&server, ErrorCode::OauthExchangeFailed, e))?;
        manager.set_state_store(TakenFlow(Mutex::new(Some(auth))));
        manager.set_credential_store(CatalogCredentials {
            catalog: inner.catalog.clone(),
            user_id: principal.user_id.clone(),
            server: server.id.clone(),
            client_secret: flow.client_secret,
            locks: inner.locks.clone(),
        });
        manager
            .exchange_code_for_token_with_issuer(code, state, issuer)
            .await
            .map_err(|e| oauth_error(&server, ErrorCode::OauthExchangeFailed, e))?;
        tracing::info!(server = %server.name, user = %principal.user_id, "authorization stored");
        Ok(Completed {
            principal,
            server_id: server.id,
        })
    }

    /// Discards a pending authorization (the user refused it).
    pub async fn abandon(&self, state: &str) -> Result<()> {
        if !state.is_empty() && state.len() <= 512 {
            store::take_flow(&self.inner.state, &self.inner.catalog, state).await?;
        }
        Ok(())
    }

    /// The per-user access a link to `server` uses, or `oauth_required`
    /// (with a fresh authorization URL) when the principal holds no tokens.
    pub async fn access(&self, principal: &Principal, server: &Server) -> Result<UpstreamAuth> {
        if principal.is_anonymous() {
            return Err(Error::Forbidden(
                "anonymous sessions cannot use servers that need OAuth".into(),
            ));
        }
        if !self.is_authorized(principal, server).await? {
            return Err(self.required(principal, server).await);
        }
        Ok(UpstreamAuth {
            broker: self.clone(),
            principal: principal.clone(),
            server: server.clone(),
            step_up: StepUp::default(),
        })
    }

    /// An authorization manager over the principal's stored tokens, ready to
    /// hand out (and refresh) access tokens.
    async fn manager(
        &self,
        principal: &Principal,
        server: &Server,
    ) -> Result<AuthorizationManager> {
        let inner = &self.inner;
        let Some(raw) = inner
            .catalog
            .get_oauth_credentials(&principal.user_id, &server.id)
            .await?
        else {
            return Err(self.required(principal, server).await);
        };
        let vault = Vault::parse(&raw)?;
        let (mut manager, _) = self.discover(server).await?;
        manager.set_credential_store(CatalogCredentials {
            catalog: inner.catalog.clone(),
            user_id: principal.user_id.clone(),
            server: server.id.clone(),
            client_secret: vault.client_secret.clone(),
            locks: inner.locks.clone(),
        });
        // Checks the tokens were issued by the server's current
        // authorization server (and forgets them when not).
        let usable = manager
            .initialize_from_store()
            .await
            .map_err(|e| oauth_error(server, ErrorCode::OauthDiscoveryFailed, e))?;
        if !usable {
            return Err(self.required(principal, server).await);
        }
        let mut config = OAuthClientConfig::new(
            vault.credentials.client_id.clone(),
            &inner.options.redirect_uri,
        );
        if let Some(secret) = vault.client_secret {
            config = config.with_client_secret(secret);
        }
        manager
            .configure_client(config)
            .map_err(|e| oauth_error(server, ErrorCode::OauthDiscoveryFailed, e))?;
        Ok(manager)
    }
}

/// An rmcp OAuth failure as a domain error with a stable code. The message
/// names the server and the failure, never a token.
fn oauth_error(server: &Server, code: ErrorCode, err: AuthError) -> Error {
    match err {
        AuthError::AuthorizationRequired | AuthError::TokenRefreshRejected(_) => {
            Error::OAuthRequired {
                server: server.name.to_string(),
                authorization_url: None,
            }
        }
        AuthError::CredentialStoreError(message) => Error::unavailable(
            "catalog",
            std::io::Error::other(format!("OAuth credential store: {message}")),
        ),
        other => Error::Upstream {
            code,
            message: format!("{}: {}", server.name, other),
        },
    }
}
