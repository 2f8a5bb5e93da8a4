//! `schema.graphql` is the SDL the code serves.

/// Set `UPDATE_GRAPHQL_SCHEMA=1` to rewrite the file from the code.
#[test]
fn the_committed_schema_file_matches_the_schema_in_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let from_code = manifold::admin::graphql::sdl();
    if std::env::var("UPDATE_GRAPHQL_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(path, &from_code).expect("schema.graphql written");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == from_code,
        "schema.graphql differs from the schema in code; review the change and run \
         `UPDATE_GRAPHQL_SCHEMA=1 cargo test --test it graphql::schema` to update it"
    );
}
