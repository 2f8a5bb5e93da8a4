//! The admin page's browser tests: runs a script of `tests/browser/` with
//! the machine's `node`, which drives Debian's headless Chromium through
//! playwright-core (both set up by `scripts/fixtures/browser.sh`).
//!
//! A script prints `@@wait {"name":…,"data":…}` when it wants the test to
//! act (change or check state over REST); the test answers with one JSON
//! line on the script's stdin ([`BrowserRun::wait_for`], [`BrowserRun::reply`]).
//! Its last stdout line is a JSON summary ([`BrowserRun::finish`]).
//!
//! Missing Chromium, node or the npm packages PANIC with the command to run;
//! nothing skips. One script runs at a time (the machine is small and a
//! browser is heavy); each runs in its own process group, killed on Drop.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Mutex, MutexGuard};

use super::upstreams::test_cache;

/// How long one browser script may run in all.
pub const SCRIPT_LIMIT: Duration = Duration::from_secs(180);

static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

const INSTALL: &str = "Run `scripts/fixtures/browser.sh` (or `scripts/test`, which runs it): \
it installs Debian's chromium when missing (as root) and playwright-core and axe-core into \
$MANIFOLD_TEST_CACHE/browser. Browser tests never skip.";

/// The Chromium binary: `$CHROMIUM`, else /usr/bin/chromium.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "Chromium is missing: {} does not exist.\n{INSTALL}",
        path.display()
    );
    path
}

/// `$MANIFOLD_TEST_CACHE/browser/node_modules`, with both packages in it.
pub fn modules() -> PathBuf {
    let dir = test_cache().join("browser/node_modules");
    for package in ["playwright-core", "axe-core"] {
        let manifest = dir.join(package).join("package.json");
        assert!(
            manifest.is_file(),
            "{package} is not installed: {} is missing.\n{INSTALL}",
            manifest.display()
        );
    }
    dir
}

/// Where screenshots go: `tests/artifacts/ui/` (gitignored).
pub fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts/ui")
}

/// A running browser script.
pub struct BrowserRun {
    script: String,
    child: Child,
    /// Also the process group's id.
    pid: Option<u32>,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    stdout: Vec<String>,
    stderr: tokio::task::JoinHandle<String>,
    deadline: tokio::time::Instant,
    started: Instant,
    _one: MutexGuard<'static, ()>,
}

/// A finished script: its summary line (how long it ran is printed).
#[derive(Debug)]
pub struct Finished {
    pub summary: Value,
}

impl BrowserRun {
    /// Starts `tests/browser/<script>.mjs` with `env` (plus `GATEWAY_URL`'s
    /// companions: `BROWSER_MODULES`, `CHROMIUM`, `ARTIFACTS`), once no other
    /// script runs.
    pub async fn start(script: &str, env: &[(&str, String)]) -> Self {
        let chromium = chromium();
        let modules = modules();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser")
            .join(format!("{script}.mjs"));
        assert!(path.is_file(), "{} is missing", path.display());
        let one = ONE_BROWSER.lock().await;
        let mut command = Command::new("node");
        command
            .arg(&path)
            .env("BROWSER_MODULES", &modules)
            .env("CHROMIUM", &chromium)
            .env("ARTIFACTS", artifacts())
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start `node {}`: {e}. Install Node.js 18 or newer (Debian: apt-get install nodejs).", path.display())
        });
        let pid = child.id();
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text).await;
            text
        });
        Self {
            script: script.to_owned(),
            child,
            pid,
            stdin,
            lines,
            stdout: Vec::new(),
            stderr,
            deadline: tokio::time::Instant::now() + SCRIPT_LIMIT,
            started: Instant::now(),
            _one: one,
        }
    }

    /// The next stdout line, `None` at the end; panics past the deadline.
    async fn next_line(&mut self) -> Option<String> {
        match tokio::time::timeout_at(self.deadline, self.lines.next_line()).await {
            Ok(line) => {
                let line = line.expect("read the script's stdout");
                if let Some(line) = &line {
                    self.stdout.push(line.clone());
                }
                line
            }
            Err(_) => {
                self.kill();
                let output = self.output().await;
                panic!(
                    "browser script {} did not finish within {SCRIPT_LIMIT:?}; killed.\n{output}",
                    self.script
                )
            }
        }
    }

    /// Waits until the script asks for rendezvous `name`; returns its data.
    /// Panics (with the script's output) when it ends or asks for another.
    pub async fn wait_for(&mut self, name: &str) -> Value {
        while let Some(line) = self.next_line().await {
            let Some(json) = line.strip_prefix("@@wait ") else {
                continue;
            };
            let wait: Value = serde_json::from_str(json).expect("a JSON rendezvous line");
            assert_eq!(
                wait["name"], name,
                "browser script {} asked for another rendezvous",
                self.script
            );
            return wait["data"].clone();
        }
        let status = self.child.wait().await.expect("wait for the script");
        let output = self.output().await;
        panic!(
            "browser script {} ended ({status}) before rendezvous `{name}`:\n{}\n{output}",
            self.script,
            failures(&self.summary())
        )
    }

    /// Answers the pending rendezvous.
    pub async fn reply(&mut self, answer: Value) {
        let stdin = self.stdin.as_mut().expect("the script's stdin is open");
        let line = format!("{answer}\n");
        stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the script's stdin");
        stdin.flush().await.expect("flush the script's stdin");
    }

    /// Waits for the script to end; panics unless it exited 0 with an `ok`
    /// summary, printing its stdout and stderr.
    pub async fn finish(mut self) -> Finished {
        self.stdin.take();
        while self.next_line().await.is_some() {}
        let status: ExitStatus =
            match tokio::time::timeout_at(self.deadline, self.child.wait()).await {
                Ok(status) => status.expect("wait for the script"),
                Err(_) => {
                    self.kill();
                    panic!("browser script {} did not exit", self.script)
                }
            };
        let elapsed = self.started.elapsed();
        let summary = self.summary();
        if !status.success() || summary["ok"] != true {
            let output = self.output().await;
            panic!(
                "browser script {} failed ({status}):\n{}\n{output}",
                self.script,
                failures(&summary)
            );
        }
        eprintln!(
            "browser script {} passed in {elapsed:?}; its report: {}",
            self.script, summary["report"]
        );
        Finished { summary }
    }

    /// The last stdout line as JSON (`Null` when it is not).
    fn summary(&self) -> Value {
        self.stdout
            .last()
            .and_then(|line| serde_json::from_str::<Value>(line).ok())
            .unwrap_or(Value::Null)
    }

    /// Kills the script and whatever it started (its browser).
    fn kill(&mut self) {
        if let Some(pid) = self.pid {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }

    async fn output(&mut self) -> String {
        let stderr = tokio::time::timeout(Duration::from_secs(5), &mut self.stderr)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{stderr}",
            self.stdout.join("\n")
        )
    }
}

impl Drop for BrowserRun {
    fn drop(&mut self) {
        // Also after a clean exit: no browser process outlives its test.
        self.kill();
    }
}

/// The summary's failures, one per line.
fn failures(summary: &Value) -> String {
    summary["failures"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|f| {
                    format!(
                        "FAILED at step {}: {}",
                        f["step"],
                        f["message"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_else(|| "(no JSON summary line)".into())
}
