//! Tool namespacing: the name a client sees for an upstream tool is
//! `{server}{separator}{tool}` (separator `__` by default), always within
//! `^[A-Za-z0-9_-]{1,64}$` so OpenAI-style function calling accepts it.
//!
//! Characters outside the set become `_`; a name that would be longer than
//! 64 characters, or that would collide with another tool's name in the same
//! session, keeps a readable prefix and ends in `_` + 8 hex digits of a
//! SHA-256 of the original (server, tool) pair. The mapping is deterministic
//! (the same set of tools always gets the same names, whatever the order)
//! and reversible through [`NameMap::resolve`].

use std::collections::{BTreeMap, HashMap};

/// Longest name function-calling APIs accept.
pub const MAX_NAME: usize = 64;
/// The default separator between server and tool.
pub const DEFAULT_SEPARATOR: &str = "__";
const HASH_LEN: usize = 8;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect()
}

fn hash_suffix(server: &str, tool: &str, len: usize) -> String {
    let mut input = Vec::with_capacity(server.len() + tool.len() + 1);
    input.extend_from_slice(server.as_bytes());
    input.push(0);
    input.extend_from_slice(tool.as_bytes());
    crate::secret::sha256_hex(&input)[..len].to_owned()
}

/// `prefix` cut to leave room for `_` + the hash, then the hash.
fn hashed(prefix: &str, server: &str, tool: &str, len: usize) -> String {
    let keep = MAX_NAME - 1 - len;
    let cut: String = prefix.chars().take(keep).collect();
    format!("{cut}_{}", hash_suffix(server, tool, len))
}

/// The plain candidate name of one tool (before collision handling).
pub fn candidate(server: &str, tool: &str, separator: &str) -> String {
    let name = sanitize(&format!("{server}{separator}{tool}"));
    if name.is_empty() {
        hashed("", server, tool, HASH_LEN)
    } else if name.len() > MAX_NAME {
        hashed(&name, server, tool, HASH_LEN)
    } else {
        name
    }
}

/// A session's tool names and the way back to (server, tool).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameMap {
    by_name: BTreeMap<String, (String, String)>,
}

impl NameMap {
    /// Names every (server, tool) pair; no two pairs share a name.
    pub fn build<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, separator: &str) -> Self {
        let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut groups: HashMap<String, Vec<(&str, &str)>> = HashMap::new();
        for (server, tool) in &pairs {
            groups
                .entry(candidate(server, tool, separator))
                .or_default()
                .push((server, tool));
        }
        let mut by_name = BTreeMap::new();
        let mut clashing = Vec::new();
        for (name, members) in groups {
            if let [(server, tool)] = members.as_slice() {
                by_name.insert(name, ((*server).to_owned(), (*tool).to_owned()));
            } else {
                clashing.extend(members.into_iter().map(|m| (name.clone(), m)));
            }
        }
        clashing.sort_unstable();
        for (name, (server, tool)) in clashing {
            // Longer hashes only on the (astronomically rare) hash clash.
            let mut len = HASH_LEN;
            let mut unique = hashed(&name, server, tool, len);
            while by_name.contains_key(&unique) && len < 32 {
                len += 4;
                unique = hashed(&name, server, tool, len);
            }
            by_name.insert(unique, (server.to_owned(), tool.to_owned()));
        }
        Self { by_name }
    }

    /// The (server, tool) behind a client-visible name.
    pub fn resolve(&self, name: &str) -> Option<(&str, &str)> {
        self.by_name
            .get(name)
            .map(|(s, t)| (s.as_str(), t.as_str()))
    }

    /// The client-visible name of (server, tool).
    pub fn name_of(&self, server: &str, tool: &str) -> Option<&str> {
        self.by_name
            .iter()
            .find(|(_, (s, t))| s == server && t == tool)
            .map(|(n, _)| n.as_str())
    }

    /// Every name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// How many tools are named.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no tool is named.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Scheme of the resource URIs the aggregate `/mcp` endpoint shows.
pub const URI_SCHEME: &str = "manifold";

/// The URI a client of the aggregate endpoint sees for `uri` of `server`:
/// `manifold://{server}/{uri}`. The original follows verbatim, so resource
/// template variables (`{path}`) survive and [`unwrap_uri`] reverses it.
pub fn wrap_uri(server: &str, uri: &str) -> String {
    format!("{URI_SCHEME}://{server}/{uri}")
}

