//! The MCP conformance suite (`@modelcontextprotocol/conformance`, server
//! mode) against `tests/fixtures/conformance_server.py` on its own, and
//! through the gateway; and side by side, directly and through
//! `/mcp/s/{server}`, for several real upstreams (a scenario that passes
//! directly must pass through the gateway).
//!
//! The suite connects as an MCP client, runs each scenario, and writes one
//! `checks.json` per scenario (`<out>/server-<scenario>-<timestamp>/`), each
//! check `SUCCESS`, `FAILURE`, `WARNING` or `INFO`. A scenario passes here
//! when it has at least one `SUCCESS` and no `FAILURE`.
//!
//! The suite has no option for request headers, so for the gateway it runs
//! with `tests/fixtures/conformance_auth.mjs` preloaded, which adds the
//! bearer key to every request it sends to the gateway (see that file).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::app::{TestApp, spawn_app};
use crate::support::node::{conformance_cli, node_command, package_dir, run};
use crate::support::python::{ConformanceUpstream, fixture_script};

/// The active server scenarios of conformance 0.1.16 (`conformance list
/// --server` less the pending `json-schema-2020-12` and
/// `server-sse-polling`). A run must produce exactly these.
const ACTIVE: [&str; 30] = [
    "server-initialize",
    "logging-set-level",
    "ping",
    "completion-complete",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-error",
    "tools-call-with-progress",
    "tools-call-sampling",
    "tools-call-elicitation",
    "elicitation-sep1034-defaults",
    "server-sse-multiple-streams",
    "elicitation-sep1330-enums",
    "resources-list",
    "resources-read-text",
    "resources-read-binary",
    "resources-templates-read",
    "resources-subscribe",
    "resources-unsubscribe",
    "prompts-list",
    "prompts-get-simple",
    "prompts-get-with-args",
    "prompts-get-embedded-resource",
    "prompts-get-with-image",
    "dns-rebinding-protection",
];

/// Scenarios that may fail through the gateway's per-server route, each
/// with the reason. Empty: every active scenario must pass.
const GATEWAY_ALLOWED_FAILURES: &[(&str, &str)] = &[];

/// One scenario's checks, counted by status.
#[derive(Debug, Default)]
struct Outcome {
    success: usize,
    failure: usize,
    warning: usize,
    /// `id: errorMessage` of each failed check.
    failures: Vec<String>,
}

impl Outcome {
    fn passed(&self) -> bool {
        self.success > 0 && self.failure == 0
    }
}

/// Results by scenario, plus the suite's console output for messages.
struct SuiteRun {
    scenarios: BTreeMap<String, Outcome>,
    console: String,
}

impl SuiteRun {
    /// `passed/total` scenarios and checks, for the log.
    fn score(&self) -> String {
        let passed = self.scenarios.values().filter(|o| o.passed()).count();
        let checks: usize = self.scenarios.values().map(|o| o.success + o.failure).sum();
        let ok: usize = self.scenarios.values().map(|o| o.success).sum();
        let warnings: usize = self.scenarios.values().map(|o| o.warning).sum();
        format!(
            "{passed}/{} scenarios passed, {ok}/{checks} checks passed, {warnings} warnings",
            self.scenarios.len()
        )
    }

    fn failed(&self) -> Vec<(&str, &Outcome)> {
        self.scenarios
            .iter()
            .filter(|(_, o)| !o.passed())
            .map(|(name, o)| (name.as_str(), o))
            .collect()
    }
}

/// How the suite authenticates.
enum Auth<'a> {
    None,
    /// Preload `conformance_auth.mjs` with this bearer key for the URL's origin.
    Bearer(&'a str),
}

/// Runs the suite (the whole active suite, or one `scenario`) against `url`.
async fn run_suite(url: &str, scenario: Option<&str>, auth: Auth<'_>) -> SuiteRun {
    let home = TempDir::new().expect("a home folder for node");
    let out = home.path().join("results");
    let mut command = node_command(&home);
    if let Auth::Bearer(key) = auth {
        let preload = url::Url::from_file_path(fixture_script("conformance_auth.mjs"))
            .expect("an absolute path");
        let origin = url::Url::parse(url)
            .expect("a URL")
            .origin()
            .ascii_serialization();
        command
            .args(["--import", preload.as_str()])
            .env("MANIFOLD_CONFORMANCE_TOKEN", key)
            .env("MANIFOLD_CONFORMANCE_ORIGIN", origin)
            .env(
                "MANIFOLD_CONFORMANCE_PACKAGE",
                package_dir("@modelcontextprotocol/conformance").join("package.json"),
            );
    }
    command.arg(conformance_cli());
    command.args(["server", "--url", url, "-o"]).arg(&out);
    if let Some(scenario) = scenario {
        command.args(["--scenario", scenario]);
    }
    let output = run(command, Duration::from_secs(240)).await;
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let scenarios = read_results(&out, &console);
    SuiteRun { scenarios, console }
}

