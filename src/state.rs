//! [`AppState`]: the cheap, cloneable handle every handler receives, over the
//! services built once at start-up.

use std::sync::Arc;

use crate::auth::api_key::ApiKeys;
use crate::catalog::{Catalog, CatalogService};
use crate::config::Settings;
use crate::session::State;

/// Shared application state (an `Arc` inside; clone freely).
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    catalog: CatalogService,
    api_keys: ApiKeys,
    state: State,
}

impl AppState {
    /// Wires the services over a catalog and a state store.
    pub fn new(settings: Settings, catalog: Catalog, state: State) -> Self {
        Self {
            shared: Arc::new(Shared {
                settings,
                catalog: CatalogService::new(catalog.clone()),
                api_keys: ApiKeys::new(catalog),
                state,
            }),
        }
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

    /// The connection-state store.
    pub fn state_store(&self) -> &State {
        &self.shared.state
    }
}
