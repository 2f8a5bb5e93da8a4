//! Change events cross replicas: two Manifold processes sharing one catalog
//! (PostgreSQL) and one Redis. A connect through REST on one reaches an MCP
//! client whose stream is open on the other, and that client's next
//! `tools/list` and `tools/call` work there.

use std::time::Duration;

use serde_json::json;

use crate::mcp_endpoint::{call, text_of};
use crate::mcp_notify::{mcp_client, tool_names};
use crate::support::app::replicas_with;
use crate::support::db::drop_postgres_database;
use crate::support::upstreams::fixture_stdio;

#[tokio::test]
async fn a_connect_on_one_replica_notifies_and_serves_a_stream_on_the_other() {
    let replicas = replicas_with("fanout", |_| {}).await;
    let (a, b, catalog) = (replicas.a, replicas.b, replicas.catalog_url);
    assert!(
        !a.admin_key.is_empty(),
        "the first replica bootstraps the admin key"
    );

    let (command, args) = fixture_stdio();
    let (status, body) = a
        .post(
            "/api/v1/servers",
            &a.admin_key,
            json!({"name": "fx", "transport": "stdio", "command": command, "args": args, "is_public": true}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let alice = a.user_key("alice").await;
    let (client, mut changed) = mcp_client(&b, &alice).await;
    assert!(tool_names(&client).await.is_empty());

    let (status, body) = a.session_action("connect", "fx", &alice).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    tokio::time::timeout(Duration::from_secs(1), changed.recv())
        .await
        .expect("list_changed from the other replica within 1 s")
        .expect("client alive");
    assert!(tool_names(&client).await.contains(&"fx__echo".to_owned()));
    let echoed = client
        .call_tool(call("fx__echo", json!({"text": "via b"})))
        .await
        .expect("replica b reopens the session's link");
    assert_eq!(text_of(&echoed), "via b");

    let (status, _) = a.session_action("disconnect", "fx", &alice).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(1), changed.recv())
        .await
        .expect("disconnect announced across replicas")
        .expect("client alive");
    assert!(tool_names(&client).await.is_empty());

    client.cancel().await.expect("close");
    a.stop().await;
    b.stop().await;
    drop_postgres_database(&catalog).await;
}
