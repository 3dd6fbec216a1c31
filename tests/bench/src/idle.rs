//! Scenario (a): idle anonymous connections. Each one is opened, (for
//! Parasol) authenticated with a fresh anonymous key and subscribed to its
//! mailbox, then left alone. The server's resident memory is read before
//! and after each step; per connection = growth / connections added.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use parasol_client::Identity;
use serde::Serialize;

use crate::machine::rss_kib;
use crate::servers::{Server, Target};
use crate::wire::{self, Ws};

#[derive(Debug, Clone, Serialize)]
pub struct IdleStep {
    pub connections: usize,
    pub rss_kib: u64,
    /// (RSS now − RSS with no connections) / connections.
    pub kib_per_connection: f64,
    pub seconds_to_open: f64,
}

/// Open connections up to each of `steps` in turn and read the memory.
pub async fn run(server: &Server, steps: &[usize], settle: Duration) -> anyhow::Result<Vec<IdleStep>> {
    tokio::time::sleep(settle).await;
    let before = rss_kib(server.pid()).context("server RSS")?;
    let mut open: Vec<Ws> = Vec::new();
    let mut results = Vec::new();
    for &target in steps {
        let started = Instant::now();
        let from = open.len();
        let new: Vec<Ws> = stream::iter(from..target)
            .map(|n| open_one(server, n))
            .buffer_unordered(256)
            .try_collect()
            .await
            .with_context(|| format!("opening idle connections towards {target}"))?;
        open.extend(new);
        let seconds_to_open = started.elapsed().as_secs_f64();
        tokio::time::sleep(settle).await;
        let rss = rss_kib(server.pid()).context("server RSS")?;
        let step = IdleStep {
            connections: open.len(),
            rss_kib: rss,
            kib_per_connection: rss.saturating_sub(before) as f64 / open.len() as f64,
            seconds_to_open,
        };
        println!(
            "  {:>16} {:>6} idle: {:.1} KiB/connection (RSS {} MiB)",
            server.target.name(),
            step.connections,
            step.kib_per_connection,
            rss / 1024
        );
        results.push(step);
    }
    // Closing 50k sockets at once is a storm of its own; the server is
    // stopped right after, so just drop them.
    drop(open);
    Ok(results)
}

async fn open_one(server: &Server, n: usize) -> anyhow::Result<Ws> {
    let source = Some(wire::source_ip(n));
    match server.target {
        Target::Parasol => {
            let identity = Identity::generate();
            Ok(wire::parasol_session(&server.url(0, false), &identity, source, None)
                .await?
                .0)
        }
        _ => wire::connect(&server.url(n as u64, false), source, None).await,
    }
}
