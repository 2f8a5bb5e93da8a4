//! Key names, built here and nowhere else, so both backends share one layout.
//!
//! For a key prefix `P`, a session `S` and a server `N`:
//!
//! - `{P}mcp:session:{S}:server:{N}:status`: `CONNECTED`, `DISCONNECTED` or `FAILED`
//! - `{P}mcp:session:{S}:server:{N}:tools`: the tool list as JSON array text
//! - `{P}mcp:session:{S}:server:{N}:connected_at`: an RFC 3339 time
//! - `{P}mcp:session:{S}:server:{N}:error`: the last connect error (text)
//! - `{P}mcp:session:{S}:connections`: the set of connected server names
//! - `{P}mcp:binding:{M}`: the [`McpBinding`](super::McpBinding) of one MCP
//!   session id `M` (who opened it, on which route, its handshake) as JSON
//! - `{P}oauth:flow:{H}`: a pending OAuth authorization (`H`: hex SHA-256)
//! - `{P}lease:{L}`: the holder of lease `L` (see [`lease`])
//!
//! On a Redis Cluster ([`Layout::HashTagged`]) the session id in a session's
//! keys sits in braces, `{P}mcp:session:{{S}}:server:{N}:status` and so on:
//! Redis hashes only the text between the first `{` and the next `}`, so all
//! keys of one session share one hash slot, and the multi-key transactions,
//! scripts and `UNLINK`s of one session stay legal there. Session ids and
//! server names never contain braces, so the tag is exactly the id. Other
//! keys are single keys and keep their names; standalone Redis and the
//! memory store use the plain names above.
//!
//! A [`SessionId`] may contain `:`, so the SCAN pattern `{P}mcp:session:{S}:*`
//! alone could also match keys of a session named `{S}:x`. [`SessionKeys::owns`]
//! therefore decides exactly which keys belong to one session; server names
//! may not contain `:` (see [`check_server`]), which makes every key parse back
//! into one (session, server, field) only. The prefix is escaped in the SCAN
//! pattern (configuration forbids `*` and spaces in it, but `?`, `[`, `]` and
//! `\` are allowed), and session ids never contain glob characters.

use crate::error::{Error, ErrorCode, Result};
use crate::ids::SessionId;

/// How the keys of a session are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `{P}mcp:session:{S}:…`, the seed's names (memory, standalone Redis).
    #[default]
    Plain,
    /// `{P}mcp:session:{{S}}:…`: the session id is the Redis Cluster hash
    /// tag, so a session's keys share one slot.
    HashTagged,
}

/// The per-server fields, in the order [`ServerKeys::all`] lists them.
pub const FIELDS: [&str; 4] = ["status", "tools", "connected_at", "error"];

/// Longest accepted server name in a key.
pub const MAX_SERVER_LEN: usize = 128;

/// Accepts a server name usable in a key: 1-128 printable ASCII characters
/// other than `:` (the key separator), space and the glob characters
/// `*?[]{}\`. Catalog names (`^[a-z0-9][a-z0-9_-]{0,31}$`) always pass.
pub fn check_server(server: &str) -> Result<()> {
    if is_valid_server(server) {
        Ok(())
    } else {
        Err(Error::invalid(
            ErrorCode::InvalidServerName,
            "server",
            "a server name in connection state is 1-128 printable characters without spaces, `:` or *?[]{}\\",
        ))
    }
}

fn is_valid_server(server: &str) -> bool {
    !server.is_empty()
        && server.len() <= MAX_SERVER_LEN
        && server
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b":*?[]{}\\".contains(&b))
}

/// `{prefix}oauth:flow:{id}`, a pending OAuth authorization; `id` is the
/// hex SHA-256 of its `state`, so it is always 64 hex digits.
pub fn oauth_flow(prefix: &str, id: &str) -> Result<String> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("{prefix}oauth:flow:{id}"))
    } else {
        Err(Error::internal("an OAuth flow id is a hex SHA-256"))
    }
}

