//! JSON Pointer lookups (RFC 6901) that allocate nothing. `serde_json::Value::pointer` builds an
//! unescaped `String` for every token it walks, and the operator and the simulator read fields of
//! Kubernetes objects by pointer on every reconcile and every simulated step. Lookups only: this
//! module never changes a value.

use std::borrow::Cow;

use serde_json::Value;

/// Looking a value up by JSON Pointer.
pub trait JsonPointer {
    /// The value at `pointer` (`""` for the whole value, `/a/b/0` for a field of a field and an
    /// array element), with the same answers as `serde_json::Value::pointer`.
    fn at(&self, pointer: &str) -> Option<&Value>;
}

impl JsonPointer for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        let tokens = pointer.strip_prefix('/')?;
        tokens.split('/').try_fold(self, |target, token| {
            let token = unescape(token);
            match target {
                Value::Object(map) => map.get(token.as_ref()),
                Value::Array(list) => array_index(&token).and_then(|index| list.get(index)),
                _ => None,
            }
        })
    }
}

/// A reference token with `~1` and `~0` unescaped; borrowed when it has neither.
fn unescape(token: &str) -> Cow<'_, str> {
    if token.contains('~') {
        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(token)
    }
}

/// An array index as RFC 6901 spells it: decimal digits without a sign or leading zeros.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::JsonPointer;
    use serde_json::json;

    #[test]
    fn lookups_answer_as_serde_json_pointer_does() {
        let value = json!({
            "metadata": {"labels": {"app.kubernetes.io/name": "orders", "a~b": 1}},
            "status": {"conditions": [{"type": "Ready"}, {"type": "Other"}]},
            "": {"empty": true},
        });
        for pointer in [
            "",
            "/",
            "/metadata",
            "/metadata/labels/app.kubernetes.io~1name",
            "/metadata/labels/a~0b",
            "/metadata/missing",
            "/status/conditions/0/type",
            "/status/conditions/1",
            "/status/conditions/01",
            "/status/conditions/+1",
            "/status/conditions/2",
            "/status/conditions/x",
            "//empty",
            "metadata",
            "/metadata/labels/app.kubernetes.io~1name/deeper",
        ] {
            assert_eq!(
                value.at(pointer),
                value.pointer(pointer),
                "pointer {pointer:?}"
            );
        }
    }
}
