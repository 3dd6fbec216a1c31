//! Heavy MLS validation (signatures over key packages, a new group's
//! ratchet tree) off the async workers.
//!
//! The work runs in `spawn_blocking`, behind two semaphores: one for staff
//! sessions and one for everyone else, so a flood of anonymous uploads can
//! fill only its own permits and never makes a staff console wait. Before
//! an anonymous request gets a permit it spends units of its source's
//! budget (a salted address hash, memory only): one source cannot take
//! the anonymous permits from every other visitor either. Callers run the
//! cheap checks (sizes, per-client and pool caps) first, so refused work
//! costs nothing heavy.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use parasol_protocol::ErrorCode;
use tokio::sync::Semaphore;

use crate::config::Limits;
use crate::error::{RefusalDetails, ServiceError, ServiceResult};
use crate::intake::abuse::SourceKey;

/// How long a request waits for a validation permit before it is refused
/// with `busy` (the wait queue is otherwise bounded only by connections).
const PERMIT_WAIT: Duration = Duration::from_secs(10);

/// Who asks for the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requester {
    /// A staff session (its own permits, no source budget).
    pub staff: bool,
    pub source: Option<SourceKey>,
}

impl Requester {
    pub const STAFF: Requester = Requester {
        staff: true,
        source: None,
    };

    pub fn anonymous(source: Option<SourceKey>) -> Self {
        Requester { staff: false, source }
    }
}

/// Units of validation a new group costs: one, plus one per started 4 KiB
/// of its ratchet tree (a 256 KiB tree is 65).
pub fn group_units(ratchet_tree_bytes: usize) -> u32 {
    1 + ratchet_tree_bytes.div_ceil(4096).min(u32::MAX as usize - 1) as u32
}

pub struct ValidationPool {
    staff: Arc<Semaphore>,
    anonymous: Arc<Semaphore>,
    per_source: DefaultKeyedRateLimiter<SourceKey>,
    /// Sources beyond `max_sources` share this one budget: a full table
    /// must not switch the limit off.
    overflow: DefaultDirectRateLimiter,
    max_sources: usize,
    burst: NonZeroU32,
}