/// Parses every `server-<scenario>-<timestamp>/checks.json` under `out`.
fn read_results(out: &Path, console: &str) -> BTreeMap<String, Outcome> {
    let entries = std::fs::read_dir(out).unwrap_or_else(|e| {
        panic!(
            "the suite wrote no results to {} ({e}):\n{console}",
            out.display()
        )
    });
    let mut scenarios = BTreeMap::new();
    for entry in entries {
        let dir = entry.expect("a results entry").path();
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 folder name")
            .to_owned();
        // `server-` + scenario + `-YYYY-MM-DDTHH-MM-SS-mmmZ` (25 characters).
        let scenario = name
            .strip_prefix("server-")
            .filter(|rest| rest.len() > 25 && rest.ends_with('Z'))
            .map(|rest| rest[..rest.len() - 25].to_owned())
            .unwrap_or_else(|| panic!("unexpected results folder {name}"));
        let raw = std::fs::read_to_string(dir.join("checks.json"))
            .unwrap_or_else(|e| panic!("{}: no checks.json ({e})", dir.display()));
        let checks: Vec<Value> = serde_json::from_str(&raw)
            .unwrap_or_else(|e| panic!("{}: checks.json is not a list ({e})", dir.display()));
        let mut outcome = Outcome::default();
        for check in &checks {
            match check["status"].as_str() {
                Some("SUCCESS") => outcome.success += 1,
                Some("FAILURE") => {
                    outcome.failure += 1;
                    outcome.failures.push(format!(
                        "{}: {}",
                        check["id"].as_str().unwrap_or("?"),
                        check["errorMessage"].as_str().unwrap_or("(no message)")
                    ));
                }
                Some("WARNING") => outcome.warning += 1,
                _ => {}
            }
        }
        let previous = scenarios.insert(scenario.clone(), outcome);
        assert!(previous.is_none(), "two result folders for {scenario}");
    }
    scenarios
}

/// Asserts the run covered exactly the active scenarios and that each
/// passed, except those in `allowed` (which must still have run).
fn assert_all_active_pass(label: &str, run: &SuiteRun, allowed: &[(&str, &str)]) {
    println!("conformance ({label}): {}", run.score());
    let ran: Vec<&str> = run.scenarios.keys().map(String::as_str).collect();
    let mut active = ACTIVE.to_vec();
    active.sort_unstable();
    assert_eq!(
        ran, active,
        "the suite ran other scenarios than the active ones:\n{}",
        run.console
    );
    let unexpected: Vec<String> = run
        .failed()
        .into_iter()
        .filter(|(name, _)| !allowed.iter().any(|(a, _)| a == name))
        .map(|(name, o)| format!("{name}: {}", o.failures.join("; ")))
        .collect();
    assert!(
        unexpected.is_empty(),
        "conformance ({label}): scenarios failed:\n  {}\n{}",
        unexpected.join("\n  "),
        run.console
    );
}

#[tokio::test]
async fn the_conformance_fixture_passes_every_active_scenario_on_its_own() {
    let upstream = ConformanceUpstream::start();
    let run = run_suite(&upstream.url(), None, Auth::None).await;
    assert_all_active_pass("fixture, direct", &run, &[]);
    // DNS rebinding protection is among them: a foreign Host is refused.
    assert!(
        run.scenarios["dns-rebinding-protection"].passed(),
        "{}",
        upstream.log()
    );
}

