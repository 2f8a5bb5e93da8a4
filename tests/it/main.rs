//! Integration tests: one binary, real SQLite files, a real PostgreSQL, a real
//! Redis and a real HTTP server per test (see `support`).
//!
//! Test names read as sentences. Logs stay silent unless `TEST_LOG=1`.

mod support;

mod audit;
mod auth_anonymous;
mod auth_jwt;
mod bench_smoke;
mod catalog_contract;
mod config_check;
mod docs;
mod fixtures;
mod graphql;
mod isolation;
mod keys;
mod load_balancer;
mod mcp_bad_params;
mod mcp_batches;
mod mcp_clients;
mod mcp_conformance;
mod mcp_content;
mod mcp_direct;
mod mcp_endpoint;
mod mcp_fail_closed;
mod mcp_fanout;
mod mcp_hardening;
mod mcp_info;
mod mcp_inspector;
mod mcp_links;
mod mcp_listen;
mod mcp_log_noise;
mod mcp_notify;
mod mcp_per_server;
mod mcp_relay;
mod mcp_relay_http;
mod mcp_replicas;
mod mcp_roots;
mod mcp_session_limits;
mod mcp_sleep;
mod mcp_storm;
mod mcp_tasks;
mod mcp_versions;
mod metrics;
mod oauth_conformance;
mod oauth_replicas;
mod oauth_revoke;
mod oauth_two_users;
mod openapi;
mod operations;
#[cfg(feature = "otel")]
mod otel;
mod rate_limits;
mod resilience;
mod rest_categories;
mod rest_errors;
mod rest_servers;
mod secrets;
mod serve;
mod session_catalog;
mod session_connect;
mod session_failures;
mod state_contract;
mod tool_governance;
mod transfer;
mod ui;
mod upstream_errors;
mod upstream_sse_ws;
