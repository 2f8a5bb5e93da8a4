//! API keys: `mfk_` + 43 characters of base64url (32 random bytes), stored
//! only as a SHA-256 hash with the user id, the role and usage times.
//!
//! On first start with no active key, [`ApiKeys::bootstrap`] makes the first
//! admin key: the one given in `MANIFOLD_BOOTSTRAP_ADMIN_KEY` (or in the file
//! `MANIFOLD_BOOTSTRAP_ADMIN_KEY_FILE` names), which writes nothing to disk,
//! so a cluster's replicas all start with the key the operator chose;
//! otherwise a new key written to `data_dir/admin.key` (mode 0600). The log
//! names the key id or the file, never the key.
//!
//! A checked key is remembered (by its hash) for [`PRINCIPAL_CACHE_TTL`]
//! (1 s), so the `/mcp` hot path does not query the catalog on every
//! request. A revocation is immediate in the process that makes it and,
//! through the hook set with [`ApiKeys::set_forward`] (the state store's
//! fanout), on every other replica as soon as they hear of it: each drops
//! the key's cached principal and ends its open `/mcp` streams and pending
//! requests ([`KeyCache`]). The TTL bounds how long a revocation stays
//! unseen when that announcement is lost or there is none (the `manifold
//! keys revoke` command has no fanout).
//!
//! Who may list, create and revoke which keys over the API is in
//! [`super::keys`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::catalog::{ApiKey, Catalog};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{ApiKeyId, SessionId};
use crate::principal::{Credential, Principal, Role, parse_user_id};
use crate::secret::{Secret, random_bytes, sha256_hex, write_private_file};

pub use super::revocation::{KeyCache, KeyWatch, PRINCIPAL_CACHE_TTL};

/// Every key starts with this.
pub const KEY_PREFIX: &str = "mfk_";
/// File the bootstrap admin key is written to, inside `data_dir`.
pub const ADMIN_KEY_FILE: &str = "admin.key";
/// Environment variable that gives the first admin key itself (`mfk_…`).
pub const BOOTSTRAP_KEY_ENV: &str = "MANIFOLD_BOOTSTRAP_ADMIN_KEY";
/// Environment variable naming a file that holds the first admin key (a
/// mounted Kubernetes or Docker secret, say).
pub const BOOTSTRAP_KEY_FILE_ENV: &str = "MANIFOLD_BOOTSTRAP_ADMIN_KEY_FILE";
/// The user id of the first admin key. Only API keys may act as this user:
/// a JWT naming it as `sub` is refused, so an identity provider's account
/// called `admin` never inherits the bootstrap admin's servers or session.
pub const BOOTSTRAP_ADMIN: &str = "admin";
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY: Duration = Duration::seconds(60);
/// Where a revocation made here is announced to other replicas.
type Forward = Box<dyn Fn(&ApiKeyId) + Send + Sync>;

/// Issues, checks and revokes API keys.
#[derive(Clone)]
pub struct ApiKeys {
    pub(super) store: Catalog,
    cache: KeyCache,
    forward: Arc<OnceLock<Forward>>,
    pub(super) audit: crate::catalog::audit::Auditor,
}

impl ApiKeys {
    /// Keys kept in `store`.
    pub fn new(store: Catalog) -> Self {
        Self {
            store,
            cache: KeyCache::default(),
            forward: Arc::default(),
            audit: crate::catalog::audit::Auditor::disabled(),
        }
    }

    /// Records keys created and revoked over the API in `audit`.
    pub fn with_audit(mut self, audit: crate::catalog::audit::Auditor) -> Self {
        self.audit = audit;
        self
    }

    /// Passes the id of every key revoked in this process from now on to
    /// `forward` as well (once; later calls are ignored): the wiring sends
    /// it to the other replicas.
    pub fn set_forward(&self, forward: impl Fn(&ApiKeyId) + Send + Sync + 'static) {
        let _ = self.forward.set(Box::new(forward));
    }

    /// Another replica revoked key `id`: forget it here at once (its
    /// cached principal, its open `/mcp` streams and pending requests).
    pub fn revoked_elsewhere(&self, id: &ApiKeyId) {
        let ended = self.cache.revoke(id);
        tracing::info!(key = %id, ended, "API key revoked on another replica: forgotten here");
    }

    /// Fires when key `id` is revoked, here or (once announced) elsewhere.
    pub fn watch(&self, id: &ApiKeyId) -> KeyWatch {
        self.cache.watch(id)
    }

    /// Creates a key; the returned secret is shown once and never stored.
    pub async fn create(&self, user_id: &str, role: Role) -> Result<(ApiKey, Secret<String>)> {
        self.create_named(user_id, role, None).await
    }

