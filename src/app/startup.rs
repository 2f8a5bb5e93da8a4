//! What start-up asks of the host, with errors that say what to fix:
//! the open-file limit, a private data folder, and a catalog database that
//! answers within `catalog.connect_timeout_seconds`.
//!
//! - The soft `RLIMIT_NOFILE` is raised to the hard limit: every client
//!   connection, upstream link and stdio child's pipes is a descriptor, and
//!   the soft default (often 1024) is far below what a gateway needs.
//! - `data_dir` (and the SQLite catalog's folder) is created 0700, and the
//!   SQLite file with its `-wal`/`-shm` companions is 0600: they hold API key
//!   hashes and sealed secrets. SQLite gives the companions the database
//!   file's mode, so creating the file 0600 first is enough.
//! - PostgreSQL is tried once, alone, before the pool opens: the pool
//!   retries for 30 s and then reports only "pool timed out", while one
//!   connection says at once that the port refused, the database is missing
//!   or the password is wrong.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::catalog::{self, Catalog};
use crate::config::{CatalogBackend, ConfigError, Settings};
use crate::secret::Cipher;

/// Raises the soft open-file limit to the hard one and logs the change.
/// Returns the soft limit in force afterwards, if it is known.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (limit.current, limit.maximum) else {
        return None; // unlimited already
    };
    // No hard limit means "unlimited", which the soft limit cannot be set
    // to on Linux (it is capped by fs.nr_open): keep the soft limit.
    let Some(hard) = hard else { return Some(soft) };
    if soft >= hard {
        return Some(soft);
    }
    let raised = Rlimit {
        current: Some(hard),
        maximum: Some(hard),
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(from = soft, to = hard, "raised the open-file limit");
            Some(hard)
        }
        Err(err) => {
            tracing::warn!(soft, hard, error = %err, "could not raise the open-file limit");
            Some(soft)
        }
    }
}

/// The soft open-file limit now (`None`: unlimited or unknown).
pub fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Opens the catalog the settings name: prepares the data folder and the
/// SQLite file (private modes), loads the secrets key, reaches PostgreSQL
/// within `catalog.connect_timeout_seconds`, and applies migrations.
pub async fn open_catalog(settings: &Settings) -> anyhow::Result<Catalog> {
    prepare_data_dir(settings)?;
    let backend = settings.catalog_backend()?;
    let url = settings.catalog_url();
    if backend == CatalogBackend::Sqlite {
        prepare_sqlite_file(&url)?;
    }
    if backend == CatalogBackend::Postgres {
        let limit = Duration::from_secs(settings.catalog.connect_timeout_seconds);
        reach_postgres(&url, limit).await?;
    }
    let cipher = Cipher::load(settings.secrets.encryption_key.expose(), &settings.data_dir)?;
    catalog::connect(settings, cipher).await
}

/// Creates `data_dir` (0700) when missing. Fails naming the folder when
/// Manifold is sure to write there (the default SQLite file, a generated
/// secrets key) and cannot; otherwise a folder that cannot be made is left
/// to whatever needs it later, which names the file.
pub fn prepare_data_dir(settings: &Settings) -> Result<(), ConfigError> {
    let required = settings.secrets.encryption_key.is_empty() || settings.catalog.url.is_empty();
    match private_dir(&settings.data_dir, required) {
        Ok(()) => Ok(()),
        Err(problem) => Err(ConfigError {
            key: "data_dir".into(),
            message: format!(
                "{problem}; point data_dir (MANIFOLD_DATA_DIR) at a folder {} can write",
                whoami()
            ),
        }),
    }
}

/// Makes sure `dir` exists (created 0700) and, when `required`, that this
/// process may write in it. The error names the folder.
fn private_dir(dir: &Path, required: bool) -> Result<(), String> {
    match make_private_dir(dir, required) {
        Err(problem) if !required => {
            tracing::debug!(%problem, "data_dir is not usable; nothing needs it yet");
            Ok(())
        }
        done => done,
    }
}

fn make_private_dir(dir: &Path, required: bool) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let access = rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK;
            if required && let Err(err) = rustix::fs::access(dir, access) {
                return Err(format!(
                    "`{}` is not writable: {}",
                    dir.display(),
                    std::io::Error::from(err)
                ));
            }
            Ok(())
        }
        Ok(_) => Err(format!("`{}` exists but is not a folder", dir.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .map_err(|err| format!("cannot create `{}`: {err}", dir.display()))
        }
        Err(err) => Err(format!("cannot read `{}`: {err}", dir.display())),
    }
}

/// Who this process runs as, for error messages.
fn whoami() -> String {
    format!("uid {}", rustix::process::geteuid().as_raw())
}

/// The file of a SQLite catalog URL (`None` for an in-memory database).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (!file.as_os_str().is_empty()).then(|| file.to_path_buf())
}

