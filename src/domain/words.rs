//! Plain words for counts and nouns in server texts: `1 item`, `2 items`, `an answer`.

/// `n` with the noun in the right number: `1 item`, `0 items`, `3 criteria`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `items`-style counts, the common case of [`plural`].
pub fn items(n: usize) -> String {
    plural(n, "item", "items")
}

/// The indefinite article for a word: `an answer`, `a question` (by its first letter, which
/// is enough for the fixed nouns the server writes).
pub fn a(word: &str) -> String {
    let article = if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {word}")
}

/// A person's text inside a sentence: `“Login page”` (never Rust's `"…"` with escapes).
pub fn quoted(text: &str) -> String {
    format!("“{text}”")
}

/// Why a text meant for people is not plain words, if it is not: it shows an id (a UUID) or
/// Rust's debug output (`CriterionId(…)`, `Some(…)`, `Phase::Async`, `{ … }`, `"…"`). What
/// people wrote themselves, [`quoted`], is theirs: only an id in it counts.
pub fn not_plain(text: &str) -> Option<&'static str> {
    let mut own = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '“' => depth += 1,
            '”' => depth = depth.saturating_sub(1),
            c if depth == 0 => own.push(c),
            _ => {}
        }
    }
    // Ids anywhere, even quoted; debug forms outside what people wrote.
    let b = text.as_bytes();
    let hex = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_hexdigit);
    let uuid = (0..b.len().saturating_sub(35)).any(|i| {
        hex(i..i + 8)
            && b[i + 8] == b'-'
            && hex(i + 9..i + 13)
            && b[i + 13] == b'-'
            && hex(i + 14..i + 18)
            && b[i + 18] == b'-'
            && hex(i + 19..i + 23)
            && b[i + 23] == b'-'
            && hex(i + 24..i + 36)
    });
    if uuid {
        return Some("an id");
    }
    let called = own
        .as_bytes()
        .windows(2)
        .any(|w| (w[0].is_ascii_alphanumeric() || w[0] == b'_') && w[1] == b'(');
    if called || own.contains("::") {
        return Some("a Rust name");
    }
    if own.contains(['{', '}', '"', '\\']) {
        return Some("debug output");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_articles_read_right() {
        assert_eq!(items(1), "1 item");
        assert_eq!(items(0), "0 items");
        assert_eq!(plural(3, "criterion", "criteria"), "3 criteria");
        assert_eq!(a("answer"), "an answer");
        assert_eq!(a("question"), "a question");
    }

    #[test]
    fn ids_and_debug_output_are_not_plain() {
        assert_eq!(not_plain("“Login” is not ready: “Has AC” is not met"), None);
        assert_eq!(not_plain("it is (the facilitator can override)"), None);
        let id = "item 79678bde-1c2d-4e5f-8a9b-0c1d2e3f4a5b is not ready";
        assert_eq!(not_plain(id), Some("an id"));
        assert_eq!(
            not_plain("criteria [CriterionId(9a2b)] failed"),
            Some("a Rust name")
        );
        assert_eq!(
            not_plain("already in phase Phase::Async"),
            Some("a Rust name")
        );
        assert_eq!(
            not_plain("card \"x\" is not in the deck"),
            Some("debug output")
        );
        assert_eq!(not_plain("NotReady { item }"), Some("debug output"));
        assert_eq!(quoted("Login"), "“Login”");
        // A person's own words are theirs: “f(x) {a}” is not debug output.
        assert_eq!(not_plain("card “f(x) {a}” appears twice"), None);
        let hidden = "“x” then 79678bde-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(not_plain(hidden), Some("an id"));
    }
}
