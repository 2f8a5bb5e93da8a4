//! [`AppState`]: the cheap, cloneable handle every handler receives, over the
//! services built once at start-up.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::Authenticator;
use crate::auth::api_key::ApiKeys;
use crate::auth::oauth::{BrokerOptions, CALLBACK_PATH, OAuthBroker};
use crate::catalog::{Catalog, CatalogService};
use crate::config::Settings;
use crate::gateway::notify::SessionNotifier;
use crate::ratelimit::RateLimits;
use crate::session::State;
use crate::session::manager::{ManagerOptions, SessionManager};
use crate::upstream::LinkOptions;
use crate::upstream::egress::EgressPolicy;
use crate::upstream::pool::{LinkPool, PoolLimits};

/// Shared application state (an `Arc` inside; clone freely).
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    catalog: CatalogService,
    api_keys: ApiKeys,
    auth: Authenticator,
    state: State,
    sessions: SessionManager,
    /// Cancelled when the server shuts down: ends long-lived `/mcp` streams.
    shutdown: tokio_util::sync::CancellationToken,
    notifier: SessionNotifier,
    rate_limits: RateLimits,
}

impl AppState {
    /// Wires the services over a catalog and a state store; `public_base` is
    /// the gateway's URL for the OAuth redirect URI.
    /// Must run inside a tokio runtime (the link pool starts its sweeper).
    pub fn new(
        settings: Settings,
        catalog: Catalog,
        state: State,
        public_base: &str,
    ) -> anyhow::Result<Self> {
        let upstream = &settings.upstream;
        let pool = LinkPool::new(PoolLimits {
            max_links: upstream.max_links,
            max_stdio: upstream.max_stdio_children,
            idle_timeout: Duration::from_secs(upstream.idle_timeout_seconds),
        });
        let options = ManagerOptions {
            link: LinkOptions {
                connect_timeout: Duration::from_secs(upstream.connect_timeout_seconds),
                call_timeout: Duration::from_secs(upstream.call_timeout_seconds),
                egress: EgressPolicy {
                    deny_private: upstream.egress.deny_private,
                    deny_loopback: upstream.egress.deny_loopback,
                },
            },
            tool_fetch_timeout: Duration::from_secs(upstream.tool_fetch_timeout_seconds),
        };
        let catalog_service = CatalogService::new(catalog.clone());
        let notifier = SessionNotifier::with_catalog(catalog_service.events().clone());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let state_url = &settings.state.url;
        if state_url.starts_with("redis://") || state_url.starts_with("rediss://") {
            match crate::gateway::fanout::start(
                state_url,
                &settings.state.key_prefix,
                notifier.clone(),
                shutdown.child_token(),
            ) {
                Ok(sender) => notifier.set_fanout(sender),
                Err(err) => tracing::warn!(
                    error = %err,
                    "change events stay in this process: cannot use the state store's Redis URL"
                ),
            }
        }
        let rate_limits = RateLimits::new(&settings.limits, shutdown.child_token());
        let auth = Authenticator::new(&settings);
        let oauth = OAuthBroker::new(
            catalog.clone(),
            state.clone(),
            BrokerOptions {
                redirect_uri: format!("{public_base}{CALLBACK_PATH}"),
                flow_ttl: Duration::from_secs(settings.auth.oauth.flow_ttl_seconds),
                client_name: settings.auth.oauth.client_name.trim().to_owned(),
                egress: options.link.egress,
                connect_timeout: options.link.connect_timeout,
                discovery_ttl: Duration::from_secs(settings.auth.oauth.discovery_cache_seconds),
            },
        )?;
        let sessions = SessionManager::new(catalog_service.clone(), state.clone(), pool, options)
            .with_notifier(notifier.clone())
            .with_oauth(oauth);
        // Deleted, renamed or re-pointed servers leave no state or links behind.
        sessions.follow_catalog(catalog_service.events(), shutdown.child_token());
        Ok(Self {
            shared: Arc::new(Shared {
                settings,
                catalog: catalog_service,
                api_keys: ApiKeys::new(catalog),
                auth,
                state,
                sessions,
                shutdown,
                notifier,
                rate_limits,
            }),
        })
    }

    /// Cancelled when the server begins shutting down.
    pub fn shutdown_token(&self) -> &tokio_util::sync::CancellationToken {
        &self.shared.shutdown
    }

    /// Per-session connect / disconnect and the link pool.
    pub fn sessions(&self) -> &SessionManager {
        &self.shared.sessions
    }

    /// Tool-change events for the open `/mcp` sessions of this process.
    pub fn notifier(&self) -> &SessionNotifier {
        &self.shared.notifier
    }

    /// The settings the process started with.
    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Categories and servers, with their rules.
    pub fn catalog(&self) -> &CatalogService {
        &self.shared.catalog
    }

    /// API key issuing and checking.
    pub fn api_keys(&self) -> &ApiKeys {
        &self.shared.api_keys
    }

    /// Request rate limits per principal.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.shared.rate_limits
    }

    /// JWT and anonymous-session checks (see [`crate::auth::extract::authenticate`]).
    pub fn auth(&self) -> &Authenticator {
        &self.shared.auth
    }

    /// The connection-state store.
    pub fn state_store(&self) -> &State {
        &self.shared.state
    }
}
