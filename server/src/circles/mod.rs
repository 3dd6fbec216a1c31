//! Peer support circles: group chats that trained peers moderate, joined
//! by invitation. The MLS group is an ordinary delivery group; this room
//! adds who moderates it, invitations, join requests, mutes and departures,
//! and enforces them (`policy.rs`) on every commit and message the delivery
//! service accepts for a group the owner record gives the circles
//! (`delivery::owners`).
//!
//! Rooms: the circle's life in `lifecycle.rs`, invitations and joining in
//! `invitations.rs`, mutes, moderators and leaving in `members.rs`, the
//! rules on commits in `policy.rs`.
//!
//! What it stores is in `store.rs`: never a display name beyond a pending
//! request, never an invitation code (only its hash), and nothing that ties
//! one circle's member key to another's.

mod invitations;
mod lifecycle;
mod members;
mod policy;
mod store;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parasol_protocol::circle::{
    normalize_invitation_code, INVITATION_ALPHABET, INVITATION_CODE_CHARS, MAX_CIRCLE_TEXT_CHARS,
    MAX_DISPLAY_NAME_CHARS,
};
use parasol_protocol::{
    Bytes, CircleInfo, CircleMember, ErrorCode, InvitationPreview, InvitationState, JoinRequest, ServerMessage,
    StaffRole,
};
use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::audit::{Actor, Audit, AuditAction, AuditEvent};
use crate::config::CirclesConfig;
use crate::delivery::{Delivery, Owner};
use crate::directory::Directory;
use crate::error::{ServiceError, ServiceResult};
use crate::intake::abuse::SourceKey;
use crate::intake::{Intake, StaffSession};
use crate::presence::Presence;
use crate::storage::{ClientId, StorageError};
use crate::time::now_secs;
use store::{CircleRecord, CircleStore, InvitationRecord, JoinRecord};

fn err(code: ErrorCode, message: impl Into<String>) -> ServiceError {
    ServiceError::new(code, message)
}

fn unknown_circle() -> ServiceError {
    err(ErrorCode::UnknownCircle, "no such circle, or not one you are in")
}

fn moderators_only() -> ServiceError {
    err(ErrorCode::Forbidden, "only the circle's moderators may do this")
}

#[derive(Default)]
struct State {
    circles: HashMap<u64, CircleRecord>,
    by_group: HashMap<Vec<u8>, u64>,
    invitations: HashMap<u64, InvitationRecord>,
    by_code: HashMap<Vec<u8>, u64>,
    joins: HashMap<u64, JoinRecord>,
    next_id: u64,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The circle whose MLS group this is.
    fn circle_of_group(&self, group_id: &[u8]) -> Option<&CircleRecord> {
        self.by_group.get(group_id).and_then(|id| self.circles.get(id))
    }
}

pub struct Circles {
    config: CirclesConfig,
    languages: Vec<String>,
    store: CircleStore,
    delivery: Arc<Delivery>,
    directory: Arc<Directory>,
    intake: Arc<Intake>,
    audit: Arc<Audit>,
    /// Pushes go to a member's or moderator's connection, if she has one.
    presence: Arc<Presence>,
    state: Mutex<State>,
}

