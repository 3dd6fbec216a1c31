//! Peer support circles: group chats that trained peers moderate, joined
//! by invitation. The MLS group is an ordinary delivery group; this room
//! adds who moderates it, invitations, join requests, mutes and departures,
//! and enforces them through [`policy::CirclePolicy`] on every commit and
//! message the delivery service accepts.
//!
//! What it stores is in `store.rs`: never a display name beyond a pending
//! request, never an invitation code (only its hash), and nothing that ties
//! one circle's member key to another's.

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
use crate::delivery::Delivery;
use crate::directory::Directory;
use crate::error::{ServiceError, ServiceResult};
use crate::intake::abuse::SourceKey;
use crate::intake::{Intake, Notifier, StaffSession};
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
    /// Connections of moderators and members, for pushes.
    connected: HashMap<ClientId, (u64, Notifier)>,
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

    fn moderates(&self, client: &ClientId) -> bool {
        self.circles.values().any(|c| c.moderators.contains(client))
    }

    fn push(&self, to: &ClientId, msg: ServerMessage) {
        if let Some((_, tx)) = self.connected.get(to) {
            let _ = tx.try_send(Box::new(msg));
        }
    }

    fn push_moderators(&self, circle: &CircleRecord, msg: &ServerMessage) {
        for m in &circle.moderators {
            self.push(m, msg.clone());
        }
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
    state: Mutex<State>,
}

impl Circles {
    pub fn load(
        config: CirclesConfig,
        languages: Vec<String>,
        storage: &crate::storage::Storage,
        delivery: Arc<Delivery>,
        directory: Arc<Directory>,
        intake: Arc<Intake>,
        audit: Arc<Audit>,
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
        let circles = Arc::new(Circles {
            config,
            languages,
            store,
            delivery: delivery.clone(),
            directory,
            intake,
            audit,
            state: Mutex::new(state),
        });
        delivery.add_policy(Arc::new(policy::CirclePolicy(Arc::downgrade(&circles))));
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

    // ------------------------------------------------------------ connections

    /// A connection authenticated: remember it for pushes if its key is in
    /// a circle.
    pub fn connected(&self, client: ClientId, connection: u64, notices: Notifier) {
        let groups = self.delivery.group_ids_of(&client);
        let mut state = self.state.lock();
        let involved = state.moderates(&client)
            || groups.iter().any(|g| state.by_group.contains_key(g))
            || state.joins.values().any(|j| j.client == client);
        if involved {
            state.connected.insert(client, (connection, notices));
        }
    }

    pub fn disconnected(&self, client: &ClientId, connection: u64) {
        let mut state = self.state.lock();
        if state.connected.get(client).is_some_and(|(c, _)| *c == connection) {
            state.connected.remove(client);
        }
    }

    fn listen(&self, client: ClientId, connection: Option<(u64, Notifier)>) {
        if let Some(c) = connection {
            self.state.lock().connected.insert(client, c);
        }
    }

    // -------------------------------------------------------------- moderators

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

    /// Counsellors and supervisors turn a group they created (and are the
    /// only member of) into a circle they moderate.
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        staff: &StaffSession,
        connection: Option<(u64, Notifier)>,
        group_id: Vec<u8>,
        name: &str,
        language: &str,
        topic: &str,
        auto_approve: bool,
    ) -> ServiceResult<CircleInfo> {
        if !matches!(staff.role, StaffRole::Counsellor | StaffRole::Supervisor) {
            return Err(err(ErrorCode::Forbidden, "counsellors and supervisors create circles"));
        }
        let name = Self::check_text("the name", name, MAX_CIRCLE_TEXT_CHARS)?;
        let topic = Self::check_text("the topic", topic, MAX_CIRCLE_TEXT_CHARS)?;
        if !self.languages.iter().any(|l| l == language) {
            return Err(err(ErrorCode::InvalidRequest, "unknown language; see intake_info"));
        }
        let members = self
            .delivery
            .members(&group_id)
            .await
            .ok_or_else(|| err(ErrorCode::UnknownGroup, "no such group"))?;
        if !members.contains(&staff.client) {
            return Err(err(ErrorCode::Forbidden, "a circle starts from a group of your own"));
        }
        if members.len() != 1 || self.intake.is_chat_group(&group_id) {
            return Err(err(
                ErrorCode::InvalidState,
                "a circle starts from a new group whose only member is you",
            ));
        }
        let record = {
            let mut state = self.state.lock();
            if state.by_group.contains_key(&group_id) {
                return Err(err(ErrorCode::InvalidState, "this group is already a circle"));
            }
            if state.circles.len() >= self.config.max_circles {
                return Err(err(
                    ErrorCode::LimitExceeded,
                    "the server holds as many circles as it may",
                ));
            }
            let id = state.next_id();
            let record = CircleRecord {
                id,
                group_id: group_id.clone(),
                name,
                language: language.to_string(),
                topic,
                auto_approve,
                created_by: staff.account_id,
                created_at: now_secs(),
                moderators: vec![staff.client],
                muted: Vec::new(),
                departed: Vec::new(),
                names: vec![(staff.client, staff.display_name.clone())],
            };
            state.by_group.insert(group_id, id);
            state.circles.insert(id, record.clone());
            record
        };
        self.store.put_circle(&record)?;
        self.flush().await?;
        self.listen(staff.client, connection);
        self.audit(Actor::Staff(staff.account_id), AuditAction::CircleCreated, record.id);
        Ok(self.info(&record, &staff.client, 1))
    }

