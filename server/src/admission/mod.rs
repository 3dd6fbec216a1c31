//! Who may come in, before any chat exists: salted source keys, rate
//! limits and the proof-of-work puzzle ([`abuse`]), the token buckets
//! they count in ([`buckets`]), and the per-network connection cap and
//! source blocks ([`connections`]).
//!
//! Everything here keys on salted hashes held in memory only; nothing is
//! written to disk or logged.

pub mod abuse;
pub mod buckets;
pub mod connections;

pub use connections::{ConnectionCap, ConnectionSlot, SourceBlocks};
