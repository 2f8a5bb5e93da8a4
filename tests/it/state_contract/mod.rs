//! The `StateStore` contract: one suite, run against every backend
//! (`state_contract::memory::…`, `state_contract::redis::…` and
//! `state_contract::cluster::…`, the last on the 3-master Redis Cluster of
//! `scripts/fixtures/redis-cluster.sh`), plus checks only Redis can show (raw
//! key names and values, TTL on every key, outages) in
//! `state_contract::redis_only::…` and, for the cluster's hash-tagged key
//! names and its masters, `state_contract::cluster_only::…`.
//!
//! The suite is split by concern: [`transitions`] (the states of one server),
//! [`isolation`] (sessions apart, clearing a session), [`expiry`] (TTLs) and
//! [`races`] (readers never see half a write), [`bindings`] (MCP session
//! bindings), [`leases`] (exclusive, expiring leases), [`forget`] (a server
//! removed from every session), [`tool_filter`] (a session's own tool
//! filter).
//!
//! Every test uses its own key prefix, so tests never see each other's keys.
//!
//! Time passes through [`Backend::elapse`]: on the store's own clock, with
//! no fixed wait for Redis (see there). The memory runs of the tests that
//! need time (`timed`) are single-threaded, so they can run on Tokio's paused
//! clock, where that wait takes no time at all.

#![allow(clippy::unwrap_used)] // a test may unwrap: a panic is its failure report

mod bindings;
mod cluster_only;
mod expiry;
mod forget;
mod isolation;
mod leases;
mod races;
mod redis_only;
mod tool_filter;
mod transitions;

use std::time::Duration;

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, Pipeline, RedisFuture, Value as RedisValue};
use chrono::{DateTime, TimeZone, Utc};
use manifold::ids::SessionId;
use manifold::session::{ConnectionState, ConnectionStatus, State};
use serde_json::{Value, json};

use crate::support;

/// The TTL of tests that do not test expiry.
const LONG_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Memory,
    Redis,
    Cluster,
}

impl Kind {
    /// Whether the store is Redis (standalone or cluster), with raw keys to read.
    fn is_redis(self) -> bool {
        matches!(self, Self::Redis | Self::Cluster)
    }
}

/// A plain connection to the Redis (or cluster) under a store, to read and
/// write raw keys.
enum Raw {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Raw {
    /// Every key matching `pattern`, sorted: by SCAN on one Redis, by
    /// `KEYS` on every master of a cluster (the client gathers the answers;
    /// a test may use KEYS on its own few keys).
    async fn keys(&mut self, pattern: &str) -> Vec<String> {
        match self {
            Self::Single(conn) => support::redis::scan_keys(conn, pattern).await,
            Self::Cluster(conn) => {
                let mut keys: Vec<String> = ::redis::cmd("KEYS")
                    .arg(pattern)
                    .query_async(conn)
                    .await
                    .expect("KEYS works on every master");
                keys.sort();
                keys
            }
        }
    }
}

impl ConnectionLike for Raw {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, RedisValue> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<RedisValue>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// A store under test, with what the Redis-aware checks need.
struct Backend {
    kind: Kind,
    state: State,
    prefix: String,
    /// A plain connection to the same Redis or cluster (Redis only).
    raw: Option<Raw>,
}

impl Backend {
    async fn open(kind: Kind, ttl: Duration) -> Self {
        let (state, prefix, raw) = match kind {
            Kind::Memory => {
                let prefix = format!("{}:", support::unique("t:"));
                let state = manifold::session::memory::open(prefix.clone(), ttl)
                    .await
                    .expect("the memory store opens");
                (state, prefix, None)
            }
            Kind::Redis => {
                let (state, prefix) = support::redis::fresh_redis(ttl).await;
                let raw = Raw::Single(support::redis::raw().await);
                (state, prefix, Some(raw))
            }
            Kind::Cluster => {
                let (state, prefix) = support::redis::fresh_cluster(ttl).await;
                let raw = Raw::Cluster(support::redis::raw_cluster().await);
                (state, prefix, Some(raw))
            }
        };
        Self {
            kind,
            state,
            prefix,
            raw,
        }
    }

