//! Shared test helpers: backends with a unique database / key prefix per test.

#![allow(dead_code)]

pub mod app;
pub mod browser;
pub mod db;
pub mod node;
pub mod oauth_fixture;
pub mod python;
pub mod redis;
pub mod upstreams;

/// A short random suffix for names that must not collide between tests.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        manifold::ids::ServerId::generate()
            .as_str()
            .trim_start_matches("mcp_")
    )
}
