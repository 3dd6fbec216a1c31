//! Who may change who is in a chat. A chat's members are its visitor and
//! its counsellor(s); the server holds every commit to that from its
//! public view of the group, so neither a visitor nor another staff member
//! can bring someone in unseen. Delivery asks these rules about the groups
//! the owner record gives the intake (chats, team messages) and about
//! groups no room owns (a visitor's group may become a team message).

use parasol_protocol::ErrorCode;

use super::Intake;
use crate::delivery::{GroupPolicy, Owner};
use crate::error::{ServiceError, ServiceResult};
use crate::storage::ClientId;

fn forbidden(message: &str) -> ServiceError {
    ServiceError::new(ErrorCode::Forbidden, message)
}

impl GroupPolicy for Intake {
    fn check_commit(
        &self,
        group_id: &[u8],
        sender: &ClientId,
        added: &[ClientId],
        removed: &[ClientId],
        _members_after: usize,
    ) -> ServiceResult<()> {
        let state = self.state.lock();
        let Some(t) = state.by_group.get(group_id).and_then(|id| state.tickets.get(id)) else {
            return Ok(()); // not a chat
        };
        let r = &t.record;
        if *sender == r.visitor {
            // The visitor's client adds the counsellor the server named,
            // and nobody else; it removes no one.
            let expected = r.pending_add.as_ref().map(|p| p.client);
            let adds_ok = added.iter().all(|a| Some(*a) == expected);
            return if adds_ok && removed.is_empty() {
                Ok(())
            } else {
                Err(forbidden(
                    "a visitor may only add the counsellor their chat was handed to",
                ))
            };
        }
        let sender_account = state.staff_clients.get(sender).copied();
        let is_counsellor = sender_account.is_some() && sender_account == r.counsellor;
        let is_previous = Some(*sender) == r.previous_client;
        if !(is_counsellor || is_previous) {
            return Err(forbidden("only the chat's counsellor may change who is in it"));
        }
        // Counsellors add the visitor (first add or re-add) and the crisis
        // responder who accepted an escalation; they remove the counsellor
        // being replaced, the visitor's lost key, or a responder.
        let old_visitor = r.pending_readd.as_ref().map(|p| p.old_client);
        let chats = &state.escalated_chats;
        if !added.iter().all(|a| *a == r.visitor || chats.may_add(r.id, a)) {
            return Err(forbidden(
                "a counsellor adds only the chat's visitor or the responder who accepted its escalation; colleagues join by transfer",
            ));
        }
        if !removed
            .iter()
            .all(|m| Some(*m) == r.previous_client || Some(*m) == old_visitor || chats.has_responder(r.id, m))
        {
            return Err(forbidden(
                "a counsellor removes only the colleague they replace, the visitor's old key or a responder",
            ));
        }
        Ok(())
    }

    fn is_staff(&self, client: &ClientId) -> bool {
        self.is_staff_client(client)
    }

    /// A visitor's own group: a team message, or one no staff key joins.
    fn check_visitor_group_commit(
        &self,
        group_id: &[u8],
        sender: &ClientId,
        added: &[ClientId],
        removed: &[ClientId],
    ) -> ServiceResult<()> {
        let mut state = self.state.lock();
        if state.by_group.contains_key(group_id) {
            return Ok(()); // a chat: check_commit's
        }
        Intake::check_team_commit(&mut state, group_id, sender, added, removed)?;
        if state.team_groups.contains_key(group_id) {
            // Under the intake's lock, in step with `team_groups`. Delivery
            // asks the intake only about groups no other room owns.
            let _ = self.delivery.owners().claim(group_id, Owner::TeamMessage);
        }
        Ok(())
    }

    fn committed(&self, group_id: &[u8], _sender: &ClientId, added: &[ClientId], removed: &[ClientId]) {
        let (record, chat) = {
            let mut guard = self.state.lock();
            let state = &mut *guard;
            let Some(id) = state.by_group.get(group_id).copied() else {
                return;
            };
            let Some(t) = state.tickets.get_mut(&id) else { return };
            let r = &mut t.record;
            let mut changed = false;
            if r.pending_add.as_ref().is_some_and(|p| added.contains(&p.client)) {
                r.pending_add = None;
                changed = true;
            }
            if r.pending_readd.is_some() && added.contains(&r.visitor) {
                r.pending_readd = None;
                changed = true;
            }
            if r.previous_client.is_some_and(|p| removed.contains(&p)) {
                r.previous_client = None;
                changed = true;
            }
            let record = changed.then(|| r.clone());
            let chat = state.escalated_chats.committed(id, added, removed);
            if record.is_none() && chat.is_none() {
                return;
            }
            self.push_ticket(state, id);
            (record, chat)
        };
        // The group change itself is durable with the commit; this is
        // bookkeeping that a restart would redo from the pending fields.
        if record.is_some_and(|r| self.store.put_ticket(&r).is_err()) {
            tracing::error!("storing a ticket after a membership change failed");
        }
        if chat.is_some_and(|c| self.escalation_store.put_chat(&c).is_err()) {
            tracing::error!("storing a chat's escalation record after a membership change failed");
        }
    }
}

