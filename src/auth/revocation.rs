//! What this process remembers about API keys between catalog reads: the
//! principals of recently checked keys, the keys revoked lately, and one
//! cancellation token per key that has `/mcp` work in flight here.
//!
//! A revocation (made here, or announced by another replica through the
//! state store's fanout) goes through [`KeyCache::revoke`], which at once
//! drops the key's cached principals, fires its token (the `/mcp` endpoint
//! ends the key's open streams and pending requests on it) and keeps a
//! tombstone for [`TOMBSTONE`]. The tombstone closes a race: a request whose
//! catalog read began before the revocation committed would otherwise cache
//! the key again, or open a stream on a fresh token after the old one fired.
//! All three live under one lock, so a check and an insert never straddle a
//! revocation.
//!
//! The cache's TTL is the fallback for a revocation whose announcement was
//! lost (Redis pub/sub is best effort), or made by a process with no fanout
//! (the `manifold keys revoke` command).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::ids::ApiKeyId;
use crate::principal::{Credential, Principal};

/// How long a checked key's principal is reused without a catalog lookup:
/// the longest a revocation whose announcement was lost stays unseen here.
pub const PRINCIPAL_CACHE_TTL: Duration = Duration::from_secs(1);
/// Most principals remembered at once (the cache empties when full).
const PRINCIPAL_CACHE_MAX: usize = 10_000;
/// How long a revoked key is remembered as revoked: far longer than any
/// catalog read that may have begun before the revocation.
pub const TOMBSTONE: Duration = Duration::from_secs(30);
/// Live tokens are swept of unused entries when their number reaches this
/// (and then twice what remains).
const TOKENS_SWEEP: usize = 1024;

/// The per-process memory of API keys (clone freely; clones share it).
#[derive(Clone, Default)]
pub struct KeyCache {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// Principals of checked keys, by key hash, with when they were checked.
    principals: HashMap<String, (Instant, Principal)>,
    /// Keys revoked lately, with when this process heard of it.
    revoked: HashMap<ApiKeyId, Instant>,
    /// One token per key with `/mcp` work in flight here.
    tokens: HashMap<ApiKeyId, Arc<CancellationToken>>,
    /// Sweep `tokens` when it reaches this size.
    sweep_at: usize,
}

/// Fires when one API key is revoked; held by the `/mcp` work of that key.
pub struct KeyWatch {
    token: Arc<CancellationToken>,
}

impl KeyWatch {
    /// Whether the key has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the key is revoked (at once if it was).
    pub fn revoked(&self) -> WaitForCancellationFutureOwned {
        CancellationToken::clone(&self.token).cancelled_owned()
    }
}

fn key_of(principal: &Principal) -> Option<&ApiKeyId> {
    match &principal.credential {
        Credential::ApiKey { key_id } => Some(key_id),
        _ => None,
    }
}

impl KeyCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The principal of the key with this hash, if checked within the TTL.
    pub fn principal(&self, hash: &str) -> Option<Principal> {
        self.lock()
            .principals
            .get(hash)
            .filter(|(at, _)| at.elapsed() < PRINCIPAL_CACHE_TTL)
            .map(|(_, principal)| principal.clone())
    }

    /// Remembers a key's principal just read from the catalog; `false`
    /// (nothing remembered) when the key was revoked meanwhile.
    pub fn remember(&self, hash: String, principal: &Principal) -> bool {
        let mut inner = self.lock();
        if key_of(principal).is_some_and(|id| inner.is_revoked(id)) {
            return false;
        }
        let principals = &mut inner.principals;
        if principals.len() >= PRINCIPAL_CACHE_MAX {
            principals.retain(|_, (at, _)| at.elapsed() < PRINCIPAL_CACHE_TTL);
            if principals.len() >= PRINCIPAL_CACHE_MAX {
                principals.clear();
            }
        }
        principals.insert(hash, (Instant::now(), principal.clone()));
        true
    }

    /// A watch that fires when key `id` is revoked (already fired if it
    /// was revoked lately).
    pub fn watch(&self, id: &ApiKeyId) -> KeyWatch {
        let mut inner = self.lock();
        if inner.is_revoked(id) {
            let token = CancellationToken::new();
            token.cancel();
            return KeyWatch {
                token: Arc::new(token),
            };
        }
        if inner.tokens.len() >= inner.sweep_at.max(TOKENS_SWEEP) {
            // A token only the map holds watches nothing.
            inner.tokens.retain(|_, token| Arc::strong_count(token) > 1);
            inner.sweep_at = inner.tokens.len() * 2;
        }
        let token = inner.tokens.entry(id.clone()).or_default().clone();
        KeyWatch { token }
    }

    /// Key `id` was revoked: forgets its principals, fires its watches and
    /// keeps it as revoked for [`TOMBSTONE`]. Returns how many watches of
    /// it were live.
    pub fn revoke(&self, id: &ApiKeyId) -> usize {
        let mut inner = self.lock();
        inner
            .principals
            .retain(|_, (_, principal)| key_of(principal) != Some(id));
        inner.revoked.retain(|_, at| at.elapsed() < TOMBSTONE);
        inner.revoked.insert(id.clone(), Instant::now());
        match inner.tokens.remove(id) {
            Some(token) => {
                token.cancel();
                Arc::strong_count(&token) - 1
            }
            None => 0,
        }
    }

    /// Whether key `id` was revoked within [`TOMBSTONE`].
    pub fn is_revoked(&self, id: &ApiKeyId) -> bool {
        self.lock().is_revoked(id)
    }
}

impl Inner {
    fn is_revoked(&self, id: &ApiKeyId) -> bool {
        self.revoked
            .get(id)
            .is_some_and(|at| at.elapsed() < TOMBSTONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SessionId;
    use crate::principal::Role;

    fn principal(id: &ApiKeyId) -> Principal {
        Principal {
            user_id: "alice".into(),
            role: Role::User,
            session: SessionId::parse("alice").expect("valid"),
            credential: Credential::ApiKey { key_id: id.clone() },
        }
    }

    #[test]
    fn a_revocation_forgets_the_key_fires_its_watches_and_refuses_a_late_insert() {
        let cache = KeyCache::default();
        let (revoked, kept) = (ApiKeyId::generate(), ApiKeyId::generate());
        assert!(cache.remember("h1".into(), &principal(&revoked)));
        assert!(cache.remember("h2".into(), &principal(&kept)));
        let watch = cache.watch(&revoked);
        let other = cache.watch(&kept);
        assert_eq!(cache.revoke(&revoked), 1, "one live watch");
        assert!(watch.is_revoked());
        assert!(!other.is_revoked(), "another key's watch is untouched");
        assert_eq!(cache.principal("h1"), None);
        assert_eq!(cache.principal("h2"), Some(principal(&kept)));
        assert!(
            !cache.remember("h1".into(), &principal(&revoked)),
            "a read that began before the revocation is not cached"
        );
        assert!(
            cache.watch(&revoked).is_revoked(),
            "a late watch fires at once"
        );
    }

    #[test]
    fn unused_tokens_are_swept() {
        let cache = KeyCache::default();
        let held = cache.watch(&ApiKeyId::generate());
        for _ in 0..TOKENS_SWEEP + 10 {
            drop(cache.watch(&ApiKeyId::generate()));
        }
        let size = cache.lock().tokens.len();
        assert!(size < TOKENS_SWEEP, "{size} tokens kept");
        assert!(!held.is_revoked());
    }
}
