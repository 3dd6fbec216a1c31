//! Login throttling per (username, source) and per source.
//!
//! A username's bucket is kept per place the attempts come from (the
//! salted source key of [`crate::intake::abuse`], memory only), so guesses
//! from one place cannot lock the real person out at another. Every place
//! also has a bucket of its own, whatever the usernames, so one place
//! cannot spray guesses over many names. Both maps are bounded; when one is
//! full, new entries fall into a bucket that is still per source (for
//! pairs) or one strict bucket (for new sources) — failing closed for the
//! flood, never opening up, and never one bucket that a single source can
//! drain for everyone who is already known.
//!
//! Logins waiting for a password check are counted per place too, so one
//! place cannot fill the queue that everyone's logins wait in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{is_valid_username, StaffError};
use crate::config::StaffConfig;
use crate::intake::abuse::SourceKey;
use crate::intake::buckets::Buckets;

/// Where login attempts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Place {
    /// A loopback peer with no forwarded address: a local tool.
    Local,
    Remote(SourceKey),
    /// Every source past `max_throttled_sources`, together.
    Overflow,
}

impl Place {
    fn of(source: Option<SourceKey>) -> Place {
        source.map_or(Place::Local, |s| Place::Remote(s.for_limiter()))
    }
}

/// The bucket of names that cannot exist, and of a place's new names while
/// the pair map is full.
const INVALID_NAME: &str = "<invalid>";
const OVERFLOW_NAME: &str = "<overflow>";

fn throttled(wait: Duration) -> StaffError {
    StaffError::Throttled {
        retry_after_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
    }
}

struct ThrottleMaps {
    pairs: Buckets<(String, Place)>,
    places: Buckets<Place>,
}

pub struct LoginThrottle {
    buckets: Mutex<ThrottleMaps>,
    /// Logins waiting for (or in) a password check, per place. Only places
    /// with a waiting login have an entry, so the map is bounded by
    /// `max_waiting_logins`.
    waiting: Mutex<HashMap<Place, usize>>,
    max_waiting_per_place: usize,
}

/// A login's place in its source's share of the waiting queue.
pub struct WaitingSlot<'a> {
    throttle: &'a LoginThrottle,
    place: Place,
}

impl LoginThrottle {
    pub fn new(config: &StaffConfig) -> Self {
        LoginThrottle {
            buckets: Mutex::new(ThrottleMaps {
                pairs: Buckets::new(
                    Duration::from_secs(config.login_attempt_interval_secs),
                    config.login_attempts_burst,
                    config.max_throttled_usernames,
                ),
                places: Buckets::new(
                    Duration::from_secs(config.login_source_attempt_interval_secs),
                    config.login_attempts_per_source_burst,
                    config.max_throttled_sources,
                ),
            }),
            waiting: Mutex::new(HashMap::new()),
            max_waiting_per_place: config.max_waiting_logins_per_source.max(1),
        }
    }

    /// Count one attempt at `username` from `source`: refused when the
    /// source or the (username, source) pair is out of attempts. Every
    /// attempt counts, failed or not (a person logs in rarely).
    ///
    /// Bounds: at most `max_throttled_sources` + 1 sources, and
    /// `max_throttled_usernames` pairs plus one overflow pair per source.
    pub fn check(&self, username: &str, source: Option<SourceKey>) -> Result<(), StaffError> {
        let now = Instant::now();
        let mut b = self.buckets.lock();
        let mut place = Place::of(source);
        if !b.places.knows_or_has_room(&place, now) {
            place = Place::Overflow;
        }
        let name = if is_valid_username(username) {
            username
        } else {
            INVALID_NAME
        };
        let mut pair = (name.to_string(), place);
        if !b.pairs.knows_or_has_room(&pair, now) {
            pair = (OVERFLOW_NAME.to_string(), place);
        }
        b.places.spend(place, now).map_err(throttled)?;
        b.pairs.spend(pair, now).map_err(throttled)
    }

