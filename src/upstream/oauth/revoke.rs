//! Forgetting a user's authorization of a server: the tokens are revoked at
//! the authorization server (RFC 7009) when its metadata advertises a
//! `revocation_endpoint`, best effort, then deleted here whatever happened
//! there.

use rmcp::transport::auth::AuthorizationMetadata;
use serde_json::Value;

use super::OAuthBroker;
use super::store::Vault;
use crate::catalog::Server;
use crate::error::Result;
use crate::principal::Principal;
use crate::secret::Secret;

/// What the authorization server was told.
enum Outcome {
    /// Every stored token was revoked.
    Revoked,
    /// The metadata has no `revocation_endpoint`.
    Unsupported,
    /// The stored record holds no token.
    NoTokens,
}

impl OAuthBroker {
    /// Forgets the principal's tokens for the server; whether there were
    /// any. They are revoked upstream first (refresh token, then access
    /// token), within the connect timeout; a failure there is logged and
    /// the tokens are deleted anyway.
    pub async fn revoke(&self, principal: &Principal, server: &Server) -> Result<bool> {
        let catalog = &self.inner.catalog;
        // No refresh of these tokens runs meanwhile, in this process or on
        // another replica (the refresh lease): none can save new tokens
        // after they are deleted.
        let _refreshing = self
            .inner
            .locks
            .acquire(&principal.user_id, &server.id)
            .await?;
        if let Some(raw) = catalog
            .get_oauth_credentials(&principal.user_id, &server.id)
            .await?
        {
            let bound = self.inner.options.connect_timeout;
            let user = principal.user_id.as_str();
            match tokio::time::timeout(bound, self.revoke_upstream(server, &raw)).await {
                Ok(Ok(Outcome::Revoked)) => {
                    tracing::info!(server = %server.name, user, "tokens revoked at the authorization server");
                }
                Ok(Ok(Outcome::Unsupported)) => {
                    tracing::debug!(server = %server.name, user,
                        "the authorization server advertises no revocation endpoint");
                }
                Ok(Ok(Outcome::NoTokens)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(server = %server.name, user, %error,
                        "could not revoke the tokens at the authorization server; forgetting them anyway");
                }
                Err(_) => {
                    tracing::warn!(server = %server.name, user, timeout = ?bound,
                        "revoking the tokens at the authorization server timed out; forgetting them anyway");
                }
            }
        }
        let gone = catalog
            .delete_oauth_credentials(&principal.user_id, &server.id)
            .await?;
        if gone {
            tracing::info!(server = %server.name, user = %principal.user_id, "authorization revoked");
        }
        Ok(gone)
    }

    /// Sends the stored tokens to the revocation endpoint. The error says
    /// what failed, never a token.
    async fn revoke_upstream(
        &self,
        server: &Server,
        raw: &Secret<String>,
    ) -> std::result::Result<Outcome, String> {
        let vault = Vault::parse(raw).map_err(|e| e.to_string())?;
        let response = vault
            .credentials
            .token_response
            .as_ref()
            .and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or_default();
        let token = |name: &str| {
            response
                .get(name)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        let tokens: Vec<(String, &str)> = [
            (token("refresh_token"), "refresh_token"),
            (token("access_token"), "access_token"),
        ]
        .into_iter()
        .filter_map(|(token, hint)| token.map(|t| (t, hint)))
        .collect();
        if tokens.is_empty() {
            return Ok(Outcome::NoTokens);
        }
        let (_, metadata) = self
            .discover(server)
            .await
            .map_err(|e| format!("discovery: {e}"))?;
        let Some(endpoint) = metadata
            .additional_fields
            .get("revocation_endpoint")
            .and_then(Value::as_str)
        else {
            return Ok(Outcome::Unsupported);
        };
        let endpoint = url::Url::parse(endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| format!("revocation_endpoint {endpoint:?} is not an http(s) URL"))?;
        // Tokens go only to the authorization server that issued them.
        if let (Some(issued_by), Some(now)) = (&vault.credentials.issuer, &metadata.issuer)
            && issued_by.trim_end_matches('/') != now.trim_end_matches('/')
        {
            return Err(format!(
                "the tokens were issued by {issued_by}, the server's authorization server is now {now}"
            ));
        }
        let client = ClientAuth::new(
            &metadata,
            &vault.credentials.client_id,
            vault.client_secret.as_deref(),
        );
        let mut failures = Vec::new();
        for (token, hint) in &tokens {
            let mut form = vec![("token", token.as_str()), ("token_type_hint", *hint)];
            let mut request = self.inner.http.post(endpoint.clone());
            request = client.apply(request, &mut form);
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&form)
                .finish();
            let result = request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(reqwest::header::ACCEPT, "application/json")
                .body(body)
                .send()
                .await;
            match result {
                Ok(resp) if resp.status() == reqwest::StatusCode::OK => {}
                Ok(resp) => {
                    failures.push(format!("{hint}: the endpoint answered {}", resp.status()))
                }
                Err(e) => failures.push(format!("{hint}: {}", with_causes(&e))),
            }
        }
        if failures.is_empty() {
            Ok(Outcome::Revoked)
        } else {
            Err(failures.join("; "))
        }
    }
}

