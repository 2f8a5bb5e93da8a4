//! Resources, resource templates, prompts and completions of a session's
//! upstreams: `resources/list`, `resources/templates/list`, `resources/read`,
//! `resources/subscribe`, `resources/unsubscribe`, `prompts/list`,
//! `prompts/get` and `completion/complete` on the gateway.
//!
//! Unlike tools, these are not cached in the state store: a list fans out
//! concurrently to the live links of the servers in scope, each under
//! `upstream.tool_fetch_timeout_seconds`, and skips servers that did not
//! advertise the capability. On `/mcp` ([`Scope::All`]) one server that
//! fails or is slow is logged and left out, so the rest still list; on the
//! per-server route ([`Scope::Server`]) its error is the answer.
//!
//! Naming on [`Scope::All`]: prompts are `{server}__{prompt}` through
//! [`NameMap`], exactly like tools; resource and template URIs become
//! `manifold://{server}/{uri}` ([`wrap_uri`]), and the `uri` of every
//! content a read returns is wrapped the same way. Everything else (titles,
//! descriptions, MIME types, annotations, `_meta`) passes through. On
//! [`Scope::Server`] names and URIs are the upstream's own.
//!
//! Requests for one item go to its owner with the original name or URI
//! (a server that advertised no resources owns no URI),
//! under `upstream.call_timeout_seconds`; upstream MCP errors pass through
//! unchanged, and MRTR `input_required` results are returned as they are.
//! Resolving a prompt name lists the prompts of only the servers whose
//! `{server}__` prefix the name carries (every name [`NameMap`] gives a
//! server's prompt starts with it), so `prompts/get` usually asks one server.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResponse,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, Prompt,
    ReadResourceRequestParams, ReadResourceResponse, Reference, Resource, ResourceContents,
    ResourceTemplate, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::{ErrorData as McpError, ServiceError};
use serde_json::json;

use crate::auth::Principal;
use crate::error::Error;
use crate::gateway::handler::{Scope, mcp_error};
use crate::gateway::namespace::{DEFAULT_SEPARATOR, NameMap, unwrap_uri, wrap_uri};
use crate::state::AppState;
use crate::upstream::Link;

/// Items per page of an aggregated list; clients follow `nextCursor`.
pub const PAGE: usize = 500;

/// What an upstream must have advertised to be asked.
#[derive(Debug, Clone, Copy)]
enum Capability {
    Resources,
    Prompts,
}

/// Whether the upstream behind `link` advertised `capability`.
fn advertises(link: &Link, capability: Capability) -> bool {
    link.peer()
        .peer_info()
        .is_some_and(|info| match capability {
            Capability::Resources => info.capabilities.resources.is_some(),
            Capability::Prompts => info.capabilities.prompts.is_some(),
        })
}

fn unknown_resource(uri: &str) -> McpError {
    McpError::resource_not_found(
        format!("unknown resource: {uri}"),
        Some(json!({"code": "unknown_resource", "uri": uri})),
    )
}

fn unknown_prompt(name: &str) -> McpError {
    McpError::invalid_params(
        format!("unknown prompt: {name}"),
        Some(json!({"code": "unknown_prompt"})),
    )
}

fn not_connected(server: &str) -> McpError {
    mcp_error(Error::Upstream {
        code: "server_not_connected",
        message: format!("{server} is not connected in this session"),
    })
}

fn timed_out(server: &str, what: &str, limit: Duration) -> McpError {
    McpError::internal_error(
        format!("{server}: no answer to {what} within {} s", limit.as_secs()),
        Some(json!({"code": "upstream_timeout"})),
    )
}

/// An upstream's failure as the gateway's answer: its own MCP error passes
/// through; transport trouble is logged (it may name a URL) and summarised.
fn upstream_failed(server: &str, what: &str, err: ServiceError, limit: Duration) -> McpError {
    match err {
        ServiceError::McpError(err) => err,
        ServiceError::Timeout { .. } => timed_out(server, what, limit),
        other => {
            tracing::warn!(%server, error = %other, "{what} failed");
            McpError::internal_error(
                format!("{server}: {what} failed"),
                Some(json!({"code": "upstream_protocol_error"})),
            )
        }
    }
}

