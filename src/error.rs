//! The one domain error every service returns, with a stable snake_case code.
//!
//! [`ErrorCode`] lists every code a client can see (REST `error.code`,
//! GraphQL `extensions.code`, MCP `data.code`), with its usual HTTP status,
//! its JSON-RPC error code and its meaning; `docs/rest-api.md`'s table is
//! generated from it. [`Error`] classifies what went wrong; its
//! [`status`](Error::status), [`json_rpc_code`](Error::json_rpc_code) and
//! [`public_message`](Error::public_message) are the one place each edge
//! reads how to render it. The code is the contract, the message is for
//! humans. An `Internal` error never shows its cause to a client: the log
//! gets it.

use std::fmt;
use std::time::Duration;

use axum::http::StatusCode;

/// JSON-RPC error codes an [`ErrorCode`] maps to.
pub mod json_rpc {
    /// The request is not acceptable as sent (credentials, limits, state).
    pub const INVALID_REQUEST: i32 = -32600;
    /// The parameters name something unknown or are malformed.
    pub const INVALID_PARAMS: i32 = -32602;
    /// The gateway or an upstream failed.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// MCP's "resource not found".
    pub const RESOURCE_NOT_FOUND: i32 = -32002;
    /// `URLElicitationRequiredError` (MCP 2025-11-25): `oauth_required` with
    /// an authorization URL the client can open.
    pub const URL_ELICITATION_REQUIRED: i32 = -32042;
}

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:expr, $rpc:ident, $meaning:literal;)*) => {
        /// Every stable error code, as clients see it (serialized as the
        /// snake_case string).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $meaning] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in documentation order.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant),*];

            /// The code as clients see it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// The HTTP status this code is answered with (`None`: MCP
            /// only). [`Error::status`] decides for a given error; it differs
            /// only where [`meaning`](Self::meaning) says so.
            pub fn http_status(self) -> Option<StatusCode> {
                let status: Option<u16> = match self {
                    $(Self::$variant => $status,)*
                };
                status.and_then(|s| StatusCode::from_u16(s).ok())
            }

            /// The JSON-RPC error code of an MCP error carrying this code.
            pub fn json_rpc_code(self) -> i32 {
                match self {
                    $(Self::$variant => json_rpc::$rpc,)*
                }
            }

            /// What the code means, for people (the docs' table).
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Self::$variant => $meaning,)*
                }
            }
        }
    };
}

