//! Power cuts: the real server runs under a write-cache simulator
//! (`tests/powercut/shim.c`, preloaded) that keeps, beside the server's
//! files, a durable image holding only what was fsynced. At a random
//! moment under load the server is killed and a fresh server starts on a
//! copy of the image: the state a power cut at that moment would have
//! left on a disk that honours fsync. Every envelope acknowledged before
//! the cut must then reach every other member of its group, once and in
//! order.
//!
//! The control run makes `fdatasync` count for nothing (the server before
//! it synced its log: sled itself never calls `fdatasync`) and shows the
//! same harness does lose acknowledged envelopes; so the main test could
//! fail.
//!
//! `PARASOL_POWER_CUTS` sets the number of cuts (default 100),
//! `PARASOL_POWER_CUT_SEED` replays a run's moments, and
//! `PARASOL_POWER_CUT_NAMES=strict` commits renames and unlinks only on an
//! fsync of their directory (see tests/powercut/README.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use parasol_client::{Client, ClientError, ClientId, Event};
use parasol_tests::{server_binary, ServerProcess};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WAIT: Duration = Duration::from_secs(30);

/// Compile the simulator once per test process.
fn shim() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("powercut/shim.c");
            let out = std::env::temp_dir().join(format!("parasol-powercut-{}.so", std::process::id()));
            let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
                .args(["-shared", "-fPIC", "-O2", "-Wall", "-Wno-format-truncation", "-o"])
                .arg(&out)
                .arg(&source)
                .args(["-ldl", "-lpthread"])
                .status()
                .expect("running cc");
            assert!(status.success(), "compiling {} failed", source.display());
            out
        })
        .clone()
}

/// The server under the simulator, and its durable image.
struct PoweredServer {
    server: ServerProcess,
    root: PathBuf,
    image: tempfile::TempDir,
}

impl PoweredServer {
    fn start() -> PoweredServer {
        let root = tempfile::tempdir().expect("temp dir");
        let image = tempfile::tempdir().expect("temp dir");
        let root_path = root.path().to_path_buf();
        let names = std::env::var("PARASOL_POWER_CUT_NAMES").unwrap_or_else(|_| "journal".into());
        let env = vec![
            ("LD_PRELOAD".to_string(), shim().display().to_string()),
            ("PC_ROOT".to_string(), root_path.display().to_string()),
            ("PC_IMAGE".to_string(), image.path().display().to_string()),
            ("PC_NAMES".to_string(), names),
        ];
        let server = ServerProcess::start_in(root, server_binary(), "", env);
        PoweredServer {
            server,
            root: root_path,
            image,
        }
    }

    /// Cut the power: kill the server, then put back what the disk holds.
    fn cut(&mut self) {
        self.server.kill();
        for name in ["data", "data.keys"] {
            let live = self.root.join(name);
            if live.is_dir() {
                std::fs::remove_dir_all(&live).expect("removing the live data");
            } else if live.exists() {
                std::fs::remove_file(&live).expect("removing the live key file");
            }
            let durable = self.image.path().join(name);
            if durable.exists() {
                copy_tree(&durable, &live);
            }
        }
    }

    fn power_on(&mut self) {
        self.server.start_again();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("creating a folder");
        for entry in std::fs::read_dir(from).expect("reading the image") {
            let entry = entry.expect("image entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copying from the image");
    }
}

/// One sender and receiver.
struct Member {
    name: String,
    client: Client,
    group: Vec<u8>,
    /// Commit a self-update every this many sends (0: never).
    commit_every: u32,
    /// Texts received, with how often.
    seen: HashMap<String, u32>,
    /// The last (cut, n) received from each sender: arrivals must rise.
    last_from: HashMap<String, (u32, u32)>,
}

async fn connect(server: &ServerProcess) -> Client {
    let mut c = Client::connect_ephemeral(&server.url()).await.expect("connect");
    c.publish_key_packages(5).await.expect("publish key packages");
    c
}

async fn group_of(clients: &mut [Client]) -> Vec<u8> {
    let (creator, others) = clients.split_first_mut().expect("a creator");
    let group = creator.create_group().await.expect("create group");
    let ids: Vec<ClientId> = others.iter().map(Client::client_id).collect();
    creator.add_members(&group, &ids).await.expect("add members");
    for c in others.iter_mut() {
        let deadline = Instant::now() + WAIT;
        while !c.groups().contains(&group) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(c.next_event(left).await.expect("event").is_some(), "no Welcome arrived");
        }
    }
    group
}

