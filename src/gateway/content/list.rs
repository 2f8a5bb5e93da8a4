//! The aggregated lists: `resources/list`, `resources/templates/list` and
//! `prompts/list`, fanned out to the servers in scope and paged.

use crate::error::ErrorCode;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::model::{
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, Prompt, Resource,
    ResourceTemplate,
};
use rmcp::{ErrorData as McpError, ServiceError};

use super::{Capability, Kind, advertises, link, servers_in_scope, timed_out, upstream_failed};
use crate::gateway::handler::Scope;
use crate::gateway::namespace::{DEFAULT_SEPARATOR, NameMap, wrap_uri};
use crate::principal::Principal;
use crate::state::AppState;
use crate::upstream::Link;

/// Items per page of an aggregated list; clients follow `nextCursor`.
pub const PAGE: usize = 500;

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
            Err(err) if scope.is_aggregate() => tracing::warn!(
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
pub(crate) fn decode_cursor(cursor: Option<String>) -> Result<Option<String>, McpError> {
    cursor
        .map(|cursor| {
            URL_SAFE_NO_PAD
                .decode(&cursor)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .ok_or_else(|| {
                    ErrorCode::InvalidCursor
                        .mcp_error("the cursor is not one this server returned", &[])
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

/// The resources (or resource templates) of every server in scope, their
/// URIs wrapped on [`Scope::All`], as one page after `cursor`.
#[allow(clippy::too_many_arguments)]
async fn list_uris<T, F, Fut>(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    cursor: Option<String>,
    what: &'static str,
    list: F,
    uri: fn(&mut T) -> &mut String,
) -> Result<(Vec<T>, Option<String>), McpError>
where
    F: Fn(Arc<Link>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ServiceError>>,
{
    let after = decode_cursor(cursor)?;
    let servers = servers_in_scope(app, principal, scope, Kind::Resources).await?;
    let lists = fan_out(
        app,
        principal,
        scope,
        servers,
        Capability::Resources,
        what,
        list,
    )
    .await?;
    let mut keyed: Vec<(String, T)> = Vec::new();
    for (server, found) in lists {
        for mut item in found {
            if scope.is_aggregate() {
                let wrapped = wrap_uri(&server, uri(&mut item));
                *uri(&mut item) = wrapped;
            }
            keyed.push((uri(&mut item).clone(), item));
        }
    }
    let (keyed, next) = page(keyed, |(key, _)| key.as_str(), after.as_deref(), PAGE);
    Ok((keyed.into_iter().map(|(_, item)| item).collect(), next))
}

/// `resources/list`: the resources of every server in scope.
#[tracing::instrument(skip_all, fields(session = %principal.session))]
pub async fn list_resources(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    cursor: Option<String>,
) -> Result<ListResourcesResult, McpError> {
    let (resources, next_cursor) = list_uris(
        app,
        principal,
        scope,
        cursor,
        "resources/list",
        |link| async move { link.peer().list_all_resources().await },
        |r: &mut Resource| &mut r.uri,
    )
    .await?;
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
    let (templates, next_cursor) = list_uris(
        app,
        principal,
        scope,
        cursor,
        "resources/templates/list",
        |link| async move { link.peer().list_all_resource_templates().await },
        |t: &mut ResourceTemplate| &mut t.uri_template,
    )
    .await?;
    let mut result = ListResourceTemplatesResult::with_all_items(templates);
    result.next_cursor = next_cursor;
    Ok(result)
}

/// The prompts of `servers` in scope, named for the client, with the map
/// back to (server, prompt).
pub(super) async fn named_prompts(
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
    let servers = servers_in_scope(app, principal, scope, Kind::Prompts).await?;
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
            if scope.is_aggregate() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

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
        assert_eq!(err.data, Some(json!({"code": ErrorCode::InvalidCursor})));
        let not_utf8 = URL_SAFE_NO_PAD.encode([0xff, 0xfe]);
        assert!(decode_cursor(Some(not_utf8)).is_err());
    }
}
