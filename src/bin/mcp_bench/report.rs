//! The benchmark's one table, and the same numbers as JSON.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::load::Run;

/// p50 of `times`, in ms.
pub fn p50_ms(mut times: Vec<Duration>) -> f64 {
    times.sort_unstable();
    times
        .get(times.len() / 2)
        .map_or(f64::NAN, |t| t.as_secs_f64() * 1e3)
}

/// Every number of one run.
pub struct Report {
    quick: bool,
    calls: Vec<Value>,
    list: Option<Value>,
    connects: Vec<Value>,
    memory: Vec<Value>,
    idle_cpu: Option<Value>,
}

impl Report {
    pub fn new(quick: bool) -> Self {
        Self {
            quick,
            calls: Vec::new(),
            list: None,
            connects: Vec::new(),
            memory: Vec::new(),
            idle_cpu: None,
        }
    }

    /// One `tools/call` run; `split` is the gateway's mean ms in its
    /// handler and in the upstream leg (warm-up included), through a
    /// gateway.
    pub fn call(
        &mut self,
        server: &str,
        route: &str,
        clients: usize,
        run: &Run,
        split: Option<(f64, f64)>,
    ) {
        self.calls.push(json!({
            "server": server, "route": route, "clients": clients,
            "calls": run.calls, "per_second": run.per_second(),
            "p50_ms": run.p50_ms, "p99_ms": run.p99_ms,
            "gateway_cpu_us_per_call": run.cpu_us_per_call,
            "handler_mean_ms": split.map(|s| s.0),
            "upstream_leg_mean_ms": split.map(|s| s.1),
        }));
    }

    pub fn list(&mut self, gateway_p50_ms: f64, direct_p50_ms: f64) {
        self.list = Some(json!({
            "servers": 10, "tools": 500,
            "gateway_p50_ms": gateway_p50_ms, "direct_p50_ms": direct_p50_ms,
        }));
    }

    pub fn connect(&mut self, transport: &str, p50_ms: f64) {
        self.connects
            .push(json!({"transport": transport, "p50_ms": p50_ms}));
    }

    /// The gateway's CPU use (% of one core) while `sessions` MCP sessions
    /// sit idle.
    pub fn idle_cpu(&mut self, sessions: usize, percent: f64) {
        self.idle_cpu = Some(json!({"sessions": sessions, "percent_of_a_core": percent}));
    }

    pub fn memory(&mut self, what: &str, count: usize, rss: u64, per_item: Option<f64>) {
        self.memory.push(json!({
            "what": what, "count": count, "rss_bytes": rss, "bytes_each": per_item,
        }));
    }

    fn direct(&self, server: &str, clients: usize) -> Option<&Value> {
        self.calls
            .iter()
            .find(|c| c["server"] == server && c["clients"] == clients && c["route"] == "direct")
    }