/// Runs one request to `server` under the call timeout.
async fn forward<T>(
    app: &AppState,
    server: &str,
    what: &str,
    request: impl Future<Output = Result<T, ServiceError>>,
) -> Result<T, McpError> {
    let limit = Duration::from_secs(app.settings().upstream.call_timeout_seconds);
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(err)) => Err(upstream_failed(server, what, err, limit)),
        Err(_) => Err(timed_out(server, what, limit)),
    }
}

/// The session's connected servers.
async fn connected(app: &AppState, principal: &Principal) -> Result<Vec<String>, McpError> {
    app.state_store()
        .connected_servers(&principal.session)
        .await
        .map_err(mcp_error)
}

/// The servers `scope` exposes; the per-server route's server must be
/// connected.
async fn servers_in_scope(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
) -> Result<Vec<String>, McpError> {
    let servers = connected(app, principal).await?;
    match scope {
        Scope::All => Ok(servers),
        Scope::Server(name) if servers.contains(name) => Ok(vec![name.clone()]),
        Scope::Server(name) => Err(not_connected(name)),
    }
}

/// The live link to `server`, reopened when this process has none.
async fn link(app: &AppState, principal: &Principal, server: &str) -> Result<Arc<Link>, McpError> {
    app.sessions()
        .link(principal, server)
        .await
        .map_err(mcp_error)
}

/// The live link to the owner of the resource the client called
/// `client_uri`; an owner that advertised no resources has none.
async fn resource_owner(
    app: &AppState,
    principal: &Principal,
    server: &str,
    client_uri: &str,
) -> Result<Arc<Link>, McpError> {
    let link = link(app, principal, server).await?;
    if advertises(&link, Capability::Resources) {
        Ok(link)
    } else {
        Err(unknown_resource(client_uri))
    }
}

/// Lists `what` on every server of `servers` that advertised `capability`,
/// concurrently. On [`Scope::All`] a failing server is logged and left out;
/// otherwise its error is returned.
async fn fan_out<T, F, Fut>(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    servers: Vec<String>,
    capability: Capability,
    what: &'static str,
    list: F,
) -> Result<Vec<(String, Vec<T>)>, McpError>
where
    F: Fn(Arc<Link>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ServiceError>>,
{
    let limit = Duration::from_secs(app.settings().upstream.tool_fetch_timeout_seconds);
    let list = &list;
    let one = |server: String| async move {
        let result = tokio::time::timeout(limit, async {
            let link = link(app, principal, &server).await?;
            if !advertises(&link, capability) {
                return Ok(Vec::new());
            }
            list(link)
                .await
                .map_err(|err| upstream_failed(&server, what, err, limit))
        })
        .await
        .unwrap_or_else(|_| Err(timed_out(&server, what, limit)));
        (server, result)
    };
    let answers = futures::future::join_all(servers.into_iter().map(one)).await;
    let mut lists = Vec::with_capacity(answers.len());
    for (server, result) in answers {
        match result {
            Ok(items) => lists.push((server, items)),
            Err(err) if *scope == Scope::All => tracing::warn!(
                session = %principal.session,
                %server,
                error = %err.message,
                "{what}: leaving this server out"
            ),
            Err(err) => return Err(err),
        }
    }
    Ok(lists)
}

/// The key after which a page starts, from a cursor this module made.
fn decode_cursor(cursor: Option<String>) -> Result<Option<String>, McpError> {
    cursor
        .map(|cursor| {
            URL_SAFE_NO_PAD
                .decode(&cursor)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .ok_or_else(|| {
                    McpError::invalid_params(
                        "the cursor is not one this server returned",
                        Some(json!({"code": "invalid_cursor"})),
                    )
                })
        })
        .transpose()
}

/// One page of `items` ordered by `key` (the first of equal keys kept),
/// starting after `after`, and the cursor of the next page when there is one.
fn page<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> &str,
    after: Option<&str>,
    size: usize,
) -> (Vec<T>, Option<String>) {
    items.sort_by(|a, b| key(a).cmp(key(b)));
    items.dedup_by(|a, b| key(a) == key(b));
    if let Some(after) = after {
        items.retain(|item| key(item) > after);
    }
    if items.len() <= size {
        return (items, None);
    }
    items.truncate(size);
    let next = items
        .last()
        .map(|item| URL_SAFE_NO_PAD.encode(key(item).as_bytes()));
    (items, next)
}