/// How the client authenticates at the revocation endpoint: as at the token
/// endpoint (rmcp's choice there): a public client names itself in the
/// body; a confidential one uses HTTP Basic unless the server supports
/// only `client_secret_post`. `revocation_endpoint_auth_methods_supported`
/// is read first, then `token_endpoint_auth_methods_supported`.
struct ClientAuth<'a> {
    client_id: &'a str,
    secret: Option<&'a str>,
    post: bool,
}

impl<'a> ClientAuth<'a> {
    fn new(metadata: &AuthorizationMetadata, client_id: &'a str, secret: Option<&'a str>) -> Self {
        let methods = ["revocation", "token"]
            .iter()
            .find_map(|e| {
                metadata
                    .additional_fields
                    .get(&format!("{e}_endpoint_auth_methods_supported"))
                    .and_then(Value::as_array)
            })
            .map(|m| m.iter().filter_map(Value::as_str).collect::<Vec<_>>())
            .unwrap_or_default();
        let has = |m: &str| methods.contains(&m);
        Self {
            client_id,
            secret,
            post: has("client_secret_post") && !has("client_secret_basic"),
        }
    }

    /// Adds the client's credentials to the request or to its `form`.
    fn apply<'f>(
        &self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(&'f str, &'f str)>,
    ) -> reqwest::RequestBuilder
    where
        'a: 'f,
    {
        match self.secret {
            Some(secret) if !self.post => {
                // RFC 6749 §2.3.1: both parts form-encoded before Basic.
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request.basic_auth(encode(self.client_id), Some(encode(secret)))
            }
            Some(secret) => {
                form.push(("client_id", self.client_id));
                form.push(("client_secret", secret));
                request
            }
            None => {
                form.push(("client_id", self.client_id));
                request
            }
        }
    }
}

/// An error and its causes, `: `-separated (reqwest's own message is only
/// "error sending request").
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(methods: &[&str]) -> AuthorizationMetadata {
        let mut metadata = AuthorizationMetadata::default();
        metadata.additional_fields.insert(
            "token_endpoint_auth_methods_supported".into(),
            serde_json::json!(methods),
        );
        metadata
    }

    /// The `Authorization` header and the form `auth` produces.
    fn applied(auth: &ClientAuth<'_>) -> (Option<String>, Vec<(String, String)>) {
        let mut form = vec![("token", "t")];
        let request = auth
            .apply(
                reqwest::Client::new().post("https://as.example.com/revoke"),
                &mut form,
            )
            .build()
            .expect("a request");
        let header = request
            .headers()
            .get(reqwest::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let form = form
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        (header, form)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_public_client_names_itself_in_the_body() {
        let metadata = metadata(&["none"]);
        let (header, form) = applied(&ClientAuth::new(&metadata, "cli", None));
        assert_eq!(header, None);
        assert_eq!(form, pairs(&[("token", "t"), ("client_id", "cli")]));
    }

    #[test]
    fn a_confidential_client_uses_basic_with_form_encoded_parts() {
        let metadata = metadata(&["client_secret_basic", "client_secret_post"]);
        let (header, form) = applied(&ClientAuth::new(&metadata, "c li", Some("s:e")));
        // base64("c+li:s%3Ae")
        assert_eq!(header.as_deref(), Some("Basic YytsaTpzJTNBZQ=="));
        assert_eq!(form, pairs(&[("token", "t")]));
    }

    #[test]
    fn a_server_with_only_client_secret_post_gets_the_secret_in_the_body() {
        let metadata = metadata(&["client_secret_post"]);
        let (header, form) = applied(&ClientAuth::new(&metadata, "cli", Some("sec")));
        assert_eq!(header, None);
        assert_eq!(
            form,
            pairs(&[
                ("token", "t"),
                ("client_id", "cli"),
                ("client_secret", "sec")
            ])
        );
    }

    #[test]
    fn revocation_endpoint_methods_come_before_the_token_endpoints() {
        let mut metadata = metadata(&["client_secret_basic"]);
        metadata.additional_fields.insert(
            "revocation_endpoint_auth_methods_supported".into(),
            serde_json::json!(["client_secret_post"]),
        );
        let (header, _) = applied(&ClientAuth::new(&metadata, "cli", Some("sec")));
        assert_eq!(header, None);
    }
}
