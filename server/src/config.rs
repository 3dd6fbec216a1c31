//! Server configuration: defaults, overridden by a TOML file, overridden by
//! environment variables and flags (see `main.rs`). Every bound the server
//! enforces is here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use parasol_protocol::limits as proto;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Without `[tls]` it must be a loopback address
    /// unless `behind_tls_proxy` says a proxy speaks HTTPS to browsers.
    pub listen: SocketAddr,
    /// Serve HTTPS/WSS with this certificate (README, "TLS").
    pub tls: TlsConfig,
    /// A TLS-terminating proxy in front speaks HTTPS to browsers: plain
    /// HTTP may listen beyond loopback, and responses carry HSTS. Needs
    /// `intake.trusted_proxy_header`: every visitor would otherwise share
    /// the proxy's address and the per-source limits would be off.
    pub behind_tls_proxy: bool,
    /// Where `GET /metrics` is served: a listener of its own, loopback by
    /// default, so the counters (which show traffic and when staff are on
    /// shift) are not public. `"off"` serves no metrics. The main listener
    /// never serves them.
    #[serde(deserialize_with = "metrics_listen")]
    pub metrics_listen: Option<SocketAddr>,
    pub http: HttpConfig,
    /// Folder holding the sled database.
    pub data_dir: PathBuf,
    /// The built web client (`web-client/dist`), served at `/`.
    pub web_root: PathBuf,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Envelopes are deleted this long after arrival even if never acked.
    pub retention_secs: u64,
    /// How often the retention purge runs.
    pub purge_interval_secs: u64,
    /// The retention purge is held (nothing deleted, a warning logged) when
    /// the clock is more than this far ahead of the last purge, or behind
    /// it at all, until the clock has run steadily this long or an operator
    /// runs `admin purge --confirm` (see `purge_guard`). Default: one day.
    pub clock_jump_bound_secs: u64,
    /// Extra wait before each storage round, to batch more writes per flush.
    pub group_commit_delay_ms: u64,
    /// After SIGTERM, exit with status 124 if the graceful shutdown has
    /// not finished by then (storage that stalls must not keep the process
    /// alive; every acknowledged write is already flushed).
    pub shutdown_deadline_secs: u64,
    pub limits: Limits,
    pub connections: ConnectionLimits,
    pub intake: IntakeConfig,
    /// Ensure a `demo` counsellor exists at start, with a fresh password
    /// printed once to stdout (`--demo`). For trying the service only.
    pub demo: bool,
    pub staff: StaffConfig,
    pub audit: AuditConfig,
    pub stats: StatsConfig,
    pub escalation: EscalationConfig,
    pub storage: StorageConfig,
    pub circles: CirclesConfig,
}

/// Peer support circles (`[circles]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CirclesConfig {
    /// Circles in all.
    pub max_circles: usize,
    /// Members of one circle (also capped by `limits.max_members_per_group`).
    pub max_members: u32,
    /// Live invitations of one circle.
    pub max_invitations_per_circle: usize,
    /// Join requests waiting in one circle.
    pub max_pending_joins_per_circle: usize,
    /// The longest an invitation may last.
    pub max_invitation_secs: u32,
    /// The most uses one invitation may have.
    pub max_invitation_uses: u32,
    /// A join request nobody decided is dropped after this long.
    pub join_request_ttl_secs: u64,
}

impl Default for CirclesConfig {
    fn default() -> Self {
        CirclesConfig {
            max_circles: 1_000,
            max_members: 100,
            max_invitations_per_circle: 50,
            max_pending_joins_per_circle: 100,
            max_invitation_secs: 30 * 24 * 3600,
            max_invitation_uses: 1_000,
            join_request_ttl_secs: 7 * 24 * 3600,
        }
    }
}

/// Encryption at rest (`[storage]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The key file sealing the data. Default: `data_dir` with `.keys`
    /// appended (a sibling, so the data folder alone is useless). Keep it
    /// out of the data directory's backups.
    pub key_file: Option<PathBuf>,
    /// Envelopes of one period share a key, destroyed once the period is
    /// `retention_secs` old. Default: one day, or `retention_secs` if less.
    pub key_period_secs: Option<u64>,
    /// sled's page cache, an upper bound it keeps approximately (sled's own
    /// default is 1 GiB, more than a small server has to spare).
    pub cache_bytes: u64,
    /// What anonymous keys may store, and the free-space floor.
    pub budgets: StorageBudgets,
}

/// Byte budgets (`[storage.budgets]`, see `storage/budget.rs`). Each
/// anonymous budget refills evenly over a day; staff draw on none of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageBudgets {
    /// Message and key-package bytes one anonymous key may store a day
    /// (a visitor's whole chat is far below it).
    pub anonymous_key_bytes_per_day: u64,
    /// The same for all anonymous keys of one source together.
    pub anonymous_source_bytes_per_day: u64,
    /// The same for all anonymous keys together: with `retention_secs`
    /// of 7 days, anonymous envelopes take at most 7× this on disk.
    pub anonymous_total_bytes_per_day: u64,
    /// Keys and sources with a budget in memory; past it, new ones share
    /// one budget.
    pub max_tracked_keys: usize,
    /// Below this many free bytes on the data directory's disk nothing new
    /// is stored (`storage_full`); reads, acks, deletions and the purge go
    /// on. Larger than the biggest storage round (32 MiB).
    pub min_free_bytes: u64,
}

impl Default for StorageBudgets {
    fn default() -> Self {
        StorageBudgets {
            anonymous_key_bytes_per_day: 8 * 1024 * 1024,
            anonymous_source_bytes_per_day: 64 * 1024 * 1024,
            anonymous_total_bytes_per_day: 1024 * 1024 * 1024,
            max_tracked_keys: 100_000,
            min_free_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            key_file: None,
            key_period_secs: None,
            cache_bytes: crate::storage::DEFAULT_CACHE_BYTES,
            budgets: StorageBudgets::default(),
        }
    }
}