/// Longest accepted lease name.
pub const MAX_LEASE_LEN: usize = 200;

/// `{prefix}lease:{name}`, the key of one lease. Names are built by the
/// code that takes the lease (never from raw user input): 1-200 printable
/// ASCII characters other than space and `*?[]{}\`.
pub fn lease(prefix: &str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LEASE_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"*?[]{}\\".contains(&b));
    if ok {
        Ok(format!("{prefix}lease:{name}"))
    } else {
        Err(Error::internal(
            "a lease name is 1-200 printable characters without spaces or *?[]{}\\",
        ))
    }
}

/// Longest accepted MCP session id (rmcp issues 36-character UUIDs).
pub const MAX_MCP_SESSION_LEN: usize = 200;

/// `{prefix}mcp:binding:{id}`, the key of one MCP session's binding. The id
/// comes from a client's `Mcp-Session-Id` header, so it is checked: 1-200
/// printable ASCII characters other than space and `*?[]{}\\`.
pub fn mcp_binding(prefix: &str, id: &str) -> Result<String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_MCP_SESSION_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"*?[]{}\\".contains(&b));
    if ok {
        Ok(format!("{prefix}mcp:binding:{id}"))
    } else {
        Err(Error::invalid(
            ErrorCode::InvalidMcpSessionId,
            "mcp-session-id",
            "an MCP session id is 1-200 printable characters without spaces or *?[]{}\\",
        ))
    }
}

/// `text` as a literal in a SCAN `MATCH` pattern (glob characters escaped).
fn escape_glob(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// The SCAN `MATCH` pattern of every session's keys, `{prefix}mcp:session:*`
/// (the prefix escaped); filter the keys with [`session_of`].
pub fn sessions_scan_pattern(prefix: &str) -> String {
    let mut pattern = escape_glob(prefix);
    pattern.push_str("mcp:session:*");
    pattern
}

/// The session `key` belongs to when it is that session's connections set
/// or one of the fields of `server` in it, in `layout`; `None` for any other
/// key.
///
/// Server names contain no `:`, so the suffix `:server:{server}:{field}`
/// (or `:connections`) names exactly one session: the rest of the key (in
/// braces with [`Layout::HashTagged`]).
pub fn session_of(layout: Layout, prefix: &str, key: &str, server: &str) -> Option<SessionId> {
    let rest = key.strip_prefix(prefix)?.strip_prefix("mcp:session:")?;
    let session = match rest.strip_suffix(":connections") {
        Some(session) => session,
        None => FIELDS.iter().find_map(|field| {
            rest.strip_suffix(field)?
                .strip_suffix(':')?
                .strip_suffix(server)?
                .strip_suffix(":server:")
        })?,
    };
    let session = match layout {
        Layout::Plain => session,
        Layout::HashTagged => session.strip_prefix('{')?.strip_suffix('}')?,
    };
    SessionId::parse(session).ok()
}

/// The keys of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// `{prefix}mcp:session:{sid}:`
    base: String,
}

impl SessionKeys {
    /// The keys of `session` under `prefix`, with the plain names.
    pub fn new(prefix: &str, session: &SessionId) -> Self {
        Self::in_layout(Layout::Plain, prefix, session)
    }

    /// The keys of `session` under `prefix`, named as `layout` says.
    pub fn in_layout(layout: Layout, prefix: &str, session: &SessionId) -> Self {
        let session = session.as_str();
        let base = match layout {
            Layout::Plain => format!("{prefix}mcp:session:{session}:"),
            Layout::HashTagged => format!("{prefix}mcp:session:{{{session}}}:"),
        };
        Self { base }
    }

    /// `{prefix}mcp:session:{sid}:connections`, the set of connected servers.
    pub fn connections(&self) -> String {
        format!("{}connections", self.base)
    }

