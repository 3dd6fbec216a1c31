//! Transport: everything between a socket and an operation, and nothing of
//! what an operation does (that is `ops/`).
//!
//! - [`accept`]: a thread that only accepts, so a reconnect storm does not
//!   overflow the kernel's queue;
//! - [`tls`]: HTTPS/WSS and certificate reload;
//! - [`http`]: the routes, the WebSocket upgrade and its admission;
//! - [`socket`]: one connection's life, from challenge to close;
//! - [`auth`]: the first request, proving a key (and a staff session);
//! - [`outbox`]: the bounded queue to the socket, and the frames in it.
//!
//! Pushing envelopes within the client's window is the queueing service's
//! (`crate::mailbox::push`).

pub mod accept;
mod auth;
pub mod http;
pub mod outbox;
pub mod socket;
pub mod tls;
