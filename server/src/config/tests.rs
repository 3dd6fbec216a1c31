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
    let c =
        Config::parse("[http]\nallowed_origins = [\"https://chat.example.org\", \"http://localhost:5173\"]").unwrap();
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
