//! Byte budgets: what anonymous keys may store, and the disk's free-space
//! floor.
//!
//! Without them one anonymous key could create a one-member group, send
//! 64 KiB messages 20 times a second without acking, fill the disk and make
//! a storage round fail (the server then exits; issue 17). Quotas are byte
//! budgets that refill over time, per anonymous key, per source network and
//! for all anonymous keys together, so a flood uses up its own budget and
//! staff never draw on it. Under everything, a free-space floor: below it
//! nothing new is stored, while reads, acks, deletions and the purge go on.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::StorageBudgets;
use crate::intake::abuse::SourceKey;
use crate::storage::ClientId;

/// Why a write was refused, with the seconds after which to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// One of the anonymous quotas is used up.
    Quota { retry_after_secs: u32 },
    /// The disk is below the free-space floor.
    DiskLow,
}

/// A budget of bytes that refills evenly over a period.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    available: f64,
    at: Instant,
}

impl Bucket {
    fn full(capacity: u64, now: Instant) -> Self {
        Bucket {
            available: capacity as f64,
            at: now,
        }
    }

    fn refill(&mut self, capacity: u64, period_secs: u64, now: Instant) {
        let rate = capacity as f64 / period_secs.max(1) as f64;
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.available = (self.available + elapsed * rate).min(capacity as f64);
        self.at = now;
    }

    /// Seconds until `bytes` are available again.
    fn wait_for(&self, bytes: u64, capacity: u64, period_secs: u64) -> u32 {
        let rate = capacity as f64 / period_secs.max(1) as f64;
        let missing = (bytes as f64 - self.available).max(0.0);
        (missing / rate).ceil().clamp(1.0, u32::MAX as f64) as u32
    }
}

/// Buckets per key, bounded: past `max_keys`, new keys share one bucket
/// (fail closed: a flood of fresh keys cannot escape its budget).
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    overflow: Bucket,
    max_keys: usize,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(max_keys: usize, capacity: u64, now: Instant) -> Self {
        Buckets {
            map: HashMap::new(),
            overflow: Bucket::full(capacity, now),
            max_keys,
        }
    }

    fn get(&mut self, key: K, capacity: u64, now: Instant) -> &mut Bucket {
        if !self.map.contains_key(&key) && self.map.len() >= self.max_keys {
            // Forget keys whose budget is whole again before overflowing.
            self.map.retain(|_, b| b.available < capacity as f64);
            if self.map.len() >= self.max_keys {
                return &mut self.overflow;
            }
        }
        self.map.entry(key).or_insert_with(|| Bucket::full(capacity, now))
    }
}

/// The anonymous byte quotas and the free-space floor.
pub struct Budgets {
    config: StorageBudgets,
    data_dir: PathBuf,
    keys: Mutex<Buckets<ClientId>>,
    sources: Mutex<Buckets<SourceKey>>,
    all: Mutex<Bucket>,
    /// Free bytes at the last look, and when (ms since `started`).
    free_bytes: AtomicU64,
    looked_at_ms: AtomicU64,
    started: Instant,
}

/// How often the free space is looked at (a `statvfs`, no disk I/O).
const LOOK_EVERY_MS: u64 = 250;

impl Budgets {
    pub fn new(config: StorageBudgets, data_dir: PathBuf) -> Self {
        let now = Instant::now();
        Budgets {
            keys: Mutex::new(Buckets::new(
                config.max_tracked_keys,
                config.anonymous_key_bytes_per_day,
                now,
            )),
            sources: Mutex::new(Buckets::new(
                config.max_tracked_keys,
                config.anonymous_source_bytes_per_day,
                now,
            )),
            all: Mutex::new(Bucket::full(config.anonymous_total_bytes_per_day, now)),
            free_bytes: AtomicU64::new(u64::MAX),
            looked_at_ms: AtomicU64::new(u64::MAX),
            started: now,
            data_dir,
            config,
        }
    }

    /// Whether the disk is below the free-space floor (looked at again at
    /// most every 250 ms).
    pub fn disk_low(&self) -> bool {
        let now_ms = self.started.elapsed().as_millis() as u64;
        let last = self.looked_at_ms.load(Ordering::Relaxed);
        if last == u64::MAX || now_ms.saturating_sub(last) >= LOOK_EVERY_MS {
            self.looked_at_ms.store(now_ms, Ordering::Relaxed);
            match fs4::available_space(&self.data_dir) {
                Ok(free) => self.free_bytes.store(free, Ordering::Relaxed),
                Err(e) => tracing::warn!(error = %e, "cannot read the data directory's free space"),
            }
        }
        self.free_bytes.load(Ordering::Relaxed) < self.config.min_free_bytes
    }