/// `resources/list`: the resources of every server in scope.
#[tracing::instrument(skip_all, fields(session = %principal.session))]
pub async fn list_resources(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    cursor: Option<String>,
) -> Result<ListResourcesResult, McpError> {
    let after = decode_cursor(cursor)?;
    let servers = servers_in_scope(app, principal, scope).await?;
    let lists = fan_out(
        app,
        principal,
        scope,
        servers,
        Capability::Resources,
        "resources/list",
        |link| async move { link.peer().list_all_resources().await },
    )
    .await?;
    let mut resources: Vec<Resource> = Vec::new();
    for (server, items) in lists {
        for mut resource in items {
            if *scope == Scope::All {
                resource.uri = wrap_uri(&server, &resource.uri);
            }
            resources.push(resource);
        }
    }
    let (resources, next_cursor) = page(resources, |r| &r.uri, after.as_deref(), PAGE);
    let mut result = ListResourcesResult::with_all_items(resources);
    result.next_cursor = next_cursor;
    Ok(result)
}

/// `resources/templates/list`: the resource templates of every server in scope.
#[tracing::instrument(skip_all, fields(session = %principal.session))]
pub async fn list_resource_templates(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    cursor: Option<String>,
) -> Result<ListResourceTemplatesResult, McpError> {
    let after = decode_cursor(cursor)?;
    let servers = servers_in_scope(app, principal, scope).await?;
    let lists = fan_out(
        app,
        principal,
        scope,
        servers,
        Capability::Resources,
        "resources/templates/list",
        |link| async move { link.peer().list_all_resource_templates().await },
    )
    .await?;
    let mut templates: Vec<ResourceTemplate> = Vec::new();
    for (server, items) in lists {
        for mut template in items {
            if *scope == Scope::All {
                template.uri_template = wrap_uri(&server, &template.uri_template);
            }
            templates.push(template);
        }
    }
    let (templates, next_cursor) = page(templates, |t| &t.uri_template, after.as_deref(), PAGE);
    let mut result = ListResourceTemplatesResult::with_all_items(templates);
    result.next_cursor = next_cursor;
    Ok(result)
}

/// The prompts of `servers` in scope, named for the client, with the map
/// back to (server, prompt).
async fn named_prompts(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    servers: Vec<String>,
) -> Result<(Vec<(String, Prompt)>, NameMap), McpError> {
    let lists = fan_out(
        app,
        principal,
        scope,
        servers,
        Capability::Prompts,
        "prompts/list",
        |link| async move { link.peer().list_all_prompts().await },
    )
    .await?;
    let prompts: Vec<(String, Prompt)> = lists
        .into_iter()
        .flat_map(|(server, items)| items.into_iter().map(move |p| (server.clone(), p)))
        .collect();
    let names = NameMap::build(
        prompts.iter().map(|(s, p)| (s.as_str(), p.name.as_str())),
        DEFAULT_SEPARATOR,
    );
    Ok((prompts, names))
}

/// `prompts/list`: the prompts of every server in scope.
#[tracing::instrument(skip_all, fields(session = %principal.session))]
pub async fn list_prompts(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    cursor: Option<String>,
) -> Result<ListPromptsResult, McpError> {
    let after = decode_cursor(cursor)?;
    let servers = servers_in_scope(app, principal, scope).await?;
    let (prompts, names) = named_prompts(app, principal, scope, servers).await?;
    // (server, upstream name) → client-visible name, in one pass.
    let visible: HashMap<(&str, &str), &str> = names
        .names()
        .filter_map(|name| names.resolve(name).map(|pair| (pair, name)))
        .collect();
    let prompts: Vec<Prompt> = prompts
        .iter()
        .filter_map(|(server, prompt)| {
            let mut prompt = prompt.clone();
            if *scope == Scope::All {
                prompt.name = (*visible.get(&(server.as_str(), prompt.name.as_str()))?).to_owned();
            }
            Some(prompt)
        })
        .collect();
    let (prompts, next_cursor) = page(prompts, |p| &p.name, after.as_deref(), PAGE);
    let mut result = ListPromptsResult::with_all_items(prompts);
    result.next_cursor = next_cursor;
    Ok(result)
}

