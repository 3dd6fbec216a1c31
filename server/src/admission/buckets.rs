//! Token buckets by key, bounded, that can tell a known key from a new one.
//!
//! GCRA: each key keeps the moment its budget is full again. Ours rather
//! than governor's keyed limiter because a full map must still let the keys
//! it knows spend their own budget, and send only new keys to an overflow
//! bucket; governor's keyed limiter cannot say whether it knows a key.
//! Not locked: the owner wraps it in a mutex (each call is a lookup).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

pub struct Buckets<K> {
    full_at: HashMap<K, Instant>,
    interval: Duration,
    /// `interval` × (burst − 1): how far ahead of now a key may run.
    tolerance: Duration,
    max: usize,
    last_trim: Option<Instant>,
}

impl<K: Hash + Eq> Buckets<K> {
    /// One attempt per `interval` after a burst of `burst`; `max` keys.
    pub fn new(interval: Duration, burst: u32, max: usize) -> Self {
        let interval = interval.max(Duration::from_micros(1));
        Buckets {
            full_at: HashMap::new(),
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
            max,
            last_trim: None,
        }
    }

    /// `per_minute` attempts a minute after a burst of `burst`.
    pub fn per_minute(per_minute: u32, burst: u32, max: usize) -> Self {
        Self::new(Duration::from_secs(60) / per_minute.max(1), burst, max)
    }

    /// Whether `key` has an entry, or there is room for one more. When the
    /// map is full, keys back at full budget are forgotten to make room, at
    /// most once a second (that scans the map).
    pub fn knows_or_has_room(&mut self, key: &K, now: Instant) -> bool {
        if self.full_at.contains_key(key) || self.full_at.len() < self.max {
            return true;
        }
        if self
            .last_trim
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.last_trim = Some(now);
            self.trim(now);
        }
        self.full_at.len() < self.max
    }

    /// Spend one attempt of `key`, or say how long until it has one.
    pub fn spend(&mut self, key: K, now: Instant) -> Result<(), Duration> {
        let full_at = self.full_at.get(&key).copied().unwrap_or(now).max(now);
        let limit = now + self.tolerance;
        if full_at > limit {
            return Err(full_at.duration_since(limit));
        }
        self.full_at.insert(key, full_at + self.interval);
        Ok(())
    }

    /// Forget keys back at full budget.
    pub fn trim(&mut self, now: Instant) {
        self.full_at.retain(|_, full_at| *full_at > now);
        self.full_at.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.full_at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.full_at.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval_and_known_keys_pass_a_full_map() {
        let start = Instant::now();
        let mut b = Buckets::new(Duration::from_secs(10), 3, 2);
        for _ in 0..3 {
            b.spend("a", start).unwrap();
        }
        let wait = b.spend("a", start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        b.spend("a", start + Duration::from_secs(10)).unwrap();
        b.spend("b", start).unwrap();
        // Full: a and b are known, c is not.
        assert!(b.knows_or_has_room(&"a", start));
        assert!(!b.knows_or_has_room(&"c", start));
        // Once b is back at full budget, a trim makes room.
        let later = start + Duration::from_secs(11);
        assert!(b.knows_or_has_room(&"c", later));
        assert_eq!(b.len(), 1);
    }
}
