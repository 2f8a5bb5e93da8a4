//! Accessibility: axe-core finds no serious or critical violation on the
//! sign-in page, the servers page with tools expanded, or an open dialog,
//! in light and dark colour schemes.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{code, spawn_app};
use crate::support::browser::BrowserRun;
use crate::support::rest::{connect, create_category, create_server, session_server};
use crate::support::unique;
use crate::support::upstreams::{FixtureHttp, free_port};

#[tokio::test(flavor = "multi_thread")]
async fn the_page_has_no_serious_accessibility_violation_in_light_or_dark() {
    let app = spawn_app().await;
    let upstream = FixtureHttp::start();
    let admin = app.admin_key.clone();
    let category = create_category(
        &app,
        json!({"name": "Testing", "icon": "🧪", "color": "#b45309", "description": "Fixtures"}),
    )
    .await;
    let server = unique("a11y-");
    create_server(
        &app,
        &admin,
        json!({
            "name": server, "title": "Accessible fixture", "description": "Tools to audit",
            "transport": "streamable_http", "url": upstream.url(),
            "is_public": true, "category_id": category["id"],
        }),
    )
    .await;
    connect(&app, &server, &admin).await;
    // A second server, failed, so the audit covers the failure badge too.
    let down = unique("down-");
    create_server(
        &app,
        &admin,
        json!({"name": down, "transport": "streamable_http",
               "url": format!("http://127.0.0.1:{}/mcp", free_port())}),
    )
    .await;
    // Nothing listens at its port.
    let (status, failed) = app.session_action("connect", &down, &admin).await;
    assert_eq!(
        (status, code(&failed)),
        (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
        "{failed}"
    );
    assert_eq!(
        session_server(&app, &admin, &down).await["status"],
        "FAILED"
    );

    let run = BrowserRun::start(
        "a11y",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("ADMIN_KEY", admin.clone()),
            ("SERVER_NAME", server.clone()),
        ],
    )
    .await;
    let finished = run.finish().await;
    eprintln!(
        "axe (all impacts): {}",
        finished.summary["report"]["violations"]
    );
    app.stop().await;
}
