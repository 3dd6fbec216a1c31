//! Wall-clock time in whole seconds: the only resolution the server stores.

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The current hour since the Unix epoch: the resolution of a group's last
/// activity, so the server keeps no finer trace of when a group talked.
pub fn now_hour() -> u64 {
    now_secs() / 3600
}