error_codes! {
    Unauthorized = "unauthorized", Some(401), INVALID_REQUEST, "No credentials, or an unknown, expired or revoked API key or JWT; the response carries `WWW-Authenticate: Bearer`.";
    Forbidden = "forbidden", Some(403), INVALID_REQUEST, "The caller is known but may not do this (an admin-only action, another user's server).";
    RateLimited = "rate_limited", Some(429), INVALID_REQUEST, "The principal's request rate is used up; retry after `Retry-After` seconds.";
    InvalidJson = "invalid_json", Some(400), INVALID_PARAMS, "The body is not valid JSON.";
    InvalidBody = "invalid_body", Some(400), INVALID_PARAMS, "The body could not be read; with 422 and `field`, a field has the wrong type or is unknown.";
    InvalidQuery = "invalid_query", Some(400), INVALID_PARAMS, "The query string could not be parsed.";
    InvalidInclude = "invalid_include", Some(400), INVALID_PARAMS, "`include` names something that cannot be included.";
    InvalidArgument = "invalid_argument", Some(400), INVALID_PARAMS, "A GraphQL argument is malformed or out of range.";
    InvalidDocument = "invalid_document", Some(400), INVALID_PARAMS, "A GraphQL document does not parse or does not fit the schema (the message quotes at most a short excerpt of it).";
    QueryTooComplex = "query_too_complex", Some(400), INVALID_PARAMS, "A GraphQL document nests too deep or costs more than the complexity limit (list sizes multiply the cost of what they select).";
    ResponseTooLarge = "response_too_large", Some(400), INVALID_PARAMS, "A GraphQL response would be larger than 8 MiB; ask for fewer fields or smaller pages.";
    InvalidCursor = "invalid_cursor", Some(400), INVALID_PARAMS, "A page cursor was not issued by this gateway for this list.";
    InvalidLimit = "invalid_limit", Some(422), INVALID_PARAMS, "A page `limit` is outside 1 to the maximum.";
    PayloadTooLarge = "payload_too_large", Some(413), INVALID_PARAMS, "The body (REST, GraphQL or `/mcp`) is larger than `http.max_body_bytes`.";
    UnsupportedMediaType = "unsupported_media_type", Some(415), INVALID_PARAMS, "The body must be sent as `Content-Type: application/json`.";
    RouteNotFound = "route_not_found", Some(404), INVALID_PARAMS, "No such route (or static file).";
    MethodNotAllowed = "method_not_allowed", Some(405), INVALID_PARAMS, "The route does not accept this method.";
    InvalidUserId = "invalid_user_id", Some(422), INVALID_PARAMS, "A user id is not 1-200 printable characters without spaces or `*?[]{}\\`, or starts with `anon_`.";
    InvalidRole = "invalid_role", Some(422), INVALID_PARAMS, "A role is not `admin` or `user`.";
    InvalidSessionId = "invalid_session_id", Some(422), INVALID_PARAMS, "A session id is not 1-200 printable characters without spaces or `*?[]{}\\`.";
    ApiKeyNotFound = "api_key_not_found", Some(404), INVALID_PARAMS, "No such API key, it is revoked already, or (to a user) it is another user's.";
    InvalidKeyName = "invalid_key_name", Some(422), INVALID_PARAMS, "An API key `name` is not 1-64 printable characters.";
    TooManyApiKeys = "too_many_api_keys", Some(409), INVALID_PARAMS, "The user holds 50 active API keys, the most allowed; revoke one first.";
    CategoryNotFound = "category_not_found", Some(404), INVALID_PARAMS, "No such category; 422 when a server's `category_id` names one.";
    CategoryNameTaken = "category_name_taken", Some(409), INVALID_PARAMS, "A category with this name (case-insensitive) exists.";
    InvalidServerId = "invalid_server_id", Some(422), INVALID_PARAMS, "A server id is not a `mcp_…` id.";
    InvalidApiKeyId = "invalid_api_key_id", Some(422), INVALID_PARAMS, "An API key id is not a `key_…` id.";
    InvalidCategoryId = "invalid_category_id", Some(422), INVALID_PARAMS, "`category_id` is not a `ctg_…` id.";
    InvalidName = "invalid_name", Some(422), INVALID_PARAMS, "A category name is empty, too long or not printable.";
    InvalidColor = "invalid_color", Some(422), INVALID_PARAMS, "A colour is neither hex (`#rgb`, `#rrggbb`) nor `rgb(…)`.";
    InvalidIcon = "invalid_icon", Some(422), INVALID_PARAMS, "An icon is neither an http(s) URL nor a short emoji or text.";
    InvalidText = "invalid_text", Some(422), INVALID_PARAMS, "A title or description is too long or has control characters.";
    ServerNotFound = "server_not_found", Some(404), INVALID_PARAMS, "No such server, or the caller may not see it.";
    ServerNameTaken = "server_name_taken", Some(409), INVALID_PARAMS, "A server with this name exists.";
    InvalidServerName = "invalid_server_name", Some(422), INVALID_PARAMS, "A server name is not a valid slug-like name.";
    ToolsetNotFound = "toolset_not_found", Some(404), INVALID_PARAMS, "No such toolset, or the caller may not see it.";
    ToolsetNameTaken = "toolset_name_taken", Some(409), INVALID_PARAMS, "A toolset with this name exists.";
    InvalidToolsetId = "invalid_toolset_id", Some(422), INVALID_PARAMS, "A toolset id is not a `tls_…` id.";
    InvalidToolsetName = "invalid_toolset_name", Some(422), INVALID_PARAMS, "A toolset name is not a valid slug-like name (`^[a-z0-9][a-z0-9_-]{0,31}$`).";
    InvalidToolsetEntry = "invalid_toolset_entry", Some(422), INVALID_PARAMS, "A toolset has more than 200 entries, or an entry's `server`, `tool` pattern, `expose_as` (an exact tool only, `^[A-Za-z0-9_-]{1,64}$`, unique in the toolset), `description` (at most 2000 characters, no control characters but newlines and tabs) or `annotations` (an object) is not valid; `field` names it (`entries[3].expose_as`).";
    InvalidTransport = "invalid_transport", Some(422), INVALID_PARAMS, "A transport is not one of `stdio`, `sse`, `websocket`, `streamable_http`.";
    InvalidUrl = "invalid_url", Some(422), INVALID_PARAMS, "A URL is malformed or has the wrong scheme for its transport.";
    MissingUrl = "missing_url", Some(422), INVALID_PARAMS, "A network server needs a `url`.";
    MissingCommand = "missing_command", Some(422), INVALID_PARAMS, "A stdio server needs a `command`.";
    InvalidCommand = "invalid_command", Some(422), INVALID_PARAMS, "A command is not 1-1024 bytes without NUL.";
    InvalidArgs = "invalid_args", Some(422), INVALID_PARAMS, "More than 100 arguments, or one longer than 4096 bytes or with NUL.";
    InvalidCwd = "invalid_cwd", Some(422), INVALID_PARAMS, "The working directory is not an absolute path.";
    InvalidEnv = "invalid_env", Some(422), INVALID_PARAMS, "An environment variable name or value is not valid.";
    InvalidHeaders = "invalid_headers", Some(422), INVALID_PARAMS, "A header name or value is not valid HTTP.";
    InvalidQueryParams = "invalid_query_params", Some(422), INVALID_PARAMS, "A query parameter name or value is not valid.";
    InvalidSecret = "invalid_secret", Some(422), INVALID_PARAMS, "`***` asks to keep a stored secret, but there is none.";
    InvalidOauthClient = "invalid_oauth_client", Some(422), INVALID_PARAMS, "An `oauth_client_secret` without an `oauth_client_id`, or a malformed client.";
    InvalidOauthScope = "invalid_oauth_scope", Some(422), INVALID_PARAMS, "Too many OAuth scopes, or a scope that is not a valid scope token.";
    InvalidToolFilter = "invalid_tool_filter", Some(422), INVALID_PARAMS, "A tool filter's `allow` or `deny` has more than 200 patterns, or a pattern that is empty, longer than 200 characters, or holds a space or a control character.";
    FieldNotAllowed = "field_not_allowed", Some(422), INVALID_PARAMS, "A field does not apply to this server's transport.";
    InvalidImportDocument = "invalid_import_document", Some(422), INVALID_PARAMS, "An import document has neither `mcpServers` nor Manifold's `servers` (or both), an unknown `manifold.version`, or more than 200 servers; nothing was created.";
    InvalidImport = "invalid_import", Some(422), INVALID_PARAMS, "Some entries of an import cannot be created (each one's `error` in `servers` says why: `forbidden`, `server_name_taken`, `invalid_url`, `invalid_secret`, …); nothing was created.";
    ImportIncomplete = "import_incomplete", Some(409), INVALID_PARAMS, "An import failed half-way (a name taken meanwhile, the catalog unreachable): the entries with `action` `create` and a `server` were created, the others were not.";
    InvalidMcpSessionId = "invalid_mcp_session_id", Some(422), INVALID_PARAMS, "An MCP session id is not 1-200 printable characters without spaces or `*?[]{}\\`.";
    SessionNotFound = "session_not_found", Some(404), INVALID_PARAMS, "`/mcp`: the `Mcp-Session-Id` is unknown, ended, or belongs to another principal.";
    TooManySessions = "too_many_sessions", Some(429), INVALID_REQUEST, "`/mcp`: the principal holds `mcp.max_sessions_per_user` MCP sessions on this replica already; end one (DELETE with its `Mcp-Session-Id`) or let an idle one expire.";
    UnreadableBody = "unreadable_body", Some(400), INVALID_PARAMS, "`/mcp`: the request body could not be read.";
    UnknownTool = "unknown_tool", None, INVALID_PARAMS, "MCP: no tool of that name in this session's view.";
    InvalidArguments = "invalid_arguments", None, INVALID_PARAMS, "MCP with `?tools=search`: the arguments of `manifold__search_tools` (`query` a string, `limit` 1-50) or `manifold__call_tool` (`name` a string, `arguments` an object) are wrong; `data.tool` names which.";
    UnknownPrompt = "unknown_prompt", None, INVALID_PARAMS, "MCP: no prompt of that name in this session's view.";
    UnknownResource = "unknown_resource", None, RESOURCE_NOT_FOUND, "MCP: no connected server owns that resource URI.";
    UnsupportedReference = "unsupported_reference", None, INVALID_PARAMS, "MCP: a completion reference is neither a prompt nor a resource template.";
    ServerFailed = "server_failed", None, INTERNAL_ERROR, "MCP on `/mcp`: a `fail_closed` server of the session is `FAILED` or `RECONNECTING`; `data.server` names it.";
    ServerDisabled = "server_disabled", Some(409), INTERNAL_ERROR, "The server is disabled in the catalog.";
    ServerNotConnected = "server_not_connected", Some(502), INTERNAL_ERROR, "The server is not connected in this session.";
    TooManyLinks = "too_many_links", Some(503), INTERNAL_ERROR, "The process holds `upstream.max_links` links (or `max_stdio_children` children) already.";
    EgressDenied = "egress_denied", Some(403), INTERNAL_ERROR, "The upstream's address is refused by the egress policy.";
    UpstreamUnreachable = "upstream_unreachable", Some(502), INTERNAL_ERROR, "The upstream could not be reached or started.";
    UpstreamTimeout = "upstream_timeout", Some(504), INTERNAL_ERROR, "The upstream did not answer within its connect or call timeout.";
    UpstreamProtocolError = "upstream_protocol_error", Some(502), INTERNAL_ERROR, "The upstream answered with something that is not valid MCP.";
    UpstreamClosed = "upstream_closed", Some(502), INTERNAL_ERROR, "The link to the upstream broke while the call was in flight (the call may or may not have run there).";
    UpstreamUnavailable = "upstream_unavailable", Some(503), INTERNAL_ERROR, "The server is `RECONNECTING` in this session: its link broke and the gateway is reopening it; retry later.";
    TooManyRequests = "too_many_requests", Some(503), INTERNAL_ERROR, "The link already has `upstream.max_in_flight_per_link` requests in flight and no room came free in time.";
    UpstreamLoop = "upstream_loop", Some(508), INVALID_REQUEST, "The request came back to this gateway through its own upstream links (a server that points at this gateway, directly or through another one).";
    Cancelled = "cancelled", None, INTERNAL_ERROR, "MCP: the call was cancelled.";
    NoCaller = "no_caller", None, INVALID_REQUEST, "An upstream's sampling, elicitation or roots request arrived with no tool call in flight on its link.";
    ClientCapabilityMissing = "client_capability_missing", None, INVALID_REQUEST, "An upstream asked the calling client for a capability it did not declare.";
    CallerUnreachable = "caller_unreachable", None, INVALID_REQUEST, "The calling client did not answer an upstream's request.";
    CallerProtocolError = "caller_protocol_error", None, INTERNAL_ERROR, "The calling client answered an upstream's request with the wrong result type.";
    OauthRequired = "oauth_required", Some(403), INVALID_REQUEST, "The server needs the user's own OAuth authorization first; `authorization_url` says where (MCP: a URL elicitation, -32042).";
    OauthNotRequired = "oauth_not_required", Some(409), INVALID_PARAMS, "The server does not use OAuth.";
    OauthDenied = "oauth_denied", Some(400), INVALID_PARAMS, "The authorization server refused or failed the authorization.";
    OauthStateInvalid = "oauth_state_invalid", Some(400), INVALID_PARAMS, "The callback's `state` is unknown, used or expired.";
    OauthDiscoveryFailed = "oauth_discovery_failed", Some(502), INTERNAL_ERROR, "The upstream's OAuth authorization server could not be discovered or configured.";
    OauthRegistrationFailed = "oauth_registration_failed", Some(502), INTERNAL_ERROR, "Dynamic client registration with the upstream's authorization server failed.";
    OauthExchangeFailed = "oauth_exchange_failed", Some(502), INTERNAL_ERROR, "The authorization server refused to exchange the callback's code for tokens.";
    OauthRefreshFailed = "oauth_refresh_failed", Some(502), INTERNAL_ERROR, "Refreshing the user's upstream token failed for a reason other than a rejected refresh token.";
    NotReady = "not_ready", Some(503), INTERNAL_ERROR, "`/readyz`: the catalog or the state store is not reachable.";
    Unavailable = "unavailable", Some(503), INTERNAL_ERROR, "A dependency (catalog, state store) is not reachable right now.";
    Internal = "internal", Some(500), INTERNAL_ERROR, "An unexpected failure; the server log has the cause, the client never does.";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl ErrorCode {
    /// The MCP error for this code: its JSON-RPC code, `message`, and
    /// `data.code`, plus `extra` fields in `data` (`server`, `uri`, …).
    /// Every MCP error Manifold makes itself is built here.
    pub fn mcp_error(
        self,
        message: impl Into<std::borrow::Cow<'static, str>>,
        extra: &[(&str, serde_json::Value)],
    ) -> rmcp::ErrorData {
        let mut data = serde_json::Map::new();
        data.insert("code".into(), self.as_str().into());
        for (key, value) in extra {
            data.insert((*key).to_owned(), value.clone());
        }
        rmcp::ErrorData::new(
            rmcp::model::ErrorCode(self.json_rpc_code()),
            message,
            Some(data.into()),
        )
    }

    /// The Markdown table of every code (code, HTTP status, JSON-RPC code,
    /// meaning) that `docs/rest-api.md` carries between its `error-codes`
    /// markers; a unit test keeps the two equal.
    pub fn markdown_table() -> String {
        let mut table = String::from(
            "| code | HTTP status | JSON-RPC | meaning |\n| --- | --- | --- | --- |\n",
        );
        for code in Self::ALL {
            let status = code
                .http_status()
                .map_or_else(|| "— (MCP only)".to_owned(), |s| s.as_u16().to_string());
            table.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                code.as_str(),
                status,
                code.json_rpc_code(),
                code.meaning().replace('|', "\\|"),
            ));
        }
        table
    }
}

