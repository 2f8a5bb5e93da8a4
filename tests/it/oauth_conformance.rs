//! The MCP conformance suite's OAuth scenarios (`@modelcontextprotocol/
//! conformance` 0.1.16, client mode) with Manifold as the OAuth client.
//!
//! In client mode the suite starts, per scenario, an MCP server that wants
//! a bearer token and its authorization server (which redirects straight
//! back with a code: no login page), then runs a command with the server's
//! URL appended. Ours is `tests/conformance/oauth_client.py`: it starts a
//! real `manifold serve`, registers the URL as a `requires_oauth2` server,
//! lets a user connect it (403 `oauth_required` → authorization URL →
//! redirects → `/oauth/callback`) and calls the upstream's tool through
//! `/mcp`. Every discovery, registration, authorization and token request the
//! suite checks is therefore made by the gateway.
//!
//! The suite writes `<out>/auth/<scenario>-<timestamp>/checks.json` and exits
//! non-zero when a check is `FAILURE` or `WARNING`, or when the command
//! failed (unless the scenario expects that, e.g. `auth/resource-mismatch`).
//! That exit status is the verdict used here.
//!
//! Two scenarios measure the operator and the user as much as the gateway:
//! in `auth/basic-cimd` the suite accepts one fixed URL as the client id, so
//! the wrapper configures it as the server's `oauth_client_id`, as an
//! operator who publishes a client metadata document would; in
//! `auth/scope-retry-limit` each `/authorize` request is the wrapper following
//! a URL the gateway handed out (a gateway cannot authorize on its own), and
//! the wrapper gives up after three, so the gateway passes if it never asks
//! more often than that.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::node::{conformance_cli, node_command, run};
use crate::support::python::python;

/// Every `auth/` client scenario of conformance 0.1.16 (`conformance list`):
/// the `auth` suite, then back-compat, draft and extension scenarios.
const AUTH_SCENARIOS: [&str; 22] = [
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/basic-cimd",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
    "auth/2025-03-26-oauth-metadata-backcompat",
    "auth/2025-03-26-oauth-endpoint-fallback",
    "auth/resource-mismatch",
    "auth/offline-access-scope",
    "auth/offline-access-not-supported",
    "auth/client-credentials-jwt",
    "auth/client-credentials-basic",
    "auth/cross-app-access-complete-flow",
];

/// Scenarios that cannot apply to the gateway, each with the reason. They
/// still run and their result is printed, but they are not scored.
///
/// Manifold's upstream OAuth is per user: a person authorizes the gateway
/// with the authorization-code grant, and the token is theirs. These three
/// scenarios are machine-to-machine extensions with no user in them: the
/// client must already hold its own credentials and use another grant, which
/// a per-user gateway has no one to ask for (and its API has no field for):
const NOT_APPLICABLE: [(&str, &str); 3] = [
    (
        "auth/client-credentials-jwt",
        "SEP-1046 client_credentials grant with a private_key_jwt assertion signed by a key the \
         suite hands the client: no user, no authorization-code flow",
    ),
    (
        "auth/client-credentials-basic",
        "SEP-1046 client_credentials grant with a client secret: no user, no \
         authorization-code flow",
    ),
    (
        "auth/cross-app-access-complete-flow",
        "SEP-990 enterprise-managed authorization: the client exchanges an identity \
         provider's ID token (RFC 8693) for a JWT authorization grant (RFC 7523); the \
         gateway holds no IdP token of the user",
    ),
];

/// One scenario's result.
#[derive(Debug)]
struct Outcome {
    scenario: &'static str,
    /// The suite's verdict: it exited 0.
    passed: bool,
    success: usize,
    failures: Vec<String>,
    warnings: Vec<String>,
    /// What the wrapper printed: its steps (stdout), and why it failed
    /// with the end of the gateway's log (stderr).
    client_stdout: String,
    client_stderr: String,
}

impl Outcome {
    fn line(&self) -> String {
        let mark = if self.passed { "pass" } else { "FAIL" };
        let mut line = format!(
            "{mark} {} ({} checks passed, {} failed, {} warnings)",
            self.scenario,
            self.success,
            self.failures.len(),
            self.warnings.len()
        );
        for f in &self.failures {
            line.push_str(&format!("\n       failure {f}"));
        }
        for w in &self.warnings {
            line.push_str(&format!("\n       warning {w}"));
        }
        line
    }
}

