//! Wall-clock time in whole seconds: the only resolution the server stores.
//!
//! Every clock read of the server goes through [`now_secs`]. Debug builds
//! (tests) honour `PARASOL_CLOCK_OFFSET_SECS`, a signed number of seconds
//! added to the system clock, so a test can start a real server whose
//! clock jumped (see `purge_guard`). Release builds contain no code that
//! reads it: a deployed server always uses the system clock.

/// The environment variable of [`clock_offset_secs`] (debug builds only).
pub const CLOCK_OFFSET_ENV: &str = "PARASOL_CLOCK_OFFSET_SECS";

pub fn now_secs() -> u64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    real.saturating_add_signed(clock_offset_secs())
}

/// The test-only clock offset, read once.
#[cfg(debug_assertions)]
fn clock_offset_secs() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var(CLOCK_OFFSET_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    })
}

#[cfg(not(debug_assertions))]
fn clock_offset_secs() -> i64 {
    0
}

/// The current hour since the Unix epoch: the resolution of a group's last
/// activity, so the server keeps no finer trace of when a group talked.
pub fn now_hour() -> u64 {
    now_secs() / 3600
}
