//! The typed settings tree: embedded defaults, then a TOML file (`--config FILE`,
//! or `./manifold.toml` when present), then `MANIFOLD_…` environment variables
//! with `__` for nesting (`MANIFOLD_STATE__URL=redis://…`).
//!
//! Every key is documented in `config.toml.example`; a test keeps that file and
//! [`Settings::default`] identical. An invalid value stops start-up with one
//! line naming the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};

use crate::secret::{Secret, SecretUrl};

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "manifold.toml";
/// Prefix of every environment variable Manifold reads.
pub const ENV_PREFIX: &str = "MANIFOLD_";
/// The most `worker_threads` allowed: a typo (an extra zero) fails at start
/// instead of starting thousands of threads.
pub const MAX_WORKER_THREADS: usize = 1024;

/// All of Manifold's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the HTTP server binds (`host:port`).
    pub listen: String,
    /// Folder for the SQLite catalog, the generated admin key and secrets key.
    pub data_dir: PathBuf,
    /// Threads that run the gateway's tasks; 0 means one per CPU the
    /// process may use.
    pub worker_threads: usize,
    pub catalog: CatalogSettings,
    pub state: StateSettings,
    pub upstream: UpstreamSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub secrets: SecretsSettings,
    pub limits: LimitsSettings,
    pub auth: AuthSettings,
    pub graphql: GraphqlSettings,
    pub ui: UiSettings,
    pub metrics: MetricsSettings,
    pub mcp: McpSettings,
    pub audit: AuditSettings,
}

/// Where categories, servers and API keys live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogSettings {
    /// `sqlite://PATH` or `postgres://…`; empty means `sqlite://{data_dir}/manifold.db`.
    /// A password in it never prints.
    pub url: SecretUrl,
    /// Largest number of pooled catalog connections.
    pub max_connections: u32,
    /// Time allowed to reach the catalog database at start (PostgreSQL):
    /// past it, start-up fails naming the host.
    pub connect_timeout_seconds: u64,
}

/// Where per-session connection state lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSettings {
    /// `memory`, `redis://…` / `rediss://…` or `redis+cluster://…`, parsed
    /// once when read.
    pub url: StateUrl,
    /// A Redis Cluster's seed nodes, instead of a `redis+cluster://` URL.
    pub cluster_nodes: ClusterNodes,
    /// Prepended to every key (lets several deployments share one Redis).
    pub key_prefix: String,
    /// Lifetime of every connection-state key, refreshed on each write.
    pub ttl_seconds: u64,
}

/// Limits for links to upstream MCP servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSettings {
    pub connect_timeout_seconds: u64,
    pub tool_fetch_timeout_seconds: u64,
    /// The longest a forwarded call may go without an answer or a progress
    /// notification from the upstream.
    pub call_timeout_seconds: u64,
    /// The longest a forwarded call may take in all, progress or not.
    pub call_max_seconds: u64,
    /// An upstream link unused this long is closed (state stays; it reopens on use).
    pub idle_timeout_seconds: u64,
    /// Live upstream links in one process.
    pub max_links: usize,
    /// Live stdio child processes in one process.
    pub max_stdio_children: usize,
    /// Longest wait between two attempts to reopen a broken link.
    pub reconnect_max_delay_seconds: u64,
    /// A link that has failed to reopen for this long is `FAILED` and no
    /// longer retried.
    pub reconnect_give_up_seconds: u64,
    /// An idle live link is pinged this often (0: never).
    pub health_interval_seconds: u64,
    /// Requests in flight on one link; more wait briefly, then get
    /// `too_many_requests`.
    pub max_in_flight_per_link: usize,
    pub egress: EgressSettings,
}

/// Which addresses upstream links may reach (metadata and link-local never).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressSettings {
    /// Refuse private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).
    pub deny_private: bool,
    /// Refuse loopback (127/8, ::1).
    pub deny_loopback: bool,
}

