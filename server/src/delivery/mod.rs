//! The delivery service (RFC 9750): tracks every group's public state with
//! openmls's `PublicGroup`, validates each commit against it, orders the
//! group's messages, and fans them out to the members' mailboxes.
//!
//! Strict sequencing: a commit is accepted only for the group's current
//! epoch; the first valid one wins. Group-state change and fan-out are one
//! storage write. Application messages are PrivateMessages: only their group
//! id, epoch and content type are read.
//!
//! Rooms: the group's state, the policies and the shared checks here;
//! who owns a group (a chat, a circle, a team message) and the rooms'
//! rules in `owners.rs`; groups' lives (create, list, close, expire) in
//! `groups.rs`; commits in `commit.rs`; application messages in
//! `messages.rs`.
//!
//! The rooms' rules: delivery is built first (the intake, the circles and
//! the key registry use it), so it holds no handle on them. It keeps the
//! group-owner record ([`GroupOwners`]), which the rooms fill (idle expiry
//! reads it: a group a room owns is kept), and each call that needs a
//! room's rules (`create_group`, `commit`, `application_message`, and the
//! start-up [`Delivery::classify_loaded_groups`]) is handed the rooms as
//! [`Rooms`], borrowed from the services (`Services::rooms`). It asks only
//! the group's owner, and the key registry, whose rules hold in every
//! group. No `Weak` handle, nothing installed after construction.

mod commit;
mod groups;
pub mod identity;
mod messages;
pub mod owners;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_memory_storage::MemoryStorage;
use openmls_rust_crypto::RustCrypto;
use parasol_protocol::{EnvelopeKind, ErrorCode, GroupSummary};
use parking_lot::Mutex;
use tokio::sync::RwLock;

use crate::config::Limits;
use crate::error::{ServiceError, ServiceResult};
use crate::mailbox::{Mailboxes, PendingWrite};
use crate::storage::{ClientId, EnvelopeRecord, GroupRecord, Storage, StorageError};
use crate::time::{now_hour, now_secs};
use crate::validation::{group_units, Requester, ValidationPool};
use identity::{client_id_of, client_id_of_leaf};
pub use owners::{GroupOwners, Owner, Rooms};

/// The only ciphersuite Parasol speaks.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
/// Longest group id accepted.
pub const MAX_GROUP_ID_BYTES: usize = 64;

/// One tracked group.
struct GroupState {
    public: PublicGroup,
    /// The PublicGroup's storage provider; what is persisted.
    storage: MemoryStorage,
    /// Current members, by client id (derived from the ratchet tree).
    members: HashSet<ClientId>,
    /// Last commit or message, rounded down to the hour: idle groups expire.
    last_activity: u64,
    /// The same to the second, in memory only (from the hour after a
    /// restart): anonymous groups expire after hours, not days.
    last_activity_secs: u64,
    /// Created by a key without a staff session (after a restart: no staff
    /// key among its members). Counts against `max_anonymous_groups`.
    anonymous: bool,
    /// Set by expiry under the lock: a request that was waiting for the
    /// lock must not act on (or write back) a deleted group.
    deleted: bool,
}

impl GroupState {
    fn epoch(&self) -> u64 {
        self.public.group_context().epoch().as_u64()
    }

    /// The checks every handshake and message passes once the group is
    /// locked: it still exists, the sender is a member, and the message is
    /// for the current epoch (which is returned).
    fn check_sender(&self, sender: &ClientId, message_epoch: u64) -> ServiceResult<u64> {
        if self.deleted {
            return Err(invalid(ErrorCode::UnknownGroup, "no such group"));
        }
        if !self.members.contains(sender) {
            return Err(invalid(ErrorCode::NotAMember, "not a member of this group"));
        }
        let epoch = self.epoch();
        if message_epoch != epoch {
            return Err(ServiceError::stale_epoch(epoch));
        }
        Ok(epoch)
    }

    fn record(&self) -> Vec<u8> {
        let values = self.storage.values.read().unwrap_or_else(|p| p.into_inner());
        GroupRecord {
            public_state: values
                .iter()
                .map(|(k, v)| {
                    (
                        serde_bytes::ByteBuf::from(k.clone()),
                        serde_bytes::ByteBuf::from(v.clone()),
                    )
                })
                .collect(),
            last_activity: self.last_activity,
        }
        .encode()
    }
}

fn members_of(public: &PublicGroup) -> Result<HashSet<ClientId>, &'static str> {
    public
        .members()
        .map(|m| client_id_of(&m.credential, &m.signature_key))
        .collect()
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> ServiceError {
    ServiceError::new(code, message)
}

fn parse_mls(bytes: &[u8], what: &str) -> ServiceResult<MlsMessageIn> {
    MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| {
        invalid(
            ErrorCode::InvalidMlsMessage,
            format!("{what} is not a TLS-serialized MLSMessage"),
        )
    })
}

