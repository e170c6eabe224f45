//! Passwords and bearer secrets.
//!
//! Passwords are hashed with Argon2id. API tokens and WebSocket tickets are 256-bit random secrets
//! that the database stores only as SHA-256 hashes, so a leaked database holds no usable token.

use std::sync::LazyLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The shortest password the server accepts.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Hashes a password for storage.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))
}

/// Checks a password against a stored hash; a corrupt hash never matches.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the email is unknown, so both failures take the same time and
/// the response time does not reveal which emails have accounts.
pub static UNKNOWN_USER_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("no-such-user-placeholder").unwrap_or_default());

/// A new random secret: `prefix` followed by 32 random bytes in URL-safe base64.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The form in which secrets are stored and looked up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horse!", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn secrets_are_random_and_stored_hashed() {
        let a = new_secret("bt_");
        let b = new_secret("bt_");
        assert_ne!(a, b);
        assert!(a.starts_with("bt_") && a.len() == 3 + 43);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert!(!hash_secret(&a).contains(&a));
    }
}
