//! Keeping the anonymous door open under a flood.
//!
//! A visitor's source is known only as a salted hash of its address, held
//! in memory; the salt changes every day and is never stored, so yesterday's
//! sources cannot be linked to today's, nor recovered from a seized disk.
//! Checks run cheapest-first and a refused request spends no shared quota:
//! a flood from one source exhausts its own budget, not everyone's.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parasol_protocol::{Bytes, PowChallenge};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::buckets::Buckets;
use crate::config::IntakeConfig;

/// An opaque, in-memory-only key for a visitor's network source.
///
/// Two hashes of the same address: `day` under the daily salt, which every
/// limiter keys on (equality and hashing use it alone), and `standing`
/// under a salt that lives as long as the process, read only to enforce a
/// counsellor's block on the source (see
/// [`super::connections::SourceBlocks`]): a block lasts
/// up to `intake.max_block_secs`, longer than a daily salt. Limiters store
/// keys with `standing` zeroed, so only a connection's own session and the
/// block map ever hold it.
#[derive(Debug, Clone, Copy)]
pub struct SourceKey {
    day: [u8; 16],
    standing: [u8; 16],
}

impl PartialEq for SourceKey {
    fn eq(&self, other: &Self) -> bool {
        self.day == other.day
    }
}

impl Eq for SourceKey {}

impl std::hash::Hash for SourceKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.day.hash(state);
    }
}

impl SourceKey {
    /// The one bucket that every source past `max_tracked_sources` shares
    /// (a real hash equals it with probability 2^-128).
    const OVERFLOW: SourceKey = SourceKey {
        day: [0xff; 16],
        standing: [0; 16],
    };

    /// What a limiter may keep: the daily hash only.
    pub fn for_limiter(self) -> SourceKey {
        SourceKey {
            day: self.day,
            standing: [0; 16],
        }
    }

    /// The key a block on this source is kept under.
    pub fn standing(&self) -> StandingKey {
        StandingKey(self.standing)
    }
}

/// A source's hash under the process-lifetime salt (memory only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StandingKey([u8; 16]);

/// A source's network for the cap on concurrent connections: an IPv4
/// address, or an IPv6 /48 (a site: its /64s are all one household or
/// office network, so counting per /64 would let one site open 65,536
/// times the cap). Salted with the daily salt, memory only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkKey([u8; 16]);

/// Salted hashing of addresses; the salt rotates daily. The standing salt
/// (for blocks) is drawn once per process and never stored either.
pub struct SourceHasher {
    salt: Mutex<(u64, [u8; 32])>,
    standing_salt: [u8; 32],
}

impl Default for SourceHasher {
    fn default() -> Self {
        let mut standing_salt = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut standing_salt);
        SourceHasher {
            salt: Mutex::new((u64::MAX, [0; 32])),
            standing_salt,
        }
    }
}

/// The part of an address that makes one source: IPv4 (also IPv4-mapped
/// IPv6) per address, IPv6 per `v6_prefix_bytes`.
fn source_bytes(addr: IpAddr, v6_prefix_bytes: usize) -> Vec<u8> {
    match addr {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..v6_prefix_bytes].to_vec(),
        },
    }
}

fn salted(domain: &[u8], salt: &[u8; 32], bytes: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(domain);
    h.update(bytes);
    let digest = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

impl SourceHasher {
    fn daily_salt(&self) -> [u8; 32] {
        let day = crate::time::now_secs() / 86_400;
        let mut s = self.salt.lock();
        if s.0 != day {
            let mut fresh = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut fresh);
            *s = (day, fresh);
        }
        s.1
    }

    pub fn key(&self, addr: IpAddr) -> SourceKey {
        // One IPv6 user owns a whole /64: count it as one source.
        let bytes = source_bytes(addr, 8);
        SourceKey {
            day: salted(b"source", &self.daily_salt(), &bytes),
            standing: salted(b"standing", &self.standing_salt, &bytes),
        }
    }

    /// The key of `addr`'s network for the connection cap (IPv6 by /48).
    pub fn network_key(&self, addr: IpAddr) -> NetworkKey {
        NetworkKey(salted(b"network", &self.daily_salt(), &source_bytes(addr, 6)))
    }
}

