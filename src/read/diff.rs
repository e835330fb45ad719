//! The JSON Patch (RFC 6902) between two versions of a pushed view, with small array edits.
//!
//! `json_patch::diff` compares arrays index by index, so taking one name out of the middle of
//! a list (a member voting leaves the round's `not_voted`) replaces every later element: about
//! half the list per vote, sent to every viewer. Here arrays keep their common head and tail,
//! and only the middle differs: one `remove` for that vote. The patch is still plain RFC 6902,
//! applied by any client (`json_patch::patch` in Rust, `client/patch.js` in the browser).

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::{Map, Value};

/// The operations that turn `old` into `new`.
pub fn diff(old: &Value, new: &Value) -> Patch {
    let mut ops = Vec::new();
    walk(old, new, &mut PointerBuf::new(), &mut ops);
    Patch(ops)
}

fn walk(old: &Value, new: &Value, at: &mut PointerBuf, ops: &mut Vec<PatchOperation>) {
    match (old, new) {
        _ if old == new => {}
        (Value::Object(a), Value::Object(b)) => object(a, b, at, ops),
        (Value::Array(a), Value::Array(b)) => array(a, b, at, ops),
        _ => ops.push(PatchOperation::Replace(ReplaceOperation {
            path: at.clone(),
            value: new.clone(),
        })),
    }
}

fn object(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    at: &mut PointerBuf,
    ops: &mut Vec<PatchOperation>,
) {
    for (key, old) in a {
        at.push_back(key.as_str());
        match b.get(key) {
            Some(new) => walk(old, new, at, ops),
            None => ops.push(PatchOperation::Remove(RemoveOperation { path: at.clone() })),
        }
        at.pop_back();
    }
    for (key, new) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
        at.push_back(key.as_str());
        ops.push(PatchOperation::Add(AddOperation {
            path: at.clone(),
            value: new.clone(),
        }));
        at.pop_back();
    }
}

/// Keeps the common head and tail; pairs the middles element by element, then removes what
/// `a` has more (from the last, so the indices stay right) or adds what `b` has more.
fn array(a: &[Value], b: &[Value], at: &mut PointerBuf, ops: &mut Vec<PatchOperation>) {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let room = a.len().min(b.len()) - head;
    let tail = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(room)
        .take_while(|(x, y)| x == y)
        .count();
    let (a_mid, b_mid) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let paired = a_mid.len().min(b_mid.len());
    for (i, (old, new)) in a_mid.iter().zip(b_mid).enumerate() {
        at.push_back(head + i);
        walk(old, new, at, ops);
        at.pop_back();
    }
    for i in (head + paired..head + a_mid.len()).rev() {
        at.push_back(i);
        ops.push(PatchOperation::Remove(RemoveOperation { path: at.clone() }));
        at.pop_back();
    }
    for (i, new) in b_mid.iter().enumerate().skip(paired) {
        at.push_back(head + i);
        ops.push(PatchOperation::Add(AddOperation {
            path: at.clone(),
            value: new.clone(),
        }));
        at.pop_back();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn applied(old: &Value, ops: &Patch) -> Value {
        let mut doc = old.clone();
        json_patch::patch(&mut doc, ops).expect("the patch applies");
        doc
    }

    #[test]
    fn one_name_out_of_the_middle_of_a_list_is_one_remove() {
        let names: Vec<Value> = (0..29).map(|i| json!(format!("member-{i}"))).collect();
        let mut fewer = names.clone();
        fewer.remove(7);
        let (old, new) = (
            json!({"rounds": [{"not_voted": names}]}),
            json!({"rounds": [{"not_voted": fewer}]}),
        );
        let ops = diff(&old, &new);
        assert_eq!(
            serde_json::to_value(&ops).unwrap(),
            json!([{"op": "remove", "path": "/rounds/0/not_voted/7"}])
        );
        assert_eq!(applied(&old, &ops), new);
    }

    #[test]
    fn keys_with_slashes_and_tildes_are_escaped() {
        let (old, new) = (
            json!({"a/b": {"c~d": 1}}),
            json!({"a/b": {"c~d": 2}, "e": [1]}),
        );
        let ops = diff(&old, &new);
        assert_eq!(
            serde_json::to_value(&ops).unwrap(),
            json!([{"op": "replace", "path": "/a~1b/c~0d", "value": 2}, {"op": "add", "path": "/e", "value": [1]}])
        );
        assert_eq!(applied(&old, &ops), new);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (0u8..4).prop_map(Value::from),
            "[a-c/~]{0,2}".prop_map(Value::from)
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-c/~]{1,2}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever the two documents, the patch turns the first into the second.
        #[test]
        fn the_patch_turns_old_into_new(old in json_value(), new in json_value()) {
            prop_assert_eq!(applied(&old, &diff(&old, &new)), new);
        }

        /// A list that lost or gained elements in one run costs one operation per element.
        #[test]
        fn one_run_of_removals_or_insertions_costs_one_op_each(
            list in prop::collection::vec(0u8..50, 0..30),
            at in any::<prop::sample::Index>(),
            n in 0usize..4,
        ) {
            let list: Vec<Value> = list.into_iter().map(Value::from).collect();
            let i = at.index(list.len() + 1);
            let n = n.min(list.len() - i);
            let mut shorter = list.clone();
            shorter.drain(i..i + n);
            let (long, short) = (Value::Array(list), Value::Array(shorter));
            let removed = diff(&long, &short);
            prop_assert!(removed.0.len() <= n);
            prop_assert_eq!(applied(&long, &removed), short.clone());
            let added = diff(&short, &long);
            prop_assert!(added.0.len() <= n);
            prop_assert_eq!(applied(&short, &added), long);
        }
    }
}
