//! Resources, resource templates, prompts and completions on `/mcp`: the
//! session's upstreams (server-everything over stdio as `ev`, the rmcp
//! fixture with its notes as `fx`) are listed apart under wrapped URIs and
//! prefixed names, and every read, prompt, completion and subscription
//! reaches its owner. The per-server scope is driven through
//! `manifold::gateway::content` directly.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, CompletionContext, GetPromptRequestParams,
    PaginatedRequestParams, ReadResourceRequestParams, Reference, ResourceContents,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ErrorData as McpError, ServiceError, ServiceExt};
use serde_json::{Value, json};

use manifold::gateway::content;
use manifold::gateway::handler::Scope;

use crate::support::app::{TestApp, spawn_app, spawn_app_with};
use crate::support::upstreams::{everything_stdio, fixture_stdio};

type Client = RunningService<RoleClient, ()>;

/// Creates a public stdio server (as admin).
async fn create_stdio(
    app: &TestApp,
    name: &str,
    (command, args): (String, Vec<String>),
    env: Value,
) {
    let body = json!({
        "name": name, "transport": "stdio", "command": command, "args": args,
        "env": env, "is_public": true,
    });
    let (status, created) = app.post("/api/v1/servers", &app.admin_key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

/// The fixture with `FIXTURE_CONTENT=mode` (`notes`, `broken`) or none.
async fn create_fixture(app: &TestApp, name: &str, mode: Option<&str>) {
    let env = mode.map_or_else(|| json!({}), |m| json!({"FIXTURE_CONTENT": m}));
    create_stdio(app, name, fixture_stdio(), env).await;
}

async fn connect(app: &TestApp, name: &str, key: &str) {
    let (status, body) = app.session_action("connect", name, key).await;
    assert_eq!(status, StatusCode::OK, "connect {name}: {body}");
}

/// An rmcp client on `/mcp` with `key`.
async fn mcp_client(app: &TestApp, key: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(key);
    let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
    ().serve(transport).await.expect("MCP handshake with /mcp")
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
    let client = mcp_client(&app, &alice).await;
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
    let client = mcp_client(&app, &alice).await;

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
async fn unknown_uris_and_prompts_fail_with_their_code_and_other_users_see_nothing() {
    let (app, alice) = two_upstreams().await;
    let client = mcp_client(&app, &alice).await;

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
    let bobs = mcp_client(&app, &bob).await;
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
    let client = mcp_client(&app, &alice).await;

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
async fn the_per_server_scope_shows_one_server_with_its_own_names_and_uris() {
    let (app, alice) = two_upstreams().await;
    let principal = app
        .state
        .api_keys()
        .authenticate(&alice)
        .await
        .expect("alice's principal");
    let fx = Scope::Server("fx".into());

    let resources = content::list_resources(&app.state, &principal, &fx, None)
        .await
        .expect("fx's resources");
    let uris: Vec<&str> = resources.resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, ["note://fixture/readme", "note://fixture/todo"]);
    let templates = content::list_resource_templates(&app.state, &principal, &fx, None)
        .await
        .expect("fx's templates");
    assert_eq!(
        templates.resource_templates[0].uri_template,
        "note://fixture/{name}"
    );
    let prompts = content::list_prompts(&app.state, &principal, &fx, None)
        .await
        .expect("fx's prompts");
    let names: Vec<&str> = prompts.prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["greet"]);

    let read = content::read_resource(
        &app.state,
        &principal,
        &fx,
        ReadResourceRequestParams::new("note://fixture/todo"),
    )
    .await
    .expect("read fx's todo");
    let rmcp::model::ReadResourceResponse::Complete(read) = read else {
        panic!("a complete result");
    };
    assert_eq!(content_uri(&read.contents[0]), "note://fixture/todo");
    let prompt = content::get_prompt(
        &app.state,
        &principal,
        &fx,
        GetPromptRequestParams::new("greet").with_arguments(args(json!({"name": "Grace"}))),
    )
    .await
    .expect("fx's greet");
    let rmcp::model::GetPromptResponse::Complete(prompt) = prompt else {
        panic!("a complete result");
    };
    assert_eq!(prompt_text(&prompt), "Hello, Grace, from mcp-fixture.");
    let done = content::complete(
        &app.state,
        &principal,
        &fx,
        CompleteRequestParams::new(
            Reference::for_resource("note://fixture/{name}"),
            ArgumentInfo::new("name", "re"),
        ),
    )
    .await
    .expect("fx's completion");
    assert_eq!(done.completion.values, ["readme"]);

    // Wrapped URIs mean nothing on the per-server scope: fx itself refuses.
    let err = content::read_resource(
        &app.state,
        &principal,
        &fx,
        ReadResourceRequestParams::new("manifold://fx/note://fixture/todo"),
    )
    .await
    .expect_err("fx has no such URI");
    assert_eq!(err.code, rmcp::model::ErrorCode::RESOURCE_NOT_FOUND);

    // A server the session did not connect is refused with the code.
    let bob = app.user_key("bob").await;
    let bob = app
        .state
        .api_keys()
        .authenticate(&bob)
        .await
        .expect("bob's principal");
    let err = content::list_prompts(&app.state, &bob, &fx, None)
        .await
        .expect_err("bob did not connect fx");
    assert_eq!(data_code(&err), Some("server_not_connected"));
    let err = content::read_resource(
        &app.state,
        &bob,
        &fx,
        ReadResourceRequestParams::new("note://fixture/todo"),
    )
    .await
    .expect_err("bob did not connect fx");
    assert_eq!(data_code(&err), Some("server_not_connected"));
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
    let client = mcp_client(&app, &alice).await;

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
async fn long_resource_lists_are_paged_with_a_cursor_that_reaches_every_item() {
    let app = spawn_app().await;
    let env = json!({"FIXTURE_CONTENT": "notes", "FIXTURE_NOTE_COUNT": "700"});
    create_stdio(&app, "fx", fixture_stdio(), env).await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let client = mcp_client(&app, &alice).await;

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
