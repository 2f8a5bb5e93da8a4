//! The OpenAPI document matches the routes the server really answers.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::app::{code, spawn_app};

#[tokio::test]
async fn every_documented_operation_is_routed_and_every_route_documented() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/v1/openapi.json", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in ["get", "post", "patch", "delete", "put"] {
            if item.get(method).is_some() {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let expected: BTreeSet<String> = [
        "GET /me",
        "GET /categories",
        "POST /categories",
        "GET /categories/{id}",
        "PATCH /categories/{id}",
        "DELETE /categories/{id}",
        "GET /servers",
        "POST /servers",
        "GET /servers/{id}",
        "PATCH /servers/{id}",
        "DELETE /servers/{id}",
        "POST /servers/{id}/connect",
        "POST /servers/{id}/disconnect",
        "POST /servers/{id}/oauth/authorize",
        "DELETE /servers/{id}/oauth",
        "GET /session/servers",
        "GET /session/tools",
        "GET /session/tool-filter",
        "GET /toolsets",
        "POST /toolsets",
        "GET /toolsets/{id}",
        "PATCH /toolsets/{id}",
        "DELETE /toolsets/{id}",
        "GET /keys",
        "POST /keys",
        "DELETE /keys/{id}",
        "PUT /session/tool-filter",
        "GET /session/langchain-config",
        "DELETE /session",
        "GET /audit",
        "POST /import",
        "GET /export",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(operations, expected);
    for op in &operations {
        let (method, path) = op.split_once(' ').expect("op");
        let url = format!("/api/v1{}", path.replace("{id}", "missing"));
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let body = matches!(method, Method::POST | Method::PATCH)
            .then(|| Value::Object(Default::default()));
        let (status, resp) = app.call(method, &url, Some(&app.admin_key), body).await;
        assert!(
            !matches!(code(&resp), "route_not_found" | "method_not_allowed")
                && status != StatusCode::INTERNAL_SERVER_ERROR,
            "{op} is documented but answered {status} {resp}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "Category",
        "Server",
        "NewServer",
        "ErrorBody",
        "ApiKey",
        "NewKey",
        "CreatedKey",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}

/// The schemathesis CLI of the `st` venv that `scripts/fixtures/python.sh`
/// installs; panics with what to run when it is missing (never skips).
fn schemathesis_cli() -> std::path::PathBuf {
    let cli = crate::support::python::test_cache().join("st/bin/schemathesis");
    assert!(
        cli.exists(),
        "schemathesis is missing ({} does not exist).\n\
         Run `scripts/fixtures/python.sh` (or `scripts/test`, which runs it) to install it. \
         The OpenAPI contract test never skips.",
        cli.display()
    );
    cli
}

/// What schemathesis may not check from the document alone. Creating or
/// changing a server has rules across fields (a URL whose scheme fits the
/// transport, `url` for network transports and `command` for stdio, OAuth
/// fields only with `requires_oauth2`, headers Manifold sets itself) and a
/// `category_id` must name an existing category: a request the schema
/// allows may still get 422 there. An import checks each of its servers
/// the same way (and needs `mcpServers` or `servers`). Creating an API key has rules of the
/// same kind (a `user_id` is a valid user id, a `name` is not only spaces)
/// and a bound (50 active keys per user, then 409); a key list's cursor
/// holds a time and a key id, which no pattern states, so a well-formed
/// cursor the gateway did not issue is 400 `invalid_cursor` (one entry for
/// both methods: schemathesis applies the first entry whose path matches).
/// Every other check stays on for them.
const SCHEMATHESIS_CONFIG: &str = r#"
[[operations]]
include-path = "/keys"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-path = "/servers"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-path = "/servers/{id}"
include-method = "PATCH"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-path = "/import"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"#;

/// Examples per operation in the fuzzing phase: 300 make about 4,500 test
/// cases, under a minute on two cores.
const SCHEMATHESIS_EXAMPLES: &str = "300";

#[tokio::test]
async fn schemathesis_finds_no_failure_against_the_openapi_document() {
    let app = crate::support::app::spawn_app_with(|s| {
        // Thousands of requests in a minute: the rate limit is not under test.
        s.limits.admin_per_second = 0;
    })
    .await;
    let cli = schemathesis_cli();
    let config = app.dir.path().join("schemathesis.toml");
    std::fs::write(&config, SCHEMATHESIS_CONFIG).expect("write the schemathesis config");
    let schema = app.url("/api/v1/openapi.json");
    let auth = format!("Authorization: Bearer {}", app.admin_key);
    let workdir = app.dir.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(&cli)
            .arg("--config-file")
            .arg(&config)
            .args(["run", &schema, "--header", &auth, "--checks", "all"])
            .args(["--max-examples", SCHEMATHESIS_EXAMPLES, "--seed", "1"])
            .args(["--generation-database", "none", "--no-color"])
            // One worker: hypothesis is not thread-safe enough for more.
            .args(["--workers", "1", "--request-timeout", "30"])
            .current_dir(&workdir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", cli.display()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        while matches!(child.try_wait(), Ok(None)) {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child.wait_with_output().expect("schemathesis's output")
    })
    .await
    .expect("the schemathesis run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // A run that tested nothing must not pass.
    let generated: u64 = stdout
        .lines()
        .filter_map(|line| line.trim().split_once(" generated, "))
        .find_map(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no `N generated` line in schemathesis's output:\n{stdout}"));
    assert!(
        generated > 0,
        "schemathesis generated no test case:\n{stdout}"
    );
    assert!(
        stdout.contains("Tested: 32"),
        "schemathesis did not test every operation:\n{stdout}"
    );
    let summary = stdout.lines().last().unwrap_or_default();
    println!("schemathesis: {generated} test cases, {summary}");
}
