//! Tool search speed and quality on the labelled corpus the unit tests use
//! (`tests/data/tool_search/`: ~500 tools from 15 servers, 30 queries):
//! index build time, search latency p50 / p99 / max over many repetitions,
//! and how often the expected tool is first and in the top 5.
//!
//! Run: `cargo bench --bench search`.

use std::time::{Duration, Instant};

use manifold::gateway::search::ToolIndex;
use rmcp::model::Tool;
use serde_json::Value;

const TOOLS: &str = include_str!("../tests/data/tool_search/tools.json");
const QUERIES: &str = include_str!("../tests/data/tool_search/queries.json");
const BUILDS: usize = 50;
const ROUNDS: usize = 1000;

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

fn main() {
    let tools: Vec<Tool> = serde_json::from_str(TOOLS).expect("tools.json");
    let cases: Vec<Value> = serde_json::from_str(QUERIES).expect("queries.json");
    let cases: Vec<(&str, &str)> = cases
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().expect("query and expected are strings");
            (field("query"), field("expected"))
        })
        .collect();
    println!(
        "tool search: {} tools, {} queries",
        tools.len(),
        cases.len()
    );
    if cfg!(debug_assertions) {
        println!(
            "(debug build, as under `cargo test`: run `cargo bench --bench search` for real numbers)"
        );
    }

    let mut builds: Vec<Duration> = (0..BUILDS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(ToolIndex::build(&tools));
            started.elapsed()
        })
        .collect();
    builds.sort();
    println!(
        "build     n={BUILDS:<6} min {:>8.1} µs   median {:>8.1} µs   max {:>8.1} µs",
        micros(builds[0]),
        micros(percentile(&builds, 50)),
        micros(builds[BUILDS - 1])
    );

    let index = ToolIndex::build(&tools);
    let mut times = Vec::with_capacity(ROUNDS * cases.len());
    for _ in 0..ROUNDS {
        for &(query, _) in &cases {
            let started = Instant::now();
            std::hint::black_box(index.search(std::hint::black_box(query), 5));
            times.push(started.elapsed());
        }
    }
    times.sort();
    println!(
        "search    n={:<6} p50 {:>8.1} µs   p99    {:>8.1} µs   max {:>8.1} µs",
        times.len(),
        micros(percentile(&times, 50)),
        micros(percentile(&times, 99)),
        micros(times[times.len() - 1])
    );

    let (mut top1, mut top5) = (0, 0);
    for &(query, expected) in &cases {
        let hits = index.search(query, 5);
        let rank = hits.iter().position(|&(i, _)| tools[i].name == expected);
        top1 += usize::from(rank == Some(0));
        top5 += usize::from(rank.is_some());
    }
    println!(
        "quality   top-1 {top1}/{n}   top-5 {top5}/{n}",
        n = cases.len()
    );
}
