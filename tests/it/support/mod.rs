//! Shared test helpers, the only ones: test modules import from here and
//! never from each other.
//!
//! - [`app`]: `spawn_app` (a real Manifold per test) and raw HTTP to it;
//! - [`rest`]: REST calls that set a scene (servers, connections, categories);
//! - [`mcp`]: rmcp clients, raw JSON-RPC and MCP sessions on `/mcp`;
//! - [`oauth`]: the OAuth fixture and the end user's authorization flow;
//! - [`log`]: the app's log captured in memory, to read or wait on;
//! - [`db`], [`redis`]: backends with a unique database / key prefix per test;
//! - [`upstreams`], [`python`], [`node`], [`browser`]: real MCP servers,
//!   clients and a headless browser.

pub mod app;
pub mod browser;
pub mod db;
pub mod log;
pub mod mcp;
pub mod node;
pub mod oauth;
pub mod python;
pub mod redis;
pub mod rest;
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
