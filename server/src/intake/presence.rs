//! Visitors and staff coming and going (the intake is a listener of the
//! presence registry, [`crate::presence`]), and what a chat's counsellor
//! is told of her visitor.

use super::*;
use crate::presence::{Connection, PresenceListener};

impl PresenceListener for Intake {
    /// A refusal (a staff key that is another account's or a visitor's)
    /// closes the connection with the error.
    fn connected(&self, connection: &Connection) -> ServiceResult<()> {
        match &connection.staff {
            Some(session) => self.staff_connected(session.clone(), connection.id),
            None => {
                self.visitor_connected(connection.client);
                Ok(())
            }
        }
    }

    fn disconnected(&self, connection: &Connection, was_current: bool) {
        if let Some(account) = connection.account() {
            self.staff_disconnected(account, connection.id);
        }
        // Any connection of a visitor's key, even one refused as staff:
        // the visitor is gone when her key's newest connection is.
        if was_current {
            self.visitor_disconnected(&connection.client);
        }
    }
}

impl Intake {
    /// A visitor connection authenticated: if it has a ticket, it is back.
    fn visitor_connected(&self, client: ClientId) {
        let mut state = self.state.lock();
        if state.staff_clients.contains_key(&client) {
            return;
        }
        if let Some(id) = state.by_visitor.get(&client).copied() {
            if let Some(t) = state.tickets.get_mut(&id) {
                t.gone_since = None;
                t.last_pushed = None;
            }
            self.push_ticket(&state, id);
            self.tell_presence(&mut state, id, VisitorPresence::Here);
            let now = now_secs();
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
        }
    }

    /// The newest connection of `client` closed.
    fn visitor_disconnected(&self, client: &ClientId) {
        let mut state = self.state.lock();
        // Checked under the intake's lock: a newer connection that came
        // since has told us she is back.
        if !state.staff_clients.contains_key(client) && !self.presence.is_connected(client) {
            if let Some(id) = state.by_visitor.get(client).copied() {
                let now = now_secs();
                if let Some(t) = state.tickets.get_mut(&id) {
                    t.gone_since.get_or_insert(now);
                }
                self.visitor_went(&mut state, id, VisitorPresence::Reconnecting);
                self.dispatch(&mut state, now);
                self.refresh(&mut state, now);
            }
        }
    }

    /// The visitor of ticket `id` is gone: an offer of it is withdrawn
    /// (it goes back in line, not counted as passed), and her chat's
    /// counsellor is told.
    pub(super) fn visitor_went(&self, state: &mut State, id: u64, presence: VisitorPresence) {
        let Some(t) = state.tickets.get_mut(&id) else { return };
        if let Phase::Offered { account, .. } = t.phase {
            t.phase = Phase::Waiting;
            if let Some(s) = state.staff.get_mut(&account) {
                s.offers.remove(&id);
                s.push(&self.presence, ServerMessage::OfferWithdrawn { ticket_id: id });
            }
        }
        // "Reconnecting" never hides a "left" or "quick exit" she told us,
        // nor "left" (the page closing after it) a "quick exit".
        let told = state.tickets[&id].told;
        let hidden = match presence {
            VisitorPresence::Reconnecting => told != VisitorPresence::Here,
            VisitorPresence::Left => told == VisitorPresence::QuickExit,
            VisitorPresence::Here | VisitorPresence::QuickExit => false,
        };
        if !hidden {
            self.tell_presence(state, id, presence);
        }
    }

    /// Tell the chat's counsellor (if any) what changed about its visitor.
    pub(super) fn tell_presence(&self, state: &mut State, id: u64, presence: VisitorPresence) {
        let Some(t) = state.tickets.get_mut(&id) else { return };
        if t.told == presence {
            return;
        }
        t.told = presence;
        let (Some(account), Some(g)) = (t.record.counsellor, &t.record.group_id) else {
            return;
        };
        let msg = ServerMessage::VisitorPresence {
            ticket_id: id,
            group_id: Bytes(g.to_vec()),
            presence,
        };
        s_push(&self.presence, state, account, msg);
    }

