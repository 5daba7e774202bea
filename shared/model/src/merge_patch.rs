//! JSON Merge Patch (RFC 7396): how `PATCH` bodies apply to a record. A member set to `null`
//! clears the field, a member left out keeps it, objects merge recursively.

use serde_json::Value;

pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Value::Object(target) = target else {
        unreachable!("made an object above")
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            apply(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(target: Value, patch: Value) -> Value {
        let mut target = target;
        apply(&mut target, &patch);
        target
    }

    #[test]
    fn examples_from_rfc_7396() {
        assert_eq!(patched(json!({"a":"b"}), json!({"a":"c"})), json!({"a":"c"}));
        assert_eq!(patched(json!({"a":"b"}), json!({"b":"c"})), json!({"a":"b","b":"c"}));
        assert_eq!(patched(json!({"a":"b"}), json!({"a":null})), json!({}));
        assert_eq!(patched(json!({"a":"b","b":"c"}), json!({"a":null})), json!({"b":"c"}));
        assert_eq!(patched(json!({"a":["b"]}), json!({"a":"c"})), json!({"a":"c"}));
        assert_eq!(patched(json!({"a":"c"}), json!({"a":["b"]})), json!({"a":["b"]}));
        assert_eq!(
            patched(json!({"a":{"b":"c"}}), json!({"a":{"b":"d","c":null}})),
            json!({"a":{"b":"d"}})
        );
        assert_eq!(patched(json!({"a":[{"b":"c"}]}), json!({"a":[1]})), json!({"a":[1]}));
        assert_eq!(patched(json!({"e":null}), json!({"a":1})), json!({"e":null,"a":1}));
        assert_eq!(patched(json!([1, 2]), json!({"a":"b","c":null})), json!({"a":"b"}));
        assert_eq!(
            patched(json!({}), json!({"a":{"bb":{"ccc":null}}})),
            json!({"a":{"bb":{}}})
        );
    }
}