/// Whether `name` can be the client-visible name of a prompt of `server`.
/// Every name [`NameMap`] gives starts with the plain candidate cut to at
/// least 55 characters, and a server name (at most 32 characters of the
/// allowed set) plus the separator is never cut or changed.
fn may_own(server: &str, name: &str) -> bool {
    name.strip_prefix(server)
        .is_some_and(|rest| rest.starts_with(DEFAULT_SEPARATOR))
}

/// The (server, upstream prompt name) behind a prompt name the client sent.
async fn resolve_prompt(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    name: &str,
) -> Result<(String, String), McpError> {
    let servers = servers_in_scope(app, principal, scope).await?;
    if let Scope::Server(server) = scope {
        return Ok((server.clone(), name.to_owned()));
    }
    let candidates: Vec<String> = servers.into_iter().filter(|s| may_own(s, name)).collect();
    if candidates.is_empty() {
        return Err(unknown_prompt(name));
    }
    let (_, names) = named_prompts(app, principal, scope, candidates).await?;
    names
        .resolve(name)
        .map(|(server, prompt)| (server.to_owned(), prompt.to_owned()))
        .ok_or_else(|| unknown_prompt(name))
}

/// The (server, upstream URI) behind a resource or template URI the client
/// sent.
async fn resolve_uri(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    uri: &str,
) -> Result<(String, String), McpError> {
    let servers = servers_in_scope(app, principal, scope).await?;
    match scope {
        Scope::Server(server) => Ok((server.clone(), uri.to_owned())),
        Scope::All => {
            let (server, original) = unwrap_uri(uri).ok_or_else(|| unknown_resource(uri))?;
            if !servers.iter().any(|s| s == server) {
                return Err(unknown_resource(uri));
            }
            Ok((server.to_owned(), original.to_owned()))
        }
    }
}

/// `resources/read`: forwarded to the owner with its own URI; on `/mcp` the
/// `uri` of every returned content is wrapped again.
#[tracing::instrument(skip_all, fields(session = %principal.session, server))]
pub async fn read_resource(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    mut request: ReadResourceRequestParams,
) -> Result<ReadResourceResponse, McpError> {
    let (server, uri) = resolve_uri(app, principal, scope, &request.uri).await?;
    tracing::Span::current().record("server", server.as_str());
    let client_uri = std::mem::replace(&mut request.uri, uri);
    request.meta = None;
    let link = resource_owner(app, principal, &server, &client_uri).await?;
    let response = forward(
        app,
        &server,
        "resources/read",
        link.peer().read_resource_once(request),
    )
    .await?;
    Ok(match response {
        ReadResourceResponse::Complete(mut result) if *scope == Scope::All => {
            for content in &mut result.contents {
                match content {
                    ResourceContents::TextResourceContents { uri, .. }
                    | ResourceContents::BlobResourceContents { uri, .. } => {
                        *uri = wrap_uri(&server, uri);
                    }
                    _ => {}
                }
            }
            ReadResourceResponse::Complete(result)
        }
        other => other,
    })
}

/// `resources/subscribe`: forwarded to the owner with its own URI.
#[tracing::instrument(skip_all, fields(session = %principal.session, server))]
pub async fn subscribe(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    request: SubscribeRequestParams,
) -> Result<(), McpError> {
    let (server, uri) = resolve_uri(app, principal, scope, &request.uri).await?;
    tracing::Span::current().record("server", server.as_str());
    let link = resource_owner(app, principal, &server, &request.uri).await?;
    #[allow(deprecated)] // the legacy method is what pre-2026-07-28 upstreams speak
    let request = link.peer().subscribe(SubscribeRequestParams::new(uri));
    forward(app, &server, "resources/subscribe", request).await
}

/// `resources/unsubscribe`: forwarded to the owner with its own URI.
#[tracing::instrument(skip_all, fields(session = %principal.session, server))]
pub async fn unsubscribe(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    request: UnsubscribeRequestParams,
) -> Result<(), McpError> {
    let (server, uri) = resolve_uri(app, principal, scope, &request.uri).await?;
    tracing::Span::current().record("server", server.as_str());
    let link = resource_owner(app, principal, &server, &request.uri).await?;
    #[allow(deprecated)] // the legacy method is what pre-2026-07-28 upstreams speak
    let request = link.peer().unsubscribe(UnsubscribeRequestParams::new(uri));
    forward(app, &server, "resources/unsubscribe", request).await
}

