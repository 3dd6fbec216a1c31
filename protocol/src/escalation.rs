//! Types of escalation to the crisis line: a counsellor's signed request to
//! bring a crisis responder into a chat, the responders' duty state, and
//! the escalation as staff see it.
//!
//! Nothing here carries content: an escalation is a severity, a category,
//! times and who is involved on the staff side.

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::frame::Bytes;
use crate::intake::StaffBadge;

/// Domain-separation label of an escalation signature.
pub const ESCALATION_LABEL: &[u8] = b"parasol/v1/escalation";

/// How many seconds an escalation's `issued_at` may differ from the
/// server's clock (a replayed or long-delayed request is refused).
pub const ESCALATION_MAX_SKEW_SECS: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Violence,
    Trafficking,
    Medical,
    SuicideRisk,
    Other,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Violence => "violence",
            Category::Trafficking => "trafficking",
            Category::Medical => "medical",
            Category::SuicideRisk => "suicide_risk",
            Category::Other => "other",
        }
    }
}

/// open → accepted → resolved or handed_off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationStatus {
    /// Waiting for an on-duty responder to accept.
    Open,
    /// A responder accepted; the counsellor's client adds them to the chat.
    Accepted,
    /// The emergency was dealt with; the chat goes on as before.
    Resolved,
    /// The counsellor stepped back: the responder has the chat.
    HandedOff,
}

impl EscalationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationStatus::Open => "open",
            EscalationStatus::Accepted => "accepted",
            EscalationStatus::Resolved => "resolved",
            EscalationStatus::HandedOff => "handed_off",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, EscalationStatus::Resolved | EscalationStatus::HandedOff)
    }
}

/// How an accepted escalation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationOutcome {
    /// The responder (or the counsellor) closes the emergency; the
    /// counsellor keeps the chat.
    Resolved,
    /// The counsellor leaves the chat to the responder.
    HandedOff,
}

/// A crisis responder's duty state, separate from counsellors' shifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DutyState {
    OnDuty,
    OffDuty,
}

/// The counsellor's signed request, relayed to responders as it was made:
/// a responder's client checks `signature` against the counsellor's badge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedEscalation {
    pub group_id: Bytes,
    pub severity: Severity,
    pub category: Category,
    /// Unix seconds when the counsellor made the request.
    pub issued_at: u64,
    /// Ed25519 over [`escalation_transcript`] by the counsellor's session key.
    pub signature: Bytes,
}

/// An escalation as staff see it. No content, no visitor identifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationEntry {
    pub escalation_id: u64,
    pub status: EscalationStatus,
    pub request: SignedEscalation,
    /// The chat's language, so a responder who speaks it can take it.
    pub language: String,
    /// Who asked, as attested by the server.
    pub counsellor: StaffBadge,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responder: Option<StaffBadge>,
    /// Seconds since it was raised.
    pub waited_secs: u32,
    /// How many times responders were notified again for lack of an answer.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub renotified: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

/// The bytes a counsellor signs to escalate a chat. Fields are
/// length-prefixed (4-byte big-endian), like the attestation transcript:
///
/// ```text
/// len ‖ "parasol/v1/escalation"
/// len ‖ group_id
/// len ‖ severity   (snake_case)
/// len ‖ category   (snake_case)
/// len ‖ issued_at  (8 bytes, big-endian Unix seconds)
/// ```
pub fn escalation_transcript(group_id: &[u8], severity: Severity, category: Category, issued_at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 * 4 + ESCALATION_LABEL.len() + group_id.len() + 24);
    push_field(&mut out, ESCALATION_LABEL);
    push_field(&mut out, group_id);
    push_field(&mut out, severity.as_str().as_bytes());
    push_field(&mut out, category.as_str().as_bytes());
    push_field(&mut out, &issued_at.to_be_bytes());
    out
}

impl SignedEscalation {
    /// Whether `signer` (an Ed25519 public key) signed this request.
    pub fn verify(&self, signer: &[u8]) -> bool {
        let (Ok(key), Ok(sig)) = (
            <[u8; 32]>::try_from(signer),
            <[u8; 64]>::try_from(self.signature.0.as_slice()),
        ) else {
            return false;
        };
        let Ok(key) = VerifyingKey::from_bytes(&key) else {
            return false;
        };
        let transcript = escalation_transcript(&self.group_id.0, self.severity, self.category, self.issued_at);
        key.verify_strict(&transcript, &Signature::from_bytes(&sig)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(key: &SigningKey, group: &[u8]) -> SignedEscalation {
        let t = escalation_transcript(group, Severity::Critical, Category::Trafficking, 1_800_000_000);
        SignedEscalation {
            group_id: Bytes(group.to_vec()),
            severity: Severity::Critical,
            category: Category::Trafficking,
            issued_at: 1_800_000_000,
            signature: Bytes(key.sign(&t).to_bytes().to_vec()),
        }
    }

    #[test]
    fn a_signed_escalation_verifies_only_unchanged_and_for_its_signer() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let other = SigningKey::from_bytes(&[4; 32]);
        let e = signed(&key, b"group-1");
        assert!(e.verify(key.verifying_key().as_bytes()));
        assert!(!e.verify(other.verifying_key().as_bytes()));
        assert!(!e.verify(&[1, 2, 3]));
        let mut changed = e.clone();
        changed.severity = Severity::High;
        assert!(!changed.verify(key.verifying_key().as_bytes()));
        let mut moved = e.clone();
        moved.group_id = Bytes(b"group-2".to_vec());
        assert!(!moved.verify(key.verifying_key().as_bytes()));
        let mut short = e;
        short.signature.0.truncate(10);
        assert!(!short.verify(key.verifying_key().as_bytes()));
    }

    #[test]
    fn the_transcript_is_length_prefixed_and_fixed() {
        let t = escalation_transcript(b"g", Severity::High, Category::SuicideRisk, 1);
        let mut expected = Vec::new();
        for field in [
            ESCALATION_LABEL,
            b"g".as_slice(),
            b"high".as_slice(),
            b"suicide_risk".as_slice(),
            &1u64.to_be_bytes(),
        ] {
            expected.extend_from_slice(&(field.len() as u32).to_be_bytes());
            expected.extend_from_slice(field);
        }
        assert_eq!(t, expected);
    }
}
