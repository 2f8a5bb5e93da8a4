//! Real upstream MCP servers for tests: the crate's own `mcp-fixture`
//! binary and the Node `@modelcontextprotocol/server-everything`.
//!
//! Every server started here runs in its own process group and is stopped on
//! Drop (SIGTERM to the group, SIGKILL after a grace period, then reaped), so
//! no test leaves processes or zombies behind. stdio servers are not started
//! here: the helpers return the command and arguments for a stdio `Target`
//! (or rmcp's `TokioChildProcess`), whose owner runs them.
//!
//! server-everything is installed by `scripts/fixtures/npm.sh` into
//! `$MANIFOLD_TEST_CACHE/npm` (default `.cache/test/npm` in the repository).
//! When it is missing, the tests PANIC saying so; they never skip.
//!
//! A server's stderr (and stdout, for HTTP servers) goes to a log file that
//! [`ServerProcess::log`] reads and start-up failures print; with
//! `TEST_LOG=1` the file's path is printed too.
//!
//! Network servers can die and come back on the same port, as a deployed
//! upstream does: [`Restartable::kill`] sends SIGKILL to the process group
//! and reaps it, [`Restartable::restart`] starts the same command with the
//! same environment on the same port (retrying the bind for a moment), and
//! [`kill_and_restart_after`] kills now and restarts later on a thread of
//! its own while the test goes on.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use crate::support::redis::free_port;

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long a restart retries when the port is not free yet.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);

/// An upstream that can die and come back on the same address.
pub trait Restartable: Send + 'static {
    /// SIGKILL to the server's process group, then reap it; a no-op when it
    /// is not running.
    fn kill(&mut self);
    /// Kills the server if it runs, then starts it again on the same port
    /// with the same arguments and environment, and waits until it listens.
    fn restart(&mut self);
}

/// A server killed at [`kill_and_restart_after`] and started again on a
/// thread of its own; [`Comeback::wait`] gives it back.
#[derive(Debug)]
pub struct Comeback<S: Restartable> {
    thread: Option<std::thread::JoinHandle<(S, Instant)>>,
}

/// Kills `server` now, and on a thread starts it again on the same port
/// once `delay` has passed. The test keeps running meanwhile.
pub fn kill_and_restart_after<S: Restartable>(mut server: S, delay: Duration) -> Comeback<S> {
    server.kill();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(delay);
        server.restart();
        (server, Instant::now())
    });
    Comeback {
        thread: Some(thread),
    }
}