/// The (server, original URI) behind a URI made by [`wrap_uri`], or `None`
/// when `uri` is not one (wrong scheme, or no valid server name).
pub fn unwrap_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix(URI_SCHEME)?.strip_prefix("://")?;
    let (server, original) = rest.split_once('/')?;
    crate::catalog::ServerName::parse(server).ok()?;
    Some((server, original))
}

/// Wraps (with [`wrap_uri`]) the URI of a `resource_link` and of an
/// embedded `resource` in `content`, so that a client of the aggregate
/// endpoint can read back every URI a tool result or prompt shows it.
pub fn wrap_content_uri(server: &str, content: &mut rmcp::model::ContentBlock) {
    use rmcp::model::{ContentBlock, ResourceContents};
    match content {
        ContentBlock::ResourceLink(link) => link.uri = wrap_uri(server, &link.uri),
        ContentBlock::Resource(embedded) => match &mut embedded.resource {
            ResourceContents::TextResourceContents { uri, .. }
            | ResourceContents::BlobResourceContents { uri, .. } => {
                *uri = wrap_uri(server, uri);
            }
            _ => {}
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn resource_uris_wrap_and_unwrap_with_template_variables_intact() {
        let wrapped = wrap_uri("fs", "file:///{path}");
        assert_eq!(wrapped, "manifold://fs/file:///{path}");
        assert_eq!(unwrap_uri(&wrapped), Some(("fs", "file:///{path}")));
        assert_eq!(unwrap_uri("file:///etc/passwd"), None);
        assert_eq!(unwrap_uri("manifold://Bad Name/x"), None);
        assert_eq!(unwrap_uri("manifold://fs"), None);
    }

    fn valid(name: &str) -> bool {
        !name.is_empty() && name.len() <= MAX_NAME && name.chars().all(allowed)
    }

    #[test]
    fn plain_names_are_server_separator_tool() {
        assert_eq!(
            candidate("github", "search_repos", "__"),
            "github__search_repos"
        );
        assert_eq!(candidate("fs", "read.file", "__"), "fs__read_file");
    }

    #[test]
    fn long_names_are_cut_with_a_stable_hash() {
        let tool = "t".repeat(100);
        let a = candidate("server", &tool, "__");
        assert_eq!(a.len(), MAX_NAME);
        assert!(a.starts_with("server__ttt"));
        assert_eq!(a, candidate("server", &tool, "__"), "deterministic");
        assert_ne!(a, candidate("server", &format!("{tool}x"), "__"));
    }

    #[test]
    fn colliding_names_get_distinct_hashed_names_and_resolve_back() {
        let map = NameMap::build([("a", "x.y"), ("a", "x_y"), ("b", "z")], "__");
        assert_eq!(map.len(), 3);
        assert_eq!(map.resolve("b__z"), Some(("b", "z")));
        let dotted = map.name_of("a", "x.y").expect("named");
        let underscored = map.name_of("a", "x_y").expect("named");
        assert_ne!(dotted, underscored);
        assert!(dotted.starts_with("a__x_y_") && valid(dotted));
        assert_eq!(map.resolve(dotted), Some(("a", "x.y")));
        assert_eq!(map.resolve(underscored), Some(("a", "x_y")));
    }

    proptest! {
        #[test]
        fn names_are_valid_unique_reversible_and_order_independent(
            pairs in prop::collection::vec(("[a-z0-9_-]{1,32}", "\\PC{1,80}"), 1..40)
        ) {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect();
            let map = NameMap::build(refs.iter().copied(), "__");
            let mut distinct = refs.clone();
            distinct.sort_unstable();
            distinct.dedup();
            prop_assert_eq!(map.len(), distinct.len());
            for (server, tool) in &distinct {
                let name = map.name_of(server, tool);
                prop_assert!(name.is_some_and(valid), "{:?}", name);
                prop_assert_eq!(map.resolve(name.unwrap_or_default()), Some((*server, *tool)));
            }
            let reversed = NameMap::build(refs.iter().rev().copied(), "__");
            prop_assert_eq!(reversed, map);
        }

        #[test]
        fn any_uri_of_any_server_round_trips(server in "[a-z0-9][a-z0-9_-]{0,31}", uri in "\\PC{0,80}") {
            let wrapped = wrap_uri(&server, &uri);
            prop_assert_eq!(unwrap_uri(&wrapped), Some((server.as_str(), uri.as_str())));
        }
    }
}
