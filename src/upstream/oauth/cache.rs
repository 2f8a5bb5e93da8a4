//! Discovery kept for a while: the upstream's 401 challenge and every
//! document rmcp fetched to find the authorization server, per (server id,
//! resource URL), in this process. A later discovery replays them through
//! rmcp's own resolution, so the manager ends up exactly as after a fresh
//! one (metadata, resource indicator, scopes) without the HTTP requests.
//! Only successful discoveries are kept; the map is bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use futures::StreamExt;
use rmcp::transport::auth::{
    AuthorizationMetadata, OAuthHttpClient, OAuthHttpClientError, OAuthHttpClientFuture,
    OAuthHttpRequest,
};

/// At most this many discoveries are kept.
const MAX_ENTRIES: usize = 512;
/// The largest response body read from an authorization server.
const MAX_BODY: usize = 1024 * 1024;

/// A response as rmcp saw it.
#[derive(Clone)]
pub(super) struct Recorded {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// What one successful discovery needed from the network.
pub(super) struct Discovery {
    /// The upstream's `WWW-Authenticate` answer to the probe.
    pub challenge: Option<String>,
    /// The GET responses rmcp's resolution read, by URL.
    pub documents: HashMap<String, Recorded>,
    /// The 2025-03-26 own-origin metadata, when that is what was accepted.
    pub legacy: Option<AuthorizationMetadata>,
}

/// (server id, resource URL).
pub(super) type DiscoveryKey = (String, String);

/// The discoveries of this process; `ttl` zero keeps none.
pub(super) struct DiscoveryCache {
    ttl: Duration,
    entries: Mutex<HashMap<DiscoveryKey, (Instant, Arc<Discovery>)>>,
}

impl DiscoveryCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The discovery of `key` when it is fresh.
    pub fn get(&self, key: &DiscoveryKey) -> Option<Arc<Discovery>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, d)| d.clone())
    }

    /// Keeps `discovery` for `key`; when full, expired entries go first,
    /// then the oldest.
    pub fn put(&self, key: DiscoveryKey, discovery: Discovery) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= MAX_ENTRIES
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (Instant::now(), Arc::new(discovery)));
    }
}

/// rmcp's OAuth HTTP client over the broker's reqwest client (egress
/// policy, timeouts, no redirects). While discovering it records the GET
/// responses (`Record`) or answers them from an earlier discovery
/// (`Replay`); other requests always go to the network.
pub(super) struct BrokerHttp {
    pub http: reqwest::Client,
    pub tape: Tape,
}

pub(super) enum Tape {
    Off,
    /// Filled until taken (then recording stops).
    Record(Arc<Mutex<Option<HashMap<String, Recorded>>>>),
    Replay(Arc<Discovery>),
}

impl OAuthHttpClient for BrokerHttp {
    fn execute(&self, request: OAuthHttpRequest) -> OAuthHttpClientFuture<'_> {
        Box::pin(async move {
            let request = request.request;
            let get = request.method() == Method::GET;
            let url = request.uri().to_string();
            if get
                && let Tape::Replay(discovery) = &self.tape
                && let Some(recorded) = discovery.documents.get(&url)
            {
                return respond(recorded.clone());
            }
            let request = reqwest::Request::try_from(request)
                .map_err(|e| Box::new(e) as OAuthHttpClientError)?;
            let response = self
                .http
                .execute(request)
                .await
                .map_err(|e| Box::new(e) as OAuthHttpClientError)?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| Box::new(e) as OAuthHttpClientError)?;
                if chunk.len() > MAX_BODY - body.len() {
                    return Err(format!("an OAuth response body exceeds {MAX_BODY} bytes").into());
                }
                body.extend_from_slice(&chunk);
            }
            let recorded = Recorded {
                status,
                headers,
                body,
            };
            if get
                && let Tape::Record(tape) = &self.tape
                && let Some(documents) = tape.lock().unwrap_or_else(|e| e.into_inner()).as_mut()
            {
                documents.insert(url, recorded.clone());
            }
            respond(recorded)
        })
    }
}

fn respond(recorded: Recorded) -> Result<axum::http::Response<Vec<u8>>, OAuthHttpClientError> {
    let mut response = axum::http::Response::new(recorded.body);
    *response.status_mut() = recorded.status;
    *response.headers_mut() = recorded.headers;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery() -> Discovery {
        Discovery {
            challenge: None,
            documents: HashMap::new(),
            legacy: None,
        }
    }

    fn key(n: usize) -> DiscoveryKey {
        (format!("mcp_{n}"), "https://mcp.example.com/mcp".into())
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = DiscoveryCache::new(Duration::ZERO);
        cache.put(key(1), discovery());
        assert!(cache.get(&key(1)).is_none());
    }

    #[test]
    fn a_kept_discovery_is_found_under_its_server_and_url_only() {
        let cache = DiscoveryCache::new(Duration::from_secs(300));
        cache.put(key(1), discovery());
        assert!(cache.get(&key(1)).is_some());
        assert!(cache.get(&key(2)).is_none());
        let other_url = (
            "mcp_1".to_owned(),
            "https://other.example.com/mcp".to_owned(),
        );
        assert!(cache.get(&other_url).is_none());
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_the_newest() {
        let cache = DiscoveryCache::new(Duration::from_secs(300));
        for n in 0..MAX_ENTRIES + 10 {
            cache.put(key(n), discovery());
        }
        let len = cache.entries.lock().map(|e| e.len()).unwrap_or_default();
        assert_eq!(len, MAX_ENTRIES);
        assert!(cache.get(&key(MAX_ENTRIES + 9)).is_some());
    }
}