/// `prompts/get`: forwarded to the owner with its own prompt name; the
/// result is returned unchanged.
#[tracing::instrument(skip_all, fields(session = %principal.session, server))]
pub async fn get_prompt(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    mut request: GetPromptRequestParams,
) -> Result<GetPromptResponse, McpError> {
    let (server, name) = resolve_prompt(app, principal, scope, &request.name).await?;
    tracing::Span::current().record("server", server.as_str());
    request.name = name;
    request.meta = None;
    let link = link(app, principal, &server).await?;
    forward(
        app,
        &server,
        "prompts/get",
        link.peer().get_prompt_once(request),
    )
    .await
}

/// `completion/complete`: the prompt or resource template reference is
/// resolved to its owner, which answers; the result is returned unchanged.
#[tracing::instrument(skip_all, fields(session = %principal.session, server))]
pub async fn complete(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    mut request: CompleteRequestParams,
) -> Result<CompleteResult, McpError> {
    let server = match &mut request.r#ref {
        Reference::Prompt(prompt) => {
            let (server, name) = resolve_prompt(app, principal, scope, &prompt.name).await?;
            prompt.name = name;
            server
        }
        Reference::Resource(template) => {
            let (server, uri) = resolve_uri(app, principal, scope, &template.uri).await?;
            template.uri = uri;
            server
        }
        _ => {
            return Err(McpError::invalid_params(
                "completion is available for prompts and resource templates only",
                Some(json!({"code": "unsupported_reference"})),
            ));
        }
    };
    tracing::Span::current().record("server", server.as_str());
    request.meta = None;
    let link = link(app, principal, &server).await?;
    forward(
        app,
        &server,
        "completion/complete",
        link.peer().complete(request),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pages_are_ordered_deduplicated_and_follow_their_cursor() {
        let items = keys(&["c", "a", "b", "a", "e", "d"]);
        let (first, next) = page(items.clone(), |s| s, None, 2);
        assert_eq!(first, keys(&["a", "b"]));
        let after = decode_cursor(next).expect("our cursor decodes");
        let (second, next) = page(items.clone(), |s| s, after.as_deref(), 2);
        assert_eq!(second, keys(&["c", "d"]));
        let after = decode_cursor(next).expect("our cursor decodes");
        let (last, next) = page(items, |s| s, after.as_deref(), 2);
        assert_eq!(last, keys(&["e"]));
        assert_eq!(next, None);
    }

    #[test]
    fn forged_cursors_are_refused_with_a_code() {
        let err = decode_cursor(Some("%%%not base64".into())).expect_err("refused");
        assert_eq!(err.data, Some(json!({"code": "invalid_cursor"})));
        let not_utf8 = URL_SAFE_NO_PAD.encode([0xff, 0xfe]);
        assert!(decode_cursor(Some(not_utf8)).is_err());
    }

    #[test]
    fn a_prompt_name_belongs_only_to_servers_whose_prefix_it_carries() {
        assert!(may_own("fx", "fx__greet"));
        assert!(!may_own("fx", "fxy__greet"));
        assert!(!may_own("f", "fx__greet"));
        assert!(may_own("a", "a__b__c") && may_own("a__b", "a__b__c"));
    }

    proptest! {
        /// Resolving a name through the servers whose prefix it carries
        /// gives the same owner as resolving it through all of them.
        #[test]
        fn resolving_through_prefix_candidates_matches_the_full_map(
            pairs in prop::collection::vec(
                ("[a-c][a-c_]{0,4}", "[a-c_.]{1,6}|[a-z]{60,70}"),
                1..30,
            )
        ) {
            let refs: Vec<(&str, &str)> =
                pairs.iter().map(|(s, p)| (s.as_str(), p.as_str())).collect();
            let full = NameMap::build(refs.iter().copied(), DEFAULT_SEPARATOR);
            for name in full.names() {
                let subset = NameMap::build(
                    refs.iter().copied().filter(|(s, _)| may_own(s, name)),
                    DEFAULT_SEPARATOR,
                );
                prop_assert_eq!(subset.resolve(name), full.resolve(name), "{}", name);
            }
        }
    }
}
