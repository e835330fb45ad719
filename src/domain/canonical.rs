//! Canonical JSON text: the one byte representation of a payload that both backends store.
//!
//! `serde_json::Value` keeps object keys in a `BTreeMap` (the `preserve_order` feature is off),
//! so going through a `Value` sorts keys at every depth; `to_string` emits no whitespace.
//! Payloads carry no floats (the domain uses integers and labels), so number formatting is exact.

use serde::Serialize;

/// Serialises `value` as canonical JSON text.
pub fn to_canonical<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let v = serde_json::to_value(value)?;
    serde_json::to_string(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let v = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": null}});
        assert_eq!(
            to_canonical(&v).unwrap(),
            r#"{"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1}"#
        );
    }
}
