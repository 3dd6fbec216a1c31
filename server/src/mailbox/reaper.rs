//! The reaper: one thread that deletes acknowledged envelopes, off the
//! storage writer's path.
//!
//! Deleting was first done on the async workers (thousands of small sled
//! batches a second), then by the writer between its rounds. Both put
//! deletions in front of new messages: the acks that followed a busy phase
//! held the writer for 170-250 ms (BENCHMARKS.md). Here deletions are
//! single-key removes, which sled runs beside the writer's batches, a
//! bounded number per step, oldest acks first.
//!
//! Before deleting, each step raises the mailbox's floor to the acked
//! seq (`MailboxStore::delete_acked`, a single-key insert, no batch): the
//! persisted acked cursor, which tells the start-up check (`recovery`)
//! that the entries below it are gone on purpose, not lost.
//!
//! Deletions are not flushed on their own (the writer's next flush takes
//! them along): a deletion a crash takes back only means a client is
//! offered an envelope again that it already has, and its cursor skips it.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use tokio::sync::mpsc;

use super::store::MailboxStore;
use super::writer::MailboxIndex;
use crate::storage::ClientId;

/// Delete `client`'s envelopes up to `up_to` (the caller checked that
/// `up_to` is not past the head).
pub struct AckJob {
    pub client: ClientId,
    pub up_to: u64,
}

/// Most envelopes deleted in one step before new acks are taken in, so a
/// mailbox with a long acknowledged backlog does not keep others waiting.
const DELETES_PER_STEP: usize = 256;

/// Most mailboxes with acks waiting: beyond it the reaper stops taking
/// acks in, its channel fills, and `ack` waits (on that connection only).
const MAX_PENDING_MAILBOXES: usize = 65_536;

/// Acks not yet applied, one entry per mailbox (a later ack of the same
/// mailbox covers an earlier one), applied oldest first: at most one per
/// client that acked.
#[derive(Default)]
struct PendingAcks {
    up_to: HashMap<ClientId, u64>,
    order: VecDeque<ClientId>,
}

impl PendingAcks {
    fn add(&mut self, job: AckJob) {
        match self.up_to.entry(job.client) {
            Entry::Occupied(mut e) => *e.get_mut() = (*e.get()).max(job.up_to),
            Entry::Vacant(e) => {
                e.insert(job.up_to);
                self.order.push_back(job.client);
            }
        }
    }
}

/// Start the reaper thread. It stops, after deleting what it was given,
/// when every sender of the returned channel is dropped.
pub(super) fn spawn(
    storage: MailboxStore,
    index: MailboxIndex,
    queue_len: usize,
) -> (mpsc::Sender<AckJob>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(queue_len);
    let handle = std::thread::Builder::new()
        .name("ack-reaper".into())
        .spawn(move || run(storage, index, rx))
        .expect("spawning the ack reaper thread"); // infallible at start-up: no input reaches it
    (tx, handle)
}

fn run(storage: MailboxStore, index: MailboxIndex, mut rx: mpsc::Receiver<AckJob>) {
    let mut pending = PendingAcks::default();
    loop {
        // Block for work only when nothing is left to delete.
        if pending.order.is_empty() {
            match rx.blocking_recv() {
                Some(job) => pending.add(job),
                None => break,
            }
        }
        take_in(&mut pending, &mut rx, MAX_PENDING_MAILBOXES);
        step(&storage, &index, &mut pending, DELETES_PER_STEP);
    }
}

/// Take the acks already queued while fewer than `max` mailboxes wait.
fn take_in(pending: &mut PendingAcks, rx: &mut mpsc::Receiver<AckJob>, max: usize) {
    while pending.order.len() < max {
        match rx.try_recv() {
            Ok(job) => pending.add(job),
            Err(_) => return,
        }
    }
}

/// Delete at most `budget` envelopes of the oldest pending acks.
fn step(storage: &MailboxStore, index: &MailboxIndex, pending: &mut PendingAcks, mut budget: usize) {
    while budget > 0 {
        let Some(client) = pending.order.pop_front() else {
            return;
        };
        let Some(&up_to) = pending.up_to.get(&client) else {
            continue; // not reached: `order` and `up_to` change together
        };
        match storage.delete_acked(&client, up_to, budget) {
            Ok(outcome) => {
                if let Some(meta) = index.lock().get_mut(&client) {
                    meta.len = meta.len.saturating_sub(outcome.deleted as u64);
                }
                budget -= outcome.deleted.min(budget);
                if outcome.finished {
                    pending.up_to.remove(&client);
                } else {
                    // Budget spent: the rest waits behind the others.
                    pending.order.push_back(client);
                    return;
                }
            }
            // The envelopes stay until the next ack or the retention purge.
            Err(e) => {
                tracing::error!(error = %e, "deleting acknowledged envelopes failed");
                pending.up_to.remove(&client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pending map stops growing at its bound; the rest waits in the
    /// channel, and a later ack of a waiting mailbox still joins its entry.
    #[test]
    fn pending_acks_stop_at_their_bound() {
        let (tx, mut rx) = mpsc::channel(16);
        for n in 0..5u8 {
            tx.try_send(AckJob {
                client: [n; 32],
                up_to: 1,
            })
            .unwrap();
        }
        let mut pending = PendingAcks::default();
        take_in(&mut pending, &mut rx, 3);
        assert_eq!(pending.order.len(), 3);
        assert_eq!(rx.len(), 2, "the rest stays queued");
        pending.add(AckJob {
            client: [0; 32],
            up_to: 9,
        });
        assert_eq!((pending.order.len(), pending.up_to[&[0; 32]]), (3, 9));
    }

    /// A long acknowledged backlog is deleted a step at a time, taking
    /// turns with the mailboxes that acked after it.
    #[test]
    fn a_long_backlog_takes_turns_with_later_acks() {
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::mailbox::tests::open_store(dir.path());
        let (long, short) = ([1u8; 32], [2u8; 32]);
        crate::mailbox::tests::store_envelopes(&storage, &[(long, 5), (short, 1)]);
        let index: MailboxIndex = Default::default();
        for client in [long, short] {
            crate::mailbox::writer::mailbox_meta(&storage, &index, &client).unwrap();
        }
        let mut pending = PendingAcks::default();
        pending.add(AckJob { client: long, up_to: 5 });
        pending.add(AckJob {
            client: short,
            up_to: 1,
        });

        step(&storage, &index, &mut pending, 3);
        assert_eq!(storage.mailbox_len(&long).unwrap(), 2);
        assert_eq!(storage.mailbox_len(&short).unwrap(), 1, "not reached yet");
        assert_eq!(pending.order, [short, long], "the long backlog waits its turn");

        step(&storage, &index, &mut pending, 3);
        assert_eq!(
            storage.mailbox_len(&long).unwrap() + storage.mailbox_len(&short).unwrap(),
            0
        );
        assert!(pending.order.is_empty() && pending.up_to.is_empty());
        assert!(
            index.lock().values().all(|meta| meta.len == 0),
            "counts follow the deletions"
        );
    }
}
