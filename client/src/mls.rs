//! The openmls glue: group configuration, key packages, commits, application
//! messages, and how an incoming mailbox envelope changes local group state.
//!
//! This module does no I/O. It exists separately from the network code so
//! the MLS rules of Parasol (one ciphersuite, mixed-plaintext wire format,
//! no ratchet-tree extension, join by Welcome only, "my own commit comes back
//! through my mailbox") can be tested without a server.

use std::collections::{BTreeMap, VecDeque};

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use parasol_protocol::{Envelope, EnvelopeKind};
use rand::RngCore;

use crate::error::ClientError;
use crate::event::Event;
use crate::identity::{ClientId, Identity};

/// The only ciphersuite Parasol uses.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// Message secrets of this many past epochs are kept, so an application
/// message that raced a commit can still be read. The server's ordering makes
/// this rare; keeping it small limits the forward-secrecy cost.
const MAX_PAST_EPOCHS: usize = 2;

/// Length of the random group ids this client creates.
pub const GROUP_ID_LEN: usize = 16;

/// Leaf capabilities: the defaults plus the last-resort extension, which a
/// last-resort key package must declare support for.
fn capabilities() -> Capabilities {
    Capabilities::builder()
        .ciphersuites(vec![CIPHERSUITE])
        .extensions(vec![ExtensionType::LastResort])
        .build()
}

/// Configuration for groups this client creates.
pub fn create_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(false)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .capabilities(capabilities())
        .build()
}

/// Configuration for groups this client joins by Welcome.
pub fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(false)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

/// The client id a credential names, if it is a BasicCredential of a 32-byte
/// identity that equals the leaf's signature key. Parasol binds identity and
/// signature key; a leaf that does not is rejected even if the server let it
/// through.
pub fn bound_client_id(credential: &Credential, signature_key: &[u8]) -> Option<ClientId> {
    let basic = BasicCredential::try_from(credential.clone()).ok()?;
    let id: ClientId = basic.identity().try_into().ok()?;
    (id.as_slice() == signature_key).then_some(id)
}

fn member_id(member: &Member) -> Option<ClientId> {
    bound_client_id(&member.credential, &member.signature_key)
}

fn leaf_id(leaf: &LeafNode) -> Option<ClientId> {
    bound_client_id(leaf.credential(), leaf.signature_key().as_slice())
}

fn kp_id(kp: &KeyPackage) -> Option<ClientId> {
    leaf_id(kp.leaf_node())
}

fn parse_mls(bytes: &[u8]) -> Result<MlsMessageIn, ClientError> {
    MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| ClientError::mls("parse MLSMessage", e))
}

fn to_bytes(msg: &MlsMessageOut) -> Result<Vec<u8>, ClientError> {
    msg.to_bytes().map_err(|e| ClientError::mls("serialize MLSMessage", e))
}

/// The openmls storage as key/value pairs (what the state file keeps).
pub type StorageSnapshot = Vec<(Vec<u8>, Vec<u8>)>;

/// A freshly created group: its id, MLSMessage(GroupInfo) and ratchet tree,
/// ready for `create_group`.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub group_id: Vec<u8>,
    pub group_info: Vec<u8>,
    pub ratchet_tree: Vec<u8>,
}

/// What a commit does.
#[derive(Debug, Clone)]
pub enum CommitOp {
    /// Add the owners of these (validated) key packages.
    Add(Vec<KeyPackage>),
    /// Remove these members.
    Remove(Vec<ClientId>),
    /// Refresh my own leaf (new encryption keys, post-compromise security).
    Update,
    /// Replace members' leaves with these fresh key packages of the same
    /// identities (remove and add in one commit): how a member whose device
    /// lost its MLS state comes back.
    Readd(Vec<KeyPackage>),
    /// Remove these members and add the owners of these key packages in
    /// one commit: a visitor who lost its MLS state comes back with a new
    /// key, so its old leaf goes and its new one comes in the same epoch
    /// (no moment where the chat has a dead leaf or two visitors).
    Replace {
        remove: Vec<ClientId>,
        add: Vec<KeyPackage>,
    },
}

/// A staged commit, serialized for `send_commit`. The group has it as its
/// pending commit until it is merged or cleared.
#[derive(Debug, Clone)]
pub struct CommitBundle {
    /// MLSMessage(PublicMessage) with the commit.
    pub commit: Vec<u8>,
    /// MLSMessage(Welcome), when members are added.
    pub welcome: Option<Vec<u8>>,
    /// MLSMessage(GroupInfo) of the epoch after the commit.
    pub group_info: Option<Vec<u8>>,
    /// TLS-serialized ratchet tree after the commit.
    pub ratchet_tree: Option<Vec<u8>>,
    /// The epoch the commit was created in (the server's current epoch if it
    /// is accepted).
    pub epoch: u64,
}

/// A group this client knows: usable (`group` is Some) or left.
pub(crate) struct GroupSlot {
    pub(crate) group: Option<MlsGroup>,
}

/// All MLS state of one client: the openmls provider (crypto + storage), the
/// signer, and the groups.
pub struct MlsEngine {
    identity: Identity,
    signer: SignatureKeyPair,
    provider: OpenMlsRustCrypto,
    groups: BTreeMap<Vec<u8>, GroupSlot>,
    /// Digests of application messages I sent and have not seen come back.
    /// The server puts my own messages in my mailbox too (so a seized
    /// mailbox does not reveal who sent what); these let me skip them.
    sent: VecDeque<[u8; 32]>,
}

