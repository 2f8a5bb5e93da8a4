//! [`Link`]: what the Redis state store talks through — one auto-reconnecting
//! [`ConnectionManager`] to a standalone Redis, or a Redis Cluster
//! [`ClusterConnection`], which sends each command to the master of its
//! key's slot and follows `MOVED`/`ASK` redirections and topology changes on
//! its own.
//!
//! Both are [`ConnectionLike`], so the store sends the same commands,
//! transactions and scripts to either. What differs lives here: the key
//! [`Layout`] (on a cluster a session's keys share one slot, so its
//! transactions stay legal) and [`Scan`], which walks every master of a
//! cluster, since a cluster's `SCAN` only sees the keys of the node that
//! answers it.

use std::collections::VecDeque;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use crate::session::keys::Layout;

/// Time limit for opening one TCP (or TLS) connection to Redis.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Time limit for one command or transaction's answer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// A cluster command's limit, redirections and retries included.
const CLUSTER_OVERALL_TIMEOUT: Duration = Duration::from_secs(4);
/// Extra connection attempts per (re)connect before a call gives up; the
/// manager starts a new reconnect on the next call anyway.
const CONNECT_RETRIES: usize = 1;
/// Pause before the retry.
const RETRY_DELAY: Duration = Duration::from_millis(100);
/// Retries of a cluster command (redirections, a node being repaired).
const CLUSTER_RETRIES: u32 = 3;
/// Keys asked for per `SCAN` page.
const SCAN_COUNT: usize = 500;

/// A connection to a standalone Redis or to a Redis Cluster (clones share it).
#[derive(Clone)]
pub(super) enum Link {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Link {
    /// Connects to the standalone Redis at `url`.
    pub(super) async fn standalone(url: &str) -> RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(CONNECT_RETRIES)
            .set_min_delay(RETRY_DELAY)
            .set_max_delay(RETRY_DELAY * 4);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self::Standalone(conn))
    }

    /// Connects to the Redis Cluster that `nodes` (seed node URLs) belong to;
    /// the client learns the other nodes from them.
    pub(super) async fn cluster(nodes: &[&str]) -> RedisResult<Self> {
        let client = ClusterClientBuilder::new(nodes.iter().copied())
            .connection_timeout(CONNECTION_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .overall_response_timeout(Some(CLUSTER_OVERALL_TIMEOUT))
            .retries(CLUSTER_RETRIES)
            .build()?;
        Ok(Self::Cluster(client.get_async_connection().await?))
    }

    /// How session keys are named on this link.
    pub(super) fn layout(&self) -> Layout {
        match self {
            Self::Standalone(_) => Layout::Plain,
            Self::Cluster(_) => Layout::HashTagged,
        }
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// `SCAN cursor MATCH pattern COUNT …` over every key of the store: the one
/// server's, or each cluster master's in turn.
pub(super) struct Scan {
    link: Link,
    pattern: String,
    /// The nodes left to walk, the current one first (`None`: the standalone server).
    nodes: VecDeque<Option<SingleNodeRoutingInfo>>,
    cursor: u64,
}

impl Scan {
    /// A scan of the keys matching `pattern`; on a cluster it first asks
    /// which nodes are masters now.
    pub(super) async fn new(link: &Link, pattern: String) -> RedisResult<Self> {
        let mut link = link.clone();
        let nodes = match &mut link {
            Link::Standalone(_) => VecDeque::from([None]),
            Link::Cluster(conn) => masters(conn).await?.into_iter().map(Some).collect(),
        };
        Ok(Self {
            link,
            pattern,
            nodes,
            cursor: 0,
        })
    }

    /// The next page of keys (possibly empty); `None` once every node has
    /// been walked to its end.
    pub(super) async fn next_page(&mut self) -> RedisResult<Option<Vec<Vec<u8>>>> {
        let Some(node) = self.nodes.front() else {
            return Ok(None);
        };
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(self.cursor)
            .arg("MATCH")
            .arg(&self.pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let (next, page): (u64, Vec<Vec<u8>>) = match (&mut self.link, node) {
            (Link::Cluster(conn), Some(node)) => {
                let answer = conn
                    .route_command(cmd, RoutingInfo::SingleNode(node.clone()))
                    .await?;
                redis::from_redis_value(answer)?
            }
            (link, _) => cmd.query_async(link).await?,
        };
        if next == 0 {
            self.nodes.pop_front();
        }
        self.cursor = next;
        Ok(Some(page))
    }
}

/// Where every master of the cluster is now: a `PING` sent to all of them
/// answers with one entry per node, named by its address.
async fn masters(conn: &mut ClusterConnection) -> RedisResult<Vec<SingleNodeRoutingInfo>> {
    let all = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    let Value::Map(answers) = conn.route_command(redis::cmd("PING"), all).await? else {
        return Err(unexpected("the masters' PING answers are not a map"));
    };
    answers
        .into_iter()
        .map(|(address, answer)| {
            if let Value::ServerError(err) = answer {
                return Err(err.into());
            }
            let address: String = redis::from_redis_value(address)?;
            let (host, port) = address
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host, port.parse().ok()?)))
                .ok_or_else(|| unexpected("a cluster node address is not host:port"))?;
            Ok(SingleNodeRoutingInfo::ByAddress {
                host: host.to_owned(),
                port,
            })
        })
        .collect()
}

fn unexpected(what: &'static str) -> RedisError {
    RedisError::from((ErrorKind::UnexpectedReturnType, what))
}
