//! Unit and property tests of the state store's key layout.

#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn sid(raw: &str) -> SessionId {
    SessionId::parse(raw).unwrap()
}

#[test]
fn keys_have_exactly_the_documented_names() {
    let keys = SessionKeys::new("p:", &sid("user-1"));
    let server = keys.server("github").unwrap();
    assert_eq!(server.status, "p:mcp:session:user-1:server:github:status");
    assert_eq!(server.tools, "p:mcp:session:user-1:server:github:tools");
    assert_eq!(
        server.connected_at,
        "p:mcp:session:user-1:server:github:connected_at"
    );
    assert_eq!(server.error, "p:mcp:session:user-1:server:github:error");
    assert_eq!(keys.connections(), "p:mcp:session:user-1:connections");
    assert_eq!(keys.tool_filter(), "p:mcp:session:user-1:tool_filter");
    assert_eq!(keys.scan_pattern(), "p:mcp:session:user-1:*");
}

#[test]
fn mcp_bindings_live_apart_from_connection_state() {
    assert_eq!(mcp_binding("p:", "abc-1").unwrap(), "p:mcp:binding:abc-1");
    for bad in [
        "",
        "a b",
        "a*",
        "{a}",
        "é",
        &"x".repeat(MAX_MCP_SESSION_LEN + 1),
    ] {
        let err = mcp_binding("p:", bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidMcpSessionId, "{bad:?}");
    }
    // No session's SCAN pattern ever reaches a binding.
    let keys = SessionKeys::new("p:", &sid("mcp"));
    assert!(!keys.owns(&mcp_binding("p:", "x").unwrap()));
}

#[test]
fn leases_live_apart_from_sessions_bindings_and_flows() {
    assert_eq!(
        lease("p:", "oauth:refresh:ab").unwrap(),
        "p:lease:oauth:refresh:ab"
    );
    for bad in ["", "a b", "a*", "{a}", "é", &"x".repeat(MAX_LEASE_LEN + 1)] {
        assert!(lease("p:", bad).is_err(), "{bad:?}");
    }
    let keys = SessionKeys::new("p:", &sid("lease"));
    assert!(!keys.owns(&lease("p:", "x").unwrap()));
}

#[test]
fn an_empty_prefix_gives_bare_names() {
    let keys = SessionKeys::new("", &sid("s"));
    assert_eq!(keys.connections(), "mcp:session:s:connections");
    assert_eq!(
        keys.server("a").unwrap().all()[0],
        "mcp:session:s:server:a:status"
    );
}

#[test]
fn glob_characters_of_the_prefix_are_escaped_in_the_scan_pattern() {
    let keys = SessionKeys::new(r"a?[b]\c:", &sid("s"));
    assert_eq!(keys.scan_pattern(), r"a\?\[b\]\\c:mcp:session:s:*");
}

#[test]
fn server_names_with_separators_or_globs_are_refused() {
    let keys = SessionKeys::new("", &sid("s"));
    for bad in ["", "a:b", "a b", "a*", "a?", "[a]", "{a}", "a\\b", "é"] {
        let err = keys.server(bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidServerName, "{bad:?}");
    }
    assert!(keys.server(&"x".repeat(MAX_SERVER_LEN)).is_ok());
    assert!(keys.server(&"x".repeat(MAX_SERVER_LEN + 1)).is_err());
}

