//! Backlog import: CSV and Jira issue-search JSON into item drafts (pure functions, no I/O).
//!
//! The result feeds the domain command `ImportItems` (one `ItemsImported` event per import).
//! Parsing is all or nothing: every bad row is reported with its line and nothing is imported.
//!
//! **CSV** (RFC 4180: fields with commas, quotes or newlines are double-quoted, `""` is a quote;
//! a leading UTF-8 byte order mark is skipped). The first record is the header; names are
//! matched case-insensitively, with spaces and hyphens read as `_`:
//!
//! | column | aliases | meaning |
//! |---|---|---|
//! | `title` | `summary` | required, 1–200 characters, one line |
//! | `description` | | free text, newlines kept |
//! | `acceptance_criteria` | `acceptance criteria`, `ac` | several criteria separated by newlines or `;` |
//! | `labels` | `label` | separated by `,` or `;`; the column may repeat (Jira CSV) |
//! | `external_key` | `key`, `issue_key` | e.g. `PRJ-12`; unique within the file |
//!
//! Other columns are **ignored** (tracker exports carry dozens), but a header without a
//! `title` column, or with a known column twice (except `labels`), is refused. Blank records
//! are skipped; a record with a different number of fields than the header is refused.
//!
//! **Jira** issue-search JSON: `{"issues": [{"key": "PRJ-1", "fields": {"summary": "…",
//! "description": "…" | null | {Atlassian document}, "labels": ["…"]}}]}`. For Jira the
//! reported `line` is the issue's 1-based position in `issues[]`.
//!
//! [`preview`] reads a file the same way but keeps the good rows (with their lines) beside the
//! bad ones, so a person sees every line's fate before anything is written.

use crate::domain::decide::{item_draft, limits};
use crate::domain::event::ItemDraft;
use crate::domain::State;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The supported input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jira,
}

impl Format {
    /// `csv` or `jira` (case-insensitive).
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jira" | "json" => Some(Format::Jira),
            _ => None,
        }
    }

    /// The `source` recorded in `ItemsImported`.
    pub fn source(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jira => "jira",
        }
    }
}

/// One refused row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// CSV: the line the record starts on (the header is line 1). Jira: the issue's position.
    pub line: u64,
    pub error: String,
}

/// Why nothing was imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportError {
    pub message: String,
    /// The refused rows (empty when the file as a whole is unusable).
    pub rows: Vec<RowError>,
}

impl ImportError {
    fn whole(message: impl Into<String>) -> Self {
        ImportError {
            message: message.into(),
            rows: Vec::new(),
        }
    }
}

/// Parses `body` in `format` into drafts, or reports every bad row.
pub fn parse(format: Format, body: &str) -> Result<Vec<ItemDraft>, ImportError> {
    match format {
        Format::Csv => parse_csv(body),
        Format::Jira => parse_jira(body),
    }
}

/// A file read row by row: the good rows with their line, and the bad ones.
type Rows = (Vec<(u64, ItemDraft)>, Vec<RowError>);

/// What an import would do, written nowhere: every good row with its line, every bad row with
/// its problem, and why the import as a whole would be refused (`None`: it would go in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub items: Vec<PreviewRow>,
    pub rows: Vec<RowError>,
    pub refusal: Option<String>,
}

/// One row that would be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewRow {
    pub line: u64,
    #[serde(flatten)]
    pub draft: ItemDraft,
}

