//! Resources, resource templates, prompts and completions on `/mcp`: the
//! session's upstreams (server-everything over stdio as `ev`, the rmcp
//! fixture with its notes as `fx`) are listed apart under wrapped URIs and
//! prefixed names, and every read, prompt, completion and subscription
//! reaches its owner. The per-server scope is driven through
//! `manifold::gateway::content` directly ([`scope`]); unknown names, other
//! users, broken and slow upstreams are in [`failures`].

mod failures;
mod scope;

use std::collections::HashMap;

use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, CompletionContext, GetPromptRequestParams,
    PaginatedRequestParams, ReadResourceRequestParams, Reference, ResourceContents,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::{ErrorData as McpError, ServiceError};
use serde_json::{Value, json};

use manifold::gateway::content;

use crate::support::app::{TestApp, spawn_app};
use crate::support::mcp::{Client, mcp_client};
use crate::support::rest::{add_public, connect};
use crate::support::upstreams::{everything_stdio, fixture_stdio};

/// Creates a public stdio server (as admin).
async fn create_stdio(
    app: &TestApp,
    name: &str,
    (command, args): (String, Vec<String>),
    env: Value,
) {
    let body = json!({
        "name": name, "transport": "stdio", "command": command, "args": args, "env": env,
    });
    add_public(app, body).await;
}

/// The fixture with `FIXTURE_CONTENT=mode` (`notes`, `broken`) or none.
async fn create_fixture(app: &TestApp, name: &str, mode: Option<&str>) {
    let env = mode.map_or_else(|| json!({}), |m| json!({"FIXTURE_CONTENT": m}));
    create_stdio(app, name, fixture_stdio(), env).await;
}

/// An app where alice connected server-everything as `ev` and the fixture
/// with notes as `fx`.
async fn two_upstreams() -> (TestApp, String) {
    let app = spawn_app().await;
    create_stdio(&app, "ev", everything_stdio(), json!({})).await;
    create_fixture(&app, "fx", Some("notes")).await;
    let alice = app.user_key("alice").await;
    connect(&app, "ev", &alice).await;
    connect(&app, "fx", &alice).await;
    (app, alice)
}

fn mcp_err(err: ServiceError) -> McpError {
    match err {
        ServiceError::McpError(err) => err,
        other => panic!("expected an MCP error, got {other}"),
    }
}

fn data_code(err: &McpError) -> Option<&str> {
    err.data.as_ref()?.get("code")?.as_str()
}

fn args(value: Value) -> rmcp::model::JsonObject {
    value.as_object().cloned().expect("an object")
}

fn content_uri(content: &ResourceContents) -> &str {
    match content {
        ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } => uri,
        _ => panic!("unknown content kind"),
    }
}

fn content_text(content: &ResourceContents) -> &str {
    match content {
        ResourceContents::TextResourceContents { text, .. } => text,
        other => panic!("expected text, got {other:?}"),
    }
}

fn prompt_text(result: &rmcp::model::GetPromptResult) -> String {
    serde_json::to_value(&result.messages).expect("messages serialize")[0]["content"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn completions(client: &Client, params: CompleteRequestParams) -> Vec<String> {
    client
        .complete(params)
        .await
        .expect("completion/complete")
        .completion
        .values
}

#[tokio::test]
async fn two_upstreams_resources_and_prompts_are_listed_apart_under_wrapped_uris_and_prefixed_names()
 {
    let (app, alice) = two_upstreams().await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    let info = client.peer_info().expect("the gateway's initialize result");
    let resources_capability = info.capabilities.resources.as_ref().expect("resources");
    assert_eq!(resources_capability.subscribe, Some(true));
    assert!(info.capabilities.prompts.is_some());
    assert!(info.capabilities.completions.is_some());

    let resources = client.list_all_resources().await.expect("resources/list");
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert!(
        uris.contains(&"manifold://fx/note://fixture/readme"),
        "{uris:?}"
    );
    assert!(
        uris.contains(&"manifold://fx/note://fixture/todo"),
        "{uris:?}"
    );
    assert!(
        uris.iter()
            .any(|u| u.starts_with("manifold://ev/demo://resource/static/document/")),
        "{uris:?}"
    );
    assert!(
        uris.iter()
            .all(|u| u.starts_with("manifold://ev/") || u.starts_with("manifold://fx/")),
        "{uris:?}"
    );
    let readme = resources
        .iter()
        .find(|r| r.uri == "manifold://fx/note://fixture/readme")
        .expect("listed");
    assert_eq!(readme.name, "readme");
    assert_eq!(readme.title.as_deref(), Some("Note readme"));
    assert_eq!(readme.mime_type.as_deref(), Some("text/plain"));

    let templates = client
        .list_all_resource_templates()
        .await
        .expect("resources/templates/list");
    let templates: Vec<&str> = templates.iter().map(|t| t.uri_template.as_str()).collect();
    assert!(
        templates.contains(&"manifold://fx/note://fixture/{name}"),
        "{templates:?}"
    );
    assert!(
        templates.contains(&"manifold://ev/demo://resource/dynamic/text/{resourceId}"),
        "{templates:?}"
    );

    let prompts = client.list_all_prompts().await.expect("prompts/list");
    let mut names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "ev__args-prompt",
            "ev__completable-prompt",
            "ev__resource-prompt",
            "ev__simple-prompt",
            "fx__greet",
        ]
    );
    let greet = prompts
        .iter()
        .find(|p| p.name == "fx__greet")
        .expect("listed");
    assert_eq!(greet.title.as_deref(), Some("Greeting"));
    assert_eq!(
        greet.description.as_deref(),
        Some("Greets someone by name.")
    );
    let arguments = greet.arguments.as_deref().unwrap_or_default();
    assert_eq!(arguments.len(), 1);
    assert_eq!(arguments[0].name, "name");
    app.stop().await;
}

