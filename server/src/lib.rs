#![forbid(unsafe_code)]
//! Parasol server: the MLS delivery service (RFC 9750) over WebSocket.
//!
//! Rooms, one job each:
//! - [`net`]: transport: accept, TLS, HTTP routes, a socket's life from
//!   challenge to close, authentication and push flow control;
//! - [`ops`]: the protocol's operations, one file each, with who may call
//!   them;
//! - [`delivery`]: group state (openmls `PublicGroup`), commit validation,
//!   ordering and fan-out;
//! - [`directory`]: the key-package directory;
//! - [`mailbox`]: per-client mailboxes, push and ack;
//! - [`intake`]: the anonymous intake queue, shifts, routing and the
//!   intake's abuse limits;
//! - [`escalation`]: escalation to the crisis line, responders' duty, the
//!   webhook outbox and visitors' SOS;
//! - [`storage`]: sled, and the group-commit writer; [`fatal`]: failures
//!   that stop the server, reported up to `main`;
//! - [`staff`]: staff accounts, logins, sessions and the attestation key;
//! - [`staff_vault`]: the staff consoles' sealed state (identity, groups);
//! - [`audit`]: the content-free log of staff actions;
//! - [`stats`]: anonymous daily statistics; [`metrics`]: Prometheus;
//! - [`admin`]: the admin CLI's commands and its Unix socket;
//! - [`admission`]: source keys, connection caps, proof of work and the
//!   anonymous budgets;
//! - [`config`]: every setting and bound;
//! - `services.rs`: the shared [`Services`], built at start-up and drained
//!   at shutdown; `listeners.rs`: the main and metrics listeners;
//!   `background.rs`: the intake clock and the purge loop.

pub mod admin;
pub mod admission;
pub mod audit;
pub mod circles;
pub mod config;
pub mod delivery;
pub mod directory;
pub mod error;
pub mod escalation;
pub mod fatal;
pub mod intake;
pub mod lifecycle;
pub mod mailbox;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod presence;
pub mod purge_guard;
pub mod staff;
pub mod staff_vault;
pub mod stats;
pub mod storage;
pub mod time;
pub mod validation;

/// The transport's modules, at their old paths too.
pub use net::{accept, http, tls};

mod background;
mod listeners;
mod services;

pub use services::{run, run_with, Services};
