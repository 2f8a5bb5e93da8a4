//! Where OAuth material lives: a user's tokens for a server in the catalog
//! ([`CatalogCredentials`], sealed), and a pending authorization in the state
//! store ([`FlowSaver`] / [`FlowRecord`], sealed, with a TTL, taken once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rmcp::transport::auth::{
    AuthError, CredentialRefreshGuard, CredentialStore, StateStore as AuthStateStore,
    StoredAuthorizationState, StoredCredentials,
};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::ids::ServerId;
use crate::principal::Role;
use crate::secret::{Secret, sha256_hex};
use crate::upstream::oauth::Flows;

/// What the catalog keeps per (user, server): the token response and the
/// client it was issued to (a dynamically registered client's secret too).
#[derive(Serialize, Deserialize)]
pub(super) struct Vault {
    pub credentials: StoredCredentials,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes the upstream demanded since (a step-up): the next
    /// authorization asks for them too. Cleared by the next token save.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wanted_scopes: Vec<String>,
}

impl Vault {
    pub(super) fn parse(raw: &Secret<String>) -> Result<Self> {
        serde_json::from_str(raw.expose())
            .map_err(|e| Error::internal(format!("stored OAuth credentials do not parse: {e}")))
    }
}

/// How long a refresh lease lives unless released: past the longest token
/// request (the broker's 30 s HTTP timeout) plus the save, so it never runs
/// out under a live refresh, yet a crashed replica's lease frees itself.
const LEASE_TTL: Duration = Duration::from_secs(45);
/// First and longest pause between two attempts to take a held lease.
const LEASE_POLL: (Duration, Duration) = (Duration::from_millis(25), Duration::from_millis(200));

/// Serialises token refreshes of one (user, server): in this process with a
/// mutex, across replicas with a lease in the state store. Two calls that
/// find the token expired then never spend the same (rotating) refresh
/// token twice.
pub(super) struct RefreshLocks {
    locks: Mutex<HashMap<(String, String), RefreshLock>>,
    state: Flows,
    /// How long a refresh waits for another replica's lease.
    wait: Duration,
}

type RefreshLock = Arc<tokio::sync::Mutex<()>>;

impl RefreshLocks {
    /// Locks whose leases live in `state`; a refresh waits up to `wait`
    /// for a lease another replica holds.
    pub(super) fn new(state: Flows, wait: Duration) -> Self {
        Self {
            locks: Mutex::default(),
            state,
            wait,
        }
    }

    pub(super) fn get(&self, user_id: &str, server: &ServerId) -> RefreshLock {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Drop locks nobody holds, so the map stays as small as the set of
        // refreshes in flight.
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks
            .entry((user_id.to_owned(), server.as_str().to_owned()))
            .or_default()
            .clone()
    }

    /// The in-process lock, then the lease `oauth-refresh:{sha256(user, server)}`
    /// (polled with back-off up to `wait`). Fails when the lease cannot be
    /// had in time or the state store fails.
    pub(super) async fn acquire(&self, user_id: &str, server: &ServerId) -> Result<RefreshGuard> {
        let local = self.get(user_id, server).lock_owned().await;
        let name = lease_name(user_id, server);
        let holder = sha256_hex(&crate::secret::random_bytes::<16>()?);
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut pause = LEASE_POLL.0;
        while !self.state.try_lease(&name, &holder, LEASE_TTL).await? {
            if tokio::time::Instant::now() + pause > deadline {
                return Err(Error::unavailable(
                    "the token refresh lease",
                    format!(
                        "another replica is still refreshing these tokens after {:?}",
                        self.wait
                    ),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LEASE_POLL.1);
        }
        Ok(RefreshGuard {
            release: Some((self.state.clone(), name, holder, local)),
        })
    }
}

/// The lease name of one (user, server): never the raw user id.
fn lease_name(user_id: &str, server: &ServerId) -> String {
    let id = sha256_hex(format!("{user_id}\0{}", server.as_str()).as_bytes());
    format!("oauth-refresh:{id}")
}

/// Held across one refresh (load, exchange, save). Dropping it releases
/// the lease in a task that keeps the in-process lock until the release
/// is done; outside a runtime the lease is left to expire.
pub(super) struct RefreshGuard {
    release: Option<(Flows, String, String, tokio::sync::OwnedMutexGuard<()>)>,
}

impl Drop for RefreshGuard {
    fn drop(&mut self) {
        let Some((state, name, holder, local)) = self.release.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if let Err(err) = state.release_lease(&name, &holder).await {
                tracing::warn!(error = %err, "could not release a token refresh lease; it expires on its own");
            }
            drop(local);
        });
    }
}

