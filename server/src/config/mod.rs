//! Server configuration: defaults, overridden by a TOML file, overridden by
//! environment variables and flags (see `main.rs`). Every bound the server
//! enforces is here.
//!
//! Rooms: [`Config`] and its loading here; one file per section group
//! ([`limits`], [`transport`], [`intake`], [`escalation`], [`circles`],
//! [`staff`], [`storage`]); the checks in [`validate`].

mod circles;
mod escalation;
mod intake;
mod limits;
mod staff;
mod storage;
#[cfg(test)]
mod tests;
mod transport;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use circles::CirclesConfig;
pub use escalation::EscalationConfig;
pub use intake::IntakeConfig;
pub use limits::Limits;
pub use staff::{AuditConfig, StaffConfig, StatsConfig};
pub use storage::{StorageBudgets, StorageConfig};
pub use transport::{ConnectionLimits, HttpConfig, TlsConfig};

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
}
