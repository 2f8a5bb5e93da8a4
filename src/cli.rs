//! The command line: `serve`, `migrate`, `keys create|list|revoke` and
//! `config check`. Every command reads the same layered settings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::Application;
use crate::auth::api_key::{ApiKeys, describe_last_use};
use crate::catalog;
use crate::config::{ConfigError, Settings};
use crate::principal::Role;
use crate::secret::Cipher;
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
enum ConfigCommand {
    /// Load and validate the settings, print them (secrets hidden), and exit.
    Check,
}

impl Cli {
    /// Runs the chosen command; the exit code is 2 for bad configuration.
    pub async fn run(self) -> ExitCode {
        let settings = match Settings::load(self.config.as_deref()) {
            Ok(settings) => settings,
            Err(err) => return config_failure(&err),
        };
        telemetry::init(&settings.log);
        match self.command.run(settings).await {
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
    let cipher = Cipher::load(settings.secrets.encryption_key.expose(), &settings.data_dir)?;
    catalog::connect(settings, cipher).await
}

impl Command {
    async fn run(self, settings: Settings) -> anyhow::Result<()> {
        match self {
            Self::Serve => {
                let app = Application::build(settings).await?;
                app.run_until(shutdown_signal()).await
            }
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
            Self::Create { user, admin } => {
                let role = if admin { Role::Admin } else { Role::User };
                let (key, secret) = keys.create(&user, role).await?;
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

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
