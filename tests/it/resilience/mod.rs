//! Upstream resilience with real upstreams that die and come back on the
//! same port mid-session.
//!
//! - [`upstreams`]: the upstreams themselves come back on their port, and
//!   the fixture answers a lost session with 404 or 400.

mod upstreams;

use std::time::Instant;

use crate::support::upstreams::Restartable;

/// Restarts `server` on its port off the async threads; the server and the
/// moment it listened again.
async fn restarted<S: Restartable>(mut server: S) -> (S, Instant) {
    tokio::task::spawn_blocking(move || {
        server.restart();
        (server, Instant::now())
    })
    .await
    .expect("the restart finished")
}

/// Kills `server` off the async threads.
async fn killed<S: Restartable>(mut server: S) -> S {
    tokio::task::spawn_blocking(move || {
        server.kill();
        server
    })
    .await
    .expect("the kill finished")
}
