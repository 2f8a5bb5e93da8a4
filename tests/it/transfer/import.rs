//! Importing `mcpServers` documents: preview, create, rights, all or nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{code, spawn_app};
use crate::support::mcp::{call, mcp_client, names_in};
use crate::support::rest::{connect, create_server, fixture_server};
use crate::support::upstreams::{FIXTURE_TOOLS, FixtureHttp, fixture_stdio};

use super::{all_names, import, outcomes, servers};

/// Claude Desktop's shape: the stdio fixture (with an environment knob that
/// adds two tools) under a name that needs normalising, and the HTTP
/// fixture with a secret header.
fn desktop_config(http_url: &str) -> Value {
    let (command, args) = fixture_stdio();
    json!({
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {
            "Fixture Stdio": {
                "command": command, "args": args,
                "env": {"FIXTURE_TOOL_COUNT": "2"},
                "alwaysAllow": ["echo"]
            },
            "web": {"type": "http", "url": http_url, "headers": {"X-Api-Key": "k-123"}}
        }
    })
}

#[tokio::test]
async fn an_mcp_servers_document_is_previewed_then_imported_and_both_servers_connect() {
    let app = spawn_app().await;
    let http = FixtureHttp::start();
    let doc = desktop_config(&http.url());

    let (status, preview) = import(&app, &app.admin_key, &doc, true).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["created"], 0);
    let entries = preview["servers"].as_array().expect("entries");
    assert_eq!(
        entries
            .iter()
            .map(|e| (&e["source_name"], &e["name"], &e["transport"], &e["action"]))
            .collect::<Vec<_>>(),
        [
            (
                &json!("Fixture Stdio"),
                &json!("fixture-stdio"),
                &json!("stdio"),
                &json!("create")
            ),
            (
                &json!("web"),
                &json!("web"),
                &json!("streamable_http"),
                &json!("create")
            ),
        ]
    );
    let warnings = entries[0]["warnings"].to_string();
    assert!(
        warnings.contains("renamed") && warnings.contains("alwaysAllow"),
        "{warnings}"
    );
    assert_eq!(entries[1]["warnings"], json!([]));
    assert!(
        entries
            .iter()
            .all(|e| e.get("server").is_none() && e.get("error").is_none())
    );
    assert!(
        all_names(&app).await.is_empty(),
        "a preview creates nothing"
    );

    let (status, done) = import(&app, &app.admin_key, &doc, false).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["created"], 2);
    let stdio = &done["servers"][0]["server"];
    assert!(
        stdio["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("mcp_")),
        "{done}"
    );
    assert_eq!(stdio["title"], "Fixture Stdio");
    assert_eq!(stdio["env"], json!({"FIXTURE_TOOL_COUNT": "***"}));
    assert_eq!(
        done["servers"][1]["server"]["headers"],
        json!({"X-Api-Key": "***"})
    );
    assert_eq!(all_names(&app).await, ["fixture-stdio", "web"]);

    // The stored environment reaches the child: its two extra tools show.
    let connected = connect(&app, "fixture-stdio", &app.admin_key).await;
    let mut expected: Vec<String> = FIXTURE_TOOLS.iter().map(|t| (*t).to_owned()).collect();
    expected.extend(["t0".to_owned(), "t1".to_owned()]);
    expected.sort();
    assert_eq!(names_in(&connected["tools"]), expected);
    let connected = connect(&app, "web", &app.admin_key).await;
    assert_eq!(names_in(&connected["tools"]), FIXTURE_TOOLS);

    // And the stored header reaches the upstream with its real value.
    let client = mcp_client(&app, "/mcp", &app.admin_key).await;
    let whoami = client
        .call_tool(call("web__whoami", json!({})))
        .await
        .expect("web__whoami");
    let headers = whoami.structured_content.expect("the headers it saw");
    assert_eq!(headers["x-api-key"], "k-123", "{headers}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_user_importing_a_stdio_server_gets_forbidden_for_it_and_nothing_is_created() {
    let app = spawn_app().await;
    let alice = app.user_key("alice").await;
    let doc = desktop_config("http://127.0.0.1:9/mcp");

    let (status, preview) = import(&app, &alice, &doc, true).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(
        outcomes(&preview),
        [
            ("error".to_owned(), "forbidden".to_owned()),
            ("create".to_owned(), String::new())
        ]
    );

    let (status, refused) = import(&app, &alice, &doc, false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(code(&refused), "invalid_import");
    assert_eq!(refused["created"], 0);
    assert_eq!(outcomes(&refused), outcomes(&preview));
    assert!(all_names(&app).await.is_empty(), "nothing was created");

    // Without the stdio entry, her HTTP server is hers and private.
    let only_web = json!({"mcpServers": {"web": doc["mcpServers"]["web"].clone()}});
    let (status, done) = import(&app, &alice, &only_web, false).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let server = &done["servers"][0]["server"];
    assert_eq!(
        (&server["owner"], &server["is_public"]),
        (&json!("alice"), &json!(false))
    );
    let bob = app.user_key("bob").await;
    assert!(
        servers(&app, &bob).await.is_empty(),
        "bob does not see alice's import"
    );
}

#[tokio::test]
async fn a_name_clash_or_an_invalid_url_fails_the_whole_import_and_creates_nothing() {
    let app = spawn_app().await;
    create_server(&app, &app.admin_key, fixture_server("taken")).await;
    let (command, args) = fixture_stdio();
    let clash = json!({"mcpServers": {
        "fresh": {"command": command, "args": args},
        "taken": {"url": "http://127.0.0.1:9/mcp"},
    }});
    let (status, refused) = import(&app, &app.admin_key, &clash, false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(code(&refused), "invalid_import");
    assert_eq!(
        outcomes(&refused),
        [
            ("create".to_owned(), String::new()),
            ("error".to_owned(), "server_name_taken".to_owned())
        ]
    );

    let bad_url = json!({"mcpServers": {
        "fresh": {"command": command, "args": args},
        "broken": {"url": "http://exa mple.com/mcp"},
        "secretless": {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "***"}},
    }});
    let (status, refused) = import(&app, &app.admin_key, &bad_url, false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        outcomes(&refused),
        [
            ("error".to_owned(), "invalid_url".to_owned()),
            ("create".to_owned(), String::new()),
            ("error".to_owned(), "invalid_secret".to_owned())
        ]
    );
    assert_eq!(
        refused["servers"][2]["error"]["field"],
        "headers.Authorization"
    );
    assert_eq!(all_names(&app).await, ["taken"], "nothing was created");

    // A document that is not one is refused whole, with its own code.
    let (status, body) = import(&app, &app.admin_key, &json!({"servers": "no"}), false).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        "{body}"
    );
    let (status, body) = import(&app, &app.admin_key, &json!({"other": {}}), true).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_import_document"),
        "{body}"
    );
}