/// `python3 tests/conformance/oauth_client.py`, as the suite's `--command`
/// (it splits the string on spaces, so the paths must have none).
fn wrapper_command() -> String {
    let python = python();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/oauth_client.py");
    let command = format!("{} {}", python.display(), script.display());
    assert!(
        !python.display().to_string().contains(' ') && !script.display().to_string().contains(' '),
        "the conformance suite splits --command on spaces: {command}"
    );
    command
}

/// The `checks.json` the suite wrote somewhere under `dir`.
fn find_checks(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_checks(&path) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == "checks.json") {
            return Some(path);
        }
    }
    None
}

/// Runs one scenario against the wrapper and reads its checks.
async fn run_scenario(scenario: &'static str) -> Outcome {
    let home = TempDir::new().expect("a home folder for node");
    let out = home.path().join("results");
    let mut command = node_command(&home);
    command
        .arg(conformance_cli())
        .args(["client", "--scenario", scenario, "--timeout", "90000", "-o"])
        .arg(&out)
        .arg("--command")
        .arg(wrapper_command())
        .env("MANIFOLD_BIN", env!("CARGO_BIN_EXE_manifold"))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let output = run(command, Duration::from_secs(150)).await;
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let checks_file = find_checks(&out)
        .unwrap_or_else(|| panic!("{scenario}: the suite wrote no checks.json:\n{console}"));
    let raw = std::fs::read_to_string(&checks_file).expect("checks.json read");
    let checks: Vec<Value> = serde_json::from_str(&raw)
        .unwrap_or_else(|e| panic!("{scenario}: checks.json is not a list ({e})"));
    let client_output = |name: &str| {
        checks_file
            .parent()
            .map(|dir| std::fs::read_to_string(dir.join(name)).unwrap_or_default())
            .unwrap_or_default()
    };
    let describe = |c: &Value| {
        format!(
            "{}: {}{}",
            c["id"].as_str().unwrap_or("?"),
            c["description"].as_str().unwrap_or(""),
            c["errorMessage"]
                .as_str()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        )
    };
    let with_status = |status: &str| -> Vec<String> {
        checks
            .iter()
            .filter(|c| c["status"] == status)
            .map(describe)
            .collect()
    };
    Outcome {
        scenario,
        passed: output.status.success(),
        success: with_status("SUCCESS").len(),
        failures: with_status("FAILURE"),
        warnings: with_status("WARNING"),
        client_stdout: client_output("stdout.txt"),
        client_stderr: client_output("stderr.txt"),
    }
}

#[tokio::test]
async fn the_suite_lists_exactly_the_auth_scenarios_this_test_runs() {
    let home = TempDir::new().expect("a home folder for node");
    let mut command = node_command(&home);
    command.arg(conformance_cli()).arg("list");
    let output = run(command, Duration::from_secs(60)).await;
    let listed: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|name| name.starts_with("auth/"))
        .map(str::to_owned)
        .collect();
    assert_eq!(listed, AUTH_SCENARIOS, "the suite's auth scenarios changed");
}

#[tokio::test]
async fn the_gateway_passes_the_conformance_suites_oauth_client_scenarios() {
    let mut outcomes = Vec::new();
    for scenario in AUTH_SCENARIOS {
        let outcome = run_scenario(scenario).await;
        println!("{}", outcome.line());
        outcomes.push(outcome);
    }
    let applicable: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !NOT_APPLICABLE.iter().any(|(name, _)| *name == o.scenario))
        .collect();
    let passed = applicable.iter().filter(|o| o.passed).count();
    println!(
        "conformance oauth client: {passed}/{} (not applicable to a per-user gateway, not scored: {})",
        applicable.len(),
        NOT_APPLICABLE.map(|(name, _)| name).join(", ")
    );
    let failed: Vec<String> = applicable
        .iter()
        .filter(|o| !o.passed)
        .map(|o| {
            format!(
                "{}\n--- wrapper stdout ---\n{}\n--- wrapper stderr ---\n{}",
                o.line(),
                o.client_stdout.trim(),
                o.client_stderr.trim()
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} OAuth scenario(s) failed:\n\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}