/// rmcp's credential store over the catalog, for one user and one server.
pub(super) struct CatalogCredentials {
    pub catalog: Catalog,
    pub user_id: String,
    pub server: ServerId,
    pub client_secret: Option<String>,
    pub locks: Arc<RefreshLocks>,
}

fn store_error(err: Error) -> AuthError {
    AuthError::CredentialStoreError(err.to_string())
}

#[async_trait]
impl CredentialStore for CatalogCredentials {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let Some(raw) = self
            .catalog
            .get_oauth_credentials(&self.user_id, &self.server)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        Ok(Some(Vault::parse(&raw).map_err(store_error)?.credentials))
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        let vault = Vault {
            credentials,
            client_secret: self.client_secret.clone(),
            wanted_scopes: Vec::new(),
        };
        let raw = serde_json::to_string(&vault)
            .map_err(|e| AuthError::CredentialStoreError(e.to_string()))?;
        self.catalog
            .put_oauth_credentials(&self.user_id, &self.server, &Secret::new(raw), Utc::now())
            .await
            .map_err(store_error)
    }

    async fn clear(&self) -> Result<(), AuthError> {
        self.catalog
            .delete_oauth_credentials(&self.user_id, &self.server)
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    /// A refresh token the authorization server refused is worthless: forget
    /// it (unless another refresh replaced it meanwhile), so the server
    /// reads as needing authorization again.
    async fn on_refresh_token_rejected(
        &self,
        rejected: &StoredCredentials,
    ) -> Result<(), AuthError> {
        let refresh = |c: &StoredCredentials| {
            c.token_response
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|t| t.get("refresh_token").cloned())
        };
        if let Some(current) = self.load().await?
            && refresh(&current) == refresh(rejected)
        {
            tracing::info!("the upstream refused the refresh token; authorization is needed again");
            self.clear().await?;
        }
        Ok(())
    }

    /// A refresh runs in one replica at a time; one that waited loads the
    /// tokens the other saved. When the lease cannot be had, the refresh
    /// fails as a store error: the tokens stay, the call may be retried.
    async fn acquire_refresh_guard(&self) -> Result<Option<CredentialRefreshGuard>, AuthError> {
        match self.locks.acquire(&self.user_id, &self.server).await {
            Ok(guard) => Ok(Some(CredentialRefreshGuard::new(guard))),
            Err(err) => {
                let mut why = err.to_string();
                let mut cause = std::error::Error::source(&err);
                while let Some(inner) = cause {
                    why = format!("{why}: {inner}");
                    cause = inner.source();
                }
                tracing::warn!(server = %self.server, error = %why, "token refresh not attempted");
                Err(AuthError::CredentialStoreError(why))
            }
        }
    }
}

/// A pending authorization: who started it, for which server, with which
/// client, and rmcp's PKCE state. Sealed in the state store under the hash
/// of its `state` parameter until the callback takes it (once).
#[derive(Serialize, Deserialize)]
pub(super) struct FlowRecord {
    #[serde(flatten)]
    pub owner: FlowOwner,
    pub auth: StoredAuthorizationState,
}

/// Who started a flow, for which server, with which client.
#[derive(Serialize, Deserialize)]
pub(super) struct FlowOwner {
    pub user_id: String,
    pub role: Role,
    pub session: String,
    pub server_id: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// The state-store id of a flow: never the raw `state` value.
pub(super) fn flow_id(state: &str) -> String {
    sha256_hex(state.as_bytes())
}

/// Seals and stores a flow record.
pub(super) async fn put_flow(
    state: &Flows,
    catalog: &Catalog,
    record: &FlowRecord,
    ttl: Duration,
) -> Result<()> {
    let raw = serde_json::to_string(record).map_err(Error::internal)?;
    let sealed = catalog.cipher().seal(&raw)?;
    state
        .put_oauth_flow(&flow_id(&record.auth.csrf_token), &sealed, ttl)
        .await
}

/// Takes (reads and deletes) the flow of `state`; `None` when unknown,
/// expired or already used.
pub(super) async fn take_flow(
    state: &Flows,
    catalog: &Catalog,
    csrf: &str,
) -> Result<Option<FlowRecord>> {
    let Some(sealed) = state.take_oauth_flow(&flow_id(csrf)).await? else {
        return Ok(None);
    };
    let raw = catalog.cipher().open(&sealed)?;
    serde_json::from_str(&raw)
        .map(Some)
        .map_err(|e| Error::internal(format!("a stored OAuth flow does not parse: {e}")))
}

/// rmcp's authorization-state store while a flow starts: the one state rmcp
/// saves becomes a [`FlowRecord`] in the state store.
pub(super) struct FlowSaver {
    pub state: Flows,
    pub catalog: Catalog,
    pub ttl: Duration,
    /// Whose flow this is; taken by the one state rmcp saves.
    pub owner: Mutex<Option<FlowOwner>>,
}

#[async_trait]
impl AuthStateStore for FlowSaver {
    async fn save(
        &self,
        _csrf_token: &str,
        auth: StoredAuthorizationState,
    ) -> Result<(), AuthError> {
        let owner = self
            .owner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| AuthError::InternalError("one authorization per flow".into()))?;
        let record = FlowRecord { owner, auth };
        put_flow(&self.state, &self.catalog, &record, self.ttl)
            .await
            .map_err(|e| AuthError::InternalError(e.to_string()))
    }

