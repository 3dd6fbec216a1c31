//! The anonymous door under attack (issue 3, acceptance 3, 5 and 7): a
//! flood from one source while real visitors from other sources still get
//! their tickets, with bounded memory; who may do what (visitors, staff,
//! another counsellor's chats, disabled accounts); and no IP address, in any
//! form, on disk or in the logs.
//!
//! Every connection here is on loopback. To give connections distinct
//! sources the server trusts `x-forwarded-for` from loopback, and a small
//! relay in this file ([`Relay`]) adds that header to each WebSocket
//! handshake: the address rides in the URL's query (hex-encoded), the relay
//! moves it into the header and otherwise passes bytes through untouched. So
//! the tests drive the real client [`Connection`] and codec, and still see
//! the server's HTTP answer to each handshake (HTTP 429 and `Retry-After`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parasol_client::mls::MlsEngine;
use parasol_client::{ClientError, Connection, ErrorCode, Identity, Incoming, Request, Response, ServerMessage};
use parasol_protocol::{
    close, AuthProof, Bytes, ClientFrame, PowSolution, ShiftState, StaffSelf, TicketState, TicketStatus,
    PROTOCOL_VERSION,
};
use parasol_tests::drive::{code, WAIT};
use parasol_tests::{contains_bytes, find_ip_address, http_request, ServerProcess};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The server trusts the forwarded address from loopback (its default
/// `trusted_proxies`), as it would from a reverse proxy in production.
const FORWARDED: &str = "[intake]\ntrusted_proxy_header = \"x-forwarded-for\"\n";

/// The flood measures the server's latency, rate and memory on a 2-core
/// machine: the tests of this file run one at a time, so the others'
/// servers and clients do not share its CPU.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ------------------------------------------------------------------- relay

/// What the server answered to one WebSocket handshake through the relay.
#[derive(Debug, Clone)]
struct Handshake {
    forwarded: String,
    status: u16,
    retry_after: Option<String>,
}

/// A loopback relay that sets `X-Forwarded-For` on each WebSocket
/// handshake, taking the value from the URL, and records the server's
/// answer to each handshake.
struct Relay {
    addr: SocketAddr,
    handshakes: Arc<Mutex<Vec<Handshake>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    async fn start(server: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay listens");
        let addr = listener.local_addr().expect("relay address");
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let log = handshakes.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = relay(client, server, log).await;
                });
            }
        });
        Relay { addr, handshakes, task }
    }

    /// The WebSocket URL whose connections reach the server as coming from
    /// `forwarded` (a whole `X-Forwarded-For` value).
    fn url(&self, forwarded: &str) -> String {
        format!("ws://{}/v1/ws?forwarded={}", self.addr, hex::encode(forwarded))
    }

    fn handshakes(&self) -> Vec<Handshake> {
        self.handshakes.lock().unwrap().clone()
    }
}

/// Read an HTTP head byte by byte, so nothing after it is consumed.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 || head.len() > 16 * 1024 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

async fn relay(mut client: TcpStream, server: SocketAddr, log: Arc<Mutex<Vec<Handshake>>>) -> std::io::Result<()> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let head = String::from_utf8(read_head(&mut client).await?).map_err(|_| bad("head"))?;
    let (line, rest) = head.split_once("\r\n").ok_or_else(|| bad("request line"))?;
    // GET /v1/ws?forwarded=<hex> HTTP/1.1
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (path, query) = target.and_then(|t| t.split_once('?')).ok_or_else(|| bad("target"))?;
    let forwarded = query
        .strip_prefix("forwarded=")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("forwarded"))?;
    let head = format!(
        "{} {path} {}\r\nX-Forwarded-For: {forwarded}\r\n{rest}",
        method.unwrap_or("GET"),
        version.unwrap_or("HTTP/1.1")
    );
    let mut upstream = TcpStream::connect(server).await?;
    upstream.write_all(head.as_bytes()).await?;
    let answer = read_head(&mut upstream).await?;
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let retry_after = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().to_string())
    });
    log.lock().unwrap().push(Handshake {
        forwarded,
        status,
        retry_after,
    });
    client.write_all(&answer).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

// ------------------------------------------------------------- visitors

/// A visitor: a fresh key, its MLS engine (for real key packages) and a
/// connection.
struct Visitor {
    identity: Identity,
    engine: MlsEngine,
    conn: Connection,
}

impl Visitor {
    async fn connect(url: &str) -> Result<Visitor, ClientError> {
        let identity = Identity::generate();
        let engine = MlsEngine::new(identity.clone());
        let (conn, _) = Connection::connect(url, &identity, WAIT).await?;
        Ok(Visitor { identity, engine, conn })
    }

    /// One-time key packages whose credential identity is this client's key.
    fn key_packages(&mut self, n: usize) -> Vec<Bytes> {
        key_packages(&mut self.engine, n)
    }

    async fn call(&mut self, req: Request) -> ServerMessage {
        call(&mut self.conn, req).await
    }
}

fn key_packages(engine: &mut MlsEngine, n: usize) -> Vec<Bytes> {
    engine
        .generate_key_packages(n, false)
        .expect("key packages")
        .into_iter()
        .map(Bytes)
        .collect()
}

fn request_chat(language: &str, key_packages: Vec<Bytes>, pow: Option<PowSolution>) -> Request {
    Request::RequestChat {
        language: language.into(),
        topic: "just_talk".into(),
        urgent: false,
        key_packages,
        pow,
    }
}

/// Request ids of [`call`]: far above the ids `Connection` allocates.
static RAW_IDS: AtomicU64 = AtomicU64::new(1 << 40);

/// Send a request and return the whole answer frame, error details
/// (`retry_after_secs`, `pow`, `help`) included, which `Connection::request`
/// does not keep. Pushes that arrive meanwhile are skipped.
async fn call(conn: &mut Connection, req: Request) -> ServerMessage {
    let id = RAW_IDS.fetch_add(1, Ordering::Relaxed);
    let op = req.op_name();
    conn.send_frame(&ClientFrame {
        v: PROTOCOL_VERSION,
        id,
        req,
    })
    .expect("send");
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match conn.next_incoming(left).await {
            Some(Incoming::Message(m)) if answer_id(&m) == Some(id) => return m,
            Some(Incoming::Message(_)) => {}
            other => panic!("no answer to {op}: {other:?}"),
        }
    }
}

fn answer_id(m: &ServerMessage) -> Option<u64> {
    match m {
        ServerMessage::Response { id, .. } => Some(*id),
        ServerMessage::Error { id, .. } => *id,
        _ => None,
    }
}

fn error_code(m: &ServerMessage) -> Option<ErrorCode> {
    match m {
        ServerMessage::Error { code, .. } => Some(*code),
        _ => None,
    }
}

