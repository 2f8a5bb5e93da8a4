//! Requests for one item, routed to its owner: `resources/read`,
//! `resources/subscribe`, `resources/unsubscribe`, `prompts/get` and
//! `completion/complete`.

use crate::error::ErrorCode;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResponse,
    ReadResourceRequestParams, ReadResourceResponse, Reference, ResourceContents, ResultType,
    SubscribeRequestParams, UnsubscribeRequestParams,
};

use super::list::named_prompts;
use super::{
    Kind, forward, link, resource_owner, servers_in_scope, unknown_prompt, unknown_resource,
};
use crate::gateway::handler::Scope;
use crate::gateway::namespace::{DEFAULT_SEPARATOR, unwrap_uri, wrap_content_uri, wrap_uri};
use crate::principal::Principal;
use crate::state::AppState;

/// Whether `name` can be the client-visible name of a prompt of `server`.
/// Every name `NameMap` gives starts with the plain candidate cut to at
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
    let servers = servers_in_scope(app, principal, scope, Kind::Prompts).await?;
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
    let servers = servers_in_scope(app, principal, scope, Kind::Resources).await?;
    match scope {
        Scope::Server(server) => Ok((server.clone(), uri.to_owned())),
        Scope::All | Scope::Toolset(_) => {
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
        &link,
        &server,
        "resources/read",
        link.peer().read_resource_once(request),
    )
    .await?;
    Ok(match response {
        ReadResourceResponse::Complete(mut result) => {
            // Results of legacy upstreams carry no `resultType`, which
            // 2026-07-28 clients require (rmcp strips it for legacy clients).
            result.result_type.get_or_insert(ResultType::COMPLETE);
            if !scope.is_aggregate() {
                return Ok(ReadResourceResponse::Complete(result));
            }
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
    forward(app, &link, &server, "resources/subscribe", request).await
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
    forward(app, &link, &server, "resources/unsubscribe", request).await
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
    let mut response = forward(
        app,
        &link,
        &server,
        "prompts/get",
        link.peer().get_prompt_once(request),
    )
    .await?;
    if let GetPromptResponse::Complete(result) = &mut response {
        result.result_type.get_or_insert(ResultType::COMPLETE);
        if scope.is_aggregate() {
            for message in &mut result.messages {
                wrap_content_uri(&server, &mut message.content);
            }
        }
    }
    Ok(response)
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
            return Err(ErrorCode::UnsupportedReference.mcp_error(
                "completion is available for prompts and resource templates only",
                &[],
            ));
        }
    };
    tracing::Span::current().record("server", server.as_str());
    request.meta = None;
    let link = link(app, principal, &server).await?;
    let mut result = forward(
        app,
        &link,
        &server,
        "completion/complete",
        link.peer().complete(request),
    )
    .await?;
    result.result_type.get_or_insert(ResultType::COMPLETE);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::namespace::NameMap;
    use proptest::prelude::*;

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
