//! The per-server scope (`/mcp/s/{server}`), through
//! `manifold::gateway::content`: one connected server, its own names and
//! URIs.

use manifold::gateway::content;
use manifold::gateway::handler::Scope;
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, GetPromptRequestParams, ReadResourceRequestParams,
    Reference,
};
use serde_json::json;

use super::{args, content_uri, data_code, prompt_text, two_upstreams};

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