/// The message clients see in place of an internal error's cause.
pub const INTERNAL_MESSAGE: &str = "internal error; the server log has the details";

/// Result alias used across services and stores.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, classified by how a client should react.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is well-formed but not acceptable (422).
    #[error("{message}")]
    Invalid {
        code: ErrorCode,
        field: Option<String>,
        message: String,
    },
    /// The request itself is malformed (400).
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    /// The thing does not exist, or the caller may not see it (404).
    #[error("{what} not found")]
    NotFound { code: ErrorCode, what: &'static str },
    /// A uniqueness rule was broken (409).
    #[error("{message}")]
    Conflict {
        code: ErrorCode,
        field: Option<String>,
        message: String,
    },
    /// No or bad credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Known caller, action not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// An upstream MCP server could not be reached or used (`upstream_unreachable`,
    /// `upstream_timeout`, `upstream_protocol_error`, `egress_denied`, …).
    #[error("{message}")]
    Upstream { code: ErrorCode, message: String },
    /// The server needs the caller's own OAuth authorization first (403,
    /// `oauth_required`): send the user to `authorization_url`.
    #[error("{server} needs your OAuth authorization first")]
    OAuthRequired {
        server: String,
        authorization_url: Option<String>,
    },
    /// The caller sent more requests than its role's rate limit allows (429);
    /// it may try again after `retry_after`.
    #[error("too many requests; retry in {}s", retry_after_seconds(*retry_after))]
    RateLimited { retry_after: Duration },
    /// A dependency (catalog, state store) is not reachable (503).
    #[error("{what} is unavailable")]
    Unavailable {
        what: &'static str,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A bug or an unexpected failure; the cause goes to the log only (500).
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A 422 naming the field at fault.
    pub fn invalid(code: ErrorCode, field: &str, message: impl fmt::Display) -> Self {
        Self::Invalid {
            code,
            field: Some(field.to_owned()),
            message: message.to_string(),
        }
    }

    /// A 409 naming the field at fault.
    pub fn conflict(code: ErrorCode, field: &str, message: impl fmt::Display) -> Self {
        Self::Conflict {
            code,
            field: Some(field.to_owned()),
            message: message.to_string(),
        }
    }

    /// A 404 for a kind of thing (`category`, `server`, `api key`).
    pub fn not_found(code: ErrorCode, what: &'static str) -> Self {
        Self::NotFound { code, what }
    }

    /// Wraps an unexpected failure.
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }

    /// A dependency is down.
    pub fn unavailable(
        what: &'static str,
        err: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            what,
            source: Some(err.into()),
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { code, .. }
            | Self::BadRequest { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Upstream { code, .. } => *code,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::OAuthRequired { .. } => ErrorCode::OauthRequired,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable { .. } => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The HTTP status every edge answers this error with: by kind, and
    /// for malformed requests and upstream failures by code.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { code, .. } => code.http_status().unwrap_or(StatusCode::BAD_REQUEST),
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::OAuthRequired { .. } => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Upstream { code, .. } => code.http_status().unwrap_or(StatusCode::BAD_GATEWAY),
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON-RPC error code of this error on `/mcp`.
    pub fn json_rpc_code(&self) -> i32 {
        self.code().json_rpc_code()
    }

    /// The message a client may see. An internal error's cause and an
    /// unavailable dependency's error go to the log here, never to the
    /// client.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                INTERNAL_MESSAGE.to_owned()
            }
            Self::Unavailable { what, source } => {
                tracing::warn!(what, error = ?source, "dependency unavailable");
                self.to_string()
            }
            other => other.to_string(),
        }
    }

    /// With `oauth_required`: where the user authorizes the upstream.
    pub fn authorization_url(&self) -> Option<&str> {
        match self {
            Self::OAuthRequired {
                authorization_url, ..
            } => authorization_url.as_deref(),
            _ => None,
        }
    }

    /// The input field at fault, when one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } | Self::Conflict { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