/// HTTP server limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Largest accepted request body; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Time limit for one admin API request.
    pub request_timeout_seconds: u64,
    /// `Host` values `/mcp` accepts (DNS-rebinding protection); `["*"]` accepts any.
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin`s `/mcp` accepts (requests without `Origin` pass); `["*"]` accepts any.
    pub allowed_origins: Vec<String>,
    /// The gateway's URL as clients reach it (`https://mcp.example.com`),
    /// used in generated client configs; empty = `http://` + the request's `Host`.
    pub public_url: String,
    /// On SIGTERM `/readyz` answers 503 at once; the listener keeps accepting
    /// this long (so a load balancer sees the 503 first), then closes.
    pub drain_delay_seconds: u64,
    /// Once the listener is closed, requests and tool calls in flight get this
    /// long to finish before the remaining connections are cut.
    pub shutdown_grace_seconds: u64,
    /// A client must send a request's complete header within this long of
    /// connecting (or of the request's first byte); otherwise the connection
    /// is closed.
    pub header_read_timeout_seconds: u64,
    /// A keep-alive connection with no request for this long is closed.
    pub keep_alive_timeout_seconds: u64,
    /// Most client connections served at once; past it only the health probes
    /// (and `/metrics`) are answered, on a small reserve of extra connections.
    pub max_connections: usize,
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter: `info`, `manifold=debug,sqlx=warn`, …
    pub level: String,
}

/// Text for people, JSON for log pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Encryption of secrets at rest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsSettings {
    /// Base64 of 32 bytes; empty means `data_dir/secret.key`, generated once.
    #[serde(serialize_with = "crate::secret::redacted_unless_empty")]
    pub encryption_key: Secret<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            worker_threads: 0,
            catalog: CatalogSettings::default(),
            state: StateSettings::default(),
            upstream: UpstreamSettings::default(),
            http: HttpSettings::default(),
            log: LogSettings::default(),
            secrets: SecretsSettings::default(),
            limits: LimitsSettings::default(),
            auth: AuthSettings::default(),
            graphql: GraphqlSettings::default(),
            ui: UiSettings::default(),
            metrics: MetricsSettings::default(),
            mcp: McpSettings::default(),
            audit: AuditSettings::default(),
        }
    }
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            url: SecretUrl::default(),
            max_connections: 10,
            connect_timeout_seconds: 10,
        }
    }
}

impl StateSettings {
    /// Where the state store is, from `url` and `cluster_nodes` together.
    pub fn backend(&self) -> StateBackend<'_> {
        state::backend(&self.url, &self.cluster_nodes)
    }

    /// A cluster is named once, and its key prefix leaves the session id as
    /// the keys' hash tag.
    fn check_cluster(&self) -> Result<(), ConfigError> {
        if !self.cluster_nodes.is_empty() && self.url != StateUrl::Memory {
            return Err(ConfigError::new(
                "state.cluster_nodes",
                format!(
                    "set either state.url or state.cluster_nodes, not both (state.url is `{}`)",
                    self.url
                ),
            ));
        }
        if self.backend().is_cluster() && self.key_prefix.contains(['{', '}']) {
            return Err(ConfigError::new(
                "state.key_prefix",
                "must not contain `{` or `}` with a Redis Cluster (the session id in braces is the keys' hash tag)",
            ));
        }
        Ok(())
    }
}