#[tokio::test]
async fn reads_prompts_completions_and_subscriptions_reach_their_owner() {
    let (app, alice) = two_upstreams().await;
    let client = mcp_client(&app, "/mcp", &alice).await;

    // resources/read: the owner answers; content URIs come back wrapped.
    let read = client
        .read_resource(ReadResourceRequestParams::new(
            "manifold://fx/note://fixture/readme",
        ))
        .await
        .expect("read fx's readme");
    assert_eq!(read.contents.len(), 1);
    assert_eq!(
        content_uri(&read.contents[0]),
        "manifold://fx/note://fixture/readme"
    );
    assert_eq!(
        content_text(&read.contents[0]),
        "The readme of mcp-fixture."
    );
    let read = client
        .read_resource(ReadResourceRequestParams::new(
            "manifold://ev/demo://resource/dynamic/text/7",
        ))
        .await
        .expect("read ev's templated resource");
    assert_eq!(
        content_uri(&read.contents[0]),
        "manifold://ev/demo://resource/dynamic/text/7"
    );
    assert!(
        content_text(&read.contents[0]).starts_with("Resource 7:"),
        "{read:?}"
    );

    // prompts/get: the owner's prompt, its result unchanged.
    let greeting = client
        .get_prompt(
            GetPromptRequestParams::new("fx__greet").with_arguments(args(json!({"name": "Ada"}))),
        )
        .await
        .expect("fx__greet");
    assert_eq!(prompt_text(&greeting), "Hello, Ada, from mcp-fixture.");
    assert_eq!(
        greeting.description.as_deref(),
        Some("A greeting from mcp-fixture.")
    );
    let weather = client
        .get_prompt(
            GetPromptRequestParams::new("ev__args-prompt")
                .with_arguments(args(json!({"city": "Paris"}))),
        )
        .await
        .expect("ev__args-prompt");
    assert_eq!(prompt_text(&weather), "What's weather in Paris?");

    // completion/complete: prompt and template references, context included.
    let people = completions(
        &client,
        CompleteRequestParams::new(
            Reference::for_prompt("fx__greet"),
            ArgumentInfo::new("name", "A"),
        ),
    )
    .await;
    assert_eq!(people, ["Ada", "Alan"]);
    let leads = completions(
        &client,
        CompleteRequestParams::new(
            Reference::for_prompt("ev__completable-prompt"),
            ArgumentInfo::new("name", ""),
        )
        .with_context(CompletionContext::with_arguments(HashMap::from([(
            "department".to_owned(),
            "Sales".to_owned(),
        )]))),
    )
    .await;
    assert_eq!(leads, ["David", "Eve", "Frank"]);
    let notes = completions(
        &client,
        CompleteRequestParams::new(
            Reference::for_resource("manifold://fx/note://fixture/{name}"),
            ArgumentInfo::new("name", "t"),
        ),
    )
    .await;
    assert_eq!(notes, ["todo"]);
    let ids = completions(
        &client,
        CompleteRequestParams::new(
            Reference::for_resource("manifold://ev/demo://resource/dynamic/text/{resourceId}"),
            ArgumentInfo::new("resourceId", "42"),
        ),
    )
    .await;
    assert_eq!(ids, ["42"]);

    // resources/subscribe and unsubscribe reach the owner with its own URI:
    // the fixture accepts its notes and refuses anything else.
    #[allow(deprecated)]
    {
        client
            .subscribe(SubscribeRequestParams::new(
                "manifold://fx/note://fixture/readme",
            ))
            .await
            .expect("subscribe to fx's readme");
        client
            .unsubscribe(UnsubscribeRequestParams::new(
                "manifold://fx/note://fixture/readme",
            ))
            .await
            .expect("unsubscribe from fx's readme");
        let refused = mcp_err(
            client
                .subscribe(SubscribeRequestParams::new(
                    "manifold://fx/note://fixture/nothing",
                ))
                .await
                .expect_err("the fixture has no such note"),
        );
        // The upstream's own error passes through unchanged.
        assert_eq!(refused.code, rmcp::model::ErrorCode::RESOURCE_NOT_FOUND);
        assert_eq!(refused.data, Some(json!({"uri": "note://fixture/nothing"})));
    }
    app.stop().await;
}

#[tokio::test]
async fn long_resource_lists_are_paged_with_a_cursor_that_reaches_every_item() {
    let app = spawn_app().await;
    let env = json!({"FIXTURE_CONTENT": "notes", "FIXTURE_NOTE_COUNT": "700"});
    create_stdio(&app, "fx", fixture_stdio(), env).await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;

    let first = client.list_resources(None).await.expect("the first page");
    assert_eq!(first.resources.len(), content::PAGE);
    let cursor = first.next_cursor.clone().expect("a next page");
    let second = client
        .list_resources(Some(
            PaginatedRequestParams::default().with_cursor(Some(cursor)),
        ))
        .await
        .expect("the second page");
    assert_eq!(second.resources.len(), 702 - content::PAGE);
    assert_eq!(second.next_cursor, None);
    let mut all: Vec<String> = first
        .resources
        .iter()
        .chain(&second.resources)
        .map(|r| r.uri.clone())
        .collect();
    let listed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), listed, "no resource on two pages");
    assert!(all.contains(&"manifold://fx/note://fixture/n699".to_owned()));
    app.stop().await;
}
