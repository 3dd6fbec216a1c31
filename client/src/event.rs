//! Events a client reports to its user: what arrived in the mailbox, after
//! decryption and MLS processing, plus connection state changes. Events are
//! persisted with the client state until handed out, so an event whose
//! envelope was already acknowledged is never lost by a restart.

use parasol_protocol::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::identity::ClientId;

/// Something that happened, in mailbox order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A text message from another member.
    Message {
        #[serde(rename = "group", with = "hex_bytes")]
        group_id: Vec<u8>,
        /// The sender's client id, from its authenticated MLS credential.
        #[serde(rename = "from", with = "hex_id")]
        sender: ClientId,
        text: String,
        epoch: u64,
        seq: u64,
    },
    /// Another member started or stopped writing: an ephemeral signal
    /// inside MLS ([`crate::typing`]), never a message and never kept.
    Typing {
        #[serde(rename = "group", with = "hex_bytes")]
        group_id: Vec<u8>,
        #[serde(rename = "from", with = "hex_id")]
        sender: ClientId,
        typing: bool,
        seq: u64,
    },
    /// This client joined a group through a Welcome.
    Joined {
        #[serde(rename = "group", with = "hex_bytes")]
        group_id: Vec<u8>,
        epoch: u64,
        seq: u64,
    },
    /// A commit changed the group (members added/removed, or key update).
    MembershipChanged {
        #[serde(rename = "group", with = "hex_bytes")]
        group_id: Vec<u8>,
        epoch: u64,
        #[serde(with = "hex_ids")]
        added: Vec<ClientId>,
        #[serde(with = "hex_ids")]
        removed: Vec<ClientId>,
        seq: u64,
    },
    /// This client was removed from the group.
    Removed {
        #[serde(rename = "group", with = "hex_bytes")]
        group_id: Vec<u8>,
        epoch: u64,
        seq: u64,
    },
    /// An envelope could not be processed (it was still acknowledged), or the
    /// server sent an error not tied to a request.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(rename = "group", default, skip_serializing_if = "Option::is_none", with = "opt_hex")]
        group_id: Option<Vec<u8>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ErrorCode>,
        message: String,
    },
    /// The connection closed. `code` is the WebSocket close code, if any.
    Disconnected { code: Option<u16>, reconnecting: bool },
    /// The client reconnected and resubscribed from its cursor.
    Reconnected,
    /// The server's mailbox ends below this client's cursor: it lost the
    /// envelopes above `server_head` (a damaged or restored data directory)
    /// and will hand their seqs out again. The client moved its cursor down
    /// to `server_head`; whatever it read above it stays read, and nothing
    /// the server no longer has is waited for.
    MailboxResynchronised { cursor: u64, server_head: u64 },
    /// Visitor: my counsellor lost her state and came back with a new key,
    /// which I brought into the chat ("Your counsellor reconnected.").
    CounsellorReconnected {
        #[serde(rename = "group", with = "hex_bytes")]
        group_id: Vec<u8>,
        display_name: String,
    },
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&hex::encode(v)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| hex::decode(s).map_err(serde::de::Error::custom)).transpose()
    }
}

mod hex_id {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::identity::ClientId;

    pub fn serialize<S: Serializer>(v: &ClientId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ClientId, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

mod hex_ids {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::identity::ClientId;

    pub fn serialize<S: Serializer>(v: &[ClientId], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(hex::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ClientId>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.into_iter()
            .map(|s| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(serde::de::Error::custom)?;
                Ok(out)
            })
            .collect()
    }
}