    /// Creates a key of `user_id` with an optional label (see
    /// [`super::keys::parse_key_name`]); the returned secret is shown once
    /// and never stored.
    pub async fn create_named(
        &self,
        user_id: &str,
        role: Role,
        name: Option<&str>,
    ) -> Result<(ApiKey, Secret<String>)> {
        let user_id = parse_user_id(user_id)?;
        let name = name.map(super::keys::parse_key_name).transpose()?;
        let secret = format!(
            "{KEY_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
        );
        let mut key = key_record(user_id, role, &secret);
        key.name = name;
        self.store.insert_api_key(&key).await?;
        tracing::info!(key = %key.id, user = %key.user_id, role = %key.role, "API key created");
        Ok((key, Secret::new(secret)))
    }

    /// Every key, newest first (hashes are never shown).
    pub async fn list(&self) -> Result<Vec<ApiKey>> {
        self.store.list_api_keys().await
    }

    /// Revokes a key; `api_key_not_found` if absent or already revoked.
    /// Takes effect here at once and on the other replicas as soon as the
    /// announcement reaches them.
    pub async fn revoke(&self, id: &str) -> Result<()> {
        let id = ApiKeyId::parse(id).map_err(|_| key_not_found())?;
        self.revoke_id(&id).await
    }

    pub(super) async fn revoke_id(&self, id: &ApiKeyId) -> Result<()> {
        if !self
            .store
            .revoke_api_key(id, Utc::now().trunc_subsecs(6))
            .await?
        {
            return Err(key_not_found());
        }
        let ended = self.cache.revoke(id);
        if let Some(forward) = self.forward.get() {
            forward(id);
        }
        tracing::info!(key = %id, ended, "API key revoked");
        Ok(())
    }

    /// The principal a presented key stands for, or 401.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal> {
        let unauthorized = || Error::Unauthorized("the API key is not valid".into());
        if !presented.starts_with(KEY_PREFIX) || presented.len() > 200 {
            return Err(unauthorized());
        }
        let hash = sha256_hex(presented.as_bytes());
        if let Some(principal) = self.cache.principal(&hash) {
            return Ok(principal);
        }
        let key = self
            .store
            .find_api_key(&hash)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(unauthorized)?;
        if self.cache.is_revoked(&key.id) {
            return Err(unauthorized());
        }
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
        // Revoked while the catalog was read: refused, not cached.
        if !self.cache.remember(hash, &principal) {
            return Err(unauthorized());
        }
        Ok(principal)
    }

    /// With no active key in the catalog, makes the first admin key (user
    /// [`BOOTSTRAP_ADMIN`]): the one the environment gives (see
    /// [`bootstrap_key_from_env`]), written nowhere; otherwise a new one,
    /// written to `data_dir/admin.key` (0600). Returns the file when one was
    /// written. A malformed key in the environment is an error even when
    /// keys exist, so a typo is never silently ignored.
    pub async fn bootstrap(&self, data_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
        let given = bootstrap_key_from_env()?;
        if self.store.count_active_api_keys().await? > 0 {
            if given.is_some() {
                tracing::debug!("API keys exist: {BOOTSTRAP_KEY_ENV} is not used");
            }
            return Ok(None);
        }
        if let Some(given) = given {
            self.adopt_bootstrap_key(&given).await?;
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

impl ApiKeys {
    /// Stores `given` as an admin key of [`BOOTSTRAP_ADMIN`]. Replicas
    /// starting together all give the same key: whichever stores it first
    /// wins and the others find it. A revoked key is refused, never revived.
    async fn adopt_bootstrap_key(&self, given: &Secret<String>) -> anyhow::Result<()> {
        let hash = sha256_hex(given.expose().as_bytes());
        let usable = |found: Option<ApiKey>| match found {
            Some(key) if key.revoked_at.is_some() => Err(anyhow::anyhow!(
                "{BOOTSTRAP_KEY_ENV}: this key was revoked; give a new one (or create a key \
                 with `manifold keys create --user NAME --admin`)"
            )),
            found => Ok(found.is_some()),
        };
        if usable(self.store.find_api_key(&hash).await?)? {
            return Ok(());
        }
        let key = key_record(BOOTSTRAP_ADMIN.to_owned(), Role::Admin, given.expose());
        if let Err(err) = self.store.insert_api_key(&key).await {
            // Another replica stored the same key a moment ago.
            if usable(self.store.find_api_key(&hash).await?)? {
                return Ok(());
            }
            return Err(err.into());
        }
        tracing::info!(key = %key.id, "no API key existed: the admin key given in {BOOTSTRAP_KEY_ENV} is now active");
        Ok(())
    }
}

/// The catalog record of the key `secret`: its hash, never the key.
fn key_record(user_id: String, role: Role, secret: &str) -> ApiKey {
    ApiKey {
        id: ApiKeyId::generate(),
        name: None,
        user_id,
        role,
        hash: sha256_hex(secret.as_bytes()),
        prefix: secret.chars().take(KEY_PREFIX.len() + 6).collect(),
        created_at: Utc::now().trunc_subsecs(6),
        last_used_at: None,
        revoked_at: None,
    }
}

/// The first admin key the environment gives: `MANIFOLD_BOOTSTRAP_ADMIN_KEY`
/// (the key itself) or `MANIFOLD_BOOTSTRAP_ADMIN_KEY_FILE` (a file holding
/// it; surrounding whitespace is ignored), not both. `None` when neither is
/// set (or both are empty).
pub fn bootstrap_key_from_env() -> anyhow::Result<Option<Secret<String>>> {
    given_bootstrap_key(
        std::env::var(BOOTSTRAP_KEY_ENV).ok(),
        std::env::var_os(BOOTSTRAP_KEY_FILE_ENV),
    )
}

/// Shortest and longest random part of a bootstrap key (after `mfk_`).
const GIVEN_KEY_CHARS: std::ops::RangeInclusive<usize> = 32..=150;

fn given_bootstrap_key(
    value: Option<String>,
    file: Option<OsString>,
) -> anyhow::Result<Option<Secret<String>>> {
    let value = value.filter(|v| !v.is_empty());
    let file = file.filter(|f| !f.is_empty()).map(PathBuf::from);
    let (text, source) = match (value, file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "{BOOTSTRAP_KEY_ENV} and {BOOTSTRAP_KEY_FILE_ENV} are both set: set one of them"
        ),
        (Some(value), None) => (value, BOOTSTRAP_KEY_ENV.to_owned()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!(
                    "{BOOTSTRAP_KEY_FILE_ENV}: cannot read {}: {e}",
                    path.display()
                )
            })?;
            (
                text,
                format!("{BOOTSTRAP_KEY_FILE_ENV} ({})", path.display()),
            )
        }
        (None, None) => return Ok(None),
    };
    let key = text.trim();
    let random = key.strip_prefix(KEY_PREFIX).unwrap_or_default();
    let well_formed = GIVEN_KEY_CHARS.contains(&random.len())
        && random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        // Never echo the value: it is (or was meant to be) a credential.
        anyhow::bail!(
            "{source}: must be `{KEY_PREFIX}` followed by {} to {} letters, digits, `-` or `_` \
             (e.g. `{KEY_PREFIX}$(openssl rand -hex 32)`)",
            GIVEN_KEY_CHARS.start(),
            GIVEN_KEY_CHARS.end()
        );
    }
    Ok(Some(Secret::new(key.to_owned())))
}

