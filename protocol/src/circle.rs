//! Peer support circles: moderated group chats joined by invitation.
//!
//! The server knows a circle's name, language and topic (an invitation's
//! landing page shows them before anyone joins), which keys moderate it,
//! which are muted or have left, and the hashes of its invitation codes.
//! What members write, and the display names they use inside the circle,
//! travel only in MLS. A visitor uses a fresh key in every circle, so
//! nothing links one membership to another.

use serde::{Deserialize, Serialize};

use crate::frame::Bytes;

/// A circle as its moderators and members see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CircleInfo {
    pub circle_id: u64,
    pub group_id: Bytes,
    pub name: String,
    pub language: String,
    pub topic: String,
    /// Moderators' clients add whoever asks to join, without a decision.
    pub auto_approve: bool,
    /// Whether the asking key moderates this circle.
    pub moderator: bool,
    /// Members now (leaves of the MLS group).
    pub members: u32,
    pub max_members: u32,
}

/// An invitation as its moderators see it. `code` is given only in the
/// answer that creates it: the server keeps its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationState {
    pub invitation_id: u64,
    pub circle_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Unix seconds.
    pub expires_at: u64,
    pub max_uses: u32,
    pub uses: u32,
    pub revoked: bool,
}

/// What an invitation's landing page shows before anyone joins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationPreview {
    pub circle_id: u64,
    /// The circle's MLS group: the page accepts a Welcome to this group
    /// only, never one to any other group.
    pub group_id: Bytes,
    pub name: String,
    pub language: String,
    pub topic: String,
    pub auto_approve: bool,
}

/// A member of a circle as its members see it: the name is the one she
/// asked to join under (a counsellor's: her staff display name), bound to
/// her key by the server, so nobody posts under another's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CircleMember {
    pub client_id: Bytes,
    pub display_name: String,
    pub moderator: bool,
    /// A staff key (a counsellor running the circle).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub staff: bool,
    /// Muted by a moderator: her messages are refused. Told to moderators
    /// only, so a moderator's console shows it again after a reload.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub muted: bool,
}

/// Someone asked to join with an invitation. `display_name` is what they
/// chose for this circle only; `key_package` is what a moderator's client
/// adds them with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub request_id: u64,
    pub circle_id: u64,
    pub client_id: Bytes,
    pub display_name: String,
    pub key_package: Bytes,
    /// Unix seconds.
    pub requested_at: u64,
}

/// The longest circle name, topic, language or display name, in characters.
pub const MAX_CIRCLE_TEXT_CHARS: usize = 80;
/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 40;

/// Characters of an invitation code: Crockford's base32 (no I, L, O, U),
/// easy to read aloud and to type from a card handed out in outreach.
pub const INVITATION_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of an invitation code (60 bits).
pub const INVITATION_CODE_CHARS: usize = 12;

/// An invitation code as typed: case and separators (spaces, dashes) do
/// not matter, and the look-alikes O, I and L read as 0, 1 and 1. `None`
/// if it cannot be a code.
pub fn normalize_invitation_code(typed: &str) -> Option<String> {
    let mut code = String::with_capacity(INVITATION_CODE_CHARS);
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !INVITATION_ALPHABET.contains(&(c as u8)) {
            return None;
        }
        code.push(c);
    }
    (code.len() == INVITATION_CODE_CHARS).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_are_normalized() {
        assert_eq!(
            normalize_invitation_code("abcd-efgh-jkmn").as_deref(),
            Some("ABCDEFGHJKMN")
        );
        assert_eq!(
            normalize_invitation_code("o1il 2345 6789").as_deref(),
            Some("011123456789")
        );
        assert_eq!(normalize_invitation_code("ABCD-EFGH-JKM"), None, "too short");
        assert_eq!(
            normalize_invitation_code("ABCD-EFGH-JKMU"),
            None,
            "U is not a code character"
        );
        assert_eq!(normalize_invitation_code("ÄBCD-EFGH-JKMN"), None);
    }
}
