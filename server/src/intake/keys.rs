//! What the key registry ([`crate::lifecycle`]) reads from, and changes in,
//! the intake: which keys an account has used, its open chats, and the
//! chat's counsellor key after the visitor brought a reconnected key in.
//! Also the current-key look-ups the intake's own code uses (team
//! messages), answered by the registry.

use std::sync::Weak;

use super::Intake;
use crate::lifecycle::Lifecycle;
use crate::storage::ClientId;

/// One open chat of an account, as the safety net needs it.
#[derive(Debug, Clone)]
pub struct OpenChat {
    pub ticket_id: u64,
    pub group_id: Vec<u8>,
    pub visitor: ClientId,
    /// The counsellor key the chat was last given (perhaps removed since).
    pub counsellor_client: Option<ClientId>,
}

impl Intake {
    /// Give the intake the key registry (once, at start-up).
    pub fn set_key_registry(&self, registry: Weak<Lifecycle>) {
        let _ = self.key_registry.set(registry);
    }

    /// The key this account last authenticated with in a live session
    /// (B.1), if any: the only key of the account that should get new
    /// things sealed to it.
    pub fn current_staff_key(&self, account: u64) -> Option<ClientId> {
        self.key_registry
            .get()
            .and_then(Weak::upgrade)
            .and_then(|r| r.current_staff_key(account))
    }

    /// Is `client` its account's current key (and not revoked)?
    pub fn is_current_staff_key(&self, client: &ClientId) -> bool {
        self.key_registry
            .get()
            .and_then(Weak::upgrade)
            .is_some_and(|r| r.is_current_staff_key(client))
    }

    /// Every key any session of `account` has used.
    pub fn staff_keys_of(&self, account: u64) -> Vec<ClientId> {
        self.state
            .lock()
            .staff_clients
            .iter()
            .filter(|(_, a)| **a == account)
            .map(|(c, _)| *c)
            .collect()
    }

    /// Every staff key with its account.
    pub fn all_staff_keys(&self) -> Vec<(ClientId, u64)> {
        self.state.lock().staff_clients.iter().map(|(c, a)| (*c, *a)).collect()
    }

    /// The account's chats that have a group.
    pub fn open_chats_of(&self, account: u64) -> Vec<OpenChat> {
        self.state
            .lock()
            .tickets
            .values()
            .filter(|t| t.record.counsellor == Some(account))
            .filter_map(|t| {
                Some(OpenChat {
                    ticket_id: t.record.id,
                    group_id: t.record.group_id.as_ref()?.to_vec(),
                    visitor: t.record.visitor,
                    counsellor_client: t.record.counsellor_client,
                })
            })
            .collect()
    }

    /// The chat of this visitor key, if it has a group.
    pub fn chat_of_visitor(&self, visitor: &ClientId) -> Option<(u64, Vec<u8>)> {
        let state = self.state.lock();
        let id = *state.by_visitor.get(visitor)?;
        let group = state.tickets.get(&id)?.record.group_id.as_ref()?.to_vec();
        Some((id, group))
    }

    /// The visitor brought her counsellor's new key into the chat and
    /// removed the old one: the chat's counsellor key is the new one now.
    pub fn counsellor_key_replaced(&self, group_id: &[u8], old: &ClientId, new: &ClientId) {
        let record = {
            let mut state = self.state.lock();
            let Some(id) = state.by_group.get(group_id).copied() else {
                return;
            };
            let Some(t) = state.tickets.get_mut(&id) else { return };
            if t.record.counsellor_client == Some(*old) {
                t.record.counsellor_client = Some(*new);
            }
            if t.record.previous_client == Some(*old) {
                t.record.previous_client = None;
            }
            t.record.clone()
        };
        if self.store.put_ticket(&record).is_err() {
            tracing::error!("storing a ticket after a counsellor reconnected failed");
        }
    }
}