    /// The circles `client` moderates or is a member of.
    pub async fn list(&self, client: &ClientId) -> Vec<CircleInfo> {
        let groups: HashSet<Vec<u8>> = self.delivery.group_ids_of(client).into_iter().collect();
        let circles: Vec<CircleRecord> = {
            let state = self.state.lock();
            let mut v: Vec<CircleRecord> = state
                .circles
                .values()
                .filter(|c| c.moderators.contains(client) || groups.contains(&c.group_id))
                .filter(|c| !c.departed.contains(client))
                .cloned()
                .collect();
            v.sort_by_key(|c| c.id);
            v
        };
        let mut out = Vec::with_capacity(circles.len());
        for c in circles {
            let members = self.delivery.members(&c.group_id).await.map_or(0, |m| m.len());
            out.push(self.info(&c, client, members));
        }
        out
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

    fn invitation_state(i: &InvitationRecord, code: Option<String>) -> InvitationState {
        InvitationState {
            invitation_id: i.id,
            circle_id: i.circle_id,
            code,
            expires_at: i.expires_at,
            max_uses: i.max_uses,
            uses: i.uses,
            revoked: i.revoked,
        }
    }

    pub async fn create_invitation(
        &self,
        client: &ClientId,
        circle_id: u64,
        expires_in_secs: u32,
        max_uses: u32,
    ) -> ServiceResult<InvitationState> {
        if expires_in_secs == 0 || expires_in_secs > self.config.max_invitation_secs {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("an invitation lasts 1 to {} seconds", self.config.max_invitation_secs),
            ));
        }
        if max_uses == 0 || max_uses > self.config.max_invitation_uses {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("an invitation has 1 to {} uses", self.config.max_invitation_uses),
            ));
        }
        let mut raw = [0u8; INVITATION_CODE_CHARS];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let code: String = raw
            .iter()
            .map(|b| INVITATION_ALPHABET[usize::from(b & 31)] as char)
            .collect();
        let now = now_secs();
        let record = {
            let mut state = self.state.lock();
            let circle = self.moderated(&state, client, circle_id)?;
            self.forget_expired_invitations(&mut state, now);
            // Revoked and expired ones do not count (they are kept a day so
            // their code still says why it stopped working).
            let live = state
                .invitations
                .values()
                .filter(|i| i.circle_id == circle.id && !i.revoked && i.expires_at > now)
                .count();
            if live >= self.config.max_invitations_per_circle {
                return Err(err(
                    ErrorCode::LimitExceeded,
                    "this circle has as many live invitations as it may; revoke one or wait for one to expire",
                ));
            }
            let id = state.next_id();
            let record = InvitationRecord {
                id,
                circle_id,
                code_hash: code_hash(&code),
                expires_at: now + u64::from(expires_in_secs),
                max_uses,
                uses: 0,
                revoked: false,
            };
            state.by_code.insert(record.code_hash.clone(), id);
            state.invitations.insert(id, record.clone());
            record
        };
        self.store.put_invitation(&record)?;
        self.flush().await?;
        self.audit(self.actor_of(client), AuditAction::InvitationCreated, circle_id);
        Ok(Self::invitation_state(&record, Some(code)))
    }

    /// Expired invitations are kept a day, so their code still says
    /// "expired" rather than "unknown", then forgotten.
    fn forget_expired_invitations(&self, state: &mut State, now: u64) {
        let old: Vec<u64> = state
            .invitations
            .values()
            .filter(|i| i.expires_at + 86_400 <= now)
            .map(|i| i.id)
            .collect();
        for id in old {
            if let Some(i) = state.invitations.remove(&id) {
                state.by_code.remove(&i.code_hash);
                let _ = self.store.delete_invitation(id);
            }
        }
    }

    pub fn list_invitations(&self, client: &ClientId, circle_id: u64) -> ServiceResult<Vec<InvitationState>> {
        let state = self.state.lock();
        self.moderated(&state, client, circle_id)?;
        let mut v: Vec<InvitationState> = state
            .invitations
            .values()
            .filter(|i| i.circle_id == circle_id)
            .map(|i| Self::invitation_state(i, None))
            .collect();
        v.sort_by_key(|i| i.invitation_id);
        Ok(v)
    }

    pub async fn revoke_invitation(&self, client: &ClientId, circle_id: u64, invitation_id: u64) -> ServiceResult<()> {
        let record = {
            let mut state = self.state.lock();
            self.moderated(&state, client, circle_id)?;
            let i = state
                .invitations
                .get_mut(&invitation_id)
                .filter(|i| i.circle_id == circle_id)
                .ok_or_else(|| err(ErrorCode::UnknownInvitation, "no such invitation in this circle"))?;
            i.revoked = true;
            // Forgotten a day from now, not a day after its planned expiry.
            i.expires_at = i.expires_at.min(now_secs());
            i.clone()
        };
        self.store.put_invitation(&record)?;
        self.flush().await?;
        self.audit(self.actor_of(client), AuditAction::InvitationRevoked, circle_id);
        Ok(())
    }

    /// The invitation a code names, if it can still be used.
    fn usable_invitation(&self, state: &State, code: &str, now: u64) -> ServiceResult<InvitationRecord> {
        let unknown = || {
            err(
                ErrorCode::UnknownInvitation,
                "this invitation code does not exist; check it with the person who gave it to you",
            )
        };
        let code = normalize_invitation_code(code).ok_or_else(unknown)?;
        let i = state
            .by_code
            .get(&code_hash(&code))
            .and_then(|id| state.invitations.get(id))
            .ok_or_else(unknown)?;
        if i.revoked {
            return Err(err(
                ErrorCode::InvitationRevoked,
                "this invitation was withdrawn; ask the person who gave it to you for a new one",
            ));
        }
        if i.expires_at <= now {
            return Err(err(
                ErrorCode::InvitationExpired,
                "this invitation has expired; ask the person who gave it to you for a new one",
            ));
        }
        if i.uses >= i.max_uses {
            return Err(err(
                ErrorCode::InvitationUsedUp,
                "this invitation has been used as many times as it may; ask for a new one",
            ));
        }
        if !state.circles.contains_key(&i.circle_id) {
            return Err(unknown());
        }
        Ok(i.clone())
    }

    pub fn preview(&self, source: Option<SourceKey>, code: &str) -> ServiceResult<InvitationPreview> {
        self.intake.check_source_budget(source)?;
        let state = self.state.lock();
        let i = self.usable_invitation(&state, code, now_secs())?;
        let c = &state.circles[&i.circle_id];
        Ok(InvitationPreview {
            circle_id: c.id,
            group_id: Bytes(c.group_id.clone()),
            name: c.name.clone(),
            language: c.language.clone(),
            topic: c.topic.clone(),
            auto_approve: c.auto_approve,
        })
    }

    /// Ask to join. The request waits for a moderator's client to add the
    /// key package (at once in an auto-approve circle).
    pub async fn join(
        &self,
        client: ClientId,
        source: Option<SourceKey>,
        connection: Option<(u64, Notifier)>,
        code: &str,
        display_name: &str,
        key_package: Vec<u8>,
    ) -> ServiceResult<(u64, u64)> {
        self.intake.check_source_budget(source)?;
        let display_name = Self::check_text("a display name", display_name, MAX_DISPLAY_NAME_CHARS)?;
        // A package a moderator's client can add: this key's, current, one-time.
        self.directory
            .validate_one_time_packages(
                &client,
                &[parasol_protocol::Bytes(key_package.clone())],
                crate::validation::Requester::anonymous(source),
            )
            .await?;
        let staff = self.intake.staff_account_of(&client).is_some();
        let now = now_secs();
        let (invitation, join, circle) = {
            let mut state = self.state.lock();
            let mut invitation = self.usable_invitation(&state, code, now)?;
            let circle = state.circles[&invitation.circle_id].clone();
            if self.is_member(&circle, &client) || circle.moderators.contains(&client) {
                return Err(err(ErrorCode::InvalidState, "you are already in this circle"));
            }
            // One anonymous key, one circle: a client that reused its key
            // would link the memberships (RFC 9750 §8.4.3.1).
            let elsewhere = state
                .joins
                .values()
                .any(|j| j.client == client && j.circle_id != circle.id)
                || self
                    .delivery
                    .group_ids_of(&client)
                    .iter()
                    .any(|g| state.by_group.get(g).is_some_and(|id| *id != circle.id));
            if elsewhere && !staff {
                return Err(err(
                    ErrorCode::InvalidState,
                    "this key is already in another circle; use a fresh identity for every circle",
                ));
            }
            let pending: Vec<&JoinRecord> = state.joins.values().filter(|j| j.circle_id == circle.id).collect();
            if pending.iter().any(|j| j.client == client) {
                return Err(err(ErrorCode::InvalidState, "you have already asked to join"));
            }
            if pending.len() >= self.config.max_pending_joins_per_circle {
                return Err(err(
                    ErrorCode::LimitExceeded,
                    "many people are waiting to join this circle; try again later",
                ));
            }
            invitation.uses += 1;
            state.invitations.insert(invitation.id, invitation.clone());
            let id = state.next_id();
            let join = JoinRecord {
                id,
                circle_id: circle.id,
                client,
                display_name,
                key_package,
                requested_at: now,
            };
            state.joins.insert(id, join.clone());
            (invitation, join, circle)
        };
        self.store.put_invitation(&invitation)?;
        self.store.put_join(&join)?;
        self.flush().await?;
        self.listen(client, connection);
        self.audit(Actor::Member, AuditAction::JoinRequested, circle.id);
        let state = self.state.lock();
        state.push_moderators(
            &circle,
            &ServerMessage::CircleJoinRequest {
                request: join_request(&join),
            },
        );
        Ok((circle.id, join.id))
    }

    pub fn join_requests(&self, client: &ClientId, circle_id: u64) -> ServiceResult<Vec<JoinRequest>> {
        let state = self.state.lock();
        self.moderated(&state, client, circle_id)?;
        let mut v: Vec<JoinRequest> = state
            .joins
            .values()
            .filter(|j| j.circle_id == circle_id)
            .map(join_request)
            .collect();
        v.sort_by_key(|j| j.request_id);
        Ok(v)
    }

    pub async fn decline(&self, client: &ClientId, circle_id: u64, request_id: u64) -> ServiceResult<()> {
        {
            let mut state = self.state.lock();
            self.moderated(&state, client, circle_id)?;
            if state.joins.get(&request_id).is_none_or(|j| j.circle_id != circle_id) {
                return Err(err(ErrorCode::InvalidRequest, "no such join request in this circle"));
            }
            state.joins.remove(&request_id);
        }
        self.store.delete_join(request_id)?;
        self.flush().await?;
        self.audit(self.actor_of(client), AuditAction::JoinDeclined, circle_id);
        Ok(())
    }

    /// A moderator's change to a member: mute or unmute, make or unmake a
    /// moderator.
    async fn change_member(
        &self,
        client: &ClientId,
        circle_id: u64,
        target: &[u8],
        change: impl FnOnce(&mut CircleRecord, ClientId) -> ServiceResult<AuditAction>,
    ) -> ServiceResult<()> {
        let target: ClientId = target
            .try_into()
            .map_err(|_| err(ErrorCode::InvalidRequest, "client_id must be 32 bytes"))?;
        let (record, action) = {
            let mut state = self.state.lock();
            let mut circle = self.moderated(&state, client, circle_id)?;
            if !self.is_member(&circle, &target) || circle.departed.contains(&target) {
                return Err(err(ErrorCode::NotAMember, "that key is not a member of this circle"));
            }
            let action = change(&mut circle, target)?;
            state.circles.insert(circle_id, circle.clone());
            (circle, action)
        };
        self.store.put_circle(&record)?;
        self.flush().await?;
        self.audit(self.actor_of(client), action, circle_id);
        Ok(())
    }

    /// A peer (visitor) moderator may not demote, mute or remove a staff
    /// moderator: a circle a counsellor runs stays hers.
    fn check_peer_over_staff(&self, caller: &ClientId, target: &ClientId, circle: &CircleRecord) -> ServiceResult<()> {
        let staff_moderator = circle.moderators.contains(target) && self.intake.is_staff_client(target);
        if staff_moderator && !self.intake.is_staff_client(caller) {
            return Err(err(
                ErrorCode::Forbidden,
                "peer moderators cannot demote, mute or remove a staff moderator",
            ));
        }
        Ok(())
    }

    pub async fn set_muted(&self, client: &ClientId, circle_id: u64, target: &[u8], muted: bool) -> ServiceResult<()> {
        let me = *client;
        self.change_member(client, circle_id, target, |c, t| {
            if t == me {
                return Err(err(ErrorCode::InvalidRequest, "moderators do not mute themselves"));
            }
            if muted {
                self.check_peer_over_staff(&me, &t, c)?;
            }
            c.muted.retain(|m| *m != t);
            if muted {
                c.muted.push(t);
                Ok(AuditAction::MemberMuted)
            } else {
                Ok(AuditAction::MemberUnmuted)
            }
        })
        .await
    }

    pub async fn set_moderator(
        &self,
        client: &ClientId,
        circle_id: u64,
        target: &[u8],
        moderator: bool,
    ) -> ServiceResult<()> {
        let me = *client;
        self.change_member(client, circle_id, target, |c, t| {
            if !moderator {
                self.check_peer_over_staff(&me, &t, c)?;
            }
            c.moderators.retain(|m| *m != t);
            if moderator {
                c.moderators.push(t);
                Ok(AuditAction::ModeratorAdded)
            } else if c.moderators.is_empty() {
                Err(err(ErrorCode::InvalidState, "a circle keeps at least one moderator"))
            } else {
                Ok(AuditAction::ModeratorRemoved)
            }
        })
        .await
    }

    /// Who is in the circle, under which name: for its members only. A key
    /// with no bound name (a circle from before names were kept) is shown
    /// without one.
    pub async fn roster(&self, client: &ClientId, circle_id: u64) -> ServiceResult<Vec<CircleMember>> {
        let c = {
            let state = self.state.lock();
            state.circles.get(&circle_id).cloned().ok_or_else(unknown_circle)?
        };
        if !self.is_member(&c, client) || c.departed.contains(client) {
            return Err(unknown_circle());
        }
        let mut members: Vec<ClientId> = self
            .delivery
            .members(&c.group_id)
            .await
            .unwrap_or_default()
            .into_iter()
            .collect();
        members.sort_unstable();
        // Who is muted is the moderators' business only.
        let asks_as_moderator = c.moderators.contains(client);
        Ok(members
            .into_iter()
            .filter(|m| !c.departed.contains(m))
            .map(|m| CircleMember {
                client_id: Bytes(m.to_vec()),
                display_name: c
                    .names
                    .iter()
                    .find(|(k, _)| *k == m)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default(),
                moderator: c.moderators.contains(&m),
                staff: self.intake.is_staff_client(&m),
                muted: asks_as_moderator && c.muted.contains(&m),
            })
            .collect())
    }

    /// Leave: delivery to the member stops now, what waits in their mailbox
    /// for this circle is purged, and the moderators' clients are told to
    /// remove the leaf.
    pub async fn leave(&self, client: &ClientId, circle_id: u64) -> ServiceResult<()> {
        let circle = {
            let mut state = self.state.lock();
            let c = state.circles.get(&circle_id).ok_or_else(unknown_circle)?;
            if !self.is_member(c, client) || c.departed.contains(client) {
                return Err(unknown_circle());
            }
            if c.moderators == [*client] {
                return Err(err(
                    ErrorCode::InvalidState,
                    "you are its only moderator: make someone else a moderator, or close the circle",
                ));
            }
            let c = state.circles.get_mut(&circle_id).ok_or_else(unknown_circle)?;
            c.departed.push(*client);
            c.moderators.retain(|m| m != client);
            c.muted.retain(|m| m != client);
            c.clone()
        };
        self.store.put_circle(&circle)?;
        self.flush().await?;
        self.delivery.purge_member_envelopes(client, &circle.group_id).await?;
        self.audit(Actor::Member, AuditAction::MemberLeft, circle_id);
        let state = self.state.lock();
        state.push_moderators(
            &circle,
            &ServerMessage::CircleMemberLeft {
                circle_id,
                client_id: Bytes(client.to_vec()),
            },
        );
        Ok(())
    }

    /// Close: the group and its envelopes are deleted, and so are the
    /// circle's invitations and requests.
    pub async fn close(&self, client: &ClientId, circle_id: u64) -> ServiceResult<()> {
        let circle = {
            let state = self.state.lock();
            self.moderated(&state, client, circle_id)?
        };
        let members = self.delivery.members(&circle.group_id).await.unwrap_or_default();
        self.delivery.close_group(&circle.group_id).await?;
        let (invitations, joins) = {
            let mut state = self.state.lock();
            state.circles.remove(&circle_id);
            state.by_group.remove(&circle.group_id);
            let invitations: Vec<u64> = state
                .invitations
                .values()
                .filter(|i| i.circle_id == circle_id)
                .map(|i| i.id)
                .collect();
            for id in &invitations {
                if let Some(i) = state.invitations.remove(id) {
                    state.by_code.remove(&i.code_hash);
                }
            }
            let joins: Vec<u64> = state
                .joins
                .values()
                .filter(|j| j.circle_id == circle_id)
                .map(|j| j.id)
                .collect();
            for id in &joins {
                state.joins.remove(id);
            }
            let ended = ServerMessage::CircleEnded {
                circle_id,
                group_id: Bytes(circle.group_id.clone()),
            };
            for m in &members {
                state.push(m, ended.clone());
            }
            (invitations, joins)
        };
        for id in invitations {
            self.store.delete_invitation(id)?;
        }
        for id in joins {
            self.store.delete_join(id)?;
        }
        self.store.delete_circle(circle_id)?;
        self.flush().await?;
        self.audit(self.actor_of(client), AuditAction::CircleClosed, circle_id);
        Ok(())
    }

    /// Retention: drop join requests nobody decided within
    /// `join_request_ttl_secs`, invitations a day past their expiry, and
    /// circles whose group is gone (idle expiry). Returns what was dropped.
    pub async fn purge(&self, now: u64) -> ServiceResult<usize> {
        let groups: Vec<(u64, Vec<u8>)> = {
            let state = self.state.lock();
            state.circles.values().map(|c| (c.id, c.group_id.clone())).collect()
        };
        let mut gone = Vec::new();
        for (id, group) in groups {
            if self.delivery.members(&group).await.is_none() {
                gone.push(id);
            }
        }
        let (joins, invitations, circles) = {
            let mut state = self.state.lock();
            let ttl = self.config.join_request_ttl_secs;
            let joins: Vec<u64> = state
                .joins
                .values()
                .filter(|j| j.requested_at + ttl <= now || gone.contains(&j.circle_id))
                .map(|j| j.id)
                .collect();
            for id in &joins {
                state.joins.remove(id);
            }
            let invitations: Vec<u64> = state
                .invitations
                .values()
                .filter(|i| i.expires_at + 86_400 <= now || gone.contains(&i.circle_id))
                .map(|i| i.id)
                .collect();
            for id in &invitations {
                if let Some(i) = state.invitations.remove(id) {
                    state.by_code.remove(&i.code_hash);
                }
            }
            for id in &gone {
                if let Some(c) = state.circles.remove(id) {
                    state.by_group.remove(&c.group_id);
                }
            }
            (joins, invitations, gone)
        };
        for id in &joins {
            self.store.delete_join(*id)?;
        }
        for id in &invitations {
            self.store.delete_invitation(*id)?;
        }
        for id in &circles {
            self.store.delete_circle(*id)?;
        }
        let dropped = joins.len() + invitations.len() + circles.len();
        if dropped > 0 {
            self.flush().await?;
        }
        Ok(dropped)
    }

    // ------------------------------------------------------- the group policy

    /// Is this group a circle's? (Circles keep their groups from the
    /// anonymous groups' short idle expiry.)
    fn is_circle_group(&self, group_id: &[u8]) -> bool {
        self.state.lock().by_group.contains_key(group_id)
    }

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

fn join_request(j: &JoinRecord) -> JoinRequest {
    JoinRequest {
        request_id: j.id,
        circle_id: j.circle_id,
        client_id: Bytes(j.client.to_vec()),
        display_name: j.display_name.clone(),
        key_package: Bytes(j.key_package.clone()),
        requested_at: j.requested_at,
    }
}

fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}