/// Parses `body` like [`parse`] but keeps the good rows beside the bad ones, so a person can
/// fix the file before anything is written. A file unusable as a whole is still an error.
pub fn preview(format: Format, body: &str) -> Result<Preview, ImportError> {
    let (drafts, errors) = match format {
        Format::Csv => csv_rows(body)?,
        Format::Jira => jira_rows(body)?,
    };
    let refusal = finish(
        drafts.iter().map(|(_, d)| d.clone()).collect(),
        errors.clone(),
    )
    .err()
    .map(|e| e.message);
    Ok(Preview {
        items: drafts
            .into_iter()
            .map(|(line, draft)| PreviewRow { line, draft })
            .collect(),
        rows: errors,
        refusal,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Title,
    Description,
    Criteria,
    Labels,
    Key,
}

fn column(header: &str) -> Option<Column> {
    let norm: String = header
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    Some(match norm.as_str() {
        "title" | "summary" => Column::Title,
        "description" => Column::Description,
        "acceptance_criteria" | "ac" => Column::Criteria,
        "labels" | "label" => Column::Labels,
        "external_key" | "key" | "issue_key" => Column::Key,
        _ => return None,
    })
}

/// Splits on any of `seps`, trims, drops empty parts and duplicates (order kept).
fn split_list(s: &str, seps: &[char]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split(|c| seps.contains(&c)) {
        let part = part.trim();
        if !part.is_empty() && !out.iter().any(|p| p == part) {
            out.push(part.to_string());
        }
    }
    out
}

/// Parses a CSV backlog (see the module docs for the columns).
pub fn parse_csv(body: &str) -> Result<Vec<ItemDraft>, ImportError> {
    let (drafts, errors) = csv_rows(body)?;
    finish(drafts.into_iter().map(|(_, d)| d).collect(), errors)
}

/// A CSV's good rows (with the line each starts on) and its bad ones.
fn csv_rows(body: &str) -> Result<Rows, ImportError> {
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err(ImportError::whole("the CSV is empty: a header is required")),
        Some(Err(e)) => return Err(csv_error(body, e)),
        Some(Ok(h)) => h,
    };
    let mut columns: Vec<Option<Column>> = Vec::with_capacity(header.len());
    for name in header.iter() {
        let c = column(name);
        if let Some(c) = c {
            if c != Column::Labels && columns.contains(&Some(c)) {
                return Err(ImportError {
                    message: "bad header".into(),
                    rows: vec![RowError {
                        line: 1,
                        error: format!(
                            "column {} appears twice",
                            crate::domain::words::quoted(name.trim())
                        ),
                    }],
                });
            }
        }
        columns.push(c);
    }
    if !columns.contains(&Some(Column::Title)) {
        return Err(ImportError {
            message: "bad header".into(),
            rows: vec![RowError {
                line: 1,
                error: "a `title` column is required".into(),
            }],
        });
    }

    let mut drafts = Vec::new();
    let mut errors = Vec::new();
    let mut keys: BTreeMap<String, u64> = BTreeMap::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let ie = csv_error(body, e);
                if ie.rows.is_empty() {
                    return Err(ie);
                }
                errors.extend(ie.rows);
                break;
            }
        };
        let line = record.position().map_or(0, |p| line_at(body, p));
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() != columns.len() {
            errors.push(RowError {
                line,
                error: format!(
                    "{} fields where the header has {}",
                    record.len(),
                    columns.len()
                ),
            });
            continue;
        }
        let mut d = ItemDraft {
            title: String::new(),
            description: String::new(),
            acceptance_criteria: Vec::new(),
            attachments: Vec::new(),
            dependencies: Vec::new(),
            labels: Vec::new(),
            external_key: None,
        };
        for (col, field) in columns.iter().zip(record.iter()) {
            match col {
                Some(Column::Title) => d.title = field.trim().to_string(),
                Some(Column::Description) => d.description = field.trim().to_string(),
                Some(Column::Criteria) => d.acceptance_criteria = split_list(field, &['\n', ';']),
                Some(Column::Labels) => {
                    for l in split_list(field, &[',', ';']) {
                        if !d.labels.contains(&l) {
                            d.labels.push(l);
                        }
                    }
                }
                Some(Column::Key) => {
                    let k = field.trim();
                    d.external_key = (!k.is_empty()).then(|| k.to_string());
                }
                None => {}
            }
        }
        match check(&d, &mut keys, line) {
            Ok(()) => drafts.push((line, d)),
            Err(e) => errors.push(RowError { line, error: e }),
        }
    }
    Ok((drafts, errors))
}

/// Parses a Jira issue-search JSON export.
pub fn parse_jira(body: &str) -> Result<Vec<ItemDraft>, ImportError> {
    let (drafts, errors) = jira_rows(body)?;
    finish(drafts.into_iter().map(|(_, d)| d).collect(), errors)
}

/// A Jira export's good issues (with their position) and its bad ones.
fn jira_rows(body: &str) -> Result<Rows, ImportError> {
    let v: Value = serde_json::from_str(body).map_err(|e| ImportError {
        message: "not valid JSON".into(),
        rows: vec![RowError {
            line: e.line() as u64,
            error: e.to_string(),
        }],
    })?;
    let issues = v
        .get("issues")
        .and_then(Value::as_array)
        .ok_or_else(|| ImportError::whole("a Jira export needs an `issues` array"))?;
    Ok(issue_rows(issues))
}

/// Issues already fetched from a tracker, in Jira's issue shape (`{"key", "fields": {"summary",
/// "description", "labels"}}`), read like a Jira export: the line is the issue's position.
pub fn preview_issues(issues: &[Value]) -> Preview {
    let (drafts, errors) = issue_rows(issues);
    let refusal = finish(
        drafts.iter().map(|(_, d)| d.clone()).collect(),
        errors.clone(),
    )
    .err()
    .map(|e| e.message);
    Preview {
        items: drafts
            .into_iter()
            .map(|(line, draft)| PreviewRow { line, draft })
            .collect(),
        rows: errors,
        refusal,
    }
}

