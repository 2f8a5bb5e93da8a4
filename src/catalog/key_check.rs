//! The secrets key check, and moving a catalog to a new key.
//!
//! Replicas that share a catalog must share the key its secrets are sealed
//! with: a replica with another key (say, its own generated
//! `data_dir/secret.key`) would answer 500 on every server with a secret.
//! So the catalog keeps a key check, a constant sealed with its key (never
//! the key), recorded the first time a key is used; [`verify`] makes a
//! process whose keys do not open it refuse to start, with one line that
//! says what to do.
//!
//! [`rotate`] re-seals every stored secret and the key check under a new key
//! in one transaction (see [`CatalogStore::reseal_all`](super::CatalogStore::reseal_all));
//! a process configured with `NEW,OLD` opens both meanwhile.

use std::path::PathBuf;

use chrono::{SubsecRound, Utc};

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::secret::{Cipher, describe_key_source, replace_key_file};

/// What a rotation re-sealed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Header values of servers.
    pub header_values: u64,
    /// Environment values of (stdio) servers.
    pub env_values: u64,
    /// OAuth client secrets of servers.
    pub client_secrets: u64,
    /// Users' OAuth credentials (one sealed value per user and server).
    pub oauth_credentials: u64,
}

impl Resealed {
    /// Every value re-sealed.
    pub fn total(&self) -> u64 {
        self.header_values + self.env_values + self.client_secrets + self.oauth_credentials
    }
}

/// The one line a process whose key does not fit the catalog stops with.
fn mismatch(settings: &Settings) -> anyhow::Error {
    anyhow::anyhow!(
        "this process's secrets key does not open the catalog's key check (the catalog's \
         secrets are sealed with another key): set secrets.encryption_key \
         (MANIFOLD_SECRETS__ENCRYPTION_KEY) to the key the other processes on this catalog \
         use (this process used {}); to give the catalog a new key, run `manifold secrets \
         rotate --new-key …` with the current one",
        describe_key_source(settings.secrets.encryption_key.expose(), &settings.data_dir)
    )
}

/// Checks that the catalog's cipher fits the catalog: its keys open the
/// stored key check or, when none is stored yet, a stored secret (a catalog
/// from before key checks); then records the key check if there is none.
/// A key that does not fit is an error with one line naming
/// `secrets.encryption_key` and what to do.
pub async fn verify(catalog: &Catalog, settings: &Settings) -> anyhow::Result<()> {
    let cipher = catalog.cipher();
    if let Some(stored) = catalog.key_check().await? {
        return if cipher.opens_key_check(&stored) {
            Ok(())
        } else {
            Err(mismatch(settings))
        };
    }
    if let Some(sealed) = catalog.any_sealed_value().await?
        && cipher.open(&sealed).is_err()
    {
        return Err(mismatch(settings));
    }
    let ours = cipher.seal_key_check()?;
    let stored = catalog
        .record_key_check(&ours, Utc::now().trunc_subsecs(6))
        .await?;
    // Another process may have recorded its key first, a moment ago.
    if !cipher.opens_key_check(&stored) {
        return Err(mismatch(settings));
    }
    if stored == ours {
        tracing::info!("recorded the secrets key check in the catalog");
    }
    Ok(())
}

/// What [`rotate`] did.
#[derive(Debug)]
pub struct Rotation {
    pub resealed: Resealed,
    /// The key file that now holds the new key, when the process's key came
    /// from `data_dir/secret.key` rather than `secrets.encryption_key`.
    pub key_file: Option<PathBuf>,
}

/// Re-seals every stored secret and the key check with `new_key`, in one
/// transaction, opening them with `current` (the process's keys) or
/// `new_key` (so a rotation that ran before, or values sealed by processes
/// already configured with `NEW,OLD`, are fine). When `current` came from
/// the key file, the file then holds `new_key`.
pub async fn rotate(
    catalog: &Catalog,
    settings: &Settings,
    current: &Cipher,
    new_key: &[u8; 32],
) -> anyhow::Result<Rotation> {
    let new = Cipher::from_key(new_key)?;
    let rotation = new.also_opening(current);
    if let Some(stored) = catalog.key_check().await?
        && !rotation.opens_key_check(&stored)
    {
        return Err(mismatch(settings));
    }
    let resealed = catalog
        .reseal_all(
            &rotation,
            &new.seal_key_check()?,
            Utc::now().trunc_subsecs(6),
        )
        .await?;
    let key_file = if settings.secrets.encryption_key.is_empty() {
        Some(replace_key_file(&settings.data_dir, new_key)?)
    } else {
        None
    };
    tracing::info!(
        values = resealed.total(),
        "re-sealed the catalog's secrets with a new key"
    );
    Ok(Rotation { resealed, key_file })
}