impl Circles {
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        config: CirclesConfig,
        languages: Vec<String>,
        storage: &crate::storage::Storage,
        delivery: Arc<Delivery>,
        directory: Arc<Directory>,
        intake: Arc<Intake>,
        audit: Arc<Audit>,
        presence: Arc<Presence>,
    ) -> Result<Arc<Self>, StorageError> {
        let store = CircleStore::open(storage)?;
        let mut state = State::default();
        for c in store.circles()? {
            state.next_id = state.next_id.max(c.id);
            state.by_group.insert(c.group_id.clone(), c.id);
            state.circles.insert(c.id, c);
        }
        for i in store.invitations()? {
            state.next_id = state.next_id.max(i.id);
            state.by_code.insert(i.code_hash.clone(), i.id);
            state.invitations.insert(i.id, i);
        }
        for j in store.joins()? {
            state.next_id = state.next_id.max(j.id);
            state.joins.insert(j.id, j);
        }
        // The owner record is not stored: set it again from the circles
        // loaded (a circle's group is no chat's).
        for (group, id) in &state.by_group {
            let _ = delivery.owners().claim(group, Owner::Circle { id: *id });
        }
        let circles = Arc::new(Circles {
            config,
            languages,
            store,
            delivery: delivery.clone(),
            directory,
            intake,
            audit,
            presence,
            state: Mutex::new(state),
        });
        Ok(circles)
    }

    async fn flush(&self) -> ServiceResult<()> {
        self.store.flush().await.map_err(ServiceError::from)
    }

    fn audit(&self, actor: Actor, action: AuditAction, circle: u64) {
        let event = AuditEvent::new(actor, action).subject(format!("circle:{circle}"));
        if self.audit.record_nowait(event).is_err() {
            tracing::error!("writing the audit log failed");
        }
    }

    /// Staff are recorded by account; anyone else as an anonymous member.
    fn actor_of(&self, client: &ClientId) -> Actor {
        self.intake.staff_account_of(client).map_or(Actor::Member, Actor::Staff)
    }

    fn is_member(&self, circle: &CircleRecord, client: &ClientId) -> bool {
        self.delivery.group_ids_of(client).contains(&circle.group_id)
    }

    // ---------------------------------------------------------------- pushes

    /// To each of the circle's moderators that is connected.
    fn push_moderators(&self, circle: &CircleRecord, msg: &ServerMessage) {
        for m in &circle.moderators {
            self.presence.notify(m, msg.clone());
        }
    }

    // ------------------------------------------------- helpers for every room

    fn info(&self, c: &CircleRecord, client: &ClientId, members: usize) -> CircleInfo {
        CircleInfo {
            circle_id: c.id,
            group_id: Bytes(c.group_id.clone()),
            name: c.name.clone(),
            language: c.language.clone(),
            topic: c.topic.clone(),
            auto_approve: c.auto_approve,
            moderator: c.moderators.contains(client),
            members: members as u32,
            max_members: self.config.max_members,
        }
    }

    fn check_text(what: &str, text: &str, max: usize) -> ServiceResult<String> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("{what} must be 1 to {max} characters, without control characters"),
            ));
        }
        Ok(text.to_string())
    }

    /// The circle, if `client` moderates it.
    fn moderated(&self, state: &State, client: &ClientId, circle_id: u64) -> ServiceResult<CircleRecord> {
        let c = state.circles.get(&circle_id).ok_or_else(unknown_circle)?;
        if !c.moderators.contains(client) {
            // Members learn it exists; strangers do not.
            return Err(if self.is_member(c, client) {
                moderators_only()
            } else {
                unknown_circle()
            });
        }
        Ok(c.clone())
    }

    // ------------------------------------------------------- the group policy

    /// On every message of every group: (muted, departed) for `sender`,
    /// without copying the circle.
    fn sender_standing(&self, group_id: &[u8], sender: &ClientId) -> Option<(bool, bool)> {
        let state = self.state.lock();
        let c = state.circle_of_group(group_id)?;
        Some((c.muted.contains(sender), c.departed.contains(sender)))
    }

    /// On every message of every group: who left and is not removed yet.
    fn departed_of(&self, group_id: &[u8]) -> Vec<ClientId> {
        let state = self.state.lock();
        state
            .circle_of_group(group_id)
            .map_or_else(Vec::new, |c| c.departed.clone())
    }

    fn circle_of_group(&self, group_id: &[u8]) -> Option<CircleRecord> {
        self.state.lock().circle_of_group(group_id).cloned()
    }

    /// After a merged commit: requests whose key was added are done, and
    /// removed keys leave the circle's lists.
    fn committed(&self, group_id: &[u8], sender: &ClientId, added: &[ClientId], removed: &[ClientId]) {
        let (circle, done) = {
            let mut state = self.state.lock();
            let Some(id) = state.by_group.get(group_id).copied() else {
                return;
            };
            let done: Vec<u64> = state
                .joins
                .values()
                .filter(|j| j.circle_id == id && added.contains(&j.client))
                .map(|j| j.id)
                .collect();
            let mut named = Vec::new();
            for j in &done {
                if let Some(j) = state.joins.remove(j) {
                    named.push((j.client, j.display_name));
                }
            }
            let Some(c) = state.circles.get_mut(&id) else { return };
            for r in removed {
                c.departed.retain(|m| m != r);
                c.muted.retain(|m| m != r);
                c.moderators.retain(|m| m != r);
                c.names.retain(|(k, _)| k != r);
            }
            for (k, name) in named {
                c.names.retain(|(other, _)| *other != k);
                c.names.push((k, name));
            }
            (c.clone(), done)
        };
        for j in &done {
            if self.store.delete_join(*j).is_err() {
                tracing::error!("deleting a join request failed");
            }
        }
        if (!removed.is_empty() || !done.is_empty()) && self.store.put_circle(&circle).is_err() {
            tracing::error!("storing a circle failed");
        }
        let actor = self.actor_of(sender);
        for _ in &done {
            self.audit(actor, AuditAction::JoinApproved, circle.id);
        }
        for _ in removed {
            self.audit(actor, AuditAction::MemberRemoved, circle.id);
        }
    }
}