/// HTTPS/WSS served by the server itself (rustls defaults: TLS 1.2 and
/// 1.3). Either a certificate chain and key in PEM files, re-read on
/// SIGHUP, or a self-signed certificate made at start for trying it out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// Make a self-signed certificate for localhost, 127.0.0.1 and ::1 at
    /// each start; its SHA-256 fingerprint is printed. For demos only.
    pub self_signed: bool,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.self_signed || self.cert_file.is_some()
    }
}

/// How the web client's files are served.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Let browsers cache Vite's hashed assets (`/assets/<name>-<hash>.<ext>`)
    /// for a year. Off by default: a cached script on a searched phone
    /// reveals the visit (SECURITY.md, "Transport security").
    pub cache_hashed_assets: bool,
    /// Origins, besides the server's own, whose pages may open the
    /// WebSocket, e.g. `["https://chat.example.org"]`. A browser's upgrade
    /// from any other origin gets HTTP 403 (cross-site WebSocket
    /// hijacking). The own origin is the one whose host and port are the
    /// request's `Host`; list the public origin here when a proxy in front
    /// rewrites `Host`. Clients that send no `Origin` (native clients, not
    /// browsers) are not affected.
    pub allowed_origins: Vec<String>,
}

/// Escalation to the crisis line (PROTOCOL.md, "Escalation").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationConfig {
    /// The crisis line's webhook endpoint. HTTPS, or HTTP to a loopback
    /// address. None: responders are notified by push only.
    pub webhook_url: Option<String>,
    /// File holding the webhook's HMAC key (at least 16 bytes; kept out of
    /// the config file so the config can be shared).
    pub webhook_secret_file: Option<PathBuf>,
    /// This server's address as the crisis line reaches it, for the
    /// accept callback URL, e.g. `https://chat.example.org`.
    pub public_url: String,
    /// Seconds for a responder to accept before responders are notified
    /// again and the fallback numbers are shown.
    pub accept_timeout_secs: u64,
    /// Re-notifications sent to the crisis line's webhook at most, per
    /// escalation (pushes to responders go on until someone accepts).
    pub max_webhook_renotifications: u32,
    /// Shown to the counsellor and the visitor when nobody accepts in
    /// time, and to a visitor who presses SOS.
    pub fallback_lines: Vec<parasol_protocol::CrisisLine>,
    pub webhook_timeout_secs: u64,
    pub retry_initial_ms: u64,
    pub retry_max_secs: u64,
    /// Undelivered webhook notices kept at most.
    pub max_outbox_entries: usize,
    /// Escalations not yet resolved at most.
    pub max_open_escalations: usize,
    /// Resolved escalations are deleted this long after they ended (the
    /// content-free audit log keeps the history).
    pub keep_resolved_secs: u64,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        EscalationConfig {
            webhook_url: None,
            webhook_secret_file: None,
            public_url: "http://127.0.0.1:8080".into(),
            accept_timeout_secs: 120,
            max_webhook_renotifications: 5,
            fallback_lines: IntakeConfig::default().crisis_lines,
            webhook_timeout_secs: 10,
            retry_initial_ms: 1000,
            retry_max_secs: 300,
            max_outbox_entries: 10_000,
            max_open_escalations: 1_000,
            keep_resolved_secs: 24 * 3600,
        }
    }
}

