//! [`Scope`]: which upstreams one MCP session exposes, by the route it
//! was opened on (`/mcp`, `/mcp/s/{server}`, `/mcp/t/{toolset}`), and how
//! a session binding records it.

/// Which upstreams one MCP session exposes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `/mcp`: every connected server of the session, names prefixed
    /// `{server}__`, resource URIs wrapped by
    /// [`wrap_uri`](crate::gateway::namespace::wrap_uri).
    All,
    /// `/mcp/s/{server}`: one connected server, with its own names and URIs.
    Server(String),
    /// `/mcp/t/{toolset}`: the toolset's entries among the session's
    /// connected servers, named as the toolset says (see
    /// [`toolset`](crate::gateway::toolset)); its servers' resources and
    /// prompts, wrapped as on `/mcp`, when it includes them.
    Toolset(String),
}

impl Scope {
    /// The route an MCP session binding records for this scope: empty for
    /// `/mcp`, the server name for `/mcp/s/{server}`, `t:{toolset}` for
    /// `/mcp/t/{toolset}` (slugs hold no `:`).
    pub fn route(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Scope::All => "".into(),
            Scope::Server(name) => name.as_str().into(),
            Scope::Toolset(name) => format!("t:{name}").into(),
        }
    }

    /// The scope of a binding's `route` (see [`Scope::route`]).
    pub fn of_route(route: &str) -> Self {
        if route.is_empty() {
            Scope::All
        } else if let Some(toolset) = route.strip_prefix("t:") {
            Scope::Toolset(toolset.to_owned())
        } else {
            Scope::Server(route.to_owned())
        }
    }

    /// Whether names and URIs of several servers meet in this scope, so
    /// that resource URIs, prompt names and task ids carry their server
    /// (`/mcp` and toolsets), rather than being the upstream's own.
    pub fn is_aggregate(&self) -> bool {
        !matches!(self, Scope::Server(_))
    }
}
