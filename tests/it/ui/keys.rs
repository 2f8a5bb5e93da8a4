//! Keys in the page (Chromium): the admin creates a key for another user,
//! which works at once, and revokes it, after which it is refused.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::app::spawn_app;
use crate::support::browser::BrowserRun;

#[tokio::test(flavor = "multi_thread")]
async fn the_page_creates_a_working_key_and_revokes_it() {
    let app = spawn_app().await;
    let mut run = BrowserRun::start(
        "keys",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("ADMIN_KEY", app.admin_key.clone()),
        ],
    )
    .await;
    let created = run.wait_for("created").await;
    let key = created["key"].as_str().expect("the key the page showed");
    let (status, me) = app.get("/api/v1/me", key).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (me["user_id"].as_str(), me["role"].as_str()),
        (Some("carol"), Some("user")),
        "{me}"
    );
    run.reply(Value::Null).await;
    run.wait_for("revoked").await;
    let (status, body) = app.get("/api/v1/me", key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    run.reply(Value::Null).await;
    run.finish().await;
    app.stop().await;
}
