//! The fixture's resources, resource template, prompt and completions,
//! switched on by `FIXTURE_CONTENT` (off by default, so the plain fixture
//! advertises tools only):
//!
//! - `FIXTURE_CONTENT=notes`: resources `note://fixture/readme` and
//!   `note://fixture/todo`, the template `note://fixture/{name}` (reading any
//!   other name is a resource-not-found error), the prompt `greet(name)`,
//!   completions for `greet`'s `name` and the template's `name`, and
//!   `resources/subscribe` / `unsubscribe` for the two notes.
//! - `FIXTURE_CONTENT=broken`: the same capabilities are advertised, but
//!   `resources/list`, `resources/templates/list` and `prompts/list` fail.
//! - `FIXTURE_CONTENT=slow`: like `notes`, but those lists and
//!   `resources/read` answer only after 30 s (for timeouts).
//! - `FIXTURE_NOTE_COUNT=N` adds N notes `n0`…`n{N-1}` (long lists).
//!
//! Every text names `mcp-fixture`, so a test can tell which upstream answered.

use std::sync::OnceLock;
use std::time::Duration;

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams, GetPromptResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, Prompt, PromptArgument,
    PromptMessage, ReadResourceRequestParams, ReadResourceResult, Reference, Resource,
    ResourceContents, ResourceTemplate, Role, ServerCapabilities,
};
use serde_json::json;

/// What `FIXTURE_CONTENT` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Off,
    Notes,
    Broken,
    Slow,
}

fn mode() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("FIXTURE_CONTENT").as_deref() {
        Ok("notes") => Mode::Notes,
        Ok("broken") => Mode::Broken,
        Ok("slow") => Mode::Slow,
        _ => Mode::Off,
    })
}

const NOTE_PREFIX: &str = "note://fixture/";
const NOTE_TEMPLATE: &str = "note://fixture/{name}";
const NOTES: [(&str, &str); 2] = [
    ("readme", "The readme of mcp-fixture."),
    ("todo", "Things mcp-fixture still has to do."),
];
const PEOPLE: [&str; 3] = ["Ada", "Alan", "Grace"];

/// Adds the resources (with subscribe), prompts and completions
/// capabilities when content is switched on.
pub fn advertise(capabilities: &mut ServerCapabilities) {
    if mode() == Mode::Off {
        return;
    }
    let content = ServerCapabilities::builder()
        .enable_completions()
        .enable_prompts()
        .enable_resources()
        .enable_resources_subscribe()
        .build();
    capabilities.resources = content.resources;
    capabilities.prompts = content.prompts;
    capabilities.completions = content.completions;
}

fn switched_off() -> McpError {
    McpError::method_not_found::<rmcp::model::ListResourcesRequestMethod>()
}

fn broken(what: &str) -> McpError {
    McpError::internal_error(format!("{what} is broken on purpose"), None)
}

/// How long `slow` mode takes to answer (longer than any test's timeout).
const SLOW: Duration = Duration::from_secs(30);

/// Fails unless content is switched on; fails lists in `broken` mode and
/// delays them in `slow` mode.
async fn listable(what: &str) -> Result<(), McpError> {
    match mode() {
        Mode::Off => Err(switched_off()),
        Mode::Broken => Err(broken(what)),
        Mode::Slow => {
            tokio::time::sleep(SLOW).await;
            Ok(())
        }
        Mode::Notes => Ok(()),
    }
}

/// `FIXTURE_NOTE_COUNT`: how many extra notes `n0…` there are.
fn extra_notes() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::env::var("FIXTURE_NOTE_COUNT")
            .ok()
            .and_then(|raw| raw.trim().parse().ok())
            .unwrap_or(0)
    })
}

/// Every note: (name, text).
fn notes() -> Vec<(String, String)> {
    let fixed = NOTES
        .iter()
        .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()));
    let extra = (0..extra_notes()).map(|i| (format!("n{i}"), format!("Note n{i} of mcp-fixture.")));
    fixed.chain(extra).collect()
}