    /// The four keys of one server (fails on a name [`check_server`] refuses).
    pub fn server(&self, server: &str) -> Result<ServerKeys> {
        check_server(server)?;
        let key = |field: &str| format!("{}server:{server}:{field}", self.base);
        Ok(ServerKeys {
            status: key("status"),
            tools: key("tools"),
            connected_at: key("connected_at"),
            error: key("error"),
        })
    }

    /// The SCAN `MATCH` pattern `{prefix}mcp:session:{sid}:*`, with glob
    /// characters of the literal part escaped. It may match keys of other
    /// sessions whose id extends this one with `:`; filter with [`Self::owns`].
    pub fn scan_pattern(&self) -> String {
        let mut pattern = escape_glob(&self.base);
        pattern.push('*');
        pattern
    }

    /// Whether `key` is exactly one of this session's keys: its connections
    /// set or a field of a valid server name.
    pub fn owns(&self, key: &str) -> bool {
        let Some(rest) = key.strip_prefix(self.base.as_str()) else {
            return false;
        };
        if rest == "connections" {
            return true;
        }
        rest.strip_prefix("server:")
            .and_then(|tail| tail.rsplit_once(':'))
            .is_some_and(|(server, field)| FIELDS.contains(&field) && is_valid_server(server))
    }
}

/// The keys of one (session, server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKeys {
    pub status: String,
    pub tools: String,
    pub connected_at: String,
    pub error: String,
}

impl ServerKeys {
    /// The four keys in [`FIELDS`] order (the order `get` reads them in).
    pub fn all(&self) -> [&str; 4] {
        [&self.status, &self.tools, &self.connected_at, &self.error]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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
        all
    }

    /// (session, Some((server, field))), or (session, None) for a connections set.
    type Reading = (String, Option<(String, String)>);

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
            found.push((session.to_owned(), None));
        }
        // Every occurrence, overlapping ones included (`:server:server:`).
        let starts = (0..rest.len()).filter(|&at| rest[at..].starts_with(":server:"));
        for at in starts {
            let (session, tail) = (&rest[..at], &rest[at + ":server:".len()..]);
            for field in FIELDS {
                let Some(server) = tail.strip_suffix(field).and_then(|t| t.strip_suffix(':'))
                else {
                    continue;
                };
                if SessionId::parse(session).is_ok() && is_valid_server(server) {
                    found.push((
                        session.to_owned(),
                        Some((server.to_owned(), field.to_owned())),
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
            // is ever anyone's connections set.
            for key in &first[..4] {
                prop_assert!(!second.contains(key), "{key} is shared by {one:?} and {two:?}");
            }
            for key in &second[..4] {
                prop_assert!(!first.contains(key), "{key} is shared by {one:?} and {two:?}");
            }
            // The sets are shared exactly when the sessions are the same.
            prop_assert_eq!(first[4] == second[4], one.0 == two.0);
        }

        /// Every way to split a key back into (session, server, field) or
        /// (session, `connections`) with valid parts finds only the one it was
        /// built from, so no other pair can build the same key.
        #[test]
        fn every_key_reads_back_one_way_only(prefix in "[a-z:?]{0,6}", one in pair()) {
            let keys = all_keys(&prefix, &one);
            let readings: Vec<Vec<Reading>> = keys.iter().map(|key| readings(&prefix, key)).collect();
            for (key, found) in keys.iter().zip(&readings) {
                prop_assert_eq!(found.len(), 1, "{} reads as {:?}", key, found);
                prop_assert_eq!(&found[0].0, one.0.as_str());
            }
            for (i, field) in FIELDS.iter().enumerate() {
                let reading = Some((one.1.clone(), (*field).to_owned()));
                prop_assert_eq!(&readings[i][0].1, &reading);
            }
            prop_assert_eq!(&readings[4][0].1, &None);
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
            let other = SessionKeys::in_layout(Layout::HashTagged, &prefix, &two.0);
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
}
