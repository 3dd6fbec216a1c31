//! Staff roles and the server's attestation of a staff member's MLS
//! signature key.
//!
//! A counsellor's MLS credential is a bare public key, like everyone's. To
//! let a visitor see that they talk to a verified counsellor, the server
//! signs a statement binding that key to a role and a display name until a
//! time. Clients verify it with the server's attestation public key
//! (`GET /v1/attestation-key`, or pinned in the app).

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Domain-separation label of an attestation, so the server's signature can
/// never be taken for a signature in any other context.
pub const ATTESTATION_LABEL: &[u8] = b"parasol/v1/staff-attestation";

/// What a staff member may do. Stored and sent as snake_case strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Counsellor,
    Supervisor,
    CrisisResponder,
    Admin,
}

impl StaffRole {
    pub const ALL: [StaffRole; 4] = [
        StaffRole::Counsellor,
        StaffRole::Supervisor,
        StaffRole::CrisisResponder,
        StaffRole::Admin,
    ];

    /// The snake_case name, as on the wire and in the transcript.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Counsellor => "counsellor",
            StaffRole::Supervisor => "supervisor",
            StaffRole::CrisisResponder => "crisis_responder",
            StaffRole::Admin => "admin",
        }
    }
}

impl std::fmt::Display for StaffRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StaffRole {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StaffRole::ALL.into_iter().find(|r| r.as_str() == s).ok_or(UnknownRole)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown staff role (counsellor, supervisor, crisis_responder or admin)")]
pub struct UnknownRole;

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    // Fields are bounded far below 4 GiB (display names by the server);
    // saturating keeps this total, and an oversized field cannot verify.
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

/// The bytes the server signs to attest a staff member's MLS signature key.
///
/// Every field is written as a 4-byte big-endian length followed by its
/// bytes, so no two different statements share a transcript:
///
/// ```text
/// len ‖ "parasol/v1/staff-attestation"
/// len ‖ signature_key              (32 bytes, Ed25519 public key)
/// len ‖ role                       (UTF-8 snake_case, e.g. "counsellor")
/// len ‖ display_name               (UTF-8, as shown to the visitor)
/// len ‖ expires_at                 (8 bytes, big-endian Unix seconds)
/// ```
pub fn attestation_transcript(
    signature_key: &[u8; 32],
    role: StaffRole,
    display_name: &str,
    expires_at: u64,
) -> Vec<u8> {
    tagged_attestation_transcript(signature_key, role, display_name, expires_at, &[])
}

/// [`attestation_transcript`] with the badge's `account_tag` (an opaque
/// per-account value, so a client can tell two keys of one account from a
/// colleague's with the same name): when it is not empty, one more field
/// follows, `len ‖ account_tag`. An empty tag gives the untagged
/// transcript, byte for byte.
pub fn tagged_attestation_transcript(
    signature_key: &[u8; 32],
    role: StaffRole,
    display_name: &str,
    expires_at: u64,
    account_tag: &[u8],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(6 * 4 + ATTESTATION_LABEL.len() + 32 + 16 + display_name.len() + 8 + account_tag.len());
    push_field(&mut out, ATTESTATION_LABEL);
    push_field(&mut out, signature_key);
    push_field(&mut out, role.as_str().as_bytes());
    push_field(&mut out, display_name.as_bytes());
    push_field(&mut out, &expires_at.to_be_bytes());
    if !account_tag.is_empty() {
        push_field(&mut out, account_tag);
    }
    out
}

/// Whether `signature` is the server's (`server_key`) attestation of
/// `signature_key` with this role and display name, still valid at `now`
/// (Unix seconds). Uses Ed25519 `verify_strict` (no malleable signatures,
/// no weak keys).
pub fn verify_attestation(
    server_key: &[u8; 32],
    signature_key: &[u8; 32],
    role: StaffRole,
    display_name: &str,
    expires_at: u64,
    signature: &[u8; 64],
    now: u64,
) -> bool {
    verify_tagged_attestation(
        server_key,
        signature_key,
        role,
        display_name,
        expires_at,
        &[],
        signature,
        now,
    )
}

/// [`verify_attestation`] of a badge that carries an `account_tag`
/// ([`tagged_attestation_transcript`]; an empty tag is the untagged case).
#[allow(clippy::too_many_arguments)]
pub fn verify_tagged_attestation(
    server_key: &[u8; 32],
    signature_key: &[u8; 32],
    role: StaffRole,
    display_name: &str,
    expires_at: u64,
    account_tag: &[u8],
    signature: &[u8; 64],
    now: u64,
) -> bool {
    if expires_at <= now {
        return false;
    }
    let Ok(server) = VerifyingKey::from_bytes(server_key) else {
        return false;
    };
    let transcript = tagged_attestation_transcript(signature_key, role, display_name, expires_at, account_tag);
    server
        .verify_strict(&transcript, &Signature::from_bytes(signature))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn roles_round_trip_as_snake_case() {
        for role in StaffRole::ALL {
            assert_eq!(role.as_str().parse::<StaffRole>(), Ok(role));
        }
        assert_eq!("crisis_responder".parse(), Ok(StaffRole::CrisisResponder));
        assert_eq!("Counsellor".parse::<StaffRole>(), Err(UnknownRole));
    }

    #[test]
    fn a_signed_attestation_verifies_and_nothing_else_does() {
        let server = SigningKey::from_bytes(&[7; 32]);
        let server_pub = server.verifying_key().to_bytes();
        let key = [0xa1; 32];
        let sig = server
            .sign(&attestation_transcript(&key, StaffRole::Counsellor, "Ana", 1000))
            .to_bytes();
        assert!(verify_attestation(
            &server_pub,
            &key,
            StaffRole::Counsellor,
            "Ana",
            1000,
            &sig,
            999
        ));
        // Expired, other role, other name, other key, other server.
        assert!(!verify_attestation(
            &server_pub,
            &key,
            StaffRole::Counsellor,
            "Ana",
            1000,
            &sig,
            1000
        ));
        assert!(!verify_attestation(
            &server_pub,
            &key,
            StaffRole::Admin,
            "Ana",
            1000,
            &sig,
            999
        ));
        assert!(!verify_attestation(
            &server_pub,
            &key,
            StaffRole::Counsellor,
            "Anna",
            1000,
            &sig,
            999
        ));
        assert!(!verify_attestation(
            &server_pub,
            &[0xa2; 32],
            StaffRole::Counsellor,
            "Ana",
            1000,
            &sig,
            999
        ));
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert!(!verify_attestation(
            &other,
            &key,
            StaffRole::Counsellor,
            "Ana",
            1000,
            &sig,
            999
        ));
    }

    #[test]
    fn fields_cannot_slide_into_each_other() {
        let key = [1; 32];
        assert_ne!(
            attestation_transcript(&key, StaffRole::Admin, "ab", 1),
            attestation_transcript(&key, StaffRole::Admin, "a", 1)
        );
    }
}