/// The text of the note at `uri`.
fn note(uri: &str) -> Result<String, McpError> {
    uri.strip_prefix(NOTE_PREFIX)
        .and_then(|name| notes().into_iter().find(|(n, _)| n == name))
        .map(|(_, text)| text)
        .ok_or_else(|| {
            McpError::resource_not_found(format!("no such note: {uri}"), Some(json!({"uri": uri})))
        })
}

pub async fn list_resources() -> Result<ListResourcesResult, McpError> {
    listable("resources/list").await?;
    Ok(ListResourcesResult::with_all_items(
        notes()
            .into_iter()
            .map(|(name, _)| {
                Resource::new(format!("{NOTE_PREFIX}{name}"), name.clone())
                    .with_title(format!("Note {name}"))
                    .with_mime_type("text/plain")
            })
            .collect(),
    ))
}

pub async fn list_resource_templates() -> Result<ListResourceTemplatesResult, McpError> {
    listable("resources/templates/list").await?;
    Ok(ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(NOTE_TEMPLATE, "note")
            .with_description("A note of mcp-fixture by name.")
            .with_mime_type("text/plain"),
    ]))
}

pub async fn read_resource(
    request: &ReadResourceRequestParams,
) -> Result<ReadResourceResult, McpError> {
    match mode() {
        Mode::Off => return Err(switched_off()),
        Mode::Slow => tokio::time::sleep(SLOW).await,
        Mode::Notes | Mode::Broken => {}
    }
    let text = note(&request.uri)?;
    Ok(ReadResourceResult::new(vec![ResourceContents::text(
        text,
        request.uri.clone(),
    )]))
}

/// `resources/subscribe` and `unsubscribe`: known notes only.
pub fn subscription(uri: &str) -> Result<(), McpError> {
    if mode() == Mode::Off {
        return Err(switched_off());
    }
    note(uri).map(|_| ())
}

pub async fn list_prompts() -> Result<ListPromptsResult, McpError> {
    listable("prompts/list").await?;
    Ok(ListPromptsResult::with_all_items(vec![
        Prompt::new(
            "greet",
            Some("Greets someone by name."),
            Some(vec![
                PromptArgument::new("name")
                    .with_description("Who to greet.")
                    .with_required(true),
            ]),
        )
        .with_title("Greeting"),
    ]))
}

pub fn get_prompt(request: &GetPromptRequestParams) -> Result<GetPromptResult, McpError> {
    if mode() == Mode::Off || request.name != "greet" {
        return Err(McpError::invalid_params(
            format!("no such prompt: {}", request.name),
            None,
        ));
    }
    let name = request
        .arguments
        .as_ref()
        .and_then(|args| args.get("name"))
        .and_then(|name| name.as_str())
        .ok_or_else(|| McpError::invalid_params("name: a string is required", None))?;
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(
        Role::User,
        format!("Hello, {name}, from mcp-fixture."),
    )])
    .with_description("A greeting from mcp-fixture."))
}

pub fn complete(request: &CompleteRequestParams) -> Result<CompleteResult, McpError> {
    if mode() == Mode::Off {
        return Err(McpError::method_not_found::<
            rmcp::model::CompleteRequestMethod,
        >());
    }
    let candidates: Vec<&str> = match (&request.r#ref, request.argument.name.as_str()) {
        (Reference::Prompt(p), "name") if p.name == "greet" => PEOPLE.to_vec(),
        (Reference::Resource(r), "name") if r.uri == NOTE_TEMPLATE => {
            NOTES.iter().map(|(n, _)| *n).collect()
        }
        _ => {
            return Err(McpError::invalid_params(
                "nothing to complete for this reference and argument",
                None,
            ));
        }
    };
    let values = candidates
        .into_iter()
        .filter(|c| c.starts_with(request.argument.value.as_str()))
        .map(str::to_owned)
        .collect();
    let info =
        CompletionInfo::with_all_values(values).map_err(|e| McpError::internal_error(e, None))?;
    Ok(CompleteResult::new(info))
}