/// The anonymous intake queue, the counsellors' shifts and the intake's
/// abuse limits (PROTOCOL.md, "Intake").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    /// Languages visitors may ask for (codes the web client translates).
    pub languages: Vec<String>,
    pub topics: Vec<String>,
    /// Tags a counsellor picks when closing a chat (for statistics).
    pub closing_tags: Vec<String>,
    /// IANA time zone of the opening hours, e.g. Europe/Skopje.
    pub time_zone: String,
    /// Empty: always open.
    pub opening_hours: Vec<parasol_protocol::OpeningWindow>,
    /// Shown to every visitor who cannot be served now.
    pub crisis_lines: Vec<parasol_protocol::CrisisLine>,
    /// Waiting tickets at most; past it visitors get `busy`.
    pub max_queue_length: usize,
    /// Open tickets (waiting or in a chat) at most.
    pub max_open_tickets: usize,
    /// Seconds a counsellor has to accept an offer before it moves on.
    pub offer_timeout_secs: u64,
    /// Seconds a disconnected visitor has to come back to a waiting ticket.
    pub resume_grace_secs: u64,
    /// Seconds a waiting visitor whose connections all closed keeps her
    /// place before her ticket is dropped; she is never offered to a
    /// counsellor meanwhile. Her chat's counsellor sees "left" after as
    /// long. (A reload reconnects well within it.)
    pub gone_visitor_grace_secs: u64,
    /// The first guess of seconds of wait per queue position, before any
    /// chat was accepted.
    pub initial_secs_per_position: u32,
    /// Key packages one `request_chat` may carry.
    pub max_key_packages_per_ticket: usize,
    /// Intake requests per minute from everyone together.
    pub global_requests_per_minute: u32,
    /// `team_key_packages` calls per minute from everyone together. Each
    /// call claims a one-time key package from every counsellor, so a flood
    /// could otherwise use them all up (they fall back to their last-resort
    /// package). A call also counts against the per-source budget.
    pub team_key_packages_per_minute: u32,
    /// Intake requests per minute from one source (salted address hash).
    pub requests_per_source_per_minute: u32,
    pub source_burst: u32,
    /// New WebSockets per minute from one source (HTTP 429 past it).
    pub connections_per_source_per_minute: u32,
    pub connection_burst: u32,
    /// WebSockets open at once from one network (an IPv4 address or an
    /// IPv6 /48; HTTP 429 past it). It bounds what one network can hold
    /// of `connections.max_connections`. A shelter or office behind one
    /// NAT address shares it: each person's browser keeps one connection
    /// (two while a reload overlaps), so 32 serves about 15 people at
    /// once. Staff count too: they should connect from their own network,
    /// not a visitor's (SECURITY.md, "Admission").
    pub max_connections_per_source: u32,
    /// Frames per second one anonymous connection may send.
    pub frames_per_second: u32,
    /// Intake attempts per minute that switch proof of work on (0: never).
    pub pow_threshold_per_minute: u32,
    pub pow_difficulty_bits: u8,
    /// Distinct sources the limiters track at most (memory bound).
    pub max_tracked_sources: usize,
    /// Header carrying the client address set by a reverse proxy, e.g.
    /// `x-forwarded-for` (its last entry is used). Honoured only for
    /// connections from `trusted_proxies`.
    pub trusted_proxy_header: Option<String>,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Longest block a counsellor may set (seconds).
    pub max_block_secs: u32,
    /// Sources (salted, in memory) blocked at once; past it the block
    /// that ends soonest gives way. The visitor's key stays blocked.
    pub max_blocked_sources: usize,
    /// Counsellors a sealed team message reaches at most.
    pub max_team_message_recipients: usize,
    /// Sealed team messages waiting at most (also the most visitor keys
    /// holding the team's key packages for a message not yet left).
    pub max_team_messages: usize,
    /// A visitor's `sos` on one ticket is written to the audit log at most
    /// once per this many seconds (the log keeps a bounded number of
    /// entries, so a flood must not push staff actions out of it).
    pub sos_audit_window_secs: u64,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        IntakeConfig {
            languages: strings(&["mk", "sq", "en"]),
            topics: strings(&["violence", "trafficking", "health", "police_legal", "just_talk"]),
            closing_tags: strings(&["support", "information", "referral", "crisis", "no_reply", "abusive"]),
            time_zone: "Europe/Skopje".into(),
            opening_hours: Vec::new(),
            crisis_lines: vec![
                parasol_protocol::CrisisLine {
                    name: "SOS line against human trafficking (Open Gate – La Strada)".into(),
                    number: "0800 11111".into(),
                    hours: "24/7".into(),
                },
                parasol_protocol::CrisisLine {
                    name: "Emergency (ambulance, fire, police)".into(),
                    number: "112".into(),
                    hours: "24/7".into(),
                },
            ],
            max_queue_length: 500,
            max_open_tickets: 5_000,
            offer_timeout_secs: 30,
            resume_grace_secs: 600,
            gone_visitor_grace_secs: 60,
            initial_secs_per_position: 180,
            max_key_packages_per_ticket: 4,
            global_requests_per_minute: 600,
            team_key_packages_per_minute: 10,
            requests_per_source_per_minute: 6,
            source_burst: 3,
            connections_per_source_per_minute: 60,
            connection_burst: 20,
            max_connections_per_source: 32,
            frames_per_second: 20,
            pow_threshold_per_minute: 300,
            pow_difficulty_bits: 16,
            max_tracked_sources: 100_000,
            trusted_proxy_header: None,
            trusted_proxies: vec![
                std::net::IpAddr::from([127, 0, 0, 1]),
                std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ],
            max_block_secs: 30 * 24 * 3600,
            max_blocked_sources: 10_000,
            max_team_message_recipients: 20,
            max_team_messages: 1_000,
            sos_audit_window_secs: 600,
        }
    }
}

/// The metrics listener's default port (`127.0.0.1:9464`, the port
/// registered for Prometheus exporters such as OpenTelemetry's).
pub const DEFAULT_METRICS_PORT: u16 = 9464;

/// `metrics_listen`: an address, or `"off"`.
fn metrics_listen<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    parse_metrics_listen(&text).map_err(serde::de::Error::custom)
}

/// An address such as `127.0.0.1:9464`, or `off` (no metrics listener).
pub fn parse_metrics_listen(text: &str) -> Result<Option<SocketAddr>, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| format!("metrics_listen must be an address such as 127.0.0.1:9464, or \"off\": {text:?}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Protocol limits (PROTOCOL.md, "Limits").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_mls_message_bytes: usize,
    pub max_group_state_bytes: usize,
    pub max_key_package_bytes: usize,
    pub max_key_packages_per_client: u32,
    pub max_key_packages_per_publish: usize,
    pub max_key_package_lifetime_secs: u64,
    pub max_groups_per_client: u32,
    /// Groups a client without a staff session may be in (also capped by
    /// `max_groups_per_client`). A visitor needs one chat and a sealed team
    /// message; anonymous keys cost nothing, so they get a small share.
    pub max_groups_per_anonymous_client: u32,
    pub max_members_per_group: u32,
    /// Groups the server tracks in all.
    pub max_groups: usize,
    /// Of `max_groups`, how many groups created by keys without a staff
    /// session may exist at once. Anonymous keys cost nothing to make, so
    /// without their own pool they could take every group from the chats;
    /// the rest (`max_groups - max_anonymous_groups`) is always left to
    /// staff, whose groups are the chats and circles. Unset: half of
    /// `max_groups`.
    pub max_anonymous_groups: Option<usize>,
    /// Key packages (one-time and last-resort) the directory holds in all:
    /// anonymous keys are free, so the per-client bound alone bounds
    /// nothing.
    pub max_stored_key_packages: usize,
    /// Of `max_stored_key_packages`, how many may belong to keys without a
    /// staff session; the rest is kept for staff consoles, whose packages
    /// hand-overs, transfers and escalations need. Unset: half of
    /// `max_stored_key_packages`.
    pub max_anonymous_stored_key_packages: Option<usize>,
    /// A key package of a key without a staff session is kept at most this
    /// long after it is published, whatever lifetime it claims (visitors'
    /// keys are used within minutes; staff keep the MLS lifetime, up to
    /// `max_key_package_lifetime_secs`).
    pub max_anonymous_key_package_lifetime_secs: u64,
    pub max_mailbox_envelopes: u64,
    pub max_fetch_limit: u32,
    pub push_window: u64,
    /// Key packages one connection may claim per minute.
    pub key_package_claims_per_minute: u32,
    /// Key packages of one client that may be claimed per minute, by
    /// everyone together: nobody can drain a client's stock quickly.
    pub key_package_claims_per_target_per_minute: u32,
    /// Commits one connection may send per minute.
    pub commits_per_minute: u32,
    /// Groups left without any activity this long are deleted.
    pub group_idle_expiry_secs: u64,
    /// Groups created by a key without a staff session that are neither an
    /// intake chat, a team message nor a circle are deleted after this much
    /// idle time (a visitor's own throwaway groups).
    pub anonymous_group_idle_expiry_secs: u64,
    /// Heavy MLS validation (key packages, a new group's ratchet tree) runs
    /// on blocking threads, at most this many at once for staff sessions...
    pub staff_validation_threads: usize,
    /// ...and at most this many at once for everyone else, so a flood of
    /// anonymous uploads never makes a staff console wait.
    pub anonymous_validation_threads: usize,
    /// Validation work one anonymous source may ask for per minute, in
    /// units: one per key package, one per new group plus one per started
    /// 4 KiB of its ratchet tree. Past it: `rate_limited`.
    pub validations_per_source_per_minute: u32,
    /// The burst of that budget.
    pub validation_source_burst: u32,
}