    /// A place among the waiting logins for `source`, or `None` when that
    /// source has its share waiting already.
    pub fn wait_slot(&self, source: Option<SourceKey>) -> Option<WaitingSlot<'_>> {
        let place = Place::of(source);
        let mut waiting = self.waiting.lock();
        let count = waiting.entry(place).or_insert(0);
        if *count >= self.max_waiting_per_place {
            return None;
        }
        *count += 1;
        Some(WaitingSlot { throttle: self, place })
    }

    /// Forget entries back at full budget.
    pub fn trim(&self) {
        let now = Instant::now();
        let mut b = self.buckets.lock();
        b.pairs.trim(now);
        b.places.trim(now);
    }

    /// Entries remembered: (pairs, sources).
    pub fn len(&self) -> (usize, usize) {
        let b = self.buckets.lock();
        (b.pairs.len(), b.places.len())
    }
}

impl Drop for WaitingSlot<'_> {
    fn drop(&mut self) {
        let mut waiting = self.throttle.waiting.lock();
        if let Some(count) = waiting.get_mut(&self.place) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&self.place);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::abuse::SourceHasher;

    fn config() -> StaffConfig {
        StaffConfig {
            login_attempts_burst: 2,
            login_attempt_interval_secs: 60,
            login_attempts_per_source_burst: 5,
            login_source_attempt_interval_secs: 60,
            max_waiting_logins_per_source: 2,
            ..StaffConfig::default()
        }
    }

    fn source(hasher: &SourceHasher, i: u32) -> Option<SourceKey> {
        Some(hasher.key(std::net::Ipv4Addr::from(0xC633_6400 + i).into()))
    }

    #[test]
    fn a_username_is_throttled_per_source_and_a_source_over_all_names() {
        let throttle = LoginThrottle::new(&config());
        let hasher = SourceHasher::default();
        let (a, b) = (source(&hasher, 1), source(&hasher, 2));
        throttle.check("ana", a).unwrap();
        throttle.check("ana", a).unwrap();
        assert!(matches!(throttle.check("ana", a), Err(StaffError::Throttled { .. })));
        // The same name from elsewhere, and from a local tool, is not affected.
        throttle.check("ana", b).unwrap();
        throttle.check("ana", None).unwrap();
        // Source a has spent 3 of its 5; two more names, then it is out.
        throttle.check("bo", a).unwrap();
        throttle.check("cy", a).unwrap();
        assert!(matches!(throttle.check("dee", a), Err(StaffError::Throttled { .. })));
        throttle.check("dee", b).unwrap();
    }

    #[test]
    fn full_maps_fail_closed_without_touching_known_sources() {
        let throttle = LoginThrottle::new(&StaffConfig {
            max_throttled_usernames: 4,
            max_throttled_sources: 4,
            ..config()
        });
        let hasher = SourceHasher::default();
        let known = source(&hasher, 0);
        throttle.check("ana", known).unwrap();
        // A flood of names and sources fills both maps.
        for i in 1..50 {
            let _ = throttle.check(&format!("user{i}"), source(&hasher, i));
        }
        let (pairs, places) = throttle.len();
        assert!(pairs <= 4 + 4 + 1, "{pairs} pairs");
        assert!(places <= 4 + 1, "{places} sources");
        // New sources share one strict bucket, already drained by the flood.
        assert!(matches!(
            throttle.check("ana", source(&hasher, 99)),
            Err(StaffError::Throttled { .. })
        ));
        // The known source still logs in.
        throttle.check("ana", known).unwrap();
    }

    #[test]
    fn one_source_has_only_its_share_of_the_waiting_queue() {
        let throttle = LoginThrottle::new(&config());
        let hasher = SourceHasher::default();
        let (a, b) = (source(&hasher, 1), source(&hasher, 2));
        let first = throttle.wait_slot(a).expect("first");
        let _second = throttle.wait_slot(a).expect("second");
        assert!(throttle.wait_slot(a).is_none(), "a third from one source");
        let _other = throttle.wait_slot(b).expect("another source");
        drop(first);
        assert!(throttle.wait_slot(a).is_some(), "a place freed");
        assert!(throttle.waiting.lock().len() <= 2);
    }
}
