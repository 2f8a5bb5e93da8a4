//! [`StateUrl`] and [`ClusterNodes`]: where `[state]` keeps per-session
//! connection state, parsed once when the settings are read; and
//! [`StateBackend`], what the two say together.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::secret::SecretUrl;

/// Where per-session connection state lives: in this process, in Redis, or
/// in a Redis Cluster.
#[derive(Clone, PartialEq, Eq)]
pub enum StateUrl {
    /// `memory`: the embedded default, per process.
    Memory,
    /// `redis://…` or `rediss://…` (standalone Redis); its password never prints.
    Redis(SecretUrl),
    /// `redis+cluster://host:port,host:port/…` (`rediss+cluster://` for TLS):
    /// a Redis Cluster, by some of its nodes.
    Cluster(ClusterUrl),
}

/// The seed nodes of a `redis+cluster://` URL, one `redis://` URL each.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    /// The URL as written, its password replaced by `***`.
    shown: String,
    nodes: Vec<SecretUrl>,
}

impl StateUrl {
    /// Parses `memory`, a Redis URL the redis client accepts, or a
    /// `redis+cluster://` URL.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw == "memory" {
            return Ok(Self::Memory);
        }
        if raw.starts_with("redis+cluster://") || raw.starts_with("rediss+cluster://") {
            return ClusterUrl::parse(raw).map(Self::Cluster);
        }
        let url = SecretUrl::new(raw);
        if !raw.starts_with("redis://") && !raw.starts_with("rediss://") {
            return Err(format!(
                "expected `memory`, a redis:// URL or a redis+cluster:// URL, got `{}`",
                url.redacted()
            ));
        }
        redis::Client::open(raw).map_err(|e| format!("not a valid Redis URL: {e}"))?;
        Ok(Self::Redis(url))
    }

    /// The standalone Redis URL (with its password), when the state lives
    /// in one Redis.
    pub fn redis(&self) -> Option<&str> {
        match self {
            Self::Redis(url) => Some(url.expose()),
            Self::Memory | Self::Cluster(_) => None,
        }
    }
}

impl ClusterUrl {
    /// Splits `redis+cluster://[user[:password]@]h1:p1,h2:p2[/db][?query]`
    /// into one `redis://[user[:password]@]h:p[/db][?query]` per node.
    fn parse(raw: &str) -> Result<Self, String> {
        let (scheme, rest) = raw
            .split_once("+cluster://")
            .ok_or_else(|| "expected redis+cluster://HOST:PORT,HOST:PORT".to_owned())?;
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let login = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        let shown_login = userinfo
            .map(|u| match u.split_once(':') {
                Some((user, _)) => format!("{user}:***@"),
                None => format!("{u}@"),
            })
            .unwrap_or_default();
        let shown = format!("{scheme}+cluster://{shown_login}{hosts}{tail}");
        if hosts.split(',').any(|host| host.trim().is_empty()) {
            return Err(format!(
                "`{shown}` names no node or an empty one: expected {scheme}+cluster://HOST:PORT,HOST:PORT"
            ));
        }
        let nodes: Vec<SecretUrl> = hosts
            .split(',')
            .map(|host| SecretUrl::new(format!("{scheme}://{login}{}{tail}", host.trim())))
            .collect();
        check_cluster(&nodes).map_err(|e| format!("`{shown}` is not a valid cluster URL: {e}"))?;
        Ok(Self { shown, nodes })
    }
}

/// Whether the redis client accepts `nodes` as one cluster's seed nodes
/// (parsable, same password, TLS and protocol); nothing connects.
fn check_cluster(nodes: &[SecretUrl]) -> Result<(), String> {
    redis::cluster::ClusterClient::new(nodes.iter().map(SecretUrl::expose))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl fmt::Display for StateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Redis(url) => fmt::Display::fmt(url, f),
            Self::Cluster(url) => f.write_str(&url.shown),
        }
    }
}

impl fmt::Debug for StateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl Serialize for StateUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StateUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// `state.cluster_nodes`: the seed nodes of a Redis Cluster, another way to
/// write a `redis+cluster://` URL. Each is a `redis://` / `rediss://` URL
/// or a bare `HOST:PORT`; a list, or one text with commas (handy in an
/// environment variable). Passwords never print.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClusterNodes(Vec<SecretUrl>);