impl Default for StateSettings {
    fn default() -> Self {
        Self {
            url: StateUrl::Memory,
            cluster_nodes: ClusterNodes::default(),
            key_prefix: String::new(),
            ttl_seconds: 86_400,
        }
    }
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            connect_timeout_seconds: 30,
            tool_fetch_timeout_seconds: 30,
            call_timeout_seconds: 120,
            call_max_seconds: 3600,
            idle_timeout_seconds: 600,
            max_links: 1000,
            max_stdio_children: 64,
            reconnect_max_delay_seconds: 30,
            reconnect_give_up_seconds: 600,
            health_interval_seconds: 30,
            max_in_flight_per_link: 64,
            egress: EgressSettings::default(),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1_048_576,
            request_timeout_seconds: 120,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: vec![
                "http://localhost:*".into(),
                "http://127.0.0.1:*".into(),
                "http://[::1]:*".into(),
            ],
            public_url: String::new(),
            drain_delay_seconds: 5,
            shutdown_grace_seconds: 30,
            header_read_timeout_seconds: 10,
            keep_alive_timeout_seconds: 75,
            max_connections: 10_000,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// A configuration problem, reported as one line: `invalid config: KEY: WHAT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl fmt::Display) -> Self {
        Self {
            key: key.to_owned(),
            message: message.to_string(),
        }
    }
}

/// Which kind of catalog a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogBackend {
    Sqlite,
    Postgres,
}

