//! API keys: `mfk_` + 43 characters of base64url (32 random bytes), stored
//! only as a SHA-256 hash with the user id, the role and usage times.
//!
//! On first start with no active key, [`ApiKeys::bootstrap`] creates an admin
//! key and writes it to `data_dir/admin.key` (mode 0600); the log names the
//! file, never the key.
//!
//! A checked key is remembered (by its hash) for [`PRINCIPAL_CACHE_TTL`], so
//! the `/mcp` hot path does not query the catalog on every request; a
//! revocation therefore takes effect within that time on every replica.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::catalog::{ApiKey, Catalog};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{ApiKeyId, SessionId};
use crate::principal::{Credential, Principal, Role, parse_user_id};
use crate::secret::{Secret, random_bytes, sha256_hex, write_private_file};

/// Every key starts with this.
pub const KEY_PREFIX: &str = "mfk_";
/// File the bootstrap admin key is written to, inside `data_dir`.
pub const ADMIN_KEY_FILE: &str = "admin.key";
/// The user id of the first admin key. Only API keys may act as this user:
/// a JWT naming it as `sub` is refused, so an identity provider's account
/// called `admin` never inherits the bootstrap admin's servers or session.
pub const BOOTSTRAP_ADMIN: &str = "admin";
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY: Duration = Duration::seconds(60);
/// How long a checked key's principal is reused without a catalog lookup.
pub const PRINCIPAL_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// Most principals remembered at once (the cache empties when full).
const PRINCIPAL_CACHE_MAX: usize = 10_000;

/// Principals of recently checked keys, by key hash.
type PrincipalCache = Mutex<HashMap<String, (Instant, Principal)>>;

/// Issues, checks and revokes API keys.
#[derive(Clone)]
pub struct ApiKeys {
    store: Catalog,
    recent: Arc<PrincipalCache>,
}

impl ApiKeys {
    /// Keys kept in `store`.
    pub fn new(store: Catalog) -> Self {
        Self {
            store,
            recent: Arc::default(),
        }
    }

    /// Creates a key; the returned secret is shown once and never stored.
    pub async fn create(&self, user_id: &str, role: Role) -> Result<(ApiKey, Secret<String>)> {
        let user_id = parse_user_id(user_id)?;
        let secret = format!(
            "{KEY_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
        );
        let key = ApiKey {
            id: ApiKeyId::generate(),
            user_id,
            role,
            hash: sha256_hex(secret.as_bytes()),
            prefix: secret.chars().take(KEY_PREFIX.len() + 6).collect(),
            created_at: Utc::now().trunc_subsecs(6),
            last_used_at: None,
            revoked_at: None,
        };
        self.store.insert_api_key(&key).await?;
        tracing::info!(key = %key.id, user = %key.user_id, role = %key.role, "API key created");
        Ok((key, Secret::new(secret)))
    }

    /// Every key, newest first (hashes are never shown).
    pub async fn list(&self) -> Result<Vec<ApiKey>> {
        self.store.list_api_keys().await
    }

    /// Revokes a key; `api_key_not_found` if absent or already revoked.
    pub async fn revoke(&self, id: &str) -> Result<()> {
        let id = ApiKeyId::parse(id).map_err(|_| key_not_found())?;
        if self
            .store
            .revoke_api_key(&id, Utc::now().trunc_subsecs(6))
            .await?
        {
            self.forget_all();
            tracing::info!(key = %id, "API key revoked");
            Ok(())
        } else {
            Err(key_not_found())
        }
    }

    /// The principal a presented key stands for, or 401.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal> {
        let unauthorized = || Error::Unauthorized("the API key is not valid".into());
        if !presented.starts_with(KEY_PREFIX) || presented.len() > 200 {
            return Err(unauthorized());
        }
        let hash = sha256_hex(presented.as_bytes());
        if let Some(principal) = self.remembered(&hash) {
            return Ok(principal);
        }
        let key = self
            .store
            .find_api_key(&hash)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(unauthorized)?;
        let now = Utc::now();
        if key.last_used_at.is_none_or(|at| now - at > TOUCH_EVERY) {
            // Usage times are advisory: a failed write must not fail the request.
            if let Err(err) = self
                .store
                .touch_api_key(&key.id, now.trunc_subsecs(6))
                .await
            {
                tracing::warn!(key = %key.id, error = %err, "could not record API key use");
            }
        }
        let principal = Principal {
            session: SessionId::parse(&key.user_id)?,
            user_id: key.user_id,
            role: key.role,
            credential: Credential::ApiKey { key_id: key.id },
        };
        self.remember(hash, &principal);
        Ok(principal)
    }

    fn remembered(&self, hash: &str) -> Option<Principal> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .get(hash)
            .filter(|(at, _)| at.elapsed() < PRINCIPAL_CACHE_TTL)
            .map(|(_, principal)| principal.clone())
    }

    fn remember(&self, hash: String, principal: &Principal) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= PRINCIPAL_CACHE_MAX {
            recent.retain(|_, (at, _)| at.elapsed() < PRINCIPAL_CACHE_TTL);
            if recent.len() >= PRINCIPAL_CACHE_MAX {
                recent.clear();
            }
        }
        recent.insert(hash, (Instant::now(), principal.clone()));
    }

    /// Forgets every remembered principal (after a revocation in this process).
    fn forget_all(&self) {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// With no active key in the catalog, creates an admin key (user
    /// [`BOOTSTRAP_ADMIN`]) and writes it
    /// to `data_dir/admin.key` (0600). Returns the file when one was written.
    pub async fn bootstrap(&self, data_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
        if self.store.count_active_api_keys().await? > 0 {
            return Ok(None);
        }
        let path = data_dir.join(ADMIN_KEY_FILE);
        let (key, secret) = self.create(BOOTSTRAP_ADMIN, Role::Admin).await?;
        // A stale file from revoked keys is replaced; the key is only ever in it.
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("removing {}: {e}", path.display())),
        }
        write_private_file(&path, secret.expose())?;
        tracing::info!(key = %key.id, path = %path.display(), "no API key existed: wrote a new admin key to this file");
        Ok(Some(path))
    }
}

fn key_not_found() -> Error {
    Error::not_found(ErrorCode::ApiKeyNotFound, "API key")
}

/// When a key was last used, for display.
pub fn describe_last_use(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "never".to_owned(), |t| t.to_rfc3339())
}
