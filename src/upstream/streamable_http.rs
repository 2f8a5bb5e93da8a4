//! Streamable-HTTP links (protocol 2025-03-26 and later), through rmcp's
//! client over a reqwest client that resolves names through the egress policy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{AuthClient, StreamableHttpClientTransport};

use crate::error::Error;
use crate::upstream::health::LinkHealth;
use crate::upstream::http_call::http1::Http1;
use crate::upstream::http_watch::HttpWatch;
use crate::upstream::raw::RawHttp;
use crate::upstream::{LinkOptions, Remote, Target, UpstreamClient, init_error};

/// How a dropped event stream is retried: after 100, 200, 400 and 800 ms,
/// then no more.
fn retry_policy() -> ExponentialBackoff {
    let mut retry = ExponentialBackoff::default();
    retry.base_duration = Duration::from_millis(100);
    retry.max_delay = Some(Duration::from_secs(1));
    retry.max_times = Some(4);
    retry
}

/// A reqwest client for upstream HTTP: egress-checked DNS, connect timeout.
pub(crate) fn http_client(options: &LinkOptions) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .dns_resolver(options.egress.resolver())
        .connect_timeout(options.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(Error::internal)
}

/// Connects and runs the MCP handshake.
pub(crate) async fn open(
    target: &Target,
    remote: &Remote,
    options: &LinkOptions,
    client: UpstreamClient,
    health: &Arc<LinkHealth>,
) -> Result<(RunningService<RoleClient, UpstreamClient>, Option<u32>), Error> {
    let url = &remote.url;
    let mut headers = HashMap::new();
    let mut auth_header = None;
    for (name, value) in target.all_headers() {
        if name.eq_ignore_ascii_case("authorization") {
            // rmcp sends this one itself, as `Authorization: Bearer <value>`.
            auth_header = Some(value.strip_prefix("Bearer ").unwrap_or(&value).to_owned());
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(Error::internal)?;
        let value = HeaderValue::from_str(&value).map_err(Error::internal)?;
        headers.insert(name, value);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
    config.custom_headers = headers;
    config.max_concurrent_requests = options.max_in_flight.max(1);
    // A dropped event stream is retried briefly; a refused retry breaks the
    // link (see `HttpWatch`) instead of waiting through a long back-off.
    config.retry_config = Arc::new(retry_policy());
    // Under everything: reqwest, with answers wanted raw read through the lane.
    let http1 = Http1::of(url, options.egress, options.connect_timeout);
    let http = RawHttp::new(http_client(options)?, http1, health.lane().clone());
    let server = target.name.as_str();
    let service = match &target.oauth {
        // Each request carries this user's access token, refreshed before
        // it expires and once more when the upstream answers 401.
        Some(auth) => {
            let manager = auth.manager().await?;
            let watched = auth.watch_scope(AuthClient::new(http, manager));
            let watched = HttpWatch::new(watched, health.clone(), server);
            let transport = StreamableHttpClientTransport::with_client(watched, config);
            client.serve(transport).await
        }
        None => {
            config.auth_header = auth_header;
            let watched = HttpWatch::new(http, health.clone(), server);
            client
                .serve(StreamableHttpClientTransport::with_client(watched, config))
                .await
        }
    }
    .map_err(|e| init_error(target, e))?;
    Ok((service, None))
}