/// Own-message digests remembered at most (older ones are forgotten; such a
/// message would show up as an undecryptable-envelope error).
const MAX_SENT_DIGESTS: usize = 4096;

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl std::fmt::Debug for MlsEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlsEngine")
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl MlsEngine {
    /// An engine with empty storage.
    pub fn new(identity: Identity) -> Self {
        MlsEngine {
            signer: identity.mls_signer(),
            identity,
            provider: OpenMlsRustCrypto::default(),
            groups: BTreeMap::new(),
            sent: VecDeque::new(),
        }
    }

    /// Digests of my sent messages not yet seen in my mailbox (persisted).
    pub(crate) fn sent_digests(&self) -> Vec<[u8; 32]> {
        self.sent.iter().copied().collect()
    }

    pub(crate) fn restore_sent_digests(&mut self, digests: Vec<[u8; 32]>) {
        self.sent = digests.into();
    }

    /// Restore from a storage snapshot and the list of known groups
    /// (`(group_id, active)`).
    pub fn restore(
        identity: Identity,
        storage: StorageSnapshot,
        groups: Vec<(Vec<u8>, bool)>,
    ) -> Result<Self, ClientError> {
        let mut engine = MlsEngine::new(identity);
        {
            let mut values = engine
                .provider
                .storage()
                .values
                .write()
                .map_err(|_| ClientError::State("storage lock poisoned".into()))?;
            values.extend(storage);
        }
        for (gid, active) in groups {
            let group = if active {
                let g = MlsGroup::load(engine.provider.storage(), &GroupId::from_slice(&gid))
                    .map_err(|e| ClientError::mls("load group", e))?
                    .ok_or_else(|| ClientError::State("group state missing in storage".into()))?;
                Some(g)
            } else {
                None
            };
            engine.groups.insert(gid, GroupSlot { group });
        }
        Ok(engine)
    }

    /// A copy of the openmls storage, for persistence.
    pub fn storage_snapshot(&self) -> Result<StorageSnapshot, ClientError> {
        let values = self
            .provider
            .storage()
            .values
            .read()
            .map_err(|_| ClientError::State("storage lock poisoned".into()))?;
        let mut out: Vec<_> = values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        out.sort();
        Ok(out)
    }

    /// `(group_id, active)` of every known group.
    pub fn group_records(&self) -> Vec<(Vec<u8>, bool)> {
        self.groups
            .iter()
            .map(|(k, s)| (k.clone(), s.group.is_some()))
            .collect()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn client_id(&self) -> ClientId {
        self.identity.client_id()
    }

    /// Ids of the groups this client is an active member of.
    pub fn active_groups(&self) -> Vec<Vec<u8>> {
        self.groups
            .iter()
            .filter(|(_, s)| s.group.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Ids of groups with a pending (sent but not yet resolved) commit.
    pub fn groups_with_pending_commit(&self) -> Vec<Vec<u8>> {
        self.groups
            .iter()
            .filter(|(_, s)| s.group.as_ref().is_some_and(|g| g.pending_commit().is_some()))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn group(&self, gid: &[u8]) -> Result<&MlsGroup, ClientError> {
        match self.groups.get(gid) {
            None => Err(ClientError::UnknownGroup),
            Some(GroupSlot { group: None }) => Err(ClientError::GroupInactive),
            Some(GroupSlot { group: Some(g) }) => Ok(g),
        }
    }

    fn group_mut<'a>(
        groups: &'a mut BTreeMap<Vec<u8>, GroupSlot>,
        gid: &[u8],
    ) -> Result<&'a mut MlsGroup, ClientError> {
        match groups.get_mut(gid) {
            None => Err(ClientError::UnknownGroup),
            Some(GroupSlot { group: None }) => Err(ClientError::GroupInactive),
            Some(GroupSlot { group: Some(g) }) => Ok(g),
        }
    }

    /// Whether this client knows the group (active or left).
    pub fn knows_group(&self, gid: &[u8]) -> bool {
        self.groups.contains_key(gid)
    }

    /// The group's current local epoch.
    pub fn epoch(&self, gid: &[u8]) -> Result<u64, ClientError> {
        Ok(self.group(gid)?.epoch().as_u64())
    }

    /// Client ids of the group's members, in leaf order.
    pub fn members(&self, gid: &[u8]) -> Result<Vec<ClientId>, ClientError> {
        Ok(self.group(gid)?.members().filter_map(|m| member_id(&m)).collect())
    }

    pub fn has_pending_commit(&self, gid: &[u8]) -> Result<bool, ClientError> {
        Ok(self.group(gid)?.pending_commit().is_some())
    }

    /// Build `count` key packages (TLS-serialized MLSMessage(KeyPackage)).
    /// Their private keys go into the openmls storage.
    pub fn generate_key_packages(&mut self, count: usize, last_resort: bool) -> Result<Vec<Vec<u8>>, ClientError> {
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let mut builder = KeyPackage::builder().leaf_node_capabilities(capabilities());
            if last_resort {
                builder = builder.mark_as_last_resort();
            }
            let bundle = builder
                .build(
                    CIPHERSUITE,
                    &self.provider,
                    &self.signer,
                    self.identity.credential_with_key(),
                )
                .map_err(|e| ClientError::mls("build key package", e))?;
            let msg = MlsMessageOut::from(bundle.key_package().clone());
            out.push(to_bytes(&msg)?);
        }
        Ok(out)
    }

    /// Parse and verify a claimed key package, and check it belongs to
    /// `expected` (credential identity and signature key).
    pub fn validate_key_package(&self, bytes: &[u8], expected: &ClientId) -> Result<KeyPackage, ClientError> {
        let (kp, owner) = self.parse_key_package(bytes)?;
        if owner != *expected {
            return Err(ClientError::Mls(
                "key package does not belong to the requested client".into(),
            ));
        }
        Ok(kp)
    }

    /// Parse and verify a key package whose owner is not known beforehand
    /// (a visitor's, handed over by the intake). Returns it with the client
    /// id its credential binds; a credential not bound to its signature key
    /// is refused.
    pub fn parse_key_package(&self, bytes: &[u8]) -> Result<(KeyPackage, ClientId), ClientError> {
        let kp_in = match parse_mls(bytes)?.extract() {
            MlsMessageBodyIn::KeyPackage(kp) => kp,
            _ => return Err(ClientError::Mls("data is not a key package".into())),
        };
        let kp = kp_in
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
            .map_err(|e| ClientError::mls("invalid key package", e))?;
        if kp.ciphersuite() != CIPHERSUITE {
            return Err(ClientError::Mls("key package has the wrong ciphersuite".into()));
        }
        let owner = kp_id(&kp)
            .ok_or_else(|| ClientError::Mls("key package credential is not bound to its signature key".into()))?;
        Ok((kp, owner))
    }

    /// Create a new group with this client as its only member.
    pub fn create_group(&mut self) -> Result<NewGroup, ClientError> {
        let mut gid = vec![0u8; GROUP_ID_LEN];
        rand::rngs::OsRng.fill_bytes(&mut gid);
        let group = MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &create_config(),
            GroupId::from_slice(&gid),
            self.identity.credential_with_key(),
        )
        .map_err(|e| ClientError::mls("create group", e))?;
        let group_info = group
            .export_group_info(self.provider.crypto(), &self.signer, false)
            .map_err(|e| ClientError::mls("export group info", e))?;
        let group_info = to_bytes(&group_info)?;
        let tree = group
            .export_ratchet_tree()
            .tls_serialize_detached()
            .map_err(|e| ClientError::mls("serialize ratchet tree", e))?;
        self.groups.insert(gid.clone(), GroupSlot { group: Some(group) });
        Ok(NewGroup {
            group_id: gid,
            group_info,
            ratchet_tree: tree,
        })
    }

    /// Forget a group entirely (e.g. the server refused to create it).
    pub fn discard_group(&mut self, gid: &[u8]) {
        if let Some(mut slot) = self.groups.remove(gid) {
            if let Some(g) = slot.group.as_mut() {
                if let Err(e) = g.delete(self.provider.storage()) {
                    tracing::warn!(error = ?e, "could not delete group state");
                }
            }
        }
    }

    /// Stage a commit for `op`. Returns `None` when there is nothing to do
    /// (every member to add is already in, every member to remove is gone).
    /// Fails if the group already has a pending commit.
    pub fn build_commit(&mut self, gid: &[u8], op: &CommitOp) -> Result<Option<CommitBundle>, ClientError> {
        let MlsEngine {
            signer,
            provider,
            groups,
            ..
        } = self;
        let group = Self::group_mut(groups, gid)?;
        if group.pending_commit().is_some() {
            return Err(ClientError::State("the group has an unresolved pending commit".into()));
        }
        let epoch = group.epoch().as_u64();
        let current: Vec<(LeafNodeIndex, Option<ClientId>)> =
            group.members().map(|m| (m.index, member_id(&m))).collect();
        let is_member = |id: &ClientId| current.iter().any(|(_, m)| m.as_ref() == Some(id));
        let builder = group.commit_builder();
        let builder = match op {
            CommitOp::Add(kps) => {
                let mut seen = Vec::new();
                let mut todo = Vec::new();
                for kp in kps {
                    let Some(id) = kp_id(kp) else {
                        return Err(ClientError::Mls("key package without a valid identity".into()));
                    };
                    if !is_member(&id) && !seen.contains(&id) {
                        seen.push(id);
                        todo.push(kp.clone());
                    }
                }
                if todo.is_empty() {
                    return Ok(None);
                }
                builder.propose_adds(todo)
            }
            CommitOp::Remove(ids) => {
                let leaves: Vec<LeafNodeIndex> = current
                    .iter()
                    .filter(|(_, m)| m.as_ref().is_some_and(|m| ids.contains(m)))
                    .map(|(i, _)| *i)
                    .collect();
                if leaves.is_empty() {
                    return Ok(None);
                }
                builder.propose_removals(leaves)
            }
            CommitOp::Update => builder.force_self_update(true).consume_proposal_store(true),
            CommitOp::Readd(kps) => {
                let ids: Vec<ClientId> = kps.iter().filter_map(kp_id).collect();
                if ids.len() != kps.len() {
                    return Err(ClientError::Mls("key package without a valid identity".into()));
                }
                let leaves: Vec<LeafNodeIndex> = current
                    .iter()
                    .filter(|(_, m)| m.as_ref().is_some_and(|m| ids.contains(m)))
                    .map(|(i, _)| *i)
                    .collect();
                if leaves.len() != ids.len() {
                    return Err(ClientError::NotAMember);
                }
                builder.propose_removals(leaves).propose_adds(kps.clone())
            }
            CommitOp::Replace { remove, add } => {
                let leaves: Vec<LeafNodeIndex> = current
                    .iter()
                    .filter(|(_, m)| m.as_ref().is_some_and(|m| remove.contains(m)))
                    .map(|(i, _)| *i)
                    .collect();
                let mut seen = Vec::new();
                let mut todo = Vec::new();
                for kp in add {
                    let Some(id) = kp_id(kp) else {
                        return Err(ClientError::Mls("key package without a valid identity".into()));
                    };
                    // A key that stays in the group is not added twice.
                    let stays = is_member(&id) && !remove.contains(&id);
                    if !stays && !seen.contains(&id) {
                        seen.push(id);
                        todo.push(kp.clone());
                    }
                }
                if leaves.is_empty() && todo.is_empty() {
                    return Ok(None);
                }
                builder.propose_removals(leaves).propose_adds(todo)
            }
        };
        let bundle = builder
            .load_psks(provider.storage())
            .map_err(|e| ClientError::mls("commit (psks)", e))?
            .create_group_info(true)
            .build(provider.rand(), provider.crypto(), &*signer, |_| true)
            .map_err(|e| ClientError::mls("build commit", e))?
            .stage_commit(&*provider)
            .map_err(|e| ClientError::mls("stage commit", e))?;

        let commit = to_bytes(bundle.commit())?;
        let welcome = bundle.to_welcome_msg().map(|w| to_bytes(&w)).transpose()?;
        let group_info = bundle
            .group_info()
            .cloned()
            .map(|gi| to_bytes(&MlsMessageOut::from(gi)))
            .transpose()?;
        let ratchet_tree = match group.pending_commit() {
            Some(staged) => staged
                .export_ratchet_tree(provider.crypto(), group.export_ratchet_tree())
                .ok()
                .flatten()
                .map(|t| t.tls_serialize_detached())
                .transpose()
                .map_err(|e| ClientError::mls("serialize ratchet tree", e))?,
            None => None,
        };
        Ok(Some(CommitBundle {
            commit,
            welcome,
            group_info,
            ratchet_tree,
            epoch,
        }))
    }

    /// The server accepted my pending commit: merge it. Returns the new epoch.
    pub fn merge_pending_commit(&mut self, gid: &[u8]) -> Result<u64, ClientError> {
        let MlsEngine { provider, groups, .. } = self;
        let group = Self::group_mut(groups, gid)?;
        group
            .merge_pending_commit(&*provider)
            .map_err(|e| ClientError::mls("merge pending commit", e))?;
        Ok(group.epoch().as_u64())
    }

    /// The server refused my pending commit: forget it.
    pub fn clear_pending_commit(&mut self, gid: &[u8]) -> Result<(), ClientError> {
        let MlsEngine { provider, groups, .. } = self;
        let group = Self::group_mut(groups, gid)?;
        group
            .clear_pending_commit(provider.storage())
            .map_err(|e| ClientError::mls("clear pending commit", e))
    }

    /// Encrypt a text message for the group (MLSMessage(PrivateMessage)).
    pub fn encrypt(&mut self, gid: &[u8], text: &str) -> Result<Vec<u8>, ClientError> {
        self.encrypt_bytes(gid, text.as_bytes())
    }

    /// Encrypt any application payload (a text, or a typing signal).
    pub fn encrypt_bytes(&mut self, gid: &[u8], payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        let MlsEngine {
            signer,
            provider,
            groups,
            ..
        } = self;
        let group = Self::group_mut(groups, gid)?;
        let msg = group
            .create_message(&*provider, &*signer, payload)
            .map_err(|e| ClientError::mls("encrypt message", e))?;
        let bytes = to_bytes(&msg)?;
        if self.sent.len() >= MAX_SENT_DIGESTS {
            self.sent.pop_front();
        }
        self.sent.push_back(digest(&bytes));
        Ok(bytes)
    }

    /// Apply one mailbox envelope. Never fails: a problem becomes an
    /// [`Event::Error`] for that envelope.
    pub fn apply_envelope(&mut self, env: &Envelope) -> Vec<Event> {
        let result = match env.kind {
            EnvelopeKind::Welcome => self.apply_welcome(env),
            EnvelopeKind::Commit => self.apply_commit(env),
            EnvelopeKind::Application => self.apply_application(env),
        };
        match result {
            Ok(events) => events,
            Err(e) => {
                tracing::debug!(seq = env.seq, kind = ?env.kind, error = %e, "envelope failed");
                vec![Event::Error {
                    seq: Some(env.seq),
                    group_id: Some(env.group_id.0.clone()),
                    code: None,
                    message: e.to_string(),
                }]
            }
        }
    }

    fn apply_welcome(&mut self, env: &Envelope) -> Result<Vec<Event>, ClientError> {
        // A Welcome into a group I hold at its epoch or later is a duplicate;
        // into a later epoch it means my state is stale (restored from an
        // old backup, say) and a member re-added me: the Welcome replaces it.
        let stale = match self.groups.get(&env.group_id.0) {
            Some(GroupSlot { group: Some(g) }) if g.epoch().as_u64() >= env.epoch => return Ok(vec![]),
            Some(GroupSlot { group: Some(_) }) => true,
            _ => false,
        };
        let welcome = match parse_mls(&env.message.0)?.extract() {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => return Err(ClientError::Mls("welcome envelope without a Welcome".into())),
        };
        let tree = env
            .ratchet_tree
            .as_ref()
            .ok_or_else(|| ClientError::Protocol("welcome envelope without ratchet tree".into()))?;
        let tree =
            RatchetTreeIn::tls_deserialize_exact(&tree.0).map_err(|e| ClientError::mls("parse ratchet tree", e))?;
        if stale {
            // A stale copy cannot catch up any more (its commits are gone),
            // and openmls will not stage a Welcome over a stored group.
            self.discard_group(&env.group_id.0);
        }
        let staged = StagedWelcome::new_from_welcome(&self.provider, &join_config(), welcome, Some(tree))
            .map_err(|e| ClientError::mls("process welcome", e))?;
        if staged.members().any(|m| member_id(&m).is_none()) {
            return Err(ClientError::Mls(
                "group has a member whose credential is not bound to its key".into(),
            ));
        }
        let group = staged
            .into_group(&self.provider)
            .map_err(|e| ClientError::mls("join group", e))?;
        let gid = group.group_id().as_slice().to_vec();
        if gid != env.group_id.0 {
            tracing::warn!("welcome envelope group id differs from the MLS group id");
        }
        let epoch = group.epoch().as_u64();
        self.groups.insert(gid.clone(), GroupSlot { group: Some(group) });
        Ok(vec![Event::Joined {
            group_id: gid,
            epoch,
            seq: env.seq,
        }])
    }

    fn apply_commit(&mut self, env: &Envelope) -> Result<Vec<Event>, ClientError> {
        let MlsEngine { provider, groups, .. } = self;
        let gid = env.group_id.0.clone();
        let slot = groups.get_mut(&gid).ok_or(ClientError::UnknownGroup)?;
        let Some(group) = slot.group.as_mut() else {
            // I left this group; later commits are none of my business.
            return Ok(vec![]);
        };
        let local = group.epoch().as_u64();
        if env.epoch < local {
            // Already merged (my own accepted commit, or a duplicate).
            return Ok(vec![]);
        }
        if env.epoch > local {
            return Err(ClientError::Protocol(format!(
                "commit for epoch {} but the group is at epoch {local}",
                env.epoch
            )));
        }
        let message = parse_mls(&env.message.0)?
            .try_into_protocol_message()
            .map_err(|e| ClientError::mls("commit envelope", e))?;
        let own = match &message {
            ProtocolMessage::PublicMessage(pm) => {
                matches!(pm.sender(), Sender::Member(i) if *i == group.own_leaf_index())
            }
            ProtocolMessage::PrivateMessage(_) => false,
        };
        if own {
            if let Some(staged) = group.pending_commit() {
                // My own commit, accepted while I was not looking (crash or
                // lost connection between sending and the answer).
                let (added, removed) = summarize(group, staged);
                group
                    .merge_pending_commit(&*provider)
                    .map_err(|e| ClientError::mls("merge own commit", e))?;
                return Ok(vec![Event::MembershipChanged {
                    group_id: gid,
                    epoch: group.epoch().as_u64(),
                    added,
                    removed,
                    seq: env.seq,
                }]);
            }
        }
        // Someone else's commit won this epoch; mine (if any) lost.
        group
            .clear_pending_commit(provider.storage())
            .map_err(|e| ClientError::mls("clear pending commit", e))?;
        let processed = group
            .process_message(&*provider, message)
            .map_err(|e| ClientError::mls("process commit", e))?;
        let staged = match processed.into_content() {
            ProcessedMessageContent::StagedCommitMessage(staged) => staged,
            _ => return Err(ClientError::Mls("commit envelope without a commit".into())),
        };
        // Parasol binds credential identity to signature key; refuse commits
        // that introduce a leaf that does not.
        if staged
            .add_proposals()
            .any(|p| kp_id(p.add_proposal().key_package()).is_none())
            || staged.update_path_leaf_node().is_some_and(|l| leaf_id(l).is_none())
        {
            return Err(ClientError::Mls(
                "commit adds a leaf whose credential is not bound to its key".into(),
            ));
        }
        let (added, removed) = summarize(group, &staged);
        let self_removed = staged.self_removed();
        group
            .merge_staged_commit(&*provider, *staged)
            .map_err(|e| ClientError::mls("merge commit", e))?;
        let epoch = group.epoch().as_u64();
        if self_removed {
            if let Err(e) = group.delete(provider.storage()) {
                tracing::warn!(error = ?e, "could not delete state of a left group");
            }
            slot.group = None;
            return Ok(vec![Event::Removed {
                group_id: gid,
                epoch,
                seq: env.seq,
            }]);
        }
        Ok(vec![Event::MembershipChanged {
            group_id: gid,
            epoch,
            added,
            removed,
            seq: env.seq,
        }])
    }

    fn apply_application(&mut self, env: &Envelope) -> Result<Vec<Event>, ClientError> {
        let own = digest(&env.message.0);
        if let Some(i) = self.sent.iter().position(|d| *d == own) {
            self.sent.remove(i);
            return Ok(Vec::new()); // my own message, back in its place in the order
        }
        let MlsEngine { provider, groups, .. } = self;
        let gid = env.group_id.0.clone();
        let group = Self::group_mut(groups, &gid)?;
        let message = parse_mls(&env.message.0)?
            .try_into_protocol_message()
            .map_err(|e| ClientError::mls("application envelope", e))?;
        if !matches!(message, ProtocolMessage::PrivateMessage(_)) {
            return Err(ClientError::Mls("application message is not encrypted".into()));
        }
        let processed = group
            .process_message(&*provider, message)
            .map_err(|e| ClientError::mls("decrypt message", e))?;
        let epoch = processed.epoch().as_u64();
        let sender = match processed.sender().clone() {
            Sender::Member(i) => group
                .member_at(i)
                .and_then(|m| member_id(&m))
                .filter(|id| bound_client_id(processed.credential(), id.as_slice()).as_ref() == Some(id))
                .ok_or_else(|| ClientError::Mls("sender has no bound identity".into()))?,
            _ => return Err(ClientError::Mls("application message from a non-member".into())),
        };
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                let bytes = app.into_bytes();
                if let Some(typing) = crate::typing::signal(&bytes) {
                    return Ok(vec![Event::Typing {
                        group_id: gid,
                        sender,
                        typing,
                        seq: env.seq,
                    }]);
                }
                let text =
                    String::from_utf8(bytes).map_err(|_| ClientError::Mls("message is not UTF-8 text".into()))?;
                Ok(vec![Event::Message {
                    group_id: gid,
                    sender,
                    text,
                    epoch,
                    seq: env.seq,
                }])
            }
            _ => Err(ClientError::Mls(
                "application envelope carried a handshake message".into(),
            )),
        }
    }
}

