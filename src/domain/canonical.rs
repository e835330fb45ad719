//! Canonical JSON text: the one byte representation of a payload that both backends store,
//! and the one hash of it that tells a retried command from a different one.
//!
//! `serde_json::Value` keeps object keys in a `BTreeMap` (the `preserve_order` feature is off),
//! so going through a `Value` sorts keys at every depth; `to_string` emits no whitespace.
//! Payloads carry no floats (the domain uses integers and labels), so number formatting is exact.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Serialises `value` as canonical JSON text.
pub fn to_canonical<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let v = serde_json::to_value(value)?;
    serde_json::to_string(&v)
}

/// SHA-256, in lowercase hex, of `value`'s canonical JSON: the idempotency hash of a command.
/// Stored with every append and compared on retry, so its bytes must never change.
pub fn hash<T: Serialize + ?Sized>(value: &T) -> String {
    let text = to_canonical(value).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
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
