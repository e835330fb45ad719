//! Plain words for input the server cannot read: a body or websocket frame that is not JSON
//! or not of the expected shape, a query string of the wrong kind. Serde's own messages speak
//! Rust (`invalid type: string "x", expected u32`, backticks, type names); a client author and
//! the person in front of a screen get the field's name and what it takes instead.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

/// Why a JSON text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// Not JSON at all (or nested too deeply, or a number no machine holds): `bad_json`.
    Syntax(String),
    /// JSON, but not of the shape wanted (a field missing, unknown or of the wrong kind):
    /// `invalid_body`.
    Shape(String),
}

/// Parses `text` as a `T`, describing a refusal in plain words; `what` names the text in the
/// message ("the body", "the frame").
pub fn json<T: DeserializeOwned>(text: &[u8], what: &str) -> Result<T, Unreadable> {
    from_value(&parse(text, what)?)
}

/// Parses `text` as JSON of any shape (see [`json`]).
pub fn parse(text: &[u8], what: &str) -> Result<Value, Unreadable> {
    serde_json::from_slice(text).map_err(|e| syntax(&e, what))
}

/// Reads an already parsed JSON value as a `T` (see [`json`]).
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, Unreadable> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = segments(e.path());
        Unreadable::Shape(shape(value, path, &e.inner().to_string()))
    })
}

/// Parses a query string as a `T`, describing a refusal in plain words (`bad_query`).
pub fn query<T: DeserializeOwned>(raw: &str) -> Result<T, String> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let name = segments(e.path()).join(".");
        let message = e.inner().to_string();
        query_words(&name, &message)
    })
}

