//! Node MCP clients for tests: MCP Inspector's CLI and the MCP conformance
//! suite, run by the Node.js that `scripts/fixtures/node.sh` installs into
//! `$MANIFOLD_TEST_CACHE/node` (the machine's Node is too old for the
//! Inspector 2.x), from `$MANIFOLD_TEST_CACHE/node-tools`.
//!
//! A test that needs them and finds them missing PANICS with the command to
//! run; it never skips. `scripts/test` runs the installer before the tests.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::python::test_cache;

fn require(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is not installed: {} is missing.\n\
         Run `scripts/fixtures/node.sh` (or `scripts/test`, which runs it) to install it \
         into $MANIFOLD_TEST_CACHE. Tests that need it never skip.",
        path.display()
    );
    path
}

/// The cached Node.js binary (24.x, from the npm package `node`).
pub fn node() -> PathBuf {
    require(
        test_cache().join("node/node_modules/node/bin/node"),
        "the test Node.js (npm package `node`)",
    )
}

/// The folder of an installed client package, e.g.
/// `@modelcontextprotocol/conformance`.
pub fn package_dir(package: &str) -> PathBuf {
    require(
        test_cache().join("node-tools/node_modules").join(package),
        package,
    )
}

/// The Inspector's launcher (`mcp-inspector`; `--cli` selects the CLI).
pub fn inspector_launcher() -> PathBuf {
    require(
        package_dir("@modelcontextprotocol/inspector").join("clients/launcher/build/index.js"),
        "the MCP Inspector CLI",
    )
}

/// The conformance suite's entry point (`conformance`).
pub fn conformance_cli() -> PathBuf {
    require(
        package_dir("@modelcontextprotocol/conformance").join("dist/index.js"),
        "the MCP conformance suite",
    )
}

/// The cached `node`, ready for its arguments, with itself first on `PATH`
/// (for anything a script spawns) and `HOME` in `home`, so nothing lands in
/// the real home folder (the Inspector keeps state under `~/.mcp-inspector`).
pub fn node_command(home: &TempDir) -> Command {
    let node = node();
    let mut path = OsString::from(node.parent().expect("node's folder"));
    if let Some(old) = std::env::var_os("PATH") {
        path.push(":");
        path.push(old);
    }
    let mut command = Command::new(&node);
    command
        .env("PATH", path)
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// Runs `command` off the async runtime, killing it after `limit`.
pub async fn run(mut command: Command, limit: Duration) -> Output {
    let task = tokio::task::spawn_blocking(move || {
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let id = child.id();
        let started = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(limit) {
            Ok(output) => output.expect("the command's output"),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &id.to_string()])
                    .status();
                panic!(
                    "{command:?} did not finish within {limit:?} (killed after {:?})",
                    started.elapsed()
                )
            }
        }
    });
    match task.await {
        Ok(output) => output,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => panic!("the command's task failed: {err}"),
    }
}
