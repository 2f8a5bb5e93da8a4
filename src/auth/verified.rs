//! Tokens already verified: a JWT's signature and claims are checked once,
//! and the principal it stands for is kept until the token expires.
//!
//! The same bearer token comes with every request of an MCP session, and
//! verifying it (decoding, a signature check, two JSON parses of the
//! claims) costs more than the rest of the gateway's own work on a proxied
//! call. An entry is the answer [`JwtVerifier`](super::jwt::JwtVerifier)
//! would give again: the token's bytes are the key, so only the very same
//! token finds it; it ends when `exp` (plus the configured leeway) passes;
//! and a token checked against JWKS keys is checked again after the keys are
//! fetched anew or would be (see `JWKS_MAX_AGE`), so a key the identity
//! provider dropped stops being trusted exactly when it did before. Tokens
//! are kept as their SHA-256 digests, never in the clear. Failures are not
//! kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::principal::Principal;

/// How many tokens are kept at most. Past it, expired entries are dropped,
/// and if that frees nothing, all of them.
const CAPACITY: usize = 10_000;

/// A verified token.
struct Entry {
    principal: Principal,
    /// The token's `exp` (seconds since the epoch).
    exp: u64,
    /// The JWKS fetch whose keys checked the token (`None`: the HS256
    /// secret, which never changes).
    keys: Option<u64>,
    /// When that key set is due to be fetched again (JWKS only).
    refresh_by: Option<Instant>,
}

impl Entry {
    /// Whether neither `exp` (with `leeway` seconds of skew) nor the
    /// refetch of its keys has passed, at `now` (seconds since the epoch)
    /// and `at`.
    fn current(&self, now: u64, leeway: u64, at: Instant) -> bool {
        self.exp >= now.saturating_sub(leeway) && self.refresh_by.is_none_or(|due| at < due)
    }
}

/// The verified tokens of one verifier.
#[derive(Default)]
pub struct Verified {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

/// The key under which `token` is kept.
pub fn digest(token: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

impl Verified {
    /// The principal of a token verified before, if its entry still holds
    /// at `now` with `leeway` seconds of skew, `jwks` being the current JWKS
    /// fetch.
    pub fn get(&self, digest: &[u8; 32], now: u64, leeway: u64, jwks: u64) -> Option<Principal> {
        let entries = self.lock();
        let entry = entries.get(digest)?;
        let holds = entry.current(now, leeway, Instant::now())
            && entry.keys.is_none_or(|keys| keys == jwks);
        holds.then(|| entry.principal.clone())
    }

    /// Keeps a token just verified.
    pub fn put(
        &self,
        digest: [u8; 32],
        principal: Principal,
        exp: u64,
        keys: Option<u64>,
        refresh_by: Option<Instant>,
    ) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(&digest) {
            let (now, at) = (jsonwebtoken::get_current_timestamp(), Instant::now());
            entries.retain(|_, e| e.current(now, 0, at));
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            digest,
            Entry {
                principal,
                exp,
                keys,
                refresh_by,
            },
        );
    }

    /// How many tokens are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::SessionId;
    use crate::principal::{Credential, Role};
    use std::time::Duration;

    fn alice() -> Principal {
        Principal {
            user_id: "alice".into(),
            role: Role::User,
            session: SessionId::parse("alice").unwrap(),
            credential: Credential::Jwt { issuer: None },
        }
    }

    #[test]
    fn an_entry_holds_for_its_token_until_exp_and_leeway() {
        let verified = Verified::default();
        let token = digest("header.claims.signature");
        verified.put(token, alice(), 1_000, None, None);
        let at = |now, leeway| verified.get(&token, now, leeway, 0).map(|p| p.user_id);
        assert_eq!(at(999, 0).as_deref(), Some("alice"));
        assert_eq!(
            at(1_000, 0).as_deref(),
            Some("alice"),
            "exp itself still holds"
        );
        assert_eq!(at(1_001, 0), None, "past exp");
        assert_eq!(at(1_030, 30).as_deref(), Some("alice"), "within the leeway");
        assert_eq!(at(1_031, 30), None);
        assert_eq!(
            verified.get(&digest("header.claims.signaturf"), 999, 0, 0),
            None,
            "another token, however alike, is not found"
        );
        assert_eq!(
            verified
                .get(&token, 999, 0, 7)
                .map(|p| p.user_id)
                .as_deref(),
            Some("alice"),
            "an HS256 entry does not depend on the JWKS"
        );
    }

    #[test]
    fn a_jwks_entry_ends_with_its_fetch() {
        let verified = Verified::default();
        let token = digest("jwks.token");
        let later = Instant::now() + Duration::from_secs(60);
        verified.put(token, alice(), u64::MAX, Some(3), Some(later));
        assert!(verified.get(&token, 0, 0, 3).is_some());
        assert!(
            verified.get(&token, 0, 0, 4).is_none(),
            "the keys were fetched again"
        );
        let due = Instant::now() - Duration::from_millis(1);
        verified.put(token, alice(), u64::MAX, Some(3), Some(due));
        assert!(
            verified.get(&token, 0, 0, 3).is_none(),
            "the keys are due to be fetched again"
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let verified = Verified::default();
        for i in 0..CAPACITY {
            verified.put(digest(&i.to_string()), alice(), 1, None, None);
        }
        assert_eq!(verified.len(), CAPACITY);
        // All of them expired long ago: they make room.
        verified.put(digest("new"), alice(), u64::MAX, None, None);
        assert_eq!(verified.len(), 1);
        for i in 0..CAPACITY {
            verified.put(digest(&i.to_string()), alice(), u64::MAX, None, None);
        }
        assert!(verified.len() <= CAPACITY);
        assert!(verified.get(&digest("x"), 0, 0, 0).is_none());
    }
}
