use serde_json::json;

use super::*;

fn read(doc: serde_json::Value) -> Vec<ImportItem> {
    let doc: ImportDocument = serde_json::from_value(doc).expect("a document");
    read_document(doc).expect("a readable document")
}

fn code_of(doc: serde_json::Value) -> ErrorCode {
    let doc: ImportDocument = serde_json::from_value(doc).expect("a document");
    read_document(doc)
        .err()
        .map(|e| e.code())
        .expect("an error")
}

#[test]
fn names_are_normalised_to_valid_server_names() {
    assert_eq!(
        normalise_name("GitHub Server").as_deref(),
        Some("github-server")
    );
    assert_eq!(
        normalise_name("  --My__Tool!! ").as_deref(),
        Some("my__tool")
    );
    assert_eq!(normalise_name("a.b/c").as_deref(), Some("a-b-c"));
    assert_eq!(normalise_name("Ünïcode").as_deref(), Some("n-code"));
    assert_eq!(normalise_name(&"x".repeat(40)).map(|n| n.len()), Some(32));
    assert_eq!(
        normalise_name(&format!("{} y", "x".repeat(31))).as_deref(),
        Some("x".repeat(31).as_str())
    );
    assert_eq!(normalise_name("!!!"), None);
    assert_eq!(normalise_name(""), None);
}

proptest::proptest! {
    #[test]
    fn a_normalised_name_is_always_a_valid_server_name(s in "\\PC{0,60}") {
        if let Some(name) = normalise_name(&s) {
            proptest::prop_assert!(ServerName::parse(&name).is_ok(), "{name}");
        }
    }
}

#[test]
fn transports_are_read_from_type_transport_url_or_command() {
    let items = read(json!({"mcpServers": {
        "a": {"command": "npx", "args": ["-y", "x"]},
        "b": {"url": "https://example.com/mcp"},
        "c": {"url": "https://example.com/sse"},
        "d": {"url": "wss://example.com/ws"},
        "e": {"type": "streamableHttp", "url": "https://example.com/x"},
        "f": {"transport": "streamable-http", "url": "https://example.com/x"},
        "g": {"type": "sse", "url": "https://example.com/events"},
        "h": {"type": "websocket", "url": "ws://example.com/"},
        "i": {"type": "http", "url": "https://example.com/sse"},
        "j": {"type": "stdio", "command": "x"},
    }}));
    let kinds: Vec<_> = items.iter().map(|i| i.transport).collect();
    use Transport::*;
    assert_eq!(
        kinds,
        [
            Stdio,
            StreamableHttp,
            Sse,
            Websocket,
            StreamableHttp,
            StreamableHttp,
            Sse,
            Websocket,
            StreamableHttp,
            Stdio
        ]
        .map(Some)
    );
    assert!(items.iter().all(|i| i.draft.is_ok()));
}

#[test]
fn an_unknown_type_or_an_entry_without_command_or_url_is_refused_per_entry() {
    let items = read(json!({"mcpServers": {
        "bad": {"type": "carrier-pigeon", "url": "https://example.com"},
        "empty": {},
        "good": {"url": "https://example.com/mcp"},
    }}));
    let codes: Vec<_> = items
        .iter()
        .map(|i| i.draft.as_ref().err().map(Error::code))
        .collect();
    assert_eq!(
        codes,
        [
            Some(ErrorCode::InvalidTransport),
            Some(ErrorCode::InvalidTransport),
            None
        ]
    );
}

#[test]
fn unknown_fields_and_renames_are_warnings_not_errors() {
    let items = read(json!({"mcpServers": {
        "My Files": {"command": "x", "alwaysAllow": ["read"], "autoApprove": []},
    }}));
    let item = &items[0];
    assert_eq!(item.name, "my-files");
    assert_eq!(item.source_name, "My Files");
    let draft = item.draft.as_ref().expect("a draft");
    assert_eq!(draft.title.as_deref(), Some("My Files"));
    assert_eq!(item.warnings.len(), 3, "{:?}", item.warnings);
    assert!(item.warnings.iter().any(|w| w.contains("`alwaysAllow`")));
    assert!(item.warnings.iter().any(|w| w.contains("renamed")));
}

#[test]
fn two_entries_with_the_same_normalised_name_refuse_the_second() {
    let items = read(json!({"mcpServers": {
        "My Server": {"command": "x"},
        "my-server": {"command": "y"},
    }}));
    assert!(items[0].draft.is_ok());
    assert_eq!(
        items[1].draft.as_ref().err().map(Error::code),
        Some(ErrorCode::ServerNameTaken)
    );
}

#[test]
fn an_exported_secret_placeholder_is_refused_naming_the_field() {
    let items = read(json!({"mcpServers": {
        "a": {"url": "https://example.com/mcp", "headers": {"Authorization": "***"}},
        "b": {"command": "x", "env": {"TOKEN": "***"}},
    }}));
    let fields: Vec<_> = items
        .iter()
        .map(|i| {
            let err = i.draft.as_ref().expect_err("refused");
            assert_eq!(err.code(), ErrorCode::InvalidSecret);
            err.field().map(str::to_owned)
        })
        .collect();
    assert_eq!(
        fields,
        [
            Some("headers.Authorization".to_owned()),
            Some("env.TOKEN".to_owned())
        ]
    );
}

#[test]
fn documents_are_refused_whole_when_empty_both_too_large_or_of_another_version() {
    assert_eq!(code_of(json!({})), ErrorCode::InvalidImportDocument);
    assert_eq!(
        code_of(json!({"mcpServers": {}, "servers": []})),
        ErrorCode::InvalidImportDocument
    );
    assert_eq!(
        code_of(json!({"manifold": {"version": 2}, "servers": []})),
        ErrorCode::InvalidImportDocument
    );
    let many: serde_json::Map<String, serde_json::Value> = (0..=MAX_IMPORT_SERVERS)
        .map(|i| (format!("s{i}"), json!({"command": "x"})))
        .collect();
    assert_eq!(
        code_of(json!({"mcpServers": many})),
        ErrorCode::InvalidImportDocument
    );
}

#[test]
fn a_manifold_server_keeps_every_field_and_its_category_name() {
    let items = read(json!({"manifold": {"version": 1}, "servers": [{
        "name": "kit", "title": "Kit", "description": "d", "transport": "streamable_http",
        "url": "https://example.com/mcp", "query_params": {"a": "1"}, "is_public": true,
        "category": "Dev", "enabled": false, "fail_closed": true,
        "tool_filter": {"allow": ["get-*"], "deny": []}, "future_field": 1,
    }]}));
    let item = &items[0];
    assert_eq!(item.category.as_deref(), Some("Dev"));
    assert_eq!(item.warnings, ["ignored the unknown field `future_field`"]);
    let draft = item.draft.as_ref().expect("a draft");
    assert_eq!(draft.title.as_deref(), Some("Kit"));
    assert_eq!(draft.enabled, Some(false));
    assert!(draft.is_public && draft.fail_closed);
    assert_eq!(draft.tool_filter.allow, ["get-*"]);
    assert_eq!(draft.query_params.get("a").map(String::as_str), Some("1"));
}
