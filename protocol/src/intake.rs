//! Types of the intake queue and the counsellors' shifts: tickets, offers,
//! the staff badge a visitor checks, and the help a refused visitor gets.
//!
//! Nothing here carries content: a ticket is a language, a topic, an
//! urgency flag and times.

use serde::{Deserialize, Serialize};

use crate::frame::Bytes;
use crate::staff::StaffRole;

/// Where a visitor's ticket stands, as the visitor sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketState {
    pub ticket_id: u64,
    pub status: TicketStatus,
    /// Present only in the answer that creates or resumes the ticket: the
    /// secret that lets a new connection reclaim it. The server keeps only
    /// its hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_secret: Option<Bytes>,
    /// Seconds a disconnected visitor has to come back before the ticket
    /// is given up.
    pub resume_grace_secs: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // a push per change; boxing buys nothing
pub enum TicketStatus {
    /// In the queue. `position` counts from 1 among the waiting tickets of
    /// the same language, in serving order (urgent first, then oldest).
    ///
    /// `nobody_available`: no counsellor who speaks the ticket's language
    /// is taking chats right now (all on break, clocked out or offline).
    /// `estimated_wait_secs` is then only a guess from past waits, and the
    /// client says so instead of showing it as a time. Absent means false.
    Waiting {
        position: u32,
        estimated_wait_secs: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        nobody_available: bool,
    },
    /// A counsellor has the chat. When `add_counsellor` is set, the
    /// visitor's client must add that counsellor to the group (transfer or
    /// hand-over), after checking the badge.
    InChat {
        group_id: Bytes,
        counsellor: StaffBadge,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        transferred: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        add_counsellor: Option<CounsellorToAdd>,
        /// Crisis responders brought in by an escalation: the client shows
        /// "a crisis counsellor has joined" when the commit adding one of
        /// these keys arrives, after checking the badge.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        responders: Vec<StaffBadge>,
        /// Set with `add_counsellor` when a supervisor moved the chat
        /// because its counsellor was away (`rescue_chat`): the client
        /// tells the visitor so in words.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rescued: bool,
    },
    /// The ticket ended; nothing more will happen on it.
    Closed { reason: ClosedReason },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedReason {
    /// The visitor cancelled.
    Cancelled,
    /// The counsellor closed the chat.
    Closed,
    /// The visitor did not come back within the grace period.
    Abandoned,
    /// A counsellor blocked the session.
    Blocked,
}

/// The one feedback question after a chat: did it help? Counted per day,
/// never linked to a chat or a visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackAnswer {
    Helped,
    Somewhat,
    NotHelped,
}

impl FeedbackAnswer {
    /// The snake_case name, as on the wire and in the statistics.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackAnswer::Helped => "helped",
            FeedbackAnswer::Somewhat => "somewhat",
            FeedbackAnswer::NotHelped => "not_helped",
        }
    }
}

/// A counsellor the visitor's client is asked to add to its chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounsellorToAdd {
    pub badge: StaffBadge,
    /// A key package of the counsellor; its credential key must equal the
    /// badge's `signature_key`.
    pub key_package: Bytes,
}

/// The server's statement that a signature key belongs to a staff member
/// with this role and display name, until `expires_at`. `attestation` is
/// the server's Ed25519 signature over
/// [`crate::staff::attestation_transcript`]; clients verify it with the
/// attestation key from `intake_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffBadge {
    pub display_name: String,
    pub role: StaffRole,
    pub signature_key: Bytes,
    pub expires_at: u64,
    pub attestation: Bytes,
    /// Opaque, the same for every key of one staff account and different
    /// between accounts (16 bytes; empty on badges from before it
    /// existed). Covered by the attestation
    /// ([`crate::staff::tagged_attestation_transcript`]).
    #[serde(default, skip_serializing_if = "Bytes::is_empty")]
    pub account_tag: Bytes,
}

/// A ticket as staff see it: no content, no visitor identifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub ticket_id: u64,
    pub language: String,
    pub topic: String,
    pub urgent: bool,
    pub waited_secs: u32,
    /// Currently offered to a counsellor.
    pub offered: bool,
    /// A chat handed back by a counsellor who clocked out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub handover: bool,
}

/// A counsellor's shift state. Set explicitly, never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftState {
    /// On shift but not taking new chats.
    ClockedIn,
    /// Taking new chats.
    Available,
    OnBreak,
    ClockedOut,
}

/// A crisis line shown to visitors who cannot be served now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrisisLine {
    /// The name in the deployment's default language.
    pub name: String,
    /// The name in other languages; a client shows the one of its page's
    /// language, else `name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<LocalName>,
    pub number: String,
    /// When it answers, in words, e.g. "24/7".
    pub hours: String,
}

