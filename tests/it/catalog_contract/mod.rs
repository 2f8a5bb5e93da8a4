//! The `CatalogStore` contract: one suite, run against SQLite and PostgreSQL
//! (`catalog_contract::sqlite::…`, `catalog_contract::postgres::…`). Each test
//! gets a fresh database of its own.
//!
//! The suite is split by concern: [`database`] (ping, migrations, stored
//! time), [`categories`], [`servers`] (one server at a time),
//! [`server_lists`] (filters and pages), [`api_keys`], [`oauth`] and
//! [`key_check`] (the secrets key check and re-sealing under a new key);
//! [`toolsets`] (the store) and [`toolset_rules`] (the service's rules over
//! it); [`sqlite_file`] holds what only the SQLite file can show.

mod api_keys;
mod audit;
mod categories;
mod database;
mod key_check;
mod oauth;
mod server_lists;
mod servers;
mod sqlite_file;
mod toolset_rules;
mod toolsets;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use manifold::catalog::tool_filter::ToolFilter;
use manifold::catalog::{
    ApiKey, Category, CategoryQuery, SecretMap, Server, ServerName, Transport,
};
use manifold::error::Error;
use manifold::ids::{ApiKeyId, CategoryId, ServerId};
use manifold::principal::Role;
use manifold::secret::Secret;

use crate::support::db::TestDb;

type TestResult = anyhow::Result<()>;

/// Instantiates every listed test once per backend (`module::test` becomes
/// the test `$backend::test`); the database of a test that passes is removed
/// afterwards (a failing one is kept to look at).
macro_rules! contract_suite {
    ($($module:ident::$test:ident),* $(,)?) => {
        contract_suite!(@backend sqlite; $($module::$test),*);
        contract_suite!(@backend postgres; $($module::$test),*);
    };
    (@backend $backend:ident; $($module:ident::$test:ident),*) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() -> super::TestResult {
                    let db = super::TestDb::$backend().await;
                    super::$module::$test(&db).await?;
                    db.destroy().await;
                    Ok(())
                }
            )*
        }
    };
}

contract_suite!(
    database::answers_ping_and_names_its_backend,
    categories::categories_round_trip_through_insert_get_update_delete,
    categories::updating_a_missing_category_is_not_found,
    categories::category_names_are_unique_ignoring_case,
    categories::unicode_category_names_round_trip_and_compare_ignoring_case,
    categories::categories_are_searched_and_paged_by_lowercase_name,
    categories::search_treats_like_wildcards_literally,
    servers::servers_round_trip_every_field,
    servers::servers_stored_before_fail_closed_existed_read_as_fail_open,
    servers::updating_a_missing_server_is_not_found,
    servers::server_secrets_are_sealed_at_rest,
    servers::server_names_are_unique,
    servers::a_server_in_an_unknown_category_is_rejected,
    servers::deleting_a_category_uncategorises_its_servers,
    server_lists::servers_are_filtered_by_visibility_and_category,
    server_lists::servers_are_paged_by_name,
    server_lists::fail_closed_servers_are_the_enabled_visible_ones_by_name,
    api_keys::api_keys_are_found_touched_revoked_counted_and_listed,
    api_keys::api_keys_are_got_by_id_paged_per_user_and_counted_per_user,
    oauth::oauth_credentials_are_kept_per_user_and_server_sealed,
    oauth::oauth_credentials_go_with_their_server,
    database::timestamps_are_kept_to_the_microsecond,
    database::migrations_applied_twice_are_idempotent,
    key_check::the_first_key_check_recorded_is_the_one_kept,
    key_check::a_key_that_does_not_open_the_key_check_is_refused,
    key_check::a_catalog_with_secrets_and_no_key_check_takes_only_a_key_that_opens_them,
    key_check::any_sealed_value_finds_a_secret_of_every_kind,
    key_check::a_rotation_reseals_every_secret_and_the_key_check_under_the_new_key,
    key_check::a_rotation_that_meets_a_value_no_key_opens_changes_nothing,
    toolsets::toolsets_round_trip_every_field,
    toolsets::updating_a_missing_toolset_is_not_found,
    toolsets::toolset_names_are_unique,
    toolsets::toolsets_are_listed_by_visibility_and_paged_by_name,
    toolset_rules::users_create_private_toolsets_of_servers_they_can_see,
    toolset_rules::private_toolsets_are_not_found_by_other_users,
    toolset_rules::only_the_owner_or_an_admin_changes_a_toolset_and_only_admins_publish,
    toolset_rules::every_change_is_announced_to_its_audience,
    audit::audit_events_are_written_in_one_batch_and_read_back_whole,
    audit::audit_events_are_filtered_and_paged_newest_first,
    audit::retention_deletes_only_events_older_than_the_limit,
    audit::users_read_only_their_own_events_and_admins_everyone,
);

