//! End to end as the admin, in Chromium: sign in, create a category and a
//! server through the page's dialogs (seeing the API's field errors first),
//! connect, read the tools and the "Use it" snippets, disconnect, edit, see
//! a failed connect, delete. Each change is checked over REST as well.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{KNOWN_TOOL, field_error, tool_count};
use crate::support::app::{code, spawn_app};
use crate::support::browser::BrowserRun;
use crate::support::rest::{create_server, session_server};
use crate::support::unique;
use crate::support::upstreams::{FixtureHttp, free_port};

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_creates_connects_inspects_and_disconnects_a_server_in_the_page() {
    let app = spawn_app().await;
    let upstream = FixtureHttp::start();
    let expected_tools = tool_count(&app, &upstream.url()).await;

    // The page itself: no credential, the strict policy, no sniffing.
    let page = app.client.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("CSP");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("trusted-types 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");

    // What the API says about the bad values the page will submit.
    let (bad_color, bad_url) = ("red", "ftp://127.0.0.1/mcp");
    let (field, color_error) = field_error(
        &app,
        "/api/v1/categories",
        &app.admin_key,
        json!({"name": "probe", "color": bad_color}),
    )
    .await;
    assert_eq!(field, "color");
    let (field, url_error) = field_error(
        &app,
        "/api/v1/servers",
        &app.admin_key,
        json!({"name": "probe", "transport": "streamable_http", "url": bad_url}),
    )
    .await;
    assert_eq!(field, "url");

    let category = unique("Tools ");
    let server = unique("fixture-");
    let title = format!("Fixture {server}");
    let good_color = "#2563eb";
    let new_title = format!("Renamed {server}");
    // An uncategorized server whose upstream is down.
    let dead = unique("down-");
    create_server(
        &app,
        &app.admin_key,
        json!({"name": dead, "transport": "streamable_http",
               "url": format!("http://127.0.0.1:{}/mcp", free_port())}),
    )
    .await;
    let mut run = BrowserRun::start(
        "e2e",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("ADMIN_KEY", app.admin_key.clone()),
            ("UPSTREAM_URL", upstream.url()),
            ("EXPECTED_TOOLS", expected_tools.to_string()),
            ("KNOWN_TOOL", KNOWN_TOOL.into()),
            ("CATEGORY_NAME", category.clone()),
            ("CATEGORY_ICON", "🧪".into()),
            ("BAD_COLOR", bad_color.into()),
            ("COLOR_ERROR", color_error),
            ("GOOD_COLOR", good_color.into()),
            ("SERVER_NAME", server.clone()),
            ("SERVER_TITLE", title.clone()),
            ("SERVER_DESCRIPTION", "The crate's MCP fixture".into()),
            ("BAD_URL", bad_url.into()),
            ("URL_ERROR", url_error),
            ("NEW_TITLE", new_title.clone()),
            ("NEW_COLOR", "rgb(22, 163, 74)".into()),
            ("DEAD_SERVER", dead.clone()),
        ],
    )
    .await;

    // What the dialogs created is in the catalog as entered.
    let created = run.wait_for("created").await;
    let category_id = created["category_id"]
        .as_str()
        .expect("the category id the page showed")
        .to_owned();
    let (status, stored) = app
        .get(&format!("/api/v1/categories/{category_id}"), &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(
        (&stored["name"], &stored["color"], &stored["icon"]),
        (&json!(category), &json!(good_color), &json!("🧪")),
        "{stored}"
    );
    let stored = stored_server(&app, &server).await;
    assert_eq!(stored["title"], title.as_str(), "{stored}");
    assert_eq!(stored["transport"], "streamable_http", "{stored}");
    assert_eq!(stored["category_id"], category_id.as_str(), "{stored}");
    assert_eq!(stored["url"], upstream.url().as_str(), "{stored}");
    assert_eq!(stored["headers"], json!({"X-Test": "***"}), "{stored}");
    run.reply(Value::Null).await;

    // Connected from the page: the admin's session says so too.
    run.wait_for("connected").await;
    let status = session_server(&app, &app.admin_key, &server).await;
    assert_eq!(status["status"], "CONNECTED", "{status}");
    assert_eq!(status["tool_count"], expected_tools, "{status}");
    let (_, tools) = app.get("/api/v1/session/tools", &app.admin_key).await;
    let known = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["server"] == server.as_str() && t["name"] == KNOWN_TOOL)
        .cloned()
        .unwrap_or_else(|| panic!("{KNOWN_TOOL} of {server} is not in /session/tools: {tools}"));
    let (_, langchain) = app
        .get("/api/v1/session/langchain-config", &app.admin_key)
        .await;
    let langchain_url = langchain[&server]["url"].clone();
    assert!(langchain_url.is_string(), "{langchain}");
    run.reply(json!({
        "langchain_url": langchain_url,
        "description": known["description"],
        "input_schema": known["input_schema"],
    }))
    .await;

    run.wait_for("disconnected").await;
    let status = session_server(&app, &app.admin_key, &server).await;
    assert_eq!(status["status"], "DISCONNECTED", "{status}");
    run.reply(Value::Null).await;

    // Edited: the title changed, the write-only headers did not.
    run.wait_for("edited").await;
    let stored = stored_server(&app, &server).await;
    assert_eq!(stored["title"], new_title.as_str(), "{stored}");
    assert_eq!(stored["headers"], json!({"X-Test": "***"}), "{stored}");
    run.reply(Value::Null).await;

    // The page's failed connect is the session's; the API's message for a
    // connect of that server is what the card must show.
    run.wait_for("failed").await;
    assert_eq!(
        session_server(&app, &app.admin_key, &dead).await["status"],
        "FAILED"
    );
    let (status, refused) = app.session_action("connect", &dead, &app.admin_key).await;
    // Nothing listens at its port.
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
        "{refused}"
    );
    let failed = session_server(&app, &app.admin_key, &dead).await;
    run.reply(json!({
        "last_error": failed["last_error"],
        "message": refused["error"]["message"],
    }))
    .await;

    run.wait_for("category-edited").await;
    let (_, stored) = app
        .get(&format!("/api/v1/categories/{category_id}"), &app.admin_key)
        .await;
    assert_eq!(stored["color"], "rgb(22, 163, 74)", "{stored}");
    assert_eq!(stored["name"], category.as_str(), "{stored}");
    run.reply(Value::Null).await;

    run.wait_for("deleted").await;
    let (status, _) = app
        .get(&format!("/api/v1/servers/{server}"), &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!("/api/v1/categories/{category_id}"), &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    run.reply(Value::Null).await;

    run.finish().await;
    app.stop().await;
}

/// `GET /api/v1/servers/{name}` as the admin.
async fn stored_server(app: &crate::support::app::TestApp, name: &str) -> Value {
    let (status, stored) = app
        .get(&format!("/api/v1/servers/{name}"), &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    stored
}
