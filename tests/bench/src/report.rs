//! The results file (JSON) and its Markdown tables.

use std::fmt::Write as _;

use serde::Serialize;

use crate::idle::IdleStep;
use crate::intake::{Flood, Visitors};
use crate::load::Traffic;
use crate::machine::Machine;
use crate::servers::Target;
use crate::slow::SlowConsumers;
use crate::storm::Storm;

#[derive(Debug, Serialize)]
pub struct Results {
    pub date: String,
    pub command: String,
    pub smoke: bool,
    pub machine: Machine,
    pub fd_limit: u64,
    /// Member 1 of a Parasol group joined by its Welcome and decrypted a
    /// message relayed by the server.
    pub mls_verified: bool,
    pub idle: Vec<PerTarget<Vec<IdleStep>>>,
    pub chats: Vec<ChatRun>,
    pub intake_flood: Vec<FloodRun>,
    pub reconnect_storm: Vec<PerTarget<Storm>>,
    pub slow_consumers: Vec<SlowConsumers>,
    pub targets: Vec<TargetCheck>,
}

#[derive(Debug, Serialize)]
pub struct PerTarget<T> {
    pub target: Target,
    pub result: T,
}

/// One traffic measurement of scenario (b) or (c).
#[derive(Debug, Serialize)]
pub struct ChatRun {
    pub scenario: String,
    /// `max` (pipelined, window per sender) or the fixed rate.
    pub pace: String,
    pub target: Target,
    pub traffic: Traffic,
}

#[derive(Debug, Serialize)]
pub struct FloodRun {
    pub target: Target,
    pub flooded: bool,
    pub chat: Traffic,
    pub flood: Option<Flood>,
    pub visitors: Option<Visitors>,
}

/// A target of the issue, met or not.
#[derive(Debug, Serialize)]
pub struct TargetCheck {
    pub name: String,
    pub measured: String,
    pub met: bool,
}

/// One number of a traffic run, for a table row.
type Measure = fn(&Traffic) -> f64;

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

