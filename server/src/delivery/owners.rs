//! Who owns a group, in one place, and the rooms whose rules delivery asks.
//!
//! A group is an ordinary MLS group to delivery; a room may make it its
//! own: the intake a chat (when a counsellor attaches it to a ticket) or a
//! team message (when a visitor adds the team keys handed to her), the
//! circles a circle (when a counsellor creates one from it). The rooms set
//! and clear the record here as they make and end those; at start-up they
//! set it again from what they load (it is not stored: the rooms' own
//! records are). A group has at most one owner: a circle's group cannot be
//! attached as a chat, nor a chat's made a circle.
//!
//! Delivery reads the record on every commit and message and asks only the
//! owner's rules (plus the key registry's, which hold in every group),
//! instead of asking every room whether the group is its own.
//!
//! The rooms' rules reach delivery as [`Rooms`], borrowed for one call
//! from the services that own the rooms. Delivery keeps no handle on the
//! rooms: they are built after it (they use it), so delivery holding them
//! would be a cycle that only `Weak` handles, installed after
//! construction, could break.

use std::collections::HashMap;

use parking_lot::RwLock;

use super::GroupPolicy;
use crate::error::ServiceResult;
use crate::storage::ClientId;

/// The room a group belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The chat of an intake ticket.
    Chat { ticket: u64 },
    /// A peer circle.
    Circle { id: u64 },
    /// A visitor's team message, being written or waiting to be taken.
    TeamMessage,
}

/// The group-owner record: group id → owner. Bounded by the rooms' own
/// bounded records (open tickets, circles, team messages), which are the
/// only ones that add to it.
#[derive(Default)]
pub struct GroupOwners {
    owners: RwLock<HashMap<Vec<u8>, Owner>>,
}

impl GroupOwners {
    /// The group's owner, if a room owns it.
    pub fn owner_of(&self, group_id: &[u8]) -> Option<Owner> {
        self.owners.read().get(group_id).copied()
    }

    /// Make the group `owner`'s, unless another owner has it (then that
    /// owner is returned and nothing changes). Claiming again for the same
    /// owner is fine.
    pub fn claim(&self, group_id: &[u8], owner: Owner) -> Result<(), Owner> {
        let mut owners = self.owners.write();
        match owners.get(group_id) {
            Some(current) if *current != owner => Err(*current),
            Some(_) => Ok(()),
            None => {
                owners.insert(group_id.to_vec(), owner);
                Ok(())
            }
        }
    }

    /// The owner `owner` lets the group go; another owner's claim stays.
    pub fn release(&self, group_id: &[u8], owner: Owner) {
        let mut owners = self.owners.write();
        if owners.get(group_id) == Some(&owner) {
            owners.remove(group_id);
        }
    }

    /// Groups with an owner.
    pub fn len(&self) -> usize {
        self.owners.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The rooms' rules, for one call. The owner's room is asked about its
/// group; the key registry about every group.
#[derive(Clone, Copy)]
pub struct Rooms<'a> {
    /// The intake: chats, team messages and visitors' other groups; it also
    /// knows which keys are staff's.
    pub chats: &'a dyn GroupPolicy,
    /// The circles.
    pub circles: &'a dyn GroupPolicy,
    /// The key registry: revoked keys, and the commits it vouches for.
    pub every_group: &'a dyn GroupPolicy,
}

/// Rules that allow everything and know no staff key (tests of delivery alone).
pub struct NoRules;

impl GroupPolicy for NoRules {
    fn check_commit(&self, _: &[u8], _: &ClientId, _: &[ClientId], _: &[ClientId], _: usize) -> ServiceResult<()> {
        Ok(())
    }

    fn committed(&self, _: &[u8], _: &ClientId, _: &[ClientId], _: &[ClientId]) {}
}

impl<'a> Rooms<'a> {
    /// No room's rules at all.
    pub fn none() -> Rooms<'static> {
        Rooms {
            chats: &NoRules,
            circles: &NoRules,
            every_group: &NoRules,
        }
    }

    /// The rules of the room that owns a group with this owner. A group no
    /// room owns is a visitor's or staff's own group: the intake's rules
    /// for visitors' groups hold for it (it may become a team message).
    pub fn of(&self, owner: Option<Owner>) -> &'a dyn GroupPolicy {
        match owner {
            Some(Owner::Circle { .. }) => self.circles,
            Some(Owner::Chat { .. } | Owner::TeamMessage) | None => self.chats,
        }
    }

    /// Is `client` a staff member's key?
    pub fn is_staff(&self, client: &ClientId) -> bool {
        self.chats.is_staff(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_has_one_owner_until_that_owner_lets_it_go() {
        let owners = GroupOwners::default();
        let chat = Owner::Chat { ticket: 7 };
        let circle = Owner::Circle { id: 3 };
        assert_eq!(owners.owner_of(b"g"), None);
        assert_eq!(owners.claim(b"g", circle), Ok(()));
        assert_eq!(owners.claim(b"g", circle), Ok(()), "claiming again is fine");
        assert_eq!(owners.claim(b"g", chat), Err(circle), "a circle's group is no chat");
        owners.release(b"g", chat);
        assert_eq!(owners.owner_of(b"g"), Some(circle), "only the owner lets go");
        owners.release(b"g", circle);
        assert_eq!(owners.owner_of(b"g"), None);
        assert_eq!(owners.claim(b"g", chat), Ok(()));
        assert_eq!(owners.len(), 1);
    }
}
