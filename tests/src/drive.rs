//! Driving real clients in tests: wait for a condition, a push or a
//! message, with one deadline, and read a server refusal's code.

use std::time::{Duration, Instant};

use parasol_client::{Client, ClientError, ClientId, ErrorCode, Event, ServerMessage};

/// How long a test waits for anything before it fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// The server's error code of a refused request (panics on success or on
/// a client-side error).
pub fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(e) => e
            .server_code()
            .unwrap_or_else(|| panic!("expected a server error, got {e}")),
        Ok(v) => panic!("expected a server error, got {v:?}"),
    }
}

/// Drive `c` until `cond` holds on it (events and notices stay queued).
pub async fn until(c: &mut Client, what: &str, cond: impl Fn(&Client) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond(c) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        c.poll(left.min(Duration::from_millis(200))).await.expect("poll");
    }
}

/// Drive `c` until an intake push matching `f` arrives (others are
/// skipped).
pub async fn wait_notice<T>(c: &mut Client, what: &str, mut f: impl FnMut(&ServerMessage) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_notice(left).await.expect("notice") {
            Some(n) => {
                if let Some(t) = f(&n) {
                    return t;
                }
            }
            None => panic!("no {what} within {WAIT:?}"),
        }
    }
}

/// Drive `c` until the message `text` arrives in `group`; returns its
/// sender. Other events are skipped.
pub async fn wait_message(c: &mut Client, group: &[u8], text: &str) -> ClientId {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_event(left).await.expect("event") {
            Some(Event::Message {
                group_id,
                sender,
                text: got,
                ..
            }) if group_id == group && got == text => return sender,
            Some(_) => {}
            None => panic!("message {text:?} did not arrive"),
        }
    }
}
