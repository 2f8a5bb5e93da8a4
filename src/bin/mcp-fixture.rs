//! `mcp-fixture`: a small, deterministic MCP server for Manifold's tests.
//!
//! ```text
//! mcp-fixture --transport stdio
//! mcp-fixture --transport streamable-http [--port 0] [--bind 127.0.0.1]
//! ```
//!
//! Tools (see [`server`]): `echo`, `add`, `slow`, `fail`, `progress`,
//! `add_tool` (adds `extra` and sends `notifications/tools/list_changed`),
//! `whoami` (the HTTP request headers it saw, `{}` on stdio).
//!
//! Environment knobs:
//! - `FIXTURE_TOOL_COUNT=N` adds N trivial tools `t0`…`t{N-1}`; `tools/list`
//!   is always served in pages of 50 with `nextCursor`.
//! - `FIXTURE_NO_SCHEMA=1` adds `broken_schema`, whose input schema requires
//!   a property it never declares (`{"type":"object","required":["ghost"]}`).
//! - `FIXTURE_RELAY=1` adds tools that exercise a gateway's relay: `sample`
//!   (sampling/createMessage), `sample_later` and `later_result` (sampling
//!   outside any call), `elicit` (elicitation/create), `roots`
//!   (roots/list), `notify` (tools/resources/prompts list_changed or
//!   resources/updated), `die` (exits mid-call) and `cancelled_count` (how
//!   many `slow` calls were cancelled).
//! - `FIXTURE_RICH=1` adds `file_ticket` (a title, annotations and an input
//!   schema with nested objects, an array and an enum; answers with what it
//!   got as structuredContent), `tiny_image` (an image result) and
//!   `link_note` (a resource link).
//! - `FIXTURE_CONTENT=notes|broken|slow` adds resources, a prompt and
//!   completions; `FIXTURE_NOTE_COUNT=N` adds N notes (see [`content`]).
//! - `FIXTURE_OAUTH=1` (streamable HTTP only) puts `/mcp` behind OAuth 2.1:
//!   the fixture is also the authorization server; `FIXTURE_OAUTH_TOKEN_TTL`
//!   is the access-token lifetime in seconds (see [`oauth`]).
//! - `FIXTURE_UNKNOWN_SESSION=404|400` (streamable HTTP only): the answer
//!   to a request whose `Mcp-Session-Id` the fixture does not hold (as after
//!   a restart). `404` (default) is rmcp's spec answer, `Not Found: Session
//!   not found`; `400` is the TypeScript SDK examples' `400 Bad Request`
//!   with `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request:
//!   No valid session ID provided"},"id":null}` (see [`unknown_session`]).
//! - `FIXTURE_LOG` is a tracing filter for the log (default
//!   `warn,mcp_fixture=info`).
//!
//! `POST /admin/forget-sessions` (streamable HTTP) ends every MCP session
//! the fixture holds without restarting, as a server whose sessions expire
//! would; it answers how many there were.
//!
//! Streamable HTTP is served at `/mcp`; the first line on stdout is
//! `LISTENING <addr>` (so `--port 0` works). A fixed `--port` can be bound
//! again right after the process before it was killed: tokio's listener sets
//! `SO_REUSEADDR`, so connections left in `TIME_WAIT` do not block it. On stdio, stdout is the protocol.
//! Logs always go to stderr. The process exits cleanly on SIGTERM, SIGINT
//! and (stdio) stdin EOF.

#[path = "mcp_fixture/content.rs"]
mod content;
#[path = "mcp_fixture/oauth.rs"]
mod oauth;
#[path = "mcp_fixture/server.rs"]
mod server;
#[path = "mcp_fixture/unknown_session.rs"]
mod unknown_session;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use server::{Fixture, Settings};
use unknown_session::UnknownSession;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportKind {
    Stdio,
    StreamableHttp,
}

/// A deterministic MCP server for tests.
#[derive(Debug, Parser)]
#[command(name = "mcp-fixture")]
struct Args {
    /// How to speak MCP.
    #[arg(long, value_enum)]
    transport: TransportKind,
    /// TCP port for streamable HTTP (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind for streamable HTTP.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("FIXTURE_LOG")
                .unwrap_or_else(|_| EnvFilter::new("warn,mcp_fixture=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let settings = Settings::from_env()?;
    let oauth = oauth::ttl_from_env()?;
    let unknown = UnknownSession::from_env()?;
    match args.transport {
        TransportKind::Stdio if oauth.is_some() => {
            anyhow::bail!("FIXTURE_OAUTH needs --transport streamable-http")
        }
        TransportKind::Stdio => run_stdio(settings).await,
        TransportKind::StreamableHttp => {
            let addr = SocketAddr::new(args.bind, args.port);
            run_http(settings, addr, oauth, unknown).await
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install the SIGINT handler")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

async fn run_stdio(settings: Settings) -> anyhow::Result<()> {
    tracing::info!("mcp-fixture: serving MCP on stdio");
    let service = Fixture::new(settings)
        .serve(rmcp::transport::stdio())
        .await
        .context("MCP handshake on stdio")?;
    let token = service.cancellation_token();
    tokio::select! {
        quit = service.waiting() => {
            tracing::info!("mcp-fixture: stdio session ended ({quit:?})");
        }
        signal = shutdown_signal() => {
            tracing::info!("mcp-fixture: {}, stopping", signal?);
            token.cancel();
        }
    }
    // A pending read on tokio's stdin cannot be cancelled, so the runtime
    // could wait for it forever on shutdown: leave now.
    std::io::stderr().flush().ok();
    std::process::exit(0)
}

async fn run_http(
    settings: Settings,
    addr: SocketAddr,
    oauth: Option<std::time::Duration>,
    unknown: UnknownSession,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    let local = listener.local_addr().context("local address")?;
    let ct = CancellationToken::new();
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(ct.child_token())
        // A test fixture: any Host header (tests may use names or 0.0.0.0).
        .disable_allowed_hosts();
    let sessions = Arc::new(LocalSessionManager::default());
    let service = StreamableHttpService::new(
        move || Ok(Fixture::new(settings.clone())),
        sessions.clone(),
        config,
    );
    let forget = {
        let sessions = sessions.clone();
        axum::routing::post(move || async move {
            use rmcp::transport::streamable_http_server::session::SessionManager;
            let ids: Vec<_> = sessions.sessions.read().await.keys().cloned().collect();
            for id in &ids {
                let _ = sessions.close_session(id).await;
            }
            tracing::info!("mcp-fixture: forgot {} sessions", ids.len());
            ids.len().to_string()
        })
    };
    let mcp = axum::Router::new()
        .nest_service("/mcp", service)
        .route("/admin/forget-sessions", forget);
    let mut router = unknown.apply(mcp, sessions);
    if let Some(ttl) = oauth {
        router = oauth::protect(router, local, ttl);
    }
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "LISTENING {local}").context("write to stdout")?;
        stdout.flush().context("flush stdout")?;
    }
    tracing::info!("mcp-fixture: serving streamable HTTP at http://{local}/mcp");
    let stop = ct.clone();
    // Without TCP_NODELAY, small SSE writes wait on delayed ACKs (~40 ms).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!("TCP_NODELAY: {err}");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            match shutdown_signal().await {
                Ok(signal) => tracing::info!("mcp-fixture: {signal}, stopping"),
                Err(err) => tracing::error!("mcp-fixture: {err:#}"),
            }
            stop.cancel();
        })
        .await
        .context("serve HTTP")?;
    ct.cancel();
    Ok(())
}
