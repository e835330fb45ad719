//! Comparing hashes of secrets (tokens, invites) in time independent of their contents.

use subtle::ConstantTimeEq;

/// Whether two hashes of secrets are equal, compared in constant time (`subtle`, whose
/// comparison the optimiser cannot turn back into an early exit). Only the lengths, which are
/// public (every hash is 64 hex digits), may end it early.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_hashes_only() {
        let a = "a".repeat(64);
        assert!(same_hash(&a, &a.clone()));
        assert!(!same_hash(&a, &format!("{}b", "a".repeat(63))));
        assert!(!same_hash(&a, &"a".repeat(63)));
        assert!(!same_hash("", &a));
    }
}
