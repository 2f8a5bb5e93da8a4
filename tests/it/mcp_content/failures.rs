//! What fails on `/mcp` content, and how: unknown URIs and prompt names,
//! another user's session, and upstreams that fail, have no content or are
//! slow.

use std::time::{Duration, Instant};

use manifold::gateway::content;
use manifold::gateway::handler::Scope;
use reqwest::StatusCode;
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, GetPromptRequestParams, PaginatedRequestParams,
    ReadResourceRequestParams, Reference,
};
use serde_json::json;

use crate::support::app::{spawn_app, spawn_app_with};
use crate::support::mcp::mcp_client;
use crate::support::rest::connect;

use super::{create_fixture, data_code, mcp_err, two_upstreams};

#[tokio::test]
async fn unknown_uris_and_prompts_fail_with_their_code_and_other_users_see_nothing() {
    let (app, alice) = two_upstreams().await;
    let client = mcp_client(&app, "/mcp", &alice).await;

    for uri in [
        "note://fixture/readme",              // not wrapped
        "manifold://nobody/note://fixture/x", // no such connected server
        "manifold://Bad Name/x",              // not a server name
    ] {
        let err = mcp_err(
            client
                .read_resource(ReadResourceRequestParams::new(uri))
                .await
                .expect_err(uri),
        );
        assert_eq!(
            err.code,
            rmcp::model::ErrorCode::RESOURCE_NOT_FOUND,
            "{uri}"
        );
        assert_eq!(data_code(&err), Some("unknown_resource"), "{uri}");
    }
    for name in ["fx__nope", "nobody__greet", "greet"] {
        let err = mcp_err(
            client
                .get_prompt(GetPromptRequestParams::new(name))
                .await
                .expect_err(name),
        );
        assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{name}");
        assert_eq!(data_code(&err), Some("unknown_prompt"), "{name}");
    }
    let err = mcp_err(
        client
            .complete(CompleteRequestParams::new(
                Reference::for_prompt("fx__nope"),
                ArgumentInfo::new("name", ""),
            ))
            .await
            .expect_err("no such prompt"),
    );
    assert_eq!(data_code(&err), Some("unknown_prompt"));
    let err = mcp_err(
        client
            .list_resources(Some(
                PaginatedRequestParams::default().with_cursor(Some("%%% forged".into())),
            ))
            .await
            .expect_err("forged cursor"),
    );
    assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS);
    assert_eq!(data_code(&err), Some("invalid_cursor"));

    // Bob's session connected nothing: he sees none of alice's content and
    // cannot reach it by name.
    let bob = app.user_key("bob").await;
    let bobs = mcp_client(&app, "/mcp", &bob).await;
    assert!(bobs.list_all_resources().await.expect("list").is_empty());
    assert!(
        bobs.list_all_resource_templates()
            .await
            .expect("list")
            .is_empty()
    );
    assert!(bobs.list_all_prompts().await.expect("list").is_empty());
    let err = mcp_err(
        bobs.read_resource(ReadResourceRequestParams::new(
            "manifold://fx/note://fixture/readme",
        ))
        .await
        .expect_err("not bob's"),
    );
    assert_eq!(data_code(&err), Some("unknown_resource"));
    let err = mcp_err(
        bobs.get_prompt(GetPromptRequestParams::new("fx__greet"))
            .await
            .expect_err("not bob's"),
    );
    assert_eq!(data_code(&err), Some("unknown_prompt"));
    app.stop().await;
}

#[tokio::test]
async fn a_server_that_fails_to_list_or_has_no_content_does_not_break_the_lists() {
    let app = spawn_app().await;
    create_fixture(&app, "fx", Some("notes")).await;
    create_fixture(&app, "broken", Some("broken")).await;
    create_fixture(&app, "plain", None).await;
    let alice = app.user_key("alice").await;
    for name in ["fx", "broken", "plain"] {
        connect(&app, name, &alice).await;
    }
    let client = mcp_client(&app, "/mcp", &alice).await;

    let resources = client.list_all_resources().await.expect("resources/list");
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "manifold://fx/note://fixture/readme",
            "manifold://fx/note://fixture/todo"
        ]
    );
    let templates = client
        .list_all_resource_templates()
        .await
        .expect("resources/templates/list");
    assert_eq!(templates.len(), 1, "{templates:?}");
    let prompts = client.list_all_prompts().await.expect("prompts/list");
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["fx__greet"]);
    // The broken server still answers what it can; its tools stay listed.
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "broken__echo"), "{tools:?}");
    // A server that advertised no resources owns none.
    let err = mcp_err(
        client
            .read_resource(ReadResourceRequestParams::new(
                "manifold://plain/note://fixture/readme",
            ))
            .await
            .expect_err("plain has no resources"),
    );
    assert_eq!(data_code(&err), Some("unknown_resource"));
    app.stop().await;
}

#[tokio::test]
async fn a_slow_server_is_left_out_of_lists_in_time_and_its_reads_time_out_with_the_code() {
    let app = spawn_app_with(|s| {
        s.upstream.tool_fetch_timeout_seconds = 2;
        s.upstream.call_timeout_seconds = 2;
    })
    .await;
    create_fixture(&app, "fx", Some("notes")).await;
    create_fixture(&app, "slow", Some("slow")).await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    connect(&app, "slow", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;

    let started = Instant::now();
    let resources = client.list_all_resources().await.expect("resources/list");
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "manifold://fx/note://fixture/readme",
            "manifold://fx/note://fixture/todo"
        ]
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the list waited {:?} for the slow server",
        started.elapsed()
    );

    let err = mcp_err(
        client
            .read_resource(ReadResourceRequestParams::new(
                "manifold://slow/note://fixture/readme",
            ))
            .await
            .expect_err("the slow server does not answer in time"),
    );
    assert_eq!(data_code(&err), Some("upstream_timeout"));

    // On the per-server scope the slow server's timeout is the answer.
    let principal = app
        .state
        .api_keys()
        .authenticate(&alice)
        .await
        .expect("alice's principal");
    let err = content::list_resources(&app.state, &principal, &Scope::Server("slow".into()), None)
        .await
        .expect_err("slow lists too slowly");
    assert_eq!(data_code(&err), Some("upstream_timeout"));
    app.stop().await;
}

#[tokio::test]
async fn a_server_hidden_from_its_user_after_connecting_shows_and_serves_nothing() {
    let (app, alice) = two_upstreams().await;
    let (status, body) = app
        .patch(
            "/api/v1/servers/fx",
            &app.admin_key,
            json!({"is_public": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let client = mcp_client(&app, "/mcp", &alice).await;

    let resources = client.list_all_resources().await.expect("resources/list");
    assert!(
        resources
            .iter()
            .all(|r| r.uri.starts_with("manifold://ev/")),
        "{resources:?}"
    );
    let prompts = client.list_all_prompts().await.expect("prompts/list");
    assert!(
        prompts.iter().all(|p| p.name.starts_with("ev__")),
        "{prompts:?}"
    );
    let err = mcp_err(
        client
            .read_resource(ReadResourceRequestParams::new(
                "manifold://fx/note://fixture/readme",
            ))
            .await
            .expect_err("fx is hidden from alice"),
    );
    assert_eq!(data_code(&err), Some("unknown_resource"));
    let err = mcp_err(
        client
            .get_prompt(GetPromptRequestParams::new("fx__greet"))
            .await
            .expect_err("fx is hidden from alice"),
    );
    assert_eq!(data_code(&err), Some("unknown_prompt"));
    app.stop().await;
}
