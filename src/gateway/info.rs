//! What an MCP session is told about the server it talks to: the
//! capabilities, `serverInfo` and `instructions` of its `initialize` answer
//! (and of `server/discover` for stateless clients).
//!
//! - **`/mcp`** ([`Scope::All`]) advertises everything the gateway relays
//!   ([`gateway`]): servers come and go during a session, and a request for
//!   something no connected server offers is answered per server. Its
//!   instructions explain the namespacing and then quote the instructions
//!   of each connected server under its name ([`compose`]), at most
//!   [`PER_SERVER_INSTRUCTIONS`] bytes per server and
//!   [`TOTAL_INSTRUCTIONS`] bytes in all, so a chatty upstream cannot crowd
//!   the others (or the client's context) out.
//! - **`/mcp/s/{server}`** ([`Scope::Server`]) is meant to be
//!   indistinguishable from the upstream: it advertises exactly the
//!   capabilities the upstream advertised that the gateway relays
//!   ([`relayed`]), with its `instructions` unchanged and its `serverInfo`
//!   (title, version, description, icons, website) passed through, the
//!   name marked `manifold/{upstream name}`.
//! - A per-server route whose server is **not connected** in the caller's
//!   session (or whose link cannot be opened in time) cannot know the
//!   upstream's capabilities: it advertises only tools with `listChanged`
//!   (its tool list is empty, and the gateway announces the server's tools
//!   once it is connected) and says so in its instructions; a client
//!   initializes again to see the rest.
//!
//! A client keeps what `initialize` told it for the whole session, so these
//! answers are computed from the live links when the session starts.

use std::time::Duration;

use rmcp::model::{
    Implementation, PromptsCapability, ResourcesCapability, ServerCapabilities, ServerConfig,
    ServerPeerInfo, ToolsCapability,
};

use crate::gateway::content;
use crate::gateway::handler::Scope;
use crate::principal::Principal;
use crate::state::AppState;

/// The most bytes of one server's instructions quoted on `/mcp`.
pub const PER_SERVER_INSTRUCTIONS: usize = 2 * 1024;

/// The most bytes of the composed instructions on `/mcp`.
pub const TOTAL_INSTRUCTIONS: usize = 8 * 1024;

/// How long `/mcp`'s `initialize` waits for a link to read its server's
/// instructions (a server not up by then is left out of them).
const AGGREGATE_WAIT: Duration = Duration::from_secs(5);

/// What `/mcp` says first (and all it says when no connected server has
/// instructions).
const GATEWAY_INSTRUCTIONS: &str = "Manifold: the tools of your connected MCP servers, named \
{server}__{tool}; their prompts are {server}__{prompt} and their resources \
manifold://{server}/{uri}.";

/// The gateway's own configuration: everything it can relay. This is what
/// `/mcp` advertises and what rmcp checks requests against.
#[allow(deprecated)] // logging is still what pre-2026-07-28 peers use
pub fn gateway() -> ServerConfig {
    ServerConfig::new(
        ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources_subscribe()
            .enable_logging()
            .enable_completions()
            .build(),
    )
    .with_server_info(Implementation::new("manifold", env!("CARGO_PKG_VERSION")))
    .with_instructions(GATEWAY_INSTRUCTIONS)
}

/// What a session of `scope` opened by `principal` is told (the gateway's
/// own configuration when the caller is unknown).
pub async fn describe(
    app: &AppState,
    principal: Option<&Principal>,
    scope: &Scope,
) -> ServerConfig {
    let Some(principal) = principal else {
        return gateway();
    };
    match scope {
        Scope::All => aggregate(app, principal).await,
        Scope::Toolset(name) => toolset(app, principal, name).await,
        Scope::Server(server) => {
            let wait = Duration::from_secs(app.settings().upstream.tool_fetch_timeout_seconds);
            match upstream_info(app, principal, server, wait).await {
                Some(upstream) => per_server(server, &upstream),
                None => not_connected(server),
            }
        }
    }
}

