//! What an event may hold and who may read it: arguments only with
//! `audit.record_arguments`, and then without the server's secret header
//! value even when a call echoes it; one user's events are not another's
//! to read, over REST or GraphQL; events past retention are deleted.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use manifold::catalog::audit::{AuditEvent, kind};
use manifold::ids::SessionId;
use manifold::principal::{Credential, Principal, Role};

use crate::graphql::gql;
use crate::support::app::{code, spawn_app, spawn_app_with};
use crate::support::mcp::{call, mcp_client};
use crate::support::rest::{add_fixture, add_public, connect};
use crate::support::upstreams::FixtureHttp;

use super::events;

#[tokio::test]
async fn recorded_arguments_hide_the_servers_secret_header_even_when_echoed() {
    let app = spawn_app_with(|s| s.audit.record_arguments = true).await;
    let fixture = FixtureHttp::start();
    add_public(
        &app,
        json!({"name": "web", "transport": "streamable_http", "url": fixture.url(),
               "headers": {"Authorization": "Bearer tok-3f9a81c2d4"}}),
    )
    .await;
    let alice = app.user_key("alice").await;
    connect(&app, "web", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    let echoed = client
        .call_tool(call(
            "web__echo",
            json!({"text": "the header was Bearer tok-3f9a81c2d4", "api_key": "k-1"}),
        ))
        .await
        .expect("echo");
    assert!(
        format!("{echoed:?}").contains("tok-3f9a81c2d4"),
        "the tool itself got it"
    );
    client.cancel().await.expect("client closes");
    let calls = events(&app, &alice, "kind=tools/call", 1).await;
    assert_eq!(
        calls[0]["arguments"],
        json!({"text": "the header was ***", "api_key": "***"}),
    );
    let (_, raw) = app.get("/api/v1/audit", &app.admin_key).await;
    assert!(!raw.to_string().contains("tok-3f9a81c2d4"), "{raw}");
}

#[tokio::test]
async fn users_read_only_their_own_events_over_rest_and_graphql() {
    let app = spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    let bob = app.user_key("bob").await;
    connect(&app, "fx", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    client
        .call_tool(call("fx__echo", json!({"text": "private"})))
        .await
        .expect("echo");
    client.cancel().await.expect("client closes");
    events(&app, &alice, "kind=tools/call", 1).await;

    // REST: bob's own trail has nothing of alice's; asking for hers is 403.
    let (status, mine) = app.get("/api/v1/audit", &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["items"], json!([]), "{mine}");
    let (status, body) = app.get("/api/v1/audit?user=alice", &bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "forbidden");
    // The admin reads hers.
    let hers = events(&app, &app.admin_key, "user=alice&kind=tools/call", 1).await;
    assert_eq!(hers[0]["target"], "fx__echo");

    // GraphQL: the same rule.
    let query = "query($user: String) { auditEvents(user: $user) { nodes { userId target outcome } pageInfo { hasNextPage } } }";
    let (_, body) = gql(&app, Some(&bob), query, json!({})).await;
    assert_eq!(body["data"]["auditEvents"]["nodes"], json!([]), "{body}");
    let (_, body) = gql(&app, Some(&bob), query, json!({"user": "alice"})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "forbidden",
        "{body}"
    );
    let (_, body) = gql(&app, Some(&alice), query, json!({})).await;
    let nodes = body["data"]["auditEvents"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        nodes
            .iter()
            .any(|n| n["target"] == "fx__echo" && n["userId"] == "alice"),
        "{body}"
    );
    assert!(nodes.iter().all(|n| n["userId"] == "alice"), "{body}");
}

#[tokio::test]
async fn bad_audit_queries_get_clear_errors() {
    let app = spawn_app().await;
    for (query, status, expected) in [
        ("since=yesterday", StatusCode::BAD_REQUEST, "invalid_query"),
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit"),
        ("cursor=!!", StatusCode::BAD_REQUEST, "invalid_cursor"),
        ("colour=red", StatusCode::BAD_REQUEST, "invalid_query"),
    ] {
        let (got, body) = app
            .get(&format!("/api/v1/audit?{query}"), &app.admin_key)
            .await;
        assert_eq!((got, code(&body)), (status, expected), "{query}: {body}");
    }
}

fn old_event(user: &str, days: i64) -> AuditEvent {
    let principal = Principal {
        user_id: user.into(),
        role: Role::User,
        session: SessionId::parse(user).expect("a session id"),
        credential: Credential::Anonymous,
    };
    let mut event = AuditEvent::new(kind::TOOL_CALL, &principal, "mcp");
    event.at = Utc::now() - Duration::days(days);
    event.target = Some(format!("{days}_days_ago"));
    event
}

#[tokio::test]
async fn events_past_retention_are_deleted_when_the_gateway_starts_and_hourly() {
    let (catalog, url) = crate::support::db::fresh_postgres().await;
    catalog
        .insert_audit_events(&[old_event("ada", 10), old_event("ada", 2)])
        .await
        .expect("events written");
    let app = spawn_app_with(|s| {
        s.catalog.url = manifold::secret::SecretUrl::new(url.clone());
        s.audit.retention_days = 7;
    })
    .await;
    // The writer's first retention pass runs at start.
    let mut left = Vec::new();
    for _ in 0..100 {
        let (_, body) = app.get("/api/v1/audit?user=ada", &app.admin_key).await;
        left = body["items"].as_array().cloned().unwrap_or_default();
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0]["target"], "2_days_ago");
    app.stop().await;
    crate::support::db::drop_postgres_database(&url).await;
}

#[tokio::test]
async fn keys_made_and_revoked_over_the_api_are_in_the_trail_without_their_secret() {
    let app = spawn_app().await;
    let (status, created) = app
        .post(
            "/api/v1/keys",
            &app.admin_key,
            json!({"user_id": "carol", "name": "ci"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("a key id");
    let secret = created["key"].as_str().expect("the secret, once");
    let (status, _) = app
        .delete(&format!("/api/v1/keys/{id}"), &app.admin_key)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let changes = events(&app, &app.admin_key, "kind=catalog_change", 2).await;
    assert_eq!(changes[0]["detail"], "api_key revoked for carol");
    assert_eq!(changes[1]["detail"], "api_key created for carol");
    assert!(
        changes
            .iter()
            .all(|e| e["target"] == id && e["user_id"] == "admin")
    );
    assert!(!json!(changes).to_string().contains(secret));
}
