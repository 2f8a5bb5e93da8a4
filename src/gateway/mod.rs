//! The gateway endpoint `/mcp`: one logical MCP server per authenticated
//! session, aggregating the tools of the servers that session connected.
//!
//! - [`endpoint`] mounts rmcp's streamable-HTTP service behind API-key
//!   authentication and binds each `Mcp-Session-Id` to the user who opened it;
//!   [`posted`] checks a POST's headers and body before rmcp sees it;
//!   [`binding`] keeps each session's owner and handshake in the state store;
//!   [`batch`] splits the JSON-RPC batches protocol 2025-03-26 allows;
//!   [`direct`] serves the hot path, a plain `tools/call`, without rmcp's
//!   session worker.
//! - [`handler`] serves `tools/list` from the session's cached tools and
//!   routes `tools/call` to the owning upstream link through [`forward`]
//!   (progress, cancellation, timeouts, upstream failures).
//! - [`content`] aggregates the resources, resource templates and prompts of
//!   the session's upstreams and routes reads, prompts, completions and
//!   subscriptions to their owner.
//! - [`info`] says what a session is told at `initialize`: capabilities,
//!   `serverInfo` and instructions, the upstream's own on a per-server route.
//! - [`notify`] tells each open session, as `notifications/…/list_changed`
//!   or `notifications/resources/updated`, that what it shows changed: it
//!   reads the session event bus ([`crate::session::bus`]).
//! - [`tasks`] relays MCP tasks (2025-11-25): task-augmented calls and
//!   `tasks/*` routed to the upstream that owns each task.
//! - [`ledger`] counts the MCP sessions each principal holds
//!   (`mcp.max_sessions_per_user`).
//! - [`view`] caches each session's tool list and name routes between changes.
//! - [`namespace`] (in [`crate::session`], so that the REST tool list can
//!   name tools as `/mcp` does) names tools `{server}__{tool}` within
//!   function-calling limits, reversibly (input schemas were already made valid by
//!   [`crate::upstream::schema_patch`] when the tools were read).

pub use crate::session::namespace;

mod audit;
pub mod batch;
pub mod binding;
mod call;
pub mod content;
pub mod direct;
pub mod endpoint;
pub mod exposure;
pub mod forward;
pub mod handler;
pub mod info;
pub mod ledger;
pub mod notify;
pub mod posted;
pub mod revoked;
pub mod scope;
pub mod search;
pub mod shown;
pub mod tasks;
pub mod toolset;
pub mod view;
