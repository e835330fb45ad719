//! The layers point one way: a module imports only from layers below it (see `src/lib.rs`).
//!
//! Read from the source text, so the rule holds for every path a module names (`use` lines and
//! inline `crate::…` paths alike), and a transport crate named in a lower layer fails too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each layer and the top-level modules it may name (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("read", &["domain"]),
    ("store", &[]),
    ("config", &[]),
    ("engine", &["domain", "read", "store", "config"]),
    ("http", &["domain", "read", "store", "config", "engine"]),
    // A websocket starts as an HTTP request: its upgrade authenticates like every route.
    (
        "ws",
        &["domain", "read", "store", "config", "engine", "http"],
    ),
    (
        "server",
        &["domain", "read", "store", "config", "engine", "http", "ws"],
    ),
];

/// Crates of the transport (HTTP, websockets), which only `http`, `ws` and `server` may use.
const TRANSPORT_CRATES: &[&str] = &[
    "axum",
    "hyper",
    "hyper_util",
    "http_body",
    "tokio_tungstenite",
    "tower_http",
];

/// Top-level module a source file belongs to (`src/engine/room.rs` → `engine`).
fn layer_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level modules named by `crate::NAME` in `text`, with the line of each, ignoring
/// comment lines (docs may point at any layer).
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let whole_word = i == 0 || !rest[..i].ends_with(|c: char| c.is_alphanumeric());
            if whole_word && !name.is_empty() {
                found.push((n + 1, name));
            }
            rest = after;
        }
    }
    found
}

/// Lines of `text` that name a transport crate (`axum::…`, `use hyper…`).
fn transport_uses(text: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for krate in TRANSPORT_CRATES {
            let path = format!("{krate}::");
            let hit = code.match_indices(&path).any(|(i, _)| {
                i == 0 || !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            if hit {
                found.push((n + 1, *krate));
            }
        }
    }
    found
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let Some(layer) = layer_of(&src, file) else {
            continue;
        };
        let Some(may) = allowed.get(layer.as_str()) else {
            wrong.push(format!("{}: not in a known layer", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read file");
        for (line, name) in crate_paths(&text) {
            if name != layer && !may.contains(&name.as_str()) {
                wrong.push(format!(
                    "{}:{line}: {layer} names crate::{name}",
                    file.display()
                ));
            }
        }
        if !["http", "ws", "server"].contains(&layer.as_str()) {
            for (line, krate) in transport_uses(&text) {
                wrong.push(format!("{}:{line}: {layer} uses {krate}", file.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_a_path_into_a_higher_layer() {
    let text = "use crate::domain::State;\n// crate::http in a comment\nlet x = crate::ws::f();";
    let names: Vec<String> = crate_paths(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["domain", "ws"]);
    assert_eq!(transport_uses("use axum::Json;\nmy_axum::x"), [(1, "axum")]);
}

/// Functions longer than `max` lines in `text` (name, first line, length). A function runs
/// from its `fn` line to the line where its braces balance again; braces inside strings are
/// counted too, which only ever lengthens a function.
fn long_functions(text: &str, max: usize) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let code = lines[i].trim_start();
        let is_fn = !code.starts_with("//")
            && code.split_whitespace().any(|w| w == "fn")
            && !code.trim_end().ends_with(';');
        if !is_fn {
            i += 1;
            continue;
        }
        let (mut depth, mut opened, mut end) = (0i64, false, i);
        for (j, line) in lines.iter().enumerate().skip(i) {
            depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            opened |= line.contains('{');
            end = j;
            if opened && depth <= 0 {
                break;
            }
        }
        if !opened {
            i += 1;
            continue;
        }
        if end - i + 1 > max {
            found.push((code.chars().take(60).collect(), i + 1, end - i + 1));
        }
        i = end + 1;
    }
    found
}

/// No function in `src/` is longer than 150 lines (issue 17).
#[test]
fn no_function_in_src_is_longer_than_150_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for (f, line, len) in long_functions(&text, 150) {
            long.push(format!("{}:{line}: {len} lines: {f}", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "functions over 150 lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_length_check_sees_a_long_function() {
    let body = "    let x = 1;\n".repeat(151);
    let text = format!("fn short() {{\n}}\n\nfn long() {{\n{body}}}\n");
    let found = long_functions(&text, 150);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].1, found[0].2), (4, 153));
}
