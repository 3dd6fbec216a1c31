//! Who may come in: the cap on concurrent connections per network, and
//! blocks that hold on a visitor's source rather than only her key.
//!
//! Both key on salted hashes held in memory only ([`super::abuse`]); nothing
//! here is written to disk or logged.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::abuse::{NetworkKey, StandingKey};

/// Open connections per network (IPv4 address, IPv6 /48). A connection
/// holds a [`ConnectionSlot`] that gives its place back when dropped, so
/// admitting one is a map lookup, never a scan. The map holds only
/// networks with a live connection: it is bounded by
/// `connections.max_connections`.
pub struct ConnectionCap {
    open: Mutex<HashMap<NetworkKey, u32>>,
    max_per_network: u32,
}

/// One admitted connection's place in its network's count.
pub struct ConnectionSlot {
    cap: Arc<ConnectionCap>,
    network: NetworkKey,
}

impl ConnectionCap {
    pub fn new(max_per_network: u32) -> Arc<Self> {
        Arc::new(ConnectionCap {
            open: Mutex::new(HashMap::new()),
            max_per_network,
        })
    }

    /// A place for one more connection from `network`, or `None` when it
    /// has `max_per_network` open already.
    pub fn admit(self: &Arc<Self>, network: NetworkKey) -> Option<ConnectionSlot> {
        let mut open = self.open.lock();
        let count = open.entry(network).or_insert(0);
        if *count >= self.max_per_network {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            cap: self.clone(),
            network,
        })
    }

    /// Networks with a live connection (for tests and the memory bound).
    pub fn networks(&self) -> usize {
        self.open.lock().len()
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.cap.open.lock();
        if let Some(count) = open.get_mut(&self.network) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.network);
            }
        }
    }
}

/// Sources a counsellor blocked, until when. A block is kept on the
/// visitor's key (stored, so it outlives a restart) and here on her
/// source's standing key (memory only, so a restart forgets it): a reload
/// makes a new key, but comes from the same network.
///
/// Bounded: when full, the block that ends soonest gives way (blocks are
/// staff actions, each audited; the bound only stops a runaway).
pub struct SourceBlocks {
    until: Mutex<HashMap<StandingKey, u64>>,
    max: usize,
}

impl SourceBlocks {
    pub fn new(max: usize) -> Self {
        SourceBlocks {
            until: Mutex::new(HashMap::new()),
            max: max.max(1),
        }
    }

    /// Block `source` until `until` (Unix seconds); a longer block already
    /// in place stays.
    pub fn block(&self, source: StandingKey, until: u64, now: u64) {
        let mut blocks = self.until.lock();
        blocks.retain(|_, u| *u > now);
        if !blocks.contains_key(&source) && blocks.len() >= self.max {
            if let Some(soonest) = blocks.iter().min_by_key(|(_, u)| **u).map(|(k, _)| *k) {
                blocks.remove(&soonest);
                tracing::warn!("the source block map is full; the block ending soonest gave way");
            }
        }
        let entry = blocks.entry(source).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Until when `source` is blocked, if it is now.
    pub fn blocked_until(&self, source: StandingKey, now: u64) -> Option<u64> {
        self.until.lock().get(&source).copied().filter(|u| *u > now)
    }

    /// Forget blocks that have ended.
    pub fn expire(&self, now: u64) {
        self.until.lock().retain(|_, u| *u > now);
    }

    /// Sources blocked now or recently (for tests and the memory bound).
    pub fn len(&self) -> usize {
        self.until.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::abuse::SourceHasher;

    #[test]
    fn the_cap_counts_live_connections_per_network_and_ipv6_by_48() {
        let hasher = SourceHasher::default();
        let cap = ConnectionCap::new(2);
        let site = |a: &str| hasher.network_key(a.parse().unwrap());
        // Two /64s of one /48 are one network.
        let a = cap.admit(site("2001:db8:7:1::1")).expect("first");
        let b = cap.admit(site("2001:db8:7:2::1")).expect("second");
        assert!(cap.admit(site("2001:db8:7:ffff::9")).is_none(), "a third from the /48");
        // Another /48 and another IPv4 address are not affected.
        let _c = cap.admit(site("2001:db8:8::1")).expect("another /48");
        let _d = cap.admit(site("198.51.100.7")).expect("an IPv4 address");
        let _e = cap.admit(site("198.51.100.8")).expect("the next IPv4 address");
        // A closed connection gives its place back; the map forgets idle networks.
        drop(a);
        let a = cap.admit(site("2001:db8:7:3::1")).expect("after one closed");
        drop(a);
        drop(b);
        assert_eq!(cap.networks(), 3);
    }

    #[test]
    fn source_blocks_end_on_time_and_stay_bounded() {
        let hasher = SourceHasher::default();
        let key = |i: u32| hasher.key(std::net::Ipv4Addr::from(0xC633_6400 + i).into()).standing();
        let blocks = SourceBlocks::new(3);
        blocks.block(key(0), 100, 10);
        assert_eq!(blocks.blocked_until(key(0), 50), Some(100));
        assert_eq!(blocks.blocked_until(key(0), 100), None, "ended");
        assert_eq!(blocks.blocked_until(key(1), 50), None);
        // A shorter block does not cut a longer one short.
        blocks.block(key(0), 60, 10);
        assert_eq!(blocks.blocked_until(key(0), 70), Some(100));
        blocks.block(key(1), 200, 10);
        blocks.block(key(2), 300, 10);
        blocks.block(key(3), 400, 10);
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks.blocked_until(key(0), 50), None, "the soonest to end gave way");
        assert_eq!(blocks.blocked_until(key(3), 50), Some(400));
        blocks.expire(250);
        assert_eq!(blocks.len(), 2);
    }
}
