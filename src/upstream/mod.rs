//! Upstream links: live MCP client connections from Manifold to upstream
//! servers, one per (session, server).
//!
//! [`egress`] decides which network addresses a link may reach.

pub mod egress;
