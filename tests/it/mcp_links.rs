//! Every URI a client sees on `/mcp` can be read back there: resource links
//! and embedded resources in tool results and prompt messages are wrapped
//! like listed resources (`manifold://{server}/{uri}`); on the per-server
//! route they stay the upstream's own. Checked with the Python SDK 2.x
//! against server-everything.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app};
use crate::support::python::{python2, run_client};
use crate::support::rest::{add_public, connect};
use crate::support::upstreams::{Everything, EverythingMode};

/// Runs `mcp_links_client.py` against `path`; its JSON report.
async fn links_report(app: &TestApp, path: &str, key: &str, prefix: &str) -> Value {
    let args = vec![app.url(path), key.to_owned(), prefix.to_owned()];
    run_client(
        python2(),
        "mcp_links_client.py",
        args,
        Duration::from_secs(120),
    )
    .await
}

/// Every shown URI (at least one per source) starts with `prefix` and reads
/// back with contents under the same URI.
fn assert_all_read_back(report: &Value, prefix: &str) {
    let shown = report["uris"].as_object().expect("uris by source");
    for (source, uris) in shown {
        let uris = uris.as_array().expect("a list");
        assert!(!uris.is_empty(), "{source} showed no URI: {report}");
        for uri in uris {
            let uri = uri.as_str().expect("a string");
            assert!(uri.starts_with(prefix), "{source}: {uri} ({report})");
            assert_eq!(
                report["reads"][uri]["ok"],
                json!([uri]),
                "{source}: {uri} reads back: {report}"
            );
        }
    }
}

#[tokio::test]
async fn uris_in_tool_results_and_prompts_read_back_on_mcp_and_per_server() {
    let everything = Everything::start(EverythingMode::StreamableHttp);
    let app = spawn_app().await;
    add_public(
        &app,
        json!({"name": "everything", "transport": "streamable_http", "url": everything.url()}),
    )
    .await;
    let alice = app.user_key("alice").await;
    connect(&app, "everything", &alice).await;

    let aggregate = links_report(&app, "/mcp", &alice, "everything__").await;
    assert_all_read_back(&aggregate, "manifold://everything/demo://");

    let direct = links_report(&app, "/mcp/s/everything", &alice, "").await;
    assert_all_read_back(&direct, "demo://");
    app.stop().await;
}
