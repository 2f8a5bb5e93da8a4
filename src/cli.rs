//! The command line: `serve`, `migrate`, `keys create|list|revoke`,
//! `secrets rotate` and `config check`. Every command reads the same layered
//! settings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::Application;
use crate::auth::api_key::{ApiKeys, describe_last_use};
use crate::catalog;
use crate::config::{ConfigError, Settings};
use crate::principal::Role;
use crate::telemetry;

/// Manifold: one MCP endpoint in front of many upstream MCP servers.
#[derive(Debug, Parser)]
#[command(name = "manifold", version, about)]
pub struct Cli {
    /// TOML settings file (default: ./manifold.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (HTTP server).
    Serve,
    /// Apply pending catalog migrations and exit.
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Work with the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage the key that seals stored secrets.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print it once.
    Create {
        /// User id the key authenticates as.
        #[arg(long, value_name = "NAME")]
        user: String,
        /// Give the key the admin role.
        #[arg(long)]
        admin: bool,
        /// A label for the key (1-64 printable characters).
        #[arg(long, value_name = "LABEL")]
        name: Option<String>,
    },
    /// List keys (never their secret).
    List,
    /// Revoke a key by id (`key_…`).
    Revoke {
        /// The key id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Re-seal every stored secret and the key check with a new key, in one
    /// transaction; run it with the current key configured.
    Rotate {
        /// The new key: base64 of 32 bytes (`openssl rand -base64 32`), or
        /// `-` to read it from standard input.
        #[arg(long, value_name = "KEY")]
        new_key: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate the settings, print them (secrets hidden), and exit.
    Check,
}

impl Cli {
    /// Loads the settings, starts the async runtime with their
    /// `worker_threads` and runs the chosen command on it; the exit code is
    /// 2 for bad configuration.
    pub fn run(self) -> ExitCode {
        let settings = match Settings::load(self.config.as_deref()) {
            Ok(settings) => settings,
            Err(err) => return config_failure(&err),
        };
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        runtime.enable_all();
        if settings.worker_threads > 0 {
            runtime.worker_threads(settings.worker_threads);
        }
        match runtime.build() {
            Ok(runtime) => runtime.block_on(self.run_with(settings)),
            Err(err) => {
                eprintln!("error: cannot start the async runtime: {err}");
                ExitCode::FAILURE
            }
        }
    }

    /// Runs the chosen command with `settings`.
    async fn run_with(self, settings: Settings) -> ExitCode {
        telemetry::init(&settings.log);
        let ran = self.command.run(settings).await;
        // The spans still queued (traces on): sent before the process ends.
        telemetry::shutdown().await;
        match ran {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                if let Some(config) = err.downcast_ref::<ConfigError>() {
                    return config_failure(config);
                }
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        }
    }
}

fn config_failure(err: &ConfigError) -> ExitCode {
    eprintln!("{err}");
    ExitCode::from(2)
}

async fn open_catalog(settings: &Settings) -> anyhow::Result<catalog::Catalog> {
    crate::app::open_catalog(settings).await
}

impl Command {
    async fn run(self, settings: Settings) -> anyhow::Result<()> {
        match self {
            Self::Serve => serve(settings).await,
            Self::Migrate => {
                let catalog = open_catalog(&settings).await?;
                println!(
                    "catalog migrated ({:?} at {})",
                    catalog.backend(),
                    crate::secret::redact_url(&settings.catalog_url())
                );
                Ok(())
            }
            Self::Keys { command } => {
                let keys = ApiKeys::new(open_catalog(&settings).await?);
                command.run(&keys).await
            }
            Self::Secrets { command } => command.run(&settings).await,
            Self::Config {
                command: ConfigCommand::Check,
            } => {
                // Every secret-bearing key serializes redacted (`Secret`,
                // `SecretUrl`); the catalog URL is shown as it will be used.
                let mut shown = settings.clone();
                shown.catalog.url = crate::secret::SecretUrl::new(settings.catalog_url());
                println!("# configuration is valid\n{}", toml::to_string(&shown)?);
                Ok(())
            }
        }
    }
}

impl KeysCommand {
    async fn run(self, keys: &ApiKeys) -> anyhow::Result<()> {
        match self {
            Self::Create { user, admin, name } => {
                let role = if admin { Role::Admin } else { Role::User };
                let (key, secret) = keys.create_named(&user, role, name.as_deref()).await?;
                eprintln!(
                    "created {} for user `{}` ({}); it is shown only once:",
                    key.id, key.user_id, key.role
                );
                println!("{}", secret.expose());
            }
            Self::List => {
                println!(
                    "{:<22} {:<20} {:<6} {:<12} {:<26} {:<26} status",
                    "id", "user", "role", "prefix", "created", "last used"
                );
                for key in keys.list().await? {
                    let status = if key.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<22} {:<20} {:<6} {:<12} {:<26} {:<26} {status}",
                        key.id,
                        key.user_id,
                        key.role,
                        format!("{}…", key.prefix),
                        key.created_at.to_rfc3339(),
                        describe_last_use(key.last_used_at)
                    );
                }
            }
            Self::Revoke { id } => {
                keys.revoke(&id).await?;
                println!("revoked {id}");
            }
        }
        Ok(())
    }
}

