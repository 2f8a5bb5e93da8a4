//! Rate limits per principal: a token bucket (GCRA, from `governor`) per user
//! id, checked on every authenticated request right after the principal is
//! known. All API keys of one user share its bucket. The admin API (REST,
//! GraphQL) uses the quota of the principal's role; `/mcp` has its own
//! bucket per signed-in user (`limits.mcp_*`, high, as agents fan out), so
//! neither surface uses up the other's allowance. Anonymous callers have
//! one bucket for both.
//!
//! Limits are per process: with N replicas behind a load balancer a user may
//! reach up to N× the configured rate. Buckets that have refilled are swept
//! on a timer, so memory is bounded by the users active in the last moments.

use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio_util::sync::CancellationToken;

use crate::config::LimitsSettings;
use crate::error::Error;
use crate::principal::{Principal, Role};

/// How often refilled buckets are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// One keyed limiter per role; `None` is unlimited.
struct Limiters {
    admin: Option<DefaultKeyedRateLimiter<String>>,
    user: Option<DefaultKeyedRateLimiter<String>>,
    anonymous: Option<DefaultKeyedRateLimiter<String>>,
    /// `/mcp` requests of signed-in users, whatever their role.
    mcp: Option<DefaultKeyedRateLimiter<String>>,
}

impl Limiters {
    fn all(&self) -> impl Iterator<Item = &DefaultKeyedRateLimiter<String>> {
        [&self.admin, &self.user, &self.anonymous, &self.mcp]
            .into_iter()
            .flatten()
    }
}

/// The rate limiters of this process (cheap to clone); a sweeper task drops
/// refilled buckets until shutdown or until the last handle is dropped.
#[derive(Clone)]
pub struct RateLimits {
    limiters: Arc<Limiters>,
    clock: DefaultClock,
}

impl RateLimits {
    /// Limiters for `settings`, swept until `shutdown` is cancelled.
    /// Must run inside a tokio runtime.
    pub fn new(settings: &LimitsSettings, shutdown: CancellationToken) -> Self {
        let limiters = Arc::new(Limiters {
            admin: limiter(settings.admin_per_second, settings.admin_burst),
            user: limiter(settings.user_per_second, settings.user_burst),
            anonymous: limiter(settings.anonymous_per_second, settings.anonymous_burst),
            mcp: limiter(settings.mcp_per_second, settings.mcp_burst),
        });
        if limiters.all().next().is_some() {
            tokio::spawn(sweep(Arc::downgrade(&limiters), shutdown));
        }
        Self {
            limiters,
            clock: DefaultClock::default(),
        }
    }

    /// Takes one token from `principal`'s admin-API bucket, or says how
    /// long to wait.
    pub fn check(&self, principal: &Principal) -> Result<(), Error> {
        let (limiter, role) = match principal.role {
            Role::Admin => (&self.limiters.admin, "admin"),
            Role::Anonymous => (&self.limiters.anonymous, "anonymous"),
            Role::User => (&self.limiters.user, "user"),
        };
        self.take(limiter, role, principal)
    }

    /// Takes one token from `principal`'s `/mcp` bucket (the anonymous one
    /// for anonymous callers), or says how long to wait.
    pub fn check_mcp(&self, principal: &Principal) -> Result<(), Error> {
        match principal.role {
            Role::Anonymous => self.take(&self.limiters.anonymous, "anonymous", principal),
            Role::Admin | Role::User => self.take(&self.limiters.mcp, "mcp", principal),
        }
    }

    fn take(
        &self,
        limiter: &Option<DefaultKeyedRateLimiter<String>>,
        role: &'static str,
        principal: &Principal,
    ) -> Result<(), Error> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(&principal.user_id).map_err(|not_until| {
            crate::metrics::rate_limited(role);
            Error::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            }
        })
    }

    /// Users with a bucket that has not refilled yet (all roles).
    pub fn tracked(&self) -> usize {
        self.limiters.all().map(DefaultKeyedRateLimiter::len).sum()
    }

    /// Drops every bucket that is full again (as a new one would be).
    pub fn sweep(&self) {
        sweep_once(&self.limiters);
    }
}

