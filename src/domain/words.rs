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
}