fn parse_welcome(bytes: &[u8]) -> ServiceResult<Welcome> {
    match parse_mls(bytes, "welcome")?.extract() {
        MlsMessageBodyIn::Welcome(w) => Ok(w),
        _ => Err(invalid(ErrorCode::InvalidWelcome, "welcome is not a Welcome")),
    }
}

fn parse_group_info(bytes: &[u8]) -> ServiceResult<VerifiableGroupInfo> {
    match parse_mls(bytes, "group_info")?.extract() {
        MlsMessageBodyIn::GroupInfo(gi) => Ok(gi),
        _ => Err(invalid(ErrorCode::InvalidGroupInfo, "group_info is not a GroupInfo")),
    }
}

fn parse_tree(bytes: &[u8]) -> ServiceResult<RatchetTreeIn> {
    RatchetTreeIn::tls_deserialize_exact(bytes).map_err(|_| {
        invalid(
            ErrorCode::InvalidGroupInfo,
            "ratchet_tree is not a TLS-serialized ratchet tree",
        )
    })
}

/// A request the delivery service has ordered and queued for storage. Its
/// answer may be given only after [`Delivery::finish`] says it is durable.
/// Splitting the two lets a connection queue its next request while this
/// one is being flushed, without reordering them.
pub struct Accepted<T> {
    pending: PendingWrite,
    result: T,
    /// The group state changed in memory: a failed write is fatal.
    changes_group: bool,
}

/// Rules a room outside delivery sets for its groups (the intake's chats:
/// only their counsellor may change who is in them; circles: only their
/// moderators). Checked under the group's lock, after the commit validated
/// and before it is merged. Delivery asks the group's owner (see
/// [`Rooms::of`]) and the key registry, which answers for every group.
pub trait GroupPolicy: Send + Sync {
    /// May `sender` commit these membership changes, leaving `members_after`
    /// members?
    fn check_commit(
        &self,
        group_id: &[u8],
        sender: &ClientId,
        added: &[ClientId],
        removed: &[ClientId],
        members_after: usize,
    ) -> ServiceResult<()>;
    /// The same, for a group an anonymous key created (no chat or circle:
    /// those are staff's): the intake holds team messages to their rules.
    fn check_visitor_group_commit(
        &self,
        _group_id: &[u8],
        _sender: &ClientId,
        _added: &[ClientId],
        _removed: &[ClientId],
    ) -> ServiceResult<()> {
        Ok(())
    }
    /// Does this room vouch for this commit, whatever the other rooms'
    /// rules say? (The key registry: removing revoked leaves; a visitor
    /// bringing her reconnected counsellor in.) Then no policy's
    /// `check_commit` runs for it.
    fn sanctions(&self, _group_id: &[u8], _sender: &ClientId, _added: &[ClientId], _removed: &[ClientId]) -> bool {
        false
    }
    /// The commit was merged.
    fn committed(&self, group_id: &[u8], sender: &ClientId, added: &[ClientId], removed: &[ClientId]);
    /// Is `client` a staff member's key? Staff may be in
    /// `max_groups_per_client` groups, every other key in fewer.
    fn is_staff(&self, _client: &ClientId) -> bool {
        false
    }
    /// May `sender` send application messages to this group now?
    fn check_message(&self, _group_id: &[u8], _sender: &ClientId) -> ServiceResult<()> {
        Ok(())
    }
    /// Members who get nothing more from this group (they left, and their
    /// leaf is not removed yet).
    fn withheld(&self, _group_id: &[u8]) -> Vec<ClientId> {
        Vec::new()
    }
}

pub struct Delivery {
    /// Which room owns which group (filled by the rooms).
    owners: GroupOwners,
    crypto: RustCrypto,
    groups: parking_lot::RwLock<HashMap<Vec<u8>, Arc<RwLock<GroupState>>>>,
    /// Which groups each client is in: for `list_groups` and the per-client cap.
    memberships: Mutex<HashMap<ClientId, HashSet<Vec<u8>>>>,
    mailboxes: Arc<Mailboxes>,
    limits: Limits,
    /// The groups with `anonymous` set (changed under `groups`' write
    /// lock): the anonymous pool, and groups a staff key's membership of
    /// does not count against its `max_groups_per_client` (the only such
    /// groups staff are added to are visitors' team messages).
    anonymous_groups: Mutex<HashSet<Vec<u8>>>,
    validation: Arc<ValidationPool>,
}