/// Who a staged commit adds and removes (removed ids are read from the group
/// before the commit is merged).
fn summarize(group: &MlsGroup, staged: &StagedCommit) -> (Vec<ClientId>, Vec<ClientId>) {
    let added = staged
        .add_proposals()
        .filter_map(|p| kp_id(p.add_proposal().key_package()))
        .collect();
    let removed = staged
        .remove_proposals()
        .filter_map(|p| group.member_at(p.remove_proposal().removed()))
        .filter_map(|m| member_id(&m))
        .collect();
    (added, removed)
}

#[cfg(test)]
mod tests {
    //! Two and three in-process clients exchanging MLS data through fake
    //! envelopes: proves the glue without a server.

    use super::*;
    use crate::store::ClientState;
    use parasol_protocol::Bytes;

    struct Peer {
        state: ClientState,
        next_seq: u64,
    }

    impl Peer {
        fn new() -> Self {
            Peer {
                state: ClientState::in_memory(Identity::generate()),
                next_seq: 1,
            }
        }

        fn id(&self) -> ClientId {
            self.state.client_id()
        }

        fn mls(&mut self) -> &mut MlsEngine {
            self.state.mls_mut()
        }

        /// Deliver one envelope and return the events it produced.
        fn deliver(
            &mut self,
            gid: &[u8],
            kind: EnvelopeKind,
            epoch: u64,
            message: &[u8],
            tree: Option<&[u8]>,
        ) -> Vec<Event> {
            let env = Envelope {
                seq: self.next_seq,
                group_id: Bytes(gid.to_vec()),
                kind,
                epoch,
                message: Bytes(message.to_vec()),
                ratchet_tree: tree.map(|t| Bytes(t.to_vec())),
                received_at: 0,
            };
            self.next_seq += 1;
            assert!(self.state.apply_envelope(&env).unwrap());
            assert_eq!(self.state.cursor(), env.seq);
            self.state.events.drain(..).collect()
        }