    /// The table.
    pub fn print(&self) {
        if self.quick {
            println!("(--quick: a smoke run; these numbers are not to be quoted)");
        }
        println!(
            "tools/call `echo`, one MCP session per client (haproxy: a plain HTTP proxy in front of \
             the same upstream; CPU per call is the gateway's on /mcp rows, HAProxy's on its own):"
        );
        println!(
            "  {:<11} {:<8} {:>7} {:>9} {:>8} {:>8} {:>9} {:>10} {:>14} {:>17}",
            "server",
            "route",
            "clients",
            "req/s",
            "p50 ms",
            "p99 ms",
            "of direct",
            "added p50",
            "CPU µs/call",
            "handler/upstream"
        );
        for c in &self.calls {
            let clients = c["clients"].as_u64().unwrap_or(0) as usize;
            let server = c["server"].as_str().unwrap_or("");
            let (ratio, added) = match (c["route"].as_str(), self.direct(server, clients)) {
                (Some("direct"), _) | (_, None) => (String::new(), String::new()),
                (_, Some(d)) => (
                    format!(
                        "{:.0} %",
                        100.0 * c["per_second"].as_f64().unwrap_or(0.0)
                            / d["per_second"].as_f64().unwrap_or(1.0)
                    ),
                    format!(
                        "{:+.3} ms",
                        c["p50_ms"].as_f64().unwrap_or(0.0) - d["p50_ms"].as_f64().unwrap_or(0.0)
                    ),
                ),
            };
            let cpu = c["gateway_cpu_us_per_call"]
                .as_f64()
                .map_or(String::new(), |v| format!("{v:.0}"));
            let split = match (
                c["handler_mean_ms"].as_f64(),
                c["upstream_leg_mean_ms"].as_f64(),
            ) {
                (Some(handler), Some(upstream)) => format!("{handler:.3}/{upstream:.3}"),
                _ => String::new(),
            };
            println!(
                "  {:<11} {:<8} {:>7} {:>9.0} {:>8.3} {:>8.3} {:>9} {:>10} {:>14} {:>17}",
                server,
                c["route"].as_str().unwrap_or(""),
                clients,
                c["per_second"].as_f64().unwrap_or(0.0),
                c["p50_ms"].as_f64().unwrap_or(0.0),
                c["p99_ms"].as_f64().unwrap_or(0.0),
                ratio,
                added,
                cpu,
                split
            );
        }
        if let Some(list) = &self.list {
            println!(
                "tools/list, 10 servers x 50 tools: /mcp p50 {:.3} ms, the same 500 tools from one upstream {:.3} ms",
                list["gateway_p50_ms"].as_f64().unwrap_or(0.0),
                list["direct_p50_ms"].as_f64().unwrap_or(0.0)
            );
        }
        let connects: Vec<String> = self
            .connects
            .iter()
            .map(|c| {
                format!(
                    "{} {:.1} ms",
                    c["transport"].as_str().unwrap_or(""),
                    c["p50_ms"].as_f64().unwrap_or(0.0)
                )
            })
            .collect();
        println!("connect p50 per transport: {}", connects.join(", "));
        println!("gateway memory (RSS):");
        for m in &self.memory {
            let each = m["bytes_each"]
                .as_f64()
                .map_or(String::new(), |b| format!("  ({:.1} KiB each)", b / 1024.0));
            println!(
                "  {:<26} {:>6}  {:>8.1} MiB{}",
                m["what"].as_str().unwrap_or(""),
                m["count"].as_u64().unwrap_or(0),
                m["rss_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
                each
            );
        }
        if let Some(idle) = &self.idle_cpu {
            println!(
                "gateway CPU with {} idle MCP sessions: {:.2} % of a core",
                idle["sessions"].as_u64().unwrap_or(0),
                idle["percent_of_a_core"].as_f64().unwrap_or(0.0)
            );
        }
    }

    /// Writes `latest.json` and `bench-<unix time>.json` under `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let value = json!({
            "at": chrono::Utc::now().to_rfc3339(),
            "quick": self.quick,
            "machine": machine(),
            "tools_call": self.calls,
            "tools_list": self.list,
            "connect": self.connects,
            "memory": self.memory,
            "idle_cpu": self.idle_cpu,
        });
        let text = serde_json::to_string_pretty(&value)?;
        std::fs::write(dir.join("latest.json"), &text)?;
        let stamp = chrono::Utc::now().timestamp();
        std::fs::write(dir.join(format!("bench-{stamp}.json")), &text)?;
        println!("written: {}", dir.join("latest.json").display());
        Ok(())
    }
}

/// CPU model and count, from `/proc/cpuinfo`.
fn machine() -> Value {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned());
    let cpus = info.lines().filter(|l| l.starts_with("processor")).count();
    json!({"cpu": model, "cpus": cpus})
}

/// Sums and counts of two of the gateway's latency histograms.
#[derive(Debug, Default, Clone, Copy)]
pub struct Clocks {
    /// `tools/call` answered by the handler: (seconds, calls).
    pub handler: (f64, f64),
    /// The upstream leg of those calls: (seconds, calls).
    pub upstream: (f64, f64),
}

impl Clocks {
    /// Adds what was spent between `before` and `now`.
    pub fn add(&mut self, now: Clocks, before: Clocks) {
        self.handler.0 += now.handler.0 - before.handler.0;
        self.handler.1 += now.handler.1 - before.handler.1;
        self.upstream.0 += now.upstream.0 - before.upstream.0;
        self.upstream.1 += now.upstream.1 - before.upstream.1;
    }

    /// Mean ms in the handler and in the upstream leg since `before`.
    pub fn since(self, before: Clocks) -> (f64, f64) {
        let mean = |now: (f64, f64), then: (f64, f64)| {
            let calls = now.1 - then.1;
            if calls > 0.0 {
                1e3 * (now.0 - then.0) / calls
            } else {
                f64::NAN
            }
        };
        (
            mean(self.handler, before.handler),
            mean(self.upstream, before.upstream),
        )
    }
}
