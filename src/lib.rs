//! Manifold: a reverse-proxy MCP gateway.
//!
//! A tour of the modules, from the edge inwards:
//!
//! - [`cli`] parses the command line; [`app`] builds the HTTP application
//!   (bind first, then serve) and [`state`] is the shared handle every handler gets.
//! - [`admin`] holds the admin surfaces: [`admin::rest`] (`/api/v1`, with its
//!   OpenAPI document), [`admin::graphql`] (`/graphql`) and the health probes;
//!   [`ui`] serves the embedded admin web page at `/`.
//! - [`auth`] turns a request into a [`auth::Principal`] (API keys, JWTs, anonymous sessions);
//!   [`ratelimit`] then holds each principal to its role's request rate.
//! - [`catalog`] is durable configuration in SQL (SQLite or PostgreSQL):
//!   categories, servers, API keys; [`catalog::service`] holds its rules.
//! - [`session`] is per-session connection state (in memory or Redis), the
//!   seed's MCPRedisManager, and [`session::manager`], which connects and
//!   disconnects a session's servers (the seed's MCPServerManager).
//! - [`upstream`] holds the live MCP client links to upstream servers — one
//!   file per transport (stdio, streamable HTTP, legacy SSE, WebSocket) — the
//!   egress policy and the per-session link pool.
//! - [`gateway`] is what Manifold does to upstream tools for its clients:
//!   input-schema patching and `{server}__{tool}` namespacing.
//! - [`config`], [`error`], [`ids`], [`secret`] and [`telemetry`] are the
//!   small pieces everything else uses.

pub mod admin;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod error;
pub mod gateway;
pub mod http;
pub mod ids;
pub mod net;
pub mod principal;
pub mod ratelimit;
pub mod secret;
pub mod session;
pub mod state;
pub mod telemetry;
pub mod ui;
pub mod upstream;

pub use app::Application;
pub use config::Settings;
pub use error::{Error, Result};