        fn claim_from(&self, other: &mut Peer, last_resort: bool) -> KeyPackage {
            let kp = other.mls().generate_key_packages(1, last_resort).unwrap();
            self.state.mls().validate_key_package(&kp[0], &other.id()).unwrap()
        }
    }

    /// A creates a group and adds B; returns the group id.
    fn group_of_two(a: &mut Peer, b: &mut Peer) -> Vec<u8> {
        let gid = a.mls().create_group().unwrap().group_id;
        let kp = a.claim_from(b, false);
        let bundle = a.mls().build_commit(&gid, &CommitOp::Add(vec![kp])).unwrap().unwrap();
        assert_eq!(bundle.epoch, 0);
        assert!(bundle.group_info.is_some());
        assert_eq!(a.mls().merge_pending_commit(&gid).unwrap(), 1);
        let events = b.deliver(
            &gid,
            EnvelopeKind::Welcome,
            1,
            bundle.welcome.as_deref().unwrap(),
            bundle.ratchet_tree.as_deref(),
        );
        assert_eq!(
            events,
            vec![Event::Joined {
                group_id: gid.clone(),
                epoch: 1,
                seq: 1
            }]
        );
        // The server echoes the accepted commit into A's own mailbox: skipped.
        assert!(a
            .deliver(&gid, EnvelopeKind::Commit, 0, &bundle.commit, None)
            .is_empty());
        gid
    }