/// What `request_chat` finally gave a real visitor, and how.
struct Joined {
    ticket: TicketState,
    /// From opening the connection to the ticket.
    latency: Duration,
    puzzles: u32,
    /// Of `latency`, the time the visitor's device spent on puzzles.
    solving: Duration,
}

/// A real visitor asking for a chat as the client would: on `pow_required`
/// solve the puzzle and ask again; on a rate limit wait as told.
async fn join(url: &str, language: &str) -> Joined {
    let start = Instant::now();
    let mut v = Visitor::connect(url).await.expect("a real visitor connects");
    let kps = v.key_packages(2);
    let mut solution = None;
    let mut puzzles = 0;
    let mut solving = Duration::ZERO;
    for _ in 0..10 {
        match v.call(request_chat(language, kps.clone(), solution.take())).await {
            ServerMessage::Response {
                result: Response::Ticket { ticket },
                ..
            } => {
                return Joined {
                    ticket,
                    latency: start.elapsed(),
                    puzzles,
                    solving,
                }
            }
            ServerMessage::Error {
                code: ErrorCode::PowRequired,
                pow: Some(puzzle),
                help,
                ..
            } => {
                assert!(
                    help.is_some_and(|h| !h.crisis_lines.is_empty()),
                    "pow_required without help"
                );
                puzzles += 1;
                let id = v.identity.client_id();
                let challenge = puzzle.challenge.clone();
                let started = Instant::now();
                let nonce = tokio::task::spawn_blocking(move || parasol_protocol::solve_pow(&puzzle, &id))
                    .await
                    .expect("solving");
                solving += started.elapsed();
                solution = Some(PowSolution { challenge, nonce });
            }
            ServerMessage::Error {
                code: ErrorCode::RateLimited | ErrorCode::Busy,
                retry_after_secs: Some(secs),
                ..
            } => tokio::time::sleep(Duration::from_secs(u64::from(secs))).await,
            other => panic!("a real visitor was refused: {other:?}"),
        }
    }
    panic!("a real visitor got no ticket after 10 attempts");
}

// ------------------------------------------------------------------ staff

