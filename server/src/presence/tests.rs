//! The registry on its own: no socket, no rooms.

use std::sync::atomic::{AtomicUsize, Ordering};

use parasol_protocol::{ErrorCode, ServerMessage};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::*;

const KEY: ClientId = [7; 32];
const OTHER: ClientId = [8; 32];

fn connection(id: u64, client: ClientId) -> Connection {
    Connection {
        id,
        client,
        staff: None,
    }
}

fn notifier() -> (Notifier, mpsc::Receiver<Box<ServerMessage>>) {
    mpsc::channel(8)
}

fn msg() -> ServerMessage {
    ServerMessage::OfferWithdrawn { ticket_id: 1 }
}

/// Records what it hears; refuses connection `refuse`, if set.
#[derive(Default)]
struct Recorder {
    refuse: Option<u64>,
    arrived: Mutex<Vec<u64>>,
    departed: Mutex<Vec<(u64, bool)>>,
}

impl PresenceListener for Recorder {
    fn connected(&self, c: &Connection) -> ServiceResult<()> {
        self.arrived.lock().push(c.id);
        if self.refuse == Some(c.id) {
            return Err(ServiceError::new(ErrorCode::Forbidden, "refused"));
        }
        Ok(())
    }

    fn disconnected(&self, c: &Connection, was_current: bool) {
        self.departed.lock().push((c.id, was_current));
    }
}

fn with_listener(max: usize, refuse: Option<u64>) -> (Arc<Presence>, Arc<Recorder>) {
    let presence = Presence::new(max);
    let recorder = Arc::new(Recorder {
        refuse,
        ..Default::default()
    });
    let weak: Weak<dyn PresenceListener> = Arc::downgrade(&recorder) as _;
    presence.listen(weak);
    (presence, recorder)
}

#[test]
fn register_makes_the_client_reachable() {
    let (presence, recorder) = with_listener(4, None);
    let (tx, mut rx) = notifier();
    let guard = presence.register(connection(1, KEY), tx).unwrap();
    assert!(presence.is_connected(&KEY));
    assert!(!presence.is_connected(&OTHER));
    assert_eq!(presence.len(), 1);
    assert_eq!(*recorder.arrived.lock(), vec![1]);
    presence.notify(&KEY, msg());
    presence.notify_connection(1, msg());
    presence.notify(&OTHER, msg());
    assert_eq!(*rx.try_recv().unwrap(), msg());
    assert_eq!(*rx.try_recv().unwrap(), msg());
    assert!(rx.try_recv().is_err(), "nothing for another key");
    assert_eq!(guard.connection().id, 1);
}

#[test]
fn guard_drop_unregisters_and_tells_listeners_once() {
    let (presence, recorder) = with_listener(4, None);
    let (tx, mut rx) = notifier();
    let guard = presence.register(connection(1, KEY), tx).unwrap();
    drop(guard);
    assert!(!presence.is_connected(&KEY));
    assert!(presence.is_empty());
    assert_eq!(*recorder.departed.lock(), vec![(1, true)]);
    presence.notify(&KEY, msg());
    presence.notify_connection(1, msg());
    assert!(rx.try_recv().is_err(), "no push after the guard dropped");
}

#[test]
fn a_newer_connection_replaces_the_older() {
    let (presence, recorder) = with_listener(4, None);
    let (old_tx, mut old_rx) = notifier();
    let (new_tx, mut new_rx) = notifier();
    let old = presence.register(connection(1, KEY), old_tx).unwrap();
    let new = presence.register(connection(2, KEY), new_tx).unwrap();
    presence.notify(&KEY, msg());
    assert!(old_rx.try_recv().is_err());
    assert_eq!(*new_rx.try_recv().unwrap(), msg());
    // The older one closing leaves the key connected.
    drop(old);
    assert!(presence.is_connected(&KEY));
    assert_eq!(*recorder.departed.lock(), vec![(1, false)]);
    drop(new);
    assert!(!presence.is_connected(&KEY));
    assert_eq!(*recorder.departed.lock(), vec![(1, false), (2, true)]);
}

#[test]
fn the_current_closing_first_leaves_the_key_gone() {
    let (presence, recorder) = with_listener(4, None);
    let (old_tx, mut old_rx) = notifier();
    let old = presence.register(connection(1, KEY), old_tx).unwrap();
    let new = presence.register(connection(2, KEY), notifier().0).unwrap();
    drop(new);
    // The replaced one is closing: not current again.
    assert!(!presence.is_connected(&KEY));
    presence.notify(&KEY, msg());
    assert!(old_rx.try_recv().is_err());
    drop(old);
    assert_eq!(*recorder.departed.lock(), vec![(2, true), (1, false)]);
}

#[test]
fn a_refusal_undoes_the_registration_and_stops_later_listeners() {
    let (presence, first) = with_listener(4, Some(2));
    let second = Arc::new(Recorder::default());
    let weak: Weak<dyn PresenceListener> = Arc::downgrade(&second) as _;
    presence.listen(weak);
    let kept = presence.register(connection(1, OTHER), notifier().0).unwrap();
    let refused = presence.register(connection(2, KEY), notifier().0);
    assert_eq!(refused.err().map(|e| e.code), Some(ErrorCode::Forbidden));
    assert!(!presence.is_connected(&KEY));
    assert_eq!(presence.len(), 1);
    assert_eq!(*first.arrived.lock(), vec![1, 2]);
    assert_eq!(*second.arrived.lock(), vec![1], "not called after the refusal");
    assert_eq!(*first.departed.lock(), vec![(2, true)]);
    assert_eq!(*second.departed.lock(), vec![(2, true)]);
    drop(kept);
}

#[test]
fn the_registry_is_bounded_by_the_connection_cap() {
    let (presence, recorder) = with_listener(2, None);
    let a = presence.register(connection(1, KEY), notifier().0).unwrap();
    let _b = presence.register(connection(2, OTHER), notifier().0).unwrap();
    let full = presence.register(connection(3, [9; 32]), notifier().0);
    assert_eq!(full.err().map(|e| e.code), Some(ErrorCode::Busy));
    assert_eq!(presence.len(), 2);
    assert_eq!(
        *recorder.arrived.lock(),
        vec![1, 2],
        "a connection over the cap reaches no room"
    );
    drop(a);
    assert!(presence.register(connection(3, [9; 32]), notifier().0).is_ok());
}

#[test]
fn a_connection_id_registers_once() {
    let (presence, recorder) = with_listener(4, None);
    let first = presence.register(connection(1, KEY), notifier().0).unwrap();
    let again = presence.register(connection(1, OTHER), notifier().0);
    assert_eq!(again.err().map(|e| e.code), Some(ErrorCode::Internal));
    assert!(presence.is_connected(&KEY));
    assert!(!presence.is_connected(&OTHER));
    assert_eq!(*recorder.arrived.lock(), vec![1]);
    drop(first);
    assert!(presence.is_empty());
}

#[test]
fn a_dropped_listener_is_skipped() {
    let presence = Presence::new(4);
    let count = Arc::new(AtomicUsize::new(0));
    struct Counter(Arc<AtomicUsize>);
    impl PresenceListener for Counter {
        fn connected(&self, _: &Connection) -> ServiceResult<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn disconnected(&self, _: &Connection, _: bool) {}
    }
    let listener: Arc<dyn PresenceListener> = Arc::new(Counter(count.clone()));
    presence.listen(Arc::downgrade(&listener));
    drop(listener);
    let _guard = presence.register(connection(1, KEY), notifier().0).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 0);
}
