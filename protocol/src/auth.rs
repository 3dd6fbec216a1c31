//! The byte string a client signs to prove possession of its identity key.

/// Domain-separation label, so an authentication signature can never be
/// replayed as a signature in any other context (MLS labels its own).
pub const AUTH_LABEL: &[u8] = b"parasol/v1/authenticate";

/// Length of the server's challenge nonce.
pub const NONCE_LEN: usize = 32;
/// Length of an Ed25519 public key, which is a client's identity.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// `AUTH_LABEL || nonce || public_key`: what the client signs with Ed25519.
pub fn auth_transcript(nonce: &[u8], public_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(AUTH_LABEL.len() + nonce.len() + public_key.len());
    out.extend_from_slice(AUTH_LABEL);
    out.extend_from_slice(nonce);
    out.extend_from_slice(public_key);
    out
}