/// A keyed limiter refilling `per_second` tokens a second up to `burst`, or
/// `None` (unlimited) when `per_second` is 0.
fn limiter(per_second: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    let rate = NonZeroU32::new(per_second)?;
    // Config validation refuses a zero burst with a rate; be safe anyway.
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(DefaultKeyedRateLimiter::dashmap(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

fn sweep_once(limiters: &Limiters) {
    for limiter in limiters.all() {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

/// Sweeps every [`SWEEP_EVERY`] until shutdown or the limiters are dropped.
async fn sweep(limiters: Weak<Limiters>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        let Some(limiters) = limiters.upgrade() else {
            break;
        };
        sweep_once(&limiters);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::{ApiKeyId, SessionId};
    use crate::principal::{Credential, Role};

    fn principal(user: &str, role: Role) -> Principal {
        Principal {
            user_id: user.to_owned(),
            role,
            session: SessionId::parse(user).unwrap(),
            credential: Credential::ApiKey {
                key_id: ApiKeyId::generate(),
            },
        }
    }

    fn settings(user: (u32, u32), admin: (u32, u32)) -> LimitsSettings {
        LimitsSettings {
            user_per_second: user.0,
            user_burst: user.1,
            admin_per_second: admin.0,
            admin_burst: admin.1,
            mcp_per_second: 0,
            ..LimitsSettings::default()
        }
    }

    #[tokio::test]
    async fn mcp_has_its_own_bucket_apart_from_the_admin_api() {
        let limits = RateLimits::new(
            &LimitsSettings {
                mcp_per_second: 1,
                mcp_burst: 5,
                ..settings((1, 2), (0, 0))
            },
            CancellationToken::new(),
        );
        let alice = principal("alice", Role::User);
        for _ in 0..2 {
            limits.check(&alice).unwrap();
        }
        assert!(limits.check(&alice).is_err(), "the API bucket is empty");
        for _ in 0..5 {
            limits.check_mcp(&alice).unwrap();
        }
        assert!(
            limits.check_mcp(&alice).is_err(),
            "the /mcp burst is used up"
        );
        // Admins are limited on /mcp by the /mcp quota, not the admin one.
        let root = principal("root", Role::Admin);
        for _ in 0..5 {
            limits.check_mcp(&root).unwrap();
        }
        assert!(limits.check_mcp(&root).is_err());
        limits.check(&root).unwrap();
    }

    #[tokio::test]
    async fn a_burst_passes_then_the_next_request_waits_about_one_token() {
        let limits = RateLimits::new(&settings((1, 3), (0, 0)), CancellationToken::new());
        let alice = principal("alice", Role::User);
        for _ in 0..3 {
            limits.check(&alice).unwrap();
        }
        let Err(Error::RateLimited { retry_after }) = limits.check(&alice) else {
            panic!("the fourth request passed");
        };
        assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
        assert!(limits.check(&principal("bob", Role::User)).is_ok());
    }

    #[tokio::test]
    async fn zero_per_second_is_unlimited() {
        let limits = RateLimits::new(&settings((1, 1), (0, 0)), CancellationToken::new());
        let admin = principal("root", Role::Admin);
        for _ in 0..1000 {
            limits.check(&admin).unwrap();
        }
        assert_eq!(limits.tracked(), 0, "unlimited roles keep no buckets");
    }

    #[tokio::test]
    async fn full_buckets_are_swept_and_used_ones_kept() {
        let limits = RateLimits::new(&settings((1000, 1), (1, 5)), CancellationToken::new());
        limits.check(&principal("alice", Role::User)).unwrap();
        limits.check(&principal("root", Role::Admin)).unwrap();
        assert_eq!(limits.tracked(), 2);
        // alice's token refills in 1 ms, root's in 1 s; sweep in between.
        tokio::time::sleep(Duration::from_millis(100)).await;
        limits.sweep();
        assert_eq!(
            limits.tracked(),
            1,
            "only the admin's bucket is still in use"
        );
    }
}