/// A name in one language (`language`: a code of `intake.languages`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalName {
    pub language: String,
    pub name: String,
}

/// One opening window of the service, in its time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningWindow {
    /// 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// Minutes after midnight.
    pub opens: u16,
    pub closes: u16,
}

/// What every refused or off-hours visitor gets: where else to turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Help {
    pub crisis_lines: Vec<CrisisLine>,
    /// When the service opens next (Unix seconds), if it is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_open_at: Option<u64>,
}

/// A proof-of-work puzzle: find `nonce` (at most 16 bytes) such that
/// SHA-256("parasol/v1/pow" ‖ challenge ‖ client id ‖ nonce) starts with
/// `difficulty_bits` zero bits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowChallenge {
    pub challenge: Bytes,
    pub difficulty_bits: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowSolution {
    pub challenge: Bytes,
    pub nonce: Bytes,
}

/// One staff member on the supervisor board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardRow {
    /// For `rescue_chat`'s `to` (an opaque number).
    pub account_id: u64,
    pub display_name: String,
    pub role: StaffRole,
    pub shift: ShiftState,
    pub connected: bool,
    pub active_chats: u32,
    pub max_chats: u32,
}

/// A chat whose counsellor cannot answer it: she is offline, or clocked
/// out with it still open. A supervisor may `rescue_chat` it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrandedChat {
    pub ticket_id: u64,
    pub group_id: Bytes,
    pub language: String,
    /// The counsellor's display name and account.
    pub counsellor: String,
    pub counsellor_account: u64,
    pub reason: StrandedReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrandedReason {
    /// No connection of hers is open.
    Offline,
    /// Connected but clocked out.
    ClockedOut,
}

/// What a chat's counsellor is told about her visitor's connection. Only
/// the state, never where from or for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitorPresence {
    /// Connected.
    Here,
    /// Her connection dropped; she may come back with her resume secret.
    Reconnecting,
    /// She has been gone longer than the grace period, or said she left.
    Left,
    /// She pressed quick exit.
    QuickExit,
}

/// A sealed message left for the team outside opening hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamMessage {
    pub group_id: Bytes,
    pub language: String,
    pub left_at: u64,
}

/// The domain separator of the proof-of-work hash.
pub const POW_DOMAIN: &[u8] = b"parasol/v1/pow";
/// Longest accepted proof-of-work nonce.
pub const MAX_POW_NONCE_BYTES: usize = 16;

/// Leading zero bits of a SHA-256 digest.
pub fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte == 0 {
            bits += 8;
        } else {
            bits += byte.leading_zeros();
            break;
        }
    }
    bits
}

/// The proof-of-work digest of a solution attempt.
pub fn pow_digest(challenge: &[u8], client_id: &[u8], nonce: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(POW_DOMAIN);
    h.update(challenge);
    h.update(client_id);
    h.update(nonce);
    h.finalize().into()
}

/// Whether `nonce` solves `puzzle` for this client.
pub fn pow_solves(puzzle: &PowChallenge, client_id: &[u8], nonce: &[u8]) -> bool {
    nonce.len() <= MAX_POW_NONCE_BYTES
        && leading_zero_bits(&pow_digest(&puzzle.challenge.0, client_id, nonce)) >= u32::from(puzzle.difficulty_bits)
}

/// Search for a nonce (what a client does; about 2^difficulty hashes).
pub fn solve_pow(puzzle: &PowChallenge, client_id: &[u8]) -> Bytes {
    let mut counter: u64 = 0;
    loop {
        let nonce = counter.to_be_bytes();
        if pow_solves(puzzle, client_id, &nonce) {
            return Bytes(nonce.to_vec());
        }
        counter += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0x00, 0x10]), 11);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }

    #[test]
    fn a_solved_puzzle_verifies_and_binds_the_client() {
        let puzzle = PowChallenge {
            challenge: Bytes(vec![7; 32]),
            difficulty_bits: 10,
        };
        let nonce = solve_pow(&puzzle, b"client-a");
        assert!(pow_solves(&puzzle, b"client-a", &nonce.0));
        assert!(
            !pow_solves(&puzzle, b"client-b", &nonce.0) || {
                // A nonce may solve for both by chance (1 in 1024); a different
                // client id must at least change the digest.
                pow_digest(&puzzle.challenge.0, b"client-a", &nonce.0)
                    != pow_digest(&puzzle.challenge.0, b"client-b", &nonce.0)
            }
        );
        assert!(!pow_solves(&puzzle, b"client-a", &[0; 17]));
    }
}