impl ValidationPool {
    pub fn new(limits: &Limits, max_sources: usize) -> Self {
        let rate = NonZeroU32::new(limits.validations_per_source_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.validation_source_burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(rate).allow_burst(burst);
        ValidationPool {
            staff: Arc::new(Semaphore::new(limits.staff_validation_threads.max(1))),
            anonymous: Arc::new(Semaphore::new(limits.anonymous_validation_threads.max(1))),
            per_source: RateLimiter::keyed(quota),
            overflow: RateLimiter::direct(quota),
            max_sources: max_sources.max(1),
            burst,
        }
    }

    /// Spend `units` of an anonymous requester's source budget; staff and
    /// requests without a known source (in-process tests) spend nothing.
    pub fn charge(&self, who: &Requester, units: u32) -> ServiceResult<()> {
        let Some(source) = who.source.filter(|_| !who.staff) else {
            return Ok(());
        };
        // More than the burst at once can never pass: charge the burst.
        let n = NonZeroU32::new(units).unwrap_or(NonZeroU32::MIN).min(self.burst);
        let outcome = if self.has_room() {
            self.per_source.check_key_n(&source, n)
        } else {
            self.overflow.check_n(n)
        };
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let clock = governor::clock::DefaultClock::default();
                let wait = not_until.wait_time_from(governor::clock::Clock::now(&clock));
                Err(ServiceError::new(
                    ErrorCode::RateLimited,
                    "too many uploads from your network; please wait a minute",
                )
                .with_details(RefusalDetails {
                    retry_after_secs: Some((wait.as_secs() + 1).min(u64::from(u32::MAX)) as u32),
                    pow: None,
                    help: None,
                }))
            }
            Err(_) => Err(ServiceError::internal()),
        }
    }

    fn has_room(&self) -> bool {
        if self.per_source.len() < self.max_sources {
            return true;
        }
        self.per_source.retain_recent();
        self.per_source.len() < self.max_sources
    }

    /// Run `work` on a blocking thread once a permit of the requester's
    /// pool is free (waiting at most [`PERMIT_WAIT`], then `busy`).
    pub async fn run<T, F>(&self, who: &Requester, work: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let pool = if who.staff { &self.staff } else { &self.anonymous };
        let permit = match tokio::time::timeout(PERMIT_WAIT, pool.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(ServiceError::internal()),
            Err(_) => {
                return Err(
                    ServiceError::new(ErrorCode::Busy, "the server is busy checking uploads; retry shortly")
                        .with_details(RefusalDetails {
                            retry_after_secs: Some(5),
                            pow: None,
                            help: None,
                        }),
                )
            }
        };
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|_| ServiceError::internal())
    }

    /// Forget sources back at a full budget (keeps the table small).
    pub fn trim(&self) {
        self.per_source.retain_recent();
        self.per_source.shrink_to_fit();
    }

    /// Free permits (for tests).
    pub fn available(&self, staff: bool) -> usize {
        if staff {
            self.staff.available_permits()
        } else {
            self.anonymous.available_permits()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::intake::abuse::SourceHasher;

    fn limits(threads: usize, per_minute: u32, burst: u32) -> Limits {
        Limits {
            staff_validation_threads: threads,
            anonymous_validation_threads: threads,
            validations_per_source_per_minute: per_minute,
            validation_source_burst: burst,
            ..Limits::default()
        }
    }

    fn source(n: u8) -> SourceKey {
        SourceHasher::default().key(std::net::IpAddr::from([10, 0, 0, n]))
    }

    #[test]
    fn a_source_spends_its_own_budget_and_staff_none() {
        let pool = ValidationPool::new(&limits(1, 1, 10), 100);
        let a = Requester::anonymous(Some(source(1)));
        let b = Requester::anonymous(Some(source(2)));
        pool.charge(&a, 6).expect("within the burst");
        pool.charge(&a, 4).expect("the rest of the burst");
        let refused = pool.charge(&a, 1).expect_err("spent");
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert!(refused.details.and_then(|d| d.retry_after_secs).is_some());
        pool.charge(&b, 10).expect("another source has its own budget");
        for _ in 0..100 {
            pool.charge(&Requester::STAFF, 10).expect("staff are not charged");
        }
        // More than the burst in one request is charged as the burst.
        let c = Requester::anonymous(Some(source(3)));
        pool.charge(&c, 1000).expect("charged as the whole burst");
        assert!(pool.charge(&c, 1).is_err());
    }

    #[test]
    fn sources_past_the_table_share_one_budget_instead_of_none() {
        let pool = ValidationPool::new(&limits(1, 1, 5), 2);
        pool.charge(&Requester::anonymous(Some(source(1))), 1).unwrap();
        pool.charge(&Requester::anonymous(Some(source(2))), 1).unwrap();
        // The table is full: every new source draws on the overflow budget.
        let mut refused = 0;
        for n in 3..20 {
            if pool.charge(&Requester::anonymous(Some(source(n))), 1).is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 17 - 5, "17 new sources shared a burst of 5");
    }

    #[test]
    fn group_units_grow_with_the_tree() {
        assert_eq!(group_units(0), 1);
        assert_eq!(group_units(1), 2);
        assert_eq!(group_units(4096), 2);
        assert_eq!(group_units(256 * 1024), 65);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn anonymous_work_is_bounded_and_never_takes_staff_permits() {
        let pool = Arc::new(ValidationPool::new(&limits(1, 1000, 1000), 100));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(parking_lot::Mutex::new(release_rx));
        // Four anonymous jobs: one runs, three wait for the one permit.
        let mut jobs = Vec::new();
        for _ in 0..4 {
            let (pool, running, peak, release_rx) = (pool.clone(), running.clone(), peak.clone(), release_rx.clone());
            jobs.push(tokio::spawn(async move {
                pool.run(&Requester::anonymous(None), move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    let _ = release_rx.lock().recv();
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        while running.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.available(false), 0, "the anonymous permit is taken");
        // Staff work still runs at once.
        let staff = pool.run(&Requester::STAFF, || 7).await.expect("staff work");
        assert_eq!(staff, 7);
        for _ in 0..4 {
            release_tx.send(()).unwrap();
        }
        for job in jobs {
            job.await.unwrap().expect("anonymous work ran");
        }
        assert_eq!(peak.load(Ordering::SeqCst), 1, "one anonymous job at a time");
    }
}
