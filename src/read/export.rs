//! Tracker write-back: agreed estimates as CSV or JSON keyed by external key (pure, no I/O).
//!
//! Every item (not withdrawn) with an agreed estimate, in backlog order, keyed by its external
//! key (e.g. a Jira key) or, without one, by its item id; when two items share an external key
//! the later ones are keyed by their id, so no estimate is lost.
//!
//! - JSON: `{"PRJ-1": {"title": "…", "estimate": "5", "points": 5}, …}` (`points` is `null`
//!   for a card without points);
//! - CSV: header `key,title,estimate,points`, RFC 4180 quoting, and every cell that a
//!   spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
//!   return) prefixed with `'` (OWASP's CSV injection advice).

use crate::domain::fixed::Fixed2;
use crate::domain::State;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// One exported estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub title: String,
    pub estimate: String,
    pub points: Option<Fixed2>,
}

/// The agreed estimates of a planning, in backlog order.
pub fn rows(state: &State) -> Vec<Row> {
    let mut used = BTreeSet::new();
    state
        .ranked_items()
        .filter_map(|it| {
            let estimate = it.estimate.clone()?;
            let key = match &it.draft.external_key {
                Some(k) if !used.contains(k) => k.clone(),
                _ => it.id.to_string(),
            };
            used.insert(key.clone());
            Some(Row {
                key,
                title: it.draft.title.clone(),
                estimate,
                points: it.points,
            })
        })
        .collect()
}

/// The JSON form: an object keyed by external key. Its keys come out sorted (`serde_json`'s
/// map without `preserve_order`, which canonical event payloads rely on), not in backlog
/// order; the CSV keeps the order.
pub fn to_json(rows: &[Row]) -> Value {
    let mut obj = Map::new();
    for r in rows {
        obj.insert(
            r.key.clone(),
            json!({ "title": r.title, "estimate": r.estimate, "points": r.points }),
        );
    }
    Value::Object(obj)
}

/// Neutralises a cell a spreadsheet would evaluate as a formula.
pub fn escape_cell(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// The CSV form, header `key,title,estimate,points`, CRLF-free (`\n` line ends).
pub fn to_csv(rows: &[Row]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut records: Vec<[String; 4]> = vec![[
        "key".into(),
        "title".into(),
        "estimate".into(),
        "points".into(),
    ]];
    records.extend(rows.iter().map(|r| {
        [
            escape_cell(&r.key),
            escape_cell(&r.title),
            escape_cell(&r.estimate),
            r.points.map(|p| p.to_string()).unwrap_or_default(),
        ]
    }));
    for rec in &records {
        // Writing into a Vec cannot fail.
        let _ = w.write_record(rec);
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_escaped() {
        for bad in ["=SUM(A1:A9)", "+1", "-2+3", "@cmd", "\tx", "\rx"] {
            assert_eq!(escape_cell(bad), format!("'{bad}"));
        }
        for fine in ["Login", "5", "½", "", "a=b", " =x"] {
            assert_eq!(escape_cell(fine), fine);
        }
    }

    #[test]
    fn csv_quotes_and_escapes() {
        let rows = vec![
            Row {
                key: "PRJ-1".into(),
                title: "=HYPERLINK(\"http://evil\",\"x\")".into(),
                estimate: "5".into(),
                points: Some(Fixed2::from_int(5)),
            },
            Row {
                key: "PRJ-2".into(),
                title: "Export, then import".into(),
                estimate: "½".into(),
                points: Some(Fixed2::from_hundredths(50)),
            },
            Row {
                key: "-x".into(),
                title: "t".into(),
                estimate: "M".into(),
                points: None,
            },
        ];
        assert_eq!(
            to_csv(&rows),
            "key,title,estimate,points\n\
             PRJ-1,\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",5,5\n\
             PRJ-2,\"Export, then import\",½,0.5\n\
             '-x,t,M,\n"
        );
        let j = to_json(&rows);
        assert_eq!(j["PRJ-1"]["estimate"], "5");
        assert_eq!(j["PRJ-1"]["points"], 5);
        assert_eq!(j["PRJ-2"]["points"], 0.5);
        assert!(j["-x"]["points"].is_null());
    }
}
