//! Account lifecycle reaches the keys: the account → keys registry.
//!
//! - **Current key** (persisted, tree `staff_current_keys`: account id →
//!   client id): the last key that authenticated with a live session of the
//!   account. Others read it through [`Lifecycle::current_staff_key`] and
//!   [`Lifecycle::is_current_staff_key`] (or the same names on `Intake`).
//! - **Revoked keys** (persisted, tree `staff_revoked_keys`: client id →
//!   account id): every key of an account that was disabled, had its
//!   sessions revoked or its password reset. Nothing more is stored for a
//!   revoked key, its mailbox is purged of its groups' envelopes, its sends
//!   and commits are refused, and it cannot authenticate again. The other
//!   members of each group that still holds one of its leaves are asked
//!   (`remove_revoked_members`) to remove those leaves; any member may, with
//!   a commit that removes only them ([`policy`]).
//! - **Safety net**: when an account authenticates with a new key while an
//!   older key of hers is still the counsellor leaf of an open chat (her
//!   state was lost), and the new key has key packages, the chat's visitor
//!   is pushed `counsellor_reconnected` with one claimed key package of the
//!   new key and its badge (again each time she connects, until done). The
//!   visitor's commit add(new) + remove(old) is allowed by [`policy`].
//!
//! Memory holds one entry per account (its current key), per revoked key,
//! per group that still holds revoked leaves and per chat waiting for a
//! reconnect: each bounded by the accounts and the groups. Connections
//! are the presence registry's ([`crate::presence`]); this room listens
//! to it for the notices a connecting key is owed.

pub mod policy;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use parasol_protocol::{Bytes, ServerMessage, StaffBadge};
use parking_lot::Mutex;

use crate::audit::{Actor, Audit, AuditAction, AuditEvent};
use crate::delivery::Delivery;
use crate::directory::Directory;
use crate::intake::Intake;
use crate::mailbox::Mailboxes;
use crate::presence::{Connection, Presence, PresenceListener};
use crate::staff::{AccountKeysHook, Staff};
use crate::storage::owner::StateOwner;
use crate::storage::{ClientId, Storage, StorageError, Vault};

const CURRENT: &str = "staff_current_keys";
const REVOKED: &str = "staff_revoked_keys";

/// A chat waiting for its visitor to bring the counsellor's new key in.
#[derive(Debug, Clone)]
struct Reconnect {
    visitor: ClientId,
    old: ClientId,
    new: ClientId,
    key_package: Vec<u8>,
    badge: StaffBadge,
}

#[derive(Default)]
struct State {
    current: HashMap<u64, ClientId>,
    revoked: HashMap<ClientId, u64>,
    /// Groups that still hold revoked leaves, and those leaves.
    to_remove: HashMap<Vec<u8>, Vec<ClientId>>,
    /// Chats waiting for a reconnect commit, by group.
    reconnects: HashMap<Vec<u8>, Reconnect>,
}

pub struct Lifecycle {
    owner: StateOwner,
    vault: Vault,
    current_tree: sled::Tree,
    revoked_tree: sled::Tree,
    state: Mutex<State>,
    intake: Arc<Intake>,
    delivery: Arc<Delivery>,
    directory: Arc<Directory>,
    mailboxes: Arc<Mailboxes>,
    audit: Arc<Audit>,
    presence: Arc<Presence>,
}

fn client_of(bytes: &[u8]) -> Result<ClientId, StorageError> {
    bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt("expected a 32-byte client id".into()))
}

fn account_of(bytes: &[u8]) -> Result<u64, StorageError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt("expected an 8-byte account id".into()))?;
    Ok(u64::from_be_bytes(arr))
}

fn reconnect_notice(group_id: &[u8], r: &Reconnect) -> ServerMessage {
    ServerMessage::CounsellorReconnected {
        group_id: Bytes(group_id.to_vec()),
        old_client: Bytes(r.old.to_vec()),
        key_package: Bytes(r.key_package.clone()),
        badge: r.badge.clone(),
    }
}

fn removal_notice(group_id: &[u8], leaves: &[ClientId]) -> ServerMessage {
    ServerMessage::RemoveRevokedMembers {
        group_id: Bytes(group_id.to_vec()),
        clients: leaves.iter().map(|c| Bytes(c.to_vec())).collect(),
    }
}