impl Delivery {
    /// Load every stored group. They count as staff groups until
    /// [`Delivery::classify_loaded_groups`] can tell staff keys.
    pub fn load(
        storage: &Storage,
        mailboxes: Arc<Mailboxes>,
        limits: Limits,
        validation: Arc<ValidationPool>,
    ) -> Result<Self, StorageError> {
        let mut groups = HashMap::new();
        let mut memberships: HashMap<ClientId, HashSet<Vec<u8>>> = HashMap::new();
        for (group_id, record) in storage.load_groups()? {
            let storage = MemoryStorage::default();
            {
                let mut values = storage.values.write().unwrap_or_else(|p| p.into_inner());
                for (k, v) in record.public_state {
                    values.insert(k.into_vec(), v.into_vec());
                }
            }
            let public = PublicGroup::load(&storage, &GroupId::from_slice(&group_id))
                .map_err(|e| StorageError::Corrupt(format!("group state: {e:?}")))?
                .ok_or_else(|| StorageError::Corrupt("group state incomplete".into()))?;
            let members = members_of(&public).map_err(|e| StorageError::Corrupt(e.into()))?;
            for m in &members {
                memberships.entry(*m).or_default().insert(group_id.clone());
            }
            let state = GroupState {
                public,
                storage,
                members,
                last_activity: record.last_activity,
                last_activity_secs: record.last_activity.saturating_mul(3600),
                anonymous: false,
                deleted: false,
            };
            groups.insert(group_id, Arc::new(RwLock::new(state)));
        }
        Ok(Delivery {
            owners: GroupOwners::default(),
            crypto: RustCrypto::default(),
            groups: parking_lot::RwLock::new(groups),
            memberships: Mutex::new(memberships),
            mailboxes,
            limits,
            anonymous_groups: Mutex::new(HashSet::new()),
            validation,
        })
    }

    /// Once the rooms are loaded (and have filled the owner record): the
    /// loaded groups without a staff member, and visitors' team messages,
    /// are anonymous.
    pub fn classify_loaded_groups(&self, rooms: &Rooms<'_>) {
        let groups = self.groups.write();
        let mut anonymous = HashSet::new();
        for (id, slot) in groups.iter() {
            // Called at start-up, before any request holds a group.
            let Ok(mut group) = slot.try_write() else { continue };
            group.anonymous = !group.members.iter().any(|m| rooms.is_staff(m))
                || self.owners.owner_of(id) == Some(Owner::TeamMessage);
            if group.anonymous {
                anonymous.insert(id.clone());
            }
        }
        *self.anonymous_groups.lock() = anonymous;
    }

    /// Which room owns which group.
    pub fn owners(&self) -> &GroupOwners {
        &self.owners
    }

    /// Groups created by keys without a staff session, now.
    pub fn anonymous_group_count(&self) -> usize {
        self.anonymous_groups.lock().len()
    }

    /// Take a group out of the map (its lock held by the caller, which
    /// marks it deleted).
    fn forget_group(&self, group_id: &[u8], group: &GroupState) {
        let mut groups = self.groups.write();
        if groups.remove(group_id).is_some() && group.anonymous {
            self.anonymous_groups.lock().remove(group_id);
        }
    }

    /// The members of a group, if it exists.
    pub async fn members(&self, group_id: &[u8]) -> Option<HashSet<ClientId>> {
        let slot = self.group(group_id).ok()?;
        let group = slot.read().await;
        (!group.deleted).then(|| group.members.clone())
    }

    pub fn group_count(&self) -> usize {
        self.groups.read().len()
    }

    fn group(&self, group_id: &[u8]) -> ServiceResult<Arc<RwLock<GroupState>>> {
        self.groups
            .read()
            .get(group_id)
            .cloned()
            .ok_or_else(|| invalid(ErrorCode::UnknownGroup, "no such group"))
    }

    /// The groups `client` is a member of, now.
    pub fn group_ids_of(&self, client: &ClientId) -> Vec<Vec<u8>> {
        self.memberships
            .lock()
            .get(client)
            .map_or_else(Vec::new, |g| g.iter().cloned().collect())
    }

    /// Groups of `client` that count against its limit: for a staff key,
    /// groups visitors made (team messages) do not.
    fn groups_of(&self, client: &ClientId, rooms: &Rooms<'_>) -> usize {
        let staff = rooms.is_staff(client);
        let memberships = self.memberships.lock();
        let Some(groups) = memberships.get(client) else {
            return 0;
        };
        if !staff {
            return groups.len();
        }
        let anonymous = self.anonymous_groups.lock();
        groups.iter().filter(|g| !anonymous.contains(*g)).count()
    }

    /// Groups `client` may be in: staff get `max_groups_per_client`, any
    /// other key the anonymous share (anonymous keys cost nothing to make).
    fn group_limit_of(&self, client: &ClientId, rooms: &Rooms<'_>) -> usize {
        let l = &self.limits;
        let limit = if rooms.is_staff(client) {
            l.max_groups_per_client
        } else {
            l.max_groups_per_anonymous_client.min(l.max_groups_per_client)
        };
        limit as usize
    }

    fn update_memberships(&self, group_id: &[u8], gone: &[ClientId], joined: &[ClientId]) {
        let mut memberships = self.memberships.lock();
        for client in gone {
            if let Some(set) = memberships.get_mut(client) {
                set.remove(group_id);
                if set.is_empty() {
                    memberships.remove(client);
                }
            }
        }
        for client in joined {
            memberships.entry(*client).or_default().insert(group_id.to_vec());
        }
    }
}