/// A wait as an HTTP `Retry-After` value: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::unavailable("catalog", err)
            }
            other => Self::internal(other),
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(err: redis::RedisError) -> Self {
        if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() {
            Self::unavailable("state store", err)
        } else {
            Self::internal(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str =
        "<!-- error-codes:begin (generated from src/error.rs; `cargo test` checks it) -->\n";
    const END: &str = "<!-- error-codes:end -->";

    #[test]
    fn codes_are_unique_snake_case_and_serialize_as_themselves() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "`{text}` is listed twice");
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "`{text}` is not snake_case"
            );
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::String(text.to_owned()))
            );
            assert!(!code.meaning().is_empty(), "`{text}` has no meaning");
        }
    }

    /// Set `MANIFOLD_BLESS=1` to rewrite the table after changing a code.
    #[test]
    fn the_docs_error_code_table_is_the_enum() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rest-api.md");
        let doc = std::fs::read_to_string(&path).expect("docs/rest-api.md is readable");
        let start = doc
            .find(BEGIN)
            .expect("docs/rest-api.md has the begin marker")
            + BEGIN.len();
        let end = doc.find(END).expect("docs/rest-api.md has the end marker");
        let table = ErrorCode::markdown_table();
        if std::env::var_os("MANIFOLD_BLESS").is_some() {
            let blessed = format!("{}{table}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, blessed).expect("docs/rest-api.md is writable");
            return;
        }
        assert_eq!(
            &doc[start..end],
            table,
            "docs/rest-api.md's error-code table differs from ErrorCode: \
             run `MANIFOLD_BLESS=1 cargo test --lib error::` and commit the file"
        );
    }

    #[test]
    fn an_internal_error_never_shows_its_cause() {
        let err = Error::internal(std::io::Error::other("password=hunter2"));
        assert_eq!(err.public_message(), INTERNAL_MESSAGE);
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.json_rpc_code(), json_rpc::INTERNAL_ERROR);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(30)), 30);
    }
}
