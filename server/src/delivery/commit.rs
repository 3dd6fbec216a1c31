//! Commits: validated against the group's public state, its owner's rules
//! and the key registry's, merged, persisted and fanned out in order.

use super::*;

impl Delivery {
    /// Validate a commit against the group's current epoch; if it wins,
    /// merge it, store it and fan it out (with the Welcome to the members
    /// it adds) in one write. The cheap checks come first; openmls's
    /// processing (signatures, the update path) runs in the bounded
    /// validation pool, charged to `who`'s source, under the group's lock,
    /// so commits to one group are still validated and merged in order.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit(
        &self,
        rooms: Rooms<'_>,
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
            let uncounted = group.anonymous && rooms.is_staff(id);
            if !rejoining && !uncounted && self.groups_of(id, &rooms) >= self.group_limit_of(id, &rooms) {
                return Err(invalid(
                    ErrorCode::LimitExceeded,
                    "an added client is in too many groups",
                ));
            }
        }
        // The owner's rules, then the key registry's (which may vouch for
        // the commit instead).
        let owner_rules = rooms.of(self.owners.owner_of(&group_id));
        let registry = rooms.every_group;
        if !registry.sanctions(&group_id, &sender, &added, &removed) {
            owner_rules.check_commit(&group_id, &sender, &added, &removed, new_size)?;
            if group.anonymous {
                owner_rules.check_visitor_group_commit(&group_id, &sender, &added, &removed)?;
            }
            registry.check_commit(&group_id, &sender, &added, &removed, new_size)?;
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
            crate::fatal::stop(format!("merging a validated commit failed: {e:?}"));
        }
        let new_epoch = state.epoch();
        state.members = match members_of(&state.public) {
            Ok(m) => m,
            Err(e) => crate::fatal::stop(format!("merged group breaks the identity rule: {e}")),
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
                    Err(e) => crate::fatal::stop(format!("exporting a merged ratchet tree failed: {e}")),
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
        let mut withheld = owner_rules.withheld(&group_id);
        withheld.extend(registry.withheld(&group_id));
        deliveries.retain(|(member, _)| !withheld.contains(member));
        owner_rules.committed(&group_id, &sender, &added, &removed);
        registry.committed(&group_id, &sender, &added, &removed);
        let record = state.record();
        let pending = match self
            .mailboxes
            .enqueue(Some((group_id.clone(), Some(record))), deliveries)
            .await
        {
            Ok(p) => p,
            Err(e) => crate::fatal::stop(format!("could not queue a merged commit: {e}")),
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
            Err(e) if accepted.changes_group => crate::fatal::stop(format!("could not persist a group change: {e}")),
            Err(e) => Err(e.into()),
        }
    }
}