pub(super) fn key_not_found() -> Error {
    Error::not_found(ErrorCode::ApiKeyNotFound, "API key")
}

/// When a key was last used, for display.
pub fn describe_last_use(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "never".to_owned(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(value: Option<&str>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
        given_bootstrap_key(value.map(str::to_owned), file.map(OsString::from))
            .map(|key| key.map(|k| k.expose().clone()))
    }

    #[test]
    fn a_bootstrap_key_comes_from_the_variable_or_the_file_it_names() -> anyhow::Result<()> {
        let key = format!("mfk_{}", "a1".repeat(32));
        assert_eq!(given(Some(&key), None)?, Some(key.clone()));
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("admin-key");
        std::fs::write(&path, format!("{key}\n"))?;
        assert_eq!(given(None, Some(&path))?, Some(key.clone()));
        assert_eq!(given(None, None)?, None);
        assert_eq!(given(Some(""), None)?, None);
        let both = given(Some(&key), Some(&path)).expect_err("both set");
        assert!(both.to_string().contains("both set"), "{both}");
        let missing = given(None, Some(&dir.path().join("nope"))).expect_err("no file");
        assert!(
            missing.to_string().starts_with(BOOTSTRAP_KEY_FILE_ENV),
            "{missing}"
        );
        Ok(())
    }

    #[test]
    fn a_malformed_bootstrap_key_is_refused_without_echoing_it() {
        let short = "mfk_tooShort123";
        let no_prefix = format!("key_{}", "b".repeat(40));
        let odd = format!("mfk_{}!", "c".repeat(40));
        for bad in [short, no_prefix.as_str(), odd.as_str()] {
            let err = given(Some(bad), None).expect_err("refused").to_string();
            assert!(err.starts_with(BOOTSTRAP_KEY_ENV), "{err}");
            assert!(!err.contains(bad), "the value is echoed: {err}");
        }
    }
}
