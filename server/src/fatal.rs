//! Failures after which memory and disk may disagree (a storage round that
//! did not reach the disk, a merged group state that cannot be written).
//! Library code never exits the process: it reports the failure here and
//! stops where it is; the server's run loop ([`crate::run_with`]) returns
//! the [`FatalError`] without draining or flushing, and `main` chooses the
//! exit status (70). The restart recovers the last durable state.

use std::sync::OnceLock;

use tokio::sync::Notify;

/// The first fatal failure of this process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fatal storage failure: {message}")]
pub struct FatalError {
    pub message: String,
}

/// Where fatal failures are reported and awaited (one per process).
struct Reports {
    first: OnceLock<FatalError>,
    wakers: Notify,
}

impl Reports {
    const fn new() -> Self {
        Reports {
            first: OnceLock::new(),
            wakers: Notify::const_new(),
        }
    }

    fn report(&self, failure: FatalError) {
        let _ = self.first.set(failure);
        self.wakers.notify_waiters();
    }

    fn now(&self) -> Option<FatalError> {
        self.first.get().cloned()
    }

    async fn wait(&self) -> FatalError {
        loop {
            let notified = self.wakers.notified();
            tokio::pin!(notified);
            // Registered before the check, so a report between the two wakes it.
            notified.as_mut().enable();
            if let Some(failure) = self.now() {
                return failure;
            }
            notified.await;
        }
    }
}

static PROCESS: Reports = Reports::new();

/// Report a failure that leaves memory ahead of disk, and never return:
/// nothing after it may run on this thread, or it would serve or write
/// state the disk does not have. The thread parks until the process ends.
pub fn stop(message: impl Into<String>) -> ! {
    let message = message.into();
    tracing::error!(
        message = message.as_str(),
        "fatal storage failure; exiting so a restart recovers from disk"
    );
    PROCESS.report(FatalError { message });
    loop {
        std::thread::park();
    }
}

/// The fatal failure, if one was reported.
pub fn reported_now() -> Option<FatalError> {
    PROCESS.now()
}

/// Wait until a fatal failure is reported.
pub async fn reported() -> FatalError {
    PROCESS.wait().await
}

#[cfg(test)]
mod tests {
    use super::*;

    // A registry of its own: the process's would stop every server in
    // this test binary.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_report_reaches_a_waiter_that_was_already_waiting_and_later_ones() {
        static REPORTS: Reports = Reports::new();
        assert_eq!(REPORTS.now(), None);
        let waiter = tokio::spawn(REPORTS.wait());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        REPORTS.report(FatalError {
            message: "a storage round failed".into(),
        });
        let failure = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the report arrives")
            .unwrap();
        assert_eq!(failure.message, "a storage round failed");
        assert_eq!(REPORTS.wait().await, failure);
        // Only the first failure is kept.
        REPORTS.report(FatalError {
            message: "later".into(),
        });
        assert_eq!(REPORTS.now(), Some(failure));
    }
}