    fn send(from: &mut Peer, to: &mut Peer, gid: &[u8], text: &str) {
        let epoch = from.mls().epoch(gid).unwrap();
        let ct = from.mls().encrypt(gid, text).unwrap();
        let events = to.deliver(gid, EnvelopeKind::Application, epoch, &ct, None);
        match &events[..] {
            [Event::Message {
                sender,
                text: got,
                group_id,
                epoch: e,
                ..
            }] => {
                assert_eq!(sender, &from.id());
                assert_eq!(got, text);
                assert_eq!(group_id, gid);
                assert_eq!(*e, epoch);
            }
            other => panic!("unexpected events {other:?}"),
        }
    }

    #[test]
    fn group_create_add_via_welcome_and_message() {
        let (mut a, mut b) = (Peer::new(), Peer::new());
        let gid = group_of_two(&mut a, &mut b);
        let mut expected = vec![a.id(), b.id()];
        expected.sort();
        for p in [&a, &b] {
            let mut m = p.state.mls().members(&gid).unwrap();
            m.sort();
            assert_eq!(m, expected);
            assert_eq!(p.state.mls().epoch(&gid).unwrap(), 1);
        }
        send(&mut a, &mut b, &gid, "hello from a");
        send(&mut b, &mut a, &gid, "hello from b ☂");
        send(&mut a, &mut b, &gid, "again");
    }

