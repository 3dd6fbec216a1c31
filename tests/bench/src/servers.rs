//! The servers under test, each a child process on loopback with its own
//! temporary data directory: parasol-server (the release binary unless told
//! otherwise) and the baseline relay (this binary, `baseline` subcommand).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::baseline::Mode;

/// Which server a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    BaselineMemory,
    BaselineSled,
    Parasol,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::BaselineMemory, Target::BaselineSled, Target::Parasol];

    pub fn name(self) -> &'static str {
        match self {
            Target::BaselineMemory => "baseline-memory",
            Target::BaselineSled => "baseline-sled",
            Target::Parasol => "parasol",
        }
    }
}

/// Parasol configuration for scenarios that are not about abuse: the
/// anonymous per-connection frame rate, per-source connection rate and
/// anonymous byte quotas are lifted, so the numbers show the relay and not
/// the limiters.
pub const UNLIMITED_CONFIG: &str = r#"
[intake]
frames_per_second = 1000000
connections_per_source_per_minute = 1000000
connection_burst = 1000000
[connections]
max_connections = 200000
idle_timeout_secs = 3600
auth_timeout_secs = 60
[limits]
commits_per_minute = 1000000
key_package_claims_per_minute = 1000000
[storage.budgets]
anonymous_key_bytes_per_day = 1099511627776
anonymous_source_bytes_per_day = 1099511627776
anonymous_total_bytes_per_day = 1099511627776
"#;

/// Parasol configuration with the default abuse limits, and the client
/// address taken from `x-forwarded-for` (set by the load generator, which
/// plays the reverse proxy), so a flood has a source to be limited by.
pub const ABUSE_LIMITS_CONFIG: &str = r#"
[intake]
trusted_proxy_header = "x-forwarded-for"
[connections]
idle_timeout_secs = 3600
[limits]
commits_per_minute = 1000000
"#;

/// [`ABUSE_LIMITS_CONFIG`] with small anonymous pools and a small byte
/// quota per anonymous key, for the many-key budget flood of (d): a flood
/// fills them within seconds, where the defaults (50,000 anonymous groups,
/// 100,000 anonymous key packages, 8 MiB a day per key) would take hours.
/// The real chats' groups fit beside `room` more (1:1 chat senders store
/// well under 128 KiB in a run).
pub fn budget_flood_config(chat_groups: usize, room: usize) -> String {
    let anonymous_groups = chat_groups + room;
    let anonymous_key_packages = room * 2;
    format!(
        r#"
[intake]
trusted_proxy_header = "x-forwarded-for"
[connections]
idle_timeout_secs = 3600
[limits]
commits_per_minute = 1000000
max_groups = {}
max_anonymous_groups = {anonymous_groups}
max_stored_key_packages = {}
max_anonymous_stored_key_packages = {anonymous_key_packages}
[storage.budgets]
anonymous_key_bytes_per_day = 131072
"#,
        anonymous_groups * 4,
        // Above the per-client cap (staff consoles hold up to 100).
        anonymous_key_packages * 4 + 1_000
    )
}

/// A running server process.
pub struct Server {
    pub target: Target,
    child: Child,
    pub addr: SocketAddr,
    /// parasol-server's metrics listener (`GET /metrics`); the baseline has none.
    pub metrics_addr: Option<SocketAddr>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// WebSocket URL for a client of `group` (the baseline routes by it;
    /// Parasol reads the group from the MLS framing).
    pub fn url(&self, group: u64, replay: bool) -> String {
        match self.target {
            Target::Parasol => format!("ws://{}/v1/ws", self.addr),
            _ => format!("ws://{}/ws?group={group}&replay={}", self.addr, u8::from(replay)),
        }
    }

    pub fn start(target: Target, parasol_bin: &Path, parasol_config: &str) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let mut cmd = match target {
            Target::Parasol => {
                let config_path = dir.path().join("parasol.toml");
                std::fs::write(
                    &config_path,
                    format!(
                        "listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nweb_root = \"{}\"\n{parasol_config}\n",
                        data.display(),
                        dir.path().join("no-web-client").display()
                    ),
                )?;
                let mut cmd = Command::new(parasol_bin);
                cmd.arg("--config").arg(config_path).env("PARASOL_LOG", "error");
                cmd
            }
            Target::BaselineMemory | Target::BaselineSled => {
                let mode = if target == Target::BaselineSled {
                    Mode::Sled
                } else {
                    Mode::Memory
                };
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.arg("baseline")
                    .arg("--mode")
                    .arg(format!("{mode:?}").to_lowercase())
                    .arg("--data-dir")
                    .arg(&data);
                cmd
            }
        };
        cmd.env_remove("PARASOL_LISTEN")
            .env_remove("PARASOL_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().with_context(|| format!("starting {}", target.name()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut metrics = None;
            for line in lines.by_ref().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("parasol-server metrics on http://") {
                    metrics = rest.strip_suffix("/metrics").and_then(|a| a.parse().ok());
                }
                if line.contains("listening on http://") {
                    let _ = tx.send((line, metrics));
                    break;
                }
            }
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let (banner, metrics_addr) = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(started) => started,
            Err(_) => {
                let _ = child.kill();
                bail!("{} did not start listening", target.name());
            }
        };
        let addr = banner
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .context("address in banner")?
            .parse()?;
        Ok(Server {
            target,
            child,
            addr,
            metrics_addr,
            _dir: dir,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One unlabelled number from a parasol-server's `GET /metrics`.
pub async fn metric(addr: SocketAddr, name: &str) -> anyhow::Result<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    tokio::time::timeout(crate::wire::STEP_TIMEOUT, stream.read_to_string(&mut text))
        .await
        .context("/metrics answered")??;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .with_context(|| format!("{name} in /metrics"))
}

/// The parasol-server binary: given, or built now with cargo in the profile
/// this binary was built with.
pub fn parasol_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe.parent().context("binary folder")?;
    let release = profile_dir.ends_with("release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "parasol-server", "--bin", "parasol-server"]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build")?;
    if !status.success() {
        bail!("building parasol-server failed");
    }
    Ok(profile_dir.join("parasol-server"))
}