impl SecretsCommand {
    async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let Self::Rotate { new_key } = self;
        let new_key = if new_key == "-" {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line
        } else {
            new_key
        };
        let new_key =
            crate::secret::parse_key(&new_key).map_err(|e| anyhow::anyhow!("--new-key: {e}"))?;
        // No start-up key check here: the catalog may hold the new key already.
        let catalog = open_catalog(settings).await?;
        let current = catalog.cipher().clone();
        let done = catalog::key_check::rotate(&catalog, settings, &current, &new_key).await?;
        let r = done.resealed;
        println!(
            "re-sealed {} secrets with the new key ({} header values, {} env values, \
             {} OAuth client secrets, {} OAuth credentials) and the key check",
            r.total(),
            r.header_values,
            r.env_values,
            r.client_secrets,
            r.oauth_credentials
        );
        match done.key_file {
            Some(path) => println!(
                "{} now holds the new key: restart the gateway to use it",
                path.display()
            ),
            None => println!(
                "next: set secrets.encryption_key (MANIFOLD_SECRETS__ENCRYPTION_KEY) to the new \
                 key on every process that uses this catalog, and restart them"
            ),
        }
        Ok(())
    }
}

/// `serve`: the first SIGTERM or Ctrl-C drains (see
/// [`Application::run_draining`]); a second one ends the process at once
/// (stdio children then see their stdin close).
async fn serve(settings: Settings) -> anyhow::Result<()> {
    crate::app::raise_open_file_limit();
    let app = Application::build(settings).await?;
    let mut signals = StopSignals::listen();
    let (first, first_seen) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(async move {
        let (signal, _) = signals.next().await;
        tracing::info!(signal, "shutting down (a second signal exits at once)");
        let _ = first.send(());
        let (signal, number) = signals.next().await;
        tracing::warn!(signal, "second signal: exiting at once, without draining");
        std::process::exit(128 + number);
    });
    let served = app
        .run_draining(async move {
            let _ = first_seen.await;
        })
        .await;
    watcher.abort();
    served
}

/// SIGTERM and SIGINT (Ctrl-C), registered once for the whole run, so a
/// second signal is never missed between two waits.
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let register = |kind: SignalKind, name: &str| {
                signal(kind)
                    .inspect_err(|err| tracing::error!(error = %err, "cannot listen for {name}"))
                    .ok()
            };
            Self {
                term: register(SignalKind::terminate(), "SIGTERM"),
                int: register(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next stop signal: its name and number.
    async fn next(&mut self) -> (&'static str, i32) {
        #[cfg(unix)]
        {
            async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        if signal.recv().await.is_none() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = recv(&mut self.term) => ("SIGTERM", 15),
                () = recv(&mut self.int) => ("SIGINT", 2),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(err) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %err, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            ("Ctrl-C", 2)
        }
    }
}