    /// Charge `bytes` about to be stored for `client`. Staff (`anonymous`
    /// false) draw on no quota, only on the floor. All three anonymous
    /// budgets must have room, and are charged only if all do.
    pub fn charge(
        &self,
        client: &ClientId,
        source: Option<SourceKey>,
        anonymous: bool,
        bytes: u64,
    ) -> Result<(), Refusal> {
        if self.disk_low() {
            return Err(Refusal::DiskLow);
        }
        if !anonymous {
            return Ok(());
        }
        let c = &self.config;
        let now = Instant::now();
        let mut keys = self.keys.lock();
        let mut sources = self.sources.lock();
        let mut all = self.all.lock();
        let mut wait = 0u32;
        let key = keys.get(*client, c.anonymous_key_bytes_per_day, now);
        key.refill(c.anonymous_key_bytes_per_day, DAY, now);
        if key.available < bytes as f64 {
            wait = wait.max(key.wait_for(bytes, c.anonymous_key_bytes_per_day, DAY));
        }
        let mut source_bucket = source.map(|s| sources.get(s.for_limiter(), c.anonymous_source_bytes_per_day, now));
        if let Some(b) = source_bucket.as_deref_mut() {
            b.refill(c.anonymous_source_bytes_per_day, DAY, now);
            if b.available < bytes as f64 {
                wait = wait.max(b.wait_for(bytes, c.anonymous_source_bytes_per_day, DAY));
            }
        }
        all.refill(c.anonymous_total_bytes_per_day, DAY, now);
        if all.available < bytes as f64 {
            wait = wait.max(all.wait_for(bytes, c.anonymous_total_bytes_per_day, DAY));
        }
        if wait > 0 {
            return Err(Refusal::Quota { retry_after_secs: wait });
        }
        key.available -= bytes as f64;
        if let Some(b) = source_bucket {
            b.available -= bytes as f64;
        }
        all.available -= bytes as f64;
        Ok(())
    }
}

const DAY: u64 = 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(key: u64, source: u64, total: u64) -> Budgets {
        Budgets::new(
            StorageBudgets {
                anonymous_key_bytes_per_day: key,
                anonymous_source_bytes_per_day: source,
                anonymous_total_bytes_per_day: total,
                max_tracked_keys: 2,
                min_free_bytes: 0,
            },
            std::env::temp_dir(),
        )
    }

    #[test]
    fn each_anonymous_budget_refuses_on_its_own_and_staff_are_never_charged() {
        let b = budgets(1000, 1500, 2500);
        let (a, c, d) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let sources = crate::intake::abuse::SourceHasher::default();
        let net = Some(sources.key("192.0.2.1".parse().unwrap()));
        let elsewhere = |n: u8| Some(sources.key(std::net::IpAddr::from([198, 51, 100, n])));
        assert_eq!(b.charge(&a, net, true, 1000), Ok(()));
        // The key's own budget is used up.
        assert!(matches!(b.charge(&a, net, true, 10), Err(Refusal::Quota { .. })));
        // Another key on the same network: the network's budget is what is left.
        assert_eq!(b.charge(&c, net, true, 500), Ok(()));
        assert!(matches!(b.charge(&c, net, true, 10), Err(Refusal::Quota { .. })));
        // Elsewhere: the total still has 1000.
        assert_eq!(b.charge(&d, elsewhere(1), true, 1000), Ok(()));
        assert!(matches!(
            b.charge(&[4u8; 32], elsewhere(2), true, 10),
            Err(Refusal::Quota { retry_after_secs }) if retry_after_secs >= 1
        ));
        // Staff draw on none of it.
        assert_eq!(b.charge(&[5u8; 32], net, false, 1 << 30), Ok(()));
    }

    #[test]
    fn fresh_keys_past_the_map_share_one_budget() {
        let b = budgets(1000, u64::MAX / 4, u64::MAX / 4);
        assert_eq!(b.charge(&[1u8; 32], None, true, 600), Ok(()));
        assert_eq!(b.charge(&[2u8; 32], None, true, 600), Ok(()));
        // The map holds two keys: every new key shares the overflow bucket.
        assert_eq!(b.charge(&[3u8; 32], None, true, 600), Ok(()));
        assert!(matches!(
            b.charge(&[4u8; 32], None, true, 600),
            Err(Refusal::Quota { .. })
        ));
    }

    #[test]
    fn below_the_floor_nothing_is_charged_and_everyone_is_refused() {
        let mut b = budgets(1000, 1000, 1000);
        b.config.min_free_bytes = u64::MAX;
        assert_eq!(b.charge(&[1u8; 32], None, false, 1), Err(Refusal::DiskLow));
        assert_eq!(b.charge(&[1u8; 32], None, true, 1), Err(Refusal::DiskLow));
    }
}