impl Lifecycle {
    /// Load the registry, revoke the keys of accounts disabled while the
    /// server was stopped (the admin CLI then opens the database itself),
    /// and hook into delivery, the intake and the staff service.
    #[allow(clippy::too_many_arguments)]
    pub async fn load(
        storage: &Storage,
        staff: &Staff,
        intake: Arc<Intake>,
        delivery: Arc<Delivery>,
        directory: Arc<Directory>,
        mailboxes: Arc<Mailboxes>,
        audit: Arc<Audit>,
        presence: Arc<Presence>,
    ) -> Result<Arc<Self>, StorageError> {
        let vault = storage.vault().clone();
        // sled reads on the blocking pool, not on an async worker.
        let (current_tree, revoked_tree, state) = {
            let (db, vault) = (storage.db().clone(), vault.clone());
            tokio::task::spawn_blocking(move || -> Result<_, StorageError> {
                let current_tree = db.open_tree(CURRENT)?;
                let revoked_tree = db.open_tree(REVOKED)?;
                let mut state = State::default();
                for item in current_tree.iter() {
                    let (k, v) = item?;
                    let plain = vault.open_state(CURRENT, &k, &v)?;
                    state.current.insert(account_of(&k)?, client_of(&plain)?);
                }
                for item in revoked_tree.iter() {
                    let (k, v) = item?;
                    let plain = vault.open_state(REVOKED, &k, &v)?;
                    state.revoked.insert(client_of(&k)?, account_of(&plain)?);
                }
                Ok((current_tree, revoked_tree, state))
            })
            .await
            .map_err(|e| StorageError::Unavailable(format!("loading the key registry: {e}")))??
        };
        let lifecycle = Arc::new(Lifecycle {
            owner: storage.owner().clone(),
            vault,
            current_tree,
            revoked_tree,
            state: Mutex::new(state),
            intake: intake.clone(),
            delivery: delivery.clone(),
            directory,
            mailboxes,
            audit,
            presence,
        });
        let disabled: HashSet<u64> = staff
            .list()
            .await
            .map_err(|e| StorageError::Corrupt(format!("listing staff accounts: {e}")))?
            .into_iter()
            .filter(|a| a.disabled)
            .map(|a| a.account_id)
            .collect();
        {
            let mut state = lifecycle.state.lock();
            for (client, account) in intake.all_staff_keys() {
                if disabled.contains(&account) && !state.revoked.contains_key(&client) {
                    lifecycle.revoke_locked(&mut state, client, account)?;
                }
            }
            for account in &disabled {
                lifecycle.forget_current_locked(&mut state, *account)?;
            }
            let revoked: Vec<ClientId> = state.revoked.keys().copied().collect();
            for client in revoked {
                for group in delivery.group_ids_of(&client) {
                    let leaves = state.to_remove.entry(group).or_default();
                    if !leaves.contains(&client) {
                        leaves.push(client);
                    }
                }
            }
        }
        intake.set_key_registry(Arc::downgrade(&lifecycle));
        let hook: Weak<dyn AccountKeysHook> = Arc::downgrade(&lifecycle) as _;
        staff.add_key_hook(hook);
        Ok(lifecycle)
    }

    // ------------------------------------------------------------ read API

    /// The key this account last authenticated with in a live session, if
    /// it is not revoked.
    pub fn current_staff_key(&self, account: u64) -> Option<ClientId> {
        let state = self.state.lock();
        state
            .current
            .get(&account)
            .copied()
            .filter(|c| !state.revoked.contains_key(c))
    }

    /// Is `client` the current key of its account?
    pub fn is_current_staff_key(&self, client: &ClientId) -> bool {
        let state = self.state.lock();
        !state.revoked.contains_key(client) && state.current.values().any(|c| c == client)
    }

    /// Was `client` revoked (its account disabled, revoked or reset)?
    pub fn is_revoked(&self, client: &ClientId) -> bool {
        self.state.lock().revoked.contains_key(client)
    }

    // ----------------------------------------------------------- connections

    /// An authenticated connection: it gets the pushes that wait for it
    /// (leaves to remove from its groups; a visitor's reconnected
    /// counsellor).
    fn connected(&self, client: ClientId) {
        let groups = self.delivery.group_ids_of(&client);
        let state = self.state.lock();
        if state.revoked.contains_key(&client) {
            return;
        }
        for group in groups {
            if let Some(leaves) = state.to_remove.get(&group) {
                self.presence.notify(&client, removal_notice(&group, leaves));
            }
            if let Some(r) = state.reconnects.get(&group).filter(|r| r.visitor == client) {
                self.presence.notify(&client, reconnect_notice(&group, r));
            }
        }
    }