    async fn load(&self, _csrf_token: &str) -> Result<Option<StoredAuthorizationState>, AuthError> {
        Ok(None)
    }

    async fn delete(&self, _csrf_token: &str) -> Result<(), AuthError> {
        Ok(())
    }
}

/// rmcp's authorization-state store at the callback: holds the one state
/// taken from the state store.
pub(super) struct TakenFlow(pub Mutex<Option<StoredAuthorizationState>>);

#[async_trait]
impl AuthStateStore for TakenFlow {
    async fn save(&self, _: &str, auth: StoredAuthorizationState) -> Result<(), AuthError> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(auth);
        Ok(())
    }

    async fn load(&self, csrf_token: &str) -> Result<Option<StoredAuthorizationState>, AuthError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|auth| auth.csrf_token == csrf_token))
    }

    async fn delete(&self, _: &str) -> Result<(), AuthError> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn locks(wait: Duration) -> (RefreshLocks, Flows) {
        let state: Flows = crate::session::memory::open("t:".into(), Duration::from_secs(60))
            .await
            .unwrap();
        (RefreshLocks::new(state.clone(), wait), state)
    }

    #[tokio::test]
    async fn a_lease_held_elsewhere_fails_the_refresh_once_the_wait_is_over() {
        let (locks, state) = locks(Duration::from_millis(100)).await;
        let server = ServerId::generate();
        let name = lease_name("alice", &server);
        assert!(
            state
                .try_lease(&name, "elsewhere", LEASE_TTL)
                .await
                .unwrap()
        );
        let err = locks.acquire("alice", &server).await.err().unwrap();
        assert_eq!(err.code(), crate::error::ErrorCode::Unavailable);
        // Another user's or server's refresh is not held up.
        assert!(locks.acquire("bob", &server).await.is_ok());
        assert!(state.release_lease(&name, "elsewhere").await.unwrap());
        assert!(locks.acquire("alice", &server).await.is_ok());
    }

    #[tokio::test]
    async fn a_dropped_guard_has_released_its_lease_before_the_next_refresh_here_starts() {
        // No wait at all: the next acquire only succeeds if the lease is free.
        let (locks, state) = locks(Duration::ZERO).await;
        let server = ServerId::generate();
        let first = locks.acquire("alice", &server).await.unwrap();
        assert!(
            !state
                .try_lease(&lease_name("alice", &server), "x", LEASE_TTL)
                .await
                .unwrap()
        );
        drop(first);
        let second = locks.acquire("alice", &server).await.unwrap();
        drop(second);
    }

    #[test]
    fn a_guard_dropped_outside_a_runtime_leaves_the_lease_to_expire() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (guard, state, name) = runtime.block_on(async {
            let (locks, state) = locks(Duration::ZERO).await;
            let server = ServerId::generate();
            let guard = locks.acquire("alice", &server).await.unwrap();
            (guard, state, lease_name("alice", &server))
        });
        drop(guard);
        let held = runtime.block_on(state.try_lease(&name, "x", LEASE_TTL));
        assert!(!held.unwrap(), "still held until it expires");
    }

    #[test]
    fn lease_names_never_show_the_user() {
        let server = ServerId::generate();
        let name = lease_name("alice@example.com", &server);
        assert!(name.starts_with("oauth-refresh:"), "{name}");
        assert!(!name.contains("alice"), "{name}");
        assert_ne!(name, lease_name("alice@example.com", &ServerId::generate()));
        assert!(crate::session::keys::lease("p:", &name).is_ok());
    }
}
