//! The processes a benchmark starts (upstreams, the gateway) and what
//! `/proc` says about them.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A child process, killed and reaped when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `user + system` CPU time of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line (1-based),
    // 12 and 13 after the name (0-based: 11 and 12).
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// Clock ticks to µs: `/proc` counts in USER_HZ, 100 on Linux.
pub fn ticks_to_us(ticks: u64) -> f64 {
    ticks as f64 * 10_000.0
}

/// Resident set size of `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .context("no VmRSS value")?
        .parse()?;
    Ok(kb * 1024)
}

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts on `port`.
pub fn wait_port(port: u16, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("{name} did not listen on port {port} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A binary built beside this one (`target/<profile>/NAME`).
pub fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} is missing: build it first (`cargo build --release --bins`)",
            path.display()
        );
    }
    Ok(path)
}

/// The test cache the fixture scripts fill (`MANIFOLD_TEST_CACHE` or
/// `.cache/test`).
pub fn test_cache() -> PathBuf {
    std::env::var_os("MANIFOLD_TEST_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".cache/test"))
}

/// The Rust fixture over streamable HTTP; returns it and its `/mcp` URL.
pub fn fixture_http(env: &[(&str, String)]) -> anyhow::Result<(Proc, String)> {
    let mut command = Command::new(sibling("mcp-fixture")?);
    command
        .args(["--transport", "streamable-http", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().context("start mcp-fixture")?;
    let stdout = child.stdout.take().context("fixture stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("fixture's LISTENING line")?;
    let addr = line
        .trim()
        .strip_prefix("LISTENING ")
        .with_context(|| format!("unexpected fixture line: {line}"))?
        .to_owned();
    Ok((
        Proc {
            child,
            name: "mcp-fixture".into(),
        },
        format!("http://{addr}/mcp"),
    ))
}

/// server-everything's entry point in the test cache.
pub fn everything_script() -> anyhow::Result<PathBuf> {
    let path =
        test_cache().join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    if !path.exists() {
        bail!(
            "server-everything is missing at {}: run `bash scripts/fixtures/npm.sh` first",
            path.display()
        );
    }
    Ok(path)
}

/// server-everything in `mode` (`streamableHttp`, `sse`); returns it and its
/// port.
pub fn everything(mode: &str) -> anyhow::Result<(Proc, u16)> {
    let port = free_port()?;
    let mut command = Command::new("node");
    command
        .arg(everything_script()?)
        .arg(mode)
        .env("PORT", port.to_string());
    let proc = quiet(command, &format!("server-everything {mode}"))?;
    wait_port(port, &proc.name)?;
    Ok((proc, port))
}

/// The Python fixture server over WebSocket; returns it and its `ws://` URL.
pub fn python_websocket() -> anyhow::Result<(Proc, String)> {
    let python = test_cache().join("py/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/py_server.py");
    if !python.exists() {
        bail!(
            "{} is missing: run `bash scripts/fixtures/python.sh` first",
            python.display()
        );
    }
    let port = free_port()?;
    let mut command = Command::new(python);
    command
        .arg(script)
        .args(["--transport", "websocket", "--port", &port.to_string()]);
    let proc = quiet(command, "py_server websocket")?;
    wait_port(port, &proc.name)?;
    Ok((proc, format!("ws://127.0.0.1:{port}/ws")))
}

/// `manifold serve` on a free port with `env` on top of the bench settings.
pub fn gateway(data_dir: &Path, env: &[(&str, String)]) -> anyhow::Result<(Proc, u16)> {
    let port = free_port()?;
    let mut command = Command::new(sibling("manifold")?);
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MANIFOLD_LISTEN", format!("127.0.0.1:{port}"))
        .env("MANIFOLD_DATA_DIR", data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Allocator and runtime tuning, log and audit settings (to compare
    // them on and off) from the caller's environment reach the gateway.
    for (k, v) in std::env::vars_os() {
        let k_text = k.to_string_lossy();
        if [
            "GLIBC_TUNABLES",
            "TOKIO_",
            "MANIFOLD_AUDIT__",
            "MANIFOLD_LOG__",
        ]
        .iter()
        .any(|prefix| k_text.starts_with(prefix))
        {
            command.env(k, v);
        }
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().context("start manifold serve")?;
    let proc = Proc {
        child,
        name: "manifold".into(),
    };
    wait_port(port, "manifold")?;
    Ok((proc, port))
}

/// A folder under the system's temp folder, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> anyhow::Result<Self> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// HAProxy (when it is installed) as a plain HTTP reverse proxy in front
/// of `upstreams` (`/mcp` URLs on 127.0.0.1), one listener each, with its
/// defaults otherwise: what any proxy hop costs on this machine. Returns
/// it and the URLs to call through it, in the order given.
pub fn haproxy(data_dir: &Path, upstreams: &[&str]) -> anyhow::Result<Option<(Proc, Vec<String>)>> {
    let Ok(binary) = which("haproxy") else {
        return Ok(None);
    };
    let mut config = String::from(
        "defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n",
    );
    let mut urls = Vec::new();
    let mut ports = Vec::new();
    for (i, upstream) in upstreams.iter().enumerate() {
        let url = reqwest::Url::parse(upstream)?;
        let target = format!(
            "{}:{}",
            url.host_str().context("an upstream URL without a host")?,
            url.port_or_known_default()
                .context("an upstream URL without a port")?
        );
        let port = free_port()?;
        config.push_str(&format!(
            "frontend f{i}\n  bind 127.0.0.1:{port}\n  default_backend b{i}\n\
             backend b{i}\n  http-reuse always\n  server s{i} {target}\n"
        ));
        urls.push(format!("http://127.0.0.1:{port}{}", url.path()));
        ports.push(port);
    }
    let path = data_dir.join("haproxy.cfg");
    std::fs::write(&path, config)?;
    let mut command = Command::new(binary);
    command.arg("-f").arg(&path);
    let proc = quiet(command, "haproxy")?;
    for port in ports {
        wait_port(port, "haproxy")?;
    }
    Ok(Some((proc, urls)))
}

/// `command` started as `name`, its output discarded.
fn quiet(mut command: Command, name: &str) -> anyhow::Result<Proc> {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {name}"))?;
    Ok(Proc {
        child,
        name: name.to_owned(),
    })
}

/// `name` on `PATH`.
fn which(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").context("no PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("{name} is not installed"))
}