/// An app where `alice` connected the conformance fixture as `conf`.
async fn app_with_conformance_upstream(upstream: &ConformanceUpstream) -> (TestApp, String) {
    let app = spawn_app().await;
    let body = json!({"name": "conf", "transport": "streamable_http", "url": upstream.url(), "is_public": true});
    let (status, created) = app.post("/api/v1/servers", &app.admin_key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let alice = app.user_key("alice").await;
    let (status, body) = app.session_action("connect", "conf", &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (app, alice)
}

#[tokio::test]
async fn the_gateway_passes_every_active_conformance_scenario_on_the_per_server_route() {
    let upstream = ConformanceUpstream::start();
    let (app, alice) = app_with_conformance_upstream(&upstream).await;
    let run = run_suite(&app.url("/mcp/s/conf"), None, Auth::Bearer(&alice)).await;
    assert_all_active_pass("gateway /mcp/s/conf", &run, GATEWAY_ALLOWED_FAILURES);
}

/// The scenarios that call no tool, resource or prompt by name, so they
/// mean the same on the aggregated `/mcp` (where names are namespaced).
const NAME_FREE: [&str; 7] = [
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
];

#[tokio::test]
async fn the_gateway_endpoint_passes_the_conformance_scenarios_that_name_nothing() {
    let upstream = ConformanceUpstream::start();
    let (app, alice) = app_with_conformance_upstream(&upstream).await;
    let url = app.url("/mcp");
    let mut passed = 0;
    for scenario in NAME_FREE {
        let run = run_suite(&url, Some(scenario), Auth::Bearer(&alice)).await;
        let outcome = run
            .scenarios
            .get(scenario)
            .unwrap_or_else(|| panic!("{scenario} did not run:\n{}", run.console));
        assert!(
            outcome.passed(),
            "{scenario} failed on /mcp: {}\n{}",
            outcome.failures.join("; "),
            run.console
        );
        passed += 1;
    }
    println!(
        "conformance (gateway /mcp, name-free scenarios): {passed}/{} passed",
        NAME_FREE.len()
    );
}

#[tokio::test]
async fn without_the_key_the_conformance_suite_is_refused_by_the_gateway() {
    let upstream = ConformanceUpstream::start();
    let (app, _alice) = app_with_conformance_upstream(&upstream).await;
    let run = run_suite(&app.url("/mcp"), Some("server-initialize"), Auth::None).await;
    let outcome = &run.scenarios["server-initialize"];
    assert!(
        !outcome.passed(),
        "initialize without a key passed:\n{}",
        run.console
    );
    // The suite reports the gateway's REST error body.
    assert!(
        outcome.failures.iter().any(|f| f.contains("unauthorized")),
        "the failure does not show the gateway's `unauthorized`: {:?}",
        outcome.failures
    );
}

/// One upstream of the side-by-side comparison: the URL the suite runs
/// against directly, and the server body the gateway connects to.
struct Compared {
    label: &'static str,
    direct_url: String,
    server: Value,
}

/// `pass`, `FAIL` or `-` (did not run) for the table.
fn mark(run: &SuiteRun, scenario: &str) -> &'static str {
    match run.scenarios.get(scenario) {
        Some(outcome) if outcome.passed() => "pass",
        Some(_) => "FAIL",
        None => "-",
    }
}

/// Runs the suite against `upstream` directly and through
/// `/mcp/s/{server}`; prints both side by side; the scenarios that passed
/// directly but not through the gateway.
async fn side_by_side(upstream: &Compared) -> Vec<String> {
    let app = spawn_app().await;
    let mut server = upstream.server.clone();
    server["name"] = json!("up");
    server["is_public"] = json!(true);
    let (status, created) = app.post("/api/v1/servers", &app.admin_key, server).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let alice = app.user_key("alice").await;
    let (status, body) = app.session_action("connect", "up", &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let gateway_url = app.url("/mcp/s/up");
    let (direct, through) = tokio::join!(
        run_suite(&upstream.direct_url, None, Auth::None),
        run_suite(&gateway_url, None, Auth::Bearer(&alice)),
    );
    app.stop().await;

    let mut table = format!(
        "\nconformance, {}: direct vs through /mcp/s/{{server}}\n| scenario | direct | gateway |\n| --- | --- | --- |\n",
        upstream.label
    );
    let mut regressions = Vec::new();
    for scenario in ACTIVE {
        let (d, g) = (mark(&direct, scenario), mark(&through, scenario));
        table.push_str(&format!("| {scenario} | {d} | {g} |\n"));
        if d == "pass" && g != "pass" {
            let why = through
                .scenarios
                .get(scenario)
                .map(|o| o.failures.join("; "))
                .unwrap_or_else(|| "did not run".into());
            regressions.push(format!("{}: {scenario}: {why}", upstream.label));
        }
    }
    table.push_str(&format!(
        "| **total** | {} | {} |\n",
        direct.score(),
        through.score()
    ));
    println!("{table}");
    regressions
}

#[tokio::test]
async fn through_the_per_server_route_every_upstream_scores_at_least_what_it_scores_directly() {
    use crate::support::python::PyServer;
    use crate::support::upstreams::{Everything, EverythingMode, FixtureHttp};

    let everything = Everything::start(EverythingMode::StreamableHttp);
    let fixture = FixtureHttp::start_with_env(&[("FIXTURE_CONTENT", "notes")]);
    // The suite speaks streamable HTTP only: the Python server's direct
    // score is its streamable-HTTP twin's; the gateway reaches it over
    // WebSocket.
    let py_http = PyServer::start("streamable-http");
    let py_ws = PyServer::start("websocket");
    let conformance = ConformanceUpstream::start();
    let upstreams = [
        Compared {
            label: "conformance_server.py (streamable HTTP)",
            direct_url: conformance.url(),
            server: json!({"transport": "streamable_http", "url": conformance.url()}),
        },
        Compared {
            label: "server-everything (streamable HTTP)",
            direct_url: everything.url(),
            server: json!({"transport": "streamable_http", "url": everything.url()}),
        },
        Compared {
            label: "mcp-fixture, FIXTURE_CONTENT=notes (streamable HTTP)",
            direct_url: fixture.url(),
            server: json!({"transport": "streamable_http", "url": fixture.url()}),
        },
        Compared {
            label: "py_server.py (direct: streamable HTTP; gateway: WebSocket)",
            direct_url: py_http.url().to_string(),
            server: json!({"transport": "websocket", "url": py_ws.url().to_string()}),
        },
    ];
    let mut regressions = Vec::new();
    for upstream in &upstreams {
        regressions.extend(side_by_side(upstream).await);
    }
    assert!(
        regressions.is_empty(),
        "scenarios that pass directly but not through the gateway:\n  {}",
        regressions.join("\n  ")
    );
}
