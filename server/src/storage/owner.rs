//! The state owner: one thread that writes every tree other than the
//! mailboxes and groups (key packages, intake, circles, escalations,
//! staff, audit, statistics), one job after another, and flushes once for
//! all the jobs it took in before answering them (group commit).
//!
//! Why a thread of its own: a sled write can wait for sled's I/O buffers,
//! and on tokio's two workers that froze every connection (issue 17). The
//! async side only queues a job and awaits its answer; the queue is
//! bounded, so a flood waits on its own requests, not on the runtime.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::StorageError;

/// Called with the outcome of the flush that made a job durable.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Runs on the owner thread and returns how to answer once flushed.
type Job = Box<dyn FnOnce() -> Reply + Send>;

/// Most jobs made durable by one flush.
const MAX_JOBS_PER_FLUSH: usize = 256;

/// Handle to the state owner's queue.
#[derive(Clone)]
pub struct StateOwner {
    jobs: mpsc::Sender<Job>,
    _thread: Arc<Stopper>,
}

/// Stops the owner thread when the last handle goes: it flushes and
/// releases its handle of the database, so the data directory can be
/// opened again at once (the admin CLI, tests).
struct Stopper {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.jobs.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            // The last handle can be dropped by a job on the thread itself.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl StateOwner {
    /// Start the owner thread; `make_durable` flushes and syncs what its
    /// jobs wrote (see [`super::Storage::make_durable`]). It stops when every
    /// handle is dropped, after a last `make_durable`.
    pub fn spawn(make_durable: impl Fn() -> Result<(), String> + Send + 'static, queue_len: usize) -> Self {
        let (jobs, rx) = mpsc::channel(queue_len);
        let thread = std::thread::Builder::new()
            .name("state-owner".into())
            .spawn(move || run(make_durable, rx))
            .expect("spawning the state owner thread"); // infallible at start-up: no input reaches it
        StateOwner {
            _thread: Arc::new(Stopper {
                jobs: Mutex::new(Some(jobs.clone())),
                thread: Mutex::new(Some(thread)),
            }),
            jobs,
        }
    }

    /// Run `f` on the owner thread and answer once what it wrote is
    /// flushed. `f`'s own error is returned as it is.
    pub async fn write<R, E>(&self, f: impl FnOnce() -> Result<R, E> + Send + 'static) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, E>>();
        let job = answered_job(f, move |answer| {
            let _ = tx.send(answer);
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| E::from(StorageError::WriterStopped))?;
        rx.await.map_err(|_| E::from(StorageError::WriterStopped))?
    }

    /// [`StateOwner::write`] for start-up code on a blocking thread: it
    /// waits on the calling thread, so never call it on a tokio worker.
    pub fn write_blocking<R, E>(&self, f: impl FnOnce() -> Result<R, E> + Send + 'static) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel::<Result<R, E>>();
        let job = answered_job(f, move |answer| {
            let _ = tx.send(answer);
        });
        self.jobs
            .blocking_send(job)
            .map_err(|_| E::from(StorageError::WriterStopped))?;
        rx.recv().map_err(|_| E::from(StorageError::WriterStopped))?
    }

    /// Queue `f` without waiting for it (for callers that cannot await, such
    /// as a clock tick under a lock). It becomes durable with the owner's
    /// next flush; a full queue refuses it.
    pub fn write_nowait(
        &self,
        f: impl FnOnce() -> Result<(), StorageError> + Send + 'static,
    ) -> Result<(), StorageError> {
        let job: Job = Box::new(move || {
            if let Err(e) = f() {
                tracing::error!(error = %e, "a queued state write failed");
            }
            Box::new(|_| {})
        });
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StorageError::Unavailable("state owner queue is full".into()),
            mpsc::error::TrySendError::Closed(_) => StorageError::WriterStopped,
        })
    }

    /// Queue an insert into `tree` (see [`StateOwner::write_nowait`]).
    pub fn insert(&self, tree: &sled::Tree, key: impl AsRef<[u8]>, value: Vec<u8>) -> Result<(), StorageError> {
        let (tree, key) = (tree.clone(), key.as_ref().to_vec());
        self.write_nowait(move || {
            tree.insert(key, value)?;
            Ok(())
        })
    }

    /// Queue a removal from `tree` (see [`StateOwner::write_nowait`]).
    pub fn remove(&self, tree: &sled::Tree, key: impl AsRef<[u8]>) -> Result<(), StorageError> {
        let (tree, key) = (tree.clone(), key.as_ref().to_vec());
        self.write_nowait(move || {
            tree.remove(key)?;
            Ok(())
        })
    }

    /// Wait until every job queued before this call is durable.
    pub async fn sync(&self) -> Result<(), StorageError> {
        self.write(|| Ok::<_, StorageError>(())).await
    }
}

