//! MessagePack encoding of frames. Decoders never panic: every failure is a
//! [`FrameError`] carrying the request id when it could be recovered.
//!
//! Decoding is strict (see [`crate::strict`]): a field of the wrong
//! MessagePack kind, an array where a map belongs, an integer of 2^53 or
//! more anywhere, floats, extension types, repeated or non-string keys and
//! trailing bytes are all `malformed_frame`.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ErrorCode, FrameError};
use crate::frame::{ClientFrame, ServerFrame, OPERATIONS};
use crate::limits::MAX_FRAME_BYTES;
use crate::strict::{self, truncate, MAX_DEPTH};
use crate::PROTOCOL_VERSION;

pub fn encode_client_frame(frame: &ClientFrame) -> Vec<u8> {
    encode(frame)
}

pub fn encode_server_frame(frame: &ServerFrame) -> Vec<u8> {
    encode(frame)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Frame types only contain maps, strings, integers and bytes.
    rmp_serde::to_vec_named(value).expect("frame types always serialize") // infallible
}

/// Strict decode of one value filling the whole buffer: the wire checks,
/// serde, then the input's kinds against the frame's own encoding.
fn decode_exact<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<T, String> {
    strict::check_value(bytes)?;
    let mut de = rmp_serde::Deserializer::new(bytes);
    de.set_max_depth(MAX_DEPTH + 1);
    let value = T::deserialize(&mut de).map_err(|e| e.to_string())?;
    if !de.get_ref().is_empty() {
        return Err("trailing bytes after the frame".into());
    }
    strict::same_shape(bytes, &encode(&value))?;
    Ok(value)
}

/// Decode a client frame of at most `max_len` bytes.
pub fn decode_client_frame(bytes: &[u8], max_len: usize) -> Result<ClientFrame, FrameError> {
    if bytes.len() > max_len {
        let id = strict::probe(bytes).and_then(|p| p.id);
        return Err(FrameError::new(
            ErrorCode::FrameTooLarge,
            id,
            format!("frame of {} bytes exceeds the limit of {max_len}", bytes.len()),
        ));
    }
    match decode_exact::<ClientFrame>(bytes) {
        Ok(frame) if frame.v == PROTOCOL_VERSION => Ok(frame),
        Ok(frame) => Err(unsupported_version(Some(frame.id), frame.v)),
        Err(reason) => Err(explain_client_frame_error(bytes, reason)),
    }
}

fn unsupported_version(id: Option<u64>, v: u16) -> FrameError {
    FrameError::new(
        ErrorCode::UnsupportedVersion,
        id,
        format!("protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}"),
    )
}

fn explain_client_frame_error(bytes: &[u8], reason: String) -> FrameError {
    let Some(probe) = strict::probe(bytes) else {
        return FrameError::new(ErrorCode::MalformedFrame, None, "not a MessagePack frame map");
    };
    match probe.v {
        None => FrameError::new(ErrorCode::MalformedFrame, probe.id, "frame has no version `v`"),
        Some(v) if v != PROTOCOL_VERSION => unsupported_version(probe.id, v),
        Some(_) => match probe.op {
            Some(op) if !OPERATIONS.contains(&op.as_str()) => FrameError::new(
                ErrorCode::UnknownOperation,
                probe.id,
                format!("unknown operation `{}`", truncate(&op, 40)),
            ),
            _ => FrameError::new(ErrorCode::MalformedFrame, probe.id, truncate(&reason, 200)),
        },
    }
}

/// Decode a server frame (used by clients).
pub fn decode_server_frame(bytes: &[u8]) -> Result<ServerFrame, FrameError> {
    match decode_exact::<ServerFrame>(bytes) {
        Ok(frame) if frame.v == PROTOCOL_VERSION => Ok(frame),
        Ok(frame) => Err(unsupported_version(None, frame.v)),
        Err(reason) => Err(FrameError::new(ErrorCode::MalformedFrame, None, truncate(&reason, 200))),
    }
}