    /// A staff connection authenticated with `client`: it becomes the
    /// account's current key. Called before the intake hears of the
    /// connection, so what it seals on connect goes to this key.
    pub fn make_current(&self, account: u64, client: ClientId) {
        let changed = {
            let mut state = self.state.lock();
            if state.current.get(&account) == Some(&client) {
                false
            } else {
                state.current.insert(account, client);
                true
            }
        };
        if changed {
            let sealed = self.vault.seal_state(CURRENT, &account.to_be_bytes(), &client);
            let stored = sealed.and_then(|v| self.owner.insert(&self.current_tree, account.to_be_bytes(), v));
            if let Err(e) = stored {
                tracing::error!(error = %e, "storing a staff account's current key failed");
            }
        }
    }

    /// After [`Lifecycle::make_current`] and the intake: chats still
    /// holding an older key of hers get the safety net (once the key has
    /// key packages).
    pub async fn staff_authenticated(&self, account: u64, client: ClientId, badge: &StaffBadge) {
        self.offer_reconnects(account, client, badge).await;
    }

    /// A staff key published key packages: the safety net may go ahead now.
    pub async fn staff_published(&self, account: u64, client: ClientId, badge: &StaffBadge) {
        self.offer_reconnects(account, client, badge).await;
    }

    /// For each chat of `account` that holds an older key of hers but not
    /// `new`, claim a key package of `new` and ask the visitor to bring it in.
    async fn offer_reconnects(&self, account: u64, new: ClientId, badge: &StaffBadge) {
        for chat in self.intake.open_chats_of(account) {
            let pending = self.state.lock().reconnects.get(&chat.group_id).map(|r| r.new);
            if pending == Some(new) {
                continue; // asked already; repeated when she connects
            }
            let Some(members) = self.delivery.members(&chat.group_id).await else {
                continue;
            };
            if members.contains(&new) || !members.contains(&chat.visitor) {
                continue;
            }
            // Her old key in the chat: lost with her state, or revoked by a
            // password reset or a revocation of her sessions (then perhaps
            // removed already: the commit then only adds).
            let old = members
                .iter()
                .find(|m| self.intake.staff_account_of(m) == Some(account))
                .copied()
                .or(chat.counsellor_client.filter(|c| *c != new));
            let Some(old) = old else { continue };
            let claimed = match self.directory.claim(&new).await {
                Ok(c) => c,
                Err(_) => continue, // no key packages yet: again when she publishes
            };
            self.mailboxes
                .notify_owner(&new, claimed.owner_stock.one_time, claimed.owner_stock.last_resort);
            let reconnect = Reconnect {
                visitor: chat.visitor,
                old,
                new,
                key_package: claimed.key_package,
                badge: badge.clone(),
            };
            let mut state = self.state.lock();
            self.presence
                .notify(&chat.visitor, reconnect_notice(&chat.group_id, &reconnect));
            state.reconnects.insert(chat.group_id.clone(), reconnect);
            tracing::info!("a counsellor's chat waits for her visitor to bring her new key in");
        }
    }

    // ------------------------------------------------------------ revocation

    fn revoke_locked(&self, state: &mut State, client: ClientId, account: u64) -> Result<bool, StorageError> {
        if state.revoked.insert(client, account).is_some() {
            return Ok(false);
        }
        let sealed = self.vault.seal_state(REVOKED, &client, &account.to_be_bytes())?;
        self.owner.insert(&self.revoked_tree, client, sealed)?;
        Ok(true)
    }

    fn forget_current_locked(&self, state: &mut State, account: u64) -> Result<(), StorageError> {
        if state.current.remove(&account).is_some() {
            self.owner.remove(&self.current_tree, account.to_be_bytes())?;
        }
        Ok(())
    }

