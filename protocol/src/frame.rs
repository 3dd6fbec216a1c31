//! Frame types of protocol version 1.
//!
//! Client → server: `{v, id, req: {op, ...}}`. Server → client:
//! `{v, msg: {type, ...}}`. Field and variant names are the wire names.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

/// An opaque byte string (MessagePack `bin`). Its `Debug` shows only the
/// length, so frames can be debug-printed without leaking content or keys.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bytes(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes(len={})", self.0.len())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.to_vec())
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A request from a client. `id` is chosen by the client and echoed in the
/// response or error that answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientFrame {
    pub v: u16,
    pub id: u64,
    pub req: Request,
}

/// The operations of protocol version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Prove possession of an identity key by signing the connection's
    /// challenge. Must be the first request on a connection.
    Authenticate { proof: AuthProof },
    /// Upload key packages (TLS-serialized `MLSMessage`s of type key package).
    /// Packages carrying the last-resort extension replace the stored
    /// last-resort package. With `replace`, every package stored before is
    /// withdrawn first (a client that lost its state cannot use them).
    PublishKeyPackages {
        key_packages: Vec<Bytes>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replace: bool,
    },
    /// Take one key package of another client, to add it to a group.
    ClaimKeyPackage { client_id: Bytes },
    /// Start tracking a new group from its creator's GroupInfo and ratchet
    /// tree. The creator must be its only member.
    CreateGroup { group_info: Bytes, ratchet_tree: Bytes },
    /// A commit for the group's current epoch, with the Welcome for the
    /// members it adds.
    SendCommit {
        commit: Bytes,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        welcome: Option<Bytes>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_info: Option<Bytes>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ratchet_tree: Option<Bytes>,
    },
    /// An MLS application message (PrivateMessage) for the group named in
    /// its framing.
    SendMessage { message: Bytes },
    /// Push every envelope of my mailbox with a sequence number above
    /// `after`, the backlog first, then new ones as they arrive.
    Subscribe { after: u64 },
    /// Read up to `limit` envelopes above `after` without subscribing.
    FetchBacklog { after: u64, limit: u32 },
    /// I have processed every envelope up to and including `up_to`; delete
    /// them from my mailbox.
    Ack { up_to: u64 },
    /// The groups I am a member of.
    ListGroups,
    /// Keep-alive; answered with `pong`.
    Ping,
}

impl Request {
    /// The wire name of the operation, for logs and metrics.
    pub fn op_name(&self) -> &'static str {
        match self {
            Request::Authenticate { .. } => "authenticate",
            Request::PublishKeyPackages { .. } => "publish_key_packages",
            Request::ClaimKeyPackage { .. } => "claim_key_package",
            Request::CreateGroup { .. } => "create_group",
            Request::SendCommit { .. } => "send_commit",
            Request::SendMessage { .. } => "send_message",
            Request::Subscribe { .. } => "subscribe",
            Request::FetchBacklog { .. } => "fetch_backlog",
            Request::Ack { .. } => "ack",
            Request::ListGroups => "list_groups",
            Request::Ping => "ping",
        }
    }
}

/// Every operation name of version 1, to tell an unknown operation from a
/// known one with bad fields.
pub const OPERATIONS: &[&str] = &[
    "authenticate",
    "publish_key_packages",
    "claim_key_package",
    "create_group",
    "send_commit",
    "send_message",
    "subscribe",
    "fetch_backlog",
    "ack",
    "list_groups",
    "ping",
];

/// How a client proves who it is. Version 1 knows one method; staff
/// sessions will be a second one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum AuthProof {
    /// Ed25519 signature over `auth_transcript(nonce, public_key)`.
    Ed25519Challenge { public_key: Bytes, signature: Bytes },
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerFrame {
    pub v: u16,
    pub msg: ServerMessage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Sent once, right after the WebSocket opens.
    Challenge { nonce: Bytes, versions: Vec<u16> },
    /// The successful answer to request `id`.
    Response { id: u64, result: Response },
    /// The failed answer to request `id`, or (without `id`) to a frame whose
    /// id could not be read.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        code: ErrorCode,
        message: String,
        /// With `stale_epoch`: the group's current epoch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current_epoch: Option<u64>,
    },
    /// A pushed envelope from my mailbox (after `subscribe`).
    Envelope { envelope: Envelope },
    /// My key-package stock changed because someone claimed one.
    KeyPackageCount { one_time: u32, last_resort: bool },
}

impl ServerMessage {
    /// The wire name of the message type, for logs and errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMessage::Challenge { .. } => "challenge",
            ServerMessage::Response { .. } => "response",
            ServerMessage::Error { .. } => "error",
            ServerMessage::Envelope { .. } => "envelope",
            ServerMessage::KeyPackageCount { .. } => "key_package_count",
        }
    }
}

/// Successful results, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    Authenticated {
        /// My identity as the server knows it (my public key).
        client_id: Bytes,
        /// The highest sequence number ever assigned in my mailbox.
        mailbox_head: u64,
        one_time_key_packages: u32,
        last_resort_key_package: bool,
    },
    KeyPackagesPublished {
        one_time: u32,
        last_resort: bool,
    },
    KeyPackage {
        key_package: Bytes,
        last_resort: bool,
    },
    GroupCreated {
        group_id: Bytes,
        epoch: u64,
    },
    /// The commit won its epoch and is durable; merge it now.
    CommitAccepted {
        group_id: Bytes,
        epoch: u64,
    },
    /// The message is durable and queued for every other member.
    MessageAccepted {
        group_id: Bytes,
        epoch: u64,
    },
    Subscribed {
        head: u64,
    },
    Backlog {
        envelopes: Vec<Envelope>,
        more: bool,
    },
    Acked {
        up_to: u64,
    },
    Groups {
        groups: Vec<GroupSummary>,
    },
    Pong,
}

/// What the server says about a group I am in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub group_id: Bytes,
    pub epoch: u64,
    pub members: u32,
}

/// One entry of a client's mailbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Position in the recipient's mailbox: 1, 2, 3, … without gaps.
    pub seq: u64,
    pub group_id: Bytes,
    pub kind: EnvelopeKind,
    /// For commits and application messages, the epoch they were sent in;
    /// for a Welcome, the epoch it joins.
    pub epoch: u64,
    /// The TLS-serialized MLSMessage, exactly as the sender sent it.
    pub message: Bytes,
    /// With a Welcome: the group's ratchet tree after the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratchet_tree: Option<Bytes>,
    /// When the server accepted it, in whole seconds since the Unix epoch.
    pub received_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeKind {
    Commit,
    Application,
    Welcome,
}