/// A group of three (one commits now and then) and a 1:1 chat; `gen`
/// keeps the names of a rebuilt set apart.
async fn new_members(server: &ServerProcess, gen: u32) -> Vec<Member> {
    let mut trio = vec![connect(server).await, connect(server).await, connect(server).await];
    let trio_group = group_of(&mut trio).await;
    let mut pair = vec![connect(server).await, connect(server).await];
    let pair_group = group_of(&mut pair).await;
    let member = |name: String, client, group: &Vec<u8>, commit_every| Member {
        name,
        client,
        group: group.clone(),
        commit_every,
        seen: HashMap::new(),
        last_from: HashMap::new(),
    };
    let mut out = Vec::new();
    for (i, c) in trio.into_iter().enumerate() {
        out.push(member(
            format!("g{gen}trio{i}"),
            c,
            &trio_group,
            if i == 0 { 7 } else { 0 },
        ));
    }
    for (i, c) in pair.into_iter().enumerate() {
        out.push(member(format!("g{gen}pair{i}"), c, &pair_group, 0));
    }
    out
}

/// Send until the server goes away; returns the acknowledged texts.
async fn send_until_cut(mut m: Member, cut: u32) -> (Member, Vec<String>) {
    let mut acked = Vec::new();
    for n in 0u32.. {
        if m.commit_every > 0 && n % m.commit_every == m.commit_every - 1 {
            if m.client.self_update(&m.group).await.is_err() {
                break;
            }
            continue;
        }
        let text = format!("{}/{cut}/{n}", m.name);
        match m.client.send_text(&m.group, &text).await {
            Ok(_) => acked.push(text),
            Err(_) => break,
        }
    }
    (m, acked)
}

