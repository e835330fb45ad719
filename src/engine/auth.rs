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

/// The participant id of a join (or creation) with a client-chosen token: keyed with the
/// server's key ([`crate::engine::commands::server_key`]), so a retried join names the same
/// participant (and the room's idempotency then applies it once), while nobody without the key
/// can test guessed tokens against the ids everyone in the planning sees. An RFC 9562
/// version 8 UUID from the first 16 bytes of HMAC-SHA256(key, planning ‖ token hash).
pub fn participant_for_token(key: &str, planning: uuid::Uuid, token_hash: &str) -> uuid::Uuid {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(b"sprintlog participant id\0");
    mac.update(planning.as_bytes());
    mac.update(token_hash.as_bytes());
    let d = mac.finalize().into_bytes();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_custom_bytes(b).into_uuid()
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

    /// The id follows from the key, the planning and the token: the same three give the same
    /// id (a retried join), another key another id (a guessed token cannot be checked against
    /// the ids without the server's key).
    #[test]
    fn participant_ids_need_the_server_key() {
        let (p, h) = (uuid::Uuid::from_u128(7), hash_secret(&"a".repeat(64)));
        let id = participant_for_token("key one", p, &h);
        assert_eq!(id, participant_for_token("key one", p, &h));
        assert_ne!(id, participant_for_token("key two", p, &h));
        assert_ne!(
            id,
            participant_for_token("key one", uuid::Uuid::from_u128(8), &h)
        );
        let unkeyed = derived_id(b"sprintlog participant id\0", &[p.as_bytes(), h.as_bytes()]);
        assert_ne!(id, unkeyed, "not the old unkeyed derivation");
    }
}
