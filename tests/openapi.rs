//! `GET /api/openapi.json` is an OpenAPI 3.1 document that names exactly the routes the server
//! has: every `(method, path)` registered with `.route(…)` in `src/` is in it, and every
//! operation in it is registered. The routes are read from the source text (so a new route
//! without an annotation, or an annotation left behind by a removed route, fails here), and
//! each documented operation is also asked of the running server, which must not answer that
//! the path or the method is unknown.

mod common;

use common::server::{sqlite, TestServer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

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

/// The text of a call's arguments: from just after `(` to its matching `)`.
fn call_args(text: &str) -> &str {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            _ => {}
        }
    }
    text
}

/// `(method, path)` of every `.route("path", method(h).method(h2))` in `text`.
fn routes_in(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let args = call_args(rest);
        let Some(open) = args.find('"') else { continue };
        let Some(len) = args[open + 1..].find('"') else {
            continue;
        };
        let path = &args[open + 1..open + 1 + len];
        let handlers = &args[open + 1 + len..];
        for m in METHODS {
            // `get(`, `.get(` or `routing::get(`, not `target(` or `forget(`.
            let mut h = handlers;
            while let Some(j) = h.find(&format!("{m}(")) {
                let before = h[..j].chars().last();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    found.push((m.to_uppercase(), path.to_string()));
                }
                h = &h[j + m.len() + 1..];
            }
        }
    }
    found
}

fn routed() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut all = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        all.extend(routes_in(&text));
    }
    all
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                all.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    all
}

#[test]
fn the_route_reader_sees_methods_and_multi_line_routes() {
    let text = r#"
        Router::new()
            .route("/a/{id}", post(register).get(list))
            .route(
                "/b",
                axum::routing::get(crate::x::upgrade),
            )
            .route("/c", delete(forget_all))
    "#;
    assert_eq!(
        routes_in(text),
        vec![
            ("GET".into(), "/a/{id}".into()),
            ("POST".into(), "/a/{id}".into()),
            ("GET".into(), "/b".into()),
            ("DELETE".into(), "/c".into()),
        ]
    );
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_exists() {
    let t = TestServer::start(sqlite()).await;
    let resp = t
        .http
        .get(format!("{}/api/openapi.json", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0", "{doc}");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let routed = routed();
    assert!(
        routed.len() > 30,
        "the route reader found too few: {routed:?}"
    );
    let documented = documented(&doc);
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "routed but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");

    // Every path parameter is declared, and every documented operation reaches a handler:
    // no 404 "not found" from the fallback, no 405.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        for name in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
            assert!(declared, "{method} {path}: {{{name}}} is not declared");
        }
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        let concrete = path
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{pid}", "00000000-0000-4000-8000-000000000001")
            .replace("{item}", "00000000-0000-4000-8000-000000000002")
            .replace("{webhook}", "00000000-0000-4000-8000-000000000003");
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = t
            .http
            .request(m, format!("{}{concrete}", t.base))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path}: {body}");
        assert!(
            status != 404 || body.starts_with('{'),
            "{method} {path} fell through to the web client: {body}"
        );
    }
}