impl Results {
    pub fn chat(&self, scenario: &str, pace: &str, target: Target) -> Option<&Traffic> {
        self.chats
            .iter()
            .find(|c| c.scenario == scenario && c.pace == pace && c.target == target)
            .map(|c| &c.traffic)
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(
            md,
            "Run of {} — `{}`\n\nMachine: {} CPUs ({}), {} MiB RAM, Linux {}; open-file limit {}. Load generator, baseline and Parasol share the machine.{}\n",
            self.date,
            self.command,
            m.cpus,
            m.cpu_model,
            m.memory_mib,
            m.kernel,
            self.fd_limit,
            if self.smoke { " **Smoke run: the numbers mean nothing.**" } else { "" }
        );
        let _ = writeln!(
            md,
            "MLS verified end to end (a member joined by Welcome and decrypted a relayed message): {}\n",
            self.mls_verified
        );

        md.push_str("### (a) Idle connections: server memory per connection (KiB)\n\n");
        md.push_str("| connections | baseline-memory | baseline-sled | parasol | parasol / baseline-memory |\n|---:|---:|---:|---:|---:|\n");
        let steps = self.idle.first().map_or(0, |r| r.result.len());
        for i in 0..steps {
            let get = |t: Target| {
                self.idle
                    .iter()
                    .find(|r| r.target == t)
                    .and_then(|r| r.result.get(i))
                    .map(|s| (s.connections, s.kib_per_connection))
            };
            let (n, bm) = get(Target::BaselineMemory).unwrap_or((0, 0.0));
            let bs = get(Target::BaselineSled).map_or(0.0, |s| s.1);
            let p = get(Target::Parasol).map_or(0.0, |s| s.1);
            let n = get(Target::Parasol).map_or(n, |s| s.0);
            let _ = writeln!(md, "| {n} | {bm:.1} | {bs:.1} | {p:.1} | {} |", ratio(p, bm));
        }

        md.push_str("\n### (b) 1:1 chats and (c) groups: throughput and latency\n\n");
        md.push_str("Throughput: messages acknowledged per second (after the flush for sled and Parasol); deliveries: envelopes received per second. Latency: send → deliver.\n\n");
        md.push_str("| scenario | pace | measure | baseline-memory | baseline-sled | parasol | parasol / baseline-sled |\n|---|---|---|---:|---:|---:|---:|\n");
        let mut seen: Vec<(String, String)> = Vec::new();
        for c in &self.chats {
            let key = (c.scenario.clone(), c.pace.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            let (s, p) = (&key.0, &key.1);
            let rows: [(&str, Measure); 5] = [
                ("msgs/s", |t| t.accepted_per_sec),
                ("deliveries/s", |t| t.delivered_per_sec),
                ("p50 ms", |t| t.latency.p50_ms),
                ("p99 ms", |t| t.latency.p99_ms),
                ("max ms", |t| t.latency.max_ms),
            ];
            for (name, f) in rows {
                let v = |t: Target| self.chat(s, p, t).map_or(0.0, f);
                let (bm, bs, pa) = (v(Target::BaselineMemory), v(Target::BaselineSled), v(Target::Parasol));
                let _ = writeln!(
                    md,
                    "| {s} | {p} | {name} | {bm:.1} | {bs:.1} | {pa:.1} | {} |",
                    ratio(pa, bs)
                );
            }
            let missing: u64 = Target::ALL
                .iter()
                .filter_map(|t| self.chat(s, p, *t))
                .map(|t| t.missing_deliveries + t.errors)
                .sum();
            if missing > 0 {
                let _ = writeln!(md, "| {s} | {p} | missing deliveries + errors | | | {missing} | |");
            }
        }

        md.push_str("\n### (d) Floods during the 1:1 chat load\n\n");
        md.push_str("Visitor latency: connect to ticket. Ratios: to the same server's arm without a flood (many_keys: to the first server's, its own server has small anonymous pools).\n\n");
        md.push_str("| target | flood | chat msgs/s | chat p99 ms | visitors served / tried | visitor p50 ms | visitor p99 ms | p99 / no flood | visitor max ms | solved PoW | flood frames | flood carried out | flood refused, by code | flood keys | flood connections refused |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n");
        let quiet_p99 = self
            .intake_flood
            .iter()
            .find(|r| r.target == Target::Parasol && !r.flooded)
            .and_then(|r| r.visitors.as_ref())
            .map_or(0.0, |v| v.latency.p99_ms);
        for r in &self.intake_flood {
            let v = r.visitors.clone().unwrap_or_default();
            let f = r.flood.clone().unwrap_or_default();
            let _ =
                writeln!(
                md,
                "| {} | {} | {:.0} | {:.2} | {} / {} | {:.1} | {:.1} | {} | {:.1} | {} | {} | {} | {} | {} | {} / {} |",
                r.target.name(),
                if r.flooded { f.kind.as_str() } else { "none" },
                r.chat.accepted_per_sec,
                r.chat.latency.p99_ms,
                v.served,
                v.tried,
                v.latency.p50_ms,
                v.latency.p99_ms,
                if r.visitors.is_some() { ratio(v.latency.p99_ms, quiet_p99) } else { String::new() },
                v.latency.max_ms,
                v.solved_pow,
                f.frames_sent,
                f.accepted,
                if f.refused_by_code.is_empty() { "–".into() } else { f.codes() },
                f.keys_used,
                f.connections_refused,
                f.connections_tried
            );
        }

        md.push_str("\n### (e) Reconnect storm\n\n| target | clients | backlog each | drained | failed | seconds to drain all | per client p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.reconnect_storm {
            let s = &r.result;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {:.2} | {:.1} | {:.1} | {:.1} |",
                r.target.name(),
                s.clients,
                s.backlog_per_client,
                s.drained,
                s.failed,
                s.seconds,
                s.per_client.p50_ms,
                s.per_client.p99_ms,
                s.per_client.max_ms
            );
        }

        if let Some(s) = self.slow_consumers.first() {
            md.push_str("\n### (f) Slow consumers among idle connections (Parasol)\n\n");
            let _ = writeln!(
                md,
                "{} connections: {} consumers (members of {} busy groups, subscribed, with a 4 KiB receive buffer), {} senders, the rest idle. Each group sends {} messages of about {} bytes; `write_stall_secs` = {}, `max_send_queue_bytes` = {} KiB. The control arm's consumers read and acknowledge; the other arm's never read.\n",
                s.connections,
                s.slow,
                s.busy_groups,
                s.busy_groups,
                s.messages_per_group,
                s.envelope_bytes,
                s.write_stall_secs,
                s.max_send_queue_bytes / 1024
            );
            md.push_str("| consumers | RSS empty MiB | RSS connected MiB | KiB per connection | RSS peak MiB | peak growth KiB per consumer | RSS after MiB | closed (4002) | first close s | last close s | traffic s | open / expected |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for s in &self.slow_consumers {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {:.1} | {} | {:.1} | {} | {} / {} | {:.1} | {:.1} | {:.1} | {} / {} |",
                    if s.reading { "reading" } else { "never reading" },
                    s.rss_empty_kib / 1024,
                    s.rss_connected_kib / 1024,
                    s.kib_per_connection,
                    s.rss_peak_kib / 1024,
                    s.peak_kib_per_slow_consumer,
                    s.rss_after_kib / 1024,
                    s.slow_closed,
                    s.slow,
                    s.first_close_secs,
                    s.last_close_secs,
                    s.traffic_secs,
                    s.open_at_end,
                    s.expected_open_at_end
                );
            }
        }

        md.push_str("\n### Targets\n\n| target | measured | met |\n|---|---|---|\n");
        for t in &self.targets {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                t.name,
                t.measured,
                if t.met { "yes" } else { "**no**" }
            );
        }
        md
    }
}
