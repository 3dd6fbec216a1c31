//! The delivery service (RFC 9750): tracks every group's public state with
//! openmls's `PublicGroup`, validates each commit against it, orders the
//! group's messages, and fans them out to the members' mailboxes.
//!
//! Strict sequencing: a commit is accepted only for the group's current
//! epoch; the first valid one wins. Group-state change and fan-out are one
//! storage write. Application messages are PrivateMessages: only their group
//! id, epoch and content type are read.

pub mod identity;
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

/// Rules a room outside delivery sets for some groups (the intake's chats:
/// only their counsellor may change who is in them; circles: only their
/// moderators). Checked under the group's lock, after the commit validated
/// and before it is merged. Each policy answers `Ok` for groups not its own.
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
    /// Is this group one of the room's (a chat, a team message, a circle)?
    /// An anonymous group no room keeps expires after
    /// `anonymous_group_idle_expiry_secs`.
    fn keeps_group(&self, _group_id: &[u8]) -> bool {
        false
    }
    /// Was this group made by a visitor although staff are in it (a team
    /// message)? Tells a restart, which does not store who created a
    /// group, to keep it in the anonymous pool.
    fn is_visitor_group(&self, _group_id: &[u8]) -> bool {
        false
    }
}

pub struct Delivery {
    /// Set once at start-up (the intake needs delivery, so it comes later).
    policies: parking_lot::RwLock<Vec<Arc<dyn GroupPolicy>>>,
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
    /// [`Delivery::add_policy`] can tell staff keys.
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
            policies: parking_lot::RwLock::new(Vec::new()),
            crypto: RustCrypto::default(),
            groups: parking_lot::RwLock::new(groups),
            memberships: Mutex::new(memberships),
            mailboxes,
            limits,
            anonymous_groups: Mutex::new(HashSet::new()),
            validation,
        })
    }

    /// Install a membership policy (the intake's, the circles'). A policy
    /// that knows staff keys reclassifies the loaded groups: those without
    /// a staff member, and visitors' team messages, are anonymous.
    pub fn add_policy(&self, policy: Arc<dyn GroupPolicy>) {
        self.policies.write().push(policy);
        let policies = self.policies();
        let groups = self.groups.write();
        let mut anonymous = HashSet::new();
        for (id, slot) in groups.iter() {
            // Called at start-up, before any request holds a group.
            let Ok(mut group) = slot.try_write() else { continue };
            group.anonymous =
                !group.members.iter().any(|m| self.is_staff(m)) || policies.iter().any(|p| p.is_visitor_group(id));
            if group.anonymous {
                anonymous.insert(id.clone());
            }
        }
        *self.anonymous_groups.lock() = anonymous;
    }

    /// Groups created by keys without a staff session, now.
    pub fn anonymous_group_count(&self) -> usize {
        self.anonymous_groups.lock().len()
    }

    fn is_staff(&self, client: &ClientId) -> bool {
        self.policies.read().iter().any(|p| p.is_staff(client))
    }

    /// Take a group out of the map (its lock held by the caller, which
    /// marks it deleted).
    fn forget_group(&self, group_id: &[u8], group: &GroupState) {
        let mut groups = self.groups.write();
        if groups.remove(group_id).is_some() && group.anonymous {
            self.anonymous_groups.lock().remove(group_id);
        }
    }

    fn policies(&self) -> Vec<Arc<dyn GroupPolicy>> {
        self.policies.read().clone()
    }

    /// The members of a group, if it exists.
    pub async fn members(&self, group_id: &[u8]) -> Option<HashSet<ClientId>> {
        let slot = self.group(group_id).ok()?;
        let group = slot.read().await;
        (!group.deleted).then(|| group.members.clone())
    }

    /// Delete a group now and purge its envelopes from its members'
    /// mailboxes (a closed chat). Returns whether it existed.
    pub async fn close_group(&self, group_id: &[u8]) -> ServiceResult<bool> {
        let Ok(slot) = self.group(group_id) else {
            return Ok(false);
        };
        let mut group = slot.write().await;
        if group.deleted {
            return Ok(false);
        }
        group.deleted = true;
        self.forget_group(group_id, &group);
        let members: Vec<ClientId> = group.members.iter().copied().collect();
        self.update_memberships(group_id, &members, &[]);
        let pending = match self
            .mailboxes
            .enqueue(Some((group_id.to_vec(), None)), Vec::new())
            .await
        {
            Ok(p) => p,
            Err(e) => crate::fatal(&format!("could not queue a group's deletion: {e}")),
        };
        drop(group);
        if let Err(e) = self.mailboxes.complete(pending).await {
            crate::fatal(&format!("could not delete a group: {e}"));
        }
        // The group is gone, so nothing new for it can be queued now.
        let mailboxes = self.mailboxes.clone();
        let group_id = group_id.to_vec();
        tokio::task::spawn_blocking(move || mailboxes.purge_group(&members, &group_id))
            .await
            .map_err(|_| ServiceError::internal())??;
        Ok(true)
    }

    /// Purge what waits in one member's mailbox for a group (a member who
    /// left a circle gets nothing more from it).
    pub async fn purge_member_envelopes(&self, client: &ClientId, group_id: &[u8]) -> ServiceResult<()> {
        let mailboxes = self.mailboxes.clone();
        let (client, group_id) = (*client, group_id.to_vec());
        tokio::task::spawn_blocking(move || mailboxes.purge_group(&[client], &group_id))
            .await
            .map_err(|_| ServiceError::internal())??;
        Ok(())
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
    fn groups_of(&self, client: &ClientId) -> usize {
        let staff = self.is_staff(client);
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
    fn group_limit_of(&self, client: &ClientId) -> usize {
        let l = &self.limits;
        let limit = if self.is_staff(client) {
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

    /// Start tracking a group from its creator's GroupInfo and ratchet tree.
    /// The cheap checks (sizes, the creator's and the pools' caps) come
    /// first; building the `PublicGroup` (every signature of the tree)
    /// runs in the bounded validation pool, charged to the source.
    pub async fn create_group(
        &self,
        creator: ClientId,
        who: Requester,
        group_info: &[u8],
        ratchet_tree: &[u8],
    ) -> ServiceResult<Accepted<(Vec<u8>, u64)>> {
        let max = self.limits.max_group_state_bytes;
        if group_info.len() > max || ratchet_tree.len() > max {
            return Err(invalid(
                ErrorCode::EnvelopeTooLarge,
                "group info or ratchet tree too large",
            ));
        }
        if self.groups_of(&creator) >= self.group_limit_of(&creator) {
            return Err(invalid(ErrorCode::LimitExceeded, "too many groups for this client"));
        }
        let anonymous = !self.is_staff(&creator);
        self.check_group_pools(anonymous)?;
        self.validation.charge(&who, group_units(ratchet_tree.len()))?;
        let (group_info, ratchet_tree) = (group_info.to_vec(), ratchet_tree.to_vec());
        let (group_id, public, storage, members) = self
            .validation
            .run(&who, move || track_new_group(&creator, &group_info, &ratchet_tree))
            .await??;
        let state = GroupState {
            public,
            storage,
            members,
            last_activity: now_hour(),
            last_activity_secs: now_secs(),
            anonymous,
            deleted: false,
        };
        let epoch = state.epoch();
        let record = state.record();
        let slot = Arc::new(RwLock::new(state));
        // Nothing may be queued for the group before its creation is: hold
        // its lock until the creation is in the writer's queue.
        let guard = slot.clone().write_owned().await;
        {
            let mut groups = self.groups.write();
            if groups.contains_key(&group_id) {
                return Err(invalid(ErrorCode::GroupExists, "a group with this id exists"));
            }
            // Checked again under the lock: concurrent creations cannot
            // overshoot a pool together.
            self.check_pools_locked(groups.len(), anonymous)?;
            // And the creator's own cap: its other creations may have
            // finished while this one was validated.
            if self.groups_of(&creator) >= self.group_limit_of(&creator) {
                return Err(invalid(ErrorCode::LimitExceeded, "too many groups for this client"));
            }
            groups.insert(group_id.clone(), slot);
            if anonymous {
                self.anonymous_groups.lock().insert(group_id.clone());
            }
            self.update_memberships(&group_id, &[], &[creator]);
        }
        let pending = match self
            .mailboxes
            .enqueue(Some((group_id.clone(), Some(record))), Vec::new())
            .await
        {
            Ok(p) => p,
            Err(e) => crate::fatal(&format!("could not queue a new group: {e}")),
        };
        drop(guard);
        Ok(Accepted {
            pending,
            result: (group_id, epoch),
            changes_group: true,
        })
    }

    fn check_group_pools(&self, anonymous: bool) -> ServiceResult<()> {
        let tracked = self.groups.read().len();
        self.check_pools_locked(tracked, anonymous)
    }

    /// Staff may fill `max_groups`; anonymous keys only their share of it,
    /// so the rest always stays for chats and circles.
    fn check_pools_locked(&self, tracked: usize, anonymous: bool) -> ServiceResult<()> {
        if tracked >= self.limits.max_groups {
            return Err(invalid(
                ErrorCode::LimitExceeded,
                "the server tracks its maximum number of groups",
            ));
        }
        if anonymous && self.anonymous_group_count() >= self.limits.anonymous_groups() {
            return Err(invalid(
                ErrorCode::LimitExceeded,
                "the server tracks its maximum number of groups for visitors; retry later",
            ));
        }
        Ok(())
    }

    /// Validate a commit against the group's current epoch; if it wins,
    /// merge it, store it and fan it out (with the Welcome to the members
    /// it adds) in one write. The cheap checks come first; openmls's
    /// processing (signatures, the update path) runs in the bounded
    /// validation pool, charged to `who`'s source, under the group's lock,
    /// so commits to one group are still validated and merged in order.
    pub async fn commit(
        &self,
        sender: ClientId,
        who: Requester,
        commit: &[u8],
        welcome: Option<&[u8]>,
        group_info: Option<&[u8]>,
        ratchet_tree: Option<&[u8]>,
    ) -> ServiceResult<Accepted<(Vec<u8>, u64)>> {
        let max = self.limits.max_mls_message_bytes;
        if commit.len() > max || welcome.is_some_and(|w| w.len() > max) {
            return Err(invalid(
                ErrorCode::EnvelopeTooLarge,
                format!("MLS messages are limited to {max} bytes"),
            ));
        }
        let max_state = self.limits.max_group_state_bytes;
        if group_info.is_some_and(|g| g.len() > max_state) || ratchet_tree.is_some_and(|t| t.len() > max_state) {
            return Err(invalid(
                ErrorCode::EnvelopeTooLarge,
                "group info or ratchet tree too large",
            ));
        }
        let message = parse_mls(commit, "commit")?
            .try_into_protocol_message()
            .map_err(|_| invalid(ErrorCode::InvalidMlsMessage, "commit is not a PublicMessage"))?;
        if message.wire_format() != WireFormat::PublicMessage {
            return Err(invalid(
                ErrorCode::InvalidMlsMessage,
                "handshake messages must be PublicMessages",
            ));
        }
        if message.content_type() != ContentType::Commit {
            return Err(invalid(
                ErrorCode::Unsupported,
                "only commits are accepted; standalone proposals are not supported in v1",
            ));
        }
        let group_id = message.group_id().as_slice().to_vec();
        let parsed_welcome = welcome.map(parse_welcome).transpose()?;
        if let Some(tree) = ratchet_tree {
            parse_tree(tree)?;
        }
        let group_info = group_info.map(parse_group_info).transpose()?;

        let slot = self.group(&group_id)?;
        // Owned, so the locked group can go to the validation thread and
        // come back: the lock is held throughout.
        let group = slot.write_owned().await;
        let old_epoch = group.check_sender(&sender, message.epoch().as_u64())?;
        if let Some(gi) = &group_info {
            if gi.group_id().as_slice() != group_id.as_slice() || gi.epoch().as_u64() != old_epoch + 1 {
                return Err(invalid(
                    ErrorCode::InvalidGroupInfo,
                    "group_info is not for this group's next epoch",
                ));
            }
        }
        self.validation.charge(&who, group_units(commit.len()))?;
        let (mut group, processed) = self
            .validation
            .run(&who, move || {
                let processed = group.public.process_message(&RustCrypto::default(), message);
                (group, processed)
            })
            .await?;
        let processed = processed.map_err(|e| invalid(ErrorCode::InvalidCommit, format!("commit rejected: {e}")))?;
        let Sender::Member(sender_leaf) = *processed.sender() else {
            return Err(invalid(ErrorCode::InvalidCommit, "commits must come from a member"));
        };
        let signer = group
            .public
            .leaf(sender_leaf)
            .map(client_id_of_leaf)
            .and_then(Result::ok)
            .ok_or_else(|| invalid(ErrorCode::InvalidCommit, "unknown sender leaf"))?;
        if signer != sender {
            return Err(invalid(ErrorCode::InvalidCommit, "commit is signed by another member"));
        }
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            return Err(invalid(ErrorCode::InvalidCommit, "not a commit"));
        };
        if let Some(leaf) = staged.update_path_leaf_node() {
            if client_id_of_leaf(leaf) != Ok(sender) {
                return Err(invalid(
                    ErrorCode::InvalidCommit,
                    "a member may not change its identity key",
                ));
            }
        }

        // Membership changes only: other proposals (group context
        // extensions, pre-shared keys, re-init) would change a group behind
        // the back of the rules the policies hold.
        if staged
            .queued_proposals()
            .any(|p| !matches!(p.proposal(), Proposal::Add(_) | Proposal::Remove(_)))
        {
            return Err(invalid(
                ErrorCode::InvalidCommit,
                "a commit may carry only add and remove proposals (and the committer's update path)",
            ));
        }

        // Who the commit adds (by key package reference) and removes.
        let mut added = Vec::new();
        let mut added_refs = HashSet::new();
        for add in staged.add_proposals() {
            let kp = add.add_proposal().key_package();
            let id = client_id_of_leaf(kp.leaf_node()).map_err(|e| invalid(ErrorCode::InvalidCommit, e))?;
            let kp_ref = kp.hash_ref(&self.crypto).map_err(|_| ServiceError::internal())?;
            added_refs.insert(kp_ref.as_slice().to_vec());
            added.push(id);
        }
        let removed: Vec<ClientId> = staged
            .remove_proposals()
            .filter_map(|r| group.public.leaf(r.remove_proposal().removed()).map(client_id_of_leaf))
            .filter_map(Result::ok)
            .collect();
        let new_size = group.members.len() + added.len() - removed.len().min(group.members.len());
        if new_size > self.limits.max_members_per_group as usize {
            return Err(invalid(
                ErrorCode::LimitExceeded,
                format!("groups are limited to {} members", self.limits.max_members_per_group),
            ));
        }
        for id in &added {
            let rejoining = group.members.contains(id);
            // A visitor's group (a team message) never counts against a
            // staff key's limit, so visitors cannot lock counsellors out.
            let uncounted = group.anonymous && self.is_staff(id);
            if !rejoining && !uncounted && self.groups_of(id) >= self.group_limit_of(id) {
                return Err(invalid(
                    ErrorCode::LimitExceeded,
                    "an added client is in too many groups",
                ));
            }
        }
        let policies = self.policies();
        let sanctioned = policies
            .iter()
            .any(|p| p.sanctions(&group_id, &sender, &added, &removed));
        for policy in policies.iter().filter(|_| !sanctioned) {
            policy.check_commit(&group_id, &sender, &added, &removed, new_size)?;
            if group.anonymous {
                policy.check_visitor_group_commit(&group_id, &sender, &added, &removed)?;
            }
        }
        match (&parsed_welcome, added.is_empty()) {
            (None, false) => {
                return Err(invalid(
                    ErrorCode::InvalidWelcome,
                    "the commit adds members but no Welcome came with it",
                ))
            }
            (Some(_), true) => {
                return Err(invalid(
                    ErrorCode::InvalidWelcome,
                    "a Welcome came with a commit that adds nobody",
                ))
            }
            (Some(w), false) => {
                let refs: HashSet<Vec<u8>> = w.secrets().iter().map(|s| s.new_member().as_slice().to_vec()).collect();
                if refs != added_refs || w.ciphersuite() != CIPHERSUITE {
                    return Err(invalid(
                        ErrorCode::InvalidWelcome,
                        "the Welcome is not for exactly the members this commit adds",
                    ));
                }
            }
            (None, true) => {}
        }

        // The commit wins its epoch. Everything below runs after the merge:
        // any failure would leave memory ahead of disk, so it is fatal.
        let old_members = group.members.clone();
        let state = &mut *group;
        if let Err(e) = state.public.merge_commit(&state.storage, *staged) {
            crate::fatal(&format!("merging a validated commit failed: {e:?}"));
        }
        let new_epoch = state.epoch();
        state.members = match members_of(&state.public) {
            Ok(m) => m,
            Err(e) => crate::fatal(&format!("merged group breaks the identity rule: {e}")),
        };
        state.last_activity = now_hour();
        state.last_activity_secs = now_secs();

        let now = now_secs();
        let commit_record = Arc::new(EnvelopeRecord {
            group_id: group_id.clone(),
            kind: EnvelopeKind::Commit,
            epoch: old_epoch,
            message: commit.to_vec(),
            ratchet_tree: Vec::new(),
            received_at: now,
        });
        // Every member of the old epoch gets the commit, the sender too (it
        // confirms the order and heals a sender that crashed before the
        // answer), and removed members learn they were removed.
        let mut deliveries: Vec<(ClientId, Arc<EnvelopeRecord>)> =
            old_members.iter().map(|m| (*m, commit_record.clone())).collect();
        // The Welcome goes to exactly the clients the Add proposals name,
        // including one removed and re-added by the same commit.
        if let Some(welcome) = welcome.filter(|_| !added.is_empty()) {
            let tree = match ratchet_tree {
                Some(t) => t.to_vec(),
                None => match state.public.export_ratchet_tree().tls_serialize_detached() {
                    Ok(t) => t,
                    Err(e) => crate::fatal(&format!("exporting a merged ratchet tree failed: {e}")),
                },
            };
            let welcome_record = Arc::new(EnvelopeRecord {
                group_id: group_id.clone(),
                kind: EnvelopeKind::Welcome,
                epoch: new_epoch,
                message: welcome.to_vec(),
                ratchet_tree: tree,
                received_at: now,
            });
            deliveries.extend(added.iter().map(|m| (*m, welcome_record.clone())));
        }
        let gone: Vec<ClientId> = old_members.difference(&state.members).copied().collect();
        self.update_memberships(&group_id, &gone, &added);
        let withheld: Vec<ClientId> = self.policies().iter().flat_map(|p| p.withheld(&group_id)).collect();
        deliveries.retain(|(member, _)| !withheld.contains(member));
        for policy in self.policies() {
            policy.committed(&group_id, &sender, &added, &removed);
        }
        let record = state.record();
        let pending = match self
            .mailboxes
            .enqueue(Some((group_id.clone(), Some(record))), deliveries)
            .await
        {
            Ok(p) => p,
            Err(e) => crate::fatal(&format!("could not queue a merged commit: {e}")),
        };
        Ok(Accepted {
            pending,
            result: (group_id, new_epoch),
            changes_group: true,
        })
    }

    /// Wait until an accepted request is durable and its recipients woken.
    pub async fn finish<T>(&self, accepted: Accepted<T>) -> ServiceResult<T> {
        match self.mailboxes.complete(accepted.pending).await {
            Ok(()) => Ok(accepted.result),
            // Memory is ahead of disk for this group: restart from disk.
            Err(e) if accepted.changes_group => crate::fatal(&format!("could not persist a group change: {e}")),
            Err(e) => Err(e.into()),
        }
    }

    /// Route an application message (a PrivateMessage) to every member. Only
    /// its group id, epoch and content type are read.
    pub async fn application_message(
        &self,
        sender: ClientId,
        message: &[u8],
    ) -> ServiceResult<Accepted<(Vec<u8>, u64)>> {
        let max = self.limits.max_mls_message_bytes;
        if message.len() > max {
            return Err(invalid(
                ErrorCode::EnvelopeTooLarge,
                format!("MLS messages are limited to {max} bytes"),
            ));
        }
        let parsed = parse_mls(message, "message")?
            .try_into_protocol_message()
            .map_err(|_| invalid(ErrorCode::InvalidMlsMessage, "message is not a PrivateMessage"))?;
        if parsed.wire_format() != WireFormat::PrivateMessage || parsed.content_type() != ContentType::Application {
            return Err(invalid(
                ErrorCode::InvalidMlsMessage,
                "send_message takes application messages as PrivateMessage; send commits with send_commit",
            ));
        }
        let group_id = parsed.group_id().as_slice().to_vec();
        let slot = self.group(&group_id)?;
        let mut group = slot.write().await;
        let epoch = group.check_sender(&sender, parsed.epoch().as_u64())?;
        let policies = self.policies();
        for policy in &policies {
            policy.check_message(&group_id, &sender)?;
        }
        let withheld: Vec<ClientId> = policies.iter().flat_map(|p| p.withheld(&group_id)).collect();
        // Skipping the sender's copy would tell a seized disk who sent it,
        // so a sender whose own mailbox is full must read it first.
        if self
            .mailboxes
            .is_full(&sender, self.limits.max_mailbox_envelopes)
            .await?
        {
            return Err(invalid(
                ErrorCode::LimitExceeded,
                "your mailbox is full; read it before sending more",
            ));
        }
        // The activity hour is stored at most once an hour per group, in
        // the same write as the message.
        let hour = now_hour();
        group.last_activity_secs = now_secs();
        let refreshed = (group.last_activity != hour).then(|| {
            group.last_activity = hour;
            (group_id.clone(), Some(group.record()))
        });
        let record = Arc::new(EnvelopeRecord {
            group_id: group_id.clone(),
            kind: EnvelopeKind::Application,
            epoch,
            message: message.to_vec(),
            ratchet_tree: Vec::new(),
            received_at: now_secs(),
        });
        // The sender gets its own message too: otherwise the one mailbox
        // without a copy would tell a seized disk who sent it.
        let deliveries = group
            .members
            .iter()
            .filter(|m| !withheld.contains(m))
            .map(|m| (*m, record.clone()))
            .collect();
        let pending = self.mailboxes.enqueue_bounded(refreshed, deliveries).await?;
        Ok(Accepted {
            pending,
            result: (group_id, epoch),
            changes_group: false,
        })
    }

    /// The groups `client` is a member of.
    pub async fn list_groups(&self, client: &ClientId) -> Vec<GroupSummary> {
        let ids: Vec<Vec<u8>> = self
            .memberships
            .lock()
            .get(client)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Ok(slot) = self.group(&id) else { continue };
            let group = slot.read().await;
            if !group.deleted && group.members.contains(client) {
                out.push(GroupSummary {
                    group_id: id.into(),
                    epoch: group.epoch(),
                    members: group.members.len() as u32,
                });
            }
        }
        out
    }

    /// Delete groups with no commit or message for `group_idle_expiry_secs`
    /// (their envelopes have expired long before), and anonymous groups no
    /// room keeps after `anonymous_group_idle_expiry_secs`. Returns how many.
    pub async fn expire_idle_groups(&self) -> usize {
        let now = now_secs();
        let cutoff_hour = now.saturating_sub(self.limits.group_idle_expiry_secs) / 3600;
        let anonymous_cutoff = now.saturating_sub(self.limits.anonymous_group_idle_expiry_secs);
        let candidates: Vec<(Vec<u8>, Arc<RwLock<GroupState>>)> = self
            .groups
            .read()
            .iter()
            .map(|(id, slot)| (id.clone(), slot.clone()))
            .collect();
        let mut expired = 0;
        for (group_id, slot) in candidates {
            let mut group = slot.write().await;
            if group.deleted {
                continue;
            }
            let idle = group.last_activity < cutoff_hour
                || (group.anonymous
                    && group.last_activity_secs < anonymous_cutoff
                    && !self.policies().iter().any(|p| p.keeps_group(&group_id)));
            if !idle {
                continue;
            }
            group.deleted = true;
            self.forget_group(&group_id, &group);
            let members: Vec<ClientId> = group.members.iter().copied().collect();
            self.update_memberships(&group_id, &members, &[]);
            match self.mailboxes.enqueue(Some((group_id, None)), Vec::new()).await {
                Ok(pending) => {
                    drop(group);
                    if let Err(e) = self.mailboxes.complete(pending).await {
                        crate::fatal(&format!("could not delete an idle group: {e}"));
                    }
                }
                Err(e) => crate::fatal(&format!("could not queue an idle group's deletion: {e}")),
            }
            expired += 1;
        }
        expired
    }
}

/// The heavy part of `create_group`: parse the GroupInfo and ratchet tree
/// and build the group's `PublicGroup` (which verifies the tree), then
/// check that the creator is its only member.
#[allow(clippy::type_complexity)]
fn track_new_group(
    creator: &ClientId,
    group_info: &[u8],
    ratchet_tree: &[u8],
) -> ServiceResult<(Vec<u8>, PublicGroup, MemoryStorage, HashSet<ClientId>)> {
    let group_info = parse_group_info(group_info)?;
    if group_info.ciphersuite() != CIPHERSUITE {
        return Err(invalid(
            ErrorCode::InvalidGroupInfo,
            "unsupported ciphersuite; use 0x0001",
        ));
    }
    if group_info.epoch().as_u64() != 0 {
        return Err(invalid(ErrorCode::InvalidGroupInfo, "a new group starts at epoch 0"));
    }
    let group_id = group_info.group_id().as_slice().to_vec();
    if group_id.is_empty() || group_id.len() > MAX_GROUP_ID_BYTES {
        return Err(invalid(
            ErrorCode::InvalidGroupInfo,
            format!("group id must be 1 to {MAX_GROUP_ID_BYTES} bytes"),
        ));
    }
    let tree = parse_tree(ratchet_tree)?;
    let storage = MemoryStorage::default();
    let crypto = RustCrypto::default();
    let (public, _) = PublicGroup::from_external(&crypto, &storage, tree, group_info, ProposalStore::new())
        .map_err(|e| invalid(ErrorCode::InvalidGroupInfo, format!("cannot track group: {e}")))?;
    let members = members_of(&public).map_err(|e| invalid(ErrorCode::InvalidGroupInfo, e))?;
    if members.len() != 1 || !members.contains(creator) {
        return Err(invalid(
            ErrorCode::InvalidGroupInfo,
            "the creator must be the group's only member",
        ));
    }
    Ok((group_id, public, storage, members))
}