fn admin_ok(server: &ServerProcess, args: &[&str], stdin: &str) -> String {
    let out = server.admin(args, stdin);
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Create a staff account with the admin CLI; returns its password.
fn create_staff(server: &ServerProcess, username: &str, role: &str, languages: &str) -> String {
    let password = format!("pw-{}", parasol_tests::marker());
    admin_ok(
        server,
        &[
            "create-staff",
            "--username",
            username,
            "--display-name",
            username,
            "--role",
            role,
            "--languages",
            languages,
            "--max-chats",
            "3",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    password
}

fn login(server: &ServerProcess, username: &str, password: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let body = json!({"username": username, "password": password}).to_string();
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let (status, body) = http_request(server.addr(), "POST", "/v1/staff/login", &all, &body);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn token_of(server: &ServerProcess, username: &str, password: &str) -> String {
    let (status, body) = login(server, username, password, &[]);
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("token").to_string()
}

struct Staff {
    conn: Connection,
    engine: MlsEngine,
    me: StaffSelf,
}

async fn staff_authenticate(
    url: &str,
    token: &str,
    identity: &Identity,
) -> Result<(Connection, StaffSelf), ClientError> {
    let conn = Connection::open(url, WAIT).await?;
    let signature = identity.sign_challenge(conn.nonce());
    let answer = conn
        .request(Request::Authenticate {
            proof: AuthProof::StaffSession {
                token: token.to_string(),
                public_key: identity.client_id().to_vec().into(),
                signature: signature.to_vec().into(),
            },
        })
        .await?;
    match answer {
        Response::Authenticated { staff: Some(me), .. } => Ok((conn, me)),
        other => panic!("not a staff session: {other:?}"),
    }
}

async fn staff_connect(url: &str, token: &str) -> Staff {
    let identity = Identity::generate();
    let (conn, me) = staff_authenticate(url, token, &identity).await.expect("staff connects");
    Staff {
        conn,
        engine: MlsEngine::new(identity),
        me,
    }
}

/// The next close of `conn` within `timeout`, skipping pushes.
async fn closed_code(conn: &mut Connection, timeout: Duration) -> Option<u16> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match conn.next_incoming(left).await {
            Some(Incoming::Closed { code, .. }) => return code,
            Some(_) => {}
            None => panic!("the connection did not close within {timeout:?}"),
        }
    }
}

// -------------------------------------------------------------- memory

/// The resident set size of a process, in KiB (VmRSS in /proc/<pid>/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

// =============================================================== the flood

/// What the flood's connections got back.
#[derive(Debug, Default)]
struct FloodTally {
    sent: u64,
    answered: u64,
    rate_limited: u64,
    rate_limited_without_retry_after: u64,
    rate_limited_without_help: u64,
    pow_required: u64,
    tickets: u64,
    /// When the lane sent its last request.
    last_sent: Option<Instant>,
    other: BTreeMap<String, u64>,
    /// rate_limited answers by message (which limit said no).
    by_message: BTreeMap<String, u64>,
}

impl FloodTally {
    fn count(&mut self, m: ServerMessage) {
        if answer_id(&m).is_none() {
            return; // a push
        }
        self.answered += 1;
        match m {
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                retry_after_secs,
                help,
                message,
                ..
            } => {
                self.rate_limited += 1;
                *self.by_message.entry(message).or_default() += 1;
                if retry_after_secs.is_none_or(|s| s < 1) {
                    self.rate_limited_without_retry_after += 1;
                }
                if help.is_none_or(|h| h.crisis_lines.is_empty()) {
                    self.rate_limited_without_help += 1;
                }
            }
            ServerMessage::Error {
                code: ErrorCode::PowRequired,
                ..
            } => self.pow_required += 1,
            ServerMessage::Response {
                result: Response::Ticket { .. },
                ..
            } => self.tickets += 1,
            ServerMessage::Error { code, .. } => *self.other.entry(code.to_string()).or_default() += 1,
            other => *self.other.entry(other.type_name().to_string()).or_default() += 1,
        }
    }

    fn add(&mut self, other: FloodTally) {
        self.sent += other.sent;
        self.answered += other.answered;
        self.rate_limited += other.rate_limited;
        self.rate_limited_without_retry_after += other.rate_limited_without_retry_after;
        self.rate_limited_without_help += other.rate_limited_without_help;
        self.pow_required += other.pow_required;
        self.tickets += other.tickets;
        self.last_sent = self.last_sent.max(other.last_sent);
        for (k, v) in other.other {
            *self.other.entry(k).or_default() += v;
        }
        for (k, v) in other.by_message {
            *self.by_message.entry(k).or_default() += v;
        }
    }
}

/// One flooding connection: `count` `request_chat`s, one every `every`
/// from `start`, reading answers as they come; then the stragglers.
async fn flood_lane(mut v: Visitor, start: tokio::time::Instant, count: u64, every: Duration) -> FloodTally {
    let kps = v.key_packages(1);
    let mut tally = FloodTally::default();
    for i in 0..count {
        tokio::time::sleep_until(start + every * i as u32).await;
        v.conn
            .send_frame(&ClientFrame {
                v: PROTOCOL_VERSION,
                id: i + 1_000_000,
                req: request_chat("en", kps.clone(), None),
            })
            .expect("the flood's connection stays open");
        tally.sent += 1;
        tally.last_sent = Some(Instant::now());
        while let Some(Incoming::Message(m)) = v.conn.try_next_incoming() {
            tally.count(m);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while tally.answered < tally.sent {
        match v
            .conn
            .next_incoming(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            Some(Incoming::Message(m)) => tally.count(m),
            _ => break,
        }
    }
    v.conn.close().await;
    tally
}

/// Acceptance 3. One source sends 1,000 `request_chat`s a second for 10 s
/// over 10 connections (100/s each, past the per-connection frame rate)
/// while opening a new connection every 100 ms (past the per-source
/// connection rate); meanwhile 20 real visitors from 20 other sources
/// (half IPv4, half IPv6, each in its own /64) arrive one every 0.45 s.
/// Server defaults, except that it trusts `x-forwarded-for` from loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_from_one_source_is_refused_while_real_visitors_get_tickets() {
    const LANES: u64 = 10;
    const PER_LANE: u64 = 1_000; // 100 per second for 10 s
    const CHURN: u64 = 100; // new connections, one every 100 ms
    const FLOOD: &str = "203.0.113.250";
    let _alone = ONE_AT_A_TIME.lock().await;

    let server = ServerProcess::start_with_config(FORWARDED);
    let relay = Relay::start(server.addr()).await;
    let pid = server.pid().expect("server pid");
    // Warm up what every connection and ticket touches (the allocator's
    // arenas, sled's first pages), so the baseline is a server at work.
    let warm = join(&relay.url("192.0.2.1"), "mk").await;
    assert!(matches!(warm.ticket.status, TicketStatus::Waiting { .. }));
    let rss_before = rss_kib(pid);

    let flood_url = relay.url(FLOOD);
    let first_connection = Instant::now();
    let mut lanes = Vec::new();
    for _ in 0..LANES {
        lanes.push(Visitor::connect(&flood_url).await.expect("a flood connection"));
    }

    // Memory, sampled every 100 ms until told to stop.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };

    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let flood_started = start.into_std();
    let every = Duration::from_millis(1000 * LANES / 1000); // each lane's share of 1,000/s
    let lane_tasks: Vec<_> = lanes
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let offset = Duration::from_millis(i as u64); // interleave the lanes
            tokio::spawn(flood_lane(v, start + offset, PER_LANE, every))
        })
        .collect();
    let churn = {
        let url = flood_url.clone();
        tokio::spawn(async move {
            let (mut opened, mut refused, mut failed) = (0u64, 0u64, 0u64);
            for i in 0..CHURN {
                tokio::time::sleep_until(start + Duration::from_millis(100) * i as u32).await;
                match Connection::open(&url, WAIT).await {
                    Ok(c) => {
                        opened += 1;
                        drop(c);
                    }
                    Err(ClientError::Connection(e)) if e.contains("429") => refused += 1,
                    Err(_) => failed += 1,
                }
            }
            (opened, refused, failed)
        })
    };
    let visitors: Vec<_> = (0..20u32)
        .map(|i| {
            let source = if i % 2 == 0 {
                format!("198.51.100.{}", i + 1)
            } else {
                format!("2001:db8:0:{:x}::1", i + 1)
            };
            let url = relay.url(&source);
            tokio::spawn(async move {
                tokio::time::sleep_until(start + Duration::from_millis(250 + 450 * u64::from(i))).await;
                join(&url, ["mk", "sq", "en"][i as usize % 3]).await
            })
        })
        .collect();

    let mut joined = Vec::new();
    for v in visitors {
        joined.push(v.await.expect("a real visitor's task"));
    }
    let mut tally = FloodTally::default();
    for lane in lane_tasks {
        tally.add(lane.await.expect("a flood lane"));
    }
    let flood_secs = (tally.last_sent.expect("the flood sent") - flood_started).as_secs_f64();
    let (opened, refused_429, failed) = churn.await.expect("churn");
    let connecting_secs = first_connection.elapsed().as_secs();
    sampling.store(false, Ordering::Relaxed);
    let rss_peak = sampler.await.expect("sampler").max(rss_kib(pid));
    // The flood is over and its connections are closed; give the server a
    // moment to drop them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);

    let percentiles = |mut v: Vec<Duration>| {
        v.sort();
        (v[v.len() / 2], v[v.len() - 1])
    };
    let (latency_p50, latency_max) = percentiles(joined.iter().map(|j| j.latency).collect());
    let (server_p50, server_max) = percentiles(joined.iter().map(|j| j.latency - j.solving).collect());
    let (solving_p50, solving_max) = percentiles(joined.iter().map(|j| j.solving).collect());
    let puzzles: u32 = joined.iter().map(|j| j.puzzles).sum();
    let handshakes_429: Vec<Handshake> = relay
        .handshakes()
        .into_iter()
        .filter(|h| h.forwarded == FLOOD && h.status == 429)
        .collect();
    println!(
        "flood: {} request_chat sent in {flood_secs:.1} s ({:.0}/s) over {LANES} connections from one source",
        tally.sent,
        tally.sent as f64 / flood_secs
    );
    println!(
        "flood: answered {}, rate_limited {}, pow_required {}, tickets {}, other {:?}",
        tally.answered, tally.rate_limited, tally.pow_required, tally.tickets, tally.other
    );
    println!("flood: rate_limited by message {:?}", tally.by_message);
    println!(
        "flood: rate_limited without retry_after_secs {}, without help.crisis_lines {}",
        tally.rate_limited_without_retry_after, tally.rate_limited_without_help
    );
    println!(
        "flood: {CHURN} new connections tried: {opened} opened, {refused_429} HTTP 429 ({} seen by the relay), {failed} failed otherwise",
        handshakes_429.len()
    );
    println!(
        "real visitors: {} of 20 got tickets; {puzzles} proof-of-work puzzles solved",
        joined.len()
    );
    println!("real visitors: ticket latency p50 {latency_p50:?}, max {latency_max:?} (connect to ticket)");
    println!("real visitors: of which solving puzzles p50 {solving_p50:?}, max {solving_max:?}; the rest p50 {server_p50:?}, max {server_max:?}");
    println!(
        "server RSS: before {} KiB, peak {} KiB (+{} KiB), after {} KiB",
        rss_before,
        rss_peak,
        rss_peak.saturating_sub(rss_before),
        rss_after
    );

    // The flood really was 1,000 requests a second for 10 s.
    assert_eq!(tally.sent, LANES * PER_LANE);
    assert!(
        tally.sent as f64 / flood_secs > 900.0,
        "the flood did not reach its rate"
    );
    // Every real visitor got a ticket, in the queue.
    assert_eq!(joined.len(), 20);
    for j in &joined {
        assert!(
            matches!(j.ticket.status, TicketStatus::Waiting { .. }),
            "{:?}",
            j.ticket.status
        );
        assert!(j.ticket.resume_secret.is_some());
    }
    // Under this pressure proof of work is on, and real visitors pass it.
    assert!(puzzles >= 1, "proof of work never switched on under a flood");
    // The flood was refused, with typed errors, and never left hanging:
    // every request got an answer.
    assert_eq!(tally.answered, tally.sent, "flood requests went unanswered");
    assert!(
        tally.rate_limited >= tally.sent * 9 / 10,
        "most of the flood must be rate-limited"
    );
    // At most its per-source burst (3) plus one refill (6 a minute for 10 s)
    // got through the per-source limit, and those needed proof of work.
    assert!(tally.tickets <= 4, "the flood got {} tickets", tally.tickets);
    assert_eq!(tally.rate_limited_without_retry_after, 0);
    // New connections past the per-source rate: HTTP 429 with Retry-After.
    assert!(refused_429 > 0, "no connection of the flood was refused with 429");
    assert_eq!(handshakes_429.len() as u64, refused_429);
    for h in &handshakes_429 {
        let secs: u64 = h
            .retry_after
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("429 without a valid Retry-After: {h:?}"));
        assert!(secs >= 1);
    }
    // Connection burst 20, refilled at 1 a second: the flood opened at
    // most 20 plus one a second of its connecting, its 10 lanes included.
    assert!(
        opened + LANES <= 20 + connecting_secs + 1,
        "{opened} connections opened in {connecting_secs} s"
    );
    // Memory. What a flood from one source can make the server hold is
    // bounded by its limits: at most 20 connections at once from that
    // source plus 1 a second (each a few KiB of WebSocket buffers and a
    // send queue this reading client keeps near empty), two limiter cells
    // for the source and at most 4 tickets; the 20 visitors add 20 tickets
    // and connections. That is about 1 MiB, and 1.0 to 1.3 MiB is what this
    // test measures (debug build, 2 cores). The bound is baseline + 16 MiB:
    // twelve times that, room for allocator arenas and sled's cache to
    // settle differently, yet a server that kept as little as 1.7 KiB per
    // refused request (one decoded `request_chat` with its key package, or
    // a task or buffer per request) would go over it within the 10,000
    // requests of this flood.
    let bound = rss_before + 16 * 1024;
    assert!(rss_peak < bound, "peak RSS {rss_peak} KiB over the bound {bound} KiB");
    assert!(
        rss_after < bound,
        "RSS after {rss_after} KiB over the bound {bound} KiB"
    );
    // Every refusal a visitor can get carries the crisis lines
    // (PROTOCOL.md, "Abuse limits"), the per-connection frame rate's too.
    assert_eq!(
        tally.rate_limited_without_help, 0,
        "rate_limited answers without help.crisis_lines, by message: {:?}",
        tally.by_message
    );
}

