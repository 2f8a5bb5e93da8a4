//! [`ToolFilter`]: which tools pass, as `allow` and `deny` lists of names
//! or globs (`get-*`, `file_?`). A server's filter (set by its owner or an
//! admin) hides upstream tools from every session; a session's own filter
//! (see `session`) hides tools from that session's MCP views.
//!
//! The rule: a tool passes when `allow` is empty or one of its patterns
//! matches, and no `deny` pattern matches (deny wins). Patterns match the
//! whole name, case-sensitively, like MCP tool names themselves: `*` is any
//! run of characters (also none), `?` exactly one.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};

/// Most patterns in one list.
pub const MAX_PATTERNS: usize = 200;
/// Longest pattern, in characters.
pub const MAX_PATTERN_LEN: usize = 200;

/// `allow` and `deny` lists of tool-name globs; the default passes every tool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolFilter {
    /// When not empty, only tools matching one of these pass.
    #[serde(default)]
    #[schema(value_type = Vec<ToolPattern>, max_items = 200)]
    pub allow: Vec<String>,
    /// Tools matching one of these never pass (deny wins over allow).
    #[serde(default)]
    #[schema(value_type = Vec<ToolPattern>, max_items = 200)]
    pub deny: Vec<String>,
}

/// One glob over tool names: `*` any run of characters, `?` one; 1-200
/// characters without spaces or control characters (the OpenAPI schema of
/// a pattern; patterns are plain strings in the API).
pub struct ToolPattern;

impl utoipa::PartialSchema for ToolPattern {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_PATTERN_LEN))
            .pattern(Some(
                r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,200}$",
            ))
            .into()
    }
}

impl utoipa::ToSchema for ToolPattern {}

impl ToolFilter {
    /// A filter from the two lists, refused with `invalid_tool_filter` when a
    /// list is too long or a pattern is empty, too long, or holds spaces or
    /// control characters. Duplicates are dropped, order is kept.
    pub fn new(allow: Vec<String>, deny: Vec<String>) -> Result<Self> {
        Ok(Self {
            allow: checked("allow", allow)?,
            deny: checked("deny", deny)?,
        })
    }

    /// The filter checked as [`ToolFilter::new`] does (for one that was
    /// deserialized from input).
    pub fn validated(self) -> Result<Self> {
        Self::new(self.allow, self.deny)
    }

    /// [`ToolFilter::validated`] for a filter that is the field `path` of
    /// its input: an error names `{path}.allow` or `{path}.deny`.
    pub fn validated_at(self, path: &str) -> Result<Self> {
        self.validated().map_err(|err| match err {
            Error::Invalid {
                code,
                field: Some(field),
                message,
            } => Error::Invalid {
                code,
                field: Some(format!("{path}.{field}")),
                message,
            },
            other => other,
        })
    }

    /// Whether the filter passes every tool.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Whether the tool named `name` passes.
    pub fn admits(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|p| glob_match(p, name)))
            && !self.deny.iter().any(|p| glob_match(p, name))
    }

    /// Whether an MCP tool (JSON with a `name`) passes; a tool without a
    /// string name passes only an empty filter.
    pub fn admits_tool(&self, tool: &serde_json::Value) -> bool {
        if self.is_empty() {
            return true;
        }
        tool.get("name")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|name| self.admits(name))
    }
}

