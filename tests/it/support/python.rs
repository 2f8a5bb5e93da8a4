//! Real Python MCP servers and clients for tests, run by the venvs that
//! `scripts/fixtures/python.sh` installs under `$MANIFOLD_TEST_CACHE`
//! (default `<repo>/.cache/test`): `py` (mcp 1.x: `tests/fixtures/py_server.py`,
//! `tests/fixtures/conformance_server.py`, the 1.x SDK and LangChain clients)
//! and `py2` (mcp 2.x: `tests/fixtures/mcp_sdk2_client.py`).
//!
//! A test that needs one and finds no venv PANICS with the command to run;
//! it never skips. `scripts/test` runs the installer before the tests.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use url::Url;

use super::upstreams::Restartable;

/// The folder holding test fixtures (`MANIFOLD_TEST_CACHE`).
pub fn test_cache() -> PathBuf {
    std::env::var_os("MANIFOLD_TEST_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/test"))
}

/// The Python of the venv `name` under the cache; panics with what to run
/// when it is missing.
fn venv_python(name: &str) -> PathBuf {
    let python = test_cache().join(name).join("bin/python");
    if !python.exists() {
        panic!(
            "the Python test venv `{name}` is missing ({} does not exist).\n\
             Run `scripts/fixtures/python.sh` (or `scripts/test`, which runs it) to install it. \
             Tests with Python MCP servers and clients never skip.",
            python.display()
        );
    }
    python
}

/// The mcp 1.x venv's Python (`py`).
pub fn python() -> PathBuf {
    venv_python("py")
}

/// The mcp 2.x venv's Python (`py2`).
pub fn python2() -> PathBuf {
    venv_python("py2")
}

/// A script in `tests/fixtures`.
pub fn fixture_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Runs the client script `script` (under `tests/fixtures`) with
/// `python` and `args`, killed after `limit`; it must exit 0, and its last
/// stdout line is its JSON report.
pub async fn run_client(
    python: PathBuf,
    script: &str,
    args: Vec<String>,
    limit: Duration,
) -> serde_json::Value {
    let path = fixture_script(script);
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&python)
            .arg(&path)
            .args(&args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let deadline = Instant::now() + limit;
        while matches!(child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("the client's output")
    })
    .await
    .expect("the client ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}\n{stderr}"))
}

/// One `py_server.py` process, killed (its whole process group) and reaped
/// on drop; it can also be killed and restarted on the same port (see
/// [`Restartable`]).
pub struct PyServer {
    child: Child,
    port: u16,
    transport: String,
    /// Killed and reaped: its pid may be reused, so it is never signalled again.
    reaped: bool,
}

/// How long a restart retries when the port is not free yet.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);

impl PyServer {
    /// Starts the server for `transport` (`sse`, `websocket`,
    /// `streamable-http`, `silent`) on a free port and waits until the port
    /// accepts connections.
    pub fn start(transport: &str) -> Self {
        let port = super::redis::free_port();
        let mut server = Self {
            child: Self::spawn(transport, port),
            port,
            transport: transport.to_owned(),
            reaped: false,
        };
        if let Err(status) = server.wait_ready(Duration::from_secs(60)) {
            panic!(
                "py_server.py --transport {transport} exited at start with {status} (see its stderr above)"
            );
        }
        server
    }

    fn spawn(transport: &str, port: u16) -> Child {
        let python = python();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/py_server.py");
        Command::new(&python)
            .arg(&script)
            .args(["--transport", transport, "--port", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()))
    }

    /// Waits until the port accepts connections; `Err` with the exit status
    /// when the server exits first.
    fn wait_ready(&mut self, limit: Duration) -> Result<(), std::process::ExitStatus> {
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(status);
            }
            if started.elapsed() > limit {
                panic!(
                    "py_server.py --transport {} did not listen on port {} within {limit:?}",
                    self.transport, self.port
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The MCP URL of this server's transport.
    pub fn url(&self) -> Url {
        let raw = match self.transport.as_str() {
            "sse" => format!("http://127.0.0.1:{}/sse", self.port),
            "websocket" => format!("ws://127.0.0.1:{}/ws", self.port),
            "streamable-http" => format!("http://127.0.0.1:{}/mcp", self.port),
            _ => format!("http://127.0.0.1:{}/", self.port),
        };
        Url::parse(&raw).expect("a valid URL")
    }

    /// Whether the server process still runs.
    pub fn is_running(&mut self) -> bool {
        !self.reaped && matches!(self.child.try_wait(), Ok(None))
    }
}

impl Restartable for PyServer {
    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // The whole group: nothing the server started may outlive it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }

    fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + REBIND_TIMEOUT;
        loop {
            self.child = Self::spawn(&self.transport, self.port);
            self.reaped = false;
            match self.wait_ready(Duration::from_secs(60)) {
                Ok(()) => return,
                // Most likely the port is not free yet: try again briefly.
                Err(_) if Instant::now() < deadline => {
                    self.reaped = true;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(status) => panic!(
                    "py_server.py --transport {} did not come back on port {} ({status}; see its stderr above)",
                    self.transport, self.port
                ),
            }
        }
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `tests/fixtures/conformance_server.py` (the tools, resources and prompts
/// the conformance suite's server scenarios call) on a free port; its whole
/// process group is killed and reaped on drop.
pub struct ConformanceUpstream {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ConformanceUpstream {
    /// Starts the server and waits for its `LISTENING 127.0.0.1:PORT` line.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("manifold-conformance-")
            .tempdir()
            .expect("a temporary folder for the server's log");
        let log_path = dir.path().join("conformance_server.log");
        let log = File::create(&log_path).expect("create the log file");
        let mut child = Command::new(python())
            .arg(fixture_script("conformance_server.py"))
            .args(["--port", "0"])
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start conformance_server.py: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let addr = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|a| a.parse().ok());
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_path,
            _dir: dir,
        };
        match addr {
            Some(addr) => server.addr = addr,
            None => panic!(
                "conformance_server.py printed {line:?}, not `LISTENING <addr>`; its log:\n{}",
                server.log()
            ),
        }
        server
    }

    /// `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.addr.port())
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for ConformanceUpstream {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