// ========================================================== authorization

/// Acceptance 5. Visitors cannot act as staff and staff cannot act as
/// visitors; a counsellor neither sees tickets outside their languages nor
/// acts on a colleague's chat; a visitor cannot cancel another's ticket;
/// anonymous clients cannot claim staff key packages; a disabled account is
/// cut off at once; a bad session token does not authenticate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_staff_and_colleagues_may_do_only_their_own_part() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = ServerProcess::start();
    let url = server.url();
    let ana_password = create_staff(&server, "ana", "counsellor", "mk");
    let ben_password = create_staff(&server, "ben", "counsellor", "sq");
    let mut ana = staff_connect(&url, &token_of(&server, "ana", &ana_password)).await;
    let ben_token = token_of(&server, "ben", &ben_password);
    let mut ben = staff_connect(&url, &ben_token).await;
    for s in [&ana, &ben] {
        s.conn
            .request(Request::SetShift {
                state: ShiftState::Available,
                handover: false,
            })
            .await
            .expect("clock in");
    }
    let kps = key_packages(&mut ana.engine, 3);
    ana.conn
        .request(Request::PublishKeyPackages {
            key_packages: kps,
            replace: false,
        })
        .await
        .expect("ana publishes key packages");

    // Two visitors: one asks in Macedonian (ana's language), one in
    // Albanian (ben's).
    let mut vera = Visitor::connect(&url).await.expect("vera");
    let mut vlad = Visitor::connect(&url).await.expect("vlad");
    let vera_kps = vera.key_packages(2);
    let vera_ticket = match vera.call(request_chat("mk", vera_kps, None)).await {
        ServerMessage::Response {
            result: Response::Ticket { ticket },
            ..
        } => ticket,
        other => panic!("vera: {other:?}"),
    };
    let vlad_kps = vlad.key_packages(3);
    let vlad_ticket = match vlad.call(request_chat("sq", vlad_kps[..2].to_vec(), None)).await {
        ServerMessage::Response {
            result: Response::Ticket { ticket },
            ..
        } => ticket,
        other => panic!("vlad: {other:?}"),
    };
    let vlad_secret = vlad_ticket.resume_secret.clone().expect("resume secret");
    vlad.conn
        .request(Request::PublishKeyPackages {
            key_packages: vlad_kps[2..].to_vec(),
            replace: false,
        })
        .await
        .expect("vlad publishes a key package");

    // Each counsellor sees only the tickets in their languages.
    let queue = |r: Result<Response, ClientError>| match r.expect("queue_view") {
        Response::Queue { tickets } => tickets.iter().map(|t| t.ticket_id).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        queue(ana.conn.request(Request::QueueView).await),
        vec![vera_ticket.ticket_id]
    );
    assert_eq!(
        queue(ben.conn.request(Request::QueueView).await),
        vec![vlad_ticket.ticket_id]
    );
    // …and cannot take one in a language they do not speak.
    assert_eq!(
        code(
            ben.conn
                .request(Request::AcceptTicket {
                    ticket_id: vera_ticket.ticket_id
                })
                .await
        ),
        ErrorCode::Forbidden
    );

    // Ana takes vera's chat: she creates the group and attaches it.
    let accepted = ana
        .conn
        .request(Request::AcceptTicket {
            ticket_id: vera_ticket.ticket_id,
        })
        .await
        .expect("ana accepts");
    assert!(matches!(
        accepted,
        Response::TicketAccepted {
            key_package: Some(_),
            ..
        }
    ));
    let group = ana.engine.create_group().expect("group");
    ana.conn
        .request(Request::CreateGroup {
            group_info: group.group_info.clone().into(),
            ratchet_tree: group.ratchet_tree.clone().into(),
        })
        .await
        .expect("create_group");
    let gid = Bytes(group.group_id.clone());
    ana.conn
        .request(Request::AttachChat {
            ticket_id: vera_ticket.ticket_id,
            group_id: gid.clone(),
        })
        .await
        .expect("attach_chat");

    // A visitor gets `forbidden` for every staff operation, even naming a
    // real ticket and chat.
    let staff_ops = vec![
        Request::SetShift {
            state: ShiftState::Available,
            handover: false,
        },
        Request::QueueView,
        Request::AcceptTicket {
            ticket_id: vlad_ticket.ticket_id,
        },
        Request::DeclineOffer {
            ticket_id: vlad_ticket.ticket_id,
        },
        Request::AttachChat {
            ticket_id: vera_ticket.ticket_id,
            group_id: gid.clone(),
        },
        Request::TransferChat {
            group_id: gid.clone(),
            to: Some(ben.me.account_id),
        },
        Request::CloseChat {
            group_id: gid.clone(),
            tag: "support".into(),
        },
        Request::BlockVisitor {
            ticket_id: vlad_ticket.ticket_id,
            duration_secs: 60,
            reason: "test".into(),
        },
        Request::Board,
        Request::TeamMessages,
        Request::TakeTeamMessage { group_id: gid.clone() },
    ];
    assert_eq!(staff_ops.len(), 11);
    for op in staff_ops {
        let name = op.op_name();
        assert_eq!(
            error_code(&vera.call(op).await),
            Some(ErrorCode::Forbidden),
            "a visitor's {name}"
        );
    }

    // A staff connection gets `forbidden` for every visitor operation.
    let ana_kps = key_packages(&mut ana.engine, 1);
    let visitor_ops = vec![
        request_chat("mk", ana_kps, None),
        Request::CancelTicket {
            ticket_id: vlad_ticket.ticket_id,
        },
        Request::ResumeTicket {
            resume_secret: vlad_secret.clone(),
            key_packages: Vec::new(),
        },
        Request::TeamKeyPackages,
        Request::LeaveTeamMessage {
            group_id: gid.clone(),
            language: "mk".into(),
        },
        Request::ChatFeedback {
            answer: parasol_protocol::FeedbackAnswer::Helped,
        },
    ];
    for op in visitor_ops {
        let name = op.op_name();
        assert_eq!(code(ana.conn.request(op).await), ErrorCode::Forbidden, "staff's {name}");
    }

    // Ben cannot act on ana's chat.
    assert_eq!(
        code(
            ben.conn
                .request(Request::TransferChat {
                    group_id: gid.clone(),
                    to: None
                })
                .await
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            ben.conn
                .request(Request::CloseChat {
                    group_id: gid.clone(),
                    tag: "support".into()
                })
                .await
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            ben.conn
                .request(Request::BlockVisitor {
                    ticket_id: vera_ticket.ticket_id,
                    duration_secs: 60,
                    reason: "not mine".into()
                })
                .await
        ),
        ErrorCode::Forbidden
    );

    // A visitor cannot cancel another visitor's ticket: to vera it does not
    // exist, and vlad's ticket stays in ben's queue.
    assert_eq!(
        error_code(
            &vera
                .call(Request::CancelTicket {
                    ticket_id: vlad_ticket.ticket_id
                })
                .await
        ),
        Some(ErrorCode::UnknownTicket)
    );
    assert_eq!(
        queue(ben.conn.request(Request::QueueView).await),
        vec![vlad_ticket.ticket_id]
    );

    // Anonymous clients cannot claim a staff member's key packages, though
    // they can claim another anonymous client's.
    let claim = |client: [u8; 32]| Request::ClaimKeyPackage {
        client_id: client.to_vec().into(),
    };
    assert_eq!(
        error_code(&vera.call(claim(ana.engine.client_id())).await),
        Some(ErrorCode::Forbidden)
    );
    assert!(matches!(
        vera.call(claim(vlad.identity.client_id())).await,
        ServerMessage::Response {
            result: Response::KeyPackage { .. },
            ..
        }
    ));

    // What ben was refused, ana may do: the refusals were about whose chat
    // it is, not broken operations.
    ana.conn
        .request(Request::CloseChat {
            group_id: gid.clone(),
            tag: "support".into(),
        })
        .await
        .expect("ana closes her own chat");

    // Disabling ben's account closes his open connection at once, with 4004.
    let before = Instant::now();
    admin_ok(&server, &["disable", "ben"], "");
    let disabled = before.elapsed();
    assert_eq!(
        closed_code(&mut ben.conn, Duration::from_secs(5)).await,
        Some(close::SESSION_ENDED)
    );
    println!(
        "disable: the admin CLI took {disabled:?}; the connection closed {:?} after it returned",
        before.elapsed() - disabled
    );
    // He cannot log in again, and his old token no longer authenticates.
    assert_eq!(login(&server, "ben", &ben_password, &[]).0, 401);
    assert_eq!(
        code(staff_authenticate(&url, &ben_token, &Identity::generate()).await),
        ErrorCode::AuthenticationFailed
    );

    // A made-up session token fails authentication and the connection
    // closes with 1008.
    let identity = Identity::generate();
    let mut conn = Connection::open(&url, WAIT).await.expect("open");
    let signature = identity.sign_challenge(conn.nonce());
    let refused = conn
        .request(Request::Authenticate {
            proof: AuthProof::StaffSession {
                token: "not-a-session-token".into(),
                public_key: identity.client_id().to_vec().into(),
                signature: signature.to_vec().into(),
            },
        })
        .await;
    assert_eq!(code(refused), ErrorCode::AuthenticationFailed);
    assert_eq!(
        closed_code(&mut conn, Duration::from_secs(5)).await,
        Some(close::POLICY_VIOLATION)
    );
    // Ana, whose account is fine, is still connected and served.
    assert!(matches!(ana.conn.request(Request::Ping).await, Ok(Response::Pong)));
}

