//! Finding a server's authorization server: from the upstream's own 401
//! challenge (RFC 9728 protected-resource metadata), then RFC 8414 / OIDC,
//! and the 2025-03-26 own-origin fallback.

use std::sync::{Arc, Mutex};

use rmcp::transport::auth::{
    AuthError, AuthorizationManager, AuthorizationMetadata, AuthorizationMetadataSource,
};

use super::cache::{BrokerHttp, Discovery, Tape};
use super::{OAuthBroker, oauth_error};
use crate::catalog::Server;
use crate::error::{ErrorCode, Result};
use crate::upstream::Target;

impl OAuthBroker {
    /// A manager with the server's authorization metadata: discovery starts
    /// from the upstream's own 401 challenge (its `resource_metadata` and
    /// `scope`), and falls back to the well-known locations. A recent
    /// successful discovery of the same server and URL is replayed instead
    /// (`auth.oauth.discovery_cache_seconds`).
    pub(super) async fn discover(
        &self,
        server: &Server,
    ) -> Result<(AuthorizationManager, AuthorizationMetadata)> {
        let target = Target::from_server(server)?;
        // Only network servers can require OAuth (the catalog refuses it
        // on stdio), so a stdio target here is a broken record.
        let url = target
            .url()
            .ok_or_else(|| {
                crate::error::Error::internal(format!("{} has no URL for OAuth", server.name))
            })?
            .clone();
        let cache = &self.inner.discovery;
        let key = (server.id.as_str().to_owned(), url.to_string());
        let cached = cache.enabled().then(|| cache.get(&key)).flatten();
        let recording = Arc::new(Mutex::new(Some(Default::default())));
        let tape = match &cached {
            Some(discovery) => Tape::Replay(discovery.clone()),
            None if cache.enabled() => Tape::Record(recording.clone()),
            None => Tape::Off,
        };
        let http = BrokerHttp {
            http: self.inner.http.clone(),
            tape,
        };
        let mut manager =
            AuthorizationManager::new_with_oauth_http_client(url.as_str(), Arc::new(http))
                .await
                .map_err(|e| oauth_error(server, ErrorCode::OauthDiscoveryFailed, e))?;
        let challenge = match &cached {
            Some(discovery) => discovery.challenge.clone(),
            None => self.challenge(&target, &url).await,
        };
        let mut legacy = None;
        // Endpoints guessed because no metadata answered may be an outage:
        // not worth keeping.
        let mut guessed = false;
        let metadata = match manager
            .resolve_metadata_from_challenge(challenge.as_deref())
            .await
        {
            Ok(resolution) => {
                guessed = resolution.source == AuthorizationMetadataSource::LegacyEndpointFallback;
                resolution.metadata
            }
            Err(AuthError::AuthorizationServerMismatch {
                expected_issuer,
                received_issuer,
            }) => {
                let own = match cached.as_ref().and_then(|d| d.legacy.clone()) {
                    Some(metadata) => Some(metadata),
                    None => self.legacy_metadata(&url).await,
                };
                match own {
                    Some(metadata) => {
                        tracing::warn!(server = %server.name, %expected_issuer, %received_issuer,
                            "accepting the upstream's own-origin authorization server metadata \
                             despite its issuer (2025-03-26 servers)");
                        legacy = Some(metadata.clone());
                        metadata
                    }
                    None => {
                        return Err(oauth_error(
                            server,
                            ErrorCode::OauthDiscoveryFailed,
                            AuthError::AuthorizationServerMismatch {
                                expected_issuer,
                                received_issuer,
                            },
                        ));
                    }
                }
            }
            Err(err) => return Err(oauth_error(server, ErrorCode::OauthDiscoveryFailed, err)),
        };
        let documents = recording.lock().unwrap_or_else(|e| e.into_inner()).take();
        if cached.is_none()
            && !guessed
            && let Some(documents) = documents
        {
            cache.put(
                key,
                Discovery {
                    challenge,
                    documents,
                    legacy,
                },
            );
        }
        manager.set_metadata(metadata.clone());
        Ok((manager, metadata))
    }

    /// The 2025-03-26 way: authorization-server metadata at the MCP
    /// server's own origin, accepted whatever its `issuer` says only when
    /// every endpoint in it is on that same origin (the upstream is its own
    /// authorization server, so no other server can be mixed up with it).
    async fn legacy_metadata(&self, url: &url::Url) -> Option<AuthorizationMetadata> {
        let mut well_known = url.clone();
        well_known.set_path("/.well-known/oauth-authorization-server");
        well_known.set_query(None);
        let response = self.inner.http.get(well_known).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body = response.bytes().await.ok()?;
        if body.len() > 64 * 1024 {
            return None;
        }
        let metadata: AuthorizationMetadata = serde_json::from_slice(&body).ok()?;
        let same_origin =
            |endpoint: &str| url::Url::parse(endpoint).is_ok_and(|e| e.origin() == url.origin());
        let endpoints = [
            Some(metadata.authorization_endpoint.as_str()),
            Some(metadata.token_endpoint.as_str()),
            metadata.registration_endpoint.as_deref(),
        ];
        let own = endpoints.into_iter().flatten().all(same_origin);
        own.then_some(metadata)
    }

    /// The `WWW-Authenticate` header of the upstream's answer to an
    /// unauthenticated MCP request, when it is a 401 that has one.
    async fn challenge(&self, target: &Target, url: &url::Url) -> Option<String> {
        let mut request = self
            .inner
            .http
            .post(url.clone())
            .header(
                reqwest::header::ACCEPT,
                "application/json, text/event-stream",
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(PROBE_BODY);
        for (name, value) in target.all_headers() {
            if !name.eq_ignore_ascii_case("authorization") {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.ok()?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return None;
        }
        response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// The request that draws an upstream's 401 challenge: an `initialize`, as
/// a client's first request would be.
const PROBE_BODY: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"manifold","version":"0"}}}"#;