/// Why an intake attempt was refused before reaching the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    RateLimited { retry_after_secs: u32 },
    PowRequired(PowChallenge),
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

/// Rate limits of the intake door.
pub struct IntakeGuard {
    global: DefaultDirectRateLimiter,
    team_key_packages: DefaultDirectRateLimiter,
    /// Per-source budgets: each bounded by `max_tracked_sources` plus the
    /// one overflow bucket.
    per_source: Mutex<Buckets<SourceKey>>,
    connections_per_source: Mutex<Buckets<SourceKey>>,
    /// Intake attempts (all, refused too) in the current and previous
    /// minute: the pressure that switches proof-of-work on.
    attempts: Mutex<(u64, u64, u64)>,
    pow_threshold: u64,
    pow_difficulty: u8,
    issued: AtomicU64,
    /// Requests and connections charged to the shared overflow bucket
    /// (their source was new while the limiters were full).
    overflowed: Counter,
}

impl IntakeGuard {
    pub fn new(config: &IntakeConfig) -> Self {
        IntakeGuard {
            global: RateLimiter::direct(per_minute(config.global_requests_per_minute)),
            team_key_packages: RateLimiter::direct(per_minute(config.team_key_packages_per_minute)),
            per_source: Mutex::new(Buckets::per_minute(
                config.requests_per_source_per_minute,
                config.source_burst,
                config.max_tracked_sources,
            )),
            connections_per_source: Mutex::new(Buckets::per_minute(
                config.connections_per_source_per_minute,
                config.connection_burst,
                config.max_tracked_sources,
            )),
            attempts: Mutex::new((0, 0, 0)),
            pow_threshold: u64::from(config.pow_threshold_per_minute),
            pow_difficulty: config.pow_difficulty_bits,
            issued: AtomicU64::new(0),
            overflowed: Counter::default(),
        }
    }

    /// Count overflow charges in this (metrics) counter.
    pub fn with_overflow_counter(mut self, counter: Counter) -> Self {
        self.overflowed = counter;
        self
    }

    /// Spend one of `source`'s attempts in `buckets`, or say in how many
    /// seconds it has one. A source the buckets know spends its own budget;
    /// a new one, while they are full, the one overflow bucket. Failing
    /// closed: a flood from more sources than the buckets track shares one
    /// source's budget instead of escaping every per-source limit, and the
    /// sources already tracked keep theirs.
    fn spend(&self, buckets: &Mutex<Buckets<SourceKey>>, source: SourceKey) -> Result<(), u32> {
        let now = std::time::Instant::now();
        let mut buckets = buckets.lock();
        let mut key = source.for_limiter();
        if !buckets.knows_or_has_room(&key, now) {
            self.overflowed.inc();
            key = SourceKey::OVERFLOW;
        }
        buckets.spend(key, now).map_err(retry_secs)
    }

    /// A new WebSocket from this source: refused (HTTP 429) past its rate.
    pub fn admit_connection(&self, source: Option<SourceKey>) -> Result<(), u32> {
        let Some(source) = source else { return Ok(()) };
        self.spend(&self.connections_per_source, source)
    }

    /// Forget sources that are back to a full budget.
    pub fn trim(&self) {
        let now = std::time::Instant::now();
        self.per_source.lock().trim(now);
        self.connections_per_source.lock().trim(now);
    }

    fn count_attempt(&self) {
        let minute = crate::time::now_secs() / 60;
        let mut a = self.attempts.lock();
        if a.0 != minute {
            let previous = if a.0 + 1 == minute { a.2 } else { 0 };
            *a = (minute, previous, 0);
        }
        a.2 += 1;
    }

    /// Whether intake is under enough pressure to ask for proof of work.
    pub fn pow_active(&self) -> bool {
        if self.pow_threshold == 0 {
            return false;
        }
        let minute = crate::time::now_secs() / 60;
        let a = self.attempts.lock();
        let (previous, current) = match minute.checked_sub(a.0) {
            Some(0) => (a.1, a.2),
            Some(1) => (a.2, 0),
            _ => (0, 0),
        };
        previous.max(current) >= self.pow_threshold
    }

