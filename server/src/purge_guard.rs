//! The clock guard of the retention purge.
//!
//! The purge destroys data by the wall clock: envelopes older than
//! `retention_secs`, then the storage keys of past periods. A clock that
//! jumps forward (a wrong RTC at boot, a bad NTP step) would make it
//! destroy undelivered, acknowledged envelopes at once; one that jumps
//! backwards would date new envelopes before old ones. So the time of the
//! last purge is persisted (`meta` tree, [`crate::storage::purge_clock`]),
//! and a purge whose clock is more than `clock_jump_bound_secs` (default
//! one day) ahead of it, or at all behind it, is **held**: nothing is
//! deleted or destroyed, and a warning is logged. A held purge runs:
//! - at the first purge tick at which the wall clock has run steadily for
//!   `clock_jump_bound_secs` since the hold began: steadily meaning it
//!   moved as the monotonic clock did, within [`STEADY_TOLERANCE_SECS`]
//!   (a clock that jumps again starts the wait over; a restart does too);
//! - or at once when the operator confirms: `parasol-server admin purge
//!   --confirm`;
//! - or normally again if the clock is set back right (within the bound
//!   of the last purge).

use std::time::Instant;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// How far the wall clock may drift from the monotonic clock while a held
/// purge waits, and still count as running steadily.
pub const STEADY_TOLERANCE_SECS: u64 = 60;

/// How the clock moved since the last purge, when it moved too far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockJump {
    Forward { secs: u64 },
    Backward { secs: u64 },
}

/// Whether the clock moved too far since the last purge (`None`: no
/// purge ever ran, or it moved within the bound).
pub fn judge(last_purge: Option<u64>, now: u64, bound_secs: u64) -> Option<ClockJump> {
    let last = last_purge?;
    if now < last {
        Some(ClockJump::Backward { secs: last - now })
    } else if now - last > bound_secs {
        Some(ClockJump::Forward { secs: now - last })
    } else {
        None
    }
}

/// What a purge tick should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Purge,
    /// The clock has run steadily for the bound since the hold began.
    PurgeAfterHold,
    /// Hold; `new` when this tick began (or restarted) the hold.
    Hold {
        jump: ClockJump,
        new: bool,
    },
}

/// When a hold began, by both clocks.
#[derive(Clone, Copy)]
struct Hold {
    wall: u64,
    mono: Instant,
}

pub struct PurgeGuard {
    bound_secs: u64,
    hold: Mutex<Option<Hold>>,
}

impl PurgeGuard {
    pub fn new(bound_secs: u64) -> Self {
        PurgeGuard {
            bound_secs,
            hold: Mutex::new(None),
        }
    }

    /// Decide a purge tick at wall time `now` and monotonic time `mono`.
    pub fn decide(&self, last_purge: Option<u64>, now: u64, mono: Instant) -> Decision {
        let mut hold = self.hold.lock();
        let Some(jump) = judge(last_purge, now, self.bound_secs) else {
            *hold = None;
            return Decision::Purge;
        };
        match *hold {
            Some(h) => {
                let ran = mono.saturating_duration_since(h.mono).as_secs();
                let moved = now as i128 - h.wall as i128;
                if (moved - ran as i128).unsigned_abs() > u128::from(STEADY_TOLERANCE_SECS) {
                    // It jumped again: the wait starts over.
                    *hold = Some(Hold { wall: now, mono });
                    Decision::Hold { jump, new: true }
                } else if ran >= self.bound_secs {
                    *hold = None;
                    Decision::PurgeAfterHold
                } else {
                    Decision::Hold { jump, new: false }
                }
            }
            None => {
                *hold = Some(Hold { wall: now, mono });
                Decision::Hold { jump, new: true }
            }
        }
    }

    /// The operator confirmed: the hold ends with this purge.
    pub fn release(&self) {
        *self.hold.lock() = None;
    }
}

/// What one retention purge deleted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PurgeSummary {
    pub envelopes: usize,
    pub storage_keys_destroyed: usize,
    pub key_packages: usize,
    pub groups: usize,
    pub circle_records: usize,
}

/// An operator's confirmed purge, answered with what it deleted.
pub type PurgeRequest = oneshot::Sender<Result<PurgeSummary, String>>;

/// Where `admin purge --confirm` reaches the purge loop.
pub type PurgeRequests = mpsc::Sender<PurgeRequest>;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const DAY: u64 = 86_400;

    #[test]
    fn a_clock_within_the_bound_purges() {
        assert_eq!(judge(None, 5, DAY), None, "the first purge ever");
        assert_eq!(judge(Some(100), 100 + DAY, DAY), None);
        assert_eq!(
            judge(Some(100), 101 + DAY, DAY),
            Some(ClockJump::Forward { secs: DAY + 1 })
        );
        assert_eq!(judge(Some(100), 99, DAY), Some(ClockJump::Backward { secs: 1 }));
    }

    /// +8 days: held at every tick until the clock has run steadily for
    /// the bound, then purged once.
    #[test]
    fn a_jump_is_held_until_the_clock_ran_steadily_for_the_bound() {
        let guard = PurgeGuard::new(DAY);
        let start = Instant::now();
        let last = Some(1_000);
        let jumped = 1_000 + 8 * DAY;
        let forward = ClockJump::Forward { secs: 8 * DAY };
        assert_eq!(
            guard.decide(last, jumped, start),
            Decision::Hold {
                jump: forward,
                new: true
            }
        );
        let later = |secs: u64| start + Duration::from_secs(secs);
        assert_eq!(
            guard.decide(last, jumped + 600, later(600)),
            Decision::Hold {
                jump: ClockJump::Forward { secs: 8 * DAY + 600 },
                new: false
            }
        );
        // It jumped again an hour: the wait starts over.
        assert!(matches!(
            guard.decide(last, jumped + 1200 + 3600, later(1200)),
            Decision::Hold { new: true, .. }
        ));
        assert!(matches!(
            guard.decide(last, jumped + 4800 + DAY - 1, later(1200 + DAY - 1)),
            Decision::Hold { new: false, .. }
        ));
        assert_eq!(
            guard.decide(last, jumped + 4800 + DAY, later(1200 + DAY)),
            Decision::PurgeAfterHold
        );
    }

    /// The operator sets the clock back right: purges go on as before.
    #[test]
    fn a_clock_set_right_again_purges_normally() {
        let guard = PurgeGuard::new(DAY);
        let start = Instant::now();
        assert!(matches!(
            guard.decide(Some(1_000), 1_000 + 8 * DAY, start),
            Decision::Hold { new: true, .. }
        ));
        assert_eq!(guard.decide(Some(1_000), 1_600, start), Decision::Purge);
        assert!(matches!(
            guard.decide(Some(1_000), 900, start),
            Decision::Hold {
                jump: ClockJump::Backward { secs: 100 },
                new: true
            }
        ));
    }
}