/// What the upstream `server` said in its `initialize` answer, from the
/// session's live link (opened when needed, within `wait`).
async fn upstream_info(
    app: &AppState,
    principal: &Principal,
    server: &str,
    wait: Duration,
) -> Option<ServerPeerInfo> {
    let link = tokio::time::timeout(wait, content::link(app, principal, server)).await;
    match link {
        Ok(Ok(link)) => link.peer().peer_info().map(|info| (*info).clone()),
        Ok(Err(err)) => {
            tracing::debug!(%server, error = %err.message, "no upstream info for initialize");
            None
        }
        Err(_) => {
            tracing::debug!(%server, "no link within the wait for initialize");
            None
        }
    }
}

/// `/mcp`: the gateway's capabilities, and the connected servers'
/// instructions composed under their names.
async fn aggregate(app: &AppState, principal: &Principal) -> ServerConfig {
    let mut config = gateway();
    let mut servers =
        match content::servers_in_scope(app, principal, &Scope::All, content::Kind::Any).await {
            Ok(servers) => servers,
            Err(err) => {
                tracing::debug!(error = %err.message, "no connected servers for initialize");
                return config;
            }
        };
    servers.sort();
    let infos = futures::future::join_all(servers.iter().map(|server| async move {
        let info = upstream_info(app, principal, server, AGGREGATE_WAIT).await;
        (server.clone(), info.and_then(|info| info.instructions))
    }))
    .await;
    let quoted: Vec<(String, String)> = infos
        .into_iter()
        .filter_map(|(server, text)| Some((server, text?)))
        .filter(|(_, text)| !text.trim().is_empty())
        .collect();
    config.instructions = Some(compose(&quoted));
    config
}

/// `/mcp/t/{toolset}`: the gateway's capabilities under the toolset's own
/// name and title, its description as the instructions.
async fn toolset(app: &AppState, principal: &Principal, name: &str) -> ServerConfig {
    let mut config = gateway();
    config.server_info.name = name.to_owned();
    if let Ok(toolset) = app.catalog().get_toolset(principal, name).await {
        if !toolset.title.is_empty() {
            config.server_info.title = Some(toolset.title.clone());
        }
        if !toolset.description.trim().is_empty() {
            config.instructions = Some(toolset.description.clone());
        }
    }
    config
}

/// The gateway's note, then each server's instructions under `## {server}`
/// (each cut at [`PER_SERVER_INSTRUCTIONS`] bytes); servers past
/// [`TOTAL_INSTRUCTIONS`] are named in a closing line instead.
pub fn compose(servers: &[(String, String)]) -> String {
    let mut out = String::from(GATEWAY_INSTRUCTIONS);
    if servers.is_empty() {
        return out;
    }
    out.push_str(
        "\n\nEach connected server's own instructions follow under its name; \
         the names they use carry that server's prefix here.",
    );
    // Room kept for the closing line naming the servers left out.
    let reserve = 256;
    let mut left_out = Vec::new();
    for (server, text) in servers {
        let section = format!(
            "\n\n## {server}\n{}",
            cut(text.trim(), PER_SERVER_INSTRUCTIONS)
        );
        if left_out.is_empty() && out.len() + section.len() + reserve <= TOTAL_INSTRUCTIONS {
            out.push_str(&section);
        } else {
            left_out.push(server.as_str());
        }
    }
    if !left_out.is_empty() {
        let note = format!(
            "\n\n(Instructions of {} more server(s) left out for length: {}.)",
            left_out.len(),
            left_out.join(", ")
        );
        out.push_str(&note);
    }
    cut(&out, TOTAL_INSTRUCTIONS).into_owned()
}

/// `text` cut to at most `max` bytes on a character boundary, ending in
/// `…` when cut.
fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let ellipsis = "…";
    let mut end = max.saturating_sub(ellipsis.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &text[..end]).into()
}

