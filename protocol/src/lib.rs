#![forbid(unsafe_code)]
//! Parasol wire protocol, version 1.
//!
//! Frames are MessagePack maps (see `PROTOCOL.md`). MLS payloads are carried
//! as opaque byte strings exactly as TLS-serialized by the MLS library; this
//! crate never parses them. It does no I/O.

pub mod auth;
pub mod circle;
pub mod close;
pub mod codec;
pub mod error;
pub mod escalation;
pub mod frame;
pub mod intake;
pub mod limits;
pub mod staff;
pub mod strict;

pub use circle::{CircleInfo, CircleMember, InvitationPreview, InvitationState, JoinRequest};
pub use codec::{
    decode_client_frame, decode_client_frame_default, decode_server_frame, encode_client_frame, encode_server_frame,
};
pub use error::{ErrorCode, FrameError};
pub use escalation::*;
pub use frame::*;
pub use intake::*;
pub use staff::{
    attestation_transcript, tagged_attestation_transcript, verify_attestation, verify_tagged_attestation, StaffRole,
};

/// The protocol version this crate speaks. Carried in every frame as `v`.
pub const PROTOCOL_VERSION: u16 = 1;

/// The WebSocket path of protocol version 1.
pub const WEBSOCKET_PATH: &str = "/v1/ws";
