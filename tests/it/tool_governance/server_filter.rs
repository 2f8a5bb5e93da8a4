//! A server's `tool_filter` hides upstream tools from every surface (REST,
//! GraphQL, `/mcp`, `/mcp/s/{server}`), and calls to a hidden tool are
//! `unknown_tool` as for a tool that does not exist, including on the
//! per-server route, which otherwise passes unlisted names to the upstream.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::graphql::data;
use crate::mcp_relay::error_code;
use crate::support::app::{TestApp, code};
use crate::support::mcp::{call, mcp_client, mcp_client_watching_tools, text_of, tool_names};
use crate::support::python::{python2, run_client};
use crate::support::rest::{add_fixture, connect, session_server};

async fn set_filter(app: &TestApp, server: &str, filter: Value) -> Value {
    let (status, body) = app
        .patch(
            &format!("/api/v1/servers/{server}"),
            &app.admin_key,
            json!({"tool_filter": filter}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn session_tool_names(app: &TestApp, key: &str) -> Vec<String> {
    let (status, body) = app.get("/api/v1/session/tools", key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut names: Vec<String> = body["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["server"].as_str().unwrap_or("?"),
                t["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_deny_glob_hides_tools_everywhere_and_calls_to_them_are_unknown() {
    let app = crate::support::app::spawn_app().await;
    add_fixture(&app, "fx").await;
    let alice = app.user_key("alice").await;
    connect(&app, "fx", &alice).await;
    let (watcher, mut changed) = mcp_client_watching_tools(&app, "/mcp", &alice).await;
    assert!(tool_names(&watcher).await.contains(&"fx__add".to_owned()));

    let updated = set_filter(&app, "fx", json!({"deny": ["add*", "fail"]})).await;
    assert_eq!(
        updated["tool_filter"],
        json!({"allow": [], "deny": ["add*", "fail"]})
    );
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), changed.recv())
        .await
        .expect("tools/list_changed after the filter changed")
        .expect("the watcher is alive");
    eprintln!(
        "list_changed {} ms after the PATCH answered",
        started.elapsed().as_millis()
    );

    let shown = ["echo", "progress", "slow", "whoami"];
    // /mcp, on the client that heard the change and on a new one.
    let aggregate: Vec<String> = shown.iter().map(|t| format!("fx__{t}")).collect();
    assert_eq!(tool_names(&watcher).await, aggregate);
    let client = mcp_client(&app, "/mcp", &alice).await;
    assert_eq!(tool_names(&client).await, aggregate);
    for hidden in ["fx__add", "fx__add_tool", "fx__fail"] {
        let err = client
            .call_tool(call(hidden, json!({"a": 1, "b": 2})))
            .await
            .expect_err("a hidden tool cannot be called");
        assert_eq!(error_code(&err), "unknown_tool", "{hidden}: {err}");
    }
    let echoed = client
        .call_tool(call("fx__echo", json!({"text": "still here"})))
        .await
        .expect("a shown tool works");
    assert_eq!(text_of(&echoed), "still here");

    // /mcp/s/fx: the upstream is not asked for a hidden name either.
    let per_server = mcp_client(&app, "/mcp/s/fx", &alice).await;
    assert_eq!(tool_names(&per_server).await, shown);
    let err = per_server
        .call_tool(call("add", json!({"a": 1, "b": 2})))
        .await
        .expect_err("hidden on the per-server route too");
    assert_eq!(error_code(&err), "unknown_tool", "{err}");

    // REST: the session's tools and the server's count.
    assert_eq!(
        session_tool_names(&app, &alice).await,
        ["fx/echo", "fx/progress", "fx/slow", "fx/whoami"]
    );
    assert_eq!(session_server(&app, &alice, "fx").await["tool_count"], 4);

    // GraphQL: the filter itself and the session's tools.
    let got = data(
        &app,
        &alice,
        "{ server(name: \"fx\") { toolFilter { allow deny } toolCount tools { name } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        got["server"]["toolFilter"],
        json!({"allow": [], "deny": ["add*", "fail"]})
    );
    assert_eq!(got["server"]["toolCount"], 4);
    let mut names: Vec<&str> = got["server"]["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    names.sort();
    assert_eq!(names, shown);

    // The official Python SDK 2.x sees the same.
    let out = run_client(
        python2(),
        "mcp_sdk2_client.py",
        vec![
            "session".into(),
            "call".into(),
            app.url("/mcp"),
            alice.clone(),
            "fx__echo".into(),
            json!({"text": "from python"}).to_string(),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out["tools"], json!(aggregate), "{out}");
    assert_eq!(out["text"], json!(["from python"]), "{out}");

    // Loosened: the tools come back without a reconnect.
    set_filter(&app, "fx", json!({})).await;
    tokio::time::timeout(Duration::from_secs(5), changed.recv())
        .await
        .expect("tools/list_changed after the filter was loosened")
        .expect("the watcher is alive");
    assert_eq!(tool_names(&watcher).await.len(), 7);
    let added = client
        .call_tool(call("fx__add", json!({"a": 2, "b": 3})))
        .await
        .expect("callable again");
    assert_eq!(added.structured_content, Some(json!({"sum": 5})));
    for c in [
        watcher.cancel().await,
        client.cancel().await,
        per_server.cancel().await,
    ] {
        c.expect("close");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_allow_list_shows_only_its_tools_and_deny_wins_over_it() {
    let app = crate::support::app::spawn_app().await;
    let alice = app.user_key("alice").await;
    // A user filters her own private server.
    let mut body = crate::support::rest::fixture_server("mine");
    body["tool_filter"] = json!({"allow": ["echo", "add*"], "deny": ["add_tool"]});
    let (status, created) = app.post("/api/v1/servers", &app.admin_key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = app
        .patch(
            "/api/v1/servers/mine",
            &app.admin_key,
            json!({"is_public": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    connect(&app, "mine", &alice).await;
    let client = mcp_client(&app, "/mcp", &alice).await;
    assert_eq!(tool_names(&client).await, ["mine__add", "mine__echo"]);
    client.cancel().await.expect("close");
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_filter_is_refused_with_invalid_tool_filter_and_nothing_changes() {
    let app = crate::support::app::spawn_app().await;
    add_fixture(&app, "fx").await;
    for (filter, field) in [
        (json!({"deny": ["has space"]}), "tool_filter.deny"),
        (json!({"allow": [""]}), "tool_filter.allow"),
    ] {
        let (status, body) = app
            .patch(
                "/api/v1/servers/fx",
                &app.admin_key,
                json!({"tool_filter": filter}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(code(&body), "invalid_tool_filter", "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (status, body) = app
        .patch(
            "/api/v1/servers/fx",
            &app.admin_key,
            json!({"tool_filter": {"block": ["x"]}}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown keys are refused: {body}"
    );
    let (_, server) = app.get("/api/v1/servers/fx", &app.admin_key).await;
    assert_eq!(server["tool_filter"], json!({"allow": [], "deny": []}));
    app.stop().await;
}