#[tokio::test]
async fn concurrent_imports_of_one_document_create_each_server_once_and_say_which() {
    let app = spawn_app().await;
    let (command, args) = fixture_stdio();
    let entries: serde_json::Map<String, Value> = (0..8)
        .map(|i| (format!("s{i}"), json!({"command": command, "args": args})))
        .collect();
    let doc = json!({"mcpServers": entries});
    let (a, b) = tokio::join!(
        import(&app, &app.admin_key, &doc, false),
        import(&app, &app.admin_key, &doc, false)
    );
    let mut reported = Vec::new();
    for (status, answer) in [a, b] {
        assert!(
            [
                StatusCode::CREATED,
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::CONFLICT
            ]
            .contains(&status),
            "{status} {answer}"
        );
        let created: Vec<&Value> = answer["servers"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| e.get("server"))
            .collect();
        assert_eq!(answer["created"], created.len(), "{answer}");
        if status == StatusCode::CONFLICT {
            assert_eq!(code(&answer), "import_incomplete", "{answer}");
        }
        reported.extend(
            created
                .iter()
                .map(|s| s["name"].as_str().unwrap_or_default().to_owned()),
        );
    }
    reported.sort();
    let expected: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    assert_eq!(
        reported, expected,
        "every server created once, and reported by the import that made it"
    );
    assert_eq!(all_names(&app).await, expected);
}
