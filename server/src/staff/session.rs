//! Session tokens: 32 random bytes, base64url, handed to the client once.
//! The server keeps only SHA-256 of the token bytes, so a seized disk holds
//! no usable session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const TOKEN_BYTES: usize = 32;

/// What the server stores under the token's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub account_id: u64,
    pub created_at: u64,
    pub expires_at: u64,
}

/// A fresh token and its hash.
pub(crate) fn new_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    (URL_SAFE_NO_PAD.encode(bytes), Sha256::digest(bytes).into())
}

/// The hash a presented token is stored under, or `None` if it is not a
/// well-formed token.
pub(crate) fn hash_token(token: &str) -> Option<[u8; 32]> {
    if token.len() != 43 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    (bytes.len() == TOKEN_BYTES).then(|| Sha256::digest(&bytes).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_hash_the_same_way_they_were_made() {
        let (token, hash) = new_token();
        assert_eq!(token.len(), 43);
        assert_eq!(hash_token(&token), Some(hash));
        assert_eq!(hash_token(&token[1..]), None);
        assert_eq!(hash_token(&format!("{}=", &token[..42])), None);
        assert_eq!(hash_token("not a token"), None);
        assert_ne!(new_token().0, token);
    }
}
