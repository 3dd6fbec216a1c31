//! The circles' own sled trees: circles, invitations and join requests,
//! sealed under the state key like every long-lived record. An invitation
//! is stored by the hash of its code, never the code; a join request lives
//! only until a moderator decides.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::storage::owner::StateOwner;
use crate::storage::{ClientId, StorageError, Vault};

const CIRCLES: &str = "circles";
const INVITATIONS: &str = "circle_invitations";
const JOINS: &str = "circle_joins";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CircleRecord {
    pub id: u64,
    #[serde(with = "serde_bytes")]
    pub group_id: Vec<u8>,
    pub name: String,
    pub language: String,
    pub topic: String,
    pub auto_approve: bool,
    /// The staff account that created it (for the audit log).
    pub created_by: u64,
    pub created_at: u64,
    pub moderators: Vec<ClientId>,
    pub muted: Vec<ClientId>,
    /// Left, and not yet removed from the MLS group: nothing is delivered
    /// to them.
    pub departed: Vec<ClientId>,
    /// Each member key's name in this circle: the one it asked to join
    /// under, or the creating counsellor's display name. Bound here so a
    /// member cannot post under another's name (at most `max_members`).
    #[serde(default)]
    pub names: Vec<(ClientId, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationRecord {
    pub id: u64,
    pub circle_id: u64,
    /// SHA-256 of the normalized code.
    #[serde(with = "serde_bytes")]
    pub code_hash: Vec<u8>,
    pub expires_at: u64,
    pub max_uses: u32,
    pub uses: u32,
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRecord {
    pub id: u64,
    pub circle_id: u64,
    pub client: ClientId,
    pub display_name: String,
    #[serde(with = "serde_bytes")]
    pub key_package: Vec<u8>,
    pub requested_at: u64,
}

pub struct CircleStore {
    /// Writes these trees (see storage's rule); reads stay here.
    owner: StateOwner,
    circles: sled::Tree,
    invitations: sled::Tree,
    joins: sled::Tree,
    vault: Vault,
}

impl CircleStore {
    pub fn open(storage: &crate::storage::Storage) -> Result<Self, StorageError> {
        let db = storage.db();
        Ok(CircleStore {
            owner: storage.owner().clone(),
            circles: db.open_tree(CIRCLES)?,
            invitations: db.open_tree(INVITATIONS)?,
            joins: db.open_tree(JOINS)?,
            vault: storage.vault().clone(),
        })
    }

    fn load_all<T: DeserializeOwned>(&self, name: &str, tree: &sled::Tree) -> Result<Vec<T>, StorageError> {
        tree.iter()
            .map(|item| {
                let (k, v) = item?;
                decode(&self.vault.open_state(name, &k, &v)?)
            })
            .collect()
    }

    fn put<T: Serialize>(&self, name: &str, tree: &sled::Tree, id: u64, value: &T) -> Result<(), StorageError> {
        let key = id.to_be_bytes();
        self.owner
            .insert(tree, key, self.vault.seal_state(name, &key, &encode(value))?)?;
        Ok(())
    }

    pub fn circles(&self) -> Result<Vec<CircleRecord>, StorageError> {
        self.load_all(CIRCLES, &self.circles)
    }

    pub fn invitations(&self) -> Result<Vec<InvitationRecord>, StorageError> {
        self.load_all(INVITATIONS, &self.invitations)
    }

    pub fn joins(&self) -> Result<Vec<JoinRecord>, StorageError> {
        self.load_all(JOINS, &self.joins)
    }

    pub fn put_circle(&self, c: &CircleRecord) -> Result<(), StorageError> {
        self.put(CIRCLES, &self.circles, c.id, c)
    }

    pub fn put_invitation(&self, i: &InvitationRecord) -> Result<(), StorageError> {
        self.put(INVITATIONS, &self.invitations, i.id, i)
    }

    pub fn put_join(&self, j: &JoinRecord) -> Result<(), StorageError> {
        self.put(JOINS, &self.joins, j.id, j)
    }

    pub fn delete_circle(&self, id: u64) -> Result<(), StorageError> {
        self.owner.remove(&self.circles, id.to_be_bytes())?;
        Ok(())
    }

    pub fn delete_invitation(&self, id: u64) -> Result<(), StorageError> {
        self.owner.remove(&self.invitations, id.to_be_bytes())?;
        Ok(())
    }

    pub fn delete_join(&self, id: u64) -> Result<(), StorageError> {
        self.owner.remove(&self.joins, id.to_be_bytes())?;
        Ok(())
    }

    pub async fn flush(&self) -> Result<(), StorageError> {
        self.owner.sync().await?;
        Ok(())
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("circle records always serialize")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    rmp_serde::from_slice(bytes).map_err(|e| StorageError::Corrupt(format!("circle record: {e}")))
}