fn syntax(e: &serde_json::Error, what: &str) -> Unreadable {
    let message = e.to_string();
    let why = if message.contains("recursion limit") {
        format!("{what} is nested too deeply")
    } else if message.contains("number out of range") {
        format!("{what} holds a number too large to read")
    } else if e.is_eof() {
        format!("{what} ends before its JSON does")
    } else {
        format!(
            "{what} is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    };
    Unreadable::Syntax(why)
}

/// The field names of a path, without enum variants or unknown steps.
fn segments(path: &serde_path_to_error::Path) -> Vec<String> {
    path.iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// The names between backticks in a serde message (``unknown field `x`, expected `a` or `b` ``).
fn ticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

fn field(path: &[String]) -> String {
    if path.is_empty() {
        "the body".into()
    } else {
        format!("“{}”", path.join("."))
    }
}

fn one_of(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The plain message for a value of the wrong shape at `path` (the deepest field serde named;
/// inside a command, whose kind is read by its `type`, serde names only the command).
fn shape(root: &Value, mut path: Vec<String>, message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    let names = ticked(message);
    if let Some(rest) = message.strip_prefix("missing field ") {
        path.push(ticked(rest).first().copied().unwrap_or(rest).to_string());
        return format!("{} is missing", field(&path));
    }
    if message.starts_with("unknown field ") {
        let name = names.first().copied().unwrap_or("?");
        // Serde's path may already end at the unknown key.
        if path.last().is_some_and(|last| last == name) {
            path.pop();
        }
        path = holder(root, path, name);
        path.push(name.to_string());
        let known = one_of(names.get(1..).unwrap_or_default());
        return format!("{} is not a field here (known: {known})", field(&path));
    }
    if message.starts_with("unknown variant ") {
        let given = names.first().copied().unwrap_or("?");
        let known = one_of(names.get(1..).unwrap_or_default());
        let mut tag = path.clone();
        tag.push("type".into());
        let path = if at(root, &tag).and_then(Value::as_str) == Some(given) {
            tag
        } else {
            deeper(root, path, &format!("string {}", Value::from(given)))
        };
        return format!("{} cannot be “{given}” (known: {known})", field(&path));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (got, want) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let path = deeper(root, path, got);
        return format!(
            "{} must be {}, not {}",
            field(&path),
            wanted(want),
            given(got)
        );
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (got, want) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let path = deeper(root, path, got);
        return format!("{} must be {}", field(&path), wanted(want));
    }
    if message.starts_with("invalid length ") {
        return format!("{} has the wrong number of entries", field(&path));
    }
    if message.contains("UUID") || message.contains("uuid") {
        return format!("{} is not an id", field(&not_an_id(root, path)));
    }
    if message.contains("out of range") {
        return format!("{} is out of range", field(&path));
    }
    format!("{} is not valid", field(&path))
}

/// Where the object holding field `name` is, at or under `path` (inside a command serde
/// names only the command): the first one found, else `path`.
fn holder(root: &Value, path: Vec<String>, name: &str) -> Vec<String> {
    fn walk(v: &Value, name: &str, path: &mut Vec<String>, depth: usize) -> bool {
        match v {
            Value::Object(m) if m.contains_key(name) => true,
            Value::Object(_) | Value::Array(_) if depth < 8 => {
                children(v).into_iter().any(|(key, child)| {
                    path.push(key);
                    let found = walk(child, name, path, depth + 1);
                    if !found {
                        path.pop();
                    }
                    found
                })
            }
            _ => false,
        }
    }
    let mut found = path.clone();
    match at(root, &path) {
        Some(v) if walk(v, name, &mut found, 0) => found,
        _ => path,
    }
}

/// A JSON value's members or elements with their keys (indices as text); none for a scalar.
fn children(v: &Value) -> Vec<(String, &Value)> {
    match v {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    }
}

fn at<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |v, key| match v {
        Value::Object(m) => m.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Inside a command serde names only the command: the field is found by the value serde
/// refused (`string "abc"`, ``integer `5` ``), the first one of that value under `path`.
fn deeper(root: &Value, path: Vec<String>, got: &str) -> Vec<String> {
    let Some(wanted) = refused_value(got) else {
        return path;
    };
    if !matches!(at(root, &path), Some(Value::Object(_) | Value::Array(_))) {
        return path;
    }
    let mut found = path.clone();
    if find(
        at(root, &path).unwrap_or(&Value::Null),
        &wanted,
        &mut found,
        0,
    ) {
        found
    } else {
        path
    }
}

/// Fields that hold ids (alone or in a list).
const ID_FIELDS: &[&str] = &[
    "item",
    "items",
    "round",
    "participant",
    "parent",
    "addressee",
    "criterion",
    "suggestion",
    "previous",
    "webhook",
    "comment",
    "order",
    "dependencies",
    "planning",
];

/// Inside a command, the field an id refusal is about: the first id field under `path` whose
/// text is not an id.
fn not_an_id(root: &Value, path: Vec<String>) -> Vec<String> {
    let Some(Value::Object(m)) = at(root, &path) else {
        return path;
    };
    let bad = |v: &Value| v.as_str().is_some_and(|s| s.parse::<uuid::Uuid>().is_err());
    for (key, v) in m.iter().filter(|(k, _)| ID_FIELDS.contains(&k.as_str())) {
        let mut found = path.clone();
        found.push(key.clone());
        if bad(v) {
            return found;
        }
        if let Some(i) = v
            .as_array()
            .and_then(|a| a.iter().position(|x| !x.is_string() || bad(x)))
        {
            found.push(i.to_string());
            return found;
        }
    }
    path
}

/// The JSON value of serde's description of what it got, where it names one.
fn refused_value(got: &str) -> Option<Value> {
    if let Some(s) = got.strip_prefix("string ") {
        return serde_json::from_str::<String>(s).ok().map(Value::String);
    }
    let inner = *ticked(got).first()?;
    if got.starts_with("integer") || got.starts_with("floating point") {
        let n: serde_json::Number = serde_json::from_str(inner).ok()?;
        return Some(Value::Number(n));
    }
    if got.starts_with("boolean") {
        return inner.parse().ok().map(Value::Bool);
    }
    None
}

fn find(v: &Value, wanted: &Value, path: &mut Vec<String>, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    for (key, child) in children(v) {
        path.push(key);
        if same(child, wanted) || find(child, wanted, path, depth + 1) {
            return true;
        }
        path.pop();
    }
    false
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// What serde expected, in words.
fn wanted(want: &str) -> String {
    let want = want.trim();
    let whole = |w: &str| w.len() <= 5 && (w.starts_with('u') || w.starts_with('i'));
    if whole(want) && want.starts_with('u') {
        "a whole number, 0 or more".into()
    } else if whole(want) {
        "a whole number".into()
    } else if want.starts_with('f') && want.len() <= 3 {
        "a number".into()
    } else if want.contains("string") && !want.contains("UUID") {
        "text".into()
    } else if want.contains("bool") {
        "true or false".into()
    } else if want.contains("sequence") || want.contains("tuple") || want.contains("Vec") {
        "a list".into()
    } else if want.contains("UUID") {
        "an id".into()
    } else if want.contains("variant") {
        "one of the words it takes".into()
    } else if want.contains("struct") || want.contains("map") || want.contains("enum") {
        "an object".into()
    } else if !want.is_empty() && !want.contains('`') && !want.contains("::") {
        want.to_string()
    } else {
        "a value of another kind".into()
    }
}

/// What serde got, in words.
fn given(got: &str) -> &'static str {
    match got.split_whitespace().next().unwrap_or("") {
        "string" | "char" => "text",
        "integer" | "floating" => "a number",
        "boolean" => "true or false",
        "sequence" => "a list",
        "map" => "an object",
        "null" | "unit" => "null",
        _ => "a value of another kind",
    }
}

/// The plain message for a query parameter that is not of its kind.
fn query_words(name: &str, message: &str) -> String {
    if name.is_empty() && !message.starts_with("missing field ") {
        return "the query string is not valid (a parameter given twice, or not URL-encoded)"
            .into();
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let missing = ticked(rest).first().copied().unwrap_or(rest).to_string();
        return format!("the query parameter {missing} is missing");
    }
    if message.starts_with("unknown variant ") {
        let names = ticked(message);
        return format!(
            "the query parameter {name} cannot be “{}” (known: {})",
            names.first().copied().unwrap_or("?"),
            one_of(names.get(1..).unwrap_or_default())
        );
    }
    let kind = if message.contains("true") && message.contains("false") {
        "true or false"
    } else if message.contains("too large") || message.contains("too small") {
        return format!("the query parameter {name} is out of range");
    } else if message.contains("digit") || message.contains("integer") {
        "a whole number"
    } else if message.contains("float") {
        "a number"
    } else {
        return format!("the query parameter {name} is not valid");
    };
    format!("the query parameter {name} must be {kind}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        op: String,
        #[serde(default)]
        seq: Option<i64>,
        command: crate::domain::command::Command,
    }

    fn shape_of(text: &str) -> String {
        match json::<Body>(text.as_bytes(), "the body") {
            Err(Unreadable::Shape(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_name_the_field_in_plain_words() {
        let cases = [
            (r#"{"op":"a"}"#, "“command” is missing"),
            (
                r#"{"op":"a","command":{"type":"DraftGoal"}}"#,
                "“command.text” is missing",
            ),
            (
                r#"{"op":"a","command":{"type":"DraftGoal","text":"g","x":1}}"#,
                "“command.x” is not a field here (known: text)",
            ),
            (
                r#"{"op":"a","command":{"type":"ProposeItem","draft":{"title":"t","colour":1}}}"#,
                "“command.draft.colour” is not a field here",
            ),
            (
                r#"{"op":"a","command":{"type":"ChangePhase","to":"nowhere"}}"#,
                "“command.to” cannot be “nowhere”",
            ),
            (
                r#"{"op":"a","command":{"type":"Nope"}}"#,
                "“command.type” cannot be “Nope”",
            ),
            (
                r#"{"op":"a","seq":"12","command":{"type":"CommitGoal"}}"#,
                "“seq” must be a whole number, not text",
            ),
            (
                r#"{"op":"a","command":{"type":"SetVelocity","points_per_day":"fast"}}"#,
                "“command.points_per_day” must be",
            ),
            (
                r#"{"op":"a","command":{"type":"EditItem","item":"x","patch":{}}}"#,
                "“command.item” is not an id",
            ),
            (
                r#"{"op":5,"command":{"type":"CommitGoal"}}"#,
                "“op” must be text, not a number",
            ),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .map(|(text, want)| (text, want, shape_of(text)))
            .filter(|(_, want, got)| {
                !got.starts_with(**want) || got.contains('`') || got.contains("i64")
            })
            .map(|(text, _, got)| format!("{text}: {got}"))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
        assert_eq!(
            json::<Body>(b"{nope", "the frame").err(),
            Some(Unreadable::Syntax(
                "the frame is not valid JSON (line 1, column 2)".into()
            ))
        );
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Page {
        limit: Option<u32>,
        #[serde(default)]
        chapters: bool,
    }

    #[test]
    fn query_refusals_name_the_parameter() {
        assert_eq!(
            query::<Page>("limit=ten").unwrap_err(),
            "the query parameter limit must be a whole number"
        );
        assert_eq!(
            query::<Page>("chapters=yes").unwrap_err(),
            "the query parameter chapters must be true or false"
        );
        assert!(query::<Page>("limit=5&chapters=true").is_ok());
    }
}