/// Bounds on connections (PROTOCOL.md, "Connections").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub auth_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    /// Requests one connection may have waiting for durability at once.
    pub max_inflight_requests: usize,
    /// Bad frames tolerated before authentication.
    pub max_errors_before_auth: u32,
    /// WebSocket read buffer per connection (bytes).
    pub read_buffer_bytes: usize,
    /// WebSocket write buffer per connection (bytes).
    pub write_buffer_bytes: usize,
    /// Bytes queued for one client before it counts as a slow consumer
    /// (close 4002). Pushes pause at half of it.
    pub max_send_queue_bytes: usize,
    /// A write to the socket that does not finish in this time means the
    /// client stopped reading: close 4002.
    pub write_stall_secs: u64,
    /// The kernel's send buffer for each accepted socket (Linux doubles
    /// it). Left to itself the kernel grows a buffer to 4 MiB for a client
    /// that never reads; a fixed size bounds that memory and lets a stalled
    /// write show within `write_stall_secs`.
    pub socket_send_buffer_bytes: u32,
    /// A TLS handshake, and an HTTP request's headers, must arrive within
    /// this time or the connection is dropped (slowloris).
    pub handshake_timeout_secs: u64,
    /// Connections the kernel queues before they are accepted (capped by
    /// `net.core.somaxconn`). Too small, and a burst of reconnects has its
    /// SYNs dropped and retried after 1, 3, 7, 15… seconds.
    pub listen_backlog: u32,
    /// Largest HTTP request body any route accepts (HTTP 413 past it). The
    /// staff login route has its own, smaller limit.
    pub max_request_body_bytes: usize,
}

/// Staff accounts, logins and sessions (README, "Admin CLI").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaffConfig {
    /// Staff accounts in all, disabled ones included.
    pub max_accounts: usize,
    /// A login session lasts this long.
    pub session_ttl_secs: u64,
    /// Live sessions in all, and per account (the oldest of an account
    /// ends when it logs in once more).
    pub max_sessions: usize,
    pub max_sessions_per_account: usize,
    /// argon2id cost of new password hashes (existing hashes keep theirs).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Password checks running at once (each takes `argon2_memory_kib`).
    pub max_concurrent_password_checks: usize,
    /// Logins waiting for a password check; more are told to retry.
    pub max_waiting_logins: usize,
    /// Of those, the logins one source (salted address) may have waiting:
    /// a flood of guesses from one place cannot fill the queue that
    /// everyone's logins wait in.
    pub max_waiting_logins_per_source: usize,
    /// Login attempts one username may make from one source at once, and
    /// the seconds that win back one more. Failures from another place do
    /// not count against a login from here.
    pub login_attempts_burst: u32,
    pub login_attempt_interval_secs: u64,
    /// Login attempts one source may make at once, whatever the usernames
    /// (an office of staff behind one address logs in through it), and the
    /// seconds that win back one more.
    pub login_attempts_per_source_burst: u32,
    pub login_source_attempt_interval_secs: u64,
    /// (username, source) pairs the login throttle remembers at once. Past
    /// it, a source's new pairs share one bucket of that source (of
    /// `login_attempts_burst`), never a bucket shared with other sources.
    pub max_throttled_usernames: usize,
    /// Sources the login throttle remembers at once. Past it, new sources
    /// share one strict bucket (of `login_attempts_per_source_burst`);
    /// sources already remembered are not affected.
    pub max_throttled_sources: usize,
}

/// The audit log of staff actions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Entries older than this are deleted.
    pub retention_days: u64,
    /// Entries kept at most; the oldest go first.
    pub max_entries: u64,
}

/// Anonymous daily statistics.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsConfig {
    /// Days of counters kept.
    pub retention_days: u64,
}

impl Default for StaffConfig {
    fn default() -> Self {
        StaffConfig {
            max_accounts: 1000,
            session_ttl_secs: 12 * 3600,
            max_sessions: 10_000,
            max_sessions_per_account: 8,
            // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_password_checks: 2,
            max_waiting_logins: 64,
            max_waiting_logins_per_source: 4,
            login_attempts_burst: 5,
            login_attempt_interval_secs: 60,
            login_attempts_per_source_burst: 30,
            login_source_attempt_interval_secs: 3,
            max_throttled_usernames: 10_000,
            max_throttled_sources: 10_000,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention_days: 365,
            max_entries: 1_000_000,
        }
    }
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            retention_days: 10 * 366,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: TlsConfig::default(),
            behind_tls_proxy: false,
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], DEFAULT_METRICS_PORT))),
            http: HttpConfig::default(),
            data_dir: PathBuf::from("./data"),
            web_root: PathBuf::from("./web-client/dist"),
            log_format: LogFormat::Text,
            retention_secs: 7 * 24 * 3600,
            purge_interval_secs: 600,
            clock_jump_bound_secs: 86_400,
            group_commit_delay_ms: 0,
            shutdown_deadline_secs: 4,
            limits: Limits::default(),
            connections: ConnectionLimits::default(),
            intake: IntakeConfig::default(),
            demo: false,
            staff: StaffConfig::default(),
            audit: AuditConfig::default(),
            stats: StatsConfig::default(),
            escalation: EscalationConfig::default(),
            storage: StorageConfig::default(),
            circles: CirclesConfig::default(),
        }
    }
}

