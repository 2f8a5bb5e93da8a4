//! The memory part of `mcp-bench`: what idle MCP sessions and live links
//! cost a fresh gateway, and what it gives back once they end.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::load::{Endpoint, Session};
use crate::procs;
use crate::report::Report;
use crate::{Gateway, Plan, http_server};

/// The MCP sessions of one user, with the endpoint that user reaches.
type Opened = Vec<(Endpoint, Vec<String>)>;

/// Opens `count` idle MCP sessions, 50 per user `{prefix}{n}`, 16 users at
/// a time, each user's over one connection that is closed afterwards (the
/// sessions stay: an MCP session outlives its connections). Returns them,
/// for [`close_sessions`].
async fn open_sessions(gateway: &Gateway, prefix: &str, count: usize) -> anyhow::Result<Opened> {
    const LANES: usize = 16;
    const PER_USER: usize = 50;
    let users = count.div_ceil(PER_USER);
    let mut tasks = Vec::new();
    for lane in 0..LANES {
        let endpoints: Vec<(Endpoint, usize)> = (lane..users)
            .step_by(LANES)
            .map(|u| {
                let n = PER_USER.min(count - u * PER_USER);
                Ok((gateway.endpoint("/mcp", &format!("{prefix}{u}"))?, n))
            })
            .collect::<anyhow::Result<_>>()?;
        tasks.push(tokio::spawn(async move {
            let mut opened = Opened::new();
            for (endpoint, n) in endpoints {
                let mut session = Session::connect(&endpoint).await?;
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    session.initialize().await?;
                    ids.extend(session.session_id().map(str::to_owned));
                }
                opened.push((endpoint, ids));
            }
            anyhow::Ok(opened)
        }));
    }
    let mut opened = Opened::new();
    for task in tasks {
        opened.extend(task.await??);
    }
    Ok(opened)
}

/// Ends every session [`open_sessions`] opened (`DELETE`), 16 users at a time.
async fn close_sessions(opened: Opened) -> anyhow::Result<()> {
    const LANES: usize = 16;
    let mut lanes: Vec<Opened> = (0..LANES).map(|_| Opened::new()).collect();
    for (n, user) in opened.into_iter().enumerate() {
        lanes[n % LANES].push(user);
    }
    let mut tasks = Vec::new();
    for lane in lanes {
        tasks.push(tokio::spawn(async move {
            for (endpoint, ids) in lane {
                let mut session = Session::connect(&endpoint).await?;
                for id in ids {
                    session.resume(id);
                    let status = session.close().await?;
                    if status != 200 && status != 204 {
                        bail!("DELETE /mcp answered {status}");
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Creates and deletes `count` MCP sessions, 16 at a time.
async fn cycle_sessions(gateway: &Gateway, count: usize) -> anyhow::Result<()> {
    const LANES: usize = 16;
    let mut tasks = Vec::new();
    for lane in 0..LANES {
        let endpoint = gateway.endpoint("/mcp", &format!("cycler{lane}"))?;
        let rounds = count / LANES;
        tasks.push(tokio::spawn(async move {
            let mut session = Session::connect(&endpoint).await?;
            for _ in 0..rounds {
                session.initialize().await?;
                let status = session.close().await?;
                if status != 200 && status != 204 {
                    bail!("DELETE /mcp answered {status}");
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// A fresh gateway's memory: idle, after create/delete cycles, with idle
/// sessions, with live links.
pub(crate) async fn run(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let gateway = Gateway::start_with(&[(
        "MANIFOLD_MCP__SESSION_WARM_SECONDS",
        plan.warm.as_secs().to_string(),
    )])?;
    let (_fixture, fixture_url) = procs::fixture_http(&[])?;
    gateway
        .add_server(http_server("fixture", &fixture_url))
        .await?;
    // Let start-up work settle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = gateway.rss()?;
    report.memory("idle", 0, idle, None);

    cycle_sessions(&gateway, plan.cycles).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_cycles = gateway.rss()?;
    report.memory("after create+delete", plan.cycles, after_cycles, None);

    let before_sessions = gateway.rss()?;
    let mut opened = 0;
    let mut sessions = Opened::new();
    for (n, &target) in plan.sessions.iter().enumerate() {
        sessions.extend(open_sessions(&gateway, &format!("idle{opened}-"), target - opened).await?);
        opened = target;
        let per = |rss: u64| (rss.saturating_sub(before_sessions)) as f64 / target as f64;
        if n == 0 {
            // Just opened, every session is still awake (rmcp's worker and
            // service); after the warm period they are put to sleep.
            let rss = gateway.rss()?;
            report.memory("idle MCP sessions, awake", target, rss, Some(per(rss)));
        }
        // Swept every quarter of the warm period; the heap is trimmed every 5 s.
        tokio::time::sleep(plan.warm * 3 / 2 + plan.settle).await;
        let rss = gateway.rss()?;
        report.memory("idle MCP sessions, asleep", target, rss, Some(per(rss)));
    }
    // What idle sessions cost when nothing happens.
    let ticks = procs::cpu_ticks(gateway.proc.pid())?;
    let started = Instant::now();
    tokio::time::sleep(plan.window).await;
    let used = procs::ticks_to_us(procs::cpu_ticks(gateway.proc.pid())? - ticks);
    report.idle_cpu(
        opened,
        used / started.elapsed().as_micros().max(1) as f64 * 100.0,
    );

    // The sessions end; the gateway gives their memory back within a few
    // seconds (it trims the heap when fewer sessions and links are open).
    close_sessions(sessions).await?;
    tokio::time::sleep(plan.settle).await;
    report.memory("sessions ended", opened, gateway.rss()?, None);

    let before_links = gateway.rss()?;
    for user in 0..plan.linked_users {
        gateway.connect(&format!("linked{user}"), "fixture").await?;
    }
    let rss = gateway.rss()?;
    let per = (rss.saturating_sub(before_links)) as f64 / plan.linked_users as f64;
    report.memory(
        "users with one live link",
        plan.linked_users,
        rss,
        Some(per),
    );
    for user in 0..plan.linked_users {
        gateway
            .disconnect(&format!("linked{user}"), "fixture")
            .await?;
    }
    tokio::time::sleep(plan.settle).await;
    report.memory("links closed", plan.linked_users, gateway.rss()?, None);
    Ok(())
}
