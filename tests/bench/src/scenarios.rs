//! The run: every scenario against baseline-memory, baseline-sled and
//! parasol-server back to back, each on a fresh server process, then the
//! results file, the Markdown tables and the target checks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::groups::{self, GroupPlan};
use crate::load::{self, Pace, Traffic};
use crate::machine::{raise_fd_limit, Machine};
use crate::report::{ChatRun, FloodRun, PerTarget, Results, TargetCheck};
use crate::servers::{budget_flood_config, parasol_binary, Server, Target, ABUSE_LIMITS_CONFIG, UNLIMITED_CONFIG};
use crate::{idle, intake, slow, storm};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// A few seconds with a few clients: checks that everything works
    /// (messages delivered, results written), not the numbers.
    #[arg(long)]
    smoke: bool,
    /// parasol-server binary; default: build it with cargo in this
    /// binary's profile.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Results file (JSON); the Markdown tables go beside it (`.md`).
    /// Default: tests/bench/results/latest.json, or under target/ for
    /// --smoke (so a smoke run never overwrites committed results).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only these scenarios (letters a–f, e.g. `--only b,c`), for
    /// looking at one thing; the report covers what ran.
    #[arg(long, value_delimiter = ',')]
    only: Vec<char>,
    /// Run only against these servers (baseline-memory, baseline-sled,
    /// parasol), e.g. `--targets parasol`.
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
}

impl Options {
    fn runs(&self, scenario: char) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }

    fn aims(&self, target: Target) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|t| t == target.name())
    }
}

/// Sizes of one run.
struct Plan {
    idle_steps: Vec<usize>,
    /// Clients in the 1:1 chat scenarios (C).
    chat_clients: usize,
    fanout_clients: usize,
    seconds: u64,
    window: u64,
    /// Fixed rate of (b) and (d), messages per second.
    rate: f64,
    /// Deliveries per second for the fixed-rate run of (c).
    fanout_delivery_rate: f64,
    pool: usize,
    visitors: usize,
    flood_connections: usize,
    /// (d): connections of the key-package flood; the many-key flood's
    /// connections at a time, the throwaway keys made for it, and the
    /// groups its anonymous pool has room for beside the chats.
    key_package_flood_connections: usize,
    many_key_workers: usize,
    throwaway_keys: usize,
    budget_flood_room: usize,
    storm_clients: usize,
    storm_backlog: usize,
    /// Wait before reading the server's memory, so it has settled.
    settle: Duration,
    /// (f): connections in all, slow consumers among them, messages each
    /// busy group sends, and the write-stall deadline.
    slow_connections: usize,
    slow_consumers: usize,
    slow_messages: usize,
    write_stall_secs: u64,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            idle_steps: vec![1_000, 10_000, 50_000],
            chat_clients: 1_000,
            fanout_clients: 1_000,
            seconds: 8,
            window: 32,
            rate: 5_000.0,
            fanout_delivery_rate: 5_000.0,
            pool: 64,
            visitors: 100,
            flood_connections: 40,
            key_package_flood_connections: 20,
            many_key_workers: 16,
            throwaway_keys: 400,
            budget_flood_room: 60,
            storm_clients: 10_000,
            storm_backlog: 20,
            settle: Duration::from_millis(1500),
            slow_connections: 10_000,
            slow_consumers: 1_000,
            slow_messages: 300,
            write_stall_secs: 30,
        }
    }

    fn smoke() -> Plan {
        Plan {
            idle_steps: vec![20, 100],
            chat_clients: 20,
            fanout_clients: 50,
            seconds: 1,
            window: 8,
            // 10 senders at 10 msg/s: within the default 20 frames/s of
            // an anonymous connection, which (d) keeps on.
            rate: 100.0,
            fanout_delivery_rate: 500.0,
            pool: 8,
            visitors: 5,
            flood_connections: 5,
            key_package_flood_connections: 4,
            many_key_workers: 4,
            throwaway_keys: 24,
            budget_flood_room: 8,
            storm_clients: 50,
            storm_backlog: 20,
            settle: Duration::from_millis(200),
            slow_connections: 100,
            slow_consumers: 10,
            slow_messages: 300,
            write_stall_secs: 2,
        }
    }
}