/// Default frame limit, for callers without a configuration.
pub fn decode_client_frame_default(bytes: &[u8]) -> Result<ClientFrame, FrameError> {
    decode_client_frame(bytes, MAX_FRAME_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::*;

    fn frame(req: Request) -> ClientFrame {
        ClientFrame {
            v: PROTOCOL_VERSION,
            id: 7,
            req,
        }
    }

    #[test]
    fn every_request_round_trips() {
        let requests = vec![
            Request::Authenticate {
                proof: AuthProof::Ed25519Challenge {
                    public_key: vec![1; 32].into(),
                    signature: vec![2; 64].into(),
                },
            },
            Request::PublishKeyPackages {
                key_packages: vec![vec![3; 10].into()],
                replace: true,
            },
            Request::ClaimKeyPackage {
                client_id: vec![4; 32].into(),
            },
            Request::CreateGroup {
                group_info: vec![5].into(),
                ratchet_tree: vec![6].into(),
            },
            Request::SendCommit {
                commit: vec![7].into(),
                welcome: Some(vec![8].into()),
                group_info: None,
                ratchet_tree: Some(vec![9].into()),
            },
            Request::SendMessage {
                message: vec![10; 100].into(),
            },
            Request::Subscribe { after: 3 },
            Request::FetchBacklog { after: 0, limit: 10 },
            Request::Ack {
                up_to: u64::from(u32::MAX) + 5,
            },
            Request::ListGroups,
            Request::Ping,
            Request::IntakeInfo,
            Request::RequestChat {
                language: "mk".into(),
                topic: "health".into(),
                urgent: false,
                key_packages: vec![vec![3; 10].into()],
                pow: None,
            },
            Request::CancelTicket { ticket_id: 1 },
            Request::ResumeTicket {
                resume_secret: vec![1; 16].into(),
                key_packages: Vec::new(),
            },
            Request::TeamKeyPackages,
            Request::LeaveTeamMessage {
                group_id: vec![1].into(),
                language: "en".into(),
            },
            Request::SetShift {
                state: crate::ShiftState::Available,
                handover: false,
            },
            Request::QueueView,
            Request::AcceptTicket { ticket_id: 2 },
            Request::DeclineOffer { ticket_id: 2 },
            Request::AttachChat {
                ticket_id: 2,
                group_id: vec![1].into(),
            },
            Request::TransferChat {
                group_id: vec![1].into(),
                to: None,
            },
            Request::CloseChat {
                group_id: vec![1].into(),
                tag: "support".into(),
            },
            Request::BlockVisitor {
                ticket_id: 2,
                duration_secs: 60,
                reason: "spam".into(),
            },
            Request::Board,
            Request::TeamMessages,
            Request::TakeTeamMessage {
                group_id: vec![1].into(),
            },
            Request::Escalate {
                escalation: crate::SignedEscalation {
                    group_id: vec![1].into(),
                    severity: crate::Severity::High,
                    category: crate::Category::Violence,
                    issued_at: 5,
                    signature: vec![2; 64].into(),
                },
            },
            Request::SetDuty {
                state: crate::DutyState::OnDuty,
            },
            Request::EscalationQueue,
            Request::AcceptEscalation { escalation_id: 3 },
            Request::ResolveEscalation {
                escalation_id: 3,
                outcome: crate::EscalationOutcome::Resolved,
            },
            Request::Sos { ticket_id: None },
            Request::ChatFeedback {
                answer: crate::FeedbackAnswer::Somewhat,
            },
            Request::CreateCircle {
                group_id: vec![1].into(),
                name: "Evening circle".into(),
                language: "mk".into(),
                topic: "health".into(),
                auto_approve: true,
            },
            Request::ListCircles,
            Request::CreateInvitation {
                circle_id: 4,
                expires_in_secs: 3600,
                max_uses: 10,
            },
            Request::ListInvitations { circle_id: 4 },
            Request::RevokeInvitation {
                circle_id: 4,
                invitation_id: 5,
            },
            Request::PreviewInvitation {
                code: "ABCDEFGHJKMN".into(),
            },
            Request::JoinCircle {
                code: "ABCDEFGHJKMN".into(),
                display_name: "Rosa".into(),
                key_package: vec![3; 10].into(),
            },
            Request::JoinRequests { circle_id: 4 },
            Request::DeclineJoin {
                circle_id: 4,
                request_id: 6,
            },
            Request::SetMuted {
                circle_id: 4,
                client_id: vec![4; 32].into(),
                muted: true,
            },
            Request::SetModerator {
                circle_id: 4,
                client_id: vec![4; 32].into(),
                moderator: true,
            },
            Request::LeaveCircle { circle_id: 4 },
            Request::CloseCircle { circle_id: 4 },
            Request::VisitorLeaving { quick_exit: true },
            Request::RescueChat {
                group_id: vec![9; 16].into(),
                to: Some(3),
            },
            Request::CircleRoster { circle_id: 4 },
        ];
        assert_eq!(requests.len(), OPERATIONS.len());
        for req in requests {
            assert!(OPERATIONS.contains(&req.op_name()));
            let f = frame(req);
            let bytes = encode_client_frame(&f);
            assert_eq!(decode_client_frame_default(&bytes).unwrap(), f);
        }
    }

    #[test]
    fn garbage_is_malformed_without_id() {
        for bytes in [&b""[..], b"\xc1", b"\xff\xff\xff", b"\x93\x01\x02\x03"] {
            let err = decode_client_frame_default(bytes).unwrap_err();
            assert_eq!(err.code, ErrorCode::MalformedFrame, "{bytes:?}");
            assert_eq!(err.request_id, None);
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode_client_frame(&frame(Request::Ping));
        bytes.push(0);
        assert_eq!(
            decode_client_frame_default(&bytes).unwrap_err().code,
            ErrorCode::MalformedFrame
        );
    }

    #[test]
    fn oversize_frame_keeps_its_id() {
        let f = frame(Request::SendMessage {
            message: vec![0; 2000].into(),
        });
        let err = decode_client_frame(&encode_client_frame(&f), 1000).unwrap_err();
        assert_eq!(err.code, ErrorCode::FrameTooLarge);
        assert_eq!(err.request_id, Some(7));
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let mut bytes = vec![0x81, 0xa1, b'v', 0x01];
        bytes[0] = 0x82;
        bytes.extend_from_slice(&[0xa3, b'r', b'e', b'q']);
        bytes.extend(std::iter::repeat_n(0x91u8, 100_000));
        bytes.push(0x00);
        let err = decode_client_frame_default(&bytes).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedFrame);
    }
}