// ==================================================== no address on disk

/// SHA-256 (FIPS 180-4), to compute the unsalted digests of addresses a
/// careless server might store. Checked against the protocol crate's
/// SHA-256 in the test below.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes(word.try_into().unwrap());
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [
                t1.wrapping_add(t2),
                v[0],
                v[1],
                v[2],
                v[3].wrapping_add(t1),
                v[4],
                v[5],
                v[6],
            ];
        }
        for (x, y) in h.iter_mut().zip(v) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Every form in which `addr` could sit in a file: binary (`bytes`, at
/// least 4 long) and text (`text`, also looked for in the logs).
struct AddressForms {
    addr: IpAddr,
    bytes: Vec<Vec<u8>>,
    text: Vec<String>,
}

fn forms(addr: IpAddr) -> AddressForms {
    let mut bytes = Vec::new();
    let mut text = vec![addr.to_string()];
    // What the server hashes for a source: the 4 bytes of an IPv4 address,
    // the /64 prefix of an IPv6 one.
    let hashed: Vec<u8> = match addr {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            bytes.push(o.to_vec());
            bytes.push(u32::from_be_bytes(o).to_le_bytes().to_vec());
            bytes.push(v4.to_ipv6_mapped().octets().to_vec());
            text.push(u32::from(v4).to_string());
            text.push(hex::encode(o));
            o.to_vec()
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            bytes.push(o.to_vec());
            bytes.push(o[..8].to_vec());
            let segments = v6.segments();
            text.push(segments.map(|s| format!("{s:04x}")).join(":"));
            text.push(segments.map(|s| format!("{s:x}")).join(":"));
            text.push(hex::encode(o));
            text.push(hex::encode(&o[..8]));
            o[..8].to_vec()
        }
    };
    // Unsalted digests: of the hashed bytes, of all the address's bytes and
    // of its text, whole and cut to the 16 bytes a source key has.
    let all = match addr {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    for input in [hashed, all, addr.to_string().into_bytes()] {
        let digest = sha256(&input);
        bytes.push(digest.to_vec());
        bytes.push(digest[..16].to_vec());
        text.push(hex::encode(&digest[..16]));
    }
    text.dedup();
    AddressForms { addr, bytes, text }
}

/// A visitor from `forwarded`: connect, read intake_info, publish key packages,
/// get a ticket, and cancel it if told to.
/// A visitor who asks for a chat and, with `cancel`, cancels it and
/// leaves; otherwise she stays (a gone visitor leaves the queue) and is
/// returned.
async fn visit(relay: &Relay, forwarded: &str, cancel: bool) -> Option<Visitor> {
    let mut v = Visitor::connect(&relay.url(forwarded)).await.expect("visitor");
    assert!(matches!(
        v.call(Request::IntakeInfo).await,
        ServerMessage::Response {
            result: Response::IntakeInfo { .. },
            ..
        }
    ));
    let published = v.key_packages(2);
    v.conn
        .request(Request::PublishKeyPackages {
            key_packages: published,
            replace: false,
        })
        .await
        .expect("publish");
    let kps = v.key_packages(2);
    let ticket = match v.call(request_chat("en", kps, None)).await {
        ServerMessage::Response {
            result: Response::Ticket { ticket },
            ..
        } => ticket,
        other => panic!("{forwarded}: {other:?}"),
    };
    if !cancel {
        return Some(v);
    }
    v.conn
        .request(Request::CancelTicket {
            ticket_id: ticket.ticket_id,
        })
        .await
        .expect("cancel");
    v.conn.close().await;
    None
}

/// The data directory's files and contents, to compare two moments.
fn snapshot(server: &ServerProcess) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    server.data_files().into_iter().collect()
}