    #[test]
    fn own_commit_in_mailbox_heals_a_crash() {
        let (mut a, mut b) = (Peer::new(), Peer::new());
        let gid = group_of_two(&mut a, &mut b);
        // A sends an update commit and "crashes" before the answer: the
        // commit stays pending. Its own mailbox then delivers it.
        let bundle = a.mls().build_commit(&gid, &CommitOp::Update).unwrap().unwrap();
        assert!(a.mls().has_pending_commit(&gid).unwrap());
        let ev = a.deliver(&gid, EnvelopeKind::Commit, 1, &bundle.commit, None);
        assert!(matches!(&ev[..], [Event::MembershipChanged { epoch: 2, .. }]));
        assert!(!a.mls().has_pending_commit(&gid).unwrap());
        let ev = b.deliver(&gid, EnvelopeKind::Commit, 1, &bundle.commit, None);
        assert!(matches!(&ev[..], [Event::MembershipChanged { epoch: 2, .. }]));
        send(&mut a, &mut b, &gid, "after update");
        send(&mut b, &mut a, &gid, "reply");
    }

    #[test]
    fn concurrent_commits_converge() {
        let (mut a, mut b) = (Peer::new(), Peer::new());
        let gid = group_of_two(&mut a, &mut b);
        let from_a = a.mls().build_commit(&gid, &CommitOp::Update).unwrap().unwrap();
        let from_b = b.mls().build_commit(&gid, &CommitOp::Update).unwrap().unwrap();
        assert_eq!(from_a.epoch, from_b.epoch);
        // The server accepts A's. A merges on the answer; B gets stale_epoch,
        // clears its pending commit and processes A's commit from the mailbox.
        a.mls().merge_pending_commit(&gid).unwrap();
        b.mls().clear_pending_commit(&gid).unwrap();
        b.deliver(&gid, EnvelopeKind::Commit, 1, &from_a.commit, None);
        assert_eq!(b.mls().epoch(&gid).unwrap(), 2);
        // B retries on the new epoch.
        let retry = b.mls().build_commit(&gid, &CommitOp::Update).unwrap().unwrap();
        assert_eq!(retry.epoch, 2);
        b.mls().merge_pending_commit(&gid).unwrap();
        a.deliver(&gid, EnvelopeKind::Commit, 1, &from_a.commit, None); // own echo
        a.deliver(&gid, EnvelopeKind::Commit, 2, &retry.commit, None);
        assert_eq!(a.mls().epoch(&gid).unwrap(), 3);
        send(&mut a, &mut b, &gid, "converged");
        send(&mut b, &mut a, &gid, "yes");
    }

