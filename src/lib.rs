//! Manifold: a reverse-proxy MCP gateway.
//!
//! A tour of the modules in their layers, from the edges down; imports only
//! point down (`scripts/check-layers` enforces it, `docs/architecture.md`
//! draws it):
//!
//! - **Wiring.** [`cli`] parses the command line; [`app`] wires the services
//!   into an [`state::AppState`] (a plain bag of handles), builds the HTTP
//!   application, binds first and then serves.
//! - **Edges** (parse, call a service, render): [`gateway`] is the MCP
//!   endpoint `/mcp` (and `/mcp/s/{server}`), one logical MCP server per
//!   authenticated session; [`admin::rest`] is `/api/v1` with its OpenAPI
//!   document, [`admin::graphql`] is `/graphql`, [`admin::health`] the probes
//!   and [`ui`] the embedded admin web page at `/`. They share [`http`]: how
//!   an error becomes a response and how a request becomes a principal.
//! - **Services** (every business and isolation rule): [`catalog::service`]
//!   (categories and servers), [`session::manager`] (connect, disconnect and
//!   use a session's servers; the seed's MCPServerManager), [`auth`] (API
//!   keys, JWTs, anonymous sessions) and [`ratelimit`].
//! - **Links and stores**: [`upstream`] holds the live MCP client links —
//!   one file per transport (stdio, streamable HTTP, legacy SSE, WebSocket) —
//!   the egress policy, the per-session link pool, input-schema patching and
//!   per-user OAuth to upstreams ([`upstream::oauth`]); [`catalog`] is the SQL
//!   store (SQLite or PostgreSQL) with its model and change events;
//!   [`session`] is per-session connection state (in memory, Redis or a
//!   Redis Cluster; the seed's MCPRedisManager) and the session event bus
//!   ([`session::bus`], carried between replicas by [`session::fanout`]).
//! - **Core words**: [`error`] ([`error::ErrorCode`], every code a client can
//!   see), [`ids`], [`principal`] (who is calling), [`net`], [`secret`],
//!   [`config`], [`telemetry`] and [`metrics`] (Prometheus).

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
pub mod metrics;
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
