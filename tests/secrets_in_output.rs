//! Credentials never reach what the binary prints: `--help` (which shows environment values),
//! `migrate`'s log line and the unsupported-URL error show a database's origin only.

mod common;

use std::process::{Command, Output};

const PASSWORD: &str = "pw-n0t-for-logs";

fn sprintlog(database_url: &str, args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sprintlog"))
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info")
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn help_does_not_print_the_database_password() {
    let (out, text) = sprintlog(
        &format!("postgres://ann:{PASSWORD}@db.example:5432/plans"),
        &["--help"],
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("DATABASE_URL"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[test]
fn an_unsupported_url_is_named_by_its_origin() {
    let (out, text) = sprintlog(
        &format!("mysql://ann:{PASSWORD}@db.example:3306/plans?ssl=true"),
        &["migrate"],
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("unsupported database url mysql://db.example:3306"),
        "{text}"
    );
    assert!(
        !text.contains(PASSWORD) && !text.contains("plans"),
        "{text}"
    );
}

#[tokio::test]
async fn migrate_logs_the_database_origin_only() {
    let Some(db) = common::fresh_pg("secrets_in_output::migrate").await else {
        return;
    };
    // The test server trusts local logins: any password is accepted, and must not be shown.
    let url = db
        .url
        .replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1);
    assert_ne!(url, db.url, "the test URL names user postgres: {}", db.url);
    let (out, text) = sprintlog(&url, &["migrate"]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("migrations applied"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    let name = db.url.rsplit('/').next().unwrap();
    assert!(!text.contains(name), "no path either: {text}");
}