    #[test]
    fn message_from_the_previous_epoch_after_my_commit() {
        // B's message was accepted at epoch 1 just before A's commit, so it
        // sits in A's mailbox before the echo of A's commit, but A merged its
        // commit as soon as the server accepted it.
        let (mut a, mut b) = (Peer::new(), Peer::new());
        let gid = group_of_two(&mut a, &mut b);
        let ct = b.mls().encrypt(&gid, "sent at epoch 1").unwrap();
        let commit = a.mls().build_commit(&gid, &CommitOp::Update).unwrap().unwrap();
        a.mls().merge_pending_commit(&gid).unwrap();
        let ev = a.deliver(&gid, EnvelopeKind::Application, 1, &ct, None);
        assert!(
            matches!(&ev[..], [Event::Message { text, epoch: 1, .. }] if text == "sent at epoch 1"),
            "{ev:?}"
        );
        assert!(a
            .deliver(&gid, EnvelopeKind::Commit, 1, &commit.commit, None)
            .is_empty());
        b.deliver(&gid, EnvelopeKind::Commit, 1, &commit.commit, None);
        send(&mut b, &mut a, &gid, "epoch 2");
    }

    #[test]
    fn losing_commit_is_cleared_when_the_winner_arrives() {
        // B never got an answer (crash) and finds A's commit in its mailbox.
        let (mut a, mut b) = (Peer::new(), Peer::new());
        let gid = group_of_two(&mut a, &mut b);
        let from_a = a.mls().build_commit(&gid, &CommitOp::Update).unwrap().unwrap();
        let _lost = b.mls().build_commit(&gid, &CommitOp::Update).unwrap().unwrap();
        a.mls().merge_pending_commit(&gid).unwrap();
        let ev = b.deliver(&gid, EnvelopeKind::Commit, 1, &from_a.commit, None);
        assert!(matches!(&ev[..], [Event::MembershipChanged { epoch: 2, .. }]));
        assert!(!b.mls().has_pending_commit(&gid).unwrap());
        send(&mut b, &mut a, &gid, "still here");
    }

    #[test]
    fn three_members_remove_and_last_resort() {
        let (mut a, mut b, mut c) = (Peer::new(), Peer::new(), Peer::new());
        let gid = group_of_two(&mut a, &mut b);
        // Add C with a last-resort key package.
        let kp = a.claim_from(&mut c, true);
        assert!(kp.last_resort());
        let add = a.mls().build_commit(&gid, &CommitOp::Add(vec![kp])).unwrap().unwrap();
        a.mls().merge_pending_commit(&gid).unwrap();
        let ev = b.deliver(&gid, EnvelopeKind::Commit, 1, &add.commit, None);
        match &ev[..] {
            [Event::MembershipChanged { added, removed, .. }] => {
                assert_eq!(added, &vec![c.id()]);
                assert!(removed.is_empty());
            }
            other => panic!("{other:?}"),
        }
        c.deliver(
            &gid,
            EnvelopeKind::Welcome,
            2,
            add.welcome.as_deref().unwrap(),
            add.ratchet_tree.as_deref(),
        );
        send(&mut c, &mut a, &gid, "hi from c");
        // Adding someone already in the group is a no-op.
        let kp_again = a.claim_from(&mut c, false);
        assert!(a
            .mls()
            .build_commit(&gid, &CommitOp::Add(vec![kp_again]))
            .unwrap()
            .is_none());
        // A removes B.
        let rm = a
            .mls()
            .build_commit(&gid, &CommitOp::Remove(vec![b.id()]))
            .unwrap()
            .unwrap();
        a.mls().merge_pending_commit(&gid).unwrap();
        let ev = b.deliver(&gid, EnvelopeKind::Commit, 2, &rm.commit, None);
        assert!(matches!(&ev[..], [Event::Removed { epoch: 3, .. }]));
        assert!(b.state.mls().active_groups().is_empty());
        assert!(matches!(b.mls().epoch(&gid), Err(ClientError::GroupInactive)));
        let ev = c.deliver(&gid, EnvelopeKind::Commit, 2, &rm.commit, None);
        match &ev[..] {
            [Event::MembershipChanged { removed, epoch, .. }] => {
                assert_eq!(removed, &vec![b.id()]);
                assert_eq!(*epoch, 3);
            }
            other => panic!("{other:?}"),
        }
        // Later commits to a left group are ignored.
        assert!(b.deliver(&gid, EnvelopeKind::Commit, 3, &rm.commit, None).is_empty());
        send(&mut a, &mut c, &gid, "without b");
    }

