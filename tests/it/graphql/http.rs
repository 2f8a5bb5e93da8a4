//! The HTTP edge: authentication, the caller, role errors, limits, and the
//! GraphiQL page.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{data, first_code, gql};
use crate::support::app::{spawn_app, spawn_app_with};

#[tokio::test]
async fn graphql_needs_the_same_credentials_as_rest_and_knows_the_caller() {
    let app = spawn_app().await;
    let (status, body) = gql(&app, None, "{ me { userId } }", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(first_code(&body), "unauthorized", "{body}");
    let (status, body) = gql(&app, Some("mfk_wrong"), "{ me { userId } }", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(first_code(&body), "unauthorized", "{body}");

    let alice = app.user_key("alice").await;
    let me = data(
        &app,
        &alice,
        "{ me { userId role session auth } }",
        Value::Null,
    )
    .await;
    assert_eq!(
        me,
        json!({"me": {"userId": "alice", "role": "user", "session": "alice", "auth": "api_key"}})
    );
    // Role rules come from the catalog service: the same code as REST.
    let (_, body) = gql(
        &app,
        Some(&alice),
        "mutation { createCategory(name: \"Nope\") { id } }",
        Value::Null,
    )
    .await;
    assert_eq!(first_code(&body), "forbidden", "{body}");
    let (_, body) = gql(
        &app,
        Some(&app.admin_key),
        "mutation { createCategory(name: \"Bad\", color: \"blue-ish\") { id } }",
        Value::Null,
    )
    .await;
    assert_eq!(first_code(&body), "invalid_color", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "color");
    app.stop().await;
}

#[tokio::test]
async fn graphql_requests_share_the_users_rate_limit() {
    let app = spawn_app_with(|s| {
        s.limits.user_per_second = 1;
        s.limits.user_burst = 2;
    })
    .await;
    let alice = app.user_key("alice").await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, body) = gql(&app, Some(&alice), "{ me { userId } }", Value::Null).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(first_code(&body), "rate_limited", "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn deep_documents_and_oversized_bodies_are_refused() {
    let app = spawn_app_with(|s| s.http.max_body_bytes = 4096).await;
    let admin = app.admin_key.clone();
    // Deeper than the depth limit: nested `ofType` in an introspection query.
    let mut deep = String::from("name");
    for _ in 0..20 {
        deep = format!("ofType {{ {deep} }}");
    }
    let doc = format!("{{ __type(name: \"Server\") {{ fields {{ type {{ {deep} }} }} }} }}");
    let (status, body) = gql(&app, Some(&admin), &doc, Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], Value::Null, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nested too deep")),
        "{body}"
    );
    assert_eq!(first_code(&body), "query_too_complex", "{body}");

    let big = format!("{{ me {{ userId }} }} # {}", "x".repeat(8192));
    let (status, body) = gql(&app, Some(&admin), &big, Value::Null).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(first_code(&body), "payload_too_large", "{body}");

    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("{ me { userId } }")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    app.stop().await;
}

#[tokio::test]
async fn graphiql_is_served_on_loopback_by_default_and_not_when_turned_off() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/graphql"))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.expect("page");
    assert!(page.to_lowercase().contains("graphiql"), "{page}");
    app.stop().await;

    let app = spawn_app_with(|s| s.graphql.playground = manifold::config::Playground::Off).await;
    let resp = app
        .client
        .get(app.url("/graphql"))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.stop().await;
}

/// The introspection document GraphiQL sends, within the depth and
/// complexity limits.
#[tokio::test]
async fn graphiqls_introspection_fits_the_limits() {
    let app = spawn_app().await;
    let type_ref = "kind name ofType { kind name ofType { kind name ofType { kind name ofType {
        kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let input_value = format!("name description type {{ {type_ref} }} defaultValue");
    let doc = format!(
        "query IntrospectionQuery {{ __schema {{
            queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }}
            types {{ kind name description
              fields(includeDeprecated: true) {{ name description args {{ {input_value} }}
                type {{ {type_ref} }} isDeprecated deprecationReason }}
              inputFields {{ {input_value} }}
              interfaces {{ {type_ref} }}
              enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }}
              possibleTypes {{ {type_ref} }} }}
            directives {{ name description locations args {{ {input_value} }} }} }} }}"
    );
    let schema = data(&app, &app.admin_key, &doc, Value::Null).await;
    let types = schema["__schema"]["types"].as_array().expect("types");
    assert!(types.iter().any(|t| t["name"] == "CategoryConnection"));
    assert_eq!(schema["__schema"]["mutationType"]["name"], "MutationRoot");
    app.stop().await;
}
