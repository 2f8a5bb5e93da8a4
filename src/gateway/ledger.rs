//! Which principal holds which MCP sessions on this replica, so that
//! `mcp.max_sessions_per_user` can refuse one `initialize` too many.
//!
//! - The `/mcp` middleware reserves a place before an `initialize` reaches
//!   rmcp and commits it under the new session's id when the answer carries
//!   one; a refused or failed `initialize` gives its place back.
//! - A session this replica serves but did not open (restored from the
//!   state store after a load balancer moved its client) is entered on its
//!   first request here, so it counts as well.
//! - A session that ended without this module seeing it (its idle timeout,
//!   a client gone) is dropped when its holder reaches the limit: the caller
//!   asks which of the holder's sessions still live before refusing.
//!
//! The count is per replica, like the sessions' memory it bounds. Nothing
//! is closed behind a client's back: the refusal is 429 `too_many_sessions`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The sessions of each principal (by user id) on this replica.
#[derive(Debug, Default)]
pub struct Ledger {
    /// The limit per principal; 0 keeps no ledger at all.
    max: usize,
    books: Mutex<Books>,
}

#[derive(Debug, Default)]
struct Books {
    /// Session id → its principal.
    owners: HashMap<String, String>,
    /// Principal → their sessions and the `initialize` calls in flight.
    held: HashMap<String, Held>,
}

#[derive(Debug, Default)]
struct Held {
    sessions: HashSet<String>,
    pending: usize,
}

impl Held {
    fn count(&self) -> usize {
        self.sessions.len() + self.pending
    }
}

/// A place for one new session, taken by [`Ledger::reserve`]. Dropped
/// without [`commit`](Self::commit), it is given back.
#[derive(Debug)]
pub struct Reservation {
    ledger: Arc<Ledger>,
    user: String,
    open: bool,
}

impl Reservation {
    /// The new session `session` now holds the place.
    pub fn commit(mut self, session: &str) {
        if !std::mem::take(&mut self.open) {
            return;
        }
        let mut books = self.ledger.books();
        let held = books.held.entry(self.user.clone()).or_default();
        held.pending = held.pending.saturating_sub(1);
        held.sessions.insert(session.to_owned());
        books.owners.insert(session.to_owned(), self.user.clone());
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.open {
            let mut books = self.ledger.books();
            if let Some(held) = books.held.get_mut(&self.user) {
                held.pending = held.pending.saturating_sub(1);
                if held.count() == 0 {
                    books.held.remove(&self.user);
                }
            }
        }
    }
}

/// Why [`Ledger::reserve`] refused: the principal's sessions, to check
/// which still live before trying once more.
#[derive(Debug)]
pub struct Full(pub Vec<String>);

impl Ledger {
    /// A ledger allowing `max` sessions per principal (0: no limit).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            books: Mutex::default(),
        })
    }

    /// The limit per principal (0: none).
    pub fn max(&self) -> usize {
        self.max
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for one more session of `user`, or [`Full`] with the
    /// sessions they hold. Always granted without a limit.
    pub fn reserve(self: &Arc<Self>, user: &str) -> Result<Reservation, Full> {
        if self.max == 0 {
            return Ok(Reservation {
                ledger: self.clone(),
                user: String::new(),
                open: false,
            });
        }
        let mut books = self.books();
        let held = books.held.entry(user.to_owned()).or_default();
        if self.max > 0 && held.count() >= self.max {
            return Err(Full(held.sessions.iter().cloned().collect()));
        }
        held.pending += 1;
        Ok(Reservation {
            ledger: self.clone(),
            user: user.to_owned(),
            open: true,
        })
    }

    /// Enters `session` of `user` if this replica did not open it (a
    /// restored session); cheap when it is known.
    pub fn enter(&self, user: &str, session: &str) {
        if self.max == 0 {
            return;
        }
        let mut books = self.books();
        if books.owners.contains_key(session) {
            return;
        }
        books.owners.insert(session.to_owned(), user.to_owned());
        books
            .held
            .entry(user.to_owned())
            .or_default()
            .sessions
            .insert(session.to_owned());
    }

    /// Forgets `sessions` (ended, or found dead).
    pub fn remove<'a>(&self, sessions: impl IntoIterator<Item = &'a str>) {
        if self.max == 0 {
            return;
        }
        let mut books = self.books();
        for session in sessions {
            let Some(user) = books.owners.remove(session) else {
                continue;
            };
            if let Some(held) = books.held.get_mut(&user) {
                held.sessions.remove(session);
                if held.count() == 0 {
                    books.held.remove(&user);
                }
            }
        }
    }

    /// How many sessions (and `initialize` calls in flight) `user` holds.
    pub fn held_by(&self, user: &str) -> usize {
        self.books().held.get(user).map_or(0, Held::count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_gets_max_places_and_an_ended_session_frees_one() {
        let ledger = Ledger::new(2);
        ledger.reserve("ann").unwrap().commit("s1");
        let pending = ledger.reserve("ann").unwrap();
        let Err(Full(held)) = ledger.reserve("ann") else {
            panic!("a third place was granted");
        };
        assert_eq!(held, vec!["s1".to_owned()]);
        // Another principal has places of their own.
        ledger.reserve("bob").unwrap().commit("s9");
        // A failed initialize gives its place back.
        drop(pending);
        ledger.reserve("ann").unwrap().commit("s2");
        assert!(ledger.reserve("ann").is_err());
        ledger.remove(["s1"]);
        assert_eq!(ledger.held_by("ann"), 1);
        ledger.reserve("ann").unwrap().commit("s3");
        ledger.remove(["s2", "s3", "unknown"]);
        assert_eq!(ledger.held_by("ann"), 0);
        assert!(
            !ledger.books().held.contains_key("ann"),
            "nothing is kept for a principal without sessions"
        );
    }

    #[test]
    fn a_restored_session_counts_once() {
        let ledger = Ledger::new(1);
        ledger.enter("ann", "s1");
        ledger.enter("ann", "s1");
        assert_eq!(ledger.held_by("ann"), 1);
        assert!(ledger.reserve("ann").is_err());
    }

    #[test]
    fn without_a_limit_nothing_is_kept() {
        let ledger = Ledger::new(0);
        for n in 0..10 {
            ledger.reserve("ann").unwrap().commit(&format!("s{n}"));
        }
        ledger.enter("ann", "x");
        assert_eq!(ledger.held_by("ann"), 0);
        assert!(ledger.books().owners.is_empty());
    }
}