    /// A fresh puzzle, for one connection.
    pub fn new_puzzle(&self) -> PowChallenge {
        let mut challenge = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut challenge);
        self.issued.fetch_add(1, Ordering::Relaxed);
        PowChallenge {
            challenge: Bytes(challenge),
            difficulty_bits: self.pow_difficulty,
        }
    }

    /// Check an intake attempt: the source's budget, then proof of work when
    /// active, then the global budget. `puzzle` is the connection's
    /// outstanding puzzle, consumed by a correct solution.
    pub fn check_intake(
        &self,
        source: Option<SourceKey>,
        client_id: &[u8],
        puzzle: &mut Option<PowChallenge>,
        solution: Option<&parasol_protocol::PowSolution>,
    ) -> Result<(), Refusal> {
        self.count_attempt();
        let clock = governor::clock::DefaultClock::default();
        let now = governor::clock::Clock::now(&clock);
        // Past the bound of tracked sources (a flood from very many
        // addresses), new sources share the overflow bucket: memory stays
        // bounded and they stay limited.
        if let Some(source) = source {
            if let Err(retry_after_secs) = self.spend(&self.per_source, source) {
                return Err(Refusal::RateLimited { retry_after_secs });
            }
        }
        if self.pow_active() {
            let solved = match (puzzle.as_ref(), solution) {
                (Some(p), Some(s)) => {
                    s.challenge == p.challenge && parasol_protocol::pow_solves(p, client_id, &s.nonce.0)
                }
                _ => false,
            };
            if !solved {
                let fresh = self.new_puzzle();
                *puzzle = Some(fresh.clone());
                return Err(Refusal::PowRequired(fresh));
            }
            *puzzle = None; // one solution, one request
        }
        if let Err(not_until) = self.global.check() {
            return Err(Refusal::RateLimited {
                retry_after_secs: retry_secs(not_until.wait_time_from(now)),
            });
        }
        Ok(())
    }

    /// A request that spends only the source's intake budget (reading or
    /// using an invitation code: it bounds guessing codes).
    pub fn check_source(&self, source: Option<SourceKey>) -> Result<(), Refusal> {
        let Some(source) = source else {
            return Ok(());
        };
        self.spend(&self.per_source, source)
            .map_err(|retry_after_secs| Refusal::RateLimited { retry_after_secs })
    }

    /// A `team_key_packages` call: the source's intake budget, then the
    /// global budget of those calls (each claims a key package of every
    /// counsellor). No proof of work: the call has no field for it.
    pub fn check_team_key_packages(&self, source: Option<SourceKey>) -> Result<(), Refusal> {
        let clock = governor::clock::DefaultClock::default();
        let now = governor::clock::Clock::now(&clock);
        if let Some(source) = source {
            if let Err(retry_after_secs) = self.spend(&self.per_source, source) {
                return Err(Refusal::RateLimited { retry_after_secs });
            }
        }
        self.team_key_packages
            .check()
            .map_err(|not_until| Refusal::RateLimited {
                retry_after_secs: retry_secs(not_until.wait_time_from(now)),
            })
    }

    /// Sources currently tracked (for the memory bound and metrics).
    pub fn tracked_sources(&self) -> usize {
        self.per_source.lock().len() + self.connections_per_source.lock().len()
    }
}

