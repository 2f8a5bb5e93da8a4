//! Change events cross replicas: two Manifold processes sharing one catalog
//! (PostgreSQL) and one Redis. A connect through REST on one reaches an MCP
//! client whose stream is open on the other, and that client's next
//! `tools/list` and `tools/call` work there.

use std::time::Duration;

use serde_json::json;

use crate::support::app::replicas_with;
use crate::support::db::drop_postgres_database;
use crate::support::mcp::{call, mcp_client_watching_tools, text_of, tool_names};
use crate::support::rest::{add_fixture, connect, disconnect};

#[tokio::test]
async fn a_connect_on_one_replica_notifies_and_serves_a_stream_on_the_other() {
    let replicas = replicas_with("fanout", |_| {}).await;
    let (a, b, catalog) = (replicas.a, replicas.b, replicas.catalog_url);
    assert!(
        !a.admin_key.is_empty(),
        "the first replica bootstraps the admin key"
    );

    add_fixture(&a, "fx").await;
    let alice = a.user_key("alice").await;
    let (client, mut changed) = mcp_client_watching_tools(&b, "/mcp", &alice).await;
    assert!(tool_names(&client).await.is_empty());

    connect(&a, "fx", &alice).await;
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

    disconnect(&a, "fx", &alice).await;
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
