//! The records stored in sled, MessagePack-encoded. Each holds only routing
//! metadata and ciphertext; PROTOCOL.md lists every field.

use serde::{Deserialize, Serialize};

use super::StorageError;
use parasol_protocol::EnvelopeKind;

/// A client's identity: its Ed25519 public key, which is also its MLS
/// signature key and credential identity. A random pseudonym, not a name.
pub type ClientId = [u8; 32];

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs of integers and byte strings cannot fail to encode.
    rmp_serde::to_vec(value).expect("records always serialize") // infallible
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, StorageError> {
    rmp_serde::from_slice(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// A key package waiting in the directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyPackageRecord {
    /// End of the package's lifetime (seconds since the Unix epoch); the
    /// directory never hands out an expired package.
    pub not_after: u64,
    /// The TLS-serialized MLSMessage, as uploaded.
    #[serde(with = "serde_bytes")]
    pub key_package: Vec<u8>,
}

impl KeyPackageRecord {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        decode(bytes)
    }
}

/// An envelope in one recipient's mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeRecord {
    #[serde(with = "serde_bytes")]
    pub group_id: Vec<u8>,
    pub kind: EnvelopeKind,
    pub epoch: u64,
    /// The MLSMessage exactly as sent: ciphertext for application messages.
    #[serde(with = "serde_bytes")]
    pub message: Vec<u8>,
    /// With a Welcome: the public ratchet tree the new member needs.
    #[serde(with = "serde_bytes")]
    pub ratchet_tree: Vec<u8>,
    /// Arrival time in seconds, for retention.
    pub received_at: u64,
}

impl EnvelopeRecord {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        decode(bytes)
    }
}

/// The public state of a group: openmls's PublicGroup as key/value pairs of
/// its storage provider (ratchet tree, group context, transcript hashes,
/// confirmation tag). No secrets: the server cannot decrypt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupRecord {
    pub public_state: Vec<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)>,
    /// Hour (since the Unix epoch) of the last commit or message; groups
    /// idle for `group_idle_expiry_secs` are deleted.
    #[serde(default)]
    pub last_activity: u64,
}

impl GroupRecord {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        decode(bytes)
    }
}