/// Run a read on tokio's blocking pool, never on an async worker: a sled
/// read can wait for the disk.
pub async fn read<R, E>(f: impl FnOnce() -> Result<R, E> + Send + 'static) -> Result<R, E>
where
    R: Send + 'static,
    E: From<StorageError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(StorageError::Unavailable(format!("storage read task: {e}"))))?
}

fn run(make_durable: impl Fn() -> Result<(), String>, mut rx: mpsc::Receiver<Job>) {
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_JOBS_PER_FLUSH);
    while let Some(first) = rx.blocking_recv() {
        replies.push(first());
        while replies.len() < MAX_JOBS_PER_FLUSH {
            match rx.try_recv() {
                Ok(job) => replies.push(job()),
                Err(_) => break,
            }
        }
        let flushed = make_durable();
        if let Err(e) = &flushed {
            tracing::error!(error = %e, "flushing state writes failed");
        }
        for reply in replies.drain(..) {
            reply(flushed.clone());
        }
    }
    if let Err(e) = make_durable() {
        tracing::error!(error = %e, "final flush of state writes failed");
    }
}

/// An owner for a bare database (unit tests of rooms that open sled
/// themselves): it flushes without syncing.
/// A job that runs `f` on the owner's thread and hands its result to
/// `answer` once the flush after it is done (a failed flush turns a
/// success into `Unavailable`).
fn answered_job<R, E>(
    f: impl FnOnce() -> Result<R, E> + Send + 'static,
    answer: impl FnOnce(Result<R, E>) + Send + 'static,
) -> Job
where
    R: Send + 'static,
    E: From<StorageError> + Send + 'static,
{
    Box::new(move || {
        let result = f();
        Box::new(move |flushed: Result<(), String>| {
            answer(match flushed {
                Ok(()) => result,
                Err(e) => result.and(Err(E::from(StorageError::Unavailable(e)))),
            })
        })
    })
}

#[cfg(test)]
pub fn for_tests(db: &sled::Db) -> StateOwner {
    let db = db.clone();
    StateOwner::spawn(move || db.flush().map(|_| ()).map_err(|e| e.to_string()), 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_run_in_order_and_answer_after_their_flush() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path())
            .flush_every_ms(None)
            .open()
            .unwrap();
        let tree = db.open_tree("t").unwrap();
        let owner = for_tests(&db);
        let t = tree.clone();
        owner
            .write_nowait(move || {
                t.insert("a", "1")?;
                Ok(())
            })
            .unwrap();
        let t = tree.clone();
        let seen = owner
            .write(move || Ok::<_, StorageError>(t.get("a")?.map(|v| v.to_vec())))
            .await
            .unwrap();
        assert_eq!(seen.as_deref(), Some(&b"1"[..]), "the queued write ran first");
        let t = tree.clone();
        let err = owner
            .write(move || -> Result<(), StorageError> {
                t.insert("b", "2")?;
                Err(StorageError::Corrupt("refused".into()))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Corrupt(_)), "{err}");
        owner.sync().await.unwrap();
        drop(owner);
        let t = tree.clone();
        let read_back = read(move || Ok::<_, StorageError>(t.get("b")?)).await.unwrap();
        assert!(read_back.is_some());
    }
}