fn checked(list: &str, patterns: Vec<String>) -> Result<Vec<String>> {
    let invalid = |message: String| Error::Invalid {
        code: ErrorCode::InvalidToolFilter,
        field: Some(list.to_owned()),
        message,
    };
    if patterns.len() > MAX_PATTERNS {
        return Err(invalid(format!(
            "`{list}` has {} patterns; at most {MAX_PATTERNS} are allowed",
            patterns.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(patterns.len());
    for pattern in patterns {
        check_pattern(list, &pattern)?;
        if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    Ok(out)
}

/// Checks one pattern as a filter's lists do (1-200 characters, no spaces
/// or control characters); the error (`invalid_tool_filter`) names `field`.
/// Other owners of patterns (toolset entries) re-code it as theirs.
pub fn check_pattern(field: &str, pattern: &str) -> Result<()> {
    let invalid = |message: String| Error::Invalid {
        code: ErrorCode::InvalidToolFilter,
        field: Some(field.to_owned()),
        message,
    };
    if pattern.is_empty() || pattern.chars().count() > MAX_PATTERN_LEN {
        return Err(invalid(format!(
            "`{field}` must be a pattern of 1 to {MAX_PATTERN_LEN} characters"
        )));
    }
    if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!(
            "the pattern {pattern:?} in `{field}` holds a space or a control character"
        )));
    }
    Ok(())
}

/// Whether `pattern` (`*` any run, `?` one character) matches all of
/// `text`. Linear in practice: the classic backtracking to the last `*`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn filter(allow: &[&str], deny: &[&str]) -> ToolFilter {
        ToolFilter::new(
            allow.iter().map(|s| s.to_string()).collect(),
            deny.iter().map(|s| s.to_string()).collect(),
        )
        .expect("valid")
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_match("get-*", "get-user"));
        assert!(glob_match("get-*", "get-"));
        assert!(!glob_match("get-*", "forget-user"));
        assert!(glob_match("*user*", "get-user-name"));
        assert!(glob_match("file_?", "file_a"));
        assert!(!glob_match("file_?", "file_ab"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("echo", "echo"));
        assert!(!glob_match("echo", "Echo"));
        assert!(glob_match("**", ""));
    }

    #[test]
    fn deny_wins_and_an_empty_allow_passes_everything_else() {
        let f = filter(&[], &["delete_*"]);
        assert!(f.admits("read_file"));
        assert!(!f.admits("delete_file"));
        let f = filter(&["get-*", "echo"], &["get-secret"]);
        assert!(f.admits("echo"));
        assert!(f.admits("get-user"));
        assert!(!f.admits("get-secret"));
        assert!(!f.admits("add"));
        assert!(ToolFilter::default().admits("anything"));
    }

    #[test]
    fn tools_without_a_name_pass_only_an_empty_filter() {
        let nameless = serde_json::json!({"description": "x"});
        assert!(ToolFilter::default().admits_tool(&nameless));
        assert!(!filter(&[], &["x"]).admits_tool(&nameless));
        assert!(filter(&[], &["x"]).admits_tool(&serde_json::json!({"name": "y"})));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_stable_code() {
        for bad in [
            "",
            "has space",
            "tab\there",
            &"x".repeat(MAX_PATTERN_LEN + 1),
        ] {
            let err = ToolFilter::new(vec![bad.into()], vec![]).expect_err(bad);
            assert_eq!(err.code(), ErrorCode::InvalidToolFilter, "{bad:?}");
        }
        let many = vec!["a".to_string(); MAX_PATTERNS + 1];
        let err = ToolFilter::new(vec![], many).expect_err("too many");
        assert_eq!(err.code(), ErrorCode::InvalidToolFilter);
        let deduped = ToolFilter::new(vec!["a".into(), "b".into(), "a".into()], vec![]);
        assert_eq!(deduped.expect("valid").allow, ["a", "b"]);
    }

    proptest! {
        #[test]
        fn a_name_matches_itself_and_a_star(name in "[A-Za-z0-9_.-]{0,30}") {
            prop_assert!(glob_match(&name, &name));
            prop_assert!(glob_match("*", &name));
        }

        #[test]
        fn a_prefix_star_matches_exactly_the_names_with_that_prefix(
            prefix in "[a-c]{0,3}", name in "[a-c]{0,6}",
        ) {
            prop_assert_eq!(glob_match(&format!("{prefix}*"), &name), name.starts_with(&prefix));
        }
    }
}
