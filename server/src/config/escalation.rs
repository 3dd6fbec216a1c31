//! `[escalation]`: escalation to the crisis line.

use std::path::PathBuf;

use serde::Deserialize;

use super::IntakeConfig;

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
