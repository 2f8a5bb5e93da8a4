//! Toolsets: named selections of (server, tool) entries, with optional
//! renames and description/annotation overrides, that the gateway serves as
//! one virtual MCP server at `/mcp/t/{name}`.
//!
//! This module holds the record and the checks of its fields that need no
//! store ([`ToolsetName::parse`], [`check_entries`]); whether the servers an
//! entry names exist and are visible to the owner is the service's rule
//! (`service/toolsets.rs`), checked against the catalog at write time only:
//! a server deleted later is skipped when the toolset is served.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::catalog::model::ServerName;
use crate::catalog::tool_filter::{self, ToolPattern};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::ToolsetId;

/// Most entries in one toolset.
pub const MAX_TOOLSET_ENTRIES: usize = 200;
/// Longest `expose_as`, in characters (the gateway's tool-name limit).
pub const MAX_EXPOSE_AS: usize = 64;
/// Longest entry `description`, in characters.
pub const MAX_ENTRY_DESCRIPTION: usize = 2000;

/// A toolset in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Toolset {
    /// `tls_` + 16 characters.
    #[schema(value_type = String, example = "tls_a1b2c3d4e5f6g7h8")]
    pub id: ToolsetId,
    /// Unique slug; the path segment of `/mcp/t/{name}`.
    #[schema(value_type = String, example = "triage")]
    pub name: ToolsetName,
    pub title: String,
    pub description: String,
    /// User id of the creator; private toolsets are visible to them only.
    pub owner: String,
    pub is_public: bool,
    /// How clients see the tools: all listed, or behind a search tool.
    pub exposure: ToolsetExposure,
    /// Whether the entries' servers' resources are served too.
    pub resources: bool,
    /// Whether the entries' servers' prompts are served too.
    pub prompts: bool,
    pub entries: Vec<ToolsetEntry>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Toolset {
    /// Whether a user (not an admin) may see this toolset.
    pub fn visible_to(&self, user_id: &str) -> bool {
        self.is_public || self.owner == user_id
    }
}

/// One selection of a toolset: a tool (or a glob over tools) of a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolsetEntry {
    /// A server name (slug).
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub server: String,
    /// An upstream tool name, or a glob over them (`get_*`, `file_?`).
    #[schema(value_type = ToolPattern)]
    pub tool: String,
    /// The name clients see instead (an exact `tool` only, not a glob);
    /// unique within the toolset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub expose_as: Option<String>,
    /// Replaces the upstream's description: at most 2000 characters, no
    /// control characters but newlines and tabs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]{0,2000}$")]
    pub description: Option<String>,
    /// Replaces the upstream's annotations (MCP `ToolAnnotations` fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<serde_json::Value>,
}

impl ToolsetEntry {
    /// Whether `tool` is a glob rather than one exact tool name.
    pub fn is_glob(&self) -> bool {
        self.tool.contains(['*', '?'])
    }
}

/// How a toolset shows its tools to clients.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ToolsetExposure {
    /// Every selected tool is listed.
    #[default]
    All,
    /// Only a search tool and a call tool are listed.
    Search,
}

impl ToolsetExposure {
    /// The wire name (`all`, `search`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Search => "search",
        }
    }

    /// Parses the wire name (a stored value).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "all" => Some(Self::All),
            "search" => Some(Self::Search),
            _ => None,
        }
    }
}

impl fmt::Display for ToolsetExposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A toolset's unique name: a slug `^[a-z0-9][a-z0-9_-]{0,31}$`, as a
/// server's name; it appears in `/mcp/t/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ToolsetName(String);

impl ToolsetName {
    /// Longest accepted name.
    pub const MAX_LEN: usize = ServerName::MAX_LEN;

