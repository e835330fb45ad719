//! Secrets: personal tokens and invite secrets are random 256-bit strings, stored only hashed.
//!
//! A token is looked up by its SHA-256 among the planning's participants, and invites and admin
//! tokens are checked by theirs; every such comparison of hashes is constant-time
//! ([`crate::domain::secret::same_hash`], on `subtle`).

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh random secret: 32 bytes from the OS CSPRNG, hex encoded.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Whether a token a client chose itself (see `POST …/join`) is acceptable: 64 lowercase hex
/// characters, the shape of [`new_secret`]'s (the server cannot check how it was drawn; a
/// client that picks a guessable one only exposes itself).
pub fn is_client_token(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The participant id of a join with a client-chosen token: derived from the token's hash, so
/// a retried join names the same participant (and the room's idempotency then applies it
/// once). Participant ids are public within a planning; the token cannot be recovered from one.
pub fn participant_for_token(planning: uuid::Uuid, token_hash: &str) -> uuid::Uuid {
    derived_id(
        b"sprintlog participant id\0",
        &[planning.as_bytes(), token_hash.as_bytes()],
    )
}

/// An id that follows from `parts` (under a `purpose` prefix that keeps kinds of ids apart):
/// the same parts give the same id, so a retried creation names what the first one created.
/// An RFC 9562 version 8 (custom) UUID from the first 16 bytes of their SHA-256.
pub fn derived_id(purpose: &[u8], parts: &[&[u8]]) -> uuid::Uuid {
    let mut h = Sha256::new();
    h.update(purpose);
    for part in parts {
        h.update(part);
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_custom_bytes(b).into_uuid()
}

/// SHA-256 of a secret, lowercase hex (what the log stores).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// SHA-256 of arbitrary bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    crate::domain::secret::same_hash(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hash_to_64_hex() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(hash_secret(&a).len(), 64);
        assert!(constant_time_eq(&hash_secret(&a), &hash_secret(&a)));
        assert!(!constant_time_eq(&hash_secret(&a), &hash_secret(&b)));
    }
}
