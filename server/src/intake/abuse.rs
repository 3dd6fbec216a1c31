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

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use parasol_protocol::{Bytes, PowChallenge};
use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::IntakeConfig;

/// An opaque, in-memory-only key for a visitor's network source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceKey([u8; 16]);

/// Salted hashing of addresses; the salt rotates daily.
pub struct SourceHasher {
    salt: Mutex<(u64, [u8; 32])>,
}

impl Default for SourceHasher {
    fn default() -> Self {
        SourceHasher {
            salt: Mutex::new((u64::MAX, [0; 32])),
        }
    }
}

impl SourceHasher {
    pub fn key(&self, addr: IpAddr) -> SourceKey {
        let day = crate::time::now_secs() / 86_400;
        let salt = {
            let mut s = self.salt.lock();
            if s.0 != day {
                let mut fresh = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut fresh);
                *s = (day, fresh);
            }
            s.1
        };
        let mut h = Sha256::new();
        h.update(salt);
        // One IPv6 user owns a whole /64: count it as one source.
        match addr {
            IpAddr::V4(v4) => h.update(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => h.update(v4.octets()),
                None => h.update(&v6.octets()[..8]),
            },
        }
        let digest = h.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        SourceKey(key)
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
    per_source: DefaultKeyedRateLimiter<SourceKey>,
    connections_per_source: DefaultKeyedRateLimiter<SourceKey>,
    /// Intake attempts (all, refused too) in the current and previous
    /// minute: the pressure that switches proof-of-work on.
    attempts: Mutex<(u64, u64, u64)>,
    pow_threshold: u64,
    pow_difficulty: u8,
    max_sources: usize,
    issued: AtomicU64,
}

impl IntakeGuard {
    pub fn new(config: &IntakeConfig) -> Self {
        IntakeGuard {
            global: RateLimiter::direct(per_minute(config.global_requests_per_minute)),
            team_key_packages: RateLimiter::direct(per_minute(config.team_key_packages_per_minute)),
            per_source: RateLimiter::keyed(
                per_minute(config.requests_per_source_per_minute)
                    .allow_burst(NonZeroU32::new(config.source_burst).unwrap_or(NonZeroU32::MIN)),
            ),
            connections_per_source: RateLimiter::keyed(
                per_minute(config.connections_per_source_per_minute)
                    .allow_burst(NonZeroU32::new(config.connection_burst).unwrap_or(NonZeroU32::MIN)),
            ),
            attempts: Mutex::new((0, 0, 0)),
            pow_threshold: u64::from(config.pow_threshold_per_minute),
            pow_difficulty: config.pow_difficulty_bits,
            max_sources: config.max_tracked_sources,
            issued: AtomicU64::new(0),
        }
    }

    /// A new WebSocket from this source: refused (HTTP 429) past its rate.
    pub fn admit_connection(&self, source: Option<SourceKey>) -> Result<(), u32> {
        let Some(source) = source else { return Ok(()) };
        if !has_room(&self.connections_per_source, self.max_sources) {
            return Ok(());
        }
        let clock = governor::clock::DefaultClock::default();
        self.connections_per_source
            .check_key(&source)
            .map_err(|not_until| retry_secs(not_until.wait_time_from(governor::clock::Clock::now(&clock))))
    }

    /// Forget sources that are back to a full budget.
    pub fn trim(&self) {
        self.per_source.retain_recent();
        self.connections_per_source.retain_recent();
        self.per_source.shrink_to_fit();
        self.connections_per_source.shrink_to_fit();
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
        // addresses), new sources are not tracked: memory stays bounded and
        // proof of work plus the global budget still hold.
        if let Some(source) = source.filter(|_| has_room(&self.per_source, self.max_sources)) {
            if let Err(not_until) = self.per_source.check_key(&source) {
                return Err(Refusal::RateLimited {
                    retry_after_secs: retry_secs(not_until.wait_time_from(now)),
                });
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
        let Some(source) = source.filter(|_| has_room(&self.per_source, self.max_sources)) else {
            return Ok(());
        };
        let clock = governor::clock::DefaultClock::default();
        self.per_source
            .check_key(&source)
            .map_err(|not_until| Refusal::RateLimited {
                retry_after_secs: retry_secs(not_until.wait_time_from(governor::clock::Clock::now(&clock))),
            })
    }

    /// A `team_key_packages` call: the source's intake budget, then the
    /// global budget of those calls (each claims a key package of every
    /// counsellor). No proof of work: the call has no field for it.
    pub fn check_team_key_packages(&self, source: Option<SourceKey>) -> Result<(), Refusal> {
        let clock = governor::clock::DefaultClock::default();
        let now = governor::clock::Clock::now(&clock);
        if let Some(source) = source.filter(|_| has_room(&self.per_source, self.max_sources)) {
            if let Err(not_until) = self.per_source.check_key(&source) {
                return Err(Refusal::RateLimited {
                    retry_after_secs: retry_secs(not_until.wait_time_from(now)),
                });
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
        self.per_source.len() + self.connections_per_source.len()
    }
}

/// Keyed limiters keep a cell per key: make room by forgetting sources
/// back at full budget, and say whether there is room for one more.
fn has_room(limiter: &DefaultKeyedRateLimiter<SourceKey>, max: usize) -> bool {
    if limiter.len() < max {
        return true;
    }
    limiter.retain_recent();
    limiter.len() < max
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
            guard.connections_per_source.len() <= 50 + 1,
            "the limiter tracks {} sources",
            guard.connections_per_source.len()
        );
        // Past the bound, a new source is held only by the global limits.
        let fresh = Some(hasher.key("203.0.113.200".parse().unwrap()));
        assert!(guard.admit_connection(fresh).is_ok());
        assert!(guard.admit_connection(fresh).is_ok());
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