    /// Revoke every key of `account` (see the module docs).
    pub async fn revoke_account(&self, account: u64) -> Result<(), StorageError> {
        let keys = self.intake.staff_keys_of(account);
        let mut affected: HashMap<Vec<u8>, Vec<ClientId>> = HashMap::new();
        for key in &keys {
            for group in self.delivery.group_ids_of(key) {
                affected.entry(group).or_default().push(*key);
            }
        }
        let newly = {
            let mut state = self.state.lock();
            self.forget_current_locked(&mut state, account)?;
            let mut newly = 0;
            for key in &keys {
                if self.revoke_locked(&mut state, *key, account)? {
                    newly += 1;
                }
            }
            for (group, leaves) in &affected {
                let pending = state.to_remove.entry(group.clone()).or_default();
                for leaf in leaves {
                    if !pending.contains(leaf) {
                        pending.push(*leaf);
                    }
                }
            }
            state
                .reconnects
                .retain(|_, r| !keys.contains(&r.new) && !keys.contains(&r.old));
            newly
        };
        // Ask the other members to remove the leaves.
        for group in affected.keys() {
            let Some(members) = self.delivery.members(group).await else {
                continue;
            };
            let state = self.state.lock();
            let Some(leaves) = state.to_remove.get(group) else {
                continue;
            };
            for member in members.iter().filter(|m| !state.revoked.contains_key(*m)) {
                self.presence.notify(member, removal_notice(group, leaves));
            }
        }
        // What waits in the revoked keys' mailboxes for those groups goes.
        let purges: Vec<(ClientId, Vec<u8>)> = affected
            .iter()
            .flat_map(|(g, leaves)| leaves.iter().map(move |l| (*l, g.clone())))
            .collect();
        let mailboxes = self.mailboxes.clone();
        let purged = tokio::task::spawn_blocking(move || {
            purges
                .iter()
                .map(|(client, group)| mailboxes.purge_group(std::slice::from_ref(client), group))
                .sum::<Result<usize, StorageError>>()
        })
        .await
        .map_err(|e| StorageError::Unavailable(format!("purge task: {e}")))??;
        self.owner.sync().await?;
        let event = AuditEvent::new(Actor::System, AuditAction::KeysRevoked)
            .subject(format!("account:{account}"))
            .detail(format!(
                "{} keys revoked ({newly} new), in {} groups; {purged} envelopes purged",
                keys.len(),
                affected.len()
            ));
        if self.audit.record(event).await.is_err() {
            tracing::error!("writing the audit log failed");
        }
        tracing::info!(
            keys = keys.len(),
            groups = affected.len(),
            purged,
            "a staff account's keys were revoked"
        );
        Ok(())
    }

    // ------------------------------------------------------- for the policy

    /// Does this commit only remove revoked leaves from `group_id`, sent by
    /// a member who is not revoked?
    fn removes_only_revoked(
        &self,
        group_id: &[u8],
        sender: &ClientId,
        added: &[ClientId],
        removed: &[ClientId],
    ) -> bool {
        let state = self.state.lock();
        if state.revoked.contains_key(sender) || !added.is_empty() || removed.is_empty() {
            return false;
        }
        state
            .to_remove
            .get(group_id)
            .is_some_and(|leaves| removed.iter().all(|r| leaves.contains(r)))
    }

    /// Is this commit the visitor bringing her counsellor's new key in (and
    /// removing the old one, unless it is gone already)?
    fn is_reconnect_commit(
        &self,
        group_id: &[u8],
        sender: &ClientId,
        added: &[ClientId],
        removed: &[ClientId],
    ) -> bool {
        let state = self.state.lock();
        state
            .reconnects
            .get(group_id)
            .is_some_and(|r| r.visitor == *sender && added == [r.new] && (removed.is_empty() || removed == [r.old]))
    }

    fn withheld(&self, group_id: &[u8]) -> Vec<ClientId> {
        self.state.lock().to_remove.get(group_id).cloned().unwrap_or_default()
    }

    fn committed(&self, group_id: &[u8], sender: &ClientId, added: &[ClientId], removed: &[ClientId]) {
        let replaced = {
            let mut state = self.state.lock();
            if let Some(leaves) = state.to_remove.get_mut(group_id) {
                leaves.retain(|l| !removed.contains(l));
                if leaves.is_empty() {
                    state.to_remove.remove(group_id);
                }
            }
            match state.reconnects.get(group_id) {
                Some(r) if r.visitor == *sender && added.contains(&r.new) => {
                    state.reconnects.remove(group_id).map(|r| (r.old, r.new))
                }
                // Someone else brought the new key in, or the visitor's key
                // went (a re-add): the offer is stale. The old key going
                // alone (a revoked leaf removed) leaves it standing.
                Some(r) if added.contains(&r.new) || removed.contains(&r.visitor) => {
                    state.reconnects.remove(group_id);
                    None
                }
                _ => None,
            }
        };
        if let Some((old, new)) = replaced {
            self.intake.counsellor_key_replaced(group_id, &old, &new);
            tracing::info!("a visitor brought her counsellor's new key into the chat");
        }
    }
}

impl AccountKeysHook for Lifecycle {
    fn revoke_keys(&self, account_id: u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if let Err(e) = self.revoke_account(account_id).await {
                tracing::error!(error = %e, "revoking a staff account's keys failed");
            }
        })
    }
}

/// Told last of a connection, after the intake and escalation: the
/// notices it is owed follow what those rooms push on arrival.
impl PresenceListener for Lifecycle {
    fn connected(&self, connection: &Connection) -> crate::error::ServiceResult<()> {
        Lifecycle::connected(self, connection.client);
        Ok(())
    }

    fn disconnected(&self, _connection: &Connection, _was_current: bool) {}
}
