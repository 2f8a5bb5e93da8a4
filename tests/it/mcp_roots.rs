//! `roots/list` from an upstream outside any call (server-everything asks
//! right after it is connected) is answered with an empty list: no error
//! for the upstream, no refusal in the log, and no client's roots.

use serde_json::json;

use crate::support::app::spawn_app;
use crate::support::log::CapturedLog;
use crate::support::rest::{add_public, connect};
use crate::support::upstreams::{Everything, EverythingMode};

#[tokio::test]
async fn roots_asked_outside_any_call_get_an_empty_list_not_an_error() {
    let log = CapturedLog::default();
    let _capture = log.install();
    let everything = Everything::start(EverythingMode::StreamableHttp);
    let app = spawn_app().await;
    add_public(
        &app,
        json!({"name": "everything", "transport": "streamable_http", "url": everything.url()}),
    )
    .await;
    let alice = app.user_key("alice").await;
    connect(&app, "everything", &alice).await;
    log.wait_for(
        "roots/list with no certain caller that has roots: an empty list",
        1,
        std::time::Duration::from_secs(10),
    )
    .await;
    let text = log.text();
    assert!(
        !text.contains("refused an upstream request made outside any call"),
        "{text}"
    );
    app.stop().await;
}
