//! Who is connected: the one registry of authenticated connections, and
//! the way every room pushes to them.
//!
//! A connection registers once, after authentication, with its client
//! key, its staff session (if any) and its [`Notifier`]; it gets a
//! [`PresenceGuard`] whose drop unregisters it, however the connection
//! ends. The rooms that react to arrivals and departures (the intake:
//! visitors back or gone, staff online or offline; escalation watchers;
//! the lifecycle's waiting notices) are [`PresenceListener`]s, installed
//! at start-up in a fixed order and called outside the registry's lock.
//! Rooms push through [`Presence::notify`] (a client's current
//! connection) or [`Presence::notify_connection`] (the connection a room
//! remembers, e.g. a staff member's on-shift one).
//!
//! One entry per open connection, so the registry is bounded by the
//! connection cap (`connections.max_connections`); `register` refuses
//! beyond it. A newer connection of the same client key becomes the key's
//! current one; the older stays registered (it is closing) until its guard
//! drops.
//!
//! Mailbox subscriptions stay in `mailbox/`: the storage writer's fan-out
//! looks a subscriber up for every durable envelope under the mailboxes'
//! own lock, and the subscription (live channel, wake, `replaced` token)
//! is made before authentication hooks run, so that a newer connection
//! replaces the older one even when a hook then refuses it. Folding it in
//! here would put the envelope hot path behind this lock and move the
//! moment of replacement, which changes push behaviour.
//!
//! Lock order: a room's own lock, then this one. Listeners are never
//! called while this lock is held, so they may push and look up freely.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parasol_protocol::{ErrorCode, ServerMessage};
use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;

use crate::error::{ServiceError, ServiceResult};
use crate::intake::StaffSession;
use crate::storage::ClientId;

/// Pushes to one connection. Bounded: a connection that falls behind
/// misses pushes, never holds a room up; every push is a full state, so
/// the next one (or a `resume_ticket`) catches it up.
/// Boxed: a channel allocates its first block of slots up front, and one
/// of 280-byte messages per connection would cost every idle connection
/// about 9 KiB.
pub type Notifier = mpsc::Sender<Box<ServerMessage>>;

/// An authenticated connection, as listeners see it.
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: u64,
    pub client: ClientId,
    pub staff: Option<StaffSession>,
}

impl Connection {
    pub fn account(&self) -> Option<u64> {
        self.staff.as_ref().map(|s| s.account_id)
    }
}

/// A room that reacts to connections coming and going.
pub trait PresenceListener: Send + Sync {
    /// `connection` registered. An error refuses it: the registration is
    /// undone, later listeners are not called, every listener hears
    /// [`Self::disconnected`] once, and the connection closes with the
    /// error.
    fn connected(&self, connection: &Connection) -> ServiceResult<()>;

    /// `connection` is gone from the registry. Called once per
    /// registration. `was_current`: it was still its client key's newest
    /// connection (not replaced by a newer one); [`Presence::is_connected`]
    /// answers for a newer one that came since.
    fn disconnected(&self, connection: &Connection, was_current: bool);
}

#[derive(Default)]
struct Table {
    /// Every registered connection's notifier, by connection id.
    notifiers: HashMap<u64, Notifier>,
    /// Each client key's current (newest) connection.
    by_client: HashMap<ClientId, u64>,
}

pub struct Presence {
    max_connections: usize,
    table: RwLock<Table>,
    /// Weak: the rooms hold the registry (to push), so it must not hold
    /// them. Installed once at start-up, in the order they are called.
    listeners: Mutex<Vec<Weak<dyn PresenceListener>>>,
}

impl Presence {
    pub fn new(max_connections: usize) -> Arc<Self> {
        Arc::new(Presence {
            max_connections,
            table: RwLock::new(Table::default()),
            listeners: Mutex::new(Vec::new()),
        })
    }

    /// Add a room to be told of arrivals and departures (at start-up).
    pub fn listen(&self, listener: Weak<dyn PresenceListener>) {
        self.listeners.lock().push(listener);
    }

    fn listeners(&self) -> Vec<Arc<dyn PresenceListener>> {
        self.listeners.lock().iter().filter_map(Weak::upgrade).collect()
    }

    /// Register an authenticated connection and tell the listeners. It
    /// stays registered until the guard drops.
    pub fn register(self: &Arc<Self>, connection: Connection, notifier: Notifier) -> ServiceResult<PresenceGuard> {
        {
            let mut table = self.table.write();
            if table.notifiers.contains_key(&connection.id) {
                // Ids come from one counter: a second registration would
                // let the first guard's drop remove the second's entry.
                return Err(ServiceError::new(ErrorCode::Internal, "connection registered twice"));
            }
            if table.notifiers.len() >= self.max_connections {
                return Err(ServiceError::new(
                    ErrorCode::Busy,
                    "too many connections; try again later",
                ));
            }
            table.by_client.insert(connection.client, connection.id);
            table.notifiers.insert(connection.id, notifier);
        }
        let guard = PresenceGuard {
            presence: self.clone(),
            connection,
        };
        for listener in self.listeners() {
            // On a refusal the guard drops: unregistered, and every
            // listener hears the departure once.
            listener.connected(&guard.connection)?;
        }
        Ok(guard)
    }

    fn unregister(&self, connection: &Connection) {
        let was_current = {
            let mut table = self.table.write();
            table.notifiers.remove(&connection.id);
            // An older connection of the key still closing does not become
            // current again: the key is gone until it connects anew.
            let current = table.by_client.get(&connection.client) == Some(&connection.id);
            if current {
                table.by_client.remove(&connection.client);
            }
            current
        };
        for listener in self.listeners() {
            listener.disconnected(connection, was_current);
        }
    }

    /// Push to `client`'s current connection, if it has one.
    pub fn notify(&self, client: &ClientId, msg: ServerMessage) {
        let table = self.table.read();
        if let Some(tx) = table.by_client.get(client).and_then(|id| table.notifiers.get(id)) {
            let _ = tx.try_send(Box::new(msg));
        }
    }

    /// Push to one connection, if it is still registered.
    pub fn notify_connection(&self, connection: u64, msg: ServerMessage) {
        if let Some(tx) = self.table.read().notifiers.get(&connection) {
            let _ = tx.try_send(Box::new(msg));
        }
    }

    /// Whether `client` has an authenticated connection.
    pub fn is_connected(&self, client: &ClientId) -> bool {
        self.table.read().by_client.contains_key(client)
    }

    /// Registered connections.
    pub fn len(&self) -> usize {
        self.table.read().notifiers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps a connection registered; dropping it unregisters the connection
/// and tells the listeners, once.
pub struct PresenceGuard {
    presence: Arc<Presence>,
    connection: Connection,
}

impl PresenceGuard {
    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        self.presence.unregister(&self.connection);
    }
}

#[cfg(test)]
mod tests;
