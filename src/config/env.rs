//! Settings from `MANIFOLD_…` environment variables, and errors that name
//! the variable rather than the line of code that merged it.
//!
//! A variable's value is read as TOML-like data (`60`, `true`,
//! `["a", "b"]`), so `MANIFOLD_LISTEN=8080` first reads as a number; where
//! the key wants text, the value is taken as the text it was written as.
//! Any other mismatch (`MANIFOLD_STATE__TTL_SECONDS=abc`) is reported as
//! `invalid config: state.ttl_seconds: MANIFOLD_STATE__TTL_SECONDS=abc is not
//! a whole number`.

use std::sync::LazyLock;

use figment::Figment;
use figment::error::Kind;
use figment::providers::Serialized;
use figment::value::Value;

use super::{ConfigError, ENV_PREFIX, Settings};

/// The settings variables of an environment, in the order they came.
#[derive(Debug, Default)]
pub(super) struct EnvValues {
    vars: Vec<EnvValue>,
}

#[derive(Debug)]
struct EnvValue {
    /// The dotted settings key (`state.ttl_seconds`).
    key: String,
    /// The variable (`MANIFOLD_STATE__TTL_SECONDS`).
    name: String,
    raw: String,
    /// Merge `raw` as text rather than parsed.
    as_text: bool,
}

impl EnvValues {
    /// The settings variables among `env`; others (test knobs, say) are skipped.
    pub(super) fn read(env: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars = env
            .into_iter()
            .filter_map(|(name, raw)| {
                env_key(&name).map(|key| EnvValue {
                    key,
                    name,
                    raw,
                    as_text: false,
                })
            })
            .collect();
        Self { vars }
    }

    /// The settings of `base` with the variables merged over it.
    pub(super) fn extract(&mut self, base: &Figment) -> Result<Settings, ConfigError> {
        // Each round either succeeds, fails for good, or turns one more
        // variable into text, so it ends within `vars.len() + 1` rounds.
        loop {
            let mut figment = base.clone();
            for var in &self.vars {
                let value = if var.as_text {
                    Value::from(var.raw.clone())
                } else {
                    var.raw.parse().unwrap_or_else(|e| match e {})
                };
                figment = figment.merge(Serialized::default(&var.key, value));
            }
            let err = match figment.extract::<Settings>() {
                Ok(settings) => return Ok(settings),
                Err(err) => err,
            };
            let mut key = err.path.join(".");
            if let Kind::UnknownField(field, _) = &err.kind
                && err.path.last() != Some(field)
            {
                key = if key.is_empty() {
                    field.clone()
                } else {
                    format!("{key}.{field}")
                };
            }
            let Some(var) = self.vars.iter_mut().rev().find(|v| covers(&v.key, &key)) else {
                return Err(super::first_error(err));
            };
            // Only the whole value turns into text, never an item of a list.
            if !var.as_text && key == var.key && wants_text(&err.kind) {
                var.as_text = true;
                continue;
            }
            return Err(ConfigError::new(&key, describe(var, &key, &err.kind)));
        }
    }

    /// `err` with the variable that set its key named, when one did.
    pub(super) fn name_variable(&self, mut err: ConfigError) -> ConfigError {
        if let Some(var) = self.vars.iter().rev().find(|v| covers(&v.key, &err.key)) {
            err.message = format!("{} (set by {})", err.message, var.name);
        }
        err
    }
}

/// Whether a variable for `set` sets `key` (the key itself or inside it).
fn covers(set: &str, key: &str) -> bool {
    key == set
        || key
            .strip_prefix(set)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Whether a type error says the key wants text.
fn wants_text(kind: &Kind) -> bool {
    matches!(kind, Kind::InvalidType(_, expected) if expected == "a string")
}

/// What is wrong with `var`, in words that name it.
fn describe(var: &EnvValue, key: &str, kind: &Kind) -> String {
    let name = &var.name;
    match kind {
        // Values of non-text keys (numbers, switches, lists) hold no
        // secrets, so the value is shown.
        Kind::InvalidType(_, expected) if key == var.key => {
            format!("{name}={} is not {}", var.raw, plain(expected))
        }
        Kind::InvalidType(actual, expected) => {
            format!("{name}={}: {actual} is not {}", var.raw, plain(expected))
        }
        Kind::UnknownField(field, _) => {
            format!("{name}: there is no setting `{field}` there (see config.toml.example)")
        }
        Kind::UnknownVariant(_, expected) => {
            format!("{name} must be one of: {}", expected.join(", "))
        }
        other => format!("{other} (set by {name})"),
    }
}

/// serde's name of an expected type, as a reader would say it.
fn plain(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "a list such as [\"a\", \"b\"]".into(),
        other => other.to_owned(),
    }
}

/// The top-level settings (`listen`, `state`, `audit`, …), read off the
/// settings type itself so that a new section is settable from the
/// environment without a list to keep up to date.
static SECTIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    toml::Table::try_from(Settings::default())
        .map(|table| table.keys().cloned().collect())
        .unwrap_or_default()
});

/// The dotted settings key an environment variable names
/// (`MANIFOLD_STATE__URL` → `state.url`), or `None` for variables that are not
/// settings, so unrelated `MANIFOLD_*` variables (test knobs, say) are ignored.
fn env_key(name: &str) -> Option<String> {
    let key = name
        .strip_prefix(ENV_PREFIX)?
        .to_ascii_lowercase()
        .replace("__", ".");
    let top = key.split('.').next().unwrap_or_default();
    let known = SECTIONS.iter().any(|section| section == top);
    (known && !key.split('.').any(str::is_empty)).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_top_level_setting_can_be_set_from_the_environment() {
        for top in [
            "listen", "data_dir", "catalog", "state", "upstream", "http", "log", "secrets",
            "limits", "auth", "graphql", "ui", "metrics", "mcp", "audit",
        ] {
            let name = format!("{ENV_PREFIX}{}", top.to_ascii_uppercase());
            assert_eq!(env_key(&name).as_deref(), Some(top), "{name}");
        }
        assert_eq!(
            env_key("MANIFOLD_AUDIT__ENABLED").as_deref(),
            Some("audit.enabled")
        );
        assert_eq!(env_key("MANIFOLD_TEST_CACHE"), None);
        assert_eq!(env_key("MANIFOLD_AUDIT__"), None);
    }

    #[test]
    fn a_variable_covers_its_key_and_the_keys_inside_it_only() {
        assert!(covers("http.allowed_hosts", "http.allowed_hosts"));
        assert!(covers("http.allowed_hosts", "http.allowed_hosts.1"));
        assert!(!covers("http.allowed", "http.allowed_hosts"));
        assert!(!covers("state.ttl_seconds", "state"));
    }

    #[test]
    fn expected_types_read_as_words() {
        assert_eq!(plain("u64"), "a whole number (0 or more)");
        assert_eq!(plain("a boolean"), "true or false");
        assert_eq!(plain("a map"), "a map");
    }
}