impl Settings {
    /// Loads defaults → file → environment, then validates.
    ///
    /// `file` is `--config`; without it `./manifold.toml` is read when present.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        // No serialized defaults: secrets serialize redacted. Every section is
        // `#[serde(default)]`, so missing keys take their `Default`.
        let mut figment = Figment::new();
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::new(
                    "--config",
                    format!("{} does not exist", path.display()),
                ));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        let mut env = env::EnvValues::read(env);
        let settings = env.extract(&figment)?;
        settings.validate().map_err(|e| env.name_variable(e))?;
        Ok(settings)
    }

    /// Checks every value that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("data_dir", "must not be empty"));
        }
        if self.worker_threads > MAX_WORKER_THREADS {
            return Err(ConfigError::new(
                "worker_threads",
                format!(
                    "must be at most {MAX_WORKER_THREADS} (0 = one per CPU), not {}",
                    self.worker_threads
                ),
            ));
        }
        self.catalog_backend()?;
        if self.catalog.max_connections == 0 {
            return Err(ConfigError::new(
                "catalog.max_connections",
                "must be at least 1",
            ));
        }
        if self
            .state
            .key_prefix
            .chars()
            .any(|c| c.is_whitespace() || c == '*')
        {
            return Err(ConfigError::new(
                "state.key_prefix",
                "must not contain spaces or `*`",
            ));
        }
        self.state.check_cluster()?;
        for (key, value) in [
            ("state.ttl_seconds", self.state.ttl_seconds),
            (
                "upstream.connect_timeout_seconds",
                self.upstream.connect_timeout_seconds,
            ),
            (
                "upstream.tool_fetch_timeout_seconds",
                self.upstream.tool_fetch_timeout_seconds,
            ),
            (
                "upstream.call_timeout_seconds",
                self.upstream.call_timeout_seconds,
            ),
            ("upstream.call_max_seconds", self.upstream.call_max_seconds),
            (
                "upstream.idle_timeout_seconds",
                self.upstream.idle_timeout_seconds,
            ),
            ("upstream.max_links", self.upstream.max_links as u64),
            (
                "upstream.max_stdio_children",
                self.upstream.max_stdio_children as u64,
            ),
            (
                "upstream.reconnect_max_delay_seconds",
                self.upstream.reconnect_max_delay_seconds,
            ),
            (
                "upstream.reconnect_give_up_seconds",
                self.upstream.reconnect_give_up_seconds,
            ),
            (
                "upstream.max_in_flight_per_link",
                self.upstream.max_in_flight_per_link as u64,
            ),
            (
                "http.request_timeout_seconds",
                self.http.request_timeout_seconds,
            ),
            (
                "catalog.connect_timeout_seconds",
                self.catalog.connect_timeout_seconds,
            ),
            (
                "http.shutdown_grace_seconds",
                self.http.shutdown_grace_seconds,
            ),
            (
                "http.header_read_timeout_seconds",
                self.http.header_read_timeout_seconds,
            ),
            (
                "http.keep_alive_timeout_seconds",
                self.http.keep_alive_timeout_seconds,
            ),
            ("http.max_connections", self.http.max_connections as u64),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be greater than 0"));
            }
        }
        if self.http.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "http.max_body_bytes",
                "must be at least 1024",
            ));
        }
        for (key, list) in [
            ("http.allowed_hosts", &self.http.allowed_hosts),
            ("http.allowed_origins", &self.http.allowed_origins),
        ] {
            if list.is_empty() || list.iter().any(|e| e.trim().is_empty()) {
                return Err(ConfigError::new(
                    key,
                    "must list at least one non-empty entry (use [\"*\"] to accept any)",
                ));
            }
        }
        if let Some(bad) = self
            .http
            .allowed_origins
            .iter()
            .find(|o| *o != "*" && *o != "null" && !o.contains("://"))
        {
            return Err(ConfigError::new(
                "http.allowed_origins",
                format!("`{bad}` needs a scheme, e.g. https://app.example.com:443"),
            ));
        }
        if !self.http.public_url.is_empty() {
            let ok = url::Url::parse(&self.http.public_url).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.query().is_none()
                    && u.fragment().is_none()
            });
            if !ok {
                return Err(ConfigError::new(
                    "http.public_url",
                    "must be an http(s) URL without query or fragment, e.g. https://mcp.example.com",
                ));
            }
        }
        self.limits.validate()?;
        self.mcp.validate()?;
        self.audit.validate()?;
        self.validate_auth()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::new("log.level", format!("not a valid filter: {e}")))?;
        if !self.secrets.encryption_key.is_empty() {
            crate::secret::Cipher::load(self.secrets.encryption_key.expose(), &self.data_dir)
                .map_err(|e| {
                    ConfigError::new(
                        "secrets.encryption_key",
                        e.to_string().replace("secrets.encryption_key: ", ""),
                    )
                })?;
        }
        Ok(())
    }

    /// The parsed `listen` address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::new(
                "listen",
                format!(
                    "expected host:port such as 127.0.0.1:8080, got `{}`",
                    self.listen
                ),
            )
        })
    }

    /// The catalog URL with the SQLite default filled in.
    pub fn catalog_url(&self) -> String {
        if self.catalog.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("manifold.db").display())
        } else {
            self.catalog.url.expose().to_owned()
        }
    }

    /// Which catalog backend the URL selects.
    pub fn catalog_backend(&self) -> Result<CatalogBackend, ConfigError> {
        let url = self.catalog_url();
        if url.starts_with("sqlite:") {
            Ok(CatalogBackend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(CatalogBackend::Postgres)
        } else {
            Err(ConfigError::new(
                "catalog.url",
                format!(
                    "expected sqlite://… or postgres://…, got `{}`",
                    crate::secret::redact_url(&url)
                ),
            ))
        }
    }
}

fn first_error(err: figment::Error) -> ConfigError {
    let key = err.path.join(".");
    let key = if key.is_empty() {
        err.metadata
            .as_ref()
            .map(|m| m.name.to_string())
            .unwrap_or_else(|| "config".into())
    } else {
        key
    };
    let mut message = err.kind.to_string();
    // A file is worth naming; a line of Manifold's code is not.
    if let Some(figment::Source::File(path)) = err.metadata.as_ref().and_then(|m| m.source.as_ref())
    {
        message = format!("{message} (from {})", path.display());
    }
    ConfigError { key, message }
}

mod auth;
mod env;
mod state;
pub use auth::{AnonymousSettings, AuthSettings, JwtSettings, OAuthSettings};
pub use state::{ClusterNodes, StateBackend, StateUrl};
mod graphql;
pub use graphql::{GraphqlSettings, Playground};
mod limits;
pub use limits::LimitsSettings;
mod metrics;
pub use metrics::MetricsSettings;
mod mcp;
pub use mcp::McpSettings;
mod audit;
pub use audit::AuditSettings;
mod ui;
pub use ui::UiSettings;

#[cfg(test)]
mod tests;
