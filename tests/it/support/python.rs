//! Real Python MCP servers for tests: `tests/fixtures/py_server.py` run by
//! the venv that `scripts/fixtures/python.sh` installs into
//! `$MANIFOLD_TEST_CACHE/py` (default `<repo>/.cache/test/py`).
//!
//! A test that needs one and finds no venv PANICS with the command to run;
//! it never skips. `scripts/test` runs the installer before the tests.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use url::Url;

/// The folder holding test fixtures (`MANIFOLD_TEST_CACHE`).
pub fn test_cache() -> PathBuf {
    std::env::var_os("MANIFOLD_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/test"))
}

/// The venv's Python; panics with what to run when it is missing.
pub fn python() -> PathBuf {
    let python = test_cache().join("py/bin/python");
    if !python.exists() {
        panic!(
            "the Python test venv is missing ({} does not exist).\n\
             Run `scripts/fixtures/python.sh` (or `scripts/test`, which runs it) to install it. \
             Tests against Python MCP servers never skip.",
            python.display()
        );
    }
    python
}

/// One `py_server.py` process, killed (its whole process group) and reaped
/// on drop.
pub struct PyServer {
    child: Child,
    port: u16,
    transport: String,
}

impl PyServer {
    /// Starts the server for `transport` (`sse`, `websocket`,
    /// `streamable-http`, `silent`) on a free port and waits until the port
    /// accepts connections.
    pub fn start(transport: &str) -> Self {
        let python = python();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/py_server.py");
        let port = super::redis::free_port();
        let child = Command::new(&python)
            .arg(&script)
            .args(["--transport", transport, "--port", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let mut server = Self {
            child,
            port,
            transport: transport.to_owned(),
        };
        server.wait_ready(Duration::from_secs(60));
        server
    }

    fn wait_ready(&mut self, limit: Duration) {
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "py_server.py --transport {} exited at start with {status} (see its stderr above)",
                    self.transport
                );
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
}

impl Drop for PyServer {
    fn drop(&mut self) {
        // The whole group: nothing the server started may outlive the test.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
