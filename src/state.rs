//! [`AppState`]: the cheap, cloneable handle every handler receives — a
//! plain bag of the services that `app` wires once at start-up. Nothing is
//! built here.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::auth::api_key::ApiKeys;
use crate::catalog::CatalogService;
use crate::config::Settings;
use crate::ratelimit::RateLimits;
use crate::session::State;
use crate::session::bus::SessionNotifier;
use crate::session::manager::SessionManager;

/// Shared application state (an `Arc` inside; clone freely).
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Services>,
}

/// The services behind an [`AppState`], as `app` wires them.
pub struct Services {
    pub settings: Settings,
    pub catalog: CatalogService,
    pub api_keys: ApiKeys,
    pub auth: Authenticator,
    pub state: State,
    pub sessions: SessionManager,
    /// Cancelled when the server shuts down: ends long-lived `/mcp` streams.
    pub shutdown: tokio_util::sync::CancellationToken,
    pub notifier: SessionNotifier,
    pub rate_limits: RateLimits,
}

impl AppState {
    /// A handle over `services`.
    pub fn new(services: Services) -> Self {
        Self {
            shared: Arc::new(services),
        }
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

    /// The audit trail's recorder.
    pub fn audit(&self) -> &crate::catalog::audit::Auditor {
        self.shared.catalog.audit()
    }

    /// API key issuing and checking.
    pub fn api_keys(&self) -> &ApiKeys {
        &self.shared.api_keys
    }

    /// Request rate limits per principal.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.shared.rate_limits
    }

    /// JWT and anonymous-session checks (run by the edges' `http::authenticate`).
    pub fn auth(&self) -> &Authenticator {
        &self.shared.auth
    }

    /// The connection-state store.
    pub fn state_store(&self) -> &State {
        &self.shared.state
    }
}