#[test]
fn session_of_finds_the_one_session_of_a_servers_key() {
    assert_eq!(
        sessions_scan_pattern(r"a?[b]\c:"),
        r"a\?\[b\]\\c:mcp:session:*"
    );
    for layout in [Layout::Plain, Layout::HashTagged] {
        let other = match layout {
            Layout::Plain => Layout::HashTagged,
            Layout::HashTagged => Layout::Plain,
        };
        for raw in [
            "a",
            "a:b",
            "a:server:x",
            "a:server:x:status",
            "b:connections",
        ] {
            let s = sid(raw);
            let keys = SessionKeys::in_layout(layout, "p:", &s);
            for key in keys.server("x").unwrap().all() {
                let found = session_of(layout, "p:", key, "x");
                assert_eq!(found, Some(s.clone()), "{key}");
                assert_eq!(session_of(layout, "p:", key, "y"), None, "{key}");
                assert_eq!(session_of(layout, "q:", key, "x"), None, "{key}");
                // A key of one layout never reads as the other's.
                assert_eq!(session_of(other, "p:", key, "x"), None, "{key}");
            }
            for key in keys.server("y").unwrap().all() {
                assert_eq!(session_of(layout, "p:", key, "x"), None, "{key}");
            }
            let set = keys.connections();
            assert_eq!(session_of(layout, "p:", &set, "x"), Some(s));
            assert_eq!(session_of(other, "p:", &set, "x"), None);
        }
        assert_eq!(session_of(layout, "p:", "p:mcp:binding:x", "x"), None);
        for key in [
            "p:mcp:session::server:x:status",
            "p:mcp:session:{}:server:x:status",
        ] {
            assert_eq!(session_of(layout, "p:", key, "x"), None, "{key}");
        }
    }
}

/// The part of `key` Redis Cluster hashes: the text between the first
/// `{` and the next `}` when it is not empty, else the whole key.
fn hash_tag(key: &str) -> &str {
    key.find('{')
        .and_then(|open| {
            let tail = &key[open + 1..];
            tail.find('}')
                .filter(|&close| close > 0)
                .map(|close| &tail[..close])
        })
        .unwrap_or(key)
}

#[test]
fn hash_tagged_keys_carry_the_session_id_in_braces() {
    let keys = SessionKeys::in_layout(Layout::HashTagged, "p:", &sid("user-1"));
    let server = keys.server("github").unwrap();
    assert_eq!(server.status, "p:mcp:session:{user-1}:server:github:status");
    assert_eq!(server.tools, "p:mcp:session:{user-1}:server:github:tools");
    assert_eq!(
        server.connected_at,
        "p:mcp:session:{user-1}:server:github:connected_at"
    );
    assert_eq!(server.error, "p:mcp:session:{user-1}:server:github:error");
    assert_eq!(keys.connections(), "p:mcp:session:{user-1}:connections");
    assert_eq!(keys.tool_filter(), "p:mcp:session:{user-1}:tool_filter");
    assert_eq!(hash_tag(&keys.tool_filter()), "user-1");
    assert_eq!(keys.scan_pattern(), "p:mcp:session:{user-1}:*");
    assert_eq!(SessionKeys::new("p:", &sid("s")), {
        SessionKeys::in_layout(Layout::default(), "p:", &sid("s"))
    });
}

#[test]
fn a_session_owns_its_keys_only() {
    let a = SessionKeys::new("p:", &sid("a"));
    let longer = SessionKeys::new("p:", &sid("a:server:x"));
    let child = SessionKeys::new("p:", &sid("a:b"));
    for key in a.server("x").unwrap().all() {
        assert!(a.owns(key));
        assert!(!longer.owns(key));
    }
    assert!(a.owns(&a.connections()));
    for key in longer.server("n").unwrap().all() {
        assert!(!a.owns(key), "{key}");
    }
    assert!(!a.owns(&longer.connections()));
    assert!(!a.owns(&child.connections()));
    assert!(!a.owns("p:mcp:session:a:other"));
    assert!(!a.owns("q:mcp:session:a:connections"));
}

