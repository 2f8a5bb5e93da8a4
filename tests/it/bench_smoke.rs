//! `mcp-bench --quick` (what `scripts/bench` runs in full on a release
//! build) runs end to end on the debug build against its real upstreams and
//! writes every part of its report: a smoke test that the benchmark keeps
//! working, not a measurement (no number is compared to a target here).

#![allow(clippy::unwrap_used)] // a test may unwrap: a panic is its failure report

use serde_json::Value;

use crate::support::upstreams::test_cache;

#[tokio::test(flavor = "multi_thread")]
async fn the_quick_benchmark_runs_and_reports_every_part() {
    let out = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-bench"))
        .arg("--quick")
        .arg("--out")
        .arg(out.path())
        .env("MANIFOLD_TEST_CACHE", test_cache())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "mcp-bench failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("tools/call"), "{stdout}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("latest.json")).unwrap()).unwrap();
    let calls = report["tools_call"].as_array().unwrap();
    // 2 upstreams x 4 routes (direct, through HAProxy, which the test
    // fixtures install, /mcp and /mcp/s) x 2 client counts, every one with
    // calls made.
    assert_eq!(calls.len(), 16, "{calls:?}");
    let routes: std::collections::BTreeSet<&str> =
        calls.iter().filter_map(|c| c["route"].as_str()).collect();
    assert_eq!(
        routes,
        ["/mcp", "/mcp/s", "direct", "haproxy"]
            .into_iter()
            .collect()
    );
    for call in calls {
        assert!(call["calls"].as_u64().unwrap() > 0, "{call}");
        // The CPU of the process in between: the gateway or HAProxy.
        let through_a_proxy = call["route"] != "direct";
        assert_eq!(
            call["gateway_cpu_us_per_call"].is_number(),
            through_a_proxy,
            "{call}"
        );
    }
    assert!(report["tools_list"]["gateway_p50_ms"].as_f64().unwrap() > 0.0);
    let transports: Vec<&str> = report["connect"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["transport"].as_str().unwrap())
        .collect();
    assert_eq!(transports, ["stdio", "streamable_http", "sse", "websocket"]);
    let memory = report["memory"].as_array().unwrap();
    // Idle sessions just opened (awake), then put to sleep.
    for (what, count) in [
        ("idle MCP sessions, awake", 100),
        ("idle MCP sessions, asleep", 100),
        ("idle MCP sessions, asleep", 300),
    ] {
        assert!(
            memory
                .iter()
                .any(|m| m["what"] == what && m["count"] == count),
            "no {what:?} row for {count}: {memory:?}"
        );
    }
    assert!(memory.iter().all(|m| m["rss_bytes"].as_u64().unwrap() > 0));
}
