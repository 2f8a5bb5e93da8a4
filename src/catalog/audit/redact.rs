//! What of a call's arguments an audit event may keep: every value under a
//! key named like a secret, and every occurrence of a known secret value
//! (the server's secret header values), becomes `***`.

use serde_json::{Map, Value};

/// What a secret becomes.
pub const REDACTED: &str = "***";

/// Words that make a key secret wherever they appear in it, after
/// lower-casing and dropping `-`, `_` and `.` (`X-Api-Key`, `accessToken`,
/// `client_secret`, `db.password`).
const SECRET_WORDS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "authorization",
    "apikey",
    "privatekey",
    "credential",
    "cookie",
    "session",
    "bearer",
];

/// Secret values shorter than this are not searched for inside strings: a
/// one- or two-character "secret" would blot out ordinary text.
const MIN_SECRET_LEN: usize = 4;

/// `arguments` with secrets replaced (see the module docs). `secrets` are
/// the values to hide wherever they occur inside a string.
pub fn redact(arguments: &Map<String, Value>, secrets: &[&str]) -> Value {
    let secrets: Vec<&str> = secrets
        .iter()
        .copied()
        .filter(|s| s.len() >= MIN_SECRET_LEN)
        .collect();
    Value::Object(object(arguments, &secrets))
}

fn object(map: &Map<String, Value>, secrets: &[&str]) -> Map<String, Value> {
    map.iter()
        .map(|(key, value)| {
            let value = if secret_key(key) {
                Value::String(REDACTED.to_owned())
            } else {
                walk(value, secrets)
            };
            (key.clone(), value)
        })
        .collect()
}

fn walk(value: &Value, secrets: &[&str]) -> Value {
    match value {
        Value::Object(map) => Value::Object(object(map, secrets)),
        Value::Array(items) => Value::Array(items.iter().map(|v| walk(v, secrets)).collect()),
        Value::String(text) => Value::String(hide(text, secrets)),
        other => other.clone(),
    }
}

/// `text` with every occurrence of a secret replaced.
fn hide(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

/// Whether a key names a secret.
fn secret_key(key: &str) -> bool {
    let folded: String = key
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_WORDS.iter().any(|word| folded.contains(word)) || folded == "key" || folded == "auth"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test arguments are objects"),
        }
    }

    #[test]
    fn keys_named_like_secrets_are_hidden_at_any_depth() {
        let got = redact(
            &args(json!({
                "query": "weather",
                "api_key": "k1",
                "X-Api-Key": "k2",
                "accessToken": "t",
                "nested": {"password": "p", "keep": 3, "list": [{"client_secret": "s"}]},
                "auth": "a",
                "author": "Ada",
            })),
            &[],
        );
        assert_eq!(
            got,
            json!({
                "query": "weather",
                "api_key": "***",
                "X-Api-Key": "***",
                "accessToken": "***",
                "nested": {"password": "***", "keep": 3, "list": [{"client_secret": "***"}]},
                "auth": "***",
                "author": "Ada",
            })
        );
    }

    #[test]
    fn known_secret_values_are_hidden_inside_any_string() {
        let got = redact(
            &args(
                json!({"message": "use Bearer sk-live-123 now", "n": [ "sk-live-123" ], "x": "ab"}),
            ),
            &["sk-live-123", "ab"],
        );
        // Too-short "secrets" are not searched for.
        assert_eq!(
            got,
            json!({"message": "use Bearer *** now", "n": ["***"], "x": "ab"})
        );
    }
}
