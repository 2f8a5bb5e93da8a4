//! OAuth in the page: "Needs authorization", then "Authorize" in a new tab
//! through the fixture's authorization server and the gateway's callback,
//! and the first tab's badge turns connected live.

use serde_json::json;

use crate::support::app::spawn_app;
use crate::support::browser::BrowserRun;
use crate::support::oauth::OAuthFixture;
use crate::support::rest::{add_public, session_server};
use crate::support::unique;

#[tokio::test(flavor = "multi_thread")]
async fn a_user_authorizes_an_oauth_server_from_the_page() {
    let fx = OAuthFixture::start();
    let app = spawn_app().await;
    let server = unique("oauth-");
    add_public(
        &app,
        json!({"name": server, "title": "Protected tools", "transport": "streamable_http",
               "url": fx.mcp_url(), "requires_oauth2": true}),
    )
    .await;
    let key = app.user_key("dana").await;
    let before = session_server(&app, &key, &server).await;
    assert_eq!(before["oauth"], "required", "{before}");

    let mut run = BrowserRun::start(
        "oauth",
        &[
            ("GATEWAY_URL", app.base.clone()),
            ("USER_KEY", key.clone()),
            ("USER_ID", "dana".into()),
            ("SERVER_NAME", server.clone()),
            ("FIXTURE_ORIGIN", fx.origin()),
        ],
    )
    .await;
    run.wait_for("authorized").await;
    let after = session_server(&app, &key, &server).await;
    assert_eq!(
        (&after["status"], &after["oauth"]),
        (&json!("CONNECTED"), &json!("authorized")),
        "{after}"
    );
    // One approval at the authorization server, one code exchanged.
    let stats = fx.stats().await;
    assert_eq!(
        (&stats["authorizations"], &stats["token_exchanges"]),
        (&json!(1), &json!(1)),
        "{stats}"
    );
    run.reply(json!({"tool_count": after["tool_count"]})).await;
    run.finish().await;
    app.stop().await;
}