#[test]
fn a_sessions_tool_filter_is_its_own_and_no_servers_key() {
    for layout in [Layout::Plain, Layout::HashTagged] {
        let a = SessionKeys::in_layout(layout, "p:", &sid("a"));
        let filter = a.tool_filter();
        assert!(a.owns(&filter), "{filter}");
        // Neither a server `tool_filter`'s key nor any server's.
        for server in ["tool_filter", "a", "x"] {
            assert_eq!(session_of(layout, "p:", &filter, server), None);
            for key in a.server(server).unwrap().all() {
                assert_ne!(key, filter);
                assert!(a.owns(key), "{key}");
            }
        }
        // A server named `tool_filter` keeps its own keys and session.
        let named = a.server("tool_filter").unwrap();
        for key in named.all() {
            assert_eq!(session_of(layout, "p:", key, "tool_filter"), Some(sid("a")));
        }
        // Sessions whose ids extend each other never share or own the
        // other's filter.
        for raw in ["a:tool_filter", "a:server:tool_filter", "a:b"] {
            let longer = SessionKeys::in_layout(layout, "p:", &sid(raw));
            assert_ne!(longer.tool_filter(), filter);
            assert!(!a.owns(&longer.tool_filter()), "{raw}");
            assert!(!longer.owns(&filter), "{raw}");
            for key in longer.server("x").unwrap().all() {
                assert!(!a.owns(key), "{key}");
            }
        }
        // Under the SCAN pattern of `clear_session` and of `forget_server`.
        assert!(filter.starts_with(a.scan_pattern().trim_end_matches('*')));
        assert!(filter.starts_with(sessions_scan_pattern("p:").trim_end_matches('*')));
    }
    assert!(!SessionKeys::new("p:", &sid("a")).owns("p:mcp:session:a:tool_filter:x"));
    assert!(!SessionKeys::new("p:", &sid("a")).owns("p:mcp:session:a:server:tool_filter"));
}

/// Ids and names made of the pieces most likely to collide (names with
/// `:` are generated too, and refused by the filter below).
fn tricky_text() -> impl Strategy<Value = String> {
    let pieces = vec![
        "a",
        "b",
        ":",
        "-",
        "server",
        "connections",
        "tool_filter",
        "status",
        "tools",
        "error",
        "mcp",
        "session",
    ];
    prop::collection::vec(prop::sample::select(pieces), 1..6).prop_map(|p| p.concat())
}

fn pair() -> impl Strategy<Value = (SessionId, String)> {
    (
        prop_oneof![3 => tricky_text(), 1 => "[!-~]{1,12}"],
        prop_oneof![3 => tricky_text(), 1 => "[!-~]{1,12}"],
    )
        .prop_filter_map("valid session and server", |(s, n)| {
            let session = SessionId::parse(&s).ok()?;
            is_valid_server(&n).then_some((session, n))
        })
}

fn all_keys(prefix: &str, (session, server): &(SessionId, String)) -> Vec<String> {
    let keys = SessionKeys::new(prefix, session);
    let mut all: Vec<String> = keys
        .server(server)
        .unwrap()
        .all()
        .iter()
        .map(|k| k.to_string())
        .collect();
    all.push(keys.connections());
    all.push(keys.tool_filter());
    all
}

/// What a key names within its session.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Connections,
    ToolFilter,
    /// (server, field)
    Server(String, String),
}

/// (session, the part of it).
type Reading = (String, Part);

/// All readings with valid parts that build `key` under `prefix`.
fn readings(prefix: &str, key: &str) -> Vec<Reading> {
    let mut found = Vec::new();
    let Some(rest) = key
        .strip_prefix(prefix)
        .and_then(|k| k.strip_prefix("mcp:session:"))
    else {
        return found;
    };
    if let Some(session) = rest.strip_suffix(":connections")
        && SessionId::parse(session).is_ok()
    {
        found.push((session.to_owned(), Part::Connections));
    }
    if let Some(session) = rest.strip_suffix(":tool_filter")
        && SessionId::parse(session).is_ok()
    {
        found.push((session.to_owned(), Part::ToolFilter));
    }
    // Every occurrence, overlapping ones included (`:server:server:`).
    let starts = (0..rest.len()).filter(|&at| rest[at..].starts_with(":server:"));
    for at in starts {
        let (session, tail) = (&rest[..at], &rest[at + ":server:".len()..]);
        for field in FIELDS {
            let Some(server) = tail.strip_suffix(field).and_then(|t| t.strip_suffix(':')) else {
                continue;
            };
            if SessionId::parse(session).is_ok() && is_valid_server(server) {
                found.push((
                    session.to_owned(),
                    Part::Server(server.to_owned(), field.to_owned()),
                ));
            }
        }
    }
    found
}