/// Drafts from the rows of a [`preview_issues`] that would go in, or why nothing would.
pub fn finish_preview(preview: Preview) -> Result<Vec<ItemDraft>, ImportError> {
    finish(
        preview.items.into_iter().map(|r| r.draft).collect(),
        preview.rows,
    )
}

/// Jira-shaped issues' good rows (with their position) and bad ones.
fn issue_rows(issues: &[Value]) -> Rows {
    let mut drafts = Vec::new();
    let mut errors = Vec::new();
    let mut keys: BTreeMap<String, u64> = BTreeMap::new();
    for (n, issue) in issues.iter().enumerate() {
        let line = n as u64 + 1;
        match jira_issue(issue) {
            Ok(d) => match check(&d, &mut keys, line) {
                Ok(()) => drafts.push((line, d)),
                Err(e) => errors.push(RowError { line, error: e }),
            },
            Err(e) => errors.push(RowError { line, error: e }),
        }
    }
    (drafts, errors)
}

fn jira_issue(issue: &Value) -> Result<ItemDraft, String> {
    let fields = issue
        .get("fields")
        .and_then(Value::as_object)
        .ok_or("the issue has no `fields` object")?;
    let title = match fields.get("summary") {
        Some(Value::String(s)) => s.trim().to_string(),
        _ => return Err("`fields.summary` must be a string".into()),
    };
    let description = match fields.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.trim().to_string(),
        // Jira Cloud's REST v3 sends an Atlassian Document: keep its text.
        Some(doc @ Value::Object(_)) => adf_text(doc).trim().to_string(),
        Some(_) => return Err("`fields.description` must be a string or null".into()),
    };
    let labels = match fields.get("labels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ls)) => {
            let mut out: Vec<String> = Vec::new();
            for l in ls {
                let l = l
                    .as_str()
                    .ok_or("`fields.labels` must hold strings")?
                    .trim();
                if !l.is_empty() && !out.iter().any(|o| o == l) {
                    out.push(l.to_string());
                }
            }
            out
        }
        Some(_) => return Err("`fields.labels` must be an array".into()),
    };
    let external_key = match issue.get("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.trim().to_string()).filter(|k| !k.is_empty()),
        Some(_) => return Err("`key` must be a string".into()),
    };
    Ok(ItemDraft {
        title,
        description,
        acceptance_criteria: Vec::new(),
        attachments: Vec::new(),
        dependencies: Vec::new(),
        labels,
        external_key,
    })
}

