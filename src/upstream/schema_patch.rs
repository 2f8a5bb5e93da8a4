//! Input-schema patching (the seed's `patch_tools_schema`): whatever an
//! upstream sends as a tool's `inputSchema`, clients get a JSON-Schema object
//! that function-calling APIs accept.
//!
//! Rules, applied at the top level and inside nested object schemas:
//! - missing, `null` or not an object → `{"type":"object","properties":{}}`;
//! - a top-level `type` other than `object` → the empty object schema
//!   (the upstream's arguments could not be sent as a JSON object anyway);
//! - `properties` that is not an object → `{}`; a property that is neither an
//!   object nor a boolean → `{}` (any value);
//! - `required` keeps only strings that name a property, without repeats,
//!   and is dropped when nothing is left;
//! - `additionalProperties` that is neither a boolean nor an object is dropped.
//!
//! Patching is idempotent and leaves a valid schema unchanged.

use serde_json::{Map, Value, json};

/// The schema of a tool that takes no arguments.
pub fn empty_object_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

/// Returns a valid object schema for any input.
pub fn patch_input_schema(schema: Option<&Value>) -> Value {
    match schema {
        Some(Value::Object(map)) => {
            let type_ok = match map.get("type") {
                None => true,
                Some(Value::String(t)) => t == "object",
                Some(_) => false,
            };
            if type_ok {
                Value::Object(patch_object(map.clone()))
            } else {
                empty_object_schema()
            }
        }
        _ => empty_object_schema(),
    }
}

fn patch_object(mut map: Map<String, Value>) -> Map<String, Value> {
    map.insert("type".into(), Value::String("object".into()));
    let properties = match map.remove("properties") {
        Some(Value::Object(props)) => props
            .into_iter()
            .map(|(name, prop)| {
                let prop = match prop {
                    Value::Object(inner)
                        if inner.get("type").and_then(Value::as_str) == Some("object") =>
                    {
                        Value::Object(patch_object(inner))
                    }
                    Value::Object(inner) => Value::Object(inner),
                    Value::Bool(b) => Value::Bool(b),
                    _ => Value::Object(Map::new()),
                };
                (name, prop)
            })
            .collect(),
        _ => Map::new(),
    };
    let required: Vec<Value> = match map.remove("required") {
        Some(Value::Array(names)) => {
            let mut kept: Vec<Value> = Vec::new();
            for name in names {
                if let Value::String(s) = &name
                    && properties.contains_key(s)
                    && !kept.contains(&name)
                {
                    kept.push(name);
                }
            }
            kept
        }
        _ => Vec::new(),
    };
    map.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        map.insert("required".into(), Value::Array(required));
    }
    if map
        .get("additionalProperties")
        .is_some_and(|a| !a.is_boolean() && !a.is_object())
    {
        map.remove("additionalProperties");
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_missing_or_non_object_schema_becomes_the_empty_object_schema() {
        for bad in [
            None,
            Some(json!(null)),
            Some(json!("x")),
            Some(json!([1])),
            Some(json!({"type": "string"})),
            Some(json!({"type": 5})),
        ] {
            assert_eq!(
                patch_input_schema(bad.as_ref()),
                empty_object_schema(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_valid_schema_is_left_unchanged() {
        let schema = json!({
            "type": "object",
            "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
            "required": ["q"],
            "additionalProperties": false
        });
        assert_eq!(patch_input_schema(Some(&schema)), schema);
    }

    #[test]
    fn required_never_names_a_missing_property() {
        let schema =
            json!({"properties": {"a": {"type": "string"}}, "required": ["a", "ghost", 7, "a"]});
        assert_eq!(
            patch_input_schema(Some(&schema)),
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
        );
        let none_left = json!({"type": "object", "required": ["x"]});
        assert_eq!(patch_input_schema(Some(&none_left)), empty_object_schema());
    }

    #[test]
    fn broken_properties_and_nested_objects_are_repaired() {
        let schema = json!({
            "type": "object",
            "properties": {"bad": 3, "ok": true, "nested": {"type": "object", "properties": [], "required": ["z"]}},
            "additionalProperties": "nope"
        });
        assert_eq!(
            patch_input_schema(Some(&schema)),
            json!({"type": "object", "properties": {"bad": {}, "ok": true, "nested": {"type": "object", "properties": {}}}})
        );
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            prop::sample::select(vec![
                "object",
                "string",
                "a",
                "b",
                "type",
                "properties",
                "required"
            ])
            .prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "type",
                        "properties",
                        "required",
                        "additionalProperties",
                        "a",
                        "b",
                        "description"
                    ])
                    .prop_map(str::to_owned),
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn assert_valid(schema: &Value) -> Result<(), TestCaseError> {
        prop_assert_eq!(schema.get("type"), Some(&json!("object")));
        let props = schema.get("properties").and_then(Value::as_object);
        prop_assert!(props.is_some(), "properties is an object: {}", schema);
        if let Some(required) = schema.get("required") {
            let names = required.as_array().cloned().unwrap_or_default();
            prop_assert!(!names.is_empty());
            for name in names {
                let name = name.as_str().unwrap_or_default().to_owned();
                prop_assert!(
                    props.is_some_and(|p| p.contains_key(&name)),
                    "required {} missing: {}",
                    name,
                    schema
                );
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_input_becomes_a_valid_object_schema_and_patching_is_idempotent(v in any_json()) {
            let once = patch_input_schema(Some(&v));
            assert_valid(&once)?;
            prop_assert_eq!(patch_input_schema(Some(&once)), once);
        }
    }
}
