//! Groups' lives: creation within the group pools, listing, closing,
//! idle expiry.

use super::*;

impl Delivery {
    /// Start tracking a group from its creator's GroupInfo and ratchet tree.
    /// The cheap checks (sizes, the creator's and the pools' caps) come
    /// first; building the `PublicGroup` (every signature of the tree)
    /// runs in the bounded validation pool, charged to the source.
    pub async fn create_group(
        &self,
        rooms: Rooms<'_>,
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
        if self.groups_of(&creator, &rooms) >= self.group_limit_of(&creator, &rooms) {
            return Err(invalid(ErrorCode::LimitExceeded, "too many groups for this client"));
        }
        let anonymous = !rooms.is_staff(&creator);
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
            if self.groups_of(&creator, &rooms) >= self.group_limit_of(&creator, &rooms) {
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
            Err(e) => crate::fatal::stop(format!("could not queue a new group: {e}")),
        };
        drop(guard);
        Ok(Accepted {
            pending,
            result: (group_id, epoch),
            changes_group: true,
        })
    }

    pub(super) fn check_group_pools(&self, anonymous: bool) -> ServiceResult<()> {
        let tracked = self.groups.read().len();
        self.check_pools_locked(tracked, anonymous)
    }

    /// Staff may fill `max_groups`; anonymous keys only their share of it,
    /// so the rest always stays for chats and circles.
    pub(super) fn check_pools_locked(&self, tracked: usize, anonymous: bool) -> ServiceResult<()> {
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
            Err(e) => crate::fatal::stop(format!("could not queue a group's deletion: {e}")),
        };
        drop(group);
        if let Err(e) = self.mailboxes.complete(pending).await {
            crate::fatal::stop(format!("could not delete a group: {e}"));
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
                    && self.owners.owner_of(&group_id).is_none());
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
                        crate::fatal::stop(format!("could not delete an idle group: {e}"));
                    }
                }
                Err(e) => crate::fatal::stop(format!("could not queue an idle group's deletion: {e}")),
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
pub(super) fn track_new_group(
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