/// The upstream's capabilities that the gateway relays. The list changes
/// are always announced (the gateway itself sends them when the server is
/// connected, disconnected or fails); `subscribe`, completions and logging
/// only when the upstream offers them. What the gateway does not relay
/// (experimental capabilities, extensions) is left out.
#[allow(deprecated)] // logging is still what pre-2026-07-28 peers use
pub fn relayed(upstream: &ServerCapabilities) -> ServerCapabilities {
    let mut out = ServerCapabilities::default();
    out.tools = upstream.tools.as_ref().map(|_| {
        let mut tools = ToolsCapability::default();
        tools.list_changed = Some(true);
        tools
    });
    out.resources = upstream.resources.as_ref().map(|theirs| {
        let mut resources = ResourcesCapability::default();
        resources.list_changed = Some(true);
        resources.subscribe = theirs.subscribe.filter(|on| *on);
        resources
    });
    out.prompts = upstream.prompts.as_ref().map(|_| {
        let mut prompts = PromptsCapability::default();
        prompts.list_changed = Some(true);
        prompts
    });
    out.completions = upstream.completions.clone();
    out.logging = upstream.logging.clone();
    out
}

/// `/mcp/s/{server}` of a connected upstream: its relayed capabilities,
/// its instructions and its `serverInfo`, named `manifold/{name}` (an
/// upstream that gave none is named after the catalog's `server`).
fn per_server(server: &str, upstream: &ServerPeerInfo) -> ServerConfig {
    let mut server_info = upstream
        .server_info
        .clone()
        .unwrap_or_else(|| Implementation::new(server, env!("CARGO_PKG_VERSION")));
    server_info.name = format!("manifold/{}", server_info.name);
    let mut config =
        ServerConfig::new(relayed(&upstream.capabilities)).with_server_info(server_info);
    config.instructions = upstream.instructions.clone();
    config
}

/// `/mcp/s/{server}` before `server` is connected in the session, or while
/// its link cannot be opened.
fn not_connected(server: &str) -> ServerConfig {
    let mut capabilities = ServerCapabilities::default();
    let mut tools = ToolsCapability::default();
    tools.list_changed = Some(true);
    capabilities.tools = Some(tools);
    ServerConfig::new(capabilities)
        .with_server_info(Implementation::new(
            format!("manifold/{server}"),
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(format!(
            "{server} was not connected in this session (or its link was down) when this \
             MCP session started. Connect it, then initialize again to see its \
             capabilities and instructions."
        ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_without_extras_gets_none_advertised() {
        let upstream = ServerCapabilities::builder().enable_tools().build();
        let out = serde_json::to_value(relayed(&upstream)).unwrap();
        assert_eq!(out, serde_json::json!({"tools": {"listChanged": true}}));
    }

    #[test]
    #[allow(deprecated)]
    fn an_upstreams_subscribe_completions_and_logging_pass_through() {
        let upstream = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_prompts()
            .enable_completions()
            .enable_logging()
            .build();
        let out = serde_json::to_value(relayed(&upstream)).unwrap();
        assert_eq!(
            out,
            serde_json::json!({
                "tools": {"listChanged": true},
                "resources": {"listChanged": true, "subscribe": true},
                "prompts": {"listChanged": true},
                "completions": {},
                "logging": {},
            })
        );
    }

    #[test]
    fn composed_instructions_quote_each_server_under_its_name() {
        let text = compose(&[
            ("a".into(), "Use foo.".into()),
            ("b".into(), "Use bar.".into()),
        ]);
        assert!(text.starts_with(GATEWAY_INSTRUCTIONS), "{text}");
        assert!(text.contains("\n\n## a\nUse foo."), "{text}");
        assert!(text.contains("\n\n## b\nUse bar."), "{text}");
        assert_eq!(compose(&[]), GATEWAY_INSTRUCTIONS);
    }

    #[test]
    fn composed_instructions_are_bounded_per_server_and_in_all() {
        let long = "é".repeat(5_000);
        let servers: Vec<(String, String)> =
            (0..10).map(|i| (format!("s{i}"), long.clone())).collect();
        let text = compose(&servers);
        assert!(text.len() <= TOTAL_INSTRUCTIONS, "{}", text.len());
        let first = text.split("\n\n## s0\n").nth(1).unwrap();
        let first = first.split("\n\n").next().unwrap();
        assert!(first.len() <= PER_SERVER_INSTRUCTIONS, "{}", first.len());
        assert!(first.ends_with('…'));
        assert!(text.contains("left out for length: s3"), "{text}");
    }
}
