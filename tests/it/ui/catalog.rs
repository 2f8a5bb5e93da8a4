//! Live catalog: a user's open page follows servers and categories the
//! admin creates, renames, moves and deletes over REST, with no reload,
//! through the `catalogChanged` subscription; the admin's private server
//! never reaches it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{TestApp, spawn_app};
use crate::support::browser::BrowserRun;
use crate::support::rest::{create_category, create_server};
use crate::support::unique;

/// A network server the admin creates (nothing listens at its URL: the page
/// only shows it); returns its id.
async fn admin_server(app: &TestApp, body: Value) -> String {
    let created = create_server(app, &app.admin_key, body).await;
    created["id"].as_str().expect("an id").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_page_follows_the_admins_catalog_changes_live() {
    let app = spawn_app().await;
    let key = app.user_key("erin").await;
    let (name, hidden) = (unique("shared-"), unique("hidden-"));
    let url = "http://127.0.0.1:9/mcp";

    let mut run = BrowserRun::start(
        "catalog",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("USER_KEY", key.clone()),
            ("USER_ID", "erin".into()),
        ],
    )
    .await;

    run.wait_for("signed-in").await;
    // The private one first: had it reached the page, it would come before.
    let private_id = admin_server(
        &app,
        json!({"name": hidden, "title": "Admin only", "transport": "streamable_http", "url": url}),
    )
    .await;
    let title = format!("Shared {name}");
    let public_id = admin_server(
        &app,
        json!({"name": name, "title": title, "transport": "streamable_http", "url": url,
               "is_public": true}),
    )
    .await;
    run.reply(json!({"private_id": private_id, "private_name": hidden,
                     "public_id": public_id, "name": name, "title": title}))
        .await;

    run.wait_for("appeared").await;
    let renamed = format!("Renamed {name}");
    let (status, body) = app
        .patch(
            &format!("/api/v1/servers/{public_id}"),
            &app.admin_key,
            json!({"title": renamed}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    run.reply(json!({"title": renamed})).await;

    run.wait_for("renamed").await;
    let category_name = unique("Team ");
    let category = create_category(&app, json!({"name": category_name, "color": "#336699"})).await;
    let category_id = category["id"].as_str().expect("an id").to_owned();
    run.reply(json!({"category_id": category_id, "category_name": category_name}))
        .await;

    run.wait_for("category-empty").await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/servers/{public_id}"),
            &app.admin_key,
            json!({"category_id": category_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    run.reply(Value::Null).await;

    run.wait_for("grouped").await;
    let (status, _) = app
        .delete(&format!("/api/v1/servers/{public_id}"), &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    run.reply(Value::Null).await;

    let finished = run.finish().await;
    let report = &finished.summary["report"];
    assert_eq!(report["live_status"], "Live", "{report}");
    let frames = report["catalog_frames"].to_string();
    assert!(frames.contains(&public_id), "{report}");
    assert!(!frames.contains(&private_id), "{report}");
    app.stop().await;
}
