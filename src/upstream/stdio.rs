//! stdio links: the upstream is a child process speaking JSON-RPC on its
//! stdin/stdout.
//!
//! The child runs in its own process group. A keeper task owns it for the
//! link's whole life:
//! - the child exits by itself (a crash, `kill -9`, stdout closed and
//!   exit): the link breaks at once, with the exit status and the child's
//!   last stderr lines as the reason, whether a call is in flight or not;
//! - the link closes (disconnect, idle eviction, shutdown, or broken
//!   otherwise): stdin is closed, the child gets 2 s to exit, then SIGTERM
//!   to its group, 2 s more, then SIGKILL; it is always reaped.
//!
//! Its stderr goes to the log at debug level, line by line (so a chatty
//! server can never fill the pipe and stall); the last lines are kept for
//! the error of a child that dies.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use process_wrap::tokio::{ChildWrapper, CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::{RoleClient, RunningService};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::codec::{FramedRead, LinesCodec};

use crate::error::{Error, ErrorCode};
use crate::upstream::health::LinkHealth;
use crate::upstream::{StdioCommand, Target, UpstreamClient, init_error};

/// How long a closing child gets after stdin closes, and again after SIGTERM.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Spawns the command and runs the MCP handshake over its stdio.
pub(crate) async fn open(
    target: &Target,
    stdio: &StdioCommand,
    client: UpstreamClient,
    health: &Arc<LinkHealth>,
) -> Result<(RunningService<RoleClient, UpstreamClient>, Option<u32>), Error> {
    let program = stdio.program.as_str();
    let mut command = tokio::process::Command::new(program);
    command
        .args(&stdio.args)
        .envs(stdio.env.iter().map(|(k, v)| (k, v.expose())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = &stdio.cwd {
        command.current_dir(cwd);
    }
    let mut wrapped = CommandWrap::from(command);
    wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let mut child = wrapped.spawn().map_err(|e| Error::Upstream {
        code: ErrorCode::UpstreamUnreachable,
        message: format!("{}: cannot start `{program}`: {e}", target.name),
    })?;
    let pid = child.id();
    let (Some(stdin), Some(stdout)) = (child.stdin().take(), child.stdout().take()) else {
        return Err(Error::internal("a spawned child has no stdin or stdout"));
    };
    let server = target.name.to_string();
    if let Some(stderr) = child.stderr().take() {
        let server = server.clone();
        let health = health.clone();
        // Ends by itself when the child closes stderr (it exits or is killed).
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(server = %server, "stderr: {line}");
                health.stderr_line(&line);
            }
        });
    }
    let reaped = health.track_child();
    let transport = lines(stdin, stdout, health.clone(), &server);
    tokio::spawn(keep(child, health.clone(), server, reaped.clone()));
    match client.serve(transport).await {
        Ok(service) => Ok((service, pid)),
        Err(err) => {
            let error = init_error(target, err);
            // A child that exited says why better than the broken pipe:
            // its status and last stderr lines.
            let exited = tokio::time::timeout(Duration::from_millis(500), reaped.cancelled())
                .await
                .is_ok();
            let error = match (exited, health.reason(), error) {
                (true, Some(reason), Error::Upstream { code, .. }) => Error::Upstream {
                    code,
                    message: target.redact(reason),
                },
                (_, _, error) => error,
            };
            // The keeper stops a child still running.
            health.fail(error.to_string());
            Err(error)
        }
    }
}

/// The most bytes of one message line from a child (rmcp's own limit).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// JSON-RPC over the child's pipes, one message per line, every line read
/// through the link's [`RawLane`](crate::upstream::raw::RawLane). A line
/// that is no message (or is too long) is logged and skipped.
fn lines(
    stdin: impl tokio::io::AsyncWrite + Send + Unpin + 'static,
    stdout: impl tokio::io::AsyncRead + Send + Unpin + 'static,
    health: Arc<LinkHealth>,
    server: &str,
) -> (
    impl futures::Sink<ClientJsonRpcMessage, Error = std::io::Error> + Send + Unpin + 'static,
    impl futures::Stream<Item = ServerJsonRpcMessage> + Send + Unpin + 'static,
) {
    let lane = health.lane().clone();
    let writer = Box::pin(futures::sink::unfold(
        (stdin, health),
        |(mut stdin, health), message: ClientJsonRpcMessage| async move {
            health.lane().outbound(&message);
            let mut line = serde_json::to_vec(&message)?;
            line.push(b'\n');
            stdin.write_all(&line).await?;
            stdin.flush().await?;
            Ok::<_, std::io::Error>((stdin, health))
        },
    ));
    let server = server.to_owned();
    let reader = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE))
        .filter_map(move |line| {
            let read = match line {
                Ok(line) if line.trim().is_empty() => None,
                Ok(line) => match lane.read(&line) {
                    Ok(message) => Some(message),
                    Err(err) => {
                        tracing::warn!(server = %server, error = %err, "a stdout line is not a JSON-RPC message; skipped");
                        None
                    }
                },
                Err(err) => {
                    tracing::warn!(server = %server, error = %err, "a stdout line was skipped");
                    None
                }
            };
            std::future::ready(read)
        });
    (writer, Box::pin(reader))
}

/// Owns the child: reports its exit, or stops it when the link closes.
async fn keep(
    mut child: Box<dyn ChildWrapper>,
    health: Arc<LinkHealth>,
    server: String,
    reaped: tokio_util::sync::CancellationToken,
) {
    let exited = tokio::select! {
        status = child.wait() => Some(status),
        () = health.dead() => None,
    };
    match exited {
        Some(status) => {
            let status = match status {
                Ok(status) => status.to_string(),
                Err(err) => format!("unknown status: {err}"),
            };
            // Let the stderr reader take the last lines first.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let tail = health.stderr_tail();
            let mut reason = format!("{server}: the process exited ({status})");
            if !tail.is_empty() {
                reason.push_str("; last stderr: ");
                reason.push_str(&tail);
            }
            health.fail(reason);
        }
        None => stop(&mut *child, &server).await,
    }
    reaped.cancel();
}

/// Stops a child whose link is closing: stdin is closed by then, so a
/// well-behaved server exits by itself; then SIGTERM, then SIGKILL.
async fn stop(child: &mut dyn ChildWrapper, server: &str) {
    if let Ok(Ok(_)) = tokio::time::timeout(EXIT_GRACE, child.wait()).await {
        return;
    }
    if let Err(err) = child.signal(libc_sigterm()) {
        tracing::debug!(%server, error = %err, "SIGTERM to the upstream failed");
    } else if let Ok(Ok(_)) = tokio::time::timeout(EXIT_GRACE, child.wait()).await {
        return;
    }
    tracing::warn!(%server, "the upstream ignored stdin EOF and SIGTERM; killing it");
    if let Err(err) = Box::into_pin(child.kill()).await {
        tracing::warn!(%server, error = %err, "killing the upstream failed");
    }
}

/// SIGTERM's number (15 on every Unix Manifold runs on).
const fn libc_sigterm() -> i32 {
    15
}