    /// A second handle on the same data: for Redis a second store with its own
    /// connection (so its reads can land between the commands of a write that
    /// were not atomic), for memory the same store.
    async fn second_handle(&self) -> State {
        match self.kind {
            Kind::Memory => self.state.clone(),
            Kind::Redis => {
                let url = support::redis::redis_url();
                manifold::session::redis::connect(&url, self.prefix.clone(), LONG_TTL)
                    .await
                    .unwrap_or_else(|e| support::redis::unreachable(&url, format!("{e:#}")))
            }
            Kind::Cluster => {
                let nodes = support::redis::cluster_nodes();
                let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
                manifold::session::redis::connect_cluster(&nodes, self.prefix.clone(), LONG_TTL)
                    .await
                    .unwrap_or_else(|e| support::redis::cluster_unreachable(format!("{e:#}")))
            }
        }
    }

    /// The plain Redis connection (Redis only).
    fn raw(&mut self) -> &mut Raw {
        self.raw.as_mut().expect("a raw connection")
    }

    /// `{prefix}mcp:session:{session}`, the start of every key of `session`:
    /// on a cluster the id sits in braces (the keys' hash tag).
    fn session_base(&self, session: &str) -> String {
        match self.kind {
            Kind::Cluster => format!("{}mcp:session:{{{session}}}", self.prefix),
            Kind::Memory | Kind::Redis => format!("{}mcp:session:{session}", self.prefix),
        }
    }

    /// Every raw key of `session` (Redis only; empty for memory).
    async fn raw_keys(&mut self, session: &str) -> Vec<String> {
        // Braces are no glob characters: they match themselves.
        let pattern = format!("{}:*", self.session_base(session));
        match self.raw.as_mut() {
            Some(raw) => raw.keys(&pattern).await,
            None => Vec::new(),
        }
    }

    /// Lets `span` pass on the clock the store's TTLs run on.
    ///
    /// Memory: a sleep on Tokio's clock (the memory store reads
    /// `tokio::time::Instant`), instant when that clock is paused. Redis,
    /// whose TTLs run on the server's clock: a marker key set to expire
    /// after `span` is polled until the server has expired it, with a
    /// deadline.
    async fn elapse(&mut self, span: Duration) {
        let marker = format!("{}test:clock", self.prefix);
        let Some(raw) = self.raw.as_mut() else {
            tokio::time::sleep(span).await;
            return;
        };
        let ms = u64::try_from(span.as_millis()).expect("a span in milliseconds");
        let _: () = ::redis::cmd("SET")
            .arg(&marker)
            .arg("span")
            .arg("PX")
            .arg(ms)
            .query_async(raw)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + span + Duration::from_secs(5);
        loop {
            let left: i64 = ::redis::cmd("PTTL")
                .arg(&marker)
                .query_async(raw)
                .await
                .unwrap();
            if left == -2 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Redis did not expire {marker} within {span:?} and 5 s (PTTL {left})"
            );
            let step = u64::try_from(left.clamp(1, 20)).expect("a positive step");
            tokio::time::sleep(Duration::from_millis(step)).await;
        }
    }

    /// Connects `server` of `session` with the tools named `names`, at [`at`].
    async fn connect(&self, session: &SessionId, server: &str, names: &[&str]) {
        self.state
            .set_connected(session, server, &tools(names), at())
            .await
            .unwrap();
    }

    /// Marks `server` of `session` failed with `error`.
    async fn fail(&self, session: &SessionId, server: &str, error: &str) {
        self.state.set_failed(session, server, error).await.unwrap();
    }

    /// Asserts that `server` of `session` reads as never connected.
    async fn assert_disconnected(&self, session: &SessionId, server: &str) {
        assert_eq!(
            self.state.get(session, server).await.unwrap(),
            ConnectionState::disconnected(),
            "{server}"
        );
    }

    /// Asserts the status of `server` of `session`.
    async fn assert_status(&self, session: &SessionId, server: &str, expected: ConnectionStatus) {
        assert_eq!(
            self.state.status(session, server).await.unwrap(),
            expected,
            "{server}"
        );
    }

    /// Asserts the connected servers of `session`, in order.
    async fn assert_connected(&self, session: &SessionId, expected: &[&str]) {
        assert_eq!(
            self.state.connected_servers(session).await.unwrap(),
            expected,
            "{session}"
        );
    }
}

fn sid(raw: &str) -> SessionId {
    SessionId::parse(raw).expect("a valid session id")
}

fn tools(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|name| json!({"name": name, "description": format!("the {name} tool"), "inputSchema": {"type": "object"}}))
        .collect()
}

