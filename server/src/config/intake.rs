//! `[intake]`: the anonymous intake queue, shifts and abuse limits.

use serde::Deserialize;

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
        let names = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(l, n)| parasol_protocol::LocalName {
                    language: l.to_string(),
                    name: n.to_string(),
                })
                .collect()
        };
        IntakeConfig {
            languages: strings(&["mk", "sq", "en"]),
            topics: strings(&["violence", "trafficking", "health", "police_legal", "just_talk"]),
            closing_tags: strings(&["support", "information", "referral", "crisis", "no_reply", "abusive"]),
            time_zone: "Europe/Skopje".into(),
            opening_hours: Vec::new(),
            crisis_lines: vec![
                parasol_protocol::CrisisLine {
                    name: "SOS line against human trafficking (Open Gate – La Strada)".into(),
                    names: names(&[
                        ("mk", "СОС линија против трговија со луѓе (Отворена порта – Ла Страда)"),
                        ("sq", "Linja SOS kundër trafikimit të njerëzve (Open Gate – La Strada)"),
                    ]),
                    number: "0800 11111".into(),
                    hours: "24/7".into(),
                },
                parasol_protocol::CrisisLine {
                    name: "Emergency (ambulance, fire, police)".into(),
                    names: names(&[
                        ("mk", "Итни случаи (брза помош, пожарна, полиција)"),
                        ("sq", "Urgjenca (ndihma e shpejtë, zjarrfikësit, policia)"),
                    ]),
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