    /// Accepts only the slug form.
    pub fn parse(raw: &str) -> Result<Self> {
        match ServerName::parse(raw) {
            Ok(_) => Ok(Self(raw.to_owned())),
            Err(_) => Err(Error::invalid(
                ErrorCode::InvalidToolsetName,
                "name",
                format!(
                    "`{raw}` is not a valid toolset name: use 1-32 of a-z, 0-9, `_` and `-`, starting with a letter or digit"
                ),
            )),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ToolsetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ToolsetName {
    fn deserialize<D: Deserializer<'de>>(de: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(de)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

fn invalid_entry(field: String, message: impl fmt::Display) -> Error {
    Error::Invalid {
        code: ErrorCode::InvalidToolsetEntry,
        field: Some(field),
        message: message.to_string(),
    }
}

/// Checks a toolset's entries as sent: at most 200; each names a valid
/// server and tool pattern; `expose_as` only on an exact tool, a valid tool
/// name and unique in the list; `description` bounded; `annotations` an
/// object. Errors are `invalid_toolset_entry` naming the field
/// (`entries[3].expose_as`). The entries come back unchanged.
pub fn check_entries(entries: Vec<ToolsetEntry>) -> Result<Vec<ToolsetEntry>> {
    if entries.len() > MAX_TOOLSET_ENTRIES {
        return Err(invalid_entry(
            "entries".into(),
            format!(
                "a toolset has at most {MAX_TOOLSET_ENTRIES} entries, not {}",
                entries.len()
            ),
        ));
    }
    let mut exposed: HashSet<&str> = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = |name: &str| format!("entries[{i}].{name}");
        if ServerName::parse(&entry.server).is_err() {
            return Err(invalid_entry(
                at("server"),
                format!("`{}` is not a valid server name", entry.server),
            ));
        }
        let tool_field = at("tool");
        tool_filter::check_pattern(&tool_field, &entry.tool)
            .map_err(|err| invalid_entry(tool_field.clone(), err.public_message()))?;
        if let Some(name) = &entry.expose_as {
            if entry.is_glob() {
                return Err(invalid_entry(
                    at("expose_as"),
                    "`expose_as` renames one exact tool; `tool` is a glob",
                ));
            }
            if !is_tool_name(name) {
                return Err(invalid_entry(
                    at("expose_as"),
                    format!("`{name}` is not 1-{MAX_EXPOSE_AS} of A-Z, a-z, 0-9, `_` and `-`"),
                ));
            }
            if !exposed.insert(name) {
                return Err(invalid_entry(
                    at("expose_as"),
                    format!("another entry already exposes a tool as `{name}`"),
                ));
            }
        }
        if let Some(text) = &entry.description
            && (text.chars().count() > MAX_ENTRY_DESCRIPTION
                || text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'))
        {
            return Err(invalid_entry(
                at("description"),
                format!(
                    "a description is at most {MAX_ENTRY_DESCRIPTION} characters without control characters but newlines and tabs"
                ),
            ));
        }
        if let Some(annotations) = &entry.annotations
            && !annotations.is_object()
        {
            return Err(invalid_entry(
                at("annotations"),
                "`annotations` is a JSON object of MCP tool annotations",
            ));
        }
    }
    Ok(entries)
}

/// `^[A-Za-z0-9_-]{1,64}$`: what clients accept as a tool name.
fn is_tool_name(name: &str) -> bool {
    (1..=MAX_EXPOSE_AS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(server: &str, tool: &str) -> ToolsetEntry {
        ToolsetEntry {
            server: server.into(),
            tool: tool.into(),
            expose_as: None,
            description: None,
            annotations: None,
        }
    }

    fn renamed(tool: &str, as_: &str) -> ToolsetEntry {
        ToolsetEntry {
            expose_as: Some(as_.into()),
            ..entry("github", tool)
        }
    }

    fn refused(entries: Vec<ToolsetEntry>) -> Option<String> {
        match check_entries(entries) {
            Ok(_) => None,
            Err(err) => {
                assert_eq!(err.code(), ErrorCode::InvalidToolsetEntry, "{err}");
                err.field().map(str::to_owned)
            }
        }
    }

    #[test]
    fn valid_entries_come_back_unchanged() {
        let entries = vec![
            entry("github", "get_*"),
            ToolsetEntry {
                description: Some("Find issues.\n\tFast.".into()),
                annotations: Some(serde_json::json!({"readOnlyHint": true})),
                ..renamed("search_issues", "find-issues")
            },
            entry("files", "read_?"),
        ];
        assert_eq!(check_entries(entries.clone()).ok(), Some(entries));
        assert_eq!(check_entries(Vec::new()).ok(), Some(Vec::new()));
    }

    #[test]
    fn more_than_two_hundred_entries_are_refused() {
        let many = vec![entry("github", "x"); MAX_TOOLSET_ENTRIES + 1];
        assert_eq!(refused(many), Some("entries".into()));
        let enough = vec![entry("github", "x"); MAX_TOOLSET_ENTRIES];
        assert!(check_entries(enough).is_ok());
    }

    #[test]
    fn an_entry_names_a_valid_server_and_tool_pattern() {
        let bad_server = vec![entry("github", "x"), entry("Git Hub", "x")];
        assert_eq!(refused(bad_server), Some("entries[1].server".into()));
        for tool in ["", "two words", "tab\tx", &"x".repeat(201)] {
            assert_eq!(
                refused(vec![entry("github", tool)]),
                Some("entries[0].tool".into()),
                "{tool:?}"
            );
        }
    }

    #[test]
    fn expose_as_renames_only_an_exact_tool_to_a_valid_name() {
        for glob in ["get_*", "file_?"] {
            assert_eq!(
                refused(vec![renamed(glob, "x")]),
                Some("entries[0].expose_as".into())
            );
        }
        for bad in ["", "has space", "dot.ted", "ü", &"x".repeat(65)] {
            assert_eq!(
                refused(vec![renamed("echo", bad)]),
                Some("entries[0].expose_as".into()),
                "{bad:?}"
            );
        }
        assert!(check_entries(vec![renamed("echo", &"X".repeat(64))]).is_ok());
    }

    #[test]
    fn two_entries_exposing_the_same_name_are_refused_at_the_second() {
        let entries = vec![
            renamed("a", "same"),
            entry("github", "b"),
            renamed("c", "same"),
        ];
        assert_eq!(refused(entries), Some("entries[2].expose_as".into()));
    }

    #[test]
    fn descriptions_are_bounded_and_free_of_control_characters() {
        let with = |text: String| ToolsetEntry {
            description: Some(text),
            ..entry("github", "echo")
        };
        assert!(check_entries(vec![with("ü".repeat(MAX_ENTRY_DESCRIPTION))]).is_ok());
        for bad in [
            "x".repeat(MAX_ENTRY_DESCRIPTION + 1),
            "bell\u{7}".into(),
            "cr\r".into(),
        ] {
            assert_eq!(
                refused(vec![with(bad)]),
                Some("entries[0].description".into())
            );
        }
    }

    #[test]
    fn annotations_must_be_an_object() {
        let with = |value: serde_json::Value| ToolsetEntry {
            annotations: Some(value),
            ..entry("github", "echo")
        };
        assert!(check_entries(vec![with(serde_json::json!({}))]).is_ok());
        for bad in [
            serde_json::json!([]),
            serde_json::json!("x"),
            serde_json::json!(1),
        ] {
            assert_eq!(
                refused(vec![with(bad)]),
                Some("entries[0].annotations".into())
            );
        }
    }

    #[test]
    fn entries_refuse_unknown_fields_and_read_null_as_absent() {
        let unknown = serde_json::from_value::<ToolsetEntry>(
            serde_json::json!({"server": "a", "tool": "b", "rename": "c"}),
        );
        assert!(unknown.is_err());
        let nulls: ToolsetEntry = serde_json::from_value(serde_json::json!({
            "server": "a", "tool": "b", "expose_as": null, "annotations": null
        }))
        .expect("reads");
        assert_eq!(nulls, entry("a", "b"));
        let json = serde_json::to_value(&nulls).expect("writes");
        assert_eq!(json, serde_json::json!({"server": "a", "tool": "b"}));
    }

    #[test]
    fn exposure_reads_and_writes_its_wire_names() {
        for e in [ToolsetExposure::All, ToolsetExposure::Search] {
            assert_eq!(ToolsetExposure::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).ok(), Some(e.as_str().into()));
        }
        assert_eq!(ToolsetExposure::default(), ToolsetExposure::All);
        assert_eq!(ToolsetExposure::parse("some"), None);
    }

    #[test]
    fn a_private_toolset_is_visible_to_its_owner_only() {
        let now = Utc::now();
        let mut toolset = Toolset {
            id: ToolsetId::generate(),
            name: ToolsetName::parse("triage").expect("a name"),
            title: "Triage".into(),
            description: String::new(),
            owner: "alice".into(),
            is_public: false,
            exposure: ToolsetExposure::All,
            resources: false,
            prompts: false,
            entries: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        assert!(toolset.visible_to("alice") && !toolset.visible_to("bob"));
        toolset.is_public = true;
        assert!(toolset.visible_to("bob"));
    }

    proptest! {
        #[test]
        fn toolset_names_are_exactly_the_server_slug_pattern(s in "\\PC{0,40}") {
            let ok = ToolsetName::parse(&s);
            prop_assert_eq!(ok.is_ok(), ServerName::parse(&s).is_ok());
            if let Err(err) = ok {
                prop_assert_eq!(err.code(), ErrorCode::InvalidToolsetName);
            }
        }

        #[test]
        fn expose_as_accepts_exactly_its_pattern(s in "[A-Za-z0-9_. -]{0,70}") {
            let expected = (1..=64).contains(&s.len())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            prop_assert_eq!(is_tool_name(&s), expected);
        }
    }
}