/// Creates the SQLite catalog's folder (0700) and file (0600) before SQLite
/// does (with the umask's modes), and narrows an existing file and its
/// `-wal`/`-shm` companions to 0600.
fn prepare_sqlite_file(url: &str) -> Result<(), ConfigError> {
    let Some(file) = sqlite_file(url) else {
        return Ok(());
    };
    let refuse = |message: String| ConfigError {
        key: "catalog.url".into(),
        message,
    };
    if let Some(folder) = file.parent().filter(|f| !f.as_os_str().is_empty()) {
        private_dir(folder, true).map_err(|problem| {
            refuse(format!(
                "the SQLite catalog's folder: {problem}; make it writable for {} or set data_dir / catalog.url",
                whoami()
            ))
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&file) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => {
            return Err(refuse(format!(
                "cannot create the SQLite catalog `{}`: {err}",
                file.display()
            )));
        }
    }
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let path = PathBuf::from(format!("{}{suffix}", file.display()));
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), "narrowed the catalog file to mode 0600")
                }
                Err(err) => {
                    tracing::warn!(file = %path.display(), error = %err, "the catalog file is readable by others and its mode could not be narrowed")
                }
            }
        }
    }
    Ok(())
}

/// Opens one connection to the PostgreSQL catalog within `limit`, so that
/// an unreachable server, a missing database or a refused login is reported
/// at once, once, naming the host.
async fn reach_postgres(url: &str, limit: Duration) -> anyhow::Result<()> {
    // The URL parses here as it does in the catalog (which never echoes it).
    let options = PgConnectOptions::from_str(url).context("catalog.url: not a PostgreSQL URL")?;
    let place = if options.get_host().starts_with('/') {
        format!("the socket in {}", options.get_host())
    } else {
        format!("{}:{}", options.get_host(), options.get_port())
    };
    let connecting = PgConnection::connect_with(&options);
    match tokio::time::timeout(limit, connecting).await {
        Ok(Ok(conn)) => {
            if let Err(err) = conn.close().await {
                tracing::debug!(error = %err, "closing the first catalog connection");
            }
            Ok(())
        }
        Ok(Err(err)) => Err(anyhow::anyhow!(describe_postgres_error(
            &err, &place, &options
        ))),
        Err(_) => Err(anyhow::anyhow!(
            "catalog: PostgreSQL at {place} did not answer within {} s \
             (catalog.connect_timeout_seconds); check the host and port in catalog.url \
             and that no firewall drops the connection",
            limit.as_secs()
        )),
    }
}

/// One line for a failed first connection: where, what, and what to fix.
fn describe_postgres_error(err: &sqlx::Error, place: &str, options: &PgConnectOptions) -> String {
    let database = options.get_database().unwrap_or(options.get_username());
    let user = options.get_username();
    match err {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
            "catalog: cannot connect to PostgreSQL at {place}: the connection was refused{}; \
             is it running and listening there? (catalog.url)",
            io.raw_os_error()
                .map(|n| format!(" (os error {n})"))
                .unwrap_or_default()
        ),
        sqlx::Error::Io(io) => {
            format!("catalog: cannot reach PostgreSQL at {place}: {io} (catalog.url)")
        }
        sqlx::Error::Tls(tls) => {
            format!(
                "catalog: TLS with PostgreSQL at {place} failed: {tls} (sslmode in catalog.url)"
            )
        }
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("3D000") => format!(
                "catalog: the database `{database}` does not exist on PostgreSQL at {place}; \
                 create it (createdb {database}) or name another in catalog.url"
            ),
            Some("28P01" | "28000") => format!(
                "catalog: PostgreSQL at {place} refused the login of `{user}`: {}; \
                 check the user and password in catalog.url",
                db.message()
            ),
            _ => format!(
                "catalog: PostgreSQL at {place} refused the connection: {}",
                db.message()
            ),
        },
        other => format!("catalog: cannot open PostgreSQL at {place}: {other}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_names_its_file_unless_it_is_in_memory() {
        assert_eq!(
            sqlite_file("sqlite://./data/manifold.db"),
            Some(PathBuf::from("./data/manifold.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_data_folder_and_the_sqlite_file_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        private_dir(&data, true).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        let file = data.join("m.db");
        std::fs::write(format!("{}-wal", file.display()), b"").unwrap();
        std::fs::set_permissions(
            format!("{}-wal", file.display()),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        prepare_sqlite_file(&format!("sqlite://{}", file.display())).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(Path::new(&format!("{}-wal", file.display()))), 0o600);
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let err = private_dir(&file.join("data"), true).unwrap_err();
        assert!(
            err.contains(&file.join("data").display().to_string()),
            "{err}"
        );
        assert!(
            private_dir(&file.join("data"), false).is_ok(),
            "not needed: no error"
        );
    }
}