impl Limits {
    /// Groups keys without a staff session may hold at once (their pool).
    pub fn anonymous_groups(&self) -> usize {
        self.max_anonymous_groups.unwrap_or(self.max_groups / 2).max(1)
    }

    /// Key packages keys without a staff session may have stored at once.
    pub fn anonymous_stored_key_packages(&self) -> usize {
        self.max_anonymous_stored_key_packages
            .unwrap_or(self.max_stored_key_packages / 2)
            .max(1)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: proto::MAX_FRAME_BYTES,
            max_mls_message_bytes: proto::MAX_MLS_MESSAGE_BYTES,
            max_group_state_bytes: proto::MAX_GROUP_STATE_BYTES,
            max_key_package_bytes: proto::MAX_KEY_PACKAGE_BYTES,
            max_key_packages_per_client: proto::MAX_KEY_PACKAGES_PER_CLIENT,
            max_key_packages_per_publish: proto::MAX_KEY_PACKAGES_PER_PUBLISH,
            max_key_package_lifetime_secs: proto::MAX_KEY_PACKAGE_LIFETIME_SECS,
            max_groups_per_client: proto::MAX_GROUPS_PER_CLIENT,
            max_groups_per_anonymous_client: 4,
            max_members_per_group: proto::MAX_MEMBERS_PER_GROUP,
            max_groups: 100_000,
            max_anonymous_groups: None,
            max_stored_key_packages: 200_000,
            max_anonymous_stored_key_packages: None,
            max_anonymous_key_package_lifetime_secs: 3 * 24 * 3600,
            max_mailbox_envelopes: proto::MAX_MAILBOX_ENVELOPES,
            max_fetch_limit: proto::MAX_FETCH_LIMIT,
            push_window: proto::PUSH_WINDOW,
            key_package_claims_per_minute: 120,
            key_package_claims_per_target_per_minute: 30,
            commits_per_minute: 60,
            group_idle_expiry_secs: 30 * 24 * 3600,
            anonymous_group_idle_expiry_secs: 6 * 3600,
            staff_validation_threads: 2,
            anonymous_validation_threads: 1,
            validations_per_source_per_minute: 600,
            validation_source_burst: 300,
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 60_000,
            auth_timeout_secs: 10,
            idle_timeout_secs: 300,
            max_inflight_requests: 256,
            max_errors_before_auth: 5,
            read_buffer_bytes: 4096,
            write_buffer_bytes: 4096,
            max_send_queue_bytes: 8 * 1024 * 1024,
            write_stall_secs: 30,
            socket_send_buffer_bytes: 64 * 1024,
            listen_backlog: 4096,
            handshake_timeout_secs: 10,
            max_request_body_bytes: 64 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// The key file and rotation of the storage vault.
    pub fn vault(&self) -> crate::storage::VaultConfig {
        let key_file = match (&self.storage.key_file, self.data_dir.file_name()) {
            (Some(file), _) => file.clone(),
            (None, Some(name)) => {
                let mut name = name.to_owned();
                name.push(".keys");
                // `./data/` → `./data.keys`, beside the folder, not in it.
                self.data_dir.with_file_name(name)
            }
            // Refused by `validate`; never inside the data directory.
            (None, None) => PathBuf::from("parasol.keys"),
        };
        crate::storage::VaultConfig {
            key_file,
            period_secs: self
                .storage
                .key_period_secs
                .unwrap_or(self.retention_secs.min(86_400))
                .max(1),
            retention_secs: self.retention_secs,
        }
    }

    /// Defaults, or defaults overridden by the TOML file at `path`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.into(),
                message,
            },
            other => other,
        })
    }

    /// Parse TOML text (unknown keys are errors, so typos do not pass silently).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.message().to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        if l.max_frame_bytes < 1024 || l.max_frame_bytes > 64 * 1024 * 1024 {
            return bad("limits.max_frame_bytes must be between 1 KiB and 64 MiB");
        }
        if l.max_mls_message_bytes > l.max_frame_bytes {
            return bad("limits.max_mls_message_bytes cannot exceed limits.max_frame_bytes");
        }
        if l.push_window == 0 || l.max_fetch_limit == 0 || l.max_members_per_group < 2 {
            return bad(
                "limits.push_window, limits.max_fetch_limit must be positive and max_members_per_group at least 2",
            );
        }
        if l.key_package_claims_per_minute == 0
            || l.key_package_claims_per_target_per_minute == 0
            || l.commits_per_minute == 0
            || l.group_idle_expiry_secs == 0
            || self.connections.max_inflight_requests == 0
            || self.connections.write_stall_secs == 0
            || self.connections.max_connections == 0
            || self.connections.listen_backlog == 0
            || self.connections.handshake_timeout_secs == 0
        {
            return bad("rates, connection and in-flight limits must be positive");
        }
        let c = &self.circles;
        if c.max_circles == 0
            || c.max_members < 2
            || c.max_invitations_per_circle == 0
            || c.max_pending_joins_per_circle == 0
            || c.max_invitation_secs == 0
            || c.max_invitation_uses == 0
            || c.join_request_ttl_secs == 0
        {
            return bad("circles bounds must be positive, and max_members at least 2");
        }
        if self.storage.cache_bytes < 1024 * 1024 {
            return bad("storage.cache_bytes must be at least 1 MiB");
        }
        if self.connections.socket_send_buffer_bytes < 4096 {
            return bad("connections.socket_send_buffer_bytes must be at least 4096");
        }
        if l.max_group_state_bytes > l.max_frame_bytes || l.max_key_package_bytes > l.max_frame_bytes {
            return bad("limits.max_group_state_bytes and max_key_package_bytes cannot exceed limits.max_frame_bytes");
        }
        // Zero in any of these would refuse every client.
        if l.max_groups_per_client == 0
            || l.max_groups == 0
            || l.max_key_packages_per_client == 0
            || l.max_key_packages_per_publish == 0
            || l.max_key_package_lifetime_secs == 0
            || l.max_mailbox_envelopes == 0
        {
            return bad("limits on groups, key packages and mailboxes must be positive");
        }
        if l.max_groups_per_anonymous_client < 2 {
            return bad("limits.max_groups_per_anonymous_client must be at least 2 (a chat and a team message)");
        }
        if l.max_stored_key_packages <= l.max_key_packages_per_client as usize {
            return bad("limits.max_stored_key_packages must exceed limits.max_key_packages_per_client");
        }
        // Each pool must hold what one client may need, and the anonymous
        // one must leave staff a share.
        if l.max_anonymous_groups.is_some_and(|n| n == 0 || n >= l.max_groups) {
            return bad("limits.max_anonymous_groups must be positive and less than limits.max_groups");
        }
        if l.max_anonymous_stored_key_packages
            .is_some_and(|n| n == 0 || n >= l.max_stored_key_packages)
        {
            return bad("limits.max_anonymous_stored_key_packages must be positive and less than limits.max_stored_key_packages");
        }
        if l.anonymous_group_idle_expiry_secs == 0
            || l.max_anonymous_key_package_lifetime_secs == 0
            || l.staff_validation_threads == 0
            || l.anonymous_validation_threads == 0
            || l.validations_per_source_per_minute == 0
            || l.validation_source_burst == 0
        {
            return bad("limits on anonymous expiry, key-package lifetime and validation must be positive");
        }
        let c = &self.connections;
        if c.auth_timeout_secs == 0 || c.idle_timeout_secs == 0 {
            return bad("connections.auth_timeout_secs and idle_timeout_secs must be positive");
        }
        if c.read_buffer_bytes < 512 {
            return bad("connections.read_buffer_bytes must be at least 512");
        }
        if c.max_request_body_bytes < 1024 {
            return bad("connections.max_request_body_bytes must be at least 1 KiB");
        }
        if self.connections.max_send_queue_bytes < 2 * l.max_frame_bytes {
            return bad("connections.max_send_queue_bytes must be at least twice limits.max_frame_bytes");
        }
        if self.connections.handshake_timeout_secs > 300 {
            return bad("connections.handshake_timeout_secs must be at most 300");
        }
        self.validate_transport()?;
        if self.retention_secs == 0 || self.purge_interval_secs == 0 {
            return bad("retention_secs and purge_interval_secs must be positive");
        }
        // Smaller than the interval, every normal gap between two purges
        // would look like a jump.
        if self.clock_jump_bound_secs < self.purge_interval_secs {
            return bad("clock_jump_bound_secs must be at least purge_interval_secs");
        }
        // A period longer than retention would keep its key (and so its
        // envelopes' readability in sled's log) up to twice as long.
        if self
            .storage
            .key_period_secs
            .is_some_and(|p| p == 0 || p > self.retention_secs)
        {
            return bad("storage.key_period_secs must be positive and at most retention_secs");
        }
        if self.storage.key_file.is_none() && self.data_dir.file_name().is_none() {
            return bad("storage.key_file must be set when data_dir has no folder name (such as `.` or `/`)");
        }
        if self.vault().key_file.starts_with(&self.data_dir) {
            return bad("storage.key_file must not be inside data_dir");
        }
        let i = &self.intake;
        if i.languages.is_empty() || i.topics.is_empty() || i.closing_tags.is_empty() {
            return bad("intake.languages, intake.topics and intake.closing_tags must not be empty");
        }
        if i.max_queue_length == 0 || i.max_open_tickets < i.max_queue_length {
            return bad("intake.max_queue_length must be positive and at most intake.max_open_tickets");
        }
        if i.offer_timeout_secs == 0
            || i.resume_grace_secs == 0
            || i.gone_visitor_grace_secs == 0
            || i.global_requests_per_minute == 0
            || i.team_key_packages_per_minute == 0
            || i.sos_audit_window_secs == 0
            || i.requests_per_source_per_minute == 0
            || i.connections_per_source_per_minute == 0
            || i.frames_per_second == 0
            || i.max_key_packages_per_ticket == 0
            || i.max_tracked_sources == 0
            || i.max_connections_per_source == 0
            || i.max_blocked_sources == 0
        {
            return bad("intake timeouts, rates and bounds must be positive");
        }
        if i.pow_difficulty_bits > 28 {
            return bad("intake.pow_difficulty_bits above 28 would lock out phones");
        }
        if let Err(e) = crate::intake::hours::OpeningHours::new(&i.time_zone, i.opening_hours.clone()) {
            return Err(ConfigError::Invalid(format!("intake: {e}")));
        }
        let st = &self.staff;
        if st.max_accounts == 0
            || st.session_ttl_secs == 0
            || st.max_sessions == 0
            || st.max_sessions_per_account == 0
            || st.max_concurrent_password_checks == 0
            || st.login_attempts_burst == 0
            || st.login_attempt_interval_secs == 0
            || st.max_throttled_usernames == 0
            || st.max_waiting_logins_per_source == 0
            || st.login_attempts_per_source_burst == 0
            || st.login_source_attempt_interval_secs == 0
            || st.max_throttled_sources == 0
        {
            return bad("staff limits must be positive");
        }
        if argon2::Params::new(st.argon2_memory_kib, st.argon2_iterations, st.argon2_parallelism, None).is_err() {
            return bad(
                "staff.argon2_memory_kib, argon2_iterations, argon2_parallelism are not valid argon2 parameters",
            );
        }
        if self.audit.retention_days == 0 || self.audit.max_entries == 0 || self.stats.retention_days == 0 {
            return bad("audit and stats retention and bounds must be positive");
        }
        let e = &self.escalation;
        if e.accept_timeout_secs == 0
            || e.webhook_timeout_secs == 0
            || e.retry_initial_ms == 0
            || e.retry_max_secs == 0
            || e.max_outbox_entries == 0
            || e.max_open_escalations == 0
            || e.keep_resolved_secs == 0
        {
            return bad("escalation timeouts and bounds must be positive");
        }
        if e.fallback_lines.is_empty() {
            return bad("escalation.fallback_lines must not be empty");
        }
        if let Some(url) = &e.webhook_url {
            let url: reqwest::Url = url
                .parse()
                .map_err(|_| ConfigError::Invalid("escalation.webhook_url is not a URL".into()))?;
            let loopback = match url.host() {
                Some(url::Host::Ipv4(a)) => a.is_loopback(),
                Some(url::Host::Ipv6(a)) => a.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
                return bad("escalation.webhook_url must be https (plain http only to a loopback address)");
            }
            if e.webhook_secret_file.is_none() {
                return bad("escalation.webhook_secret_file is needed with escalation.webhook_url");
            }
        }
        if e.public_url.parse::<reqwest::Url>().is_err() {
            return bad("escalation.public_url is not a URL");
        }
        Ok(())
    }
}

