//! Rate limits per principal: a user's burst passes, then the surface
//! answers 429 `rate_limited` with `Retry-After` until the bucket refills.
//! The admin API (per role) and `/mcp` (its own bucket per user) are limited
//! apart, so a busy agent never uses up its owner's API allowance nor the
//! other way round; other users have their own buckets.
//!
//! The limits refill one request a second, so a test asserts "limited within
//! a few requests" rather than "limited at exactly request N": a slow machine
//! may refill a token between two requests.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode, header};
use serde_json::Value;

use crate::support::app::{TestApp, code, spawn_app, spawn_app_with};
use crate::support::mcp::{initialize, open_session};

/// API: users 1 request/s, burst 3; admins 1 request/s, burst 5.
/// `/mcp`: 1 request/s, burst 4, per user whatever the role.
async fn limited_app() -> TestApp {
    spawn_app_with(|s| {
        s.limits.user_per_second = 1;
        s.limits.user_burst = 3;
        s.limits.admin_per_second = 1;
        s.limits.admin_burst = 5;
        s.limits.mcp_per_second = 1;
        s.limits.mcp_burst = 4;
    })
    .await
}

/// `GET /api/v1/me` with `key`.
async fn rest(app: &TestApp, key: &str) -> Response {
    app.client
        .get(app.url("/api/v1/me"))
        .bearer_auth(key)
        .send()
        .await
        .expect("request sent")
}

/// An MCP `initialize` POST to `path` with `key`.
async fn mcp(app: &TestApp, path: &str, key: &str) -> Response {
    app.mcp_post(path, Some(key), None, &initialize("2025-06-18"))
        .await
}

/// The `Retry-After` seconds and the error code of a 429.
async fn rate_limited(response: Response) -> (u64, String) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .expect("a 429 has Retry-After")
        .to_str()
        .expect("text")
        .parse::<u64>()
        .expect("Retry-After is whole seconds");
    assert!(retry_after >= 1, "Retry-After is at least 1 second");
    let body: Value = response.json().await.expect("JSON error body");
    (retry_after, code(&body).to_owned())
}

/// Sends `send` until it answers 429 (at most `attempts` times); returns
/// the 429 and how many requests passed before it.
async fn until_limited<F, Fut>(attempts: usize, mut send: F) -> (Response, usize)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Response>,
{
    for passed in 0..attempts {
        let response = send().await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            return (response, passed);
        }
        assert!(
            response.status().is_success(),
            "request {passed} answered {}",
            response.status()
        );
    }
    panic!("no 429 within {attempts} requests");
}

#[tokio::test]
async fn a_user_past_their_burst_gets_429_with_retry_after_on_rest_and_mcp_apart() {
    let app = limited_app().await;
    let alice = app.user_key("alice").await;
    let alice_again = app.user_key("alice").await;
    let bob = app.user_key("bob").await;

    // The API burst of 3 passes, then REST says 429.
    let (limited, passed) = until_limited(20, || rest(&app, &alice)).await;
    assert!(passed >= 3, "the whole burst of 3 passes, got {passed}");
    let (retry_after, code) = rate_limited(limited).await;
    assert_eq!(code, "rate_limited");
    assert!(retry_after <= 1, "one token refills in a second");

    // /mcp has its own bucket: alice's agent still gets its whole burst of
    // 4, over every API key of hers and every MCP route, then 429.
    for (path, key) in [
        ("/mcp", &alice),
        ("/mcp", &alice_again),
        ("/mcp/s/x", &alice),
    ] {
        let status = mcp(&app, path, key).await.status();
        assert_ne!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: the API's 429 reached /mcp"
        );
    }
    let (limited, passed) = until_limited(20, || mcp(&app, "/mcp", &alice_again)).await;
    assert!(passed >= 1, "the rest of the /mcp burst passes");
    let (retry_after, code) = rate_limited(limited).await;
    assert_eq!(code, "rate_limited");
    assert!(retry_after >= 1);
    let (limited, _) = until_limited(2, || mcp(&app, "/mcp/s/anything", &alice)).await;
    assert_eq!(rate_limited(limited).await.1, "rate_limited");

    // Another user, and an admin, are not affected.
    assert_eq!(rest(&app, &bob).await.status(), StatusCode::OK);
    assert_eq!(mcp(&app, "/mcp", &bob).await.status(), StatusCode::OK);
    assert_eq!(rest(&app, &app.admin_key).await.status(), StatusCode::OK);

    // Within Retry-After (plus a margin), alice passes again. Refused
    // requests take no token, so asking meanwhile does not delay her.
    let (limited, _) = until_limited(2, || rest(&app, &alice)).await;
    let limited_at = Instant::now();
    let (retry_after, _) = rate_limited(limited).await;
    let by = limited_at + Duration::from_secs(retry_after) + Duration::from_millis(300);
    loop {
        let status = rest(&app, &alice).await.status();
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            Instant::now() < by,
            "alice is still limited {retry_after} s (and 300 ms) after her 429"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_admin_has_its_own_limit() {
    let app = limited_app().await;
    let alice = app.user_key("alice").await;
    // The admin's burst of 5 is larger than a user's 3.
    let (limited, passed) = until_limited(30, || rest(&app, &app.admin_key)).await;
    assert!(passed >= 5, "the admin's burst of 5 passes, got {passed}");
    assert_eq!(rate_limited(limited).await.1, "rate_limited");
    // The limited admin does not slow the user down.
    assert_eq!(rest(&app, &alice).await.status(), StatusCode::OK);
    // On /mcp an admin is limited like anyone, by the /mcp quota (burst 4).
    let (limited, passed) = until_limited(30, || mcp(&app, "/mcp", &app.admin_key)).await;
    assert!(
        passed >= 4,
        "the admin's /mcp burst of 4 passes, got {passed}"
    );
    assert_eq!(rate_limited(limited).await.1, "rate_limited");
}

#[tokio::test]
async fn by_default_an_agent_fanning_out_is_not_throttled() {
    // Default limits: the API's user burst is 200; an agent's fan-out of
    // 600 /mcp requests at once in one MCP session must all pass.
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let session = open_session(&app, "/mcp", &alice).await;
    let sends = (0..600).map(|id| {
        let ping = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "ping"});
        let (app, alice, session) = (&app, &alice, &session);
        async move {
            app.mcp_post("/mcp", Some(alice), Some(session), &ping)
                .await
        }
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(sends)
        .await
        .iter()
        .map(Response::status)
        .collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{:?}",
        statuses
            .iter()
            .filter(|s| **s != StatusCode::OK)
            .collect::<Vec<_>>()
    );
    // The API keeps its own (lower) limits: the agent spent none of them.
    assert_eq!(rest(&app, &alice).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn zero_per_second_lifts_the_limit_for_that_role() {
    let app = spawn_app_with(|s| {
        s.limits.user_per_second = 0;
        s.limits.user_burst = 0;
    })
    .await;
    let alice = app.user_key("alice").await;
    for _ in 0..30 {
        assert_eq!(rest(&app, &alice).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_429_of_every_operation() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/v1/openapi.json", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let limited = &operation["responses"]["429"];
            assert!(
                limited["headers"]["Retry-After"].is_object(),
                "{method} {path} documents no 429 with Retry-After"
            );
        }
    }
}