async fn reconnect(m: &mut Member) -> Result<(), ClientError> {
    let deadline = Instant::now() + WAIT;
    loop {
        match m.client.reconnect().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// "sender/cut/n" → (sender, cut, n)
fn parse(text: &str) -> Option<(String, u32, u32)> {
    let mut parts = text.split('/');
    let sender = parts.next()?.to_string();
    let cut = parts.next()?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    Some((sender, cut, n))
}

/// Receive until every text in `expected` has arrived or `patience` ran
/// out; returns how many never arrived. A duplicate or an arrival out of
/// order is a failure in every mode.
async fn receive(m: &mut Member, expected: &[String], patience: Duration, seed: u64) -> Result<usize, ClientError> {
    let deadline = Instant::now() + patience;
    loop {
        let missing = expected.iter().filter(|t| !m.seen.contains_key(*t)).count();
        let left = deadline.saturating_duration_since(Instant::now());
        if missing == 0 || left.is_zero() {
            return Ok(missing);
        }
        if let Some(Event::Message { text, .. }) = m.client.next_event(left.min(Duration::from_millis(500))).await? {
            let count = m.seen.entry(text.clone()).or_default();
            *count += 1;
            assert_eq!(*count, 1, "{} received {text:?} twice (seed {seed})", m.name);
            if let Some((sender, cut, n)) = parse(&text) {
                let last = m.last_from.insert(sender.clone(), (cut, n));
                assert!(
                    last.is_none_or(|last| last < (cut, n)),
                    "{} received {text:?} after {last:?} from {sender} (seed {seed})",
                    m.name
                );
            }
        }
    }
}

struct Outcome {
    cuts: u32,
    acknowledged: usize,
    /// Acknowledged envelopes that never arrived, per cut that lost any.
    lost_at: Vec<(u32, usize)>,
}

/// Run `cuts` power cuts under load. `patience` is how long a receiver
/// waits for an acknowledged envelope before it counts as lost; after a
/// loss the members are rebuilt (their groups may be past repair) so the
/// next cut is judged on its own.
async fn run(ignore_fdatasync: bool, cuts: u32, patience: Duration, stop_after_losses: usize) -> Outcome {
    let seed: u64 = std::env::var("PARASOL_POWER_CUT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    let label = if ignore_fdatasync {
        "control (fdatasync ignored)"
    } else {
        "power cut"
    };
    println!("{label}: up to {cuts} cuts, seed {seed} (PARASOL_POWER_CUT_SEED replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut powered = PoweredServer::start();
    let mut gen = 0;
    let mut members = new_members(&powered.server, gen).await;
    if ignore_fdatasync {
        // The setup above was synced; from the next start on, the log's
        // fdatasync counts for nothing. A cut now loses nothing acknowledged.
        powered.server.set_env("PC_IGNORE_FDATASYNC", "1");
        powered.cut();
        powered.power_on();
        for m in members.iter_mut() {
            reconnect(m).await.expect("reconnect after the control's first cut");
        }
    }
    // Acknowledged texts of the current members, by group and sender.
    let mut acked: Vec<(Vec<u8>, String, String)> = Vec::new();
    let mut outcome = Outcome {
        cuts: 0,
        acknowledged: 0,
        lost_at: Vec::new(),
    };
    for cut in 0..cuts {
        let tasks: Vec<_> = members
            .drain(..)
            .map(|m| tokio::spawn(send_until_cut(m, cut)))
            .collect();
        // A random moment: mid-round, mid-sync, or after a while.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(10..250))).await;
        let t_cut = Instant::now();
        powered.cut();
        let t_senders = Instant::now();
        for task in tasks {
            let (m, texts) = task.await.expect("sender task");
            outcome.acknowledged += texts.len();
            acked.extend(texts.into_iter().map(|t| (m.group.clone(), m.name.clone(), t)));
            members.push(m);
        }
        outcome.cuts += 1;
        let t_on = Instant::now();
        powered.power_on();
        let t_recv = Instant::now();

        let mut lost = 0;
        let mut broken = false;
        for m in members.iter_mut() {
            if let Err(e) = reconnect(m).await {
                assert!(
                    ignore_fdatasync,
                    "{} cannot reconnect after cut {cut}: {e} (seed {seed})",
                    m.name
                );
                broken = true;
                continue;
            }
            let expected: Vec<String> = acked
                .iter()
                .filter(|(g, sender, _)| *g == m.group && *sender != m.name)
                .map(|(_, _, t)| t.clone())
                .collect();
            match receive(m, &expected, patience, seed).await {
                Ok(missing) => lost += missing,
                Err(e) => {
                    assert!(
                        ignore_fdatasync,
                        "{}: receiving failed after cut {cut}: {e} (seed {seed})",
                        m.name
                    );
                    broken = true;
                }
            }
        }
        eprintln!(
            "cut {cut}: restore {:?} senders {:?} start {:?} receive {:?}",
            t_senders - t_cut,
            t_on - t_senders,
            t_recv - t_on,
            t_recv.elapsed()
        );
        if !ignore_fdatasync {
            assert_eq!(
                lost,
                0,
                "{lost} acknowledged envelopes lost at power cut {cut} (seed {seed}); log:\n{}",
                powered.server.logs()
            );
        }
        if lost > 0 || broken {
            outcome.lost_at.push((cut, lost));
            if outcome.lost_at.len() >= stop_after_losses {
                break;
            }
            gen += 1;
            members = new_members(&powered.server, gen).await;
            acked.clear();
        }
    }
    let logs = powered.server.logs();
    assert!(!logs.contains("panicked"), "the server panicked (seed {seed}):\n{logs}");
    // Which of sled's files the cuts reached (blobs and snapshots are rare).
    let sled_files: Vec<String> = std::fs::read_dir(powered.image.path().join("data/sled"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let blobs = std::fs::read_dir(powered.image.path().join("data/sled/blobs"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    println!("{label}: durable sled files at the end: {sled_files:?}, {blobs} blob files");
    println!(
        "{label}: {} cuts, {} acknowledged sends, {} cuts lost acknowledged envelopes {:?}, {:.1} s (seed {seed})",
        outcome.cuts,
        outcome.acknowledged,
        outcome.lost_at.len(),
        outcome.lost_at,
        started.elapsed().as_secs_f64()
    );
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_envelopes_survive_power_cuts() {
    let cuts: u32 = std::env::var("PARASOL_POWER_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let outcome = run(false, cuts, WAIT, 1).await;
    assert_eq!(outcome.cuts, cuts);
    assert!(outcome.lost_at.is_empty());
    assert!(
        outcome.acknowledged > cuts as usize,
        "the clients hardly sent anything before the cuts"
    );
}

/// The control: without the log's fdatasync, the same harness loses
/// acknowledged envelopes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_fdatasync_power_cuts_lose_acknowledged_envelopes() {
    let outcome = run(true, 40, Duration::from_secs(3), 3).await;
    assert!(
        !outcome.lost_at.is_empty(),
        "{} cuts without fdatasync lost nothing: the harness cannot tell",
        outcome.cuts
    );
}
