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
            _dir: dir,
        }
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Panics with the server's log when it has already exited.
    fn assert_running(&mut self, waiting_for: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited ({status}) while {waiting_for}; its log:\n{}",
                self.name,
                self.log()
            );
        }
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:`port`.
    fn wait_for_port(&mut self, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            self.assert_running(&format!("waiting for it to listen on {addr}"));
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

/// `mcp-fixture --transport streamable-http --port 0`, running.
#[derive(Debug)]
pub struct FixtureHttp {
    process: ServerProcess,
    addr: SocketAddr,
}

impl FixtureHttp {
    /// Starts the fixture with the default tool set.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts the fixture with extra environment (`FIXTURE_TOOL_COUNT`,
    /// `FIXTURE_NO_SCHEMA`, `FIXTURE_LOG`, …) and waits for `LISTENING`.
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(fixture_bin());
        command.args(["--transport", "streamable-http", "--port", "0"]);
        command.envs(env.iter().copied());
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
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => panic!(
                "mcp-fixture printed no LISTENING line within {START_TIMEOUT:?}; its log:\n{}",
                process.log()
            ),
        };
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                process.assert_running("starting");
                panic!(
                    "mcp-fixture's first line is {line:?}, not `LISTENING <addr>`; its log:\n{}",
                    process.log()
                )
            });
        Self { process, addr }
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
        let mut command = Command::new("node");
        command
            .arg(&script)
            .arg(mode.arg())
            .env("PORT", port.to_string());
        let mut process = ServerProcess::spawn("server-everything", command, false);
        process.wait_for_port(port);
        Self {
            mode,
            process: Some(process),
            port,
        }
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
}
