//! The push window: a subscribed connection's envelopes go out while the
//! client's window (acks) and the push half of its outbox allow, and
//! resume on an ack or when the outbox drains. Queueing logic, not
//! transport: the socket task (`crate::net::socket`) only calls in here.

use parasol_protocol::{close, ServerMessage};

use super::LiveEnvelope;
use crate::net::outbox::{envelope_of, frame, Outbox};
use crate::net::socket::Closing;
use crate::ops::Session;
use crate::Services;

/// Push state of a subscribed connection.
pub struct Push {
    /// Seq of the next envelope to push.
    pub next: u64,
    /// Everything up to here has been acked (or was skipped by `after`).
    pub acked: u64,
}

fn internal(_: impl std::fmt::Display) -> Closing {
    Closing(close::INTERNAL_ERROR, "storage failure")
}

/// A live envelope: push it if it is the next one, otherwise read the gap.
pub(crate) async fn on_live(
    services: &Services,
    session: &mut Session,
    outbox: &Outbox,
    live: LiveEnvelope,
) -> Result<(), Closing> {
    let window = services.config.limits.push_window;
    let Some(push) = session.push.as_mut() else {
        return Ok(());
    };
    if live.seq == push.next && push.next - 1 - push.acked < window && outbox.has_room_for_pushes() {
        outbox.send(frame(ServerMessage::Envelope {
            envelope: envelope_of(live.seq, &live.record),
        }));
        push.next += 1;
        Ok(())
    } else if live.seq > push.next {
        pump(services, session, outbox).await
    } else {
        Ok(())
    }
}

/// Push stored envelopes from `next` while the window allows.
pub(crate) async fn pump(services: &Services, session: &mut Session, outbox: &Outbox) -> Result<(), Closing> {
    let window = services.config.limits.push_window;
    let Some(push) = session.push.as_mut() else {
        return Ok(());
    };
    loop {
        let room = window.saturating_sub(push.next - 1 - push.acked);
        // Page by the bytes left in the push half of the send budget, so a
        // reading client is never pushed past it.
        let page_bytes = outbox.push_room_bytes();
        if room == 0 || page_bytes == 0 {
            return Ok(()); // resumed by an ack or by the outbox draining
        }
        let batch = services
            .mailboxes
            .read(&session.client, push.next - 1, room.min(256) as usize, page_bytes)
            .await
            .map_err(internal)?;
        if batch.is_empty() {
            return Ok(());
        }
        for (seq, record) in batch {
            outbox.send(frame(ServerMessage::Envelope {
                envelope: envelope_of(seq, &record),
            }));
            push.next = seq + 1;
        }
    }
}

/// Push after an answer was already sent: a failure must not become a
/// second answer to the same request; the next wake-up retries.
pub async fn push_after_answer(services: &Services, session: &mut Session, outbox: &Outbox) {
    if pump(services, session, outbox).await.is_err() {
        tracing::error!("reading a mailbox failed");
    }
}