impl ClusterNodes {
    /// Parses the nodes; empty means "no cluster".
    pub fn parse<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let nodes: Vec<SecretUrl> = raw
            .into_iter()
            .map(str::trim)
            .filter(|node| !node.is_empty())
            .map(|node| {
                if node.contains("://") {
                    SecretUrl::new(node)
                } else {
                    SecretUrl::new(format!("redis://{node}"))
                }
            })
            .collect();
        if let Some(bad) = nodes
            .iter()
            .find(|n| !n.expose().starts_with("redis://") && !n.expose().starts_with("rediss://"))
        {
            return Err(format!(
                "expected HOST:PORT or a redis:// URL per node, got `{}`",
                bad.redacted()
            ));
        }
        if !nodes.is_empty() {
            check_cluster(&nodes).map_err(|e| format!("not a valid list of cluster nodes: {e}"))?;
        }
        Ok(Self(nodes))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ClusterNodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

impl Serialize for ClusterNodes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ClusterNodes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Text(String),
        }
        let parsed = match Raw::deserialize(d)? {
            Raw::List(list) => Self::parse(list.iter().map(String::as_str)),
            Raw::Text(text) => Self::parse(text.split(',')),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// Where the state store is, from `state.url` and `state.cluster_nodes`
/// together (connection strings with their passwords).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateBackend<'a> {
    Memory,
    /// One Redis at this URL.
    Redis(&'a str),
    /// A Redis Cluster, by these seed node URLs.
    Cluster(Vec<&'a str>),
}

impl StateBackend<'_> {
    /// Whether the state lives in a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

/// The backend `url` and `nodes` name (a set `nodes` wins; the settings
/// check refuses both at once).
pub(super) fn backend<'a>(url: &'a StateUrl, nodes: &'a ClusterNodes) -> StateBackend<'a> {
    if !nodes.is_empty() {
        return StateBackend::Cluster(nodes.0.iter().map(SecretUrl::expose).collect());
    }
    match url {
        StateUrl::Memory => StateBackend::Memory,
        StateUrl::Redis(url) => StateBackend::Redis(url.expose()),
        StateUrl::Cluster(url) => {
            StateBackend::Cluster(url.nodes.iter().map(SecretUrl::expose).collect())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NONE: &ClusterNodes = &ClusterNodes(Vec::new());

    fn nodes(url: &StateUrl) -> Vec<&str> {
        match backend(url, NONE) {
            StateBackend::Cluster(nodes) => nodes,
            other => panic!("not a cluster: {other:?}"),
        }
    }

    #[test]
    fn a_cluster_url_becomes_one_redis_url_per_node() {
        let url = StateUrl::parse("redis+cluster://10.0.0.1:7000,10.0.0.2:7001").unwrap();
        assert_eq!(
            nodes(&url),
            ["redis://10.0.0.1:7000", "redis://10.0.0.2:7001"]
        );
        assert_eq!(url.redis(), None);
        let url = StateUrl::parse(
            "rediss+cluster://app:s3cret@a.example:7000,b.example:7000/?protocol=resp3",
        )
        .unwrap();
        assert_eq!(
            nodes(&url),
            [
                "rediss://app:s3cret@a.example:7000/?protocol=resp3",
                "rediss://app:s3cret@b.example:7000/?protocol=resp3"
            ]
        );
        assert_eq!(
            url.to_string(),
            "rediss+cluster://app:***@a.example:7000,b.example:7000/?protocol=resp3"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn bad_cluster_urls_are_refused_without_echoing_the_password() {
        for bad in [
            "redis+cluster://",
            "redis+cluster://u:hunter2@",
            "redis+cluster://a:1,,b:2",
            "redis+cluster://u:hunter2@a:notaport",
        ] {
            let err = StateUrl::parse(bad).expect_err(bad);
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn cluster_nodes_take_urls_or_bare_addresses_and_win_over_the_url() {
        let list = ClusterNodes::parse(["127.0.0.1:7000", " redis://127.0.0.1:7001 ", ""]).unwrap();
        assert_eq!(
            backend(&StateUrl::Memory, &list),
            StateBackend::Cluster(vec!["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])
        );
        assert!(ClusterNodes::parse(["http://x:1"]).is_err());
        assert!(
            ClusterNodes::parse(["a:1", "rediss://b:2"]).is_err(),
            "mixed TLS"
        );
        assert!(ClusterNodes::parse([""]).unwrap().is_empty());
        assert_eq!(
            backend(&StateUrl::Memory, &ClusterNodes::default()),
            StateBackend::Memory
        );
    }
}