impl<S: Restartable> Comeback<S> {
    /// Waits for the restart; the server, listening again, and the moment
    /// it was ready.
    pub async fn wait(mut self) -> (S, Instant) {
        let thread = self.thread.take().expect("a comeback is awaited once");
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("the restart thread is joined")
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl<S: Restartable> Drop for Comeback<S> {
    fn drop(&mut self) {
        // The thread owns the server: wait for it, so the server is stopped
        // by its own Drop before the test ends.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `mcp-fixture`'s tools with no knob set, sorted.
pub const FIXTURE_TOOLS: [&str; 7] = [
    "add", "add_tool", "echo", "fail", "progress", "slow", "whoami",
];

/// The path of the `mcp-fixture` binary Cargo built for these tests.
pub fn fixture_bin() -> String {
    env!("CARGO_BIN_EXE_mcp-fixture").to_owned()
}

/// `mcp-fixture` over stdio: the command and arguments of a stdio `Target`.
pub fn fixture_stdio() -> (String, Vec<String>) {
    (
        fixture_bin(),
        vec!["--transport".to_owned(), "stdio".to_owned()],
    )
}

/// A child process in its own process group, stopped with its group on Drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    name: String,
    log_path: PathBuf,
    /// Killed and reaped by [`ServerProcess::kill`]: its pid may be reused,
    /// so it is never signalled again.
    reaped: bool,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Spawns `command` as a process-group leader, stderr (and stdout unless
    /// `keep_stdout`) into a log file.
    fn spawn(name: &str, mut command: Command, keep_stdout: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("manifold-upstream-")
            .tempdir()
            .expect("a temporary folder for the upstream's log");
        let log_path = dir.path().join(format!("{name}.log"));
        let log = File::create(&log_path).expect("create the upstream log file");
        let log_err = log.try_clone().expect("clone the upstream log file");
        command
            .stdin(Stdio::null())
            .stderr(Stdio::from(log_err))
            .process_group(0);
        if keep_stdout {
            command.stdout(Stdio::piped());
        } else {
            command.stdout(Stdio::from(log));
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!(
                "upstream {name}: pid {}, log {}",
                child.id(),
                log_path.display()
            );
        }
        Self {
            child,
            name: name.to_owned(),
            log_path,
            reaped: false,
            _dir: dir,
        }
    }

    /// SIGKILL to the whole process group, then reap the leader. The log
    /// stays readable.
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        self.signal_group("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        !self.reaped && matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:`port`.
    fn wait_for_port(&mut self, port: u16) {
        if let Err(log) = self.try_wait_for_port(port) {
            panic!(
                "{} exited while waiting for it to listen on port {port}; its log:\n{log}",
                self.name
            );
        }
    }

    /// Like [`Self::wait_for_port`], but the server exiting first is an
    /// `Err` with its log (a port not free yet, on a restart).
    fn try_wait_for_port(&mut self, port: u16) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if !self.is_running() {
                return Err(self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {addr} within {START_TIMEOUT:?}; its log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (a `kill` signal name) to the whole process group.
    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal_group("TERM");
            let deadline = Instant::now() + STOP_GRACE;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Whatever is left of the group (the leader or anything it spawned).
        self.signal_group("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mcp-fixture --transport streamable-http`, running.
#[derive(Debug)]
pub struct FixtureHttp {
    process: ServerProcess,
    addr: SocketAddr,
    /// What it was started with, for [`Restartable::restart`].
    env: Vec<(String, String)>,
}

/// Why a fixture did not start.
enum StartError {
    /// It exited because its port was still taken.
    PortTaken(String),
    /// Anything else: the message to panic with.
    Other(String),
}

impl FixtureHttp {
    /// Starts the fixture with the default tool set on a free port.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts the fixture on a free port with extra environment
    /// (`FIXTURE_TOOL_COUNT`, `FIXTURE_UNKNOWN_SESSION`, `FIXTURE_LOG`, …)
    /// and waits for `LISTENING`.
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        Self::start_on(0, env)
    }

    /// Starts the fixture on `port` (0: any free port) with extra
    /// environment and waits for `LISTENING`; a port still held by a
    /// process that just died is retried for a moment.
    pub fn start_on(port: u16, env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::launch(port, env)
    }

    fn launch(port: u16, env: Vec<(String, String)>) -> Self {
        let deadline = Instant::now() + REBIND_TIMEOUT;
        loop {
            match Self::try_launch(port, &env) {
                Ok(fixture) => return fixture,
                Err(StartError::PortTaken(log)) if Instant::now() < deadline => {
                    if std::env::var_os("TEST_LOG").is_some() {
                        eprintln!("mcp-fixture: port {port} not free yet, retrying: {log}");
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(StartError::PortTaken(log) | StartError::Other(log)) => panic!("{log}"),
            }
        }
    }

    fn try_launch(port: u16, env: &[(String, String)]) -> Result<Self, StartError> {
        let mut command = Command::new(fixture_bin());
        command.args([
            "--transport",
            "streamable-http",
            "--port",
            &port.to_string(),
        ]);
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let mut process = ServerProcess::spawn("mcp-fixture", command, true);
        let stdout = process
            .child
            .stdout
            .take()
            .expect("the fixture's stdout is piped");
        // The first stdout line is `LISTENING <addr>`; read it off-thread so
        // a silent fixture cannot hang the test.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let Ok(line) = rx.recv_timeout(START_TIMEOUT) else {
            return Err(StartError::Other(format!(
                "mcp-fixture printed no LISTENING line within {START_TIMEOUT:?}; its log:\n{}",
                process.log()
            )));
        };
        let addr = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|a| a.parse().ok());
        match addr {
            Some(addr) => Ok(Self {
                process,
                addr,
                env: env.to_vec(),
            }),
            None => {
                // No line: it exited (the log says why) or closed stdout.
                let deadline = Instant::now() + Duration::from_secs(2);
                while process.is_running() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let log = process.log();
                let message = format!(
                    "mcp-fixture's first line is {line:?}, not `LISTENING <addr>`; its log:\n{log}"
                );
                if log.contains("Address already in use") {
                    Err(StartError::PortTaken(message))
                } else {
                    Err(StartError::Other(message))
                }
            }
        }
    }

    /// `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// Whether the fixture process still runs.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }
}

impl Restartable for FixtureHttp {
    fn kill(&mut self) {
        self.process.kill();
    }

    fn restart(&mut self) {
        self.kill();
        *self = Self::launch(self.port(), std::mem::take(&mut self.env));
    }
}

/// How server-everything speaks MCP (its first command-line argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EverythingMode {
    Stdio,
    /// Legacy HTTP+SSE: `GET /sse`, then `POST /message?sessionId=…`.
    Sse,
    /// Streamable HTTP at `/mcp`.
    StreamableHttp,
}

impl EverythingMode {
    /// The argument `dist/index.js` takes.
    pub fn arg(self) -> &'static str {
        match self {
            Self::Stdio => "stdio",
            Self::Sse => "sse",
            Self::StreamableHttp => "streamableHttp",
        }
    }
}

/// The test cache `scripts/test` exports (`MANIFOLD_TEST_CACHE`), or
/// `.cache/test` in the repository.
pub fn test_cache() -> PathBuf {
    std::env::var_os("MANIFOLD_TEST_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/test"))
}

/// server-everything's entry point; panics saying how to install it.
pub fn everything_script() -> PathBuf {
    let script =
        test_cache().join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        script.is_file(),
        "server-everything is not installed: {} is missing.\n\
         Run `scripts/fixtures/npm.sh` (or `scripts/test`, which runs it) to install it \
         into $MANIFOLD_TEST_CACHE/npm. Tests that need it never skip.",
        script.display()
    );
    script
}

/// server-everything over stdio: the command and arguments of a stdio `Target`.
pub fn everything_stdio() -> (String, Vec<String>) {
    (
        "node".to_owned(),
        vec![
            everything_script().display().to_string(),
            EverythingMode::Stdio.arg().to_owned(),
        ],
    )
}

/// A server-everything: running (HTTP modes) or ready to be spawned (stdio).
#[derive(Debug)]
pub struct Everything {
    mode: EverythingMode,
    /// `None` for stdio, whose owner spawns it.
    process: Option<ServerProcess>,
    port: u16,
}

impl Everything {
    /// Starts server-everything in `mode` on a free port (`PORT`) and waits
    /// until it accepts connections. For [`EverythingMode::Stdio`] nothing
    /// is started: use [`Everything::stdio_command`].
    pub fn start(mode: EverythingMode) -> Self {
        let script = everything_script();
        if mode == EverythingMode::Stdio {
            return Self {
                mode,
                process: None,
                port: 0,
            };
        }
        let port = free_port();
        let mut process = Self::spawn(&script, mode, port);
        process.wait_for_port(port);
        Self {
            mode,
            process: Some(process),
            port,
        }
    }

    fn spawn(script: &std::path::Path, mode: EverythingMode, port: u16) -> ServerProcess {
        let mut command = Command::new("node");
        command
            .arg(script)
            .arg(mode.arg())
            .env("PORT", port.to_string());
        ServerProcess::spawn("server-everything", command, false)
    }

    /// The MCP URL: `http://127.0.0.1:PORT/sse` (SSE) or `/mcp` (streamable HTTP).
    pub fn url(&self) -> String {
        let path = match self.mode {
            EverythingMode::Sse => "sse",
            EverythingMode::StreamableHttp => "mcp",
            EverythingMode::Stdio => panic!("server-everything over stdio has no URL"),
        };
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// The command and arguments (stdio mode only).
    pub fn stdio_command(&self) -> (String, Vec<String>) {
        assert_eq!(
            self.mode,
            EverythingMode::Stdio,
            "stdio_command is for stdio mode"
        );
        everything_stdio()
    }

    pub fn process(&self) -> Option<&ServerProcess> {
        self.process.as_ref()
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Restartable for Everything {
    fn kill(&mut self) {
        if let Some(process) = &mut self.process {
            process.kill();
        }
    }

    /// HTTP modes only: over stdio the gateway owns the process.
    fn restart(&mut self) {
        assert_ne!(
            self.mode,
            EverythingMode::Stdio,
            "server-everything over stdio is started by its owner"
        );
        self.kill();
        let script = everything_script();
        let deadline = Instant::now() + REBIND_TIMEOUT;
        loop {
            let mut process = Self::spawn(&script, self.mode, self.port);
            match process.try_wait_for_port(self.port) {
                Ok(()) => {
                    self.process = Some(process);
                    return;
                }
                Err(log) if log.contains("EADDRINUSE") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(log) => panic!(
                    "server-everything did not come back on port {}; its log:\n{log}",
                    self.port
                ),
            }
        }
    }
}
