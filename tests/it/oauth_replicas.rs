//! Two replicas sharing one PostgreSQL catalog and one Redis refresh one
//! user's OAuth tokens at the same moment, against an authorization server
//! that rotates refresh tokens and holds each refresh grant a while (so both
//! replicas are inside a refresh at once). The refresh lease in the state
//! store lets one replica refresh at a time: the other then loads the tokens
//! just saved, so no refresh token is ever spent twice, every call
//! succeeds and the user is never asked to authorize again.

use rmcp::service::{Peer, RoleClient};
use serde_json::json;

use crate::support::app::{TestApp, replicas_with};
use crate::support::mcp::{call, mcp_client};
use crate::support::oauth::{OAuthFixture, add_oauth_server, authorize_through, oauth_field};
use crate::support::rest::connect;

/// Rounds of "every access token dies, then both replicas call at once".
const ROUNDS: usize = 5;

/// Two apps on one new PostgreSQL catalog and one fresh Redis key prefix.
async fn replicas() -> (TestApp, TestApp) {
    let r = replicas_with("oauth-replicas", |_| {}).await;
    (r.a, r.b)
}

/// `whoami` through `client`: the OAuth user the upstream saw, or why not.
async fn whoami(client: &Peer<RoleClient>, tool: &str) -> Result<String, String> {
    let result = client
        .call_tool(call(tool, json!({})))
        .await
        .map_err(|e| e.to_string())?;
    if result.is_error == Some(true) {
        return Err(format!("{result:?}"));
    }
    let seen = result.structured_content.unwrap_or_default();
    seen["oauth_user"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no oauth_user: {seen}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_refreshing_one_users_rotating_tokens_at_once_never_spend_one_twice() {
    let fx = OAuthFixture::start_with_env(&[("FIXTURE_OAUTH_REFRESH_DELAY_MS", "300")]);
    let (a, b) = replicas().await;
    let name = "oauthfx";
    add_oauth_server(&a, &fx, name).await;
    let alice = a.user_key("alice").await;
    authorize_through(&a, name, &alice, "alice").await;
    for app in [&a, &b] {
        connect(app, name, &alice).await;
    }

    let tool = format!("{name}__whoami");
    let on_a = mcp_client(&a, "/mcp", &alice).await;
    let on_b = mcp_client(&b, "/mcp", &alice).await;
    for client in [&on_a, &on_b] {
        assert_eq!(whoami(client, &tool).await.as_deref(), Ok("alice"));
    }
    assert_eq!(fx.refreshes().await, (0, 0));

    for round in 1..=ROUNDS {
        let (granted_before, _) = fx.refreshes().await;
        fx.expire_access_tokens().await;
        let (seen_a, seen_b) = tokio::join!(whoami(&on_a, &tool), whoami(&on_b, &tool));
        assert_eq!(seen_a.as_deref(), Ok("alice"), "round {round}, replica A");
        assert_eq!(seen_b.as_deref(), Ok("alice"), "round {round}, replica B");
        let (granted, rejected) = fx.refreshes().await;
        assert_eq!(
            rejected, 0,
            "round {round}: a refresh token was spent twice"
        );
        // Each replica met the 401 and refreshed, one after the other: the
        // second with the refresh token the first had just saved.
        let fresh = granted - granted_before;
        assert!((1..=2).contains(&fresh), "round {round}: {fresh} refreshes");
        for app in [&a, &b] {
            assert_eq!(oauth_field(app, &alice, name).await, "authorized");
        }
    }
    let stats = fx.stats().await;
    assert_eq!(
        stats["token_exchanges"], 1,
        "never authorized again: {stats}"
    );
    on_a.cancel().await.expect("closed");
    on_b.cancel().await.expect("closed");
}
