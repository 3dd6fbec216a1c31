//! Password hashes: argon2id in PHC strings, which carry their own
//! parameters, so changing the configured cost affects new hashes only.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;

use crate::config::StaffConfig;

/// Longest password accepted (bytes); longer ones cannot log in.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Shortest password an admin may set.
pub const MIN_PASSWORD_CHARS: usize = 12;

pub(crate) fn params(config: &StaffConfig) -> Result<Params, argon2::Error> {
    Params::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
        None,
    )
}

/// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) for `password`.
/// CPU- and memory-heavy: call it off the async runtime.
pub(crate) fn hash(params: &Params, password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    Ok(argon.hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Whether `password` matches the PHC string `phc` (constant-time compare
/// inside the crate). A malformed hash never matches.
pub(crate) fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A random password for a new account or a reset: 144 bits, base64url.
pub fn generate() -> String {
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_their_parameters() {
        let p = Params::new(8, 1, 1, None).unwrap();
        let h = hash(&p, "correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{h}");
        assert!(verify(&h, "correct horse"));
        assert!(!verify(&h, "correct hors"));
        assert!(!verify("not a hash", "correct horse"));
        assert_ne!(hash(&p, "correct horse").unwrap(), h, "salted");
        assert_eq!(generate().len(), 24);
    }
}