    /// A staff connection authenticated.
    fn staff_connected(&self, session: StaffSession, connection: u64) -> ServiceResult<()> {
        let account = session.account_id;
        let client = session.client;
        let new_key = {
            let mut state = self.state.lock();
            if let Some(owner) = state.staff_clients.get(&client) {
                if *owner != account {
                    return Err(err(ErrorCode::Forbidden, "this key belongs to another account"));
                }
            }
            if state.by_visitor.contains_key(&client) {
                return Err(err(ErrorCode::Forbidden, "this key is a visitor's"));
            }
            let new_key = state.staff_clients.insert(client, account).is_none();
            let saved = state.saved_shifts.remove(&account).unwrap_or(ShiftState::ClockedOut);
            let chats: HashSet<u64> = state
                .tickets
                .values()
                .filter(|t| t.record.counsellor == Some(account))
                .map(|t| t.record.id)
                .collect();
            let staffer = state.staff.entry(account).or_insert_with(|| Staffer {
                session: session.clone(),
                shift: saved,
                connection: None,
                chats,
                offers: HashSet::new(),
                last_assigned: 0,
            });
            staffer.session = session;
            staffer.connection = Some(connection);
            let shift = staffer.shift;
            // My chats' visitors see my current badge (a new session signs a
            // new one).
            let badge = staffer.session.badge.clone();
            let mine: Vec<u64> = state
                .tickets
                .values()
                .filter(|t| t.record.counsellor == Some(account) && t.record.group_id.is_some())
                .map(|t| t.record.id)
                .collect();
            for id in &mine {
                if let Some(t) = state.tickets.get_mut(id) {
                    t.record.counsellor_badge = Some(badge.clone());
                }
                self.push_ticket(&state, *id);
                // Where each of my chats' visitors is, if not here.
                let t = &state.tickets[id];
                if t.told != VisitorPresence::Here {
                    s_push(
                        &self.presence,
                        &state,
                        account,
                        ServerMessage::VisitorPresence {
                            ticket_id: *id,
                            group_id: Bytes(t.record.group_id.as_ref().map(|g| g.to_vec()).unwrap_or_default()),
                            presence: t.told,
                        },
                    );
                }
            }
            // Catch up: pending re-adds, team messages, queue.
            let readds: Vec<u64> = state
                .tickets
                .values()
                .filter(|t| t.record.pending_readd.is_some() && readd_by(&state, t) == Some(account))
                .map(|t| t.record.id)
                .collect();
            for id in readds {
                self.push_readd(&state, id);
            }
            if on_shift(shift) {
                let staffer = &state.staff[&account];
                if !state.team_messages.is_empty() && staffer.takes_chats() {
                    staffer.push(
                        &self.presence,
                        ServerMessage::TeamMessagesWaiting {
                            messages: team_list(&state.team_messages),
                        },
                    );
                }
                let (depth, longest) = depth_of(&state, now_secs());
                staffer.push(
                    &self.presence,
                    ServerMessage::QueueChanged {
                        depth,
                        longest_wait_secs: longest,
                    },
                );
            }
            let now = now_secs();
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
            new_key
        };
        if new_key {
            self.store.put_staff_client(&client, account)?;
        }
        Ok(())
    }

    fn staff_disconnected(&self, account: u64, connection: u64) {
        let mut state = self.state.lock();
        let now = now_secs();
        let Some(s) = state.staff.get_mut(&account) else { return };
        if s.connection == Some(connection) {
            s.connection = None;
            // Offers to someone who is gone move on at once.
            let offers: Vec<u64> = s.offers.drain().collect();
            for id in offers {
                if let Some(t) = state.tickets.get_mut(&id) {
                    t.phase = Phase::Waiting;
                }
            }
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
        }
    }

    /// Whether a client key belongs to staff (their key packages are not
    /// for anonymous claims).
    pub fn is_staff_client(&self, client: &ClientId) -> bool {
        self.state.lock().staff_clients.contains_key(client)
    }

    /// The account a staff key belongs to.
    pub fn staff_account_of(&self, client: &ClientId) -> Option<u64> {
        self.state.lock().staff_clients.get(client).copied()
    }

    /// Bind `client` to staff `account` while its connection authenticates,
    /// before anything is sent or replaced: a key bound to another account,
    /// or a visitor's key, is refused here, so the refused connection never
    /// reaches the mailbox (whose newer connection would close the
    /// holder's with 4001). Checked and bound under one lock, so two
    /// accounts racing with one new key cannot both have it.
    pub fn bind_staff_key(&self, client: &ClientId, account: u64) -> ServiceResult<()> {
        let refused = || {
            err(
                ErrorCode::AuthenticationFailed,
                "this key cannot be used by this account",
            )
        };
        let new_key = {
            let mut state = self.state.lock();
            match state.staff_clients.get(client) {
                Some(owner) if *owner != account => return Err(refused()),
                Some(_) => false,
                None if state.by_visitor.contains_key(client) => return Err(refused()),
                None => {
                    state.staff_clients.insert(*client, account);
                    true
                }
            }
        };
        if new_key {
            self.store.put_staff_client(client, account)?;
        }
        Ok(())
    }
}