// ------------------------------------------------------------------ fixtures

/// A fixed instant with microseconds, `secs` seconds after a base time.
fn at(secs: i64) -> DateTime<Utc> {
    let base = Utc
        .with_ymd_and_hms(2025, 3, 14, 15, 9, 26)
        .single()
        .expect("a valid date");
    base + Duration::microseconds(535_897) + Duration::seconds(secs)
}

fn category(name: &str) -> Category {
    Category {
        id: CategoryId::generate(),
        name: name.to_owned(),
        icon: Some("🗂️".to_owned()),
        color: Some("#336699".to_owned()),
        description: format!("all about {name}"),
        created_at: at(0),
        updated_at: at(1),
    }
}

fn secrets(pairs: &[(&str, &str)]) -> SecretMap {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Secret::new((*v).to_owned())))
        .collect()
}

fn name(raw: &str) -> ServerName {
    ServerName::parse(raw).expect("a valid server name")
}

/// A network server with every optional field filled in.
fn server(raw_name: &str, owner: &str, is_public: bool) -> Server {
    Server {
        id: ServerId::generate(),
        name: name(raw_name),
        title: format!("The {raw_name} server"),
        description: "Talks to things".to_owned(),
        transport: Transport::StreamableHttp,
        url: Some(format!("https://{raw_name}.example.com/mcp")),
        query_params: BTreeMap::from([
            ("region".to_owned(), "eu-west".to_owned()),
            ("v".to_owned(), "2".to_owned()),
        ]),
        headers: secrets(&[("Authorization", "Bearer header-plaintext-1")]),
        command: Some("unused-for-http".to_owned()),
        args: vec!["--flag".to_owned(), "value with spaces".to_owned()],
        env: secrets(&[("API_TOKEN", "env-plaintext-1")]),
        cwd: Some("/srv/work".to_owned()),
        requires_oauth2: true,
        is_public,
        owner: owner.to_owned(),
        category_id: None,
        enabled: true,
        fail_closed: false,
        tool_filter: ToolFilter {
            allow: vec!["get_*".to_owned(), "list_?".to_owned()],
            deny: vec!["get_secret".to_owned()],
        },
        oauth_client_id: Some(format!("{raw_name}-client")),
        oauth_client_secret: Some(Secret::new("oauth-client-plaintext-1".to_owned())),
        oauth_scopes: vec!["repo".to_owned(), "read:org".to_owned()],
        created_at: at(10),
        updated_at: at(11),
    }
}

fn api_key(user: &str, role: Role, created: i64) -> ApiKey {
    let id = ApiKeyId::generate();
    ApiKey {
        name: None,
        hash: manifold::secret::sha256_hex(id.as_str().as_bytes()),
        prefix: format!("mfk_{}", &id.as_str()[4..8]),
        id,
        user_id: user.to_owned(),
        role,
        created_at: at(created),
        last_used_at: None,
        revoked_at: None,
    }
}

fn page(after: Option<&str>, limit: u32) -> CategoryQuery {
    CategoryQuery {
        search: None,
        after: after.map(str::to_owned),
        limit,
    }
}

fn names_of_categories(list: &[Category]) -> Vec<&str> {
    list.iter().map(|c| c.name.as_str()).collect()
}

fn names_of_servers(list: &[Server]) -> Vec<&str> {
    list.iter().map(|s| s.name.as_str()).collect()
}

/// Asserts the code and field of a failed call; returns the error for
/// further checks (its variant, its message).
fn assert_error<T: std::fmt::Debug>(
    result: manifold::error::Result<T>,
    code: &str,
    field: &str,
) -> Error {
    let err = result.expect_err("the call must fail");
    assert_eq!(err.code(), code, "unexpected error: {err}");
    assert_eq!(err.field(), Some(field), "unexpected field in: {err}");
    err
}
