#![forbid(unsafe_code)]
//! Parasol client library.
//!
//! Parasol is an end-to-end encrypted peer-support chat built on MLS
//! (RFC 9420). The server is only a delivery service: it stores key packages,
//! orders commits per group, and keeps one mailbox per client. Everything that
//! needs a secret happens here, in the client.
//!
//! * [`Identity`]: the single Ed25519 key of a client (its client id is the
//!   public key; the MLS credential and leaf signature key are the same key).
//! * [`ClientState`]: everything a client must remember (identity, MLS state,
//!   mailbox cursor, undelivered events), either in a state file or in memory.
//! * [`Client`]: the async high-level API (connect, groups, messages, events).
//! * [`Connection`]: the low-level WebSocket connection, for tests that need
//!   to send deliberately bad input.
//! * [`TlsTrust`]: the certificates a `wss://` connection trusts.
//! * [`intake`]: the anonymous intake queue: a visitor's ticket, and the
//!   staff side (shifts, offers, accepting, transferring, closing chats).
//!
//! **Security note:** a state file contains the client's secret identity key
//! and all MLS secrets (and undelivered plaintext messages). It is written
//! with permissions 0600; protect it like a private key.

pub mod circle;
pub mod client;
pub mod connection;
pub mod error;
pub mod escalation;
pub mod event;
pub mod identity;
pub mod intake;
pub mod mls;
pub mod store;
pub mod tls;
pub mod typing;

pub use client::{Client, ClientConfig, GroupInfoView};
pub use connection::{Connection, Incoming};
pub use error::{BadgeError, ClientError, RefusalDetails};
pub use escalation::SosAnswer;
pub use event::Event;
pub use identity::{ClientId, Identity};
pub use intake::{AcceptedChat, Board, IntakeInfo, ShiftStatus, Transferred, VerifiedCounsellor};
pub use parasol_protocol::{ErrorCode, Request, Response, ServerMessage};
pub use store::ClientState;
pub use tls::TlsTrust;