pub async fn all(options: Options) -> anyhow::Result<()> {
    let plan = if options.smoke { Plan::smoke() } else { Plan::full() };
    let fd_limit = raise_fd_limit(400_000);
    let parasol_bin = parasol_binary(options.server_bin.clone())?;
    let out = options.out.clone().unwrap_or_else(|| default_out(options.smoke));
    let command = std::iter::once("parasol-bench".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "parasol-bench: server {} , open-file limit {fd_limit}",
        parasol_bin.display()
    );
    let mut results = Results {
        date: utc_now(),
        command,
        smoke: options.smoke,
        machine: Machine::describe(),
        fd_limit,
        mls_verified: false,
        idle: Vec::new(),
        chats: Vec::new(),
        intake_flood: Vec::new(),
        reconnect_storm: Vec::new(),
        slow_consumers: Vec::new(),
        targets: Vec::new(),
    };
    let secs = Duration::from_secs(plan.seconds);

    // (a) idle connections.
    let max_idle = plan.idle_steps.iter().copied().max().unwrap_or(0);
    let idle_steps = feasible_idle_steps(&plan.idle_steps, fd_limit);
    println!("(a) idle connections {idle_steps:?}");
    for target in Target::ALL
        .into_iter()
        .filter(|t| options.runs('a') && options.aims(*t))
    {
        let server = Server::start(target, &parasol_bin, UNLIMITED_CONFIG)?;
        let steps = idle::run(&server, &idle_steps, plan.settle).await?;
        results.idle.push(PerTarget { target, result: steps });
    }

    // (b) 1:1 chats.
    println!("(b) 1:1 chats, C={}", plan.chat_clients);
    let mut pairs = if options.runs('b') || options.runs('d') {
        plan_groups(plan.chat_clients / 2, 2, plan.pool).await?
    } else {
        Vec::new()
    };
    let rate_label = format!("{} msg/s", plan.rate);
    for target in Target::ALL
        .into_iter()
        .filter(|t| options.runs('b') && options.aims(*t))
    {
        let server = Server::start(target, &parasol_bin, UNLIMITED_CONFIG)?;
        if target == Target::Parasol {
            register(&server, &pairs).await?;
            let first = Arc::get_mut(&mut pairs[0]).context("plans are not shared between runs")?;
            groups::verify_end_to_end(&server.url(0, false), first).await?;
            results.mls_verified = true;
        }
        let max = chat(&server, &pairs, Pace::Max { window: plan.window }, secs).await?;
        results.chats.push(run("b: 1:1 chats", "max", target, max));
        let fixed = chat(
            &server,
            &pairs,
            Pace::Rate {
                total_per_sec: plan.rate,
            },
            secs,
        )
        .await?;
        results.chats.push(run("b: 1:1 chats", &rate_label, target, fixed));
    }

    // (c) groups of 8 and of 50.
    for size in [8usize, 50].into_iter().filter(|_| options.runs('c')) {
        println!("(c) groups of {size}");
        let plans = plan_groups((plan.fanout_clients / size).max(1), size, plan.pool).await?;
        let scenario = format!("c: groups of {size}");
        let msg_rate = plan.fanout_delivery_rate / (size - 1) as f64;
        let rate_label = format!("{:.0} msg/s", msg_rate);
        for target in Target::ALL.into_iter().filter(|t| options.aims(*t)) {
            let server = Server::start(target, &parasol_bin, UNLIMITED_CONFIG)?;
            if target == Target::Parasol {
                register(&server, &plans).await?;
            }
            let max = chat(&server, &plans, Pace::Max { window: plan.window }, secs).await?;
            results.chats.push(run(&scenario, "max", target, max));
            let fixed = chat(
                &server,
                &plans,
                Pace::Rate {
                    total_per_sec: msg_rate,
                },
                secs,
            )
            .await?;
            results.chats.push(run(&scenario, &rate_label, target, fixed));
        }
    }

    // (d) floods during (b)'s fixed-rate load, abuse limits on: the
    // request_chat flood (baseline-sled too: it has no limits to show),
    // then, on Parasol, the key-package flood and, on a server with small
    // anonymous pools, the many-key budget flood. Real visitors ask for a
    // chat throughout; the unflooded arm is their baseline.
    println!("(d) floods during 1:1 chats at {rate_label}");
    let pace = Pace::Rate {
        total_per_sec: plan.rate,
    };
    for target in [Target::BaselineSled, Target::Parasol]
        .into_iter()
        .filter(|t| options.runs('d') && options.aims(*t))
    {
        let server = Server::start(target, &parasol_bin, ABUSE_LIMITS_CONFIG)?;
        if target == Target::Parasol {
            register(&server, &pairs).await?;
        }
        let kinds: &[Option<FloodKind>] = if target == Target::Parasol {
            &[None, Some(FloodKind::RequestChat), Some(FloodKind::KeyPackages)]
        } else {
            &[Some(FloodKind::RequestChat)]
        };
        for (arm, kind) in kinds.iter().enumerate() {
            let flood = async {
                match kind {
                    None => Ok(None),
                    Some(FloodKind::RequestChat) => {
                        intake::flood(&server, plan.flood_connections, secs).await.map(Some)
                    }
                    Some(_) => intake::key_package_flood(&server, plan.key_package_flood_connections, secs)
                        .await
                        .map(Some),
                }
            };
            let run = flood_arm(&server, &pairs, pace, secs, plan.visitors, arm as u32, flood).await?;
            print_flood_arm(&run);
            results.intake_flood.push(run);
        }
        if target == Target::Parasol {
            drop(server);
            let config = budget_flood_config(pairs.len(), plan.budget_flood_room);
            let server = Server::start(target, &parasol_bin, &config)?;
            register(&server, &pairs).await?;
            let keys = intake::throwaway_keys(plan.throwaway_keys).await?;
            let flood = async {
                intake::many_key_flood(&server, plan.many_key_workers, keys, secs)
                    .await
                    .map(Some)
            };
            let run = flood_arm(&server, &pairs, pace, secs, plan.visitors, kinds.len() as u32, flood).await?;
            print_flood_arm(&run);
            results.intake_flood.push(run);
        }
    }
    drop(pairs);

    // (e) reconnect storm.
    if options.runs('e') {
        println!(
            "(e) reconnect storm: {} clients, {} envelopes each",
            plan.storm_clients, plan.storm_backlog
        );
        let groups_needed = plan.storm_clients.div_ceil(storm::RECEIVERS_PER_GROUP);
        let storm_plans = plan_groups(groups_needed, storm::RECEIVERS_PER_GROUP + 1, plan.storm_backlog).await?;
        for target in [Target::BaselineSled, Target::Parasol] {
            let server = Server::start(target, &parasol_bin, UNLIMITED_CONFIG)?;
            if target == Target::Parasol {
                register(&server, &storm_plans).await?;
            }
            storm::fill(&server, &storm_plans).await?;
            let result = storm::run(&server, &storm_plans).await?;
            println!(
                "  {:>16}: {}/{} drained in {:.2} s",
                target.name(),
                result.drained,
                result.clients,
                result.seconds
            );
            results.reconnect_storm.push(PerTarget { target, result });
        }
    }

    // (f) slow consumers among many connections (Parasol only: the
    // baseline has no send-queue bound to measure).
    if options.runs('f') && options.aims(Target::Parasol) {
        // Both processes hold one descriptor per connection.
        let connections = plan.slow_connections.min((fd_limit as usize).saturating_sub(2_000));
        println!(
            "(f) slow consumers: {} of {connections} connections",
            plan.slow_consumers
        );
        // The control arm first: the same clients and traffic, read.
        for reading in [true, false] {
            let sizes = slow::Sizes {
                reading,
                connections,
                slow: plan.slow_consumers,
                messages_per_group: plan.slow_messages,
                write_stall_secs: plan.write_stall_secs,
                settle: plan.settle,
            };
            results.slow_consumers.push(slow::run(&parasol_bin, &sizes).await?);
        }
    }

    results.targets = check_targets(&results, max_idle);
    write(&results, &out)?;
    println!("\n{}", results.markdown());
    println!("results: {}", out.display());
    if options.smoke {
        smoke_checks(&results)?;
        println!("smoke: every scenario ran and delivered everything");
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum FloodKind {
    RequestChat,
    KeyPackages,
}

/// One arm of (d): the chat load, real visitors (Parasol only) and `flood`
/// at once. `arm` keeps each arm's visitors on addresses of their own.
async fn flood_arm(
    server: &Server,
    pairs: &[Arc<GroupPlan>],
    pace: Pace,
    secs: Duration,
    visitors: usize,
    arm: u32,
    flood: impl std::future::Future<Output = anyhow::Result<Option<intake::Flood>>>,
) -> anyhow::Result<FloodRun> {
    let target = server.target;
    let visitors = async {
        if target == Target::Parasol {
            Some(intake::visitors(server, visitors, secs, arm << 16).await).transpose()
        } else {
            Ok(None)
        }
    };
    let (chat, visitors, flood) = tokio::join!(chat(server, pairs, pace, secs), visitors, flood);
    let flood = flood?;
    Ok(FloodRun {
        target,
        flooded: flood.is_some(),
        chat: chat?,
        flood,
        visitors: visitors?,
    })
}

fn print_flood_arm(r: &FloodRun) {
    let v = r.visitors.clone().unwrap_or_default();
    let f = r.flood.clone().unwrap_or_default();
    println!(
        "  {:>16} flood {}: chat p99 {:.2} ms; visitors {}/{} p50 {:.1} ms p99 {:.1} ms; flood {} frames, {} carried out, refused: {}",
        r.target.name(),
        if r.flooded { f.kind.as_str() } else { "none" },
        r.chat.latency.p99_ms,
        v.served,
        v.tried,
        v.latency.p50_ms,
        v.latency.p99_ms,
        f.frames_sent,
        f.accepted,
        if f.refused_by_code.is_empty() { "none".into() } else { f.codes() }
    );
}

/// Each process (generator and server) holds one descriptor per
/// connection. Where the open-file limit cannot be raised far enough (no
/// CAP_SYS_RESOURCE), the largest step is replaced by the most it allows.
fn feasible_idle_steps(wanted: &[usize], fd_limit: u64) -> Vec<usize> {
    let room = (fd_limit as usize).saturating_sub(1_000) / 1_000 * 1_000;
    let mut steps: Vec<usize> = wanted.iter().copied().filter(|n| *n <= room).collect();
    if steps.len() < wanted.len() && room > steps.last().copied().unwrap_or(0) {
        eprintln!("  open-file limit {fd_limit}: scenario (a) stops at {room} connections");
        steps.push(room);
    }
    steps
}

fn run(scenario: &str, pace: &str, target: Target, traffic: Traffic) -> ChatRun {
    println!(
        "  {:>16} {scenario} {pace}: {:.0} msgs/s, {:.0} deliveries/s, p50 {:.2} ms p99 {:.2} ms max {:.2} ms{}",
        target.name(),
        traffic.accepted_per_sec,
        traffic.delivered_per_sec,
        traffic.latency.p50_ms,
        traffic.latency.p99_ms,
        traffic.latency.max_ms,
        if traffic.missing_deliveries + traffic.errors > 0 {
            format!(" ({} missing, {} errors)", traffic.missing_deliveries, traffic.errors)
        } else {
            String::new()
        }
    );
    ChatRun {
        scenario: scenario.into(),
        pace: pace.into(),
        target,
        traffic,
    }
}

async fn plan_groups(count: usize, size: usize, pool: usize) -> anyhow::Result<Vec<Arc<GroupPlan>>> {
    let started = std::time::Instant::now();
    let plans = tokio::task::spawn_blocking(move || groups::plan(count, size, pool)).await??;
    println!(
        "  MLS set-up: {count} groups of {size}, {pool} messages each, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(plans.into_iter().map(Arc::new).collect())
}

async fn register(server: &Server, plans: &[Arc<GroupPlan>]) -> anyhow::Result<()> {
    groups::register(&server.url(0, false), plans, 32).await
}

async fn chat(server: &Server, plans: &[Arc<GroupPlan>], pace: Pace, duration: Duration) -> anyhow::Result<Traffic> {
    load::run(server, plans, pace, duration).await
}

fn check_targets(r: &Results, max_idle: usize) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    for (scenario, g) in [("b: 1:1 chats", 2), ("c: groups of 8", 8)] {
        let get = |t| r.chat(scenario, "max", t).map_or(0.0, |x: &Traffic| x.accepted_per_sec);
        let (p, b) = (get(Target::Parasol), get(Target::BaselineSled));
        let ratio = if b > 0.0 { p / b } else { 0.0 };
        checks.push(TargetCheck {
            name: format!("durable throughput G={g} ≥ 80% of baseline-sled"),
            measured: format!("{p:.0} vs {b:.0} msgs/s = {:.0}%", ratio * 100.0),
            met: ratio >= 0.8,
        });
    }
    let rate_run = r
        .chats
        .iter()
        .find(|c| c.scenario == "b: 1:1 chats" && c.pace != "max" && c.target == Target::Parasol);
    if let Some(c) = rate_run {
        // Parasol's default group commit delay is 0: a round's flush is
        // the whole interval, so the bound is flush time + 3 ms.
        let flush_ms = r
            .chats
            .iter()
            .find(|x| x.scenario == c.scenario && x.pace == c.pace && x.target == Target::BaselineSled)
            .map_or(0.0, |x| x.traffic.latency.p50_ms);
        let bound = flush_ms + 3.0;
        checks.push(TargetCheck {
            name: format!("p99 ≤ flush interval + 3 ms at {}", c.pace),
            measured: format!(
                "p99 {:.2} ms; bound {:.2} ms (flush interval taken as baseline-sled's p50 {:.2} ms, group commit delay 0)",
                c.traffic.latency.p99_ms, bound, flush_ms
            ),
            met: c.traffic.latency.p99_ms <= bound,
        });
    }
    if let Some(steps) = r.idle.iter().find(|x| x.target == Target::Parasol) {
        let last = steps.result.last();
        let per = last.map_or(f64::MAX, |s| s.kib_per_connection);
        let held = last.map_or(0, |s| s.connections);
        checks.push(TargetCheck {
            name: "≤ 12 KiB per idle connection".into(),
            measured: format!("{per:.1} KiB at {held} connections"),
            met: per <= 12.0,
        });
        checks.push(TargetCheck {
            name: format!("{max_idle} idle connections held"),
            measured: format!("{held} held"),
            met: held >= max_idle && max_idle >= 50_000,
        });
    }
    let reading = r.slow_consumers.iter().find(|s| s.reading);
    if let Some(s) = r.slow_consumers.iter().find(|s| !s.reading) {
        checks.push(TargetCheck {
            name: format!(
                "{} slow consumers of {} connections closed, the others kept",
                s.slow, s.connections
            ),
            measured: format!(
                "{} closed in {:.1}–{:.1} s; {} of {} others open",
                s.slow_closed, s.first_close_secs, s.last_close_secs, s.open_at_end, s.expected_open_at_end
            ),
            met: s.slow_closed as usize == s.slow && s.open_at_end == s.expected_open_at_end,
        });
        if let Some(c) = reading {
            let extra = slow::extra_kib_per_slow_consumer(c, s);
            checks.push(TargetCheck {
                name: "memory bounded with slow consumers".into(),
                measured: format!(
                    "peak {} MiB not reading vs {} MiB reading: {:.0} KiB more per slow consumer (send queue bound {} KiB)",
                    s.rss_peak_kib / 1024,
                    c.rss_peak_kib / 1024,
                    extra,
                    s.max_send_queue_bytes / 1024
                ),
                met: extra <= (s.max_send_queue_bytes / 1024) as f64,
            });
        }
    }
    if let Some(s) = r.reconnect_storm.iter().find(|x| x.target == Target::Parasol) {
        checks.push(TargetCheck {
            name: "reconnect storm drained in ≤ 10 s".into(),
            measured: format!(
                "{}/{} clients, {} envelopes each, in {:.2} s",
                s.result.drained, s.result.clients, s.result.backlog_per_client, s.result.seconds
            ),
            met: s.result.failed == 0 && s.result.seconds <= 10.0,
        });
    }
    checks
}

/// What the smoke run must show: it works end to end.
fn smoke_checks(r: &Results) -> anyhow::Result<()> {
    if !r.chats.is_empty() && !r.mls_verified {
        bail!("MLS was not verified end to end");
    }
    for c in &r.chats {
        let t = &c.traffic;
        if t.delivered == 0 || t.missing_deliveries > 0 || t.errors > 0 {
            bail!(
                "{} {} on {}: delivered {}, missing {}, errors {}",
                c.scenario,
                c.pace,
                c.target.name(),
                t.delivered,
                t.missing_deliveries,
                t.errors
            );
        }
    }
    for f in &r.intake_flood {
        if f.chat.delivered == 0 || f.chat.missing_deliveries > 0 {
            bail!("(d) chat traffic on {} was not delivered", f.target.name());
        }
        if let Some(flood) = &f.flood {
            if f.target == Target::Parasol && flood.accepted + flood.refusals == 0 {
                bail!("(d) the {} flood got no answer", flood.kind);
            }
        }
        if let Some(v) = &f.visitors {
            if v.served == 0 {
                bail!("(d) no visitor was served");
            }
        }
    }
    let parasol_floods: Vec<&str> = r
        .intake_flood
        .iter()
        .filter(|f| f.target == Target::Parasol)
        .filter_map(|f| f.flood.as_ref().map(|x| x.kind.as_str()))
        .collect();
    if !parasol_floods.is_empty() {
        for kind in ["request_chat", "key_packages", "many_keys"] {
            if !parasol_floods.contains(&kind) {
                bail!("(d) the {kind} flood did not run");
            }
        }
        let many = r
            .intake_flood
            .iter()
            .filter_map(|f| f.flood.as_ref())
            .find(|f| f.kind == "many_keys")
            .expect("checked above");
        if !many.refused_by_code.contains_key("limit_exceeded") {
            bail!(
                "(d) the many-key flood never met a full anonymous pool: {}",
                many.codes()
            );
        }
    }
    for s in &r.reconnect_storm {
        if s.result.failed > 0 || s.result.drained != s.result.clients {
            bail!("(e) storm on {}: {} failed", s.target.name(), s.result.failed);
        }
    }
    for s in &r.slow_consumers {
        let closed_as_expected = if s.reading {
            s.slow_closed == 0 && s.received == (s.slow * s.messages_per_group) as u64
        } else {
            s.slow_closed as usize == s.slow
        };
        if !closed_as_expected || s.open_at_end != s.expected_open_at_end || s.refused > 0 {
            bail!(
                "(f) {} of {} slow consumers closed, {} open of {} expected, {} sends refused",
                s.slow_closed,
                s.slow,
                s.open_at_end,
                s.expected_open_at_end,
                s.refused
            );
        }
    }
    for i in &r.idle {
        if i.result.is_empty() {
            bail!("(a) no idle connections on {}", i.target.name());
        }
    }
    Ok(())
}

fn default_out(smoke: bool) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if smoke {
        root.join("../../target/bench-smoke/latest.json")
    } else {
        root.join("results/latest.json")
    }
}

fn write(results: &Results, out: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_string_pretty(results)? + "\n")?;
    std::fs::write(out.with_extension("md"), results.markdown())?;
    Ok(())
}

/// Now, as `YYYY-MM-DD HH:MM UTC` (no date crate needed for one line).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs % 86_400 / 3600,
        secs % 3600 / 60
    )
}
