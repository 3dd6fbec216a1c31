//! The server's clocks: the intake and escalation tick every second, and
//! retention's purge loop.

use std::sync::Arc;
use std::time::Duration;

use crate::storage::Storage;
use crate::{purge_guard, stats, storage, time, Services};

/// Every second: offers time out, abandoned tickets close, unanswered
/// escalations are notified again. Every minute
/// the rate limiters forget sources that are back to a full budget.
pub(crate) async fn intake_clock(services: Arc<Services>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        services.intake.tick();
        services.escalations.tick().await;
        n += 1;
        if n.is_multiple_of(60) {
            services.intake.guard.trim();
        }
    }
}

/// Retention, every `purge_interval_secs`: delete envelopes older than
/// `retention_secs`, expired key packages and idle groups, and trim the
/// in-memory claim counters and mailbox index. Held while the clock looks
/// wrong ([`purge_guard`]); an operator's confirmation runs it at once.
pub(crate) async fn purge_loop(
    services: Arc<Services>,
    storage: Storage,
    mut confirmed: tokio::sync::mpsc::Receiver<purge_guard::PurgeRequest>,
) {
    use purge_guard::{ClockJump, Decision};
    let guard = purge_guard::PurgeGuard::new(services.config.clock_jump_bound_secs);
    let mut tick = tokio::time::interval(Duration::from_secs(services.config.purge_interval_secs));
    loop {
        let request = tokio::select! {
            _ = tick.tick() => None,
            Some(request) = confirmed.recv() => Some(request),
        };
        let now = time::now_secs();
        if request.is_none() {
            let last = {
                let storage = storage.clone();
                storage::owner::read(move || storage.last_purge_secs()).await
            };
            let last = match last {
                Ok(last) => last,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the last purge time; purge held");
                    continue;
                }
            };
            match guard.decide(last, now, std::time::Instant::now()) {
                Decision::Purge => {}
                Decision::PurgeAfterHold => tracing::warn!(
                    bound_secs = services.config.clock_jump_bound_secs,
                    "the clock ran steadily for clock_jump_bound_secs since the purge was held: purging by it now"
                ),
                Decision::Hold { jump, new } => {
                    // Logged when the hold begins, then once an hour.
                    let hourly = services.config.purge_interval_secs.max(1);
                    if new || now % 3600 < hourly {
                        let (direction, secs) = match jump {
                            ClockJump::Forward { secs } => ("forward", secs),
                            ClockJump::Backward { secs } => ("backward", secs),
                        };
                        tracing::warn!(
                            direction,
                            secs,
                            bound_secs = services.config.clock_jump_bound_secs,
                            "the clock moved too far since the last retention purge: nothing is purged or destroyed \
                             until it has run steadily for clock_jump_bound_secs or an operator runs \
                             `parasol-server admin purge --confirm`"
                        );
                    }
                    services.directory.forget_idle_claim_counters();
                    services.mailboxes.evict_empty();
                    continue;
                }
            }
        } else {
            guard.release();
            tracing::warn!("retention purge confirmed by an operator");
        }
        let outcome = purge_once(&services, &storage, now).await;
        if let Some(request) = request {
            let _ = request.send(outcome);
        }
    }
}

/// One retention purge at `now`; its time is recorded once it is done.
async fn purge_once(
    services: &Arc<Services>,
    storage: &Storage,
    now: u64,
) -> Result<purge_guard::PurgeSummary, String> {
    let cutoff = now.saturating_sub(services.config.retention_secs);
    let mailboxes = services.mailboxes.clone();
    // Envelopes first, then the keys that sealed them (crypto-shredding
    // what sled's log may still hold).
    let envelopes = tokio::task::spawn_blocking(move || {
        let envelopes = mailboxes.purge_before(cutoff)?;
        let keys = mailboxes.destroy_expired_keys(now)?;
        Ok::<_, storage::StorageError>((envelopes, keys))
    })
    .await;
    let key_packages = services.directory.purge_expired().await;
    let groups = services.delivery.expire_idle_groups().await;
    let circle_records = match services.circles.purge(now).await {
        Ok(n) => n,
        Err(_) => {
            tracing::error!("circles purge failed");
            0
        }
    };
    services.directory.forget_idle_claim_counters();
    services.mailboxes.evict_empty();
    // Each on the state owner, and each tried even if another failed.
    let staff_purged = services.staff.purge_expired().await.is_ok();
    let audit_purged = services.audit.purge(now).await.is_ok();
    let stats_purged = services.stats.purge(stats::Day::from_unix_secs(now)).await.is_ok();
    if !(staff_purged && audit_purged && stats_purged) {
        tracing::error!(
            staff_purged,
            audit_purged,
            stats_purged,
            "staff, audit or stats purge failed"
        );
    }
    match (envelopes, key_packages) {
        (Ok(Ok((e, keys))), Ok(k)) => {
            let summary = purge_guard::PurgeSummary {
                envelopes: e,
                storage_keys_destroyed: keys,
                key_packages: k,
                groups,
                circle_records,
            };
            tracing::info!(
                envelopes = e,
                storage_keys_destroyed = keys,
                key_packages = k,
                groups,
                circle_records,
                "retention purge"
            );
            if let Err(e) = storage.record_purge_secs(now).await {
                tracing::error!(error = %e, "cannot record the purge time");
            }
            Ok(summary)
        }
        _ => {
            tracing::error!("retention purge failed");
            Err("the retention purge failed; see the server log".into())
        }
    }
}