/// Acceptance 7. Traffic from distinct forwarded addresses (IPv4 and IPv6,
/// each forwarded header also carrying a spoofed first entry), through
/// every path that sees an address: tickets, cancels, the per-source
/// request limit, the per-source connection limit (HTTP 429), a chat opened
/// and closed (audit, statistics, groups, mailboxes), staff logins over
/// HTTP. Then no address, in any form, is in the data directory or the
/// logs.
///
/// The salted source key itself cannot be looked for: it is SHA-256 of a
/// random salt that lives only in the server's memory (server/src/intake/
/// abuse.rs, `SourceHasher`: drawn from the OS, replaced daily, never
/// written) and the address, so no test outside the process can compute
/// it. What a test can check is (1) that no *unsalted* derivation is on
/// disk (the mistake a salted design exists to avoid), and (2) that traffic
/// which differs only in how many sources it comes from leaves the data
/// directory byte-for-byte unchanged: a server that stored anything per
/// source (a key, a counter, a hash) would change it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ip_address_or_source_hash_reaches_disk_or_logs() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // The SHA-256 above is the real one.
    for (challenge, client, nonce) in [(&b""[..], &b""[..], &b""[..]), (&[7u8; 32], &[9u8; 32], &[1u8; 8])] {
        let mut input = parasol_protocol::POW_DOMAIN.to_vec();
        input.extend_from_slice(challenge);
        input.extend_from_slice(client);
        input.extend_from_slice(nonce);
        assert_eq!(sha256(&input), parasol_protocol::pow_digest(challenge, client, nonce));
    }
    let mut input = Vec::new();
    for len in [55usize, 56, 63, 64, 65, 200] {
        input.resize(len, 0x61);
        let mut with_domain = parasol_protocol::POW_DOMAIN.to_vec();
        with_domain.extend_from_slice(&input);
        assert_eq!(sha256(&with_domain), parasol_protocol::pow_digest(&input, &[], &[]));
    }

    let mut server = ServerProcess::start_with_config(FORWARDED);
    let relay = Relay::start(server.addr()).await;
    let url = server.url();
    let spoofed: IpAddr = "192.0.2.77".parse().unwrap();
    let visitors: Vec<IpAddr> = [
        "203.0.113.11",
        "203.0.113.12",
        "203.0.113.13",
        "203.0.113.14",
        "2001:db8::1",
        "2001:db8::2",
        "2001:db8:0:3::3",
        "2001:db8:0:4::4",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    let limited: IpAddr = "203.0.113.21".parse().unwrap();
    let connecting: IpAddr = "2001:db8:0:22::22".parse().unwrap();
    let staff_from: IpAddr = "203.0.113.31".parse().unwrap();
    let header = |a: &IpAddr| format!("{spoofed}, {a}");

    // Tickets from every address; half of them cancelled.
    let mut waiting_visitors = Vec::new();
    for (i, addr) in visitors.iter().enumerate() {
        waiting_visitors.extend(visit(&relay, &header(addr), i % 2 == 0).await);
    }
    // One source over its request limit (burst 3).
    let mut refused = 0;
    for _ in 0..5 {
        let mut v = Visitor::connect(&relay.url(&header(&limited))).await.expect("visitor");
        let kps = v.key_packages(1);
        match v.call(request_chat("sq", kps, None)).await {
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } => refused += 1,
            ServerMessage::Response { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(refused >= 1, "the per-source request limit never refused");
    // One source over its connection limit (burst 20): HTTP 429.
    let mut too_many = 0;
    for _ in 0..25 {
        match Connection::open(&relay.url(&header(&connecting)), WAIT).await {
            Ok(c) => drop(c),
            Err(ClientError::Connection(e)) if e.contains("429") => too_many += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(too_many >= 1, "the per-source connection limit never refused");

    // Staff: logins over HTTP from a forwarded address (a failed one too),
    // and a chat accepted, opened and closed.
    let password = create_staff(&server, "ana", "counsellor", "en");
    let forwarded = header(&staff_from);
    assert_eq!(
        login(&server, "ana", "wrong password", &[("X-Forwarded-For", &forwarded)]).0,
        401
    );
    let (status, body) = login(&server, "ana", &password, &[("X-Forwarded-For", &forwarded)]);
    assert_eq!(status, 200, "{body}");
    let mut ana = staff_connect(&url, body["token"].as_str().unwrap()).await;
    ana.conn
        .request(Request::SetShift {
            state: ShiftState::Available,
            handover: false,
        })
        .await
        .expect("shift");
    let waiting = match ana.conn.request(Request::QueueView).await.expect("queue") {
        Response::Queue { tickets } => tickets,
        other => panic!("{other:?}"),
    };
    let ticket_id = waiting.first().expect("a waiting ticket").ticket_id;
    ana.conn
        .request(Request::AcceptTicket { ticket_id })
        .await
        .expect("accept");
    let group = ana.engine.create_group().expect("group");
    ana.conn
        .request(Request::CreateGroup {
            group_info: group.group_info.clone().into(),
            ratchet_tree: group.ratchet_tree.clone().into(),
        })
        .await
        .expect("create_group");
    let gid = Bytes(group.group_id.clone());
    ana.conn
        .request(Request::AttachChat {
            ticket_id,
            group_id: gid.clone(),
        })
        .await
        .expect("attach");
    ana.conn
        .request(Request::CloseChat {
            group_id: gid,
            tag: "support".into(),
        })
        .await
        .expect("close");

    // Traffic from 40 fresh sources that stores nothing (intake_info, and a
    // chat request refused after the source limits counted it: unknown
    // language) leaves the data directory exactly as it was.
    tokio::time::sleep(Duration::from_millis(1500)).await; // sled flushes every 0.5 s
    let before = snapshot(&server);
    let mut fresh: Vec<IpAddr> = Vec::new();
    for i in 0..20u16 {
        fresh.push(format!("203.0.113.{}", 100 + i).parse().unwrap());
        fresh.push(format!("2001:db8:0:{:x}::1", 0x100 + i).parse().unwrap());
    }
    for addr in &fresh {
        let mut v = Visitor::connect(&relay.url(&header(addr))).await.expect("visitor");
        assert!(matches!(
            v.call(Request::IntakeInfo).await,
            ServerMessage::Response { .. }
        ));
        let kps = v.key_packages(1);
        assert_eq!(
            error_code(&v.call(request_chat("xx", kps, None)).await),
            Some(ErrorCode::InvalidRequest)
        );
        v.conn.close().await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = snapshot(&server);
    let changed: Vec<_> = after
        .iter()
        .filter(|(path, bytes)| before.get(*path) != Some(bytes))
        .map(|(path, _)| path.display().to_string())
        .chain(
            before
                .keys()
                .filter(|p| !after.contains_key(*p))
                .map(|p| p.display().to_string()),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "traffic from {} new sources that stores nothing changed {changed:?}",
        fresh.len()
    );

    // Everything on disk, after a clean stop.
    drop(ana);
    drop(waiting_visitors);
    server.stop();
    let files = server.data_files();
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    assert!(files.len() > 2 && total > 0);
    let all: Vec<IpAddr> = visitors
        .iter()
        .chain([&limited, &connecting, &staff_from, &spoofed])
        .chain(&fresh)
        .copied()
        .collect();
    let all_forms: Vec<AddressForms> = all.iter().copied().map(forms).collect();
    // A 4-byte needle matches random bytes (key packages, hashes) with
    // odds of about (bytes on disk) / 2^32 per needle: ~1 in 10,000 runs
    // for the main addresses' 14 four-byte forms in ~32 KB. The 40 fresh
    // sources' 4-byte forms are left out of the binary scan (they would
    // quadruple those odds); the unchanged directory above already shows
    // that nothing of theirs was written.
    let mut looked_for = 0;
    for f in &all_forms {
        let needles: Vec<&Vec<u8>> = f
            .bytes
            .iter()
            .filter(|n| n.len() > 4 || !fresh.contains(&f.addr))
            .collect();
        looked_for += needles.len() + f.text.len();
        for (path, bytes) in &files {
            for needle in &needles {
                assert!(
                    !contains_bytes(bytes, needle),
                    "{} holds {} in binary form {}",
                    path.display(),
                    f.addr,
                    hex::encode(needle)
                );
            }
            for needle in &f.text {
                assert!(
                    !contains_bytes(bytes, needle.as_bytes()),
                    "{} holds {} as {needle:?}",
                    path.display(),
                    f.addr
                );
            }
        }
    }
    println!(
        "scanned {} files ({total} bytes) for {looked_for} forms of {} addresses",
        files.len(),
        all.len()
    );

    // The logs: no address at all (any IPv4 or IPv6 text), and none of the
    // forms above.
    let logs = server.logs();
    assert!(
        logs.contains("ticket opened"),
        "the logs do not show the traffic; the check would be empty"
    );
    if let Some(ip) = find_ip_address(&logs) {
        panic!("server log contains an IP address {ip:?}");
    }
    let texts: Vec<&str> = all_forms
        .iter()
        .flat_map(|f| f.text.iter().map(String::as_str))
        .collect();
    server.assert_logs_clean(&texts);
}

// ------------------------------------------------------------- admission

/// The ticket `request_chat` gave, or the whole refusal.
async fn ask(url: &str) -> Result<TicketState, ServerMessage> {
    let mut v = Visitor::connect(url).await.expect("visitor connects");
    let kps = v.key_packages(1);
    let answer = v.call(request_chat("en", kps, None)).await;
    v.conn.close().await;
    match answer {
        ServerMessage::Response {
            result: Response::Ticket { ticket },
            ..
        } => Ok(ticket),
        other => Err(other),
    }
}

fn blocked_for(answer: &Result<TicketState, ServerMessage>) -> u32 {
    match answer {
        Err(ServerMessage::Error {
            code: ErrorCode::Blocked,
            retry_after_secs: Some(secs),
            help: Some(help),
            ..
        }) if !help.crisis_lines.is_empty() => *secs,
        other => panic!("expected `blocked` with a retry time and the crisis lines, got {other:?}"),
    }
}

async fn block(staff: &Staff, ticket_id: u64, duration_secs: u32) {
    staff
        .conn
        .request(Request::BlockVisitor {
            ticket_id,
            duration_secs,
            reason: "abusive".into(),
        })
        .await
        .expect("block");
}

/// Issue 17: a blocked visitor who reloads (a fresh key) from the same
/// network gets no ticket for the block's duration; other networks do;
/// the source is held only in memory (a restart forgets it, the key block
/// stays) and no form of its address is on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_holds_on_the_source_for_its_duration_and_only_in_memory() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let mut server = ServerProcess::start_with_config(FORWARDED);
    let relay = Relay::start(server.addr()).await;
    let blocked: IpAddr = "203.0.113.50".parse().unwrap();
    let neighbour: IpAddr = "203.0.113.51".parse().unwrap();
    let blocked_v6: IpAddr = "2001:db8:50:1::5".parse().unwrap();
    let sue_password = create_staff(&server, "sue", "supervisor", "en");
    let sue = staff_connect(&server.url(), &token_of(&server, "sue", &sue_password)).await;

    // A visitor from `blocked` asks for a chat and is blocked for a few
    // seconds.
    const BLOCK_SECS: u32 = 8;
    let first = ask(&relay.url(&blocked.to_string())).await.expect("a ticket");
    block(&sue, first.ticket_id, BLOCK_SECS).await;
    let blocked_at = Instant::now();
    // A reload: a fresh key from the same address. No ticket.
    let again = ask(&relay.url(&blocked.to_string())).await;
    assert!((1..=BLOCK_SECS).contains(&blocked_for(&again)), "{again:?}");
    // The same IPv6 /64 is the same source, too.
    let first_v6 = ask(&relay.url(&blocked_v6.to_string())).await.expect("a ticket");
    block(&sue, first_v6.ticket_id, BLOCK_SECS).await;
    blocked_for(&ask(&relay.url("2001:db8:50:1::99")).await);
    // Other networks are not blocked: the next IPv4 address, another /64.
    ask(&relay.url(&neighbour.to_string()))
        .await
        .expect("a neighbour gets a ticket");
    ask(&relay.url("2001:db8:50:2::5"))
        .await
        .expect("another /64 gets a ticket");
    // Once the block has ended (the refusals spent none of the source's
    // request budget), a ticket again.
    let block_ends = Duration::from_secs(u64::from(BLOCK_SECS) + 1);
    tokio::time::sleep(block_ends.saturating_sub(blocked_at.elapsed()) + Duration::from_millis(500)).await;
    let after = ask(&relay.url(&blocked.to_string())).await;
    let after = after.expect("a ticket once the block has ended");

    // A long block on the new ticket; its key is kept on disk, its source
    // only in memory: after a restart the key is still blocked, the source
    // (a fresh key from it) is not.
    let mut v = Visitor::connect(&relay.url(&blocked.to_string()))
        .await
        .expect("visitor");
    let kps = v.key_packages(1);
    let ticket = match v.call(request_chat("en", kps, None)).await {
        ServerMessage::Response {
            result: Response::Ticket { ticket },
            ..
        } => ticket,
        other => panic!("{other:?}"),
    };
    assert_ne!(ticket.ticket_id, after.ticket_id);
    block(&sue, ticket.ticket_id, 3600).await;
    blocked_for(&ask(&relay.url(&blocked.to_string())).await);
    let identity = v.identity.clone();
    v.conn.close().await;
    drop(sue);
    server.restart();
    let relay = Relay::start(server.addr()).await;
    ask(&relay.url(&blocked.to_string()))
        .await
        .expect("a restart forgets the source (memory only)");
    let (mut conn, _) = Connection::connect(&relay.url(&neighbour.to_string()), &identity, WAIT)
        .await
        .expect("the blocked key connects");
    let mut engine = MlsEngine::new(identity);
    let kps = key_packages(&mut engine, 1);
    let answer = call(&mut conn, request_chat("en", kps, None)).await;
    assert_eq!(error_code(&answer), Some(ErrorCode::Blocked), "the key block is stored");
    conn.close().await;

    // No form of the blocked addresses is on disk (the salted key cannot
    // be computed outside the server: see the test above).
    server.stop();
    let files = server.data_files();
    assert!(!files.is_empty());
    for f in [forms(blocked), forms(blocked_v6)] {
        for (path, bytes) in &files {
            for needle in f.bytes.iter().filter(|n| n.len() >= 8) {
                assert!(
                    !contains_bytes(bytes, needle),
                    "{} holds a form of {}",
                    path.display(),
                    f.addr
                );
            }
            let text = String::from_utf8_lossy(bytes);
            for needle in &f.text {
                assert!(!text.contains(needle.as_str()), "{} holds {needle}", path.display());
            }
        }
    }
    server.assert_logs_clean(&[&blocked.to_string(), &blocked_v6.to_string()]);
}

/// Issue 17: one network holds at most `max_connections_per_source`
/// WebSockets at once (IPv4 per address, IPv6 per /48); past it, HTTP 429
/// before the upgrade. Other networks are not affected, and a closed
/// connection frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_network_holds_at_most_its_cap_of_open_connections() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = ServerProcess::start_with_config(&format!("{FORWARDED}max_connections_per_source = 3\n"));
    let relay = Relay::start(server.addr()).await;
    let open = |from: &str| {
        let url = relay.url(from);
        async move { Connection::open(&url, WAIT).await }
    };
    let refused = |r: Result<Connection, ClientError>| match r {
        Err(ClientError::Connection(e)) => e.contains("429"),
        Err(e) => panic!("{e}"),
        Ok(_) => false,
    };
    // IPv4: per address.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open("203.0.113.70").await.expect("within the cap"));
    }
    assert!(refused(open("203.0.113.70").await), "a fourth from one address");
    let _other = open("203.0.113.71").await.expect("the next address");
    // IPv6: per /48, whatever the /64.
    let mut held_v6 = Vec::new();
    for subnet in 1..=3 {
        held_v6.push(open(&format!("2001:db8:70:{subnet}::1")).await.expect("within the cap"));
    }
    assert!(refused(open("2001:db8:70:ff::1").await), "a fourth from the /48");
    let _site = open("2001:db8:71::1").await.expect("another /48");
    // A closed connection gives its place back.
    held.pop().expect("held").close().await;
    let deadline = Instant::now() + WAIT;
    loop {
        match open("203.0.113.70").await {
            Ok(c) => {
                held.push(c);
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "the place never came back: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Local tools (loopback without a forwarded address) are not capped.
    let mut local = Vec::new();
    for _ in 0..5 {
        local.push(Connection::open(&server.url(), WAIT).await.expect("a local connection"));
    }
    let handshakes = relay.handshakes();
    let over: Vec<_> = handshakes.iter().filter(|h| h.status == 429).collect();
    assert!(over.len() >= 2, "{handshakes:?}");
}