proptest! {
    #[test]
    fn different_pairs_never_share_a_key(
        prefix in "[a-z:?]{0,6}",
        one in pair(),
        two in pair(),
    ) {
        prop_assume!(one != two);
        let first = all_keys(&prefix, &one);
        let second = all_keys(&prefix, &two);
        // The four server keys of the two pairs never meet, and no server key
        // is ever anyone's connections set or tool filter.
        for key in &first[..4] {
            prop_assert!(!second.contains(key), "{key} is shared by {one:?} and {two:?}");
        }
        for key in &second[..4] {
            prop_assert!(!first.contains(key), "{key} is shared by {one:?} and {two:?}");
        }
        // The sets and the filters are shared exactly when the sessions
        // are the same, and a set is never a filter.
        prop_assert_eq!(first[4] == second[4], one.0 == two.0);
        prop_assert_eq!(first[5] == second[5], one.0 == two.0);
        prop_assert_ne!(&first[4], &second[5]);
        prop_assert_ne!(&first[5], &second[4]);
    }

    /// Every way to split a key back into (session, server, field),
    /// (session, `connections`) or (session, `tool_filter`) with valid
    /// parts finds only the one it was built from, so no other pair can
    /// build the same key.
    #[test]
    fn every_key_reads_back_one_way_only(prefix in "[a-z:?]{0,6}", one in pair()) {
        let keys = all_keys(&prefix, &one);
        let readings: Vec<Vec<Reading>> = keys.iter().map(|key| readings(&prefix, key)).collect();
        for (key, found) in keys.iter().zip(&readings) {
            prop_assert_eq!(found.len(), 1, "{} reads as {:?}", key, found);
            prop_assert_eq!(&found[0].0, one.0.as_str());
        }
        for (i, field) in FIELDS.iter().enumerate() {
            let reading = Part::Server(one.1.clone(), (*field).to_owned());
            prop_assert_eq!(&readings[i][0].1, &reading);
        }
        prop_assert_eq!(&readings[4][0].1, &Part::Connections);
        prop_assert_eq!(&readings[5][0].1, &Part::ToolFilter);
        // `forget_server` reads no session off the filter, whatever the server.
        prop_assert_eq!(session_of(Layout::Plain, &prefix, &keys[5], &one.1), None);
    }

    /// On a cluster every key of a session hashes by the session id
    /// alone, reads back to it, and belongs to it only.
    #[test]
    fn hash_tagged_keys_of_a_session_share_its_slot_and_read_back(
        prefix in "[a-z:?]{0,6}",
        one in pair(),
        two in pair(),
    ) {
        let keys = SessionKeys::in_layout(Layout::HashTagged, &prefix, &one.0);
        let mut all: Vec<String> =
            keys.server(&one.1).unwrap().all().iter().map(|k| k.to_string()).collect();
        all.push(keys.connections());
        let filter = keys.tool_filter();
        prop_assert_eq!(hash_tag(&filter), one.0.as_str());
        prop_assert_eq!(session_of(Layout::HashTagged, &prefix, &filter, &one.1), None);
        prop_assert!(keys.owns(&filter));
        let other = SessionKeys::in_layout(Layout::HashTagged, &prefix, &two.0);
        prop_assert_eq!(other.owns(&filter), one.0 == two.0, "{}", filter);
        for key in &all {
            prop_assert_eq!(hash_tag(key), one.0.as_str());
            prop_assert_eq!(session_of(Layout::HashTagged, &prefix, key, &one.1), Some(one.0.clone()));
            prop_assert!(keys.owns(key));
            prop_assert_eq!(other.owns(key), one.0 == two.0, "{}", key);
        }
    }

    #[test]
    fn a_session_owns_another_sessions_keys_only_if_it_is_the_same(
        prefix in "[a-z:?]{0,6}",
        one in pair(),
        two in pair(),
    ) {
        let owner = SessionKeys::new(&prefix, &one.0);
        for key in all_keys(&prefix, &two) {
            prop_assert_eq!(owner.owns(&key), one.0 == two.0, "{}", key);
        }
        for key in all_keys(&prefix, &one) {
            prop_assert!(owner.owns(&key));
        }
    }
}