fn retry_secs(wait: Duration) -> u32 {
    (wait.as_secs() + 1).min(u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> IntakeConfig {
        IntakeConfig {
            global_requests_per_minute: 1000,
            requests_per_source_per_minute: 2,
            source_burst: 2,
            pow_threshold_per_minute: 0,
            ..IntakeConfig::default()
        }
    }

    #[test]
    fn a_flooding_source_is_limited_without_touching_others() {
        let guard = IntakeGuard::new(&config());
        let hasher = SourceHasher::default();
        let flood = Some(hasher.key("203.0.113.9".parse().unwrap()));
        let other = Some(hasher.key("198.51.100.7".parse().unwrap()));
        let mut p = None;
        assert!(guard.check_intake(flood, b"a", &mut p, None).is_ok());
        assert!(guard.check_intake(flood, b"a", &mut p, None).is_ok());
        match guard.check_intake(flood, b"a", &mut p, None) {
            Err(Refusal::RateLimited { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert!(guard.check_intake(other, b"b", &mut p, None).is_ok());
    }

    #[test]
    fn the_source_limiters_stop_growing_at_max_tracked_sources() {
        let guard = IntakeGuard::new(&IntakeConfig {
            max_tracked_sources: 50,
            connections_per_source_per_minute: 1,
            connection_burst: 1,
            ..IntakeConfig::default()
        });
        let hasher = SourceHasher::default();
        for i in 0..500u32 {
            let address = std::net::Ipv4Addr::from(0xC633_6400 + i); // 198.51.100.0 and on
            let _ = guard.admit_connection(Some(hasher.key(address.into())));
        }
        assert!(
            guard.connections_per_source.lock().len() <= 50 + 1,
            "the limiter tracks {} sources",
            guard.connections_per_source.lock().len()
        );
        // Past the bound, new sources share one overflow bucket of one
        // source's budget (burst 1 here), counted: they fail closed.
        let before = guard.overflowed.get();
        let fresh = Some(hasher.key("203.0.113.200".parse().unwrap()));
        let other = Some(hasher.key("203.0.113.201".parse().unwrap()));
        let admitted = [guard.admit_connection(fresh), guard.admit_connection(other)];
        assert!(
            admitted.iter().filter(|a| a.is_err()).count() >= 1,
            "two new sources past the bound got {admitted:?}"
        );
        assert_eq!(guard.overflowed.get(), before + 2);
        assert!(guard.connections_per_source.lock().len() <= 50 + 1);
    }

    #[test]
    fn ipv6_addresses_of_one_prefix_are_one_source_and_salts_hide_addresses() {
        let hasher = SourceHasher::default();
        let a = hasher.key("2001:db8:1:2::1".parse().unwrap());
        let b = hasher.key("2001:db8:1:2::ffff".parse().unwrap());
        let c = hasher.key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let other_day = SourceHasher::default().key("2001:db8:1:2::1".parse().unwrap());
        assert_ne!(a, other_day, "a fresh salt gives a different key");
    }

    #[test]
    fn limiters_see_only_the_daily_hash_and_blocks_only_the_standing_one() {
        let hasher = SourceHasher::default();
        let a = hasher.key("203.0.113.9".parse().unwrap());
        let again = hasher.key("203.0.113.9".parse().unwrap());
        assert_eq!(a, again);
        assert_eq!(a.standing(), again.standing());
        assert_ne!(a.standing().0, [0; 16]);
        // What a limiter stores has no standing hash, and is the same key.
        let stored = a.for_limiter();
        assert_eq!(stored, a);
        assert_eq!(stored.standing().0, [0; 16]);
        // The two hashes differ (distinct salts and domains).
        assert_ne!(a.day, a.standing);
        // A new process (a new standing salt) gives a new standing key.
        let other = SourceHasher::default().key("203.0.113.9".parse().unwrap());
        assert_ne!(a.standing(), other.standing());
    }

    #[test]
    fn under_pressure_a_solved_puzzle_is_needed_once_per_request() {
        let guard = IntakeGuard::new(&IntakeConfig {
            pow_threshold_per_minute: 1,
            pow_difficulty_bits: 8,
            ..config()
        });
        let mut puzzle = None;
        let challenge = match guard.check_intake(None, b"me", &mut puzzle, None) {
            Err(Refusal::PowRequired(c)) => c,
            other => panic!("expected a puzzle, got {other:?}"),
        };
        let solution = parasol_protocol::PowSolution {
            challenge: challenge.challenge.clone(),
            nonce: parasol_protocol::solve_pow(&challenge, b"me"),
        };
        assert!(guard.check_intake(None, b"me", &mut puzzle, Some(&solution)).is_ok());
        assert!(
            matches!(
                guard.check_intake(None, b"me", &mut puzzle, Some(&solution)),
                Err(Refusal::PowRequired(_))
            ),
            "a solution is spent by the request it admitted"
        );
    }
}