    #[test]
    fn replace_swaps_a_lost_member_for_a_new_key_in_one_commit() {
        let (mut a, mut b, mut b2) = (Peer::new(), Peer::new(), Peer::new());
        let gid = group_of_two(&mut a, &mut b);
        // B lost its state and came back as B2: A removes B and adds B2.
        let kp_b2 = b2.mls().generate_key_packages(1, false).unwrap();
        let (kp, owner) = a.state.mls().parse_key_package(&kp_b2[0]).unwrap();
        assert_eq!(owner, b2.id());
        let op = CommitOp::Replace {
            remove: vec![b.id()],
            add: vec![kp.clone()],
        };
        let bundle = a.mls().build_commit(&gid, &op).unwrap().unwrap();
        assert_eq!(a.mls().merge_pending_commit(&gid).unwrap(), 2);
        let mut members = a.state.mls().members(&gid).unwrap();
        members.sort();
        let mut expected = vec![a.id(), b2.id()];
        expected.sort();
        assert_eq!(members, expected);
        b2.deliver(
            &gid,
            EnvelopeKind::Welcome,
            2,
            bundle.welcome.as_deref().unwrap(),
            bundle.ratchet_tree.as_deref(),
        );
        let ev = b.deliver(&gid, EnvelopeKind::Commit, 1, &bundle.commit, None);
        assert!(matches!(&ev[..], [Event::Removed { epoch: 2, .. }]), "{ev:?}");
        send(&mut a, &mut b2, &gid, "welcome back");
        send(&mut b2, &mut a, &gid, "thanks");
        // Done already: nothing to commit.
        assert!(a.mls().build_commit(&gid, &op).unwrap().is_none());
        // A key package that is not bound to its key is refused.
        assert!(a.state.mls().parse_key_package(b"junk").is_err());
    }

    #[test]
    fn bad_envelopes_become_error_events() {
        let (mut a, mut b) = (Peer::new(), Peer::new());
        let gid = group_of_two(&mut a, &mut b);
        for kind in [EnvelopeKind::Application, EnvelopeKind::Commit] {
            let ev = b.deliver(&gid, kind, 1, b"garbage", None);
            assert!(matches!(&ev[..], [Event::Error { seq: Some(_), .. }]), "{ev:?}");
        }
        // A Welcome for a group I am already in is a duplicate: ignored.
        assert!(b.deliver(&gid, EnvelopeKind::Welcome, 1, b"garbage", None).is_empty());
        let ev = b.deliver(b"other", EnvelopeKind::Welcome, 1, b"garbage", Some(b"x"));
        assert!(matches!(&ev[..], [Event::Error { .. }]), "{ev:?}");
        // A commit from the future is refused, not applied.
        let ev = b.deliver(&gid, EnvelopeKind::Commit, 7, b"x", None);
        assert!(matches!(&ev[..], [Event::Error { .. }]));
        // An envelope for an unknown group.
        let ev = b.deliver(b"nope", EnvelopeKind::Application, 1, b"x", None);
        assert!(matches!(&ev[..], [Event::Error { .. }]));
        // Still works afterwards.
        send(&mut a, &mut b, &gid, "fine");
    }

    #[test]
    fn duplicate_envelopes_are_skipped() {
        let (mut a, mut b) = (Peer::new(), Peer::new());
        let gid = group_of_two(&mut a, &mut b);
        let ct = a.mls().encrypt(&gid, "once").unwrap();
        let env = Envelope {
            seq: b.next_seq,
            group_id: Bytes(gid.clone()),
            kind: EnvelopeKind::Application,
            epoch: 1,
            message: Bytes(ct),
            ratchet_tree: None,
            received_at: 0,
        };
        assert!(b.state.apply_envelope(&env).unwrap());
        assert!(!b.state.apply_envelope(&env).unwrap());
        assert_eq!(b.state.events.len(), 1);
    }

    #[test]
    fn key_package_of_someone_else_is_rejected() {
        let (a, mut b, c) = (Peer::new(), Peer::new(), Peer::new());
        let kp = b.mls().generate_key_packages(1, false).unwrap();
        assert!(a.state.mls().validate_key_package(&kp[0], &c.id()).is_err());
        assert!(a.state.mls().validate_key_package(b"junk", &b.id()).is_err());
    }

    #[test]
    fn state_survives_a_restart_mid_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.state");
        let mut a = Peer::new();
        let mut b = Peer {
            state: ClientState::create(&path, Identity::generate()).unwrap(),
            next_seq: 1,
        };
        let gid = group_of_two(&mut a, &mut b);
        send(&mut a, &mut b, &gid, "before restart");
        let next_seq = b.next_seq;
        drop(b);
        let mut b = Peer {
            state: ClientState::open(&path).unwrap(),
            next_seq,
        };
        assert_eq!(b.state.cursor(), next_seq - 1);
        // `deliver` drained the queue without saving, so the event is still
        // in the file (the Client hands events out with a save).
        assert_eq!(b.state.events.len(), 1);
        b.state.events.clear();
        send(&mut a, &mut b, &gid, "after restart");
        send(&mut b, &mut a, &gid, "b still can send");
    }
}
