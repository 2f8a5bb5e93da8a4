//! Loop detection: a gateway must never reach itself through its own links.
//!
//! Every gateway process has a random instance id. Every request a network
//! link sends carries `Manifold-Via: <this instance>[, <instances>…]`, where
//! the others are the instances seen in the `Manifold-Via` of requests the
//! same user sent to this gateway in the last ten minutes. A request that
//! arrives with this instance's id in its `Manifold-Via` has come back
//! through a loop and is refused with `upstream_loop` (HTTP 508), so:
//! - a server that points at this gateway itself fails its connect at once;
//! - A → B → A: once B's link to A has called A (A learns B), A's links for
//!   that user name B too, and B refuses them; the other order is caught the
//!   same way by A.
//!
//! Instance ids are per process: a loop through a load balancer to another
//! replica of the same deployment is caught one hop later, when the
//! request comes back to a replica it already passed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorCode};

/// The header every outbound network request carries.
pub const HEADER: &str = "manifold-via";
/// How long an instance seen on a user's requests is remembered.
const REMEMBER: Duration = Duration::from_secs(600);
/// At most this many instances are named in one header.
const MAX_HOPS: usize = 16;
/// At most this many users are remembered (oldest forgotten first).
const MAX_USERS: usize = 10_000;

/// This process's instance id and the instances seen upstream of it.
#[derive(Debug)]
pub struct Via {
    instance: String,
    /// Per user: instances seen in their requests, with when.
    seen: Mutex<HashMap<String, HashMap<String, Instant>>>,
}

impl Default for Via {
    fn default() -> Self {
        Self::new()
    }
}

impl Via {
    /// A new random instance id.
    pub fn new() -> Self {
        Self {
            instance: format!("mf-{}", nanoid::nanoid!(12)),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// This process's instance id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Checks the `Manifold-Via` of an inbound request: `upstream_loop` if
    /// it names this instance; otherwise the instances it names.
    pub fn check(&self, header: Option<&str>) -> Result<Vec<String>, Error> {
        let ids: Vec<String> = header
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty() && id.len() <= 64)
            .take(MAX_HOPS)
            .map(str::to_owned)
            .collect();
        if ids.iter().any(|id| id == &self.instance) {
            return Err(Error::Upstream {
                code: ErrorCode::UpstreamLoop,
                message: "this request came back to the gateway through its own upstream links"
                    .to_owned(),
            });
        }
        Ok(ids)
    }

    /// Remembers that `user`'s requests came through `ids`.
    pub fn record(&self, user: &str, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        let now = Instant::now();
        if seen.len() >= MAX_USERS && !seen.contains_key(user) {
            seen.retain(|_, ids| {
                ids.retain(|_, at| now.duration_since(*at) < REMEMBER);
                !ids.is_empty()
            });
            if seen.len() >= MAX_USERS {
                return;
            }
        }
        let entry = seen.entry(user.to_owned()).or_default();
        for id in ids {
            entry.insert(id, now);
        }
    }

    /// The `Manifold-Via` value for links opened for `user`.
    pub fn outbound(&self, user: &str) -> String {
        let mut ids = vec![self.instance.clone()];
        if let Ok(mut seen) = self.seen.lock()
            && let Some(entry) = seen.get_mut(user)
        {
            let now = Instant::now();
            entry.retain(|_, at| now.duration_since(*at) < REMEMBER);
            ids.extend(entry.keys().take(MAX_HOPS - 1).cloned());
        }
        ids.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_naming_this_instance_is_a_loop_and_others_are_remembered_per_user() {
        let a = Via::new();
        let b = Via::new();
        assert_ne!(a.instance(), b.instance());
        assert_eq!(a.check(None).unwrap_or_default(), Vec::<String>::new());
        let looped = a.check(Some(&format!("x, {}", a.instance())));
        assert!(matches!(
            looped,
            Err(Error::Upstream {
                code: ErrorCode::UpstreamLoop,
                ..
            })
        ));
        // B's link for alice reaches A: A remembers B for alice only.
        let ids = a.check(Some(&b.outbound("alice"))).unwrap_or_default();
        a.record("alice", ids);
        assert_eq!(a.outbound("bob"), a.instance());
        let alice = a.outbound("alice");
        assert!(alice.starts_with(a.instance()) && alice.contains(b.instance()));
        // …so B refuses A's links for alice.
        assert!(b.check(Some(&alice)).is_err());
    }
}
