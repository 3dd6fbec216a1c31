//! The checks a configuration passes before the server starts.

use super::{Config, ConfigError};

impl Config {
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
        // A crisis line's name in a language nobody is served in would never be shown.
        let lines = i.crisis_lines.iter().chain(&self.escalation.fallback_lines);
        if lines
            .flat_map(|l| &l.names)
            .any(|n| !i.languages.contains(&n.language) || n.name.trim().is_empty())
        {
            return bad("a crisis line's `names` must each have a language of intake.languages and a name");
        }
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
