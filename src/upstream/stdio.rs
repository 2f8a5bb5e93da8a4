//! stdio links: the upstream is a child process speaking JSON-RPC on its
//! stdin/stdout (rmcp's child-process transport).
//!
//! The child runs in its own process group, so closing the link (disconnect,
//! idle eviction, shutdown) ends it and anything it spawned; rmcp closes
//! stdin, waits, sends SIGTERM, then kills, and reaps the child. Its stderr
//! goes to the log at debug level, line by line, so a chatty server can
//! never fill the pipe and stall.

use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::ServiceExt;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::error::{Error, ErrorCode};
use crate::upstream::{StdioCommand, Target, UpstreamClient, init_error};

/// Spawns the command and runs the MCP handshake over its stdio.
pub(crate) async fn open(
    target: &Target,
    stdio: &StdioCommand,
    client: UpstreamClient,
) -> Result<(RunningService<RoleClient, UpstreamClient>, Option<u32>), Error> {
    let program = stdio.program.as_str();
    let mut command = tokio::process::Command::new(program);
    command.args(&stdio.args);
    command.envs(stdio.env.iter().map(|(k, v)| (k, v.expose())));
    if let Some(cwd) = &stdio.cwd {
        command.current_dir(cwd);
    }
    let mut wrapped = CommandWrap::from(command);
    wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let (process, stderr) = TokioChildProcess::builder(wrapped)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Upstream {
            code: ErrorCode::UpstreamUnreachable,
            message: format!("{}: cannot start `{program}`: {e}", target.name),
        })?;
    let pid = process.id();
    if let Some(stderr) = stderr {
        let server = target.name.clone();
        // Ends by itself when the child closes stderr (it exits or is killed).
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(server = %server, "stderr: {line}");
            }
        });
    }
    let service = client
        .serve(process)
        .await
        .map_err(|e| init_error(target, e))?;
    Ok((service, pid))
}
