//! Running Manifold as an operator does: the real `manifold` binary, its
//! signals, its start-up errors and its connection limits.
//!
//! - [`drain`]: SIGTERM drains (`/readyz` 503, the listener closes after
//!   the delay, a tool call in flight completes, stdio children are reaped,
//!   exit 0); a second SIGTERM exits at once;
//! - [`connections`]: slow headers are cut after the header timeout while
//!   `/healthz` answers, the connection cap keeps a reserve for the probes,
//!   the open-file limit is raised, the data files are private;
//! - [`startup`]: each start-up and config error names what to fix;
//! - [`refusals`]: `/mcp`'s 406 and refused-`Host` answers in the
//!   gateway's error shapes.

mod connections;
mod drain;
mod refusals;
mod startup;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `manifold` command in `dir` with no MANIFOLD_* variables but `env`.
pub fn manifold(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_manifold"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MANIFOLD_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// A running `manifold serve`: its process, address and log.
pub struct Served {
    child: Child,
    pub base: String,
    pub addr: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` (a `manifold serve` on port 0, stderr piped) and waits for
/// its "listening" log line.
pub fn serve_command(mut cmd: Command) -> Served {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("manifold starts");
    let stderr = child.stderr.take().expect("stderr");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = lines.clone();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && line.contains("manifold listening") {
                let addr = line
                    .split("addr=")
                    .nth(1)
                    .and_then(|rest| rest.split([' ', '"']).next());
                if let Some(addr) = addr {
                    let _ = tx.send(addr.to_owned());
                    sent = true;
                }
            }
            if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
                eprintln!("[manifold] {line}");
            }
            if let Ok(mut all) = kept.lock() {
                all.push(line);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!(
                "manifold printed no listening address: {:?}",
                lines.lock().map(|l| l.clone())
            )
        });
    Served {
        child,
        base: format!("http://{addr}"),
        addr,
        lines,
    }
}

/// `manifold serve` in `dir` on port 0 with `env`.
pub fn serve(dir: &Path, env: &[(&str, &str)]) -> Served {
    let mut all = vec![("MANIFOLD_LISTEN", "127.0.0.1:0")];
    all.extend_from_slice(env);
    serve_command(manifold(dir, &["serve"], &all))
}

impl Served {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log lines printed so far.
    pub fn log(&self) -> String {
        self.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Sends `signal` (`TERM`, `INT`, …) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `limit` for the process to exit: its status and when.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Instant)> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some((status, Instant::now()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The admin key the first start wrote into `dir/data`.
    pub fn admin_key(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("data/admin.key"))
            .expect("admin.key")
            .trim()
            .to_owned()
    }
}

/// The pids of `pid`'s child processes (from `/proc`).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so read after `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            children.push(child);
        }
    }
    children
}

/// Whether process `pid` exists (a zombie counts: it was not reaped).
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether process `pid` runs (exists and is no zombie).
pub fn process_runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// A raw `GET path` on a new connection to `addr`: the whole answer, or
/// the I/O error (a refused connection, say).
pub async fn get_on_new_connection(addr: &str, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 5 s"))??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}