/// A time with sub-second digits, to prove they survive the round trip.
fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9)
        .single()
        .expect("a valid time")
        + chrono::Duration::microseconds(123_456)
}

/// Instantiates every contract test for one backend: `module::name` becomes
/// the test `$backend::name`. The `timed` tests let time pass
/// ([`Backend::elapse`]) and run with the `$timed` test attribute.
macro_rules! contract {
    (
        $backend:ident, $kind:expr, #[$timed:meta],
        untimed: [$($module:ident::$name:ident),* $(,)?],
        timed: [$($tmodule:ident::$tname:ident),* $(,)?] $(,)?
    ) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$module::$name($kind).await;
                }
            )*
            $(
                #[$timed]
                async fn $tname() {
                    super::$tmodule::$tname($kind).await;
                }
            )*
        }
    };
}

macro_rules! contract_for_all {
    (
        untimed: [$($module:ident::$name:ident),* $(,)?],
        timed: [$($tmodule:ident::$tname:ident),* $(,)?] $(,)?
    ) => {
        // The memory store reads Tokio's clock: its TTLs pass on paused
        // time, at once.
        contract!(
            memory, super::Kind::Memory, #[tokio::test(start_paused = true)],
            untimed: [$($module::$name),*],
            timed: [$($tmodule::$tname),*],
        );
        // Redis's TTLs run on the server's clock: real time.
        contract!(
            redis, super::Kind::Redis,
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
            untimed: [$($module::$name),*],
            timed: [$($tmodule::$tname),*],
        );
        contract!(
            cluster, super::Kind::Cluster,
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
            untimed: [$($module::$name),*],
            timed: [$($tmodule::$tname),*],
        );
    };
}

contract_for_all! {
    untimed: [
        transitions::fresh_state_is_disconnected_with_no_tools,
        transitions::connecting_stores_status_tools_connected_at_and_the_set,
        transitions::connected_servers_are_sorted,
        transitions::a_failed_connect_stores_the_error_and_leaves_the_set,
        transitions::reconnecting_after_a_failure_clears_the_error,
        transitions::a_broken_link_keeps_tools_and_membership_while_reconnecting,
        transitions::disconnecting_removes_tools_error_and_set_membership,
        isolation::sessions_are_isolated,
        isolation::sessions_whose_ids_extend_each_other_are_isolated,
        transitions::disconnect_all_disconnects_every_connected_server,
        isolation::clear_session_removes_every_key_of_the_session,
        isolation::clear_session_counts_keys_across_many_scan_pages,
        races::no_reader_ever_sees_connected_without_tools,
        transitions::invalid_server_names_are_refused,
        transitions::health_is_ok,
        transitions::get_many_reads_several_servers_in_order,
        bindings::a_binding_reads_back_until_it_is_forgotten,
        bindings::bindings_are_apart_from_connection_state,
        bindings::invalid_mcp_session_ids_are_refused,
        bindings::garbage_in_a_binding_reads_as_no_session,
        leases::a_lease_is_held_by_one_holder_at_a_time,
        leases::only_its_holder_releases_a_lease,
        leases::of_many_racing_holders_one_takes_a_lease,
        leases::bad_lease_requests_are_refused,
        forget::forget_server_removes_one_server_from_every_session_and_nothing_else,
        forget::forget_server_reaches_sessions_across_many_scan_pages,
        forget::forget_server_refuses_names_that_could_match_other_keys,
        tool_filter::a_session_without_a_filter_reads_the_empty_one,
        tool_filter::a_stored_filter_reads_back_equal,
        tool_filter::an_empty_filter_removes_the_key,
        tool_filter::sessions_do_not_see_each_others_filters,
        tool_filter::a_filter_and_a_server_named_tool_filter_live_apart,
        tool_filter::clear_session_removes_the_filter,
        tool_filter::garbage_under_the_filter_key_reads_as_the_empty_filter,
    ],
    timed: [
        expiry::state_expires_after_the_ttl,
        expiry::each_write_refreshes_the_ttl_of_the_connections_set,
        bindings::a_binding_expires_unless_it_is_used,
        bindings::an_oauth_flow_is_taken_once_and_expires,
        leases::an_expired_lease_is_free_and_its_old_holder_cannot_release_it,
        tool_filter::a_filter_expires_unless_it_is_read,
    ],
}
