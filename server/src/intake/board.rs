//! What staff see: the queue and the supervisors' board.

use super::*;

impl Intake {
    pub fn queue_view(&self, account: u64) -> ServiceResult<Vec<QueueEntry>> {
        let state = self.state.lock();
        let s = Self::staffer(&state, account)?;
        let all = s.session.role == StaffRole::Supervisor || s.session.role == StaffRole::Admin;
        if !s.takes_chats() && !all {
            return Err(err(
                ErrorCode::Forbidden,
                "only counsellors and supervisors see the queue",
            ));
        }
        let now = now_secs();
        let mut waiting: Vec<&Ticket> = state
            .tickets
            .values()
            .filter(|t| t.queued() && (all || s.session.languages.contains(&t.record.language)))
            .collect();
        waiting.sort_by(|a, b| queue::serving_order(&as_waiting(a), &as_waiting(b)));
        Ok(waiting.into_iter().map(|t| t.entry(now)).collect())
    }

    /// Why a chat's counsellor cannot answer it now, if she cannot.
    pub(super) fn stranded(state: &State, t: &Ticket) -> Option<StrandedReason> {
        t.record.group_id.as_ref()?;
        let account = t.record.counsellor?;
        match state.staff.get(&account) {
            None => Some(StrandedReason::Offline),
            Some(s) if s.connection.is_none() => Some(StrandedReason::Offline),
            Some(s) if s.shift == ShiftState::ClockedOut => Some(StrandedReason::ClockedOut),
            Some(_) => None,
        }
    }

    pub fn board(&self, account: u64) -> ServiceResult<Response> {
        let state = self.state.lock();
        let s = Self::staffer(&state, account)?;
        if !matches!(s.session.role, StaffRole::Supervisor | StaffRole::Admin) {
            return Err(err(ErrorCode::Forbidden, "the board is for supervisors"));
        }
        let (depth, longest) = depth_of(&state, now_secs());
        let mut staff: Vec<BoardRow> = state
            .staff
            .values()
            .filter(|s| on_shift(s.shift) || !s.chats.is_empty())
            .map(|s| BoardRow {
                account_id: s.session.account_id,
                display_name: s.session.display_name.clone(),
                role: s.session.role,
                shift: s.shift,
                connected: s.connection.is_some(),
                active_chats: s.chats.len() as u32,
                max_chats: s.session.max_chats,
            })
            .collect();
        staff.sort_by(|a, b| a.display_name.cmp(&b.display_name));
        let mut stranded: Vec<StrandedChat> = state
            .tickets
            .values()
            .filter_map(|t| {
                let reason = Self::stranded(&state, t)?;
                let counsellor_account = t.record.counsellor?;
                let counsellor = state
                    .staff
                    .get(&counsellor_account)
                    .map(|s| s.session.display_name.clone())
                    .or_else(|| t.record.counsellor_badge.as_ref().map(|b| b.display_name.clone()))
                    .unwrap_or_default();
                Some(StrandedChat {
                    ticket_id: t.record.id,
                    group_id: Bytes(t.record.group_id.as_ref()?.to_vec()),
                    language: t.record.language.clone(),
                    counsellor,
                    counsellor_account,
                    reason,
                })
            })
            .collect();
        stranded.sort_by_key(|c| c.ticket_id);
        Ok(Response::Board {
            queue_depth: depth,
            longest_wait_secs: longest,
            staff,
            stranded,
            open_escalations: self.open_escalations.load(std::sync::atomic::Ordering::Relaxed),
        })
    }
}
