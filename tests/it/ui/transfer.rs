//! Import in the page (Chromium): an `mcpServers` JSON with one stdio and
//! one HTTP server is previewed (nothing created), then imported, and both
//! servers connect.

use serde_json::{Value, json};

use crate::support::app::spawn_app;
use crate::support::browser::BrowserRun;
use crate::support::rest::session_server;
use crate::support::upstreams::{FixtureHttp, fixture_stdio};

#[tokio::test(flavor = "multi_thread")]
async fn the_page_imports_a_stdio_and_an_http_server_and_connects_both() {
    let app = spawn_app().await;
    let upstream = FixtureHttp::start();
    let (command, args) = fixture_stdio();
    let config = json!({"mcpServers": {
        "local-fx": {"command": command, "args": args},
        "remote-fx": {"type": "http", "url": upstream.url()},
    }});
    let mut run = BrowserRun::start(
        "transfer",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("ADMIN_KEY", app.admin_key.clone()),
            ("IMPORT_JSON", config.to_string()),
            ("NAMES", "local-fx,remote-fx".into()),
        ],
    )
    .await;
    run.wait_for("previewed").await;
    let (_, servers) = app.get("/api/v1/servers", &app.admin_key).await;
    assert_eq!(
        servers["items"],
        json!([]),
        "a preview created servers: {servers}"
    );
    run.reply(Value::Null).await;
    run.wait_for("imported").await;
    for name in ["local-fx", "remote-fx"] {
        let state = session_server(&app, &app.admin_key, name).await;
        assert_eq!(state["status"], "CONNECTED", "{state}");
    }
    run.reply(Value::Null).await;
    run.finish().await;
    app.stop().await;
}