/// The text of an Atlassian Document Format node: text nodes, paragraphs on their own lines.
fn adf_text(node: &Value) -> String {
    let mut out = String::new();
    fn walk(node: &Value, out: &mut String, depth: usize) {
        if depth > 64 {
            return;
        }
        if let Some(t) = node.get("text").and_then(Value::as_str) {
            out.push_str(t);
        }
        if node.get("type").and_then(Value::as_str) == Some("hardBreak") {
            out.push('\n');
        }
        if let Some(children) = node.get("content").and_then(Value::as_array) {
            for c in children {
                walk(c, out, depth + 1);
            }
            let block = matches!(
                node.get("type").and_then(Value::as_str),
                Some("paragraph" | "heading" | "listItem" | "codeBlock")
            );
            if block && !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    walk(node, &mut out, 0);
    out
}

/// The domain's own checks (limits, control characters), plus unique external keys.
fn check(d: &ItemDraft, keys: &mut BTreeMap<String, u64>, line: u64) -> Result<(), String> {
    if d.title.is_empty() {
        return Err("the title is empty".into());
    }
    item_draft(&State::default(), d).map_err(|e| e.to_string())?;
    if let Some(k) = &d.external_key {
        if let Some(first) = keys.get(k) {
            return Err(format!(
                "external key {} already used on line {first}",
                crate::domain::words::quoted(k)
            ));
        }
        keys.insert(k.clone(), line);
    }
    Ok(())
}

fn finish(drafts: Vec<ItemDraft>, errors: Vec<RowError>) -> Result<Vec<ItemDraft>, ImportError> {
    if !errors.is_empty() {
        return Err(ImportError {
            message: format!(
                "{} bad row{}: nothing was imported",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
            rows: errors,
        });
    }
    if drafts.is_empty() {
        return Err(ImportError::whole("no items to import"));
    }
    if drafts.len() > limits::IMPORT {
        return Err(ImportError::whole(format!(
            "{} items: at most {} per import",
            drafts.len(),
            limits::IMPORT
        )));
    }
    Ok(drafts)
}

/// The 1-based line a record starting at `byte` is on. The csv crate's own line count lags
/// by one after a CRLF (RFC 4180's line ending), so lines are counted here: a record reported
/// at the `\n` of the previous line's CRLF starts just after it.
fn line_at(body: &str, pos: &csv::Position) -> u64 {
    let b = body.as_bytes();
    let mut at = (pos.byte() as usize).min(b.len());
    if b.get(at) == Some(&b'\n') && at > 0 && b[at - 1] == b'\r' {
        at += 1;
    }
    1 + b[..at].iter().filter(|&&c| c == b'\n').count() as u64
}

fn csv_error(body: &str, e: csv::Error) -> ImportError {
    let line = e.position().map(|p| line_at(body, p));
    let msg = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
        _ => e.to_string(),
    };
    match line {
        Some(line) => ImportError {
            message: "unreadable CSV".into(),
            rows: vec![RowError { line, error: msg }],
        },
        None => ImportError::whole(format!("unreadable CSV: {msg}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quoted_fields_commas_and_newlines() {
        let body = "Title,Description,Acceptance Criteria,Labels,External Key,Sprint\n\
            Login,\"Users log in, with SSO\",\"can log in\nsees error; is logged\",\"auth, web\",SL-1,ignored\n\
            \"Say \"\"hi\"\"\",,,,SL-2,x\n";
        let ds = parse_csv(body).expect("parses");
        assert_eq!(ds.len(), 2);
        assert_eq!(ds[0].title, "Login");
        assert_eq!(ds[0].description, "Users log in, with SSO");
        assert_eq!(
            ds[0].acceptance_criteria,
            vec!["can log in", "sees error", "is logged"]
        );
        assert_eq!(ds[0].labels, vec!["auth", "web"]);
        assert_eq!(ds[0].external_key.as_deref(), Some("SL-1"));
        assert_eq!(ds[1].title, "Say \"hi\"");
        assert!(ds[1].labels.is_empty() && ds[1].acceptance_criteria.is_empty());
    }

    #[test]
    fn header_names_are_case_insensitive_with_aliases_and_bom() {
        let body = "\u{feff}SUMMARY;x\n";
        // One column named "SUMMARY;x" is not a title column.
        assert!(parse_csv(body).is_err());
        let body = "\u{feff}Summary,Issue Key,Label,Label\nA,K-1,a,b\n";
        let ds = parse_csv(body).expect("parses");
        assert_eq!(ds[0].title, "A");
        assert_eq!(ds[0].external_key.as_deref(), Some("K-1"));
        assert_eq!(ds[0].labels, vec!["a", "b"]);
    }

    /// RFC 4180's own line ending: the same file with CRLF reports the same lines.
    #[test]
    fn crlf_files_report_the_same_lines() {
        let body = "title,description\nok,\"\"\n,missing title\n\"multi\nline\",x\nfine,y,extra\n";
        let lf = parse_csv(body).expect_err("refused");
        let crlf = parse_csv(&body.replace('\n', "\r\n")).expect_err("refused");
        assert_eq!(crlf.rows, lf.rows);
        let ok = "title,description\r\nfirst,a\r\nsecond,\"two\r\nlines\"\r\nthird,b\r\n";
        let (rows, errors) = csv_rows(ok).expect("read");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            rows.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec![2, 3, 5]
        );
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_nothing_is_imported() {
        // Line 3 has no title; the quoted newline makes the row after it start on line 5.
        let body = "title,description\nok,\"\"\n,missing title\n\"multi\nline\",x\nfine,y,extra\n";
        let e = parse_csv(body).expect_err("refused");
        assert_eq!(
            e.rows,
            vec![
                RowError {
                    line: 3,
                    error: "the title is empty".into()
                },
                RowError {
                    line: 4,
                    error:
                        "title contains control characters or characters that display as nothing"
                            .into()
                },
                RowError {
                    line: 6,
                    error: "3 fields where the header has 2".into()
                },
            ]
        );
        assert!(e.message.contains("nothing was imported"), "{}", e.message);
    }

    #[test]
    fn the_preview_keeps_good_rows_with_their_lines_beside_the_bad_ones() {
        let body = "title,description\nok,\"\"\n,missing title\n\"multi\nline\",x\nfine,\"two\nlines\"\nlast,z\n";
        let p = preview(Format::Csv, body).unwrap();
        let good: Vec<_> = p
            .items
            .iter()
            .map(|r| (r.line, r.draft.title.as_str()))
            .collect();
        assert_eq!(good, vec![(2, "ok"), (6, "fine"), (8, "last")]);
        assert_eq!(
            p.rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(
            p.refusal.as_deref(),
            Some("2 bad rows: nothing was imported")
        );
        // A clean file previews with no refusal, as `parse` would import it.
        let p = preview(Format::Csv, "title\na\nb\n").unwrap();
        assert_eq!((p.items.len(), p.rows.len(), p.refusal), (2, 0, None));
        let drafts: Vec<_> = p.items.into_iter().map(|r| r.draft).collect();
        assert_eq!(drafts, parse_csv("title\na\nb\n").unwrap());
        // Jira: the line is the issue's position; a file unusable as a whole is still an error.
        let jira = r#"{"issues":[{"key":"J-1","fields":{"summary":""}},{"key":"J-2","fields":{"summary":"b"}}]}"#;
        let p = preview(Format::Jira, jira).unwrap();
        assert_eq!((p.items[0].line, p.rows[0].line), (2, 1));
        assert!(preview(Format::Csv, "name\nx\n").is_err());
    }

    #[test]
    fn header_without_title_or_with_a_duplicate_is_refused() {
        let e = parse_csv("name,description\nx,y\n").expect_err("no title");
        assert_eq!(e.rows[0].line, 1);
        let e = parse_csv("title,Title\nx,y\n").expect_err("twice");
        assert!(e.rows[0].error.contains("twice"));
        assert!(parse_csv("").is_err());
        assert!(parse_csv("title\n").is_err(), "no rows: nothing to import");
    }

    #[test]
    fn duplicate_external_keys_and_blank_rows() {
        let e = parse_csv("title,key\na,K-1\n,\nb,K-1\n").expect_err("dup");
        assert_eq!(e.rows.len(), 1);
        assert_eq!(e.rows[0].line, 4);
        assert!(e.rows[0].error.contains("line 2"));
    }

    #[test]
    fn over_the_domain_limit_is_refused() {
        let mut body = String::from("title\n");
        for i in 0..=limits::IMPORT {
            body.push_str(&format!("item {i}\n"));
        }
        let e = parse_csv(&body).expect_err("too many");
        assert!(e.message.contains("at most 500"), "{}", e.message);
        // Exactly the limit passes.
        let ok: String = std::iter::once("title\n".to_string())
            .chain((0..limits::IMPORT).map(|i| format!("item {i}\n")))
            .collect();
        assert_eq!(parse_csv(&ok).map(|d| d.len()), Ok(limits::IMPORT));
    }

    #[test]
    fn jira_with_null_and_document_descriptions() {
        let body = r#"{"startAt":0,"issues":[
            {"key":"PRJ-1","fields":{"summary":"Login","description":null,"labels":["auth","auth","web"]}},
            {"key":"PRJ-2","fields":{"summary":"Export","description":"CSV, please"}},
            {"key":"PRJ-3","fields":{"summary":"Doc","description":{"type":"doc","version":1,"content":[
                {"type":"paragraph","content":[{"type":"text","text":"first"}]},
                {"type":"paragraph","content":[{"type":"text","text":"second"}]}]}}}
        ]}"#;
        let ds = parse_jira(body).expect("parses");
        assert_eq!(ds.len(), 3);
        assert_eq!(ds[0].description, "");
        assert_eq!(ds[0].labels, vec!["auth", "web"]);
        assert_eq!(ds[0].external_key.as_deref(), Some("PRJ-1"));
        assert_eq!(ds[1].description, "CSV, please");
        assert_eq!(ds[2].description, "first\nsecond");
    }

    #[test]
    fn jira_bad_issues_are_reported_by_position() {
        let body = r#"{"issues":[
            {"key":"A-1","fields":{"summary":"ok"}},
            {"key":"A-2","fields":{"summary":""}},
            {"key":"A-3"},
            {"key":"A-4","fields":{"summary":"x","labels":"notalist"}}]}"#;
        let e = parse_jira(body).expect_err("refused");
        let lines: Vec<u64> = e.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        assert!(parse_jira("{\"total\":0}").is_err());
        let e = parse_jira("{\n\"issues\": [,]}").expect_err("syntax");
        assert_eq!(e.rows[0].line, 2);
    }

    #[test]
    fn format_names() {
        assert_eq!(Format::parse("CSV"), Some(Format::Csv));
        assert_eq!(Format::parse("jira"), Some(Format::Jira));
        assert_eq!(Format::parse("xml"), None);
    }
}