impl crate::directory::StaffKeys for Intake {
    fn is_staff(&self, client: &ClientId) -> bool {
        self.is_staff_client(client)
    }

    fn staff_keys(&self) -> Vec<ClientId> {
        self.state.lock().staff_clients.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{State, TeamGroup, TeamHandout};
    use super::*;

    const VISITOR: ClientId = [1; 32];
    const OTHER_VISITOR: ClientId = [2; 32];
    const ANA: ClientId = [10; 32];
    const BORA: ClientId = [11; 32];
    const CARA: ClientId = [12; 32];

    fn state() -> State {
        let mut state = State::default();
        for (key, account) in [(ANA, 1), (BORA, 2), (CARA, 3)] {
            state.staff_clients.insert(key, account);
        }
        state.team_handouts.insert(
            VISITOR,
            TeamHandout {
                targets: vec![ANA, BORA],
                at: 0,
                group: None,
            },
        );
        state
    }

    fn code(r: ServiceResult<()>) -> Option<ErrorCode> {
        r.err().map(|e| e.code)
    }

    #[test]
    fn the_team_keys_handed_out_go_into_one_group_by_their_visitor_only() {
        let mut s = state();
        let forbidden = Some(ErrorCode::Forbidden);
        // Groups of visitors' keys only: no rule.
        assert_eq!(
            code(Intake::check_team_commit(
                &mut s,
                b"g0",
                &OTHER_VISITOR,
                &[VISITOR],
                &[]
            )),
            None
        );
        // Staff keys nobody handed to this visitor.
        assert_eq!(
            code(Intake::check_team_commit(&mut s, b"g1", &OTHER_VISITOR, &[ANA], &[])),
            forbidden
        );
        // A staff key outside the handout.
        assert_eq!(
            code(Intake::check_team_commit(&mut s, b"g1", &VISITOR, &[CARA], &[])),
            forbidden
        );
        // The handout's keys: the group becomes the team message.
        assert_eq!(
            code(Intake::check_team_commit(&mut s, b"g1", &VISITOR, &[ANA], &[])),
            None
        );
        assert_eq!(s.team_handouts[&VISITOR].group.as_deref(), Some(&b"g1"[..]));
        assert_eq!(s.team_groups.get(&b"g1"[..]), Some(&TeamGroup::Writing(VISITOR)));
        // The rest of the handout, into another group: refused.
        assert_eq!(
            code(Intake::check_team_commit(&mut s, b"g2", &VISITOR, &[BORA], &[])),
            forbidden
        );
        // Into the same group: fine; anyone else, or removing: refused.
        assert_eq!(
            code(Intake::check_team_commit(&mut s, b"g1", &VISITOR, &[BORA], &[])),
            None
        );
        assert_eq!(
            code(Intake::check_team_commit(
                &mut s,
                b"g1",
                &VISITOR,
                &[OTHER_VISITOR],
                &[]
            )),
            forbidden
        );
        assert_eq!(
            code(Intake::check_team_commit(&mut s, b"g1", &VISITOR, &[], &[ANA])),
            forbidden
        );
        assert_eq!(
            code(Intake::check_team_commit(&mut s, b"g1", &ANA, &[CARA], &[])),
            forbidden
        );
        // Updates (no membership change) are always fine.
        assert_eq!(code(Intake::check_team_commit(&mut s, b"g1", &ANA, &[], &[])), None);

        // Once left, nobody more, even after a restart forgot the handout.
        s.team_handouts.clear();
        s.team_groups.insert(b"g1".to_vec(), TeamGroup::Left);
        assert_eq!(
            code(Intake::check_team_commit(
                &mut s,
                b"g1",
                &VISITOR,
                &[OTHER_VISITOR],
                &[]
            )),
            forbidden
        );
        assert_eq!(code(Intake::check_team_commit(&mut s, b"g1", &VISITOR, &[], &[])), None);
    }
}
