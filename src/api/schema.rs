//! Checks a document against a CRD's structural OpenAPI schema the way the API server does before it
//! stores a custom resource: JSON types, required fields, enums, integer ranges and unknown fields
//! (the API server's strict field validation, which kubectl asks for by default).
//!
//! It reports every problem with its JSON path; it never coerces or defaults a value.

use serde_json::Value;

use super::field_error::{FieldError, join};

/// Every way `value` breaks `schema`, each naming the field path under `path`.
pub fn check(schema: &Value, value: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_into(schema, value, path, &mut errors);
    errors
}

fn check_into(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let flag = |name: &str| schema.get(name).and_then(Value::as_bool).unwrap_or(false);
    if flag("x-kubernetes-int-or-string") {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            errors.push(FieldError::new(
                path,
                format!("must be an integer or a string, not {}", describe(value)),
            ));
        }
        return;
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => check_object(
            schema,
            value,
            path,
            flag("x-kubernetes-preserve-unknown-fields"),
            errors,
        ),
        Some("array") => match value.as_array() {
            Some(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (index, item) in items.iter().enumerate() {
                        check_into(item_schema, item, &format!("{path}[{index}]"), errors);
                    }
                }
            }
            None => errors.push(type_error(path, "an array", value)),
        },
        Some("string") => match value.as_str() {
            Some(text) => check_enum(schema, text, path, errors),
            None => errors.push(type_error(path, "a string", value)),
        },
        Some("integer") => check_integer(schema, value, path, errors),
        Some("number") if !value.is_number() => errors.push(type_error(path, "a number", value)),
        Some("boolean") if !value.is_boolean() => {
            errors.push(type_error(path, "true or false", value))
        }
        _ => {}
    }
}

fn check_object(
    schema: &Value,
    value: &Value,
    path: &str,
    preserves_unknown_fields: bool,
    errors: &mut Vec<FieldError>,
) {
    let Some(fields) = value.as_object() else {
        errors.push(type_error(path, "an object", value));
        return;
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema
        .get("additionalProperties")
        .filter(|extra| extra.is_object());
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        // The API server applies schema defaults before it checks required fields.
        let defaulted = properties
            .and_then(|known| known.get(required))
            .is_some_and(|field| field.get("default").is_some());
        if fields.get(required).is_none_or(Value::is_null) && !defaulted {
            errors.push(FieldError::new(&join(path, required), "is required"));
        }
    }
    for (name, field) in fields {
        // The API server drops nulls of non-nullable fields before validating, so a bare `key:`
        // in YAML means "not set".
        if field.is_null() {
            continue;
        }
        let field_path = join(path, name);
        match (properties.and_then(|known| known.get(name)), additional) {
            (Some(field_schema), _) => check_into(field_schema, field, &field_path, errors),
            (None, Some(value_schema)) => check_into(value_schema, field, &field_path, errors),
            (None, None) if properties.is_some() && !preserves_unknown_fields => {
                errors.push(FieldError::new(&field_path, "unknown field"))
            }
            (None, None) => {}
        }
    }
}

fn check_enum(schema: &Value, text: &str, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.iter().any(|option| option.as_str() == Some(text))
    {
        let options: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        errors.push(FieldError::new(
            path,
            format!("{text:?} is not one of {}", options.join(", ")),
        ));
    }
}

fn check_integer(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let (minimum, maximum) = integer_range(schema);
    let requirement = format!("must be a whole number from {minimum} to {maximum}");
    match value.as_i64() {
        None => errors.push(FieldError::new(
            path,
            format!("{requirement}, not {}", describe(value)),
        )),
        Some(number) if !(minimum..=maximum).contains(&number) => errors.push(FieldError::new(
            path,
            format!("{requirement}, got {number}"),
        )),
        Some(_) => {}
    }
}

/// The whole numbers an integer schema allows: its format's bounds (32 or 64 bits), narrowed by
/// its `minimum` and `maximum`.
fn integer_range(schema: &Value) -> (i64, i64) {
    let (mut minimum, mut maximum) = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    // Schema bounds are JSON numbers, possibly written as floats (`minimum: 1.0`).
    if let Some(bound) = schema.get("minimum").and_then(Value::as_f64) {
        minimum = minimum.max(bound.ceil() as i64);
    }
    if let Some(bound) = schema.get("maximum").and_then(Value::as_f64) {
        maximum = maximum.min(bound.floor() as i64);
    }
    (minimum, maximum)
}

fn type_error(path: &str, expected: &str, value: &Value) -> FieldError {
    FieldError::new(path, format!("must be {expected}, not {}", describe(value)))
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Number(number) => format!("the number {number}"),
        Value::String(text) => format!("the string {text:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check;

    fn schema() -> serde_json::Value {
        json!({
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "format": "int32", "minimum": 1},
                "kind": {"type": "string", "enum": ["A", "B"]},
                "limits": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true}},
                "names": {"type": "array", "items": {"type": "string"}}
            }
        })
    }

    #[test]
    fn an_unknown_empty_key_is_reported_at_a_visible_path() {
        let errors = check(&schema(), &json!({"size": 1, "": "two"}), "");
        let paths: Vec<&str> = errors.iter().map(|error| error.path.as_str()).collect();
        assert_eq!(paths, ["[\"\"]"]);
    }

    #[test]
    fn accepts_a_conforming_document() {
        let document =
            json!({"size": 3, "kind": "A", "limits": {"cpu": "1", "memory": 5}, "names": ["x"]});
        assert_eq!(check(&schema(), &document, "spec"), vec![]);
    }

    #[test]
    fn names_the_path_of_every_violation() {
        let document =
            json!({"kind": "C", "limits": {"cpu": true}, "names": [1], "extra": 1, "size": null});
        let paths: Vec<String> = check(&schema(), &document, "spec")
            .into_iter()
            .map(|error| error.path)
            .collect();
        assert_eq!(
            paths,
            [
                "spec.size",
                "spec.extra",
                "spec.kind",
                "spec.limits.cpu",
                "spec.names[0]"
            ]
        );
    }

    #[test]
    fn enforces_integer_ranges_and_names_them() {
        let message = |size: serde_json::Value| {
            let errors = check(&schema(), &json!({ "size": size }), "spec");
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].path, "spec.size");
            errors[0].message.clone()
        };
        assert_eq!(
            message(json!(0)),
            "must be a whole number from 1 to 2147483647, got 0"
        );
        assert_eq!(
            message(json!(4294967296i64)),
            "must be a whole number from 1 to 2147483647, got 4294967296"
        );
        assert_eq!(
            message(json!("three")),
            "must be a whole number from 1 to 2147483647, not the string \"three\""
        );
        assert_eq!(
            message(json!(1.5)),
            "must be a whole number from 1 to 2147483647, not the number 1.5"
        );
    }
}