impl Config {
    /// TLS settings are whole, and plain HTTP stays on loopback unless a
    /// TLS-terminating proxy is declared: a visitor's traffic must never
    /// cross a network in the clear.
    fn validate_transport(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        let t = &self.tls;
        if t.cert_file.is_some() != t.key_file.is_some() {
            return bad("tls.cert_file and tls.key_file go together");
        }
        if t.self_signed && t.cert_file.is_some() {
            return bad("tls.self_signed and tls.cert_file exclude each other");
        }
        if !t.enabled() && !self.behind_tls_proxy && !self.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "refusing plain HTTP on the non-loopback address {}: give a certificate \
                 (tls.cert_file and tls.key_file, or --tls-cert and --tls-key), or set \
                 behind_tls_proxy = true (--behind-tls-proxy) if a TLS-terminating proxy is in front",
                self.listen.ip()
            )));
        }
        // Behind a proxy every connection comes from the proxy: without
        // its header the per-source limits would count everyone as one
        // source, or (a loopback proxy) as none at all.
        if self.behind_tls_proxy && self.intake.trusted_proxy_header.is_none() {
            return bad(
                "behind_tls_proxy = true needs intake.trusted_proxy_header (e.g. \"x-forwarded-for\", \
                 the header the proxy sets to the client's address) and intake.trusted_proxies \
                 (the proxy's addresses, default loopback): without them every visitor arrives from \
                 the proxy's address and the per-source limits are off",
            );
        }
        if let Some(metrics) = self.metrics_listen {
            if metrics.port() != 0 && metrics == self.listen {
                return bad("metrics_listen must differ from listen (the main listener never serves /metrics)");
            }
        }
        for origin in &self.http.allowed_origins {
            if crate::http::origin::parse_allowed(origin).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "http.allowed_origins: {origin:?} is not an origin such as https://chat.example.org \
                     (scheme http or https, a host, an optional port, no path)"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.listen, Config::default().listen);
        assert_eq!(c.limits.max_members_per_group, 100);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(matches!(
            Config::parse("lissten = '1.2.3.4:5'"),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            Config::parse("[limits]\nmax_frame_bytes = 1"),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            Config::parse("retention_secs = -1"),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn staff_audit_and_stats_settings_parse_and_are_checked() {
        let c = Config::parse(
            "demo = true\n[staff]\nsession_ttl_secs = 60\nargon2_memory_kib = 65536\n[audit]\nretention_days = 30\n[stats]\nretention_days = 400\n",
        )
        .unwrap();
        assert!(c.demo);
        assert_eq!(c.staff.session_ttl_secs, 60);
        assert_eq!(c.staff.argon2_memory_kib, 65536);
        assert_eq!(c.staff.max_accounts, 1000);
        assert_eq!(c.audit.retention_days, 30);
        assert_eq!(c.stats.retention_days, 400);
        for bad in [
            "[staff]\nargon2_memory_kib = 1",
            "[staff]\nsession_ttl_secs = 0",
            "[audit]\nmax_entries = 0",
        ] {
            assert!(matches!(Config::parse(bad), Err(ConfigError::Invalid(_))), "{bad}");
        }
        assert!(matches!(
            Config::parse("[staff]\nsession_ttl = 5"),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn plain_http_beyond_loopback_needs_tls_or_a_proxy() {
        let plain = Config::parse("listen = \"0.0.0.0:8080\"");
        let Err(ConfigError::Invalid(message)) = plain else {
            panic!("plain HTTP on 0.0.0.0 accepted: {plain:?}")
        };
        assert!(message.contains("behind_tls_proxy"), "{message}");
        assert!(Config::parse("listen = \"[::]:8080\"").is_err());
        assert!(Config::parse(
            "listen = \"0.0.0.0:8080\"\nbehind_tls_proxy = true\n[intake]\ntrusted_proxy_header = \"x-forwarded-for\""
        )
        .is_ok());
        assert!(Config::parse("listen = \"0.0.0.0:8080\"\n[tls]\nself_signed = true").is_ok());
        let with_files = "listen = \"0.0.0.0:8443\"\n[tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"";
        assert!(Config::parse(with_files).unwrap().tls.enabled());
        assert!(Config::parse("listen = \"[::1]:8080\"").is_ok());
        for bad in [
            "[tls]\ncert_file = \"c.pem\"",
            "[tls]\nself_signed = true\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"",
            "[connections]\nhandshake_timeout_secs = 0",
        ] {
            assert!(matches!(Config::parse(bad), Err(ConfigError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn bounds_that_would_lock_everyone_out_are_refused() {
        for bad in [
            "[connections]\nauth_timeout_secs = 0",
            "[connections]\nidle_timeout_secs = 0",
            "[connections]\nmax_connections = 0",
            "[connections]\nwrite_stall_secs = 0",
            "[connections]\nmax_inflight_requests = 0",
            "[connections]\nread_buffer_bytes = 0",
            "[connections]\nmax_request_body_bytes = 0",
            "[connections]\nmax_send_queue_bytes = 1024",
            "[connections]\nsocket_send_buffer_bytes = 1024",
            "[storage]\ncache_bytes = 4096",
            "[circles]\nmax_members = 1",
            "[circles]\nmax_invitation_uses = 0",
            "[limits]\nmax_groups_per_client = 0",
            "[limits]\nmax_groups_per_anonymous_client = 1",
            "[limits]\nmax_groups = 0",
            "[limits]\nmax_members_per_group = 1",
            "[limits]\nmax_key_packages_per_client = 0",
            "[limits]\nmax_key_packages_per_publish = 0",
            "[limits]\nmax_stored_key_packages = 100",
            "[limits]\nmax_anonymous_groups = 0",
            "[limits]\nmax_groups = 10\nmax_anonymous_groups = 10",
            "[limits]\nmax_anonymous_stored_key_packages = 200000",
            "[limits]\nanonymous_group_idle_expiry_secs = 0",
            "[limits]\nanonymous_validation_threads = 0",
            "[limits]\nvalidations_per_source_per_minute = 0",
            "[limits]\nmax_mailbox_envelopes = 0",
            "[limits]\nmax_key_package_bytes = 2000000",
            "[intake]\nmax_queue_length = 0",
            "[intake]\nmax_tracked_sources = 0",
            "[intake]\nmax_connections_per_source = 0",
            "[intake]\nmax_blocked_sources = 0",
            "[staff]\nlogin_attempts_per_source_burst = 0",
            "[staff]\nmax_waiting_logins_per_source = 0",
            "[staff]\nmax_throttled_sources = 0",
            "[intake]\nteam_key_packages_per_minute = 0",
            "[escalation]\nmax_open_escalations = 0",
        ] {
            assert!(matches!(Config::parse(bad), Err(ConfigError::Invalid(_))), "{bad}");
        }
        let c = Config::parse(
            "[limits]\nmax_groups_per_anonymous_client = 2\nmax_stored_key_packages = 101\n[connections]\nmax_request_body_bytes = 1024\n",
        )
        .unwrap();
        assert_eq!(c.limits.max_groups_per_anonymous_client, 2);
        assert_eq!(c.limits.max_stored_key_packages, 101);
        assert_eq!(c.connections.max_request_body_bytes, 1024);
    }

    #[test]
    fn nested_values_override() {
        let c = Config::parse("retention_secs = 60\n[limits]\nmax_members_per_group = 8\n").unwrap();
        assert_eq!(c.retention_secs, 60);
        assert_eq!(c.limits.max_members_per_group, 8);
        assert_eq!(c.limits.max_groups_per_client, 100);
    }

    #[test]
    fn the_key_file_sits_beside_the_data_directory_and_never_in_it() {
        let c = Config::parse("data_dir = \"/srv/parasol/data/\"\n").unwrap();
        assert_eq!(c.vault().key_file, PathBuf::from("/srv/parasol/data.keys"));
        assert_eq!(c.vault().period_secs, 86_400);
        let short = Config::parse("retention_secs = 60\n").unwrap();
        assert_eq!(short.vault().period_secs, 60, "a period never outlasts retention");
        for bad in [
            "data_dir = \"/srv/d\"\n[storage]\nkey_file = \"/srv/d/keys\"",
            "data_dir = \".\"",
            "retention_secs = 60\n[storage]\nkey_period_secs = 61",
            "[storage]\nkey_period_secs = 0",
        ] {
            assert!(matches!(Config::parse(bad), Err(ConfigError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn a_proxy_without_its_client_address_header_is_refused() {
        let Err(ConfigError::Invalid(message)) = Config::parse("behind_tls_proxy = true") else {
            panic!("behind_tls_proxy without trusted_proxy_header accepted")
        };
        assert!(message.contains("intake.trusted_proxy_header"), "{message}");
        assert!(message.contains("per-source limits are off"), "{message}");
        let c = Config::parse("behind_tls_proxy = true\n[intake]\ntrusted_proxy_header = \"x-real-ip\"").unwrap();
        assert_eq!(c.intake.trusted_proxy_header.as_deref(), Some("x-real-ip"));
    }

    #[test]
    fn metrics_listen_defaults_to_loopback_and_can_be_moved_or_turned_off() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        let moved = Config::parse("metrics_listen = \"[::1]:9100\"").unwrap();
        assert_eq!(moved.metrics_listen, Some("[::1]:9100".parse().unwrap()));
        assert_eq!(Config::parse("metrics_listen = \"off\"").unwrap().metrics_listen, None);
        assert!(matches!(
            Config::parse("metrics_listen = \"nine\""),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            Config::parse("listen = \"127.0.0.1:8080\"\nmetrics_listen = \"127.0.0.1:8080\""),
            Err(ConfigError::Invalid(_))
        ));
        // Port 0 on both picks two free ports.
        assert!(Config::parse("listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"").is_ok());
    }

    #[test]
    fn allowed_origins_must_be_origins() {
        let c = Config::parse("[http]\nallowed_origins = [\"https://chat.example.org\", \"http://localhost:5173\"]")
            .unwrap();
        assert_eq!(c.http.allowed_origins.len(), 2);
        assert!(Config::parse("").unwrap().http.allowed_origins.is_empty());
        for bad in [
            "https://chat.example.org/path",
            "chat.example.org",
            "ftp://chat.example.org",
            "https://user@chat.example.org",
            "null",
            "",
        ] {
            let text = format!("[http]\nallowed_origins = [{bad:?}]");
            assert!(matches!(Config::parse(&text), Err(ConfigError::Invalid(_))), "{bad}");
        }
    }
}
